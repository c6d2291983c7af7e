"""Facility survey statistics: counts of sites by operator and kind, and change between surveys.

A mid-2024 survey counted 801 foreign military facilities in Syria (830 a year earlier),
most of them Iranian. A registry of such facilities, one site per facility with its
``operator`` (country code) and ``kind``, gives the same tables here, and two registries
give the change between surveys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from basewatch.sites import Registry, Site

__all__ = ["UNKNOWN_OPERATOR", "compare_stats", "survey_stats"]

UNKNOWN_OPERATOR = "unknown"
"""Operator key of sites without an ``operator``."""


def _operator(site: Site) -> str:
    """Operator code of a site, upper-case ('unknown' when empty)."""
    return site.operator.strip().upper() or UNKNOWN_OPERATOR


def _sorted(counts: Counter[str]) -> dict[str, int]:
    """Counts by decreasing count, then key."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def survey_stats(sites: Iterable[Site]) -> dict[str, Any]:
    """``{"total", "by_operator", "by_kind", "by_operator_kind"}`` of a registry's sites."""
    sites = list(sites)
    by_operator = Counter(_operator(s) for s in sites)
    by_kind = Counter(s.kind for s in sites)
    nested: dict[str, Counter[str]] = {}
    for s in sites:
        nested.setdefault(_operator(s), Counter())[s.kind] += 1
    return {
        "total": len(sites),
        "by_operator": _sorted(by_operator),
        "by_kind": _sorted(by_kind),
        "by_operator_kind": {op: _sorted(nested[op]) for op in _sorted(by_operator)},
    }


def _difference(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """``now - before`` over the union of keys (sorted by key)."""
    return {k: now.get(k, 0) - before.get(k, 0) for k in sorted(set(now) | set(before))}


def compare_stats(
    current: Registry | Iterable[Site], earlier: Registry | Iterable[Site]
) -> dict[str, Any]:
    """Statistics of ``current`` plus ``change``: this registry minus the ``earlier`` one."""
    now, before = survey_stats(current), survey_stats(earlier)
    now["change"] = {
        "total": now["total"] - before["total"],
        "by_operator": _difference(now["by_operator"], before["by_operator"]),
        "by_kind": _difference(now["by_kind"], before["by_kind"]),
    }
    return now

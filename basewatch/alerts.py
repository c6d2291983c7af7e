"""Alerts: report each newly significant change once (JSON lines and an optional webhook).

:func:`watch` runs the monitor on scenes not yet observed (the monitor is resumable), judges
every site again, and compares the significant changes of that assessment with the alerts
already kept in the store. A change is the same alert as a stored one when site, zone and
direction agree and their brackets overlap, so a bracket narrowed by newer images is not
reported again. New alerts are stored before any webhook is called; a webhook that fails
leaves its alerts pending, and the next run tries them again.

An alert is a flat dict::

    {"site_id": "tartus", "zone_id": "piers", "after": "2024-12-01", "before": "2024-12-03",
     "direction": "down", "from": 5, "to": 0, "p_value": 7.9e-06, "posture": "withdrawn"}
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basewatch.errors import BasewatchError, InputError
from basewatch.monitor import MonitorSummary, Progress

if TYPE_CHECKING:
    from basewatch.store import Store

__all__ = [
    "ALERT_FIELDS",
    "DEFAULT_TIMEOUT_S",
    "MIN_CHANGE",
    "WatchResult",
    "WebhookError",
    "alerts_from_assessment",
    "check_webhook_url",
    "deliver_pending",
    "new_alerts",
    "post_webhook",
    "watch",
]

ALERT_FIELDS = ("site_id", "zone_id", "after", "before", "direction", "from", "to", "p_value")
"""Fields copied from the assessment's change (plus the site's ``posture``)."""
MIN_CHANGE = 2.0
"""Smallest change of level (in objects) worth an alert; the posture's ``min_change_abs``."""
DEFAULT_TIMEOUT_S = 10.0
"""Seconds a webhook POST may take before it counts as failed."""


class WebhookError(BasewatchError, OSError):
    """A webhook did not accept an alert (unreachable, timed out or answered an error)."""


def alerts_from_assessment(
    payload: Mapping[str, Any], *, min_change: float = MIN_CHANGE
) -> list[dict[str, Any]]:
    """Every significant change of an ``assessment.json`` dict as an alert, in payload order.

    Changes of fewer than ``min_change`` objects (one aircraft parked on an empty apron) are
    statistically real but do not move a posture, and raise no alert.
    """
    out = []
    for site in payload.get("sites", []):
        for zone in site.get("zones", []):
            for change in zone.get("changes", []):
                if not change.get("significant"):
                    continue
                if abs(float(change["to"]) - float(change["from"])) < min_change:
                    continue
                alert = {
                    "site_id": site["site_id"],
                    "zone_id": zone["zone_id"],
                    **{k: change.get(k) for k in ALERT_FIELDS[2:]},
                    "posture": site.get("posture"),
                }
                out.append(alert)
    return out


def _same_change(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Same site, zone and direction, and overlapping brackets (ISO dates compare as text)."""
    keys = ("site_id", "zone_id", "direction")
    if any(a.get(k) != b.get(k) for k in keys):
        return False
    return bool(a["after"] <= b["before"] and b["after"] <= a["before"])


def new_alerts(
    candidates: Iterable[Mapping[str, Any]], known: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The candidates that match no ``known`` alert (nor an earlier candidate)."""
    seen = list(known)
    out: list[dict[str, Any]] = []
    for alert in candidates:
        if any(_same_change(alert, k) for k in seen):
            continue
        seen.append(alert)
        out.append(dict(alert))
    return out


def check_webhook_url(url: str) -> str:
    """Return ``url`` if it is an http(s) URL, else raise :class:`InputError`."""
    if not url.startswith(("http://", "https://")):
        raise InputError(f"--webhook {url!r}: not an http(s) URL; give e.g. https://host/hook")
    return url


def post_webhook(
    url: str, alert: Mapping[str, Any], *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> None:
    """POST ``alert`` as JSON to ``url``; raise :class:`WebhookError` naming the URL on failure.

    Any 2xx answer counts as accepted.
    """
    body = json.dumps(dict(alert), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        check_webhook_url(url),
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "basewatch-watch"},
    )
    what = f"{alert.get('site_id')}/{alert.get('zone_id')}"
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        raise WebhookError(
            f"webhook {url} refused the alert for {what}: HTTP {exc.code} {exc.reason}; "
            "it stays pending and is sent again on the next run"
        ) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebhookError(
            f"webhook {url} unreachable for the alert for {what} ({reason}); "
            "it stays pending and is sent again on the next run (check the URL or the server)"
        ) from exc
    if not 200 <= status < 300:
        raise WebhookError(
            f"webhook {url} answered HTTP {status} to the alert for {what}; "
            "it stays pending and is sent again on the next run"
        )


@dataclass(frozen=True, kw_only=True)
class WatchResult:
    """What a watch run did."""

    summary: MonitorSummary
    """What the monitor did (scenes, chips observed now, skipped, failed)."""
    new: tuple[dict[str, Any], ...]
    """Alerts reported for the first time by this run."""
    delivered: int = 0
    """Alerts the webhook accepted in this run (new ones and retried ones)."""
    pending: int = 0
    """Alerts still owed to a webhook after this run."""
    webhook_error: str | None = None
    """Why the webhook failed, when it did (delivery stops at the first failure)."""


def deliver_pending(
    store: Store, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[int, str | None]:
    """POST every pending alert of ``store`` to ``url`` in order; stop at the first failure.

    Returns (alerts delivered, error message or None).
    """
    delivered = 0
    for stored in store.alerts(pending=True):
        try:
            post_webhook(url, stored.alert, timeout_s=timeout_s)
        except WebhookError as exc:
            return delivered, str(exc)
        store.mark_alert_delivered(stored.id, url=url)
        delivered += 1
    return delivered, None


def watch(
    sites: str | Path,
    catalog: str | Path,
    *,
    db: str,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    site_ids: list[str] | None = None,
    webhook: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    notify: Callable[[str], None] | None = None,
) -> WatchResult:
    """Observe new scenes, judge again, keep and return the significant changes not yet reported.

    ``end`` also bounds the assessment (``as_of``), so a watch can replay a past day. With
    ``webhook`` every new alert, and every alert a failed webhook left pending, is POSTed
    there; failures are reported in :attr:`WatchResult.webhook_error`, never raised, so the
    alerts of this run are still returned.

    The store must exist and hold sites (made by ``basewatch monitor`` or ``basewatch sites
    import --db``): a watch never creates one, so a mistyped ``db`` is an error naming it
    (:class:`~basewatch.errors.StoreError`), not a new empty store.
    """
    from basewatch import pipeline
    from basewatch.store import open_store, require_contents

    if webhook is not None:
        check_webhook_url(webhook)
    if timeout_s <= 0:
        raise InputError(f"webhook timeout {timeout_s} s: give a positive number of seconds")
    with open_store(db, create=False) as existing:
        require_contents(existing, "sites", command="watch")
    summary = pipeline.monitor(
        sites,
        catalog,
        db=db,
        start=start,
        end=end,
        site_ids=site_ids,
        progress=progress,
        notify=notify,
    )
    from basewatch.sites import load_registry

    watched = site_ids or [s.id for s in load_registry(sites).sites]  # not the store's others
    payload = pipeline.assess(db=db, site_ids=watched, as_of=end)
    store = open_store(db)
    try:
        known = [s.alert for s in store.alerts()]
        fresh = new_alerts(alerts_from_assessment(payload), known)
        for alert in fresh:
            store.add_alert(alert, webhook_url=webhook)
        delivered, error = (0, None)
        if webhook is not None:
            delivered, error = deliver_pending(store, webhook, timeout_s=timeout_s)
        pending = len(store.alerts(pending=True))
    finally:
        store.close()
    return WatchResult(
        summary=summary,
        new=tuple(fresh),
        delivered=delivered,
        pending=pending,
        webhook_error=error,
    )

"""Issue 6 "done when", checked on the simulated demo scenario end to end.

The scenario is built with imagery and run through monitor and assess once for the module.
To keep the suite fast it covers 2024-09-01..2024-12-20 instead of the demo's full
2024-06-01..2024-12-20: three months of history before the December events, which still
holds the routine empty-apron days of September to November that must not be judged
significant.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from basewatch.pipeline import assess, monitor
from basewatch.scenario import ScenarioPaths, build_scenario

START, END = date(2024, 9, 1), date(2024, 12, 20)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScenarioPaths, str]:
    paths = build_scenario(tmp_path_factory.mktemp("demo"), start=START, end=END)
    db = f"sqlite:///{paths.root / 'basewatch.db'}"
    summary = monitor(paths.sites, paths.catalog, db=db, start="2024-09-01", end="2024-12-20")
    assert summary.failed == 0
    return paths, db


@pytest.fixture(scope="module")
def final(demo: tuple[ScenarioPaths, str]) -> dict[str, Any]:
    paths, db = demo
    return assess(db=db, tracks=paths.tracks)


def _site(payload: dict[str, Any], site_id: str) -> dict[str, Any]:
    return next(s for s in payload["sites"] if s["site_id"] == site_id)


def _zone(payload: dict[str, Any], site_id: str, zone_id: str) -> dict[str, Any]:
    return next(z for z in _site(payload, site_id)["zones"] if z["zone_id"] == zone_id)


def _drops(zone: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in zone["changes"] if c["significant"] and c["direction"] == "down"]


def _days(change: dict[str, Any]) -> int:
    return (date.fromisoformat(change["before"]) - date.fromisoformat(change["after"])).days


def _holds(change: dict[str, Any], day: str) -> bool:
    return bool(change["after"] <= day <= change["before"])


def test_tartus_is_withdrawing_with_the_piers_dated_to_2_december(final: dict[str, Any]) -> None:
    assert _site(final, "tartus")["posture"] in {"withdrawing", "withdrawn"}
    drops = [c for c in _drops(_zone(final, "tartus", "piers")) if _holds(c, "2024-12-02")]
    assert drops, _zone(final, "tartus", "piers")["changes"]
    assert _days(drops[0]) <= 6


def test_khmeimim_is_leaving_with_the_s400_dated_to_10_december(final: dict[str, Any]) -> None:
    assert _site(final, "khmeimim")["posture"] in {"reduced", "withdrawing", "withdrawn"}
    s400 = _zone(final, "khmeimim", "s400-position")
    drops = [c for c in _drops(s400) if _holds(c, "2024-12-10")]
    assert drops, s400["changes"]
    assert _days(drops[0]) <= 8


def test_routine_empty_apron_days_are_not_significant(
    demo: tuple[ScenarioPaths, str], final: dict[str, Any]
) -> None:
    truth = json.loads(Path(demo[0].truth).read_text(encoding="utf-8"))
    (khmeimim,) = [s for s in truth["sites"] if s["id"] == "khmeimim"]
    empty_days = {
        e["date"]
        for e in khmeimim["events"]
        if e["zone"] == "main-apron"
        and "routine" in e["what"]
        and "2024-09" <= e["date"] < "2024-12"
    }
    assert empty_days  # the scenario has routine empty days in the period
    apron = _zone(final, "khmeimim", "main-apron")
    seen = [o for o in apron["observations"] if o["time"][:10] in empty_days]
    assert seen and any(o["value"] is not None and o["value"] <= 1 for o in seen)
    assert not [o for o in seen if o["significant"]]
    assert not [c for c in apron["changes"] if c["significant"] and c["before"] < "2024-12-01"]


def test_apron_drop_is_sustained_in_early_december(final: dict[str, Any]) -> None:
    drops = _drops(_zone(final, "khmeimim", "main-apron"))
    early = [c for c in drops if "2024-12-01" <= c["before"] <= "2024-12-10"]
    assert early and early[0]["to"] <= 0.5 * early[0]["from"]
    assert early[0]["n_after"] >= 3


def test_apron_alone_is_not_conclusive_on_3_december_but_is_by_15_december(
    demo: tuple[ScenarioPaths, str], tmp_path: Path
) -> None:
    _, db = demo
    early = assess(db=db, as_of="2024-12-03", out=tmp_path / "early.json")
    assert not _drops(_zone(early, "khmeimim", "main-apron"))
    assert json.loads((tmp_path / "early.json").read_text())["sites"]
    later = assess(db=db, as_of="2024-12-15")
    assert [
        c for c in _drops(_zone(later, "khmeimim", "main-apron")) if c["before"] <= "2024-12-15"
    ]

"""A small end-to-end run: simulated scenario -> monitor -> assess -> report, twice."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from basewatch.pipeline import assess, monitor, report
from basewatch.scenario import ScenarioPaths, build_scenario
from basewatch.store import export_observations, open_store

START, END = "2024-11-15", "2024-12-20"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioPaths:
    root = tmp_path_factory.mktemp("scenario")
    return build_scenario(root, start=date(2024, 11, 15), end=date(2024, 12, 20))


@pytest.fixture(scope="module")
def run(scenario: ScenarioPaths) -> dict[str, object]:
    db = f"sqlite:///{scenario.root / 'run.db'}"
    first = monitor(scenario.sites, scenario.catalog, db=db, start=START, end=END)
    store = open_store(db)
    exported = {fmt: export_observations(store, fmt) for fmt in ("csv", "json", "geojson")}
    store.close()
    second = monitor(scenario.sites, scenario.catalog, db=db, start=START, end=END)
    store = open_store(db)
    again = {fmt: export_observations(store, fmt) for fmt in ("csv", "json", "geojson")}
    observations = store.observations()
    store.close()
    return {
        "db": db,
        "first": first,
        "second": second,
        "exported": exported,
        "again": again,
        "observations": observations,
    }


def test_monitor_observes_every_zone_and_is_idempotent(run: dict) -> None:  # type: ignore[type-arg]
    first, second = run["first"], run["second"]
    assert first.failed == 0, first.failures
    assert first.observed == first.tasks > 0
    assert second.observed == 0 and second.skipped == first.tasks
    assert run["exported"] == run["again"]
    keys = {(o.site_id, o.zone_id, o.sensor) for o in run["observations"]}
    assert ("tartus", "piers", "sentinel-1") in keys
    assert ("tartus", "piers", "sentinel-2") in keys
    assert ("khmeimim", "main-apron", "sentinel-2") in keys
    assert ("khmeimim", "s400-position", "sentinel-1") in keys
    assert ("khmeimim", "transport-apron", "highres") in keys
    sub_metre = [o for o in run["observations"] if o.sensor == "highres"]
    assert sub_metre and all("gsd=0.50m" in o.flags for o in sub_metre)
    assert not any(
        f.startswith("gsd=") for o in run["observations"] if o not in sub_metre for f in o.flags
    )


def test_counts_come_from_detections_on_pixels(run: dict, scenario: ScenarioPaths) -> None:  # type: ignore[type-arg]
    truth = json.loads(scenario.truth.read_text())
    assert truth  # the truth file exists for tests, and the pipeline never reads it
    for obs in run["observations"]:
        if obs.value is None:
            continue
        assert obs.value == len(obs.detections)
        for feature in obs.detections:
            assert feature["geometry"]["type"] == "Polygon"
            assert {"bbox_px", "score", "class"} <= set(feature["properties"])


def test_tartus_flotilla_departure_is_seen_in_radar(run: dict) -> None:  # type: ignore[type-arg]
    s1 = [
        o
        for o in run["observations"]
        if (o.site_id, o.zone_id, o.sensor) == ("tartus", "piers", "sentinel-1")
    ]
    before = [o.value for o in s1 if o.time.date() <= date(2024, 12, 2)]
    after = [o.value for o in s1 if o.time.date() > date(2024, 12, 2)]
    assert before and after
    assert min(before) >= 3, before
    assert max(after) <= 1, after


def test_assess_and_report(run: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    out = tmp_path / "assessment.json"
    payload = assess(db=run["db"], out=out)
    on_disk = json.loads(out.read_text())
    assert on_disk["sites"] == payload["sites"]
    assert {s["site_id"] for s in payload["sites"]} == {"khmeimim", "tartus"}
    for site in payload["sites"]:
        assert site["posture"] in {
            "present",
            "reduced",
            "withdrawing",
            "withdrawn",
            "reinforcing",
            "unknown",
        }
        assert 0.0 <= site["confidence"] <= 1.0
        for zone in site["zones"]:
            for obs in zone["observations"]:
                assert {
                    "time",
                    "sensor",
                    "value",
                    "clear_fraction",
                    "expected",
                    "p_value",
                    "significant",
                } <= set(obs)
    html = report(out=tmp_path / "report.html", db=run["db"]).read_text()
    assert "Khmeimim Air Base" in html and "Tartus naval facility" in html
    assert "<svg" in html

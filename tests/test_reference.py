"""The zone's own history as a reference: static structures suppressed, moored warships kept."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from basewatch.analysis.pier import PierSpec, frigate_lonlat, pier_passes, pier_zone
from basewatch.errors import InputError
from basewatch.observe import Observation, observe
from basewatch.reference import (
    ReferenceParams,
    apply_reference,
    footprints,
    raw_count,
    refresh_references,
    strip_reference,
)
from basewatch.store import open_store

LON0, LAT0 = 35.88, 34.89
T0 = datetime(2024, 1, 2, 8, 20, tzinfo=UTC)


def _feature(x: float, y: float, length: float, width: float) -> dict[str, Any]:
    """A north-south detection footprint centred ``x`` m east, ``y`` m north of the origin."""
    kx = 111_320.0 * math.cos(math.radians(LAT0))
    ring = [
        [LON0 + (x + sx * width / 2) / kx, LAT0 + (y + sy * length / 2) / 110_574.0]
        for sx, sy in ((1, 1), (1, -1), (-1, -1), (-1, 1))
    ]
    ring.append(ring[0])
    props = {"score": 0.9, "class": "ship", "length_m": length, "width_m": width}
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": props,
    }


HULK = (0.0, 0.0, 90.0, 15.0)
CRANE = (300.0, 10.0, 20.0, 15.0)
FRIGATE = (120.0, -40.0, 124.0, 15.0)


def _obs(i: int, things: list[tuple[float, float, float, float]], **kw: Any) -> Observation:
    features = [_feature(*t) for t in things]
    fields: dict[str, Any] = {
        "site_id": "tartus",
        "zone_id": "piers",
        "scene_id": f"S2-{i:03d}",
        "time": T0 + timedelta(days=5 * i),
        "sensor": "sentinel-2",
        "detector": "s2-ships-cnn",
        "detector_version": "1.0.0",
        "metric": "ship_count",
        "value": float(len(features)),
        "clear_fraction": 1.0,
        "detections": features,
    }
    fields.update(kw)
    return Observation(**fields)


def _pier(days: int, frigate: range, *, statics: bool = True) -> list[Observation]:
    """A pier every 5 days: a hulk and a crane always (when ``statics``), the frigate on the
    passes in ``frigate``."""
    out = []
    for i in range(days // 5):
        things = [HULK, CRANE] if statics else []
        if i in frigate:
            things.append(FRIGATE)
        out.append(_obs(i, things))
    return out


def test_frigate_alongside_60_days_is_counted_until_the_day_it_leaves() -> None:
    series = _pier(400, range(40, 52))  # arrives on day 200, leaves on day 260
    judged = apply_reference(series)
    counts = [o.value for o in judged]
    assert counts[40:52] == [1.0] * 12  # hulk and crane suppressed, the frigate counted
    assert counts[52] == 0.0 and counts[39] == 0.0  # the day it leaves, and before it came
    for o in judged[40:52]:
        frigate = [f for f in o.detections if f["properties"]["length_m"] == 124.0]
        assert frigate and not frigate[0]["properties"].get("static")
        assert "static=2" in o.flags
    assert raw_count(judged[45]) == 3.0


def test_frigate_moored_most_of_a_short_history_stays_counted() -> None:
    """A frigate alongside from day 30 to day 230 (most of the reference) was not in the
    earliest scenes, so it is never static."""
    judged = apply_reference(_pier(300, range(6, 46)))
    assert [o.value for o in judged[25:46]] == [1.0] * 21  # in force from day 125
    assert judged[46].value == 0.0


def test_short_history_suppresses_nothing_and_says_so() -> None:
    series = _pier(100, range(0))  # 20 passes over 95 days: under 120 days
    judged = apply_reference(series)
    assert [o.value for o in judged] == [2.0] * 20
    assert all(any(f.startswith("reference-short=") for f in o.flags) for o in judged)
    assert judged[0].flags == ("reference-short=0-scenes-0-days<12-scenes-120-days",)
    few = apply_reference(_pier(400, range(0)), ReferenceParams(min_scenes=100))
    assert few[-1].value == 2.0 and few[-1].flags[0].startswith("reference-short=73-scenes-360")


def test_busy_berth_and_minority_ship_are_not_static() -> None:
    """A berth used on 70 % of passes (the same ship each time) is not background."""
    series = [_obs(i, [HULK, FRIGATE] if i % 10 < 7 else [HULK]) for i in range(60)]
    judged = apply_reference(series)
    assert all(o.value == (1.0 if i % 10 < 7 else 0.0) for i, o in enumerate(judged) if i >= 30)


def test_ships_taking_turns_at_a_busy_berth_are_never_static() -> None:
    """The demo's Tartus berths: on 9 passes in 10 one of the flotilla's ships is moored from
    the berth's end (so ships of similar length sit at almost the same place), and a longer
    one covers the spot of a shorter one."""
    rng = np.random.default_rng(7)
    lengths = (124.0, 112.0, 100.0, 90.0, 75.0, 74.0, 62.0)
    series = []
    for i in range(80):
        length = float(rng.choice(lengths))
        moored = rng.random() < 0.9
        things = [(0.0, 200.0 - length / 2 + float(rng.uniform(-2, 2)), length, 15.0)]
        series.append(_obs(i, things if moored else []))
    judged = apply_reference(series)
    assert sum(any(f.startswith("reference=") for f in o.flags) for o in judged) > 40
    assert all(o.value == len(o.detections) for o in judged)


def test_ship_alongside_a_hulk_counts_whether_merged_or_apart() -> None:
    history = [_obs(i, [HULK]) for i in range(40)]
    apart = _obs(40, [HULK, (17.0, 0.0, 100.0, 13.0)])  # a corvette moored outboard
    merged = _obs(41, [(8.0, 0.0, 100.0, 32.0)])  # the detector merged the two hulls
    smaller = _obs(42, [(2.0, 1.0, 80.0, 12.0)])  # the hulk alone, seen a little smaller
    judged = apply_reference([*history, apart, merged, smaller])
    assert [o.value for o in judged[40:]] == [1.0, 1.0, 0.0]
    statics = [f["properties"].get("static", False) for f in judged[40].detections]
    assert statics == [True, False]


def test_cloudy_scenes_do_not_enter_the_reference_and_keep_no_count() -> None:
    series = [_obs(i, [HULK]) for i in range(30)]
    series += [_obs(30 + i, [HULK], clear_fraction=0.5) for i in range(30)]
    series.append(_obs(60, [], value=None, clear_fraction=0.0, flags=("cloudy",)))
    judged = apply_reference(series)
    assert judged[-1].value is None and judged[-1].flags == ("cloudy",)
    assert judged[59].flags[-2:] == ("reference=30", "static=1")  # only the 30 clear ones


def test_other_sensors_metrics_and_zones_are_apart() -> None:
    radar = [_obs(i, [HULK], sensor="sentinel-1", detector="sar-cfar") for i in range(40)]
    optical = [_obs(i, [HULK]) for i in range(40)]
    aircraft = [_obs(i, [HULK], metric="aircraft_count") for i in range(40)]
    other = [_obs(i, [HULK], zone_id="quay") for i in range(2)]
    judged = apply_reference([*radar, *optical, *aircraft, *other])
    assert judged[39].value == 0.0 and judged[79].value == 0.0  # each series its own history
    assert judged[119] == aircraft[-1]
    assert judged[-1].value == 1.0


def test_applying_twice_and_stripping_give_the_same_observations() -> None:
    series = _pier(400, range(40, 52))
    once = apply_reference(series)
    assert apply_reference(once) == once
    assert [strip_reference(o) for o in once] == series


def test_refresh_references_in_the_store_is_idempotent_and_causal(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'bw.db'}")
    series = _pier(400, range(40, 52))
    store.write_observations(series[:60])
    assert refresh_references(store, [("tartus", "piers")]) == 60
    assert refresh_references(store, [("tartus", "piers")]) == 0
    store.write_observations(series[60:])  # a later run adds the rest
    assert refresh_references(store, [("tartus", "piers")]) == 20
    stored = store.observations(site_id="tartus", zone_id="piers")
    assert [o.value for o in stored] == [o.value for o in apply_reference(series)]
    assert stored[45].value == 1.0 and "static=2" in stored[45].flags
    store.close()


def test_bad_parameters_are_input_errors() -> None:
    with pytest.raises(InputError, match="static_share"):
        ReferenceParams(static_share=0.5)
    with pytest.raises(InputError, match="min_scenes"):
        ReferenceParams(min_scenes=0)


def test_footprints_measure_the_detection() -> None:
    (f,) = footprints([_feature(100.0, -50.0, 120.0, 16.0)], (LON0, LAT0))
    assert f.x == pytest.approx(100.0, abs=0.5) and f.y == pytest.approx(-50.0, abs=0.5)
    assert f.length_m == 120.0 and f.area_m2 == pytest.approx(1920.0, rel=0.01)


def test_rendered_pier_keeps_the_frigate_and_drops_it_the_day_it_leaves() -> None:
    """The demo's renderer and the shipped detector: a pier with cranes and two hulks that
    never move, no visitors, and a frigate alongside from day 200 to day 259."""
    start = date(2024, 1, 2)
    spec = PierSpec(
        start=start,
        days=300,
        frigate=(start + timedelta(days=200), start + timedelta(days=260)),
        visitors=0.0,
    )
    zone = pier_zone()
    passes = list(pier_passes(spec))
    judged = apply_reference([observe(p.chip, zone) for p in passes])
    on = [k for k, p in enumerate(passes) if p.frigate]
    assert len(on) == 12
    where = frigate_lonlat()
    seen = 0
    for k in on:
        o = judged[k]
        assert any(f.startswith("reference=") for f in o.flags)
        prints = footprints(o.detections, where)
        near = [f for f, p in zip(o.detections, prints, strict=True) if math.hypot(p.x, p.y) < 40]
        assert not any(f["properties"].get("static") for f in near)  # never erased
        seen += bool(near)
    assert seen >= 10  # the detector sees the frigate on (nearly) every pass
    during = [float(judged[k].value or 0.0) for k in on]
    after = [float(judged[k].value or 0.0) for k in range(on[-1] + 1, len(judged))]
    assert sum(d >= 1.0 for d in during) >= 10  # the count holds while it is there
    assert max(after) < sum(during) / len(during)  # and drops the day it leaves
    raw_after = [float(raw_count(judged[k]) or 0.0) for k in range(on[-1] + 1, len(judged))]
    assert sum(raw_after) > sum(after)  # hulks the detector counts are suppressed


def test_monitor_gives_every_ship_count_its_reference(tmp_path: Path) -> None:
    """The monitor applies the reference after storing the chips (here a short history: the
    counts are the detector's, and each says why nothing was suppressed)."""
    from basewatch.pipeline import monitor
    from basewatch.scenario import build_scenario

    paths = build_scenario(tmp_path / "demo", start=date(2024, 11, 20), end=date(2024, 12, 6))
    db = f"sqlite:///{tmp_path / 'bw.db'}"
    summary = monitor(paths.sites, paths.catalog, db=db, start="2024-11-20", end="2024-12-06")
    assert summary.failed == 0 and "reference" in summary.timings
    store = open_store(db, create=False)
    ships = [
        o
        for o in store.observations(site_id="tartus")
        if o.metric == "ship_count" and o.value is not None
    ]
    assert {o.sensor for o in ships} == {"sentinel-1", "sentinel-2"}
    for o in ships:
        assert [f for f in o.flags if f.startswith("reference")] == [
            next(f for f in o.flags if f.startswith("reference-short="))
        ]
        assert o.value == raw_count(o)
    others = [o for o in store.observations(site_id="khmeimim") if o.value is not None]
    assert others and not any(f.startswith("reference") for o in others for f in o.flags)
    store.close()

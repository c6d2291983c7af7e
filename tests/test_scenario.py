"""The simulated ``syria-2024`` scenario: files, catalogue, story, tracks, determinism."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
import shapely
from pyproj import Geod, Transformer
from shapely import affinity
from shapely.geometry import Point, box

from basewatch.context import tracks
from basewatch.errors import InputError
from basewatch.imagery.catalog import open_catalog
from basewatch.imagery.load import load_chip
from basewatch.scenario import ScenarioPaths, build_scenario
from basewatch.sites import ZONE_KINDS, load_registry

SHORT = (date(2024, 11, 29), date(2024, 12, 11))
"""Sentinel-2 on Dec 1, 6, 11; Sentinel-1 on Dec 3, 9; sub-metre on Dec 3."""
TINY = (date(2024, 12, 4), date(2024, 12, 9))
"""Sentinel-2 on Dec 6, Sentinel-1 on Dec 9."""


@pytest.fixture(scope="module")
def season(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScenarioPaths, dict[str, Any]]:
    """The whole season, without imagery (registry, tracks, truth)."""
    paths = build_scenario(tmp_path_factory.mktemp("season"), imagery=False)
    return paths, json.loads(paths.truth.read_text())


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> tuple[ScenarioPaths, dict[str, Any], list]:
    calls: list[tuple[int, int]] = []
    paths = build_scenario(
        tmp_path_factory.mktemp("short"),
        start=SHORT[0],
        end=SHORT[1],
        workers=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    return paths, json.loads(paths.truth.read_text()), calls


def _rows(truth: dict[str, Any], site: str, zone: str, sensor: str | None = None) -> list[dict]:
    return [
        r
        for r in truth["scenes"]
        if r["site"] == site and r["zone"] == zone and (sensor is None or r["sensor"] == sensor)
    ]


def _day(row: dict[str, Any]) -> date:
    return date.fromisoformat(row["time"][:10])


def _weather(truth: dict[str, Any], site: str) -> dict[str, str]:
    return next(s["weather"] for s in truth["sites"] if s["id"] == site)


# --------------------------------------------------------------------------- files and catalogue


def test_registry_is_the_bundled_one(season: tuple[ScenarioPaths, dict]) -> None:
    paths, _ = season
    written = load_registry(paths.sites)
    bundled = load_registry("syria-2024")
    assert [s.id for s in written] == ["khmeimim", "tartus"]
    for site in bundled:
        w = written.site(site.id)
        assert [z.id for z in w.zones] == [z.id for z in site.zones]
        assert all(
            wz.geometry.equals(z.geometry) for wz, z in zip(w.zones, site.zones, strict=True)
        )


def test_catalogue_opens_and_has_one_item_per_site_and_pass(
    short: tuple[ScenarioPaths, dict, list],
) -> None:
    paths, _, calls = short
    cat = pystac.Catalog.from_file(str(paths.catalog))
    assert {c.id for c in cat.get_children()} == {"sentinel-2-l2a", "sentinel-1-grd", "highres"}
    items = {it.id: it for it in cat.get_items(recursive=True)}
    expected = {
        f"S2{'AB'[k % 2]}_{site}_{d}_L2A"
        for site in ("khmeimim", "tartus")
        for k, d in ((36, "20241201"), (37, "20241206"), (38, "20241211"))
    }
    expected |= {
        f"S1A_IW_GRDH_{s}_{d}" for s in ("khmeimim", "tartus") for d in ("20241203", "20241209")
    }
    expected |= {"VHR_khmeimim_20241203"}
    assert set(items) == expected
    assert calls[-1] == (len(expected), len(expected))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    for it in items.values():
        text = Path(it.get_self_href() or "").read_text()
        assert str(paths.root.resolve()) not in text and '"href": "./' in text  # relative
        assert any("projection" in e for e in it.stac_extensions)
        assert it.properties["proj:code"] == "EPSG:32636"
    s2 = items["S2A_khmeimim_20241201_L2A"]
    assert set(s2.assets) == {"blue", "green", "red", "nir", "swir16", "scl"}
    assert "eo:cloud_cover" in s2.properties and s2.collection_id == "sentinel-2-l2a"
    assert s2.assets["nir"].extra_fields["raster:bands"][0]["scale"] == 0.0001
    s1 = items["S1A_IW_GRDH_tartus_20241203"]
    assert set(s1.assets) == {"vv", "vh"}
    assert s1.properties["basewatch:georeferencing"] == "grid"
    assert s1.properties["sar:polarizations"] == ["VV", "VH"]
    hr = items["VHR_khmeimim_20241203"]
    assert set(hr.assets) == {"visual"} and hr.properties["gsd"] == 0.5
    for it in items.values():  # no counts or truth leak into metadata
        assert not any(k in json.dumps(it.properties) for k in ("count", "fighter", "frigate"))


def test_tiles_and_highres_cover_the_zones(short: tuple[ScenarioPaths, dict, list]) -> None:
    paths, _, _ = short
    registry = load_registry(paths.sites)
    cat = pystac.Catalog.from_file(str(paths.catalog))
    geod = Geod(ellps="WGS84")
    for it in cat.get_items(recursive=True):
        site = registry.site("khmeimim" if "khmeimim" in it.id else "tartus")
        bounds = [z.geometry.bounds for z in site.zones]
        zx0, zy0 = min(b[0] for b in bounds), min(b[1] for b in bounds)
        zx1, zy1 = max(b[2] for b in bounds), max(b[3] for b in bounds)
        assert it.bbox is not None
        x0, y0, x1, y1 = it.bbox
        assert x0 < zx0 and y0 < zy0 and x1 > zx1 and y1 > zy1, it.id
        width_km = geod.inv(x0, (y0 + y1) / 2, x1, (y0 + y1) / 2)[2] / 1000
        if it.collection_id == "highres":
            margin_w = geod.inv(x0, zy0, zx0, zy0)[2]
            margin_n = geod.inv(zx0, y1, zx0, zy1)[2]
            assert 120 < margin_w < 220 and 120 < margin_n < 220
        else:
            assert 3.9 < width_km < 4.2, it.id


def test_loader_reads_every_sensor(short: tuple[ScenarioPaths, dict, list]) -> None:
    paths, truth, _ = short
    registry = load_registry(paths.sites)
    catalog = open_catalog(paths.catalog)
    zone = registry.site("khmeimim").zone("main-apron")
    scenes = catalog.search(
        bbox=zone.geometry.bounds,
        start=datetime(2024, 11, 29, tzinfo=UTC),
        end=datetime(2024, 12, 12, tzinfo=UTC),
    )
    by_sensor = {s.sensor: s for s in scenes}
    assert set(by_sensor) == {"sentinel-2", "sentinel-1", "highres"}
    for sensor, scene in by_sensor.items():
        chip = load_chip(scene, zone)
        assert chip.sensor == sensor and chip.zone_mask.any()
        inside = [np.asarray(b)[chip.zone_mask] for b in chip.bands.values()]
        assert all(np.isfinite(v).all() for v in inside)
        row = next(r for r in _rows(truth, "khmeimim", "main-apron") if r["scene_id"] == scene.id)
        if sensor == "sentinel-2":
            assert chip.clear_fraction == pytest.approx(row["clear_fraction"], abs=0.05)
            assert 0.0 <= float(np.nanmedian(chip.bands["red"])) < 1.0
        if sensor == "sentinel-1":
            assert 0.005 < float(np.nanmedian(chip.bands["vv"][chip.zone_mask])) < 0.2
        if sensor == "highres":
            assert chip.resolution_m == pytest.approx(0.5)


def test_truth_does_not_depend_on_imagery_or_range(
    season: tuple[ScenarioPaths, dict], short: tuple[ScenarioPaths, dict, list]
) -> None:
    _, full = season
    _, part, _ = short
    whole = {(r["scene_id"], r["zone"]): r for r in full["scenes"]}
    assert part["scenes"]
    for original in part["scenes"]:
        row = dict(original)
        other = dict(whole[(row["scene_id"], row["zone"])])
        if row["sensor"] == "sentinel-2":
            assert other.pop("clear_fraction") is None
            assert 0.0 <= row.pop("clear_fraction") <= 1.0
        else:
            assert other.pop("clear_fraction") == row.pop("clear_fraction") == 1.0
        assert row == other


def test_clear_passes_are_clear_over_the_zones(short: tuple[ScenarioPaths, dict, list]) -> None:
    _, truth, _ = short
    for site in ("khmeimim", "tartus"):
        weather = _weather(truth, site)
        for row in (
            r for r in truth["scenes"] if r["site"] == site and r["sensor"] == "sentinel-2"
        ):
            if weather[row["time"][:10]] == "clear":
                assert row["cloud_fraction"] == 0.0 and row["clear_fraction"] > 0.97, row


# --------------------------------------------------------------------------- the story


def test_flotilla_is_at_the_piers_until_2_december(season: tuple[ScenarioPaths, dict]) -> None:
    _, truth = season
    rows = _rows(truth, "tartus", "piers")
    before = [r for r in rows if _day(r) <= date(2024, 12, 2)]
    after = [r for r in rows if _day(r) > date(2024, 12, 2)]
    assert before and after
    assert all(4 <= r["total"] <= 7 for r in before)
    assert all(r["total"] == 0 for r in after)
    assert max(_day(r) for r in before) >= date(2024, 11, 30)
    classes = Counter(c for r in before for c in r["counts"])
    assert {"frigate", "submarine"} <= set(classes)
    big = [o for r in before for o in r["objects"]]
    assert max(o["length_m"] for o in big) == 135.0 and min(o["length_m"] for o in big) >= 60.0


def test_main_apron_story(season: tuple[ScenarioPaths, dict]) -> None:
    _, truth = season
    weather = _weather(truth, "khmeimim")
    rows = _rows(truth, "khmeimim", "main-apron")
    june_nov = [r for r in rows if _day(r) < date(2024, 12, 1) and r["sensor"] != "highres"]
    clear = [
        r for r in june_nov if r["sensor"] == "sentinel-1" or weather[r["time"][:10]] == "clear"
    ]
    empty = [r for r in clear if r["total"] == 0]
    assert 0.12 <= len(empty) / len(clear) <= 0.3  # about one clear pass in five
    autumn_s2 = [r for r in empty if r["sensor"] == "sentinel-2" and _day(r).month in (9, 10, 11)]
    assert len(autumn_s2) >= 4
    busy = [r for r in june_nov if r["total"] > 0]
    assert all(12 <= r["total"] <= 20 for r in busy)
    assert any(r["counts"].get("il76", 0) > 0 for r in busy)
    assert all(r["total"] <= 5 for r in rows if _day(r) >= date(2024, 12, 4))
    assert all(r["total"] == 0 for r in rows if _day(r) == date(2024, 12, 3))


def test_highres_days(season: tuple[ScenarioPaths, dict]) -> None:
    _, truth = season
    site = {r["time"][:10]: r for r in truth["site_scenes"] if r["sensor"] == "highres"}
    assert set(site) == {"2024-12-03", "2024-12-13"}
    aircraft = ("fighter", "il76", "an124", "airliner")
    assert sum(site["2024-12-03"]["counts"].get(c, 0) for c in aircraft) == 5
    hr = {(r["time"][:10], r["zone"]): r for r in truth["scenes"] if r["sensor"] == "highres"}
    assert hr[("2024-12-03", "main-apron")]["total"] == 0
    assert hr[("2024-12-13", "transport-apron")]["counts"] == {"an124": 2}
    assert hr[("2024-12-03", "s400-position")]["total"] == 9
    assert hr[("2024-12-13", "s400-position")]["total"] == 0


def test_s400_leaves_on_10_december(season: tuple[ScenarioPaths, dict]) -> None:
    _, truth = season
    rows = _rows(truth, "khmeimim", "s400-position")
    for r in rows:
        if _day(r) <= date(2024, 12, 10):
            assert r["counts"] == {"launcher": 8, "radar": 1}
        else:
            assert r["total"] == 0
    last_seen = max(_day(r) for r in rows if r["total"])
    assert date(2024, 12, 6) <= last_seen <= date(2024, 12, 10)


def test_transport_apron_gets_busier_in_december(season: tuple[ScenarioPaths, dict]) -> None:
    _, truth = season
    rows = _rows(truth, "khmeimim", "transport-apron")
    early = [r["total"] for r in rows if _day(r) < date(2024, 12, 1)]
    late = [r["total"] for r in rows if _day(r) >= date(2024, 12, 1)]
    assert max(early) <= 2 and min(late) >= 1
    assert np.mean(late) > np.mean(early)


def test_clouds_over_the_sites(season: tuple[ScenarioPaths, dict]) -> None:
    _, truth = season
    by_day: dict[str, list[dict]] = {}
    for r in truth["scenes"]:
        if r["sensor"] == "sentinel-2":
            by_day.setdefault(r["time"][:10], []).append(r)
    assert len(by_day) == 40  # every 5 days from 4 June to 20 December
    cloudy = [d for d, rs in by_day.items() if max(r["cloud_fraction"] for r in rs) >= 0.25]
    assert 0.25 <= len(cloudy) / len(by_day) <= 0.42
    overcast = [
        (d, site)
        for d, rs in by_day.items()
        for site in ("khmeimim", "tartus")
        if all(r["cloud_fraction"] >= 0.999 for r in rs if r["site"] == site)
    ]
    assert overcast
    for site in ("khmeimim", "tartus"):
        weather = _weather(truth, site)
        for d, rs in by_day.items():
            if weather[d] == "clear":
                assert all(r["cloud_fraction"] == 0.0 for r in rs if r["site"] == site)


def _footprint(obj: dict[str, Any], to_utm: Transformer) -> Any:
    x, y = to_utm.transform(obj["lon"], obj["lat"])
    rect = box(-obj["width_m"] / 2, -obj["length_m"] / 2, obj["width_m"] / 2, obj["length_m"] / 2)
    return affinity.translate(affinity.rotate(rect, -obj["heading_deg"], origin=(0, 0)), x, y)


def test_objects_lie_inside_their_zone_and_apart(season: tuple[ScenarioPaths, dict]) -> None:
    paths, truth = season
    registry = load_registry(paths.sites)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32636", always_xy=True)
    zones = {
        (z.site_id, z.id): shapely.transform(
            z.geometry, lambda a: np.column_stack(to_utm.transform(a[:, 0], a[:, 1]))
        ).buffer(2.0)
        for z in registry.zones()
    }
    checked = 0
    for row in truth["scenes"]:
        zone = zones[(row["site"], row["zone"])]
        feet = [_footprint(o, to_utm) for o in row["objects"]]
        assert all(zone.contains(f) for f in feet), (row["scene_id"], row["zone"])
        centres = [Point(f.centroid) for f in feet]
        for i in range(len(centres)):
            for j in range(i):
                assert centres[i].distance(centres[j]) >= 35.0, (row["scene_id"], row["zone"])
        assert sum(row["counts"].values()) == row["total"] == len(row["objects"])
        checked += len(feet)
    assert checked > 1000


# --------------------------------------------------------------------------- tracks


def test_tracks_show_weekly_then_daily_heavy_departures(season: tuple[ScenarioPaths, dict]) -> None:
    paths, truth = season
    header = paths.tracks.read_text().splitlines()[0].split(",")
    assert header == list(tracks.COLUMNS)
    states = tracks.read_states(paths.tracks)
    flights = tracks.split_flights(states)
    registry = load_registry(paths.sites)
    events = tracks.airfield_events(flights, [registry.site("khmeimim")])
    per_day = dict(tracks.daily_departures(events, site_id="khmeimim"))
    assert per_day == {
        date.fromisoformat(d): n
        for d, n in truth["heavy_departures_per_day"]["khmeimim"].items()
        if date.fromisoformat(d) in per_day
    }
    airlift = [per_day.get(date(2024, 12, 6) + timedelta(days=i), 0) for i in range(15)]
    assert min(airlift) >= 3
    quiet = {d: n for d, n in per_day.items() if d <= date(2024, 12, 5)}
    assert max(quiet.values()) <= 2
    assert 22 <= sum(quiet.values()) <= 32  # about once a week over 26 weeks
    days = sorted(d for d, n in quiet.items() for _ in range(n))
    assert max((b - a).days for a, b in zip(days, days[1:], strict=False)) <= 14
    kinds = Counter((e.kind, e.heavy) for e in events)
    assert kinds[("arrival", True)] >= kinds[("departure", True)] - 2
    assert kinds[("departure", False)] > 0  # the civil flights are not heavy
    overflying = {f["icao24"] for f in truth["flights"] if f["kind"] == "overflight"}
    assert overflying and not overflying & {e.icao24 for e in events}
    starts_on_ground = sum(bool(f.states["onground"].iloc[0]) for f in flights)
    ends_on_ground = sum(bool(f.states["onground"].iloc[-1]) for f in flights)
    flown = Counter(f["kind"] for f in truth["flights"])
    assert starts_on_ground == flown["departure"]  # first seen taxiing
    assert ends_on_ground == flown["arrival"]  # last seen taxiing in


def test_departure_track_climbs_out_to_the_north_east(season: tuple[ScenarioPaths, dict]) -> None:
    paths, truth = season
    dep = next(f for f in truth["flights"] if f["kind"] == "departure" and f["heavy"])
    states = tracks.read_states(paths.tracks)
    lift = datetime.strptime(dep["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    mine = states[
        (states["icao24"] == dep["icao24"])
        & (states["timestamp"] >= lift - timedelta(minutes=10))
        & (states["timestamp"] <= lift + timedelta(minutes=30))
    ]
    ground = mine[mine["onground"].astype(bool)]
    air = mine[~mine["onground"].astype(bool)]
    assert len(ground) >= 10 and len(air) >= 60  # every ~20 s from ~6 min before
    dt = mine["timestamp"].diff().dt.total_seconds().dropna()
    assert 15 <= dt.median() <= 25
    assert (ground["altitude"] < 500).all() and air["altitude"].max() > 25000
    last = air.iloc[-1]
    assert last["latitude"] > 35.4 + 1.0 and last["longitude"] > 35.95 + 1.0
    _, _, dist = Geod(ellps="WGS84").inv(35.9486, 35.4011, last["longitude"], last["latitude"])
    assert 200_000 < dist < 450_000
    assert math.isclose(ground["latitude"].mean(), 35.40, abs_tol=0.02)


# --------------------------------------------------------------------------- options


def test_more_sites_are_synthetic_and_far_apart(tmp_path: Path) -> None:
    paths = build_scenario(tmp_path, n_sites=4, start=TINY[0], end=TINY[1], workers=1)
    registry = load_registry(paths.sites)
    assert [s.id for s in registry] == ["khmeimim", "tartus", "synthetic-003", "synthetic-004"]
    pairs = {("apron", "aircraft"), ("pier", "ship"), ("air_defence_position", "vehicle")}
    geod = Geod(ellps="WGS84")
    for site in registry.sites[2:]:
        assert site.kind in ("airbase", "naval_base", "air_defence")
        assert 1 <= len(site.zones) <= 2
        assert all((z.kind, z.target) in pairs and z.kind in ZONE_KINDS for z in site.zones)
        for other in registry:
            if other.id != site.id:
                assert geod.inv(*site.point, *other.point)[2] > 20_000
    cat = pystac.Catalog.from_file(str(paths.catalog))
    items = list(cat.get_items(recursive=True))
    assert len(items) == 4 * 2
    truth = json.loads(paths.truth.read_text())
    assert {r["site"] for r in truth["scenes"]} == {s.id for s in registry}
    naval = next(s for s in registry if s.kind == "naval_base")
    s1 = next(it for it in items if naval.id in it.id and it.collection_id == "sentinel-1-grd")
    with rasterio.open(s1.assets["vv"].get_absolute_href()) as src:
        vv = src.read(1)
    assert 0.15 < float((vv < 0.015).mean()) < 0.85  # sea on one side of the coast


def test_bad_arguments_raise_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="n_sites=1"):
        build_scenario(tmp_path, n_sites=1)
    with pytest.raises(InputError, match="period"):
        build_scenario(tmp_path, start=date(2024, 12, 10), end=date(2024, 12, 1))
    with pytest.raises(InputError, match="period"):
        build_scenario(tmp_path, start=date(2023, 1, 1))
    with pytest.raises(InputError, match="workers"):
        build_scenario(tmp_path, workers=0)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="afile is a file; give a folder"):  # was "File exists"
        build_scenario(tmp_path / "afile")


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_build_is_byte_identical_whatever_the_workers(tmp_path: Path) -> None:
    a = build_scenario(tmp_path / "a", start=TINY[0], end=TINY[1], workers=1)
    b = build_scenario(tmp_path / "b", start=TINY[0], end=TINY[1], workers=2)
    ha, hb = _hashes(a.root), _hashes(b.root)
    assert len(ha) > 20 and ha == hb
    c = build_scenario(tmp_path / "c", start=TINY[0], end=TINY[1], workers=1, seed=7)
    hc = _hashes(c.root)
    assert set(hc) == set(ha)
    assert hc["truth.json"] != ha["truth.json"]
    assert (
        hc["catalog/sentinel-1-grd/S1A_IW_GRDH_tartus_20241209/vv.tif"]
        != ha["catalog/sentinel-1-grd/S1A_IW_GRDH_tartus_20241209/vv.tif"]
    )
    again = build_scenario(
        tmp_path / "a", start=TINY[0], end=TINY[1], workers=1
    )  # rebuild in place
    assert _hashes(again.root) == ha

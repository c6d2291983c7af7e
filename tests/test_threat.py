"""Tests for basewatch.context.threat: weapons catalogue, front files, geodesic exposure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyproj import Geod
from shapely.geometry import Point, shape

from basewatch.context.threat import (
    Weapon,
    exposure,
    exposure_geojson,
    exposure_over_time,
    load_front,
    load_weapons,
    nearest_on,
)
from basewatch.errors import InputError
from basewatch.sites import Site

GEOD = Geod(ellps="WGS84")
KHMEIMIM = (35.9486, 35.4011)
TARTUS = (35.8925, 34.9131)


def _site(site_id: str, lon: float, lat: float) -> Site:
    return Site(id=site_id, name=site_id, kind="airbase", geometry=Point(lon, lat))


def _east_area(lon: float, lat: float, km: float, *, width_km: float = 30) -> list[list[float]]:
    """A box whose west edge runs north-south through the point ``km`` due east of (lon, lat)."""
    west_lon, west_lat, _ = GEOD.fwd(lon, lat, 90, km * 1000)
    east_lon, _, _ = GEOD.fwd(west_lon, west_lat, 90, width_km * 1000)
    return [
        [west_lon, west_lat - 0.3],
        [east_lon, west_lat - 0.3],
        [east_lon, west_lat + 0.3],
        [west_lon, west_lat + 0.3],
        [west_lon, west_lat - 0.3],
    ]


def _write_front(path: Path, features: list[dict], date: str | None = None) -> Path:
    doc: dict = {"type": "FeatureCollection", "features": features}
    if date:
        doc["date"] = date
    path.write_text(json.dumps(doc))
    return path


def _area(ring: list[list[float]], controller: str, date: str) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"controller": controller, "date": date},
    }


def test_catalogue_has_required_weapons_with_sources() -> None:
    weapons = {w.name: w for w in load_weapons()}
    assert weapons["BM-30 Smerch"].max_range_km == pytest.approx(70)
    assert weapons["BM-30 Smerch (9M542 extended-range)"].max_range_km == pytest.approx(90)
    assert 34 <= weapons["BM-27 Uragan"].max_range_km <= 36
    assert 19 <= weapons["BM-21 Grad"].max_range_km <= 21
    assert weapons["TOS-1A"].max_range_km == pytest.approx(6)
    assert {"guided rocket", "drone"} <= {w.kind for w in weapons.values()}
    assert all(w.source and w.min_range_km <= w.max_range_km for w in weapons.values())


def test_area_35_km_east_of_khmeimim(tmp_path: Path) -> None:
    front = load_front(
        _write_front(
            tmp_path / "f.geojson", [_area(_east_area(*KHMEIMIM, 35.0), "HTS", "2024-12-07")]
        )
    )
    (result,) = exposure([_site("khmeimim", *KHMEIMIM)], front, load_weapons())
    assert result.distance_km == pytest.approx(35.0, rel=0.01)
    assert "BM-30 Smerch" in result.in_range
    assert "BM-21 Grad" not in result.in_range and "TOS-1A" not in result.in_range
    assert result.front_date == "2024-12-07" and result.controller == "HTS"
    # the nearest point lies on the area's west edge, due east of the base
    _, _, metres = GEOD.inv(*KHMEIMIM, *result.nearest_point)
    assert metres / 1000 == pytest.approx(result.distance_km, rel=1e-6)
    assert abs(result.nearest_point[1] - KHMEIMIM[1]) < 0.01
    record = result.to_json()
    assert set(record) >= {"site_id", "distance_km", "nearest_point", "in_range", "front_date"}


def test_nearest_on_line_and_inside_polygon() -> None:
    # a meridian 0.5 degree east: the geodesic distance is below the planar-degree guess
    line = shape({"type": "LineString", "coordinates": [[36.4486, 34.0], [36.4486, 37.0]]})
    km, (lon, lat) = nearest_on(line, *KHMEIMIM)
    expected = GEOD.inv(KHMEIMIM[0], KHMEIMIM[1], 36.4486, KHMEIMIM[1])[2] / 1000
    assert km == pytest.approx(expected, rel=1e-3)
    assert lon == pytest.approx(36.4486, abs=1e-6)
    box = shape({"type": "Polygon", "coordinates": [_east_area(35.5, 35.4, 1.0, width_km=80)]})
    assert nearest_on(box, *KHMEIMIM) == (0.0, KHMEIMIM)


def test_hostile_filter_and_min_range(tmp_path: Path) -> None:
    friendly = _area(_east_area(*KHMEIMIM, 3.0), "SAA", "2024-12-01")
    hostile = _area(_east_area(*KHMEIMIM, 15.0), "HTS", "2024-12-01")
    path = _write_front(tmp_path / "f.geojson", [friendly, hostile])
    weapons = load_weapons()
    near = exposure([_site("k", *KHMEIMIM)], load_front(path), weapons)[0]
    assert near.distance_km == pytest.approx(3.0, rel=0.01) and "TOS-1A" in near.in_range
    far = exposure([_site("k", *KHMEIMIM)], load_front(path, hostile=["HTS"]), weapons)[0]
    assert far.distance_km == pytest.approx(15.0, rel=0.01)
    assert "BM-21 Grad" in far.in_range
    assert "BM-30 Smerch" not in far.in_range  # inside Smerch's 20 km minimum range
    with pytest.raises(InputError, match="no hostile"):
        load_front(path, hostile=["ISIS"])


def test_exposure_over_time_and_geojson(tmp_path: Path) -> None:
    sites = [_site("khmeimim", *KHMEIMIM), _site("tartus", *TARTUS)]
    fronts = [
        load_front(
            _write_front(tmp_path / f"{d}.geojson", [_area(_east_area(*KHMEIMIM, km), "HTS", d)])
        )
        for d, km in [("2024-12-08", 35.0), ("2024-12-01", 120.0)]
    ]
    weapons = load_weapons()
    rows = exposure_over_time(sites, fronts, weapons)
    assert [(r.front_date, r.site_id) for r in rows] == [
        ("2024-12-01", "khmeimim"),
        ("2024-12-01", "tartus"),
        ("2024-12-08", "khmeimim"),
        ("2024-12-08", "tartus"),
    ]
    assert rows[0].distance_km > rows[2].distance_km
    assert "BM-30 Smerch" not in rows[0].in_range and "BM-30 Smerch" in rows[2].in_range
    doc = exposure_geojson(rows, weapons)
    layers = [f["properties"]["layer"] for f in doc["features"]]
    assert layers.count("distance") == 4
    rings = [f for f in doc["features"] if f["properties"]["layer"] == "range_ring"]
    smerch = next(
        f
        for f in rings
        if f["properties"]["site_id"] == "khmeimim" and f["properties"]["weapon"] == "BM-30 Smerch"
    )
    assert smerch["properties"]["in_range"] is True
    ring = shape(smerch["geometry"])
    lon, lat = ring.exterior.coords[7]
    assert GEOD.inv(*KHMEIMIM, lon, lat)[2] / 1000 == pytest.approx(70, rel=1e-6)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "FeatureCollection", "features": []}', "has no features"),
        ('{"type": "Topology"}', "not a GeoJSON FeatureCollection"),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null}]}',
            "feature 0 has no geometry",
        ),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", '
            '"geometry": {"type": "Point", "coordinates": [36, 35]}}]}',
            "feature 0 is a Point",
        ),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", '
            '"geometry": {"type": "LineString", "coordinates": [[200, 35], [201, 36]]}}]}',
            "out of range",
        ),
    ],
)
def test_bad_front_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "front.geojson"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        load_front(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("weapons:\n  - name: Grad\n    source: x\n", r"entry 0 \(Grad\) has no max_range_km"),
        ("weapons:\n  - name: Grad\n    max_range_km: 20\n", "has no source"),
        ("weapons:\n  - name: G\n    max_range_km: far\n    source: x\n", "write a number"),
        (
            "weapons:\n  - name: G\n    min_range_km: 30\n    max_range_km: 20\n    source: x\n",
            "at least",
        ),
        ("weapons: []\n", "holds no weapons"),
        ("weapons: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_weapons_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "weapons.yaml"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        load_weapons(path)
    assert str(path) in str(info.value)


def test_weapon_reaches_band() -> None:
    w = Weapon(name="x", calibre="", min_range_km=20, max_range_km=70, source="s")
    assert [w.reaches(d) for d in (10, 20, 50, 70, 71)] == [False, True, True, True, False]


def test_cli_exposure_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from basewatch.cli import main

    paths = [
        _write_front(tmp_path / f"{d}.geojson", [_area(_east_area(*KHMEIMIM, km), "HTS", d)])
        for d, km in [("2024-12-08", 35.0), ("2024-12-01", 120.0)]
    ]
    fronts = [arg for p in paths for arg in ("--front", str(p))]
    main(["exposure", "--sites", "syria-2024", *fronts, "--site", "khmeimim", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert [r["front_date"] for r in rows] == ["2024-12-01", "2024-12-08"]
    assert rows[1]["distance_km"] == pytest.approx(35.0, rel=0.01)
    assert "BM-30 Smerch" in rows[1]["in_range"] and "BM-21 Grad" not in rows[1]["in_range"]
    main(["exposure", "--sites", "syria-2024", *fronts, "--format", "geojson"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["type"] == "FeatureCollection"
    assert {f["properties"]["layer"] for f in doc["features"]} == {"distance", "range_ring"}
    main(["exposure", "--sites", "syria-2024", *fronts])
    assert "35.00" in capsys.readouterr().out
    empty = _write_front(tmp_path / "empty.geojson", [])
    with pytest.raises(SystemExit):
        main(["exposure", "--sites", "syria-2024", "--front", str(empty)])
    err = capsys.readouterr().err
    assert str(empty) in err and "has no features" in err and "Traceback" not in err
    no_range = tmp_path / "w.yaml"
    no_range.write_text("weapons:\n  - name: Grad\n    source: x\n")
    with pytest.raises(SystemExit):
        main(
            [
                "exposure",
                "--sites",
                "syria-2024",
                "--front",
                str(paths[0]),
                "--weapons",
                str(no_range),
            ]
        )
    assert "entry 0 (Grad) has no max_range_km" in capsys.readouterr().err


def test_control_areas_with_actor_read_as_fronts(tmp_path: Path) -> None:
    """The corridor's control areas (``actor``) work as fronts: --hostile picks by actor."""
    friendly = _area(_east_area(*KHMEIMIM, 3.0), "SY-GOV", "2024-12-01")
    hostile = _area(_east_area(*KHMEIMIM, 15.0), "HTS", "2024-12-01")
    for feature in (friendly, hostile):
        feature["properties"]["actor"] = feature["properties"].pop("controller")
    path = _write_front(tmp_path / "areas.geojson", [friendly, hostile])
    front = load_front(path, hostile=["HTS"])
    assert [f.controller for f in front.features] == ["HTS"]
    far = exposure([_site("k", *KHMEIMIM)], front, load_weapons())[0]
    assert far.distance_km == pytest.approx(15.0, rel=0.01) and far.controller == "HTS"

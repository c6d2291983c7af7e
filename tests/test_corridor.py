"""Tests for basewatch.context.corridor: land links, cut dates, chokepoints, road networks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyproj import Geod
from shapely.geometry import LineString, Point, box, mapping
from shapely.ops import unary_union

from basewatch.analysis import assess
from basewatch.cli import main
from basewatch.context.corridor import (
    corridor,
    load_control_areas,
    read_roads,
    resolve_anchor,
)
from basewatch.context.indicators import merge_context
from basewatch.errors import InputError
from basewatch.sites import Site, load_registry

GEOD = Geod(ellps="WGS84")
D1, D2 = "2024-12-01", "2024-12-02"


def _area(geom: Any, actor: str, day: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": mapping(geom),
        "properties": {"actor": actor, "date": day},
    }


def _place(name: str, lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Feature", "geometry": mapping(Point(lon, lat)), "properties": {"place": name}}


def _write(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def _site(**props: Any) -> Site:
    return Site(
        id="base",
        name="Base",
        kind="airbase",
        geometry=Point(0.1, 0.2),
        operator="RU",
        properties=props,
    )


def _dumbbell(tmp_path: Path) -> Path:
    """Two wide friendly blobs joined by an 11 km neck on D1; the neck is lost on D2."""
    west, east = box(0.0, 0.0, 0.45, 0.4), box(0.55, 0.0, 1.0, 0.4)
    neck = box(0.45, 0.15, 0.55, 0.25)
    sides = unary_union([box(0.45, 0.0, 0.55, 0.15), box(0.45, 0.25, 0.55, 0.4)])
    features = [
        _area(unary_union([west, neck, east]), "GOV", D1),
        _area(sides, "REBELS", D1),
        _area(unary_union([west, east]), "GOV", D2),
        _area(unary_union([sides, neck]), "REBELS", D2),
        _place("Capital", 0.9, 0.2),
        _place("Neck", 0.5, 0.2),
        _place("Westtown", 0.25, 0.2),
    ]
    return _write(tmp_path / "areas.geojson", features)


def test_link_cut_date_and_chokepoint(tmp_path: Path) -> None:
    control = load_control_areas(_dumbbell(tmp_path))
    result = corridor(
        _site(anchor="Capital", allies=["GOV"]), control, cell_km=1.0, choke_radius_km=8.0
    )
    first, second = result.links
    assert first.date == D1 and first.linked
    straight = GEOD.inv(0.1, 0.2, 0.9, 0.2)[2] / 1000.0
    assert first.length_km is not None and straight <= first.length_km <= straight + 4.0
    assert [c.name for c in first.chokepoints] == ["Neck"]  # Westtown's loss leaves a way round
    assert not second.linked and "no land path" in second.reason
    assert second.lost == ("Neck (REBELS)",)
    assert result.cut == (D1, D2)
    record = result.to_json()
    assert record["cut_after"] == D1 and record["cut_before"] == D2 and not record["linked"]
    assert "cut between 2024-12-01 and 2024-12-02" in result.sentence()
    assert "Neck" in result.sentence()


def test_without_allies_the_site_is_alone(tmp_path: Path) -> None:
    control = load_control_areas(_dumbbell(tmp_path))
    result = corridor(_site(anchor="Capital"), control, cell_km=1.0)
    assert not any(link.linked for link in result.links)
    assert result.links[0].reason == "no area held by RU"
    assert result.cut == (None, D1)
    assert "no land link" in result.sentence()


def test_sea_is_not_a_path(tmp_path: Path) -> None:
    # two friendly coasts with water (no area) between them: the straight line is not land
    features = [
        _area(box(0.0, 0.0, 0.4, 0.4), "GOV", D1),
        _area(box(0.6, 0.0, 1.0, 0.4), "GOV", D1),
        _area(box(0.0, 0.8, 0.1, 0.9), "REBELS", D1),
    ]
    control = load_control_areas(_write(tmp_path / "sea.geojson", features))
    result = corridor(_site(anchor="0.9,0.2", allies="GOV"), control, cell_km=1.0)
    assert not result.links[0].linked
    assert "no land path" in result.links[0].reason


def test_site_inside_hostile_area_is_cut(tmp_path: Path) -> None:
    features = [
        _area(box(0.2, 0.0, 1.0, 0.4), "GOV", D1),
        _area(box(0.0, 0.0, 0.2, 0.4), "REBELS", D1),
    ]
    control = load_control_areas(_write(tmp_path / "a.geojson", features))
    link = corridor(_site(anchor="0.9,0.2", allies="GOV"), control).links[0]
    assert not link.linked and link.reason == "site is in an area held by REBELS"


def test_road_network(tmp_path: Path) -> None:
    """Two roads round a hostile pocket: the path takes the open one, its town is a chokepoint."""
    import geopandas as gpd

    north = LineString([(0.1, 0.2), (0.5, 0.35), (0.9, 0.2)])
    south = LineString([(0.1, 0.2), (0.5, 0.05), (0.9, 0.2)])
    roads_file = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame({"name": ["north", "south"]}, geometry=[north, south], crs=4326).to_file(
        roads_file, driver="GPKG"
    )
    land = box(0.0, 0.0, 1.0, 0.4)
    pocket = box(0.4, 0.3, 0.6, 0.4)
    features = [
        _area(land.difference(pocket), "GOV", D1),
        _area(pocket, "REBELS", D1),
        _place("Southgate", 0.5, 0.05),
        _place("Capital", 0.9, 0.2),
    ]
    control = load_control_areas(_write(tmp_path / "areas.geojson", features))
    lines = read_roads(roads_file)
    assert len(lines) == 2
    result = corridor(
        _site(anchor="Capital", allies="GOV"), control, roads=lines, choke_radius_km=5.0
    )
    link = result.links[0]
    assert result.method == "roads" and link.linked
    south_km = GEOD.line_length(*zip(*south.coords, strict=True)) / 1000.0
    assert link.length_km == pytest.approx(south_km, rel=0.01)
    assert [c.name for c in link.chokepoints] == ["Southgate"]
    assert min(lat for _, lat in link.path) < 0.1  # went south
    # the grid over the same areas goes straight through the open land instead
    grid = corridor(_site(anchor="Capital", allies="GOV"), control, cell_km=1.0).links[0]
    assert grid.linked and grid.length_km is not None and grid.length_km < south_km


def test_anchor_forms_and_errors(tmp_path: Path) -> None:
    control = load_control_areas(_dumbbell(tmp_path))
    assert resolve_anchor("capital", control, where="x") == ("Capital", (0.9, 0.2))
    assert resolve_anchor("0.9, 0.2", control, where="x")[1] == (0.9, 0.2)
    assert resolve_anchor([0.9, 0.2], control, where="x")[1] == (0.9, 0.2)
    assert resolve_anchor({"name": "C", "lon": 0.9, "lat": 0.2}, control, where="x")[0] == "C"
    with pytest.raises(InputError, match="places: Capital, Neck, Westtown"):
        resolve_anchor("Atlantis", control, where="site 'base'")
    with pytest.raises(InputError, match="has no anchor"):
        corridor(_site(), control)
    with pytest.raises(InputError, match="--cell-km 0: give a positive number of km, e.g. 2"):
        corridor(_site(anchor="Capital"), control, cell_km=0)


def test_bad_area_files(tmp_path: Path) -> None:
    no_actor = _write(
        tmp_path / "a.geojson",
        [{"type": "Feature", "geometry": mapping(box(0, 0, 1, 1)), "properties": {"date": D1}}],
    )
    with pytest.raises(InputError, match=r"feature 0 is an area without actor"):
        load_control_areas(no_actor)
    bad_date = _write(tmp_path / "b.geojson", [_area(box(0, 0, 1, 1), "GOV", "1 Dec 2024")])
    with pytest.raises(InputError, match="write YYYY-MM-DD"):
        load_control_areas(bad_date)
    only_places = _write(tmp_path / "c.geojson", [_place("X", 0, 0)])
    with pytest.raises(InputError, match="hold no area"):
        load_control_areas(only_places)
    with pytest.raises(InputError, match="cannot be read"):
        load_control_areas(tmp_path / "missing.geojson")


def test_controller_property_and_collection_date(tmp_path: Path) -> None:
    """threat.py's front files (``controller``, collection ``date``) read as control areas."""
    doc = {
        "type": "FeatureCollection",
        "date": D2,
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(box(0, 0, 1, 1)),
                "properties": {"controller": "GOV"},
            },
            {
                "type": "Feature",
                "geometry": mapping(LineString([(0, 0), (1, 1)])),
                "properties": {"controller": "X"},
            },
        ],
    }
    path = tmp_path / "front.geojson"
    path.write_text(json.dumps(doc))
    control = load_control_areas(path)
    assert [(a.actor, a.date) for a in control.areas] == [("GOV", D2)]


def _registry(tmp_path: Path, **props: Any) -> Path:
    feature = {
        "type": "Feature",
        "geometry": mapping(Point(0.1, 0.2)),
        "properties": {"id": "base", "name": "Base", "kind": "airbase", "operator": "RU", **props},
    }
    return _write(tmp_path / "sites.geojson", [feature])


def test_cli_corridor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    areas = _dumbbell(tmp_path)
    reg = _registry(tmp_path, anchor="Capital", allies=["GOV"])
    args = [
        "corridor",
        "--sites",
        str(reg),
        "--areas",
        str(areas),
        "--cell-km",
        "1",
        "--choke-radius-km",
        "8",
    ]
    main([*args, "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["cut_after"] == D1 and rows[0]["links"][0]["chokepoints"][0]["name"] == "Neck"
    main(args)
    table = capsys.readouterr().out
    assert "CUT" in table and "base: land link to Capital cut between" in table
    # no anchor anywhere: an error, not an empty table
    bare = _registry(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["corridor", "--sites", str(bare), "--areas", str(areas)])
    assert done.value.code != 0
    assert "no site has an 'anchor' property" in capsys.readouterr().err


def test_assess_context_adds_indicators_and_members() -> None:
    site = Site(id="s", name="S", kind="airbase", geometry=Point(0, 0))
    context = merge_context(
        {"s": {"corridor": {"linked": False}, "indicators": ["land link cut"]}},
        {"s": {"flights": {"departures": {}}, "indicators": ["ADS-B: 3 heavy"]}},
    )
    out = assess([], [site], context=context)["sites"][0]
    assert out["indicators"][-2:] == ["land link cut", "ADS-B: 3 heavy"]
    assert out["corridor"] == {"linked": False} and out["flights"] == {"departures": {}}
    assert out["posture"] == "unknown"  # context never changes the judgement


def test_demo_corridor_is_cut_after_homs() -> None:
    """The bundled demo areas: Hama's fall leaves the coast on the Tartus-Homs road; Homs's
    loss cuts it (8 December)."""
    control = load_control_areas("syria-2024")
    khmeimim = load_registry("syria-2024").site("khmeimim")
    result = corridor(khmeimim, control, roads=read_roads("syria-2024"))
    by_date = {link.date: link for link in result.links}
    assert result.anchor == "Damascus" and result.friendly == ("RU", "SY-GOV")
    assert result.cut == ("2024-12-07", "2024-12-08")
    before_hama = [c.name for c in by_date["2024-11-26"].chokepoints]
    after_hama = [c.name for c in by_date["2024-12-07"].chokepoints]
    assert "Homs" in before_hama and "Tartus" not in before_hama  # Masyaf-Hama road still open
    assert after_hama[0] == "Homs" and "Tartus" in after_hama
    assert "Homs (HTS)" in by_date["2024-12-08"].lost
    grid = corridor(khmeimim, control, cell_km=4.0)
    assert grid.cut == ("2024-12-07", "2024-12-08")


def test_report_shows_the_corridor(tmp_path: Path) -> None:
    from basewatch.report.html import render_report

    control = load_control_areas(_dumbbell(tmp_path))
    result = corridor(
        _site(anchor="Capital", allies=["GOV"]), control, cell_km=1.0, choke_radius_km=8.0
    )
    site = {"site_id": "base", "posture": "present", "corridor": result.to_json()}
    page = render_report({"sites": [site]})
    assert "Land corridor to Capital" in page
    assert "Cut between 2024-12-01 and 2024-12-02" in page
    assert "Neck (6 km from the front)" in page and "lost Neck (REBELS)" in page
    assert "Land corridor" not in render_report({"sites": [{"site_id": "base"}]})


def test_assess_as_of_before_the_first_situation_gives_no_corridor_not_an_error() -> None:
    """assess --areas --as-of 2024-11-01 stopped with an error about '--until' (review of
    2026-12-06); the corridor command alone refuses an --until before every situation."""
    from datetime import UTC, datetime

    from basewatch.context.indicators import corridor_context
    from basewatch.sites import load_registry

    context = corridor_context(
        list(load_registry("syria-2024")),
        areas=("syria-2024",),
        as_of=datetime(2024, 11, 1, tzinfo=UTC),
    )
    assert context and all(not entry["corridor"]["linked"] for entry in context.values())


def test_undated_areas_are_said_to_be_undated(tmp_path: Path) -> None:
    """An areas file without dates printed 'holds on : 207 km' (a blank date)."""
    from basewatch.context.corridor import corridors, load_control_areas
    from basewatch.sites import load_registry

    bundled = Path(__file__).parents[1] / "basewatch/data/fronts/areas/syria-2024.geojson"
    collection = json.loads(bundled.read_text())
    features = collection["features"]
    day = {id(f): (f.get("properties") or {}).get("date") for f in features}
    first = min(d for d in day.values() if d)
    collection["features"] = [f for f in features if day[id(f)] in (None, first)]
    for feature in collection["features"]:
        (feature.get("properties") or {}).pop("date", None)
    collection.pop("date", None)
    undated = tmp_path / "undated.geojson"
    undated.write_text(json.dumps(collection))
    (tartus,) = corridors(
        load_registry("syria-2024").select(["tartus"]).sites, load_control_areas([str(undated)])
    )
    assert "holds in the undated areas: 207 km" in tartus.sentence()

"""Registry reading, writing and every validation error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from basewatch.errors import RegistryError, SiteNotFoundError
from basewatch.sites import bundled_registries, load_registry, save_registry


def _site(sid: str = "alpha", lon: float = 35.95, lat: float = 35.40) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"id": sid, "name": sid.title(), "kind": "airbase", "operator": "RU"},
    }


def _zone(
    site: str = "alpha",
    zid: str = "apron",
    lon: float = 35.95,
    lat: float = 35.40,
    size: float = 0.002,
) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"site": site, "id": zid, "kind": "apron", "target": "aircraft"},
    }


def _write(tmp_path: Path, features: list[Any], name: str = "reg.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_bundled_registry_has_both_syrian_sites_and_their_zones() -> None:
    assert "syria-2024" in bundled_registries()
    reg = load_registry("syria-2024")
    khmeimim, tartus = reg.site("khmeimim"), reg.site("tartus")
    assert (khmeimim.kind, khmeimim.operator) == ("airbase", "RU")
    assert (tartus.kind, tartus.operator) == ("naval_base", "RU")
    assert {z.id: (z.kind, z.target) for z in khmeimim.zones} == {
        "main-apron": ("apron", "aircraft"),
        "transport-apron": ("apron", "aircraft"),
        "s400-position": ("air_defence_position", "vehicle"),
    }
    assert tartus.zone("piers").target == "ship"
    for zone in reg.zones():
        assert zone.properties["sources"], f"zone {zone.key} has no source"
    for site in reg:
        assert site.properties["sources"]


def test_unknown_site_and_zone_name_what_exists() -> None:
    reg = load_registry("syria-2024")
    with pytest.raises(SiteNotFoundError, match="khmeimim, tartus"):
        reg.site("nowhere")
    with pytest.raises(KeyError):  # also a builtin KeyError
        reg.site("x").zone("y")
    with pytest.raises(SiteNotFoundError, match="main-apron"):
        reg.site("khmeimim").zone("apron")


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [ }')
    with pytest.raises(RegistryError, match=r"broken.geojson: invalid JSON at line 2"):
        load_registry(path)


def test_not_a_feature_collection(tmp_path: Path) -> None:
    path = tmp_path / "list.geojson"
    path.write_text("[]")
    with pytest.raises(RegistryError, match="not a GeoJSON FeatureCollection"):
        load_registry(path)


def test_missing_id_names_feature_index(tmp_path: Path) -> None:
    zone = _zone()
    del zone["properties"]["id"]
    path = _write(tmp_path, [_site(), zone])
    with pytest.raises(RegistryError, match=r"reg.geojson: feature 1: missing id; add a unique"):
        load_registry(path)


@pytest.mark.parametrize(
    ("site_id", "zone_id", "why"),
    [
        ("../../x", "apron", "holds a slash"),
        ("alpha", "north/apron", "holds a slash"),
        ("alpha", "apron\x00", "control character"),
        ("a" * 101, "apron", "is 101 characters long"),
        ("..", "apron", "is a path step"),
    ],
)
def test_ids_that_cannot_name_a_site_in_a_url(
    tmp_path: Path, site_id: str, zone_id: str, why: str
) -> None:
    """Ids are route parts of the web API (/api/sites/{id}/zones/{zone}/...): a slash made a
    stored site that no route could serve."""
    path = _write(tmp_path, [_site(site_id), _zone(site=site_id, zid=zone_id)])
    with pytest.raises(RegistryError, match=rf"feature \d: id .* {why}.*use a short id"):
        load_registry(path)


def test_duplicate_site_ids(tmp_path: Path) -> None:
    path = _write(tmp_path, [_site(), _site(lon=36.0)])
    with pytest.raises(
        RegistryError, match=r"feature 1: duplicate site id 'alpha' \(first at feature 0\)"
    ):
        load_registry(path)


def test_duplicate_zone_ids(tmp_path: Path) -> None:
    path = _write(tmp_path, [_site(), _zone(), _zone(lon=35.951)])
    with pytest.raises(RegistryError, match=r"feature 2: duplicate zone id alpha/apron"):
        load_registry(path)


def test_zone_of_unknown_site(tmp_path: Path) -> None:
    path = _write(tmp_path, [_site(), _zone(site="bravo")])
    with pytest.raises(RegistryError, match=r"feature 1: zone 'apron' refers to site 'bravo'"):
        load_registry(path)


def test_self_intersecting_polygon(tmp_path: Path) -> None:
    bowtie = _zone()
    bowtie["geometry"]["coordinates"] = [
        [[35.95, 35.40], [35.952, 35.402], [35.952, 35.40], [35.95, 35.402], [35.95, 35.40]]
    ]
    path = _write(tmp_path, [_site(), bowtie])
    with pytest.raises(RegistryError, match=r"feature 1: invalid geometry: Self-intersection"):
        load_registry(path)


def test_malformed_geometry(tmp_path: Path) -> None:
    broken = _zone()
    broken["geometry"] = {"type": "Polygon", "coordinates": [[[35.95]]]}
    path = _write(tmp_path, [_site(), broken])
    with pytest.raises(RegistryError, match=r"feature 1: invalid geometry"):
        load_registry(path)


def test_coordinates_out_of_range(tmp_path: Path) -> None:
    path = _write(tmp_path, [_site(lon=195.0)])
    with pytest.raises(
        RegistryError, match=r"feature 0: coordinates out of range.*longitude, latitude"
    ):
        load_registry(path)


def test_zone_far_from_site_with_swapped_lon_lat(tmp_path: Path) -> None:
    path = _write(tmp_path, [_site(), _zone(lon=35.40, lat=35.95)])
    with pytest.raises(
        RegistryError, match=r"feature 1: zone alpha/apron lies \d+ km from its site"
    ):
        load_registry(path)
    with pytest.raises(RegistryError, match="lon/lat look swapped"):
        load_registry(path)


def test_zone_far_from_site_otherwise(tmp_path: Path) -> None:
    path = _write(tmp_path, [_site(), _zone(lon=10.0, lat=50.0)])
    with pytest.raises(RegistryError, match="check its coordinates"):
        load_registry(path)


def test_unknown_kind_and_target(tmp_path: Path) -> None:
    zone = _zone()
    zone["properties"]["target"] = "tanks"
    with pytest.raises(RegistryError, match="unknown target 'tanks'; use one of aircraft"):
        load_registry(_write(tmp_path, [_site(), zone]))
    site = _site()
    site["properties"]["kind"] = "castle"
    with pytest.raises(RegistryError, match="unknown site kind 'castle'"):
        load_registry(_write(tmp_path, [site]))


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no such registry file.*syria-2024"):
        load_registry(tmp_path / "nope.geojson")
    other = tmp_path / "reg.kml"
    other.write_text("<kml/>")
    with pytest.raises(RegistryError, match="unknown registry format '.kml'"):
        load_registry(other)


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg", ".csv"])
def test_round_trip_through_every_format(tmp_path: Path, suffix: str) -> None:
    reg = load_registry("syria-2024")
    path = save_registry(reg, tmp_path / f"out{suffix}")
    back = load_registry(path)
    assert [s.id for s in back] == [s.id for s in reg]
    for a, b in zip(reg, back, strict=True):
        assert (a.name, a.kind, a.operator, a.country) == (b.name, b.kind, b.operator, b.country)
        assert a.geometry.equals_exact(b.geometry, 1e-9)
        assert a.properties["sources"] == b.properties["sources"]
        assert [(z.id, z.kind, z.target) for z in a.zones] == [
            (z.id, z.kind, z.target) for z in b.zones
        ]
        for za, zb in zip(a.zones, b.zones, strict=True):
            assert za.geometry.equals_exact(zb.geometry, 1e-9)


def test_csv_with_points_only(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("id,name,kind,operator,lon,lat\nkhm,Khmeimim,airbase,RU,35.9486,35.4011\n")
    reg = load_registry(path)
    assert reg.site("khm").point == pytest.approx((35.9486, 35.4011))
    bad = tmp_path / "bad.csv"
    bad.write_text("id,lon,lat\nkhm,east,35.4\n")
    with pytest.raises(RegistryError, match="row 2: lon/lat must be numbers"):
        load_registry(bad)
    nogeom = tmp_path / "nogeom.csv"
    nogeom.write_text("id,name\nkhm,Khmeimim\n")
    with pytest.raises(RegistryError, match="no coordinate columns among id, name; give lon"):
        load_registry(nogeom)


def test_geopackage_with_sites_and_zones_in_two_layers(tmp_path: Path) -> None:
    """Only the first layer was read (with a raw pyogrio warning): the zones were lost."""
    import geopandas as gpd
    from shapely.geometry import shape

    path = tmp_path / "two.gpkg"
    for layer, feature in (("sites", _site()), ("zones", _zone())):
        frame = gpd.GeoDataFrame(
            [feature["properties"]], geometry=[shape(feature["geometry"])], crs="EPSG:4326"
        )
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
    registry = load_registry(path)
    assert [s.id for s in registry.sites] == ["alpha"]
    assert [z.id for z in registry.zones()] == ["apron"]

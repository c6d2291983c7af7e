"""Property-based fuzzing of the input parsers: the site registry (GeoJSON and CSV), the
front-line file, the ADS-B track file and STAC items.

Whatever the input, only basewatch's own errors (:class:`BasewatchError` subclasses, one
clear line for the user) may come out, never another exception type. Inputs mix valid
structure with garbage so that the parsers' deeper checks are reached too.
"""

from __future__ import annotations

import copy
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from basewatch.context.threat import load_front
from basewatch.context.tracks import read_states
from basewatch.errors import BasewatchError
from basewatch.imagery.catalog import scene_from_dict
from basewatch.sites import load_registry, registry_from_features

FUZZ = settings(
    max_examples=500,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""500 examples per parser, no per-example deadline (the machine is shared). Under CI the
examples are derived from each test's name (reproducible runs); elsewhere they are random, so
every local run explores new inputs."""

# -- building blocks --------------------------------------------------------------------------

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-200, max_value=200),
    st.integers(min_value=-(2**70), max_value=2**70),
)
"""Coordinates and numbers: in range, out of range, huge, NaN, infinite."""
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=12))
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
"""Any JSON value."""


def _one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` draws (hypothesis favours small integers, so not integers)."""
    return st.sampled_from([False] * (n - 1) + [True])


position = st.lists(numbers, min_size=0, max_size=3)
ring = st.lists(position, min_size=0, max_size=5)
coordinates = st.one_of(
    position, ring, st.lists(ring, max_size=3), st.lists(st.lists(ring, max_size=2), max_size=2)
)
geometry_types = st.sampled_from(
    [
        "Point",
        "LineString",
        "Polygon",
        "MultiPolygon",
        "MultiLineString",
        "GeometryCollection",
        "Blob",
    ]
)


def _mostly(valid: list[Any]) -> st.SearchStrategy[Any]:
    """A valid value nine times in ten, else any JSON value."""
    good = st.sampled_from(valid).map(copy.deepcopy)  # parsers may change what they get
    return _one_in(10).flatmap(lambda bad: json_values if bad else good)


@st.composite
def plausible_geometries(draw: st.DrawFn) -> dict[str, Any]:
    """A point or a small box (a zone) near Khmeimim, sometimes far away or lon/lat swapped."""
    lon, lat = draw(st.floats(35.85, 35.99)), draw(st.floats(35.35, 35.45))
    if draw(_one_in(8)):
        lon, lat = draw(st.sampled_from([(lat, lon), (lon + 20, lat), (-lon, -lat)]))
    if draw(st.booleans()):
        return {"type": "Point", "coordinates": [lon, lat]}
    size = draw(st.floats(0.0, 0.02))
    corners = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size]]
    return {"type": "Polygon", "coordinates": [[*corners, corners[0]]]}


@st.composite
def geometries(draw: st.DrawFn) -> Any:
    """GeoJSON geometry dicts: plausible ones, fuzzed coordinates, or any JSON value."""
    if draw(_one_in(10)):
        return draw(json_values)
    if draw(st.booleans()):
        return draw(plausible_geometries())
    geometry: dict[str, Any] = {"type": draw(geometry_types), "coordinates": draw(coordinates)}
    if geometry["type"] == "GeometryCollection":
        geometry["geometries"] = draw(st.lists(json_values, max_size=2))
    return geometry


def _valid_registry() -> list[dict[str, Any]]:
    """Khmeimim with its apron: a registry that loads."""
    apron = [[35.952, 35.403], [35.958, 35.403], [35.958, 35.405], [35.952, 35.405]]
    site = {"id": "khmeimim", "kind": "airbase", "name": "Khmeimim", "aliases": ["Hmeimim"]}
    zone = {"id": "apron", "site": "khmeimim", "kind": "apron", "target": "aircraft"}
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [35.9486, 35.4011]},
            "properties": site,
        },
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[*apron, apron[0]]]},
            "properties": zone,
        },
    ]


@st.composite
def mutated_registries(draw: st.DrawFn) -> list[Any]:
    """A valid registry with one to three values replaced (or the zone repeated)."""
    features = _valid_registry()
    for _ in range(draw(st.integers(1, 3))):
        feature = features[draw(st.integers(0, len(features) - 1))]
        key = draw(st.sampled_from(["id", "site", "kind", "target", "aliases", "geometry", "type"]))
        value = draw(st.one_of(json_values, geometries(), st.sampled_from(["tartus", "", "other"])))
        if key in ("geometry", "type"):
            feature[key] = value
        else:
            feature["properties"][key] = value
    if draw(_one_in(5)):
        features.append(copy.deepcopy(features[draw(st.integers(0, len(features) - 1))]))
    return features


@st.composite
def registry_features(draw: st.DrawFn) -> list[Any]:
    """Registry features: sites and zones with fuzzed ids, kinds, targets and geometry."""
    if draw(st.booleans()):
        return draw(mutated_registries())
    features: list[Any] = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(_one_in(12)):
            features.append(draw(json_values))
            continue
        props: dict[str, Any] = {"id": draw(_mostly(["khmeimim", "tartus", "apron", ""]))}
        if draw(st.booleans()):
            props["site"] = draw(_mostly(["khmeimim", "tartus", "nowhere"]))
            props["target"] = draw(_mostly(["aircraft", "ship", "vehicle", "any", "tank"]))
            props["kind"] = draw(_mostly(["apron", "pier", "position", "other", "moon"]))
        else:
            props["kind"] = draw(_mostly(["airbase", "naval_base", "other", "castle"]))
            props["aliases"] = draw(_mostly([["Hmeimim"], "Hmeimim | Latakia", None, [1]]))
        for key in draw(st.lists(st.sampled_from(["name", "operator", "country", "x"]))):
            props[key] = draw(json_values)
        props = draw(_mostly([props]))
        features.append(
            {
                "type": draw(_mostly(["Feature"])),
                "geometry": draw(geometries()),
                "properties": props,
            }
        )
    return features


def _only_basewatch_errors(parse: Callable[[], object]) -> None:
    """Run ``parse``; a BasewatchError is a fine answer, anything else fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parse()
        except BasewatchError as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fuzz")


def _dump(value: Any) -> str:
    """JSON text (NaN and Infinity included, as Python writes them)."""
    return json.dumps(value, allow_nan=True)


# -- the registry ------------------------------------------------------------------------------


@FUZZ
@given(features=registry_features())
def test_registry_features(features: list[Any]) -> None:
    _only_basewatch_errors(lambda: registry_from_features(features, source="fuzz"))


@FUZZ
@given(
    doc=st.one_of(
        json_values,
        registry_features().map(lambda f: {"type": "FeatureCollection", "features": f}),
    ),
    raw=st.binary(max_size=40),
)
def test_registry_geojson_file(folder: Path, doc: Any, raw: bytes) -> None:
    path = folder / "sites.geojson"
    if raw[:1] == b"!":  # sometimes bytes that are not JSON at all
        path.write_bytes(raw)
    else:
        path.write_text(_dump(doc))
    _only_basewatch_errors(lambda: load_registry(path))


csv_cells = st.one_of(
    st.text(max_size=8),
    numbers.map(str),
    st.sampled_from(["", "POINT (35 35)", "POLYGON ((0 0, 1 0, 1 1, 0 0))", "nan"]),
)


@FUZZ
@given(
    header=st.lists(
        st.sampled_from(
            ["id", "site", "kind", "target", "lon", "lat", "wkt", "aliases", "sources", "x,y", '"']
        ),
        min_size=1,
        max_size=6,
    ),
    rows=st.lists(st.lists(csv_cells, max_size=7), max_size=4),
)
def test_registry_csv_file(folder: Path, header: list[str], rows: list[list[str]]) -> None:
    path = folder / "sites.csv"
    lines = [",".join(header), *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _only_basewatch_errors(lambda: load_registry(path))


# -- the front -------------------------------------------------------------------------------


@st.composite
def front_docs(draw: st.DrawFn) -> Any:
    """Front files: collections of control areas and lines, bare features or geometries."""
    features = [
        {
            "type": "Feature",
            "geometry": draw(geometries()),
            "properties": draw(
                _mostly([{"controller": "hts", "date": "2024-12-01"}, {"controller": 3}, None, {}])
            ),
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(json_values)
    if kind == 1:
        return draw(geometries())
    if kind == 2 and features:
        return features[0]
    return {"type": "FeatureCollection", "features": features, "date": draw(json_values)}


@FUZZ
@given(doc=front_docs(), hostile=st.one_of(st.none(), st.lists(st.text(max_size=5), max_size=2)))
def test_front_file(folder: Path, doc: Any, hostile: list[str] | None) -> None:
    path = folder / "front.geojson"
    path.write_text(_dump(doc))
    _only_basewatch_errors(lambda: load_front(path, hostile=hostile))


# -- ADS-B tracks ----------------------------------------------------------------------------

TRACK_COLUMNS = [
    "timestamp",
    "icao24",
    "latitude",
    "longitude",
    "altitude",
    "callsign",
    "typecode",
    "onground",
    "groundspeed",
]
track_cells = st.one_of(
    st.text(max_size=10),
    numbers.map(str),
    st.sampled_from(
        ["2024-12-03T08:20:00Z", "1733214000000", "1733214000", "4b1805", "true", "", "NaT"]
    ),
)


@FUZZ
@given(
    header=st.lists(st.sampled_from(TRACK_COLUMNS), min_size=1, max_size=9),
    rows=st.lists(st.lists(track_cells, max_size=9), max_size=5),
)
# a row with more fields than the header once made pandas take the first columns as an index
@example(
    header=["timestamp", "icao24", "latitude", "longitude", "altitude"], rows=[[""] * 4 + [","]]
)
def test_track_csv_file(folder: Path, header: list[str], rows: list[list[str]]) -> None:
    path = folder / "states.csv"
    text = "\n".join([",".join(header), *(",".join(r) for r in rows)]) + "\n"
    path.write_text(text, encoding="utf-8")
    _only_basewatch_errors(lambda: read_states(path))


track_records = st.lists(
    st.dictionaries(st.sampled_from(TRACK_COLUMNS), st.one_of(scalars, track_cells), max_size=9),
    max_size=5,
)


@FUZZ
@given(doc=st.one_of(track_records, json_values))
def test_track_json_file(folder: Path, doc: Any) -> None:
    path = folder / "states.json"
    path.write_text(_dump(doc))
    _only_basewatch_errors(lambda: read_states(path))


# -- STAC items --------------------------------------------------------------------------------

SENSOR_ASSETS = {
    "sentinel-2-l2a": ["blue", "green", "red", "nir", "swir16", "scl"],
    "sentinel-1-grd": ["vv", "vh"],
    "highres": ["visual"],
}
"""A full set of asset keys per collection (the fuzzer removes and adds some)."""


@st.composite
def stac_items(draw: st.DrawFn) -> Any:
    """STAC item dicts, mostly well formed so that basewatch's own parsing is reached, with
    fuzzed properties, bbox, datetimes, asset sets, hrefs and raster:bands."""
    if draw(_one_in(16)):
        return draw(json_values)
    collection = draw(st.sampled_from(list(SENSOR_ASSETS)))
    keys = [k for k in SENSOR_ASSETS[collection] if not draw(_one_in(8))]
    keys += draw(st.lists(st.sampled_from(["B08", "x", "visual", "vv", "thumbnail"]), max_size=2))
    scale = [{"scale": 0.0001, "offset": -0.1}]
    assets = {
        key: {
            "href": draw(_mostly([f"https://example.org/{key}.tif", "relative.tif"])),
            "raster:bands": draw(_mostly([scale, [{"scale": "x"}], [{"scale": None}], [{}], []])),
        }
        for key in keys
    }
    properties: dict[str, Any] = {
        "datetime": draw(_mostly(["2024-12-03T08:20:00Z", "2024-12-03T08:20:00+02:00", None]))
    }
    for key, valid in (
        ("eo:cloud_cover", [12.5, 0, 100, "cloudy", None, [1], math.nan]),
        ("platform", ["sentinel-2a", "sentinel-1a", "worldview-3"]),
        ("start_datetime", ["2024-12-03T08:00:00Z"]),
        ("end_datetime", ["2024-12-03T09:00:00Z"]),
        ("basewatch:georeferencing", ["gcp", "grid", 7, None]),
        ("sar:instrument_mode", ["IW"]),
    ):
        if draw(st.booleans()):
            properties[key] = draw(_mostly(valid))
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": draw(_mostly(["S2A_x", "", "a/b"])),
        "collection": draw(_mostly([collection, None, ""])),
        "geometry": draw(geometries()),
        "bbox": draw(
            _mostly([[35.0, 34.0, 36.0, 35.0], [35, 34, 0, 36, 35, 9], [1, 2], [], None, ["a"] * 4])
        ),
        "properties": properties,
        "links": draw(_mostly([[], [{"rel": "self", "href": "https://example.org/item.json"}]])),
        "assets": assets,
    }
    if draw(_one_in(20)):
        del item[draw(st.sampled_from(list(item)))]
    return item


@FUZZ
@given(item=stac_items())
def test_stac_item(item: Any) -> None:
    _only_basewatch_errors(lambda: scene_from_dict(item))

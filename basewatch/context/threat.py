"""Exposure of sites to the front: geodesic distance to hostile areas and weapons in range.

In December 2024 reporting on Khmeimim and Tartus rested on how far the bases were from
the advancing front and which captured weapons (BM-30 Smerch) could reach them. This
module reads control areas (polygons with ``controller`` and ``date``) or front lines
(lines) from GeoJSON, computes for each site the geodesic distance on the WGS84
ellipsoid to the nearest hostile feature and its nearest point, and lists the weapons of
a catalogue (YAML, shipped as ``basewatch/data/weapons.yaml``) whose range reaches it.

Nearest points are found in an azimuthal-equidistant projection centred on the site
(where distance from the centre is the geodesic distance) on a densified copy of the
front; the reported distance is then measured with :class:`pyproj.Geod` between the site
and that point. Polygons that contain the site give distance 0.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry import LineString, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from basewatch.errors import InputError
from basewatch.sites import Site

__all__ = [
    "Exposure",
    "Front",
    "FrontFeature",
    "Weapon",
    "default_weapons_path",
    "exposure",
    "exposure_geojson",
    "exposure_over_time",
    "load_front",
    "load_weapons",
    "nearest_on",
]

_GEOD = Geod(ellps="WGS84")
_DENSIFY_DEG = 0.002
"""Front vertices are inserted every ~200 m before projecting, so curved edges stay exact."""
_RING_VERTICES = 120
"""Vertices of a geodesic range ring."""
_FRONT_TYPES = ("Polygon", "MultiPolygon", "LineString", "MultiLineString")


@dataclass(frozen=True, kw_only=True)
class Weapon:
    """A weapon system of the catalogue with its published range."""

    name: str
    """Display name (e.g. ``BM-30 Smerch``)."""
    calibre: str
    """Calibre or class (``300 mm``, ``loitering munition``)."""
    min_range_km: float
    """Shortest range in km (0 when none is published)."""
    max_range_km: float
    """Longest range in km."""
    source: str
    """Cited public source of the range figures."""
    kind: str = ""
    """Kind of system (``rocket artillery``, ``guided rocket``, ``drone``)."""

    def reaches(self, distance_km: float) -> bool:
        """Whether a target ``distance_km`` away lies within this weapon's range band."""
        return self.min_range_km <= distance_km <= self.max_range_km


@dataclass(frozen=True, kw_only=True)
class FrontFeature:
    """One control area (polygon) or front line (line)."""

    geometry: BaseGeometry
    """Polygon(s) or line(s) in EPSG:4326."""
    controller: str = ""
    """Who holds the area (empty for bare front lines)."""
    date: str = ""
    """Date of the situation (ISO ``YYYY-MM-DD``), empty when unknown."""
    index: int = 0
    """Feature index in its file (for messages)."""


@dataclass(frozen=True, kw_only=True)
class Front:
    """The hostile features of one front file at one date."""

    features: tuple[FrontFeature, ...]
    """Hostile control areas and front lines."""
    date: str
    """Situation date (file ``date`` property, else the latest feature date, else '')."""
    source: str = ""
    """File the front was read from."""
    controllers: tuple[str, ...] = ()
    """Every controller the file names (hostile or not), sorted."""


@dataclass(frozen=True, kw_only=True)
class Exposure:
    """How close one site is to the front and what reaches it."""

    site_id: str
    """Site id."""
    distance_km: float
    """Geodesic distance (WGS84) to the nearest hostile feature, km (0 inside an area)."""
    nearest_point: tuple[float, float]
    """``(lon, lat)`` of the nearest point of that feature."""
    in_range: tuple[str, ...]
    """Names of the weapons whose range band contains the distance."""
    front_date: str
    """Date of the front situation."""
    controller: str = ""
    """Controller of the nearest feature ('' for a front line)."""
    site_point: tuple[float, float] = field(default=(0.0, 0.0))
    """``(lon, lat)`` of the site."""

    def to_json(self) -> dict[str, Any]:
        """The JSON record of the CLI contract (plus ``controller``)."""
        return {
            "site_id": self.site_id,
            "distance_km": round(self.distance_km, 3),
            "nearest_point": [round(self.nearest_point[0], 6), round(self.nearest_point[1], 6)],
            "in_range": list(self.in_range),
            "front_date": self.front_date or None,
            "controller": self.controller,
        }


# --------------------------------------------------------------------------- weapons


def default_weapons_path() -> Path:
    """Path of the weapons catalogue shipped with basewatch."""
    return Path(str(resources.files("basewatch") / "data" / "weapons.yaml"))


def load_weapons(path: str | Path | None = None) -> tuple[Weapon, ...]:
    """Read a weapons catalogue (YAML: a ``weapons`` list or a bare list of entries).

    Every entry needs ``name``, ``max_range_km`` and ``source``; ``min_range_km``
    defaults to 0 and ``calibre``/``kind`` to ''. Raises :class:`InputError` naming the
    file and the entry when one is missing or invalid.
    """
    import yaml

    file = default_weapons_path() if path is None else Path(path)
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(
            f"weapons file {str(file)!r} cannot be read ({exc}); pass a YAML catalogue"
        ) from exc
    except yaml.YAMLError as exc:
        raise InputError(
            f"weapons file {str(file)!r} is not valid YAML ({exc}); fix the syntax"
        ) from exc
    entries = doc.get("weapons") if isinstance(doc, dict) else doc
    if not isinstance(entries, list) or not entries:
        raise InputError(
            f"weapons file {str(file)!r} holds no weapons; write a 'weapons:' list of entries "
            "with name, calibre, min_range_km, max_range_km and source"
        )
    weapons = tuple(_weapon(file, i, entry) for i, entry in enumerate(entries))
    names = [w.name for w in weapons]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(
            f"weapons file {str(file)!r} names {', '.join(dupes)} more than once; "
            "give every entry its own name"
        )
    return weapons


def _weapon(file: Path, index: int, entry: Any) -> Weapon:
    """Validate one catalogue entry."""
    where = f"weapons file {str(file)!r}, entry {index}"
    if not isinstance(entry, dict):
        raise InputError(f"{where} is not a mapping; write name: ..., max_range_km: ...")
    name = str(entry.get("name") or "").strip()
    if not name:
        raise InputError(f"{where} has no name; add name: ...")
    where = f"{where} ({name})"
    if entry.get("max_range_km") is None:
        raise InputError(f"{where} has no max_range_km; add the published range in km")
    low = _km(where, "min_range_km", entry.get("min_range_km", 0) or 0)
    high = _km(where, "max_range_km", entry["max_range_km"])
    if high <= 0 or low > high:
        raise InputError(
            f"{where} has range {low:g}-{high:g} km; max_range_km must be positive and at "
            "least min_range_km"
        )
    source = str(entry.get("source") or "").strip()
    if not source:
        raise InputError(f"{where} has no source; cite where the range figures come from")
    return Weapon(
        name=name,
        calibre=str(entry.get("calibre") or ""),
        kind=str(entry.get("kind") or ""),
        min_range_km=low,
        max_range_km=high,
        source=source,
    )


def _km(where: str, key: str, value: Any) -> float:
    """A finite, non-negative number of km."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {key} is {value!r}; write a number of km") from exc
    if not math.isfinite(number) or number < 0:
        raise InputError(f"{where}: {key} is {value!r}; write a non-negative number of km")
    return number


# --------------------------------------------------------------------------- fronts


def load_front(path: str | Path, *, hostile: Sequence[str] | None = None) -> Front:
    """Read control areas / front lines from a GeoJSON file.

    Polygons count when their ``controller`` (or ``actor``, as in the control areas of
    :mod:`basewatch.context.corridor`) is in ``hostile`` (all polygons when
    ``hostile`` is None or empty); lines always count. The front's date is the
    collection's ``date`` property, else the latest feature ``date``. Raises
    :class:`InputError` naming the file and feature for invalid or empty input.
    """
    file = Path(path)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(
            f"front file {str(file)!r} cannot be read ({exc}); check the path"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"front file {str(file)!r} is not valid JSON ({exc}); "
            "pass a GeoJSON FeatureCollection of control areas or front lines"
        ) from exc
    raw = _raw_features(file, doc)
    features = [_front_feature(file, i, f) for i, f in enumerate(raw)]
    wanted = set(hostile or ())
    kept = tuple(
        f
        for f in features
        if not wanted or f.geometry.geom_type.endswith("LineString") or f.controller in wanted
    )
    if not kept:
        found = sorted({f.controller for f in features if f.controller}) or ["none"]
        raise InputError(
            f"front file {str(file)!r} has no hostile area or line (hostile: "
            f"{', '.join(sorted(wanted))}; controllers in file: {', '.join(found)}); "
            "check --hostile"
        )
    own = doc.get("date") if isinstance(doc, dict) else None
    date = situation_date(own, f"front file {str(file)!r}")
    date = date or max((f.date for f in kept), default="")
    controllers = tuple(sorted({f.controller for f in features if f.controller}))
    return Front(features=kept, date=date, source=str(file), controllers=controllers)


def check_hostile(fronts: Sequence[Front], hostile: Sequence[str]) -> None:
    """Raise :class:`InputError` when a ``hostile`` controller occurs in none of ``fronts``
    (a misspelt ``--hostile`` would otherwise select nothing, silently), listing those that do."""
    known = sorted({c for front in fronts for c in front.controllers})
    unknown = [h for h in dict.fromkeys(hostile) if h not in known]
    if unknown:
        sources = ", ".join(front.source for front in fronts) or "the fronts"
        raise InputError(
            f"--hostile {', '.join(unknown)}: no such controller in {sources} (controllers "
            f"there: {', '.join(known) or 'none'}); check the spelling"
        )


def _raw_features(file: Path, doc: Any) -> list[Any]:
    """The feature list of a FeatureCollection, Feature or bare geometry."""
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, dict) and doc.get("type") in _FRONT_TYPES:
        features = [{"type": "Feature", "geometry": doc, "properties": {}}]
    else:
        features = None
    if not isinstance(features, list):
        raise InputError(
            f"front file {str(file)!r} is not a GeoJSON FeatureCollection; wrap control areas "
            'and front lines in {"type": "FeatureCollection", "features": [...]}'
        )
    if not features:
        raise InputError(
            f"front file {str(file)!r} has no features; add control areas (polygons with "
            "controller and date) or front lines"
        )
    return features


def _front_feature(file: Path, index: int, feature: Any) -> FrontFeature:
    """Validate one feature of a front file."""
    where = f"front file {str(file)!r}, feature {index}"
    if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
        raise InputError(f"{where} has no geometry; give a Polygon or LineString")
    try:
        with warnings.catch_warnings():  # a NaN vertex: named below, not as a numpy warning
            warnings.simplefilter("ignore", RuntimeWarning)
            geom = shape(feature["geometry"])
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise InputError(f"{where} has an invalid geometry ({exc}); fix its coordinates") from exc
    except shapely.errors.ShapelyError as exc:  # GEOS, unknown types, empty parts
        raise InputError(f"{where} has an invalid geometry ({exc}); fix its coordinates") from exc
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise InputError(f"{where} has properties that are not an object; give {{...}} or null")
    named = props.get("place") or props.get("name")
    if geom.geom_type == "Point" and named:
        raise InputError(
            f"{where} is a named place ({named!r}): a control-areas file of 'basewatch corridor "
            "--areas'? exposure and report take one front per file and date (--front FILE, "
            "repeated per date)"
        )
    if geom.geom_type not in _FRONT_TYPES:
        raise InputError(
            f"{where} is a {geom.geom_type}; control areas are Polygons, front lines LineStrings"
        )
    if geom.is_empty:
        raise InputError(f"{where} has an empty geometry; give coordinates")
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise InputError(f"{where} has a coordinate that is not a number (NaN); fix it")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InputError(
            f"{where} has coordinates out of range; GeoJSON wants [longitude, latitude]"
        )
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return FrontFeature(
        geometry=geom,
        controller=str(props.get("controller") or props.get("actor") or ""),
        date=situation_date(props.get("date"), where),
        index=index,
    )


def situation_date(value: Any, where: str) -> str:
    """The ``YYYY-MM-DD`` day of a front or control-area feature (a timestamp is cut to its
    day; '' when it has none); :class:`InputError` naming ``where`` for anything else
    (``07/12/2024``, ``2024-13-45``), which would sort and print as a date it is not."""
    import re
    from datetime import date

    text = str(value or "").strip()
    if not text:
        return ""
    day = text[:10]
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ].*)?", text):
            raise ValueError(text)
        date.fromisoformat(day)
    except ValueError:
        raise InputError(f"{where} has date {text!r}; write YYYY-MM-DD") from None
    return day


# --------------------------------------------------------------------------- geometry


def _to_local(lon: float, lat: float) -> Transformer:
    """Transformer from EPSG:4326 to an azimuthal-equidistant CRS centred on (lon, lat)."""
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +ellps=WGS84 +units=m")
    return Transformer.from_crs("EPSG:4326", local, always_xy=True)


def nearest_on(geometry: BaseGeometry, lon: float, lat: float) -> tuple[float, tuple[float, float]]:
    """Geodesic distance (km) from (lon, lat) to ``geometry`` and the nearest ``(lon, lat)``.

    Inside a polygon the distance is 0 and the nearest point is the site itself.
    """
    if geometry.geom_type.endswith("Polygon") and geometry.covers(Point(lon, lat)):
        return 0.0, (lon, lat)
    forward = _to_local(lon, lat)
    dense = shapely.segmentize(geometry, _DENSIFY_DEG)
    local = shapely.transform(dense, forward.transform, interleaved=False)
    target = local.boundary if local.geom_type.endswith("Polygon") else local
    near = nearest_points(target, Point(0.0, 0.0))[0]
    near_lon, near_lat = forward.transform(near.x, near.y, direction="INVERSE")
    _, _, metres = _GEOD.inv(lon, lat, near_lon, near_lat)
    return float(metres) / 1000.0, (float(near_lon), float(near_lat))


# --------------------------------------------------------------------------- exposure


def exposure(sites: Iterable[Site], front: Front, weapons: Sequence[Weapon]) -> list[Exposure]:
    """Exposure of each site to ``front``: nearest hostile feature and weapons in range."""
    out = []
    for site in sites:
        lon, lat = site.point
        best: tuple[float, tuple[float, float], str] | None = None
        for feature in front.features:
            km, point = nearest_on(feature.geometry, lon, lat)
            if best is None or km < best[0]:
                best = (km, point, feature.controller)
        if best is None:
            raise InputError(f"front {front.source!r} holds no feature; load it with load_front")
        km, point, controller = best
        out.append(
            Exposure(
                site_id=site.id,
                distance_km=km,
                nearest_point=point,
                in_range=tuple(w.name for w in weapons if w.reaches(km)),
                front_date=front.date,
                controller=controller,
                site_point=(lon, lat),
            )
        )
    return out


def exposure_over_time(
    sites: Sequence[Site], fronts: Iterable[Front], weapons: Sequence[Weapon]
) -> list[Exposure]:
    """Exposure for each front, ordered by front date then registry order."""
    ordered = sorted(fronts, key=lambda f: f.date)
    return [e for front in ordered for e in exposure(sites, front, weapons)]


def _ring(lon: float, lat: float, radius_km: float) -> Polygon:
    """A geodesic circle of ``radius_km`` around (lon, lat)."""
    azimuths = [360.0 * i / _RING_VERTICES for i in range(_RING_VERTICES)]
    lons, lats, _ = _GEOD.fwd(
        [lon] * _RING_VERTICES,
        [lat] * _RING_VERTICES,
        azimuths,
        [radius_km * 1000.0] * len(azimuths),
    )
    return Polygon(list(zip(lons, lats, strict=True)))


def exposure_geojson(results: Sequence[Exposure], weapons: Sequence[Weapon]) -> dict[str, Any]:
    """A FeatureCollection for maps: distance lines and, per site, weapon range rings.

    A ring of radius ``max_range_km`` around a site bounds where a launcher of that
    weapon must stand to reach it. Rings are drawn once per site (latest front).
    """
    features: list[dict[str, Any]] = []
    latest: dict[str, Exposure] = {}
    for e in results:
        line = LineString([e.site_point, e.nearest_point])
        props = {"layer": "distance", **e.to_json()}
        features.append({"type": "Feature", "geometry": mapping(line), "properties": props})
        latest[e.site_id] = e
    for site_id, e in latest.items():
        for w in weapons:
            if w.max_range_km > 1000:  # strategic drones: a ring the size of a country
                continue
            features.append(
                {
                    "type": "Feature",
                    "geometry": mapping(_ring(*e.site_point, w.max_range_km)),
                    "properties": {
                        "layer": "range_ring",
                        "site_id": site_id,
                        "weapon": w.name,
                        "range_km": w.max_range_km,
                        "in_range": w.name in e.in_range,
                        "front_date": e.front_date or None,
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}

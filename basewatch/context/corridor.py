"""Land corridors: is a site still linked by land to its anchor place, and what would cut it?

In December 2024 reporting said that if Hama and then Homs fell, the coastal provinces
(Khmeimim, Tartus) would be cut off from Damascus and reachable only by air and sea. This
module answers that question on every date of a set of control areas:

* **control areas** are GeoJSON polygons with an ``actor`` (or ``controller``) and a
  ``date``; the features of one date are the situation on that date (features without a
  date hold on every date). Point features with a ``place`` (or ``name``) property are
  named places: anchors and chokepoint candidates (:func:`load_control_areas`);
* a site is **linked** on a date when a land path from the site to its anchor stays inside
  areas held by the site's operator or its allies. Land is the union of all areas of the
  date: the sea, and land no area covers, are never a path;
* the path is a **road network** when one is given (:func:`read_roads`: GeoPackage,
  shapefile, GeoJSON or an OSM extract, read with pyogrio; shortest path with networkx),
  else a **cost-distance path** over a grid of the areas (scikit-image's
  ``MCP_Geometric``) in an azimuthal-equidistant projection centred on the areas;
* **chokepoints** are the places whose loss would cut the link: each named place near
  the path, and points every few km along the path, is removed with the area within
  ``choke_radius_km`` around it; where the link no longer holds, the place is a
  chokepoint (named after the place, or "near <place>" for points along the path).

Lengths are geodesic (WGS84) along the path. Grid paths are accurate to about a cell.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry import LineString, Point, mapping, shape
from shapely.geometry.base import BaseGeometry

from basewatch.context.threat import situation_date
from basewatch.errors import InputError
from basewatch.sites import Site

__all__ = [
    "Chokepoint",
    "ControlArea",
    "ControlMap",
    "Corridor",
    "Link",
    "Place",
    "bundled_areas",
    "bundled_roads",
    "corridor",
    "corridors",
    "load_control_areas",
    "parse_allies",
    "read_roads",
    "resolve_anchor",
]

_GEOD = Geod(ellps="WGS84")
_AREA_TYPES = ("Polygon", "MultiPolygon")
_ROAD_STEP_DEG = 0.01
"""Road vertices are inserted every ~1 km, so a control area cuts a long straight segment."""


def _cells(width_m: float, height_m: float, cell_m: float) -> int:
    """Cells of a corridor grid over ``width_m`` x ``height_m`` with its 2-cell margin."""
    return math.ceil(width_m / cell_m + 4) * math.ceil(height_m / cell_m + 4)


MAX_CELL_KM = 25.0
"""Coarsest corridor grid cell (km)."""
MAX_GRID_CELLS = 4_000_000
"""Cells of the corridor grid at most (a few arrays of this size: ~100 MB; 2 km cells over
Syria are ~60,000)."""
_LONLAT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True, kw_only=True)
class ControlArea:
    """An area held by one actor on one date."""

    geometry: BaseGeometry
    """Polygon(s) in EPSG:4326."""
    actor: str
    """Who holds it (``SY-GOV``, ``HTS``)."""
    date: str = ""
    """Situation date ``YYYY-MM-DD``; '' for an area that holds on every date."""
    name: str = ""
    """Optional label."""


@dataclass(frozen=True, kw_only=True)
class Place:
    """A named place: an anchor candidate and a chokepoint candidate."""

    name: str
    """Place name (``Homs``)."""
    lon: float
    """Longitude (EPSG:4326)."""
    lat: float
    """Latitude (EPSG:4326)."""


@dataclass(frozen=True, kw_only=True)
class ControlMap:
    """Control areas over time and named places, from one or more GeoJSON files."""

    areas: tuple[ControlArea, ...]
    """All areas of all dates."""
    places: tuple[Place, ...] = ()
    """Named places."""
    source: str = ""
    """Files read (for messages)."""

    @property
    def dates(self) -> tuple[str, ...]:
        """Situation dates, sorted ('' only when no area has a date)."""
        dated = sorted({a.date for a in self.areas if a.date})
        return tuple(dated) or ("",)

    def on(self, day: str) -> tuple[ControlArea, ...]:
        """The areas of the situation on ``day`` (its own features plus undated ones)."""
        return tuple(a for a in self.areas if a.date in ("", day))

    def place(self, name: str) -> Place | None:
        """The place called ``name`` (case-insensitive), None when there is none."""
        key = name.strip().lower()
        return next((p for p in self.places if p.name.lower() == key), None)


@dataclass(frozen=True, kw_only=True)
class Chokepoint:
    """A place whose loss (with the area around it) would cut the link."""

    name: str
    """Place name, or ``near <place>`` for a point along the path."""
    lon: float
    """Longitude of the place or point."""
    lat: float
    """Latitude of the place or point."""
    km_from_site: float
    """Distance along the path from the site, km."""
    front_km: float | None = None
    """Geodesic distance to the nearest area held by others on that date, km (None when
    no other actor holds an area)."""

    def label(self) -> str:
        """``Homs (5 km from the front)``."""
        if self.front_km is None:
            return self.name
        return f"{self.name} ({self.front_km:.0f} km from the front)"

    def to_json(self) -> dict[str, Any]:
        """JSON record."""
        return {
            "name": self.name,
            "lon": round(self.lon, 4),
            "lat": round(self.lat, 4),
            "km_from_site": round(self.km_from_site, 1),
            "front_km": None if self.front_km is None else round(self.front_km, 1),
        }


@dataclass(frozen=True, kw_only=True)
class Link:
    """The land link of one site to its anchor on one date."""

    date: str
    """Situation date."""
    linked: bool
    """Whether a land path through friendly areas exists."""
    length_km: float | None = None
    """Geodesic length of the path, km (None when not linked)."""
    chokepoints: tuple[Chokepoint, ...] = ()
    """Places whose loss would cut the link, nearest the front first."""
    reason: str = ""
    """Why there is no link (empty when linked)."""
    lost: tuple[str, ...] = ()
    """Chokepoints of the previous linked date that others hold on this date
    (``Homs (HTS)``)."""
    path: tuple[tuple[float, float], ...] = field(default=(), repr=False)
    """The path as ``(lon, lat)`` vertices (empty when not linked)."""

    def to_json(self) -> dict[str, Any]:
        """JSON record (without the path geometry)."""
        return {
            "date": self.date or None,
            "linked": self.linked,
            "length_km": None if self.length_km is None else round(self.length_km, 1),
            "chokepoints": [c.to_json() for c in self.chokepoints],
            "reason": self.reason,
            "lost": list(self.lost),
        }


@dataclass(frozen=True, kw_only=True)
class Corridor:
    """A site's land link to its anchor over all dates of a control map."""

    site_id: str
    """Site id."""
    anchor: str
    """Anchor name (or ``lon,lat``)."""
    anchor_point: tuple[float, float]
    """``(lon, lat)`` of the anchor."""
    friendly: tuple[str, ...]
    """Actors whose areas the path may cross (the operator and its allies)."""
    method: str
    """``grid`` (cost-distance over the control areas) or ``roads``."""
    links: tuple[Link, ...]
    """One link per situation date, oldest first."""

    @property
    def cut(self) -> tuple[str | None, str] | None:
        """``(last linked date or None, first cut date)`` of the latest cut, None if linked
        on the latest date (or never assessed)."""
        if not self.links or self.links[-1].linked:
            return None
        first = len(self.links) - 1
        while first > 0 and not self.links[first - 1].linked:
            first -= 1
        before = self.links[first - 1].date if first > 0 else None
        return before, self.links[first].date

    def sentence(self) -> str:
        """One line for indicators and the report."""
        who = "/".join(self.friendly)
        if not self.links:
            return f"land link to {self.anchor}: no control areas"
        last = self.links[-1]
        cut = self.cut
        if cut is None:
            chokes = _chokes_text(last.chokepoints)
            when = f"on {last.date}" if last.date else "in the undated areas"
            return (
                f"land link to {self.anchor} through {who} areas holds {when}: "
                f"{last.length_km:.0f} km; chokepoints: {chokes}"
            )
        before, first = cut
        if before is None:
            when = f"on any date up to {last.date}" if last.date else "in the undated areas"
            return (
                f"no land link to {self.anchor} through {who} areas {when}: {last.reason}; "
                "reachable only by air or sea"
            )
        previous = next(link for link in self.links if link.date == before)
        cut_link = next(link for link in self.links if link.date == first)
        chokes = _chokes_text(previous.chokepoints)
        lost = f"lost {', '.join(cut_link.lost)}; " if cut_link.lost else ""
        return (
            f"land link to {self.anchor} cut between {before} and {first} ({lost}"
            f"{cut_link.reason}); chokepoints on {before}: {chokes}; reachable only by air or sea"
        )

    def to_json(self) -> dict[str, Any]:
        """The ``corridor`` record of ``assessment.json`` and ``basewatch corridor``."""
        cut = self.cut
        return {
            "site_id": self.site_id,
            "anchor": self.anchor,
            "anchor_point": [round(self.anchor_point[0], 4), round(self.anchor_point[1], 4)],
            "friendly": list(self.friendly),
            "method": self.method,
            "linked": bool(self.links and self.links[-1].linked),
            "cut_after": cut[0] if cut else None,
            "cut_before": cut[1] if cut else None,
            "sentence": self.sentence(),
            "links": [link.to_json() for link in self.links],
        }

    def geojson(self) -> dict[str, Any]:
        """Paths (one per linked date) and chokepoints as a FeatureCollection."""
        features: list[dict[str, Any]] = []
        for link in self.links:
            if len(link.path) >= 2:
                features.append(
                    {
                        "type": "Feature",
                        "geometry": mapping(LineString(link.path)),
                        "properties": {
                            "layer": "corridor",
                            "site_id": self.site_id,
                            "date": link.date,
                            "length_km": link.length_km,
                        },
                    }
                )
            for c in link.chokepoints:
                features.append(
                    {
                        "type": "Feature",
                        "geometry": mapping(Point(c.lon, c.lat)),
                        "properties": {
                            "layer": "chokepoint",
                            "site_id": self.site_id,
                            "date": link.date,
                            "name": c.name,
                        },
                    }
                )
        return {"type": "FeatureCollection", "features": features}


def _chokes_text(chokepoints: Sequence[Chokepoint], shown: int = 3) -> str:
    """The first ``shown`` chokepoints (nearest the front) and how many more."""
    if not chokepoints:
        return "none found"
    text = ", ".join(c.label() for c in chokepoints[:shown])
    more = len(chokepoints) - shown
    return text + (f" and {more} more" if more > 0 else "")


# --------------------------------------------------------------------------- reading


def bundled_areas() -> dict[str, Path]:
    """Name -> path of the control-area files shipped in ``basewatch/data/fronts/areas``."""
    from importlib import resources

    folder = Path(str(resources.files("basewatch") / "data" / "fronts" / "areas"))
    return {p.stem: p for p in sorted(folder.glob("*.geojson"))}


def bundled_roads() -> dict[str, Path]:
    """Name -> path of the road networks shipped in ``basewatch/data/fronts/roads``."""
    from importlib import resources

    folder = Path(str(resources.files("basewatch") / "data" / "fronts" / "roads"))
    return {p.stem: p for p in sorted(folder.glob("*.geojson"))}


def bundled_hint(bundled: Mapping[str, Path]) -> str:
    """``check the path or give a bundled name (a, b)``: the fix of a file that is missing."""
    return f"check the path or give a bundled name ({', '.join(sorted(bundled)) or 'none'})"


def load_control_areas(paths: str | Path | Sequence[str | Path]) -> ControlMap:
    """Read control areas and places from GeoJSON files (or bundled names, e.g. ``syria-2024``).

    Polygons need an ``actor`` (or ``controller``) property; their ``date`` (or the
    collection's ``date``) is the situation date. Points with a ``place`` or ``name``
    property are named places; other features are ignored. Raises :class:`InputError`
    naming the file and feature for unreadable files, bad geometries, areas without actor,
    malformed dates, and when no area is found.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise InputError("no control-area file given; pass --areas FILE.geojson")
    areas: list[ControlArea] = []
    places: dict[str, Place] = {}
    bundled = bundled_areas()
    for item in items:
        file = bundled.get(str(item), Path(item))
        doc = _read_json(file)
        features = doc.get("features") if isinstance(doc, dict) else None
        if not isinstance(features, list):
            raise InputError(
                f"control-area file {str(file)!r} is not a GeoJSON FeatureCollection; write "
                '{"type": "FeatureCollection", "features": [...]} with polygons carrying '
                "actor and date"
            )
        default_date = str(doc.get("date") or "")
        for index, feature in enumerate(features):
            item_out = _feature(file, index, feature, default_date)
            if isinstance(item_out, Place):
                places.setdefault(item_out.name.lower(), item_out)
            elif item_out is not None:
                areas.append(item_out)
    source = ", ".join(str(i) for i in items)
    if not areas:
        raise InputError(
            f"control-area file(s) {source} hold no area (Polygon with an actor property); "
            "add the areas each side holds, one set per date"
        )
    return ControlMap(areas=tuple(areas), places=tuple(places.values()), source=source)


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(
            f"control-area file {str(file)!r} cannot be read ({exc.strerror or exc}); "
            f"{bundled_hint(bundled_areas())}"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"control-area file {str(file)!r} is not valid JSON ({exc}); pass GeoJSON"
        ) from exc


def _feature(file: Path, index: int, feature: Any, default_date: str) -> ControlArea | Place | None:
    where = f"control-area file {str(file)!r}, feature {index}"
    if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
        raise InputError(f"{where} has no geometry; give a Polygon (area) or Point (place)")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise InputError(f"{where} has properties that are not an object; give {{...}}")
    try:
        geom = shape(feature["geometry"])
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise InputError(f"{where} has an invalid geometry ({exc}); fix its coordinates") from exc
    except shapely.errors.ShapelyError as exc:
        raise InputError(f"{where} has an invalid geometry ({exc}); fix its coordinates") from exc
    if geom.is_empty:
        raise InputError(f"{where} has an empty geometry; give coordinates")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InputError(f"{where} has coordinates out of range; GeoJSON wants [lon, lat]")
    if geom.geom_type == "Point":
        name = str(props.get("place") or props.get("name") or "").strip()
        return Place(name=name, lon=float(geom.x), lat=float(geom.y)) if name else None
    if geom.geom_type not in _AREA_TYPES:
        return None  # front lines and other features travel in the same files
    actor = str(props.get("actor") or props.get("controller") or "").strip()
    if not actor:
        raise InputError(f'{where} is an area without actor; add "actor": "<who holds it>"')
    day = situation_date(props.get("date") or default_date, where)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    return ControlArea(geometry=geom, actor=actor, date=day, name=str(props.get("name") or ""))


def parse_allies(value: Any) -> tuple[str, ...]:
    """Allies from a registry property or option: a list or a comma-separated string."""
    if value is None or value == "":
        return ()
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))


def resolve_anchor(
    spec: Any, control: ControlMap, *, where: str
) -> tuple[str, tuple[float, float]]:
    """``(name, (lon, lat))`` of an anchor given as ``"lon,lat"``, ``[lon, lat]``, a
    ``{"name", "lon", "lat"}`` object or a place name of ``control``."""
    if isinstance(spec, dict):
        try:
            lon, lat = float(spec["lon"]), float(spec["lat"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"{where}: anchor {spec!r} needs lon and lat numbers; write "
                '{"name": "Damascus", "lon": 36.29, "lat": 33.51}'
            ) from exc
        return str(spec.get("name") or f"{lon:.4f},{lat:.4f}"), _checked(lon, lat, where)
    if isinstance(spec, list | tuple) and len(spec) == 2:
        try:
            lon, lat = float(spec[0]), float(spec[1])
        except (TypeError, ValueError) as exc:
            raise InputError(f"{where}: anchor {spec!r} is not [lon, lat]") from exc
        return f"{lon:.4f},{lat:.4f}", _checked(lon, lat, where)
    text = str(spec or "").strip()
    match = _LONLAT.match(text)
    if match:
        lon, lat = float(match.group(1)), float(match.group(2))
        return f"{lon:.4f},{lat:.4f}", _checked(lon, lat, where)
    place = control.place(text) if text else None
    if place is None:
        names = ", ".join(sorted(p.name for p in control.places)) or "none"
        raise InputError(
            f"{where}: anchor {text!r} is neither lon,lat nor a place of the control areas "
            f'(places: {names}); give --anchor LON,LAT or add a Point with "place"'
        )
    return place.name, (place.lon, place.lat)


def _checked(lon: float, lat: float, where: str) -> tuple[float, float]:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InputError(f"{where}: anchor {lon},{lat} is out of range; write LON,LAT")
    return lon, lat


def read_roads(path: str | Path, *, layer: str | None = None) -> list[LineString]:
    """Road lines from any vector file pyogrio reads (GeoPackage, shapefile, GeoJSON, an
    OSM ``.osm.pbf`` extract's ``lines`` layer), reprojected to EPSG:4326.

    For OSM extracts only features with a ``highway`` tag are kept. Raises
    :class:`InputError` naming the file when it cannot be read or holds no line.
    """
    import geopandas as gpd

    file = bundled_roads().get(str(path), Path(path))
    if not file.exists():
        raise InputError(
            f"road file {str(file)!r} does not exist; pass a GeoPackage or OSM extract, or "
            f"{bundled_hint(bundled_roads())}"
        )
    osm = file.name.lower().endswith((".osm.pbf", ".osm"))
    try:
        frame = gpd.read_file(file, layer=layer or ("lines" if osm else None), engine="pyogrio")
    except Exception as exc:  # pyogrio/GDAL raise several unrelated types  # noqa: BLE001
        raise InputError(
            f"cannot read road file {str(file)!r} ({exc}); pass a GeoPackage, shapefile, "
            "GeoJSON or .osm.pbf extract (--roads-layer picks a layer)"
        ) from exc
    if osm and "highway" in frame.columns:
        frame = frame[frame["highway"].notna()]
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    lines: list[LineString] = []
    for geom in frame.geometry:
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type == "LineString":
            lines.append(geom)
        elif geom.geom_type == "MultiLineString":
            lines.extend(geom.geoms)
    if not lines:
        raise InputError(f"road file {str(file)!r} holds no line; pass the road network's lines")
    return lines


# --------------------------------------------------------------------------- networks


class _Network:
    """A land network on one date: a path between two points avoiding blocked discs."""

    def path(
        self, blocked: Sequence[tuple[float, float, float]] = ()
    ) -> list[tuple[float, float]] | None:
        """``(lon, lat)`` vertices of the shortest path, None when cut."""
        raise NotImplementedError

    def connected(self, blocked: Sequence[tuple[float, float, float]]) -> bool:
        """Whether a path exists with discs ``(lon, lat, radius_km)`` removed."""
        return self.path(blocked) is not None


class _GridNetwork(_Network):
    """Cost-distance over a grid of the friendly areas (``MCP_Geometric``)."""

    def __init__(
        self,
        friendly: BaseGeometry,
        land: BaseGeometry,
        start: tuple[float, float],
        end: tuple[float, float],
        *,
        cell_km: float,
        snap_km: float,
    ) -> None:
        cx, cy = land.centroid.x, land.centroid.y
        crs = CRS.from_proj4(f"+proj=aeqd +lat_0={cy} +lon_0={cx} +ellps=WGS84 +units=m")
        self._fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        local = shapely.transform(friendly, self._fwd.transform, interleaved=False)
        minx, miny, maxx, maxy = shapely.transform(
            land, self._fwd.transform, interleaved=False
        ).bounds
        self.cell = cell_km * 1000.0
        pad = 2 * self.cell
        self.x0, self.y1 = minx - pad, maxy + pad
        ncols = int(math.ceil((maxx - minx + 2 * pad) / self.cell))
        nrows = int(math.ceil((maxy - miny + 2 * pad) / self.cell))
        if ncols * nrows > MAX_GRID_CELLS:
            least = cell_km
            while _cells(maxx - minx, maxy - miny, least * 1000.0) > MAX_GRID_CELLS:
                least = math.ceil(least * 12) / 10  # +20 %, in tenths of a km
            raise InputError(
                f"a corridor grid of {cell_km:g} km cells over the areas' land "
                f"({(maxx - minx) / 1000:.0f} x {(maxy - miny) / 1000:.0f} km) would have "
                f"{ncols * nrows:,} cells; give --cell-km {least:g} or more"
            )
        xs = self.x0 + (np.arange(ncols) + 0.5) * self.cell
        ys = self.y1 - (np.arange(nrows) + 0.5) * self.cell
        gx, gy = np.meshgrid(xs, ys)
        shapely.prepare(local)
        self.free = shapely.contains_xy(local, gx, gy)
        self.gx, self.gy = gx, gy
        self.start = self._snap(start, snap_km)
        self.end = self._snap(end, snap_km)
        self.points = (start, end)

    def _xy(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self._fwd.transform(lon, lat)
        return float(x), float(y)

    def _snap(self, point: tuple[float, float], snap_km: float) -> tuple[int, int] | None:
        """Nearest free cell within ``snap_km`` of ``point``; None when none."""
        x, y = self._xy(*point)
        d2 = (self.gx - x) ** 2 + (self.gy - y) ** 2
        d2 = np.where(self.free, d2, np.inf)
        index = int(np.argmin(d2))
        if not np.isfinite(d2.flat[index]) or d2.flat[index] > (snap_km * 1000.0) ** 2:
            return None
        r, c = np.unravel_index(index, self.free.shape)
        return int(r), int(c)

    def _mask(self, blocked: Sequence[tuple[float, float, float]]) -> np.ndarray:
        free = self.free.copy()
        for lon, lat, radius_km in blocked:
            x, y = self._xy(lon, lat)
            free &= (self.gx - x) ** 2 + (self.gy - y) ** 2 > (radius_km * 1000.0) ** 2
        return free

    def connected(self, blocked: Sequence[tuple[float, float, float]]) -> bool:
        from scipy import ndimage

        if self.start is None or self.end is None:
            return False
        free = self._mask(blocked)
        if not (free[self.start] and free[self.end]):
            return False
        labels, _ = ndimage.label(free, structure=np.ones((3, 3), dtype=int))
        return bool(labels[self.start] == labels[self.end])

    def path(
        self, blocked: Sequence[tuple[float, float, float]] = ()
    ) -> list[tuple[float, float]] | None:
        from skimage.graph import MCP_Geometric

        if not self.connected(blocked):
            return None
        assert self.start is not None and self.end is not None  # connected() checked
        costs = np.where(self._mask(blocked), 1.0, np.inf)
        mcp = MCP_Geometric(costs, fully_connected=True)
        mcp.find_costs([self.start], [self.end])
        cells = mcp.traceback(self.end)
        xy = LineString([(self.gx[r, c], self.gy[r, c]) for r, c in cells])
        xy = xy.simplify(self.cell) if len(cells) > 2 else xy
        coords = list(xy.coords) if len(cells) > 1 else [xy.coords[0], xy.coords[0]]
        lons, lats = self._fwd.transform(
            [p[0] for p in coords], [p[1] for p in coords], direction="INVERSE"
        )
        inner = [(float(a), float(b)) for a, b in zip(lons, lats, strict=True)]
        return [self.points[0], *inner, self.points[1]]  # from the site itself to the anchor


class _RoadNetwork(_Network):
    """Shortest path over the road segments inside the friendly areas (networkx)."""

    def __init__(
        self,
        lines: Sequence[LineString],
        friendly: BaseGeometry,
        start: tuple[float, float],
        end: tuple[float, float],
        *,
        snap_km: float,
    ) -> None:
        import networkx as nx

        shapely.prepare(friendly)
        graph: nx.Graph = nx.Graph()
        for line in lines:
            dense = shapely.segmentize(line, _ROAD_STEP_DEG)  # so areas cut long segments
            coords = [(round(x, 5), round(y, 5)) for x, y in dense.coords]
            xs = np.array([c[0] for c in coords])
            ys = np.array([c[1] for c in coords])
            inside = shapely.contains_xy(friendly, xs, ys)
            for i in range(len(coords) - 1):
                if inside[i] and inside[i + 1] and coords[i] != coords[i + 1]:
                    km = _GEOD.inv(*coords[i], *coords[i + 1])[2] / 1000.0
                    graph.add_edge(coords[i], coords[i + 1], weight=km)
        self.graph = graph
        nodes = list(graph.nodes)
        self.nodes = np.array(nodes, dtype=float).reshape(-1, 2)
        self.start, self.start_km = self._snap(start, snap_km)
        self.end, self.end_km = self._snap(end, snap_km)
        self.points = (start, end)

    def _snap(
        self, point: tuple[float, float], snap_km: float
    ) -> tuple[tuple[float, float] | None, float]:
        if not len(self.nodes):
            return None, 0.0
        n = len(self.nodes)
        _, _, metres = _GEOD.inv(
            np.full(n, point[0]), np.full(n, point[1]), self.nodes[:, 0], self.nodes[:, 1]
        )
        index = int(np.argmin(metres))
        km = float(metres[index]) / 1000.0
        if km > snap_km:
            return None, km
        return (float(self.nodes[index, 0]), float(self.nodes[index, 1])), km

    def _blocked_nodes(self, blocked: Sequence[tuple[float, float, float]]) -> set[Any]:
        out: set[Any] = set()
        if not len(self.nodes):
            return out
        n = len(self.nodes)
        for lon, lat, radius_km in blocked:
            _, _, metres = _GEOD.inv(
                np.full(n, lon), np.full(n, lat), self.nodes[:, 0], self.nodes[:, 1]
            )
            out.update(tuple(p) for p in self.nodes[metres <= radius_km * 1000.0].tolist())
        return out

    def path(
        self, blocked: Sequence[tuple[float, float, float]] = ()
    ) -> list[tuple[float, float]] | None:
        import networkx as nx

        if self.start is None or self.end is None:
            return None
        cut = self._blocked_nodes(blocked)
        if self.start in cut or self.end in cut:
            return None
        view = nx.restricted_view(self.graph, list(cut), []) if cut else self.graph
        try:
            nodes = nx.shortest_path(view, self.start, self.end, weight="weight")
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None
        return [self.points[0], *nodes, self.points[1]]


# --------------------------------------------------------------------------- corridor


def _length_km(path: Sequence[tuple[float, float]]) -> float:
    if len(path) < 2:
        return 0.0
    lons, lats = zip(*path, strict=True)
    return float(_GEOD.line_length(lons, lats)) / 1000.0


def _along(path: Sequence[tuple[float, float]], step_km: float) -> list[tuple[float, float, float]]:
    """``(lon, lat, km from start)`` every ``step_km`` along ``path`` (vertices interpolated)."""
    out: list[tuple[float, float, float]] = []
    done = 0.0
    next_at = step_km
    for (x0, y0), (x1, y1) in zip(path[:-1], path[1:], strict=True):
        az, _, metres = _GEOD.inv(x0, y0, x1, y1)
        km = metres / 1000.0
        while next_at <= done + km:
            lon, lat, _ = _GEOD.fwd(x0, y0, az, (next_at - done) * 1000.0)
            out.append((float(lon), float(lat), next_at))
            next_at += step_km
        done += km
    return out


def _km_along(path: Sequence[tuple[float, float]], lon: float, lat: float) -> float:
    """Distance along ``path`` to the vertex nearest (lon, lat), km."""
    line = LineString(path)
    fraction = line.project(Point(lon, lat), normalized=True)
    return fraction * _length_km(path)


def _near(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(_GEOD.inv(a[0], a[1], b[0], b[1])[2]) / 1000.0


def _chokepoints(
    network: _Network,
    path: list[tuple[float, float]],
    places: Sequence[Place],
    ends: tuple[tuple[float, float], tuple[float, float]],
    hostile: BaseGeometry | None,
    *,
    radius_km: float,
    step_km: float,
) -> tuple[Chokepoint, ...]:
    """Named places whose loss cuts the link, nearest the front first.

    Without named places, points every ``step_km`` along the path are tested instead and
    each run of cutting points is reported once, by its coordinates.
    """
    total = _length_km(path)
    keep_clear = radius_km * 1.2  # a disc over the site or anchor cuts trivially

    def clear_of_ends(p: tuple[float, float]) -> bool:
        return min(_near(p, ends[0]), _near(p, ends[1])) > keep_clear

    found: list[Chokepoint] = []
    line = LineString(path)
    for place in places:
        here = (place.lon, place.lat)
        if not clear_of_ends(here):
            continue
        # only places whose disc reaches the path can cut it
        nearest = line.interpolate(line.project(Point(here)))
        if _near(here, (nearest.x, nearest.y)) > radius_km:
            continue
        if not network.connected([(place.lon, place.lat, radius_km)]):
            found.append(
                Chokepoint(
                    name=place.name,
                    lon=place.lon,
                    lat=place.lat,
                    km_from_site=_km_along(path, place.lon, place.lat),
                    front_km=_front_km(hostile, here),
                )
            )
    if not places:
        runs: list[list[tuple[float, float, float]]] = []
        for lon, lat, km in _along(path, step_km):
            if km >= total or not clear_of_ends((lon, lat)):
                continue
            if network.connected([(lon, lat, radius_km)]):
                continue
            if runs and km - runs[-1][-1][2] <= step_km * 1.01:
                runs[-1].append((lon, lat, km))
            else:
                runs.append([(lon, lat, km)])
        for run in runs:
            lon, lat, km = run[len(run) // 2]
            found.append(
                Chokepoint(
                    name=f"{lat:.2f}N {lon:.2f}E",
                    lon=lon,
                    lat=lat,
                    km_from_site=km,
                    front_km=_front_km(hostile, (lon, lat)),
                )
            )
    far = math.inf
    return tuple(
        sorted(
            found,
            key=lambda c: (far if c.front_km is None else c.front_km, c.km_from_site),
        )
    )


def _front_km(hostile: BaseGeometry | None, point: tuple[float, float]) -> float | None:
    """Geodesic distance from ``point`` to the nearest hostile area, km (None if none)."""
    if hostile is None or hostile.is_empty:
        return None
    from basewatch.context.threat import nearest_on

    return nearest_on(hostile, point[0], point[1])[0]


def corridor(
    site: Site,
    control: ControlMap,
    *,
    anchor: Any = None,
    allies: Sequence[str] | None = None,
    roads: Sequence[LineString] | None = None,
    until: str | None = None,
    cell_km: float = 2.0,
    choke_radius_km: float = 15.0,
    step_km: float = 5.0,
    snap_km: float | None = None,
) -> Corridor:
    """The land link of ``site`` to its anchor on every date of ``control`` (up to ``until``).

    ``anchor`` defaults to the site's ``anchor`` registry property; ``allies`` to its
    ``allies`` property. The friendly actors are the site's operator and its allies.
    ``roads`` switches from the grid to the road network. ``cell_km`` is the grid cell,
    ``choke_radius_km`` the radius of the area lost with a place, ``step_km`` the spacing
    of the points tested along the path, ``snap_km`` (default ``max(5, 2 x cell_km)`` on
    the grid, 25 km on roads) how far the site and anchor may be from a free cell / road.
    Raises :class:`InputError` when the site has no anchor or operator, or when a
    parameter is not positive.
    """
    where = f"site {site.id!r}"
    for name, value, usual in (
        ("--cell-km", cell_km, 2),
        ("--choke-radius-km", choke_radius_km, 15),
        ("step_km", step_km, 2),
    ):
        if not value > 0:
            raise InputError(f"{name} {value!r}: give a positive number of km, e.g. {usual}")
    if cell_km > MAX_CELL_KM:
        raise InputError(
            f"--cell-km {cell_km:g}: cells over {MAX_CELL_KM:g} km close the narrow passes a land "
            "link runs through (every date would read as cut); give e.g. 2"
        )
    spec = anchor if anchor not in (None, "") else site.properties.get("anchor")
    if spec in (None, ""):
        raise InputError(
            f'{where} has no anchor; add an "anchor" property (a place name or "lon,lat") '
            "to the registry or pass --anchor LON,LAT"
        )
    name, anchor_point = resolve_anchor(spec, control, where=where)
    allied = parse_allies(allies if allies is not None else site.properties.get("allies"))
    if not site.operator and not allied:
        raise InputError(
            f"{where} has no operator and no allies; set operator in the registry or pass "
            "--allies ACTOR"
        )
    friendly = tuple(dict.fromkeys([a for a in (site.operator, *allied) if a]))
    until = situation_date(until, "--until") or None
    dates = [d for d in control.dates if not until or not d or d <= until]
    snap = (
        snap_km if snap_km is not None else (25.0 if roads is not None else max(5.0, 2 * cell_km))
    )
    links = [
        _link(
            site,
            control,
            day,
            friendly,
            anchor_point,
            roads=roads,
            cell_km=cell_km,
            radius_km=choke_radius_km,
            step_km=step_km,
            snap_km=snap,
        )
        for day in dates
    ]
    links = _with_losses(links, control, friendly)
    return Corridor(
        site_id=site.id,
        anchor=name,
        anchor_point=anchor_point,
        friendly=friendly,
        method="roads" if roads is not None else "grid",
        links=tuple(links),
    )


def _with_losses(links: list[Link], control: ControlMap, friendly: tuple[str, ...]) -> list[Link]:
    """Mark, on each date without link, the previous linked date's chokepoints others hold."""
    out: list[Link] = []
    previous: Link | None = None
    for link in links:
        if link.linked:
            previous = link
        elif previous is not None and previous.chokepoints:
            lost = []
            others = [a for a in control.on(link.date) if a.actor not in friendly]
            for c in previous.chokepoints:
                owner = next(
                    (a.actor for a in others if a.geometry.covers(Point(c.lon, c.lat))), ""
                )
                if owner:
                    lost.append(f"{c.name} ({owner})")
            link = replace(link, lost=tuple(lost))
        out.append(link)
    return out


def _link(
    site: Site,
    control: ControlMap,
    day: str,
    friendly: tuple[str, ...],
    anchor: tuple[float, float],
    *,
    roads: Sequence[LineString] | None,
    cell_km: float,
    radius_km: float,
    step_km: float,
    snap_km: float,
) -> Link:
    areas = control.on(day)
    held = [a.geometry for a in areas if a.actor in friendly]
    hostile = [a for a in areas if a.actor not in friendly]
    who = "/".join(friendly)
    if not held:
        return Link(date=day, linked=False, reason=f"no area held by {who}")
    friendly_geom = shapely.union_all(held)
    hostile_geom = shapely.union_all([a.geometry for a in hostile]) if hostile else None
    for label, point in (("site", site.point), ("anchor", anchor)):
        if hostile_geom is not None and hostile_geom.covers(Point(point)):
            owner = next(a.actor for a in hostile if a.geometry.covers(Point(point)))
            return Link(date=day, linked=False, reason=f"{label} is in an area held by {owner}")
    land = shapely.union_all([a.geometry for a in areas])
    network: _Network
    if roads is not None:
        network = _RoadNetwork(roads, friendly_geom, site.point, anchor, snap_km=snap_km)
    else:
        network = _GridNetwork(
            friendly_geom, land, site.point, anchor, cell_km=cell_km, snap_km=snap_km
        )
    path = network.path()
    if path is None:
        return Link(
            date=day,
            linked=False,
            reason=f"no land path inside areas held by {who}",
        )
    chokes = _chokepoints(
        network,
        path,
        control.places,
        (site.point, anchor),
        hostile_geom,
        radius_km=radius_km,
        step_km=step_km,
    )
    return Link(
        date=day,
        linked=True,
        length_km=_length_km(path),
        chokepoints=chokes,
        path=tuple(path),
    )


def corridors(
    sites: Iterable[Site],
    control: ControlMap,
    *,
    anchor: Any = None,
    allies: Sequence[str] | None = None,
    roads: Sequence[LineString] | None = None,
    until: str | None = None,
    cell_km: float = 2.0,
    choke_radius_km: float = 15.0,
    skip_without_anchor: bool = False,
) -> list[Corridor]:
    """:func:`corridor` for each site; with ``skip_without_anchor`` sites that have no
    anchor (property or ``anchor``) are left out instead of raising.

    ``allies`` and ``anchor`` given here (the ``--allies``/``--anchor`` options) are checked
    first: an ally that holds no area, or a LON,LAT anchor outside every area (farther than
    the network reaches), raises :class:`InputError` listing the actors / suggesting the
    swapped order when that point lies inside an area."""
    if allies is not None:
        _check_allies(allies, control)
    if anchor not in (None, ""):
        snap = 25.0 if roads is not None else max(5.0, 2 * cell_km)
        _check_anchor(anchor, control, snap_km=snap)
    out = []
    for site in sites:
        if skip_without_anchor and anchor in (None, "") and not site.properties.get("anchor"):
            continue
        out.append(
            corridor(
                site,
                control,
                anchor=anchor,
                allies=allies,
                roads=roads,
                until=until,
                cell_km=cell_km,
                choke_radius_km=choke_radius_km,
            )
        )
    return out


def _check_allies(allies: Sequence[str], control: ControlMap) -> None:
    """Raise when an ally holds no area of ``control`` (a misspelt ``--allies``)."""
    actors = sorted({a.actor for a in control.areas})
    unknown = [a for a in allies if a not in actors]
    if unknown:
        raise InputError(
            f"--allies {', '.join(unknown)}: no area of {control.source} is held by "
            f"{'it' if len(unknown) == 1 else 'them'} (actors there: {', '.join(actors)}); "
            "check the spelling"
        )


def _land_km(land: BaseGeometry, point: tuple[float, float]) -> float:
    """Geodesic distance from ``point`` to ``land``, km (0 inside)."""
    from basewatch.context.threat import nearest_on

    return nearest_on(land, point[0], point[1])[0]


def _check_anchor(anchor: Any, control: ControlMap, *, snap_km: float) -> None:
    """Raise when a coordinate ``--anchor`` lies outside every area of ``control`` (on any
    date) by more than ``snap_km``: no land path can reach it. Suggest LON,LAT when the
    swapped point lies inside the areas (LAT,LON given)."""
    if isinstance(anchor, str) and control.place(anchor) is not None:
        return  # a place of the areas file
    name, (lon, lat) = resolve_anchor(anchor, control, where="--anchor")
    land = shapely.union_all([a.geometry for a in control.areas])
    if _land_km(land, (lon, lat)) <= snap_km:
        return
    hint = (
        "give --anchor LON,LAT inside the areas or a place of the areas file "
        f"({', '.join(sorted(p.name for p in control.places)) or 'none'})"
    )
    if -90 <= lon <= 90 and _land_km(land, (lat, lon)) <= snap_km:
        hint = f"did you mean --anchor {lat:g},{lon:g} (LON,LAT)? that point lies inside them"
    raise InputError(
        f"--anchor {name} (lon {lon:g}, lat {lat:g}) is outside every control area of "
        f"{control.source}; {hint}"
    )

"""Sites and zones: the registry model, its GeoJSON/GeoPackage/CSV I/O and its validation."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from basewatch.errors import RegistryError, SiteNotFoundError

SITE_KINDS = ("airbase", "naval_base", "army_base", "air_defence", "checkpoint", "other")
ZONE_KINDS = ("apron", "pier", "anchorage", "air_defence_position", "vehicle_park", "other")
TARGETS = ("aircraft", "ship", "vehicle", "any")
NEIGHBOURHOOD_KM = 15.0
"""A zone must lie within this distance of its site's point."""


@dataclass(frozen=True, kw_only=True)
class Zone:
    """A polygon inside a site where objects of one kind are counted."""

    site_id: str
    """Id of the site the zone belongs to."""
    id: str
    """Zone id, unique within its site."""
    kind: str
    """One of :data:`ZONE_KINDS`."""
    target: str
    """What is counted: one of :data:`TARGETS`."""
    geometry: BaseGeometry
    """Zone polygon in EPSG:4326 (lon, lat)."""
    name: str = ""
    """Human-readable name."""
    properties: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """All other properties from the registry feature (sources, notes)."""

    @property
    def key(self) -> str:
        """``site/zone`` identifier, unique across the registry."""
        return f"{self.site_id}/{self.id}"


@dataclass(frozen=True, kw_only=True)
class Site:
    """A watched installation: a point (or polygon) with its zones."""

    id: str
    """Site id, unique in the registry."""
    name: str
    """Human-readable name."""
    kind: str
    """One of :data:`SITE_KINDS`."""
    geometry: BaseGeometry
    """Site point or outline in EPSG:4326."""
    operator: str = ""
    """Operating country or force (ISO code or name)."""
    country: str = ""
    """Host country (ISO code)."""
    zones: tuple[Zone, ...] = ()
    """Zones of this site."""
    properties: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """All other properties from the registry feature (sources, notes)."""
    aliases: tuple[str, ...] = ()
    """Other names people write for the site (transliterations, "Latakia air base")."""

    def __post_init__(self) -> None:
        # ``properties["aliases"]`` mirrors the field, so stores that keep only the
        # properties (JSON) give the aliases back when they rebuild the site.
        if not self.aliases and self.properties.get("aliases"):
            names = parse_aliases(self.properties["aliases"], where=f"site {self.id!r}")
            object.__setattr__(self, "aliases", names)
        elif self.aliases:
            object.__setattr__(
                self, "properties", {**self.properties, "aliases": list(self.aliases)}
            )

    @property
    def point(self) -> tuple[float, float]:
        """Representative ``(lon, lat)`` of the site."""
        p = (
            self.geometry.representative_point()
            if self.geometry.geom_type != "Point"
            else self.geometry
        )
        return (float(p.x), float(p.y))

    def zone(self, zone_id: str) -> Zone:
        """Return the zone ``zone_id`` or raise :class:`SiteNotFoundError`."""
        for z in self.zones:
            if z.id == zone_id:
                return z
        known = ", ".join(z.id for z in self.zones) or "none"
        raise SiteNotFoundError(f"site {self.id!r} has no zone {zone_id!r}; its zones are: {known}")


def fold_name(name: str) -> str:
    """A name for matching: no case, diacritics, hyphens, underscores or spaces."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return "".join(c for c in plain if c.isalnum())


NO_ZONES_FIX = (
    "declare zones as features with 'site', 'id', 'kind' and 'target' properties (see "
    "README, 'Declaring zones', and docs/examples/zones.geojson), or "
    "give every point site a circular zone with 'basewatch sites import FILE "
    "--default-zone-radius METRES --zone-kind KIND --zone-target TARGET --out FILE.geojson'"
)
"""How to give sites zones (named by the warnings and errors about zone-less sites)."""


def require_zones(registry: Registry) -> None:
    """Raise :class:`RegistryError` naming the sites of ``registry`` that have no zones
    (they would never be observed)."""
    bare = registry.without_zones()
    if not bare:
        return
    shown = ", ".join(bare[:10]) + (f" (and {len(bare) - 10} more)" if len(bare) > 10 else "")
    noun = "site has" if len(bare) == 1 else "sites have"
    raise RegistryError(
        f"{registry.source or 'registry'}: {len(bare)} {noun} no zones, so nothing there "
        f"can be counted: {shown}. Fix: {NO_ZONES_FIX}; or leave them out with --site"
    )


def circle(lon: float, lat: float, radius_m: float, *, points: int = 48) -> BaseGeometry:
    """A geodesic (WGS84) circle of ``radius_m`` around ``(lon, lat)`` as a lon/lat polygon."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    azimuths = [360.0 * i / points for i in range(points)]
    lons, lats, _ = geod.fwd([lon] * points, [lat] * points, azimuths, [radius_m] * points)
    return shapely.Polygon(list(zip(lons, lats, strict=True)))


def with_default_zones(
    registry: Registry, *, radius_m: float, kind: str = "other", target: str = "any"
) -> Registry:
    """Give every site without zones one zone ``default``: a circle of ``radius_m`` around a
    point site, the site's own outline for a polygon site. Sites with zones are unchanged.

    Raises :class:`RegistryError` for a radius outside (0, NEIGHBOURHOOD_KM] or an unknown
    zone kind or target.
    """
    if not 0 < radius_m <= NEIGHBOURHOOD_KM * 1000:
        raise RegistryError(
            f"--default-zone-radius {radius_m:g}: give a radius in metres between 1 and "
            f"{NEIGHBOURHOOD_KM * 1000:g}"
        )
    if kind not in ZONE_KINDS:
        raise RegistryError(f"--zone-kind {kind!r}: use one of {', '.join(ZONE_KINDS)}")
    if target not in TARGETS:
        raise RegistryError(f"--zone-target {target!r}: use one of {', '.join(TARGETS)}")
    sites = []
    for site in registry.sites:
        if site.zones:
            sites.append(site)
            continue
        if site.geometry.geom_type in ("Polygon", "MultiPolygon"):
            geometry, name = site.geometry, "the site's outline"
        else:
            lon, lat = site.point
            geometry, name = circle(lon, lat, radius_m), f"{radius_m:g} m around the site"
        zone = Zone(
            site_id=site.id, id="default", kind=kind, target=target, geometry=geometry, name=name
        )
        sites.append(replace(site, zones=(zone,)))
    return Registry(tuple(sites), registry.source)


def resolve_ids(site_ids: Sequence[str], sites: Sequence[Site]) -> list[str]:
    """``site_ids`` with each name or alias of one of ``sites`` replaced by that site's id.

    Names are matched as :meth:`Registry.site` does (``hmeimim`` gives ``khmeimim``); an id
    that names no site, or several, is kept as given, for the caller to report.
    """
    registry = Registry(tuple(sites))
    out = []
    for site_id in site_ids:
        try:
            out.append(registry.site(site_id).id)
        except SiteNotFoundError:
            out.append(site_id)
    return out


def parse_aliases(value: Any, *, where: str) -> tuple[str, ...]:
    """Aliases from a list of names or a ``|``-separated string (CSV, GeoPackage).

    Blank names are dropped and repeats (ignoring case) kept once; anything else than
    strings raises :class:`RegistryError` naming ``where``.
    """
    items = value.split("|") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(x, str) for x in items):
        raise RegistryError(
            f"{where}: aliases is {value!r}; give a list of names, "
            'e.g. ["Hmeimim", "Latakia air base"] (or "Hmeimim | Latakia air base" in CSV)'
        )
    out: dict[str, str] = {}
    for item in items:
        name = " ".join(item.split())
        if name:
            out.setdefault(name.casefold(), name)
    return tuple(out.values())


@dataclass(frozen=True)
class Registry:
    """An ordered collection of sites with their zones."""

    sites: tuple[Site, ...]
    """Sites in registry order."""
    source: str = ""
    """Where the registry was read from (file path or bundled name)."""

    def __iter__(self) -> Iterator[Site]:
        return iter(self.sites)

    def __len__(self) -> int:
        return len(self.sites)

    def site(self, site_id: str) -> Site:
        """Return the site ``site_id`` or raise :class:`SiteNotFoundError`.

        An exact id comes first; otherwise the id, name or one of the ``aliases`` of a
        site, ignoring case, diacritics, hyphens and spaces (``hmeimim`` finds
        ``khmeimim``). A name shared by several sites is an error listing them.
        """
        for s in self.sites:
            if s.id == site_id:
                return s
        wanted = fold_name(site_id)
        matches = [
            s
            for s in self.sites
            if wanted and wanted in {fold_name(n) for n in (s.id, s.name, *s.aliases)}
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise SiteNotFoundError(
                f"{site_id!r} names several sites of registry {self.source or '(unnamed)'}: "
                f"{', '.join(s.id for s in matches)}; give the site id"
            )
        known = ", ".join(s.id for s in self.sites[:10]) or "none"
        more = f" (and {len(self.sites) - 10} more)" if len(self.sites) > 10 else ""
        raise SiteNotFoundError(
            f"no site {site_id!r} in registry {self.source or '(unnamed)'}; "
            f"known sites: {known}{more}"
        )

    def without_zones(self) -> list[str]:
        """Ids of the sites that have no zone (nothing in them can be counted)."""
        return [s.id for s in self.sites if not s.zones]

    def zones(self) -> list[Zone]:
        """All zones of all sites, in registry order."""
        return [z for s in self.sites for z in s.zones]

    def select(self, site_ids: list[str] | None = None) -> Registry:
        """A registry restricted to ``site_ids`` (all sites when None or empty)."""
        if not site_ids:
            return self
        return Registry(tuple(self.site(i) for i in site_ids), self.source)


# ---------------------------------------------------------------------------- reading


def bundled_registries() -> list[str]:
    """Names of the registries shipped with basewatch (usable in place of a path)."""
    folder = resources.files("basewatch") / "data" / "registries"
    return sorted(
        p.name.removesuffix(".geojson") for p in folder.iterdir() if p.name.endswith(".geojson")
    )


def _bundled_path(name: str) -> Path | None:
    folder = resources.files("basewatch") / "data" / "registries"
    candidate = folder / f"{name}.geojson"
    return Path(str(candidate)) if candidate.is_file() else None


def resolve_registry_path(path_or_name: str | Path) -> Path:
    """Turn a file path or a bundled registry name (e.g. ``syria-2024``) into a path."""
    p = Path(path_or_name)
    if p.exists():
        return p
    bundled = _bundled_path(str(path_or_name))
    if bundled is not None:
        return bundled
    names = ", ".join(bundled_registries())
    raise RegistryError(
        f"{path_or_name}: no such registry file; give a path to a GeoJSON/GeoPackage/CSV "
        f"registry or one of the bundled names: {names}"
    )


def load_registry(path_or_name: str | Path) -> Registry:
    """Read and validate a registry from GeoJSON, GeoPackage or CSV, or a bundled name.

    Raises :class:`RegistryError` naming the file, the feature index and the fix.
    """
    path = resolve_registry_path(path_or_name)
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        features = _read_geojson_features(path)
    elif suffix == ".gpkg":
        features = _read_gpkg_features(path)
    elif suffix == ".csv":
        features = _read_csv_features(path)
    else:
        raise RegistryError(
            f"{path}: unknown registry format {suffix!r}; use .geojson, .gpkg or .csv"
        )
    registry = registry_from_features(features, source=str(path))
    if not registry.sites:
        raise RegistryError(
            f"{path}: no sites in the registry ({len(features)} features, none a site); add "
            "site features (without a 'site' property), e.g. one CSV row per site"
        )
    return registry


def _read_geojson_features(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(
            f"{path}: cannot read the file ({exc}); check the path and encoding"
        ) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); "
            "fix the syntax (a GeoJSON FeatureCollection is expected)"
        ) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise RegistryError(
            f"{path}: not a GeoJSON FeatureCollection; wrap sites and zones in "
            '{"type": "FeatureCollection", "features": [...]}'
        )
    features = doc.get("features")
    if not isinstance(features, list):
        raise RegistryError(f"{path}: 'features' must be a list of GeoJSON Features")
    return features


def _read_gpkg_features(path: Path) -> list[dict[str, Any]]:
    import pyogrio

    try:
        layers = [str(name) for name, kind in pyogrio.list_layers(path) if kind is not None]
        frames = [pyogrio.read_dataframe(path, layer=layer) for layer in layers]
    except Exception as exc:  # pyogrio raises several DataSourceError kinds
        raise RegistryError(f"{path}: cannot read the GeoPackage ({exc})") from exc
    features = []
    for gdf in frames:  # every layer (sites and zones may be kept in two)
        if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
            gdf = gdf.to_crs(4326)
        features += json.loads(gdf.to_json(drop_id=True)).get("features", [])
    for feature in features:
        props = {k: v for k, v in (feature.get("properties") or {}).items() if v is not None}
        if isinstance(props.get("sources"), str):
            props["sources"] = [s.strip() for s in props["sources"].split("|") if s.strip()]
        feature["properties"] = props
    return features


LON_COLUMNS = ("lon", "longitude", "lng", "long", "x")
"""CSV column names read as the longitude (case-insensitive), in order of preference."""
LAT_COLUMNS = ("lat", "latitude", "y")
"""CSV column names read as the latitude (case-insensitive), in order of preference."""
CSV_SEPARATORS = ",;\t|"
"""Column separators recognised in a CSV registry (sniffed from the header)."""


def csv_dialect(sample: str) -> Any:
    """The CSV dialect of ``sample`` (``,``, ``;``, tab or ``|`` separated)."""
    import csv

    header = sample.splitlines()[0] if sample else ""
    try:
        return csv.Sniffer().sniff(sample, delimiters=CSV_SEPARATORS)
    except csv.Error:
        counts = {sep: header.count(sep) for sep in CSV_SEPARATORS}
        best = max(counts, key=lambda sep: counts[sep])
        dialect = csv.excel()
        dialect.delimiter = best if counts[best] else ","
        return dialect


def _geometry_column(fields: list[str], names: tuple[str, ...]) -> str | None:
    """The first of ``names`` among the CSV ``fields`` (case-insensitive)."""
    lowered = {f.strip().lower(): f for f in fields if f}
    for name in names:
        if name in lowered:
            return lowered[name]
    return None


def _number(text: str) -> float:
    """A coordinate from CSV text; a decimal comma (``35,9486``) is read too."""
    try:
        return float(text)
    except ValueError:
        if text.count(",") == 1 and "." not in text:
            return float(text.replace(",", "."))
        raise


def _read_csv_features(path: Path) -> list[dict[str, Any]]:
    """Read a CSV of sites/zones with ``lon``/``lat`` columns (or a ``wkt`` column).

    The separator (``,``, ``;``, tab, ``|``) is sniffed; ``longitude``/``lng``/``long``/``x``
    and ``latitude``/``y`` are read as ``lon`` and ``lat``. A file without rows is an error.
    """
    import csv

    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            sample = fh.read(16384)
            fh.seek(0)
            reader = csv.DictReader(fh, dialect=csv_dialect(sample))
            rows = list(reader)
            fields = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RegistryError(f"{path}: cannot read the CSV ({exc})") from exc
    if not rows:
        what = "has a header but no rows" if fields else "is empty"
        raise RegistryError(
            f"{path}: the CSV {what}; give one row per site with id, name, kind and lon/lat "
            "(or wkt) columns"
        )
    lon_col = _geometry_column(fields, LON_COLUMNS)
    lat_col = _geometry_column(fields, LAT_COLUMNS)
    wkt_col = _geometry_column(fields, ("wkt",))
    if wkt_col is None and (lon_col is None or lat_col is None):
        raise RegistryError(
            f"{path}: no coordinate columns among {', '.join(f for f in fields if f)}; "
            "give lon and lat columns (also read: longitude/latitude, lng/lat, x/y) or a "
            "wkt column"
        )
    features: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        props: dict[str, Any] = {  # headers in any case: ID, Name, Kind ...
            k.strip().lower(): v.strip() if isinstance(v, str) else v
            for k, v in row.items()
            if k and v not in (None, "")
        }
        geometry: dict[str, Any] | None
        wkt = props.pop(wkt_col.strip().lower(), None) if wkt_col else None
        lon = props.pop(lon_col.strip().lower(), None) if lon_col else None
        lat = props.pop(lat_col.strip().lower(), None) if lat_col else None
        if wkt:
            try:
                geometry = mapping(shapely.from_wkt(wkt))
            except shapely.errors.GEOSException as exc:
                raise RegistryError(f"{path}: row {i + 2}: invalid WKT ({exc})") from exc
        elif lon is not None and lat is not None:
            try:
                geometry = {"type": "Point", "coordinates": [_number(lon), _number(lat)]}
            except ValueError as exc:
                raise RegistryError(
                    f"{path}: row {i + 2}: lon/lat must be numbers, got {lon!r}, {lat!r}"
                ) from exc
        else:
            raise RegistryError(
                f"{path}: row {i + 2}: no geometry; give lon and lat columns (or a wkt column)"
            )
        if "sources" in props and isinstance(props["sources"], str):
            props["sources"] = [s.strip() for s in props["sources"].split("|") if s.strip()]
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return features


# ---------------------------------------------------------------------------- changes

MOVED_SITE_M = 1000.0
"""A stored site whose new location lies further than this from the stored one has moved."""


def stored_conflicts(stored: Iterable[Site], new: Iterable[Site]) -> list[str]:
    """What storing ``new`` over ``stored`` would lose, one line per site: stored zones it
    lacks (deleted with the link to their observations) and sites moved more than
    :data:`MOVED_SITE_M` (a lon/lat swap or another place under the same id)."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    before = {site.id: site for site in stored}
    lines = []
    for site in new:
        old = before.get(site.id)
        if old is None:
            continue
        lost = sorted({z.id for z in old.zones} - {z.id for z in site.zones})
        if lost:
            lines.append(f"site {site.id!r}: it would delete its stored zones ({', '.join(lost)})")
        a, b = old.geometry.centroid, site.geometry.centroid
        moved = geod.inv(a.x, a.y, b.x, b.y)[2]
        if moved > MOVED_SITE_M:
            lines.append(
                f"site {site.id!r}: it would move from ({a.x:.4f}, {a.y:.4f}) to "
                f"({b.x:.4f}, {b.y:.4f}) lon/lat, {moved / 1000:.0f} km"
            )
    return lines


# ---------------------------------------------------------------------------- validation


def _fail(source: str, index: int, what: str, fix: str) -> RegistryError:
    return RegistryError(f"{source}: feature {index}: {what}; {fix}")


def _geometry(source: str, index: int, feature: dict[str, Any]) -> BaseGeometry:
    raw = feature.get("geometry")
    if not isinstance(raw, dict):
        raise _fail(source, index, "missing geometry", "give a Point (site) or Polygon (zone)")
    try:
        geom = shape(raw)
    except (ValueError, TypeError, AttributeError, LookupError, shapely.errors.ShapelyError) as exc:
        raise _fail(
            source, index, f"invalid geometry ({exc})", "fix the GeoJSON coordinates"
        ) from exc
    if geom.is_empty:
        raise _fail(source, index, "empty geometry", "give coordinates")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise _fail(
            source,
            index,
            f"coordinates out of range (bounds {minx:g}, {miny:g}, {maxx:g}, {maxy:g})",
            "GeoJSON wants [longitude, latitude] in degrees (EPSG:4326)",
        )
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise _fail(
            source,
            index,
            f"invalid geometry: {reason}",
            "redraw the polygon so its ring does not cross itself (shapely.make_valid can help)",
        )
    return geom


MAX_ID_LENGTH = 100
"""Longest site or zone id: ids name sites in commands, URLs and reports."""


def _check_id(source: str, index: int, fid: str) -> None:
    """Refuse an id that cannot name a site or zone in a URL path or a command line."""
    bad = ""
    if len(fid) > MAX_ID_LENGTH:
        bad = f"is {len(fid)} characters long (at most {MAX_ID_LENGTH})"
    elif fid in (".", ".."):
        bad = "is a path step"
    elif any(c in "/\\" or not c.isprintable() for c in fid):
        bad = "holds a slash, a backslash or a control character"
    if bad:
        shown = fid if len(fid) <= 40 else fid[:40] + "..."
        raise _fail(
            source,
            index,
            f"id {shown!r} {bad}",
            "use a short id of letters, digits, '-' or '_' (e.g. 'khmeimim', 'main-apron')",
        )


def _text(props: dict[str, Any], key: str) -> str:
    value = props.get(key)
    return "" if value is None else str(value).strip()


def registry_from_features(features: list[dict[str, Any]], *, source: str = "") -> Registry:
    """Build and validate a :class:`Registry` from GeoJSON feature dicts.

    A feature is a site when it has no ``site`` property and a zone when it has one.
    """
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    sites: dict[str, dict[str, Any]] = {}
    zones: list[tuple[int, dict[str, Any]]] = []
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise _fail(source, index, "not a GeoJSON Feature", 'give {"type": "Feature", ...}')
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise _fail(source, index, "properties must be an object", "fix the feature")
        fid = _text(props, "id")
        if not fid:
            raise _fail(source, index, "missing id", "add a unique 'id' property")
        _check_id(source, index, fid)
        geom = _geometry(source, index, feature)
        entry = {"index": index, "props": props, "geometry": geom, "id": fid}
        if _text(props, "site"):
            zones.append((index, entry))
            continue
        if fid in sites:
            raise _fail(
                source,
                index,
                f"duplicate site id {fid!r} (first at feature {sites[fid]['index']})",
                "give every site its own id",
            )
        kind = _text(props, "kind") or "other"
        if kind not in SITE_KINDS:
            raise _fail(
                source, index, f"unknown site kind {kind!r}", f"use one of {', '.join(SITE_KINDS)}"
            )
        sites[fid] = entry
    zone_objs: dict[str, list[Zone]] = {sid: [] for sid in sites}
    seen: dict[tuple[str, str], int] = {}
    for index, entry in zones:
        props = entry["props"]
        sid = _text(props, "site")
        if sid not in sites:
            raise _fail(
                source,
                index,
                f"zone {entry['id']!r} refers to site {sid!r}, which does not exist",
                "add that site or fix the zone's 'site' property",
            )
        key = (sid, entry["id"])
        if key in seen:
            raise _fail(
                source,
                index,
                f"duplicate zone id {sid}/{entry['id']} (first at feature {seen[key]})",
                "give every zone of a site its own id",
            )
        seen[key] = index
        kind = _text(props, "kind") or "other"
        if kind not in ZONE_KINDS:
            raise _fail(
                source, index, f"unknown zone kind {kind!r}", f"use one of {', '.join(ZONE_KINDS)}"
            )
        target = _text(props, "target") or "any"
        if target not in TARGETS:
            raise _fail(
                source, index, f"unknown target {target!r}", f"use one of {', '.join(TARGETS)}"
            )
        geom = entry["geometry"]
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise _fail(
                source, index, f"zone geometry is a {geom.geom_type}", "draw the zone as a Polygon"
            )
        site_geom: BaseGeometry = sites[sid]["geometry"]
        sp, zp = site_geom.centroid, geom.centroid
        _, _, dist_m = geod.inv(sp.x, sp.y, zp.x, zp.y)
        if dist_m > NEIGHBOURHOOD_KM * 1000:
            _, _, swapped = geod.inv(sp.x, sp.y, zp.y, zp.x) if -90 <= zp.x <= 90 else (0, 0, 1e12)
            hint = (
                "its lon/lat look swapped: GeoJSON wants [longitude, latitude]"
                if swapped < NEIGHBOURHOOD_KM * 1000
                else "check its coordinates (GeoJSON wants [longitude, latitude]) or its 'site'"
            )
            raise _fail(
                source,
                index,
                f"zone {sid}/{entry['id']} lies {dist_m / 1000:.0f} km from its site "
                f"(more than {NEIGHBOURHOOD_KM:g} km)",
                hint,
            )
        extra = {
            k: v for k, v in props.items() if k not in ("site", "id", "kind", "target", "name")
        }
        zone_objs[sid].append(
            Zone(
                site_id=sid,
                id=entry["id"],
                kind=kind,
                target=target,
                geometry=geom,
                name=_text(props, "name"),
                properties=extra,
            )
        )
    out = []
    for sid, entry in sites.items():
        props = entry["props"]
        extra = {
            k: v for k, v in props.items() if k not in ("id", "kind", "name", "operator", "country")
        }
        raw_aliases = props.get("aliases")
        aliases = parse_aliases(
            [] if raw_aliases is None else raw_aliases, where=f"{source}: feature {entry['index']}"
        )
        out.append(
            Site(
                id=sid,
                name=_text(props, "name") or sid,
                kind=_text(props, "kind") or "other",
                geometry=entry["geometry"],
                operator=_text(props, "operator"),
                country=_text(props, "country"),
                zones=tuple(zone_objs[sid]),
                properties=extra,
                aliases=aliases,
            )
        )
    return Registry(tuple(out), source)


# ---------------------------------------------------------------------------- writing


def registry_features(registry: Registry) -> list[dict[str, Any]]:
    """The registry as GeoJSON feature dicts (sites first, each followed by its zones)."""
    features: list[dict[str, Any]] = []
    for s in registry.sites:
        props: dict[str, Any] = {"id": s.id, "name": s.name, "kind": s.kind}
        if s.operator:
            props["operator"] = s.operator
        if s.country:
            props["country"] = s.country
        props.update(s.properties)
        if s.aliases:
            props["aliases"] = list(s.aliases)
        features.append({"type": "Feature", "geometry": mapping(s.geometry), "properties": props})
        for z in s.zones:
            zprops: dict[str, Any] = {"site": s.id, "id": z.id, "kind": z.kind, "target": z.target}
            if z.name:
                zprops["name"] = z.name
            zprops.update(z.properties)
            features.append(
                {"type": "Feature", "geometry": mapping(z.geometry), "properties": zprops}
            )
    return features


def save_registry(registry: Registry, path: Path) -> Path:
    """Write the registry as GeoJSON, GeoPackage or CSV, chosen by the file suffix."""
    suffix = path.suffix.lower()
    if path.is_dir():
        raise RegistryError(f"{path} is a folder; give a file name in it (e.g. sites.geojson)")
    if suffix not in (".geojson", ".json", ".gpkg", ".csv"):
        raise RegistryError(
            f"{path}: unknown registry format {suffix!r}; use .geojson, .gpkg or .csv"
        )
    features = registry_features(registry)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".geojson", ".json"):
        doc = {"type": "FeatureCollection", "features": features}
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    elif suffix == ".gpkg":
        _write_gpkg(features, path)
    else:
        _write_csv(features, path)
    return path


def _flat_props(props: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in props.items():
        if isinstance(v, list):
            out[k] = " | ".join(str(x) for x in v)
        elif isinstance(v, dict):
            out[k] = json.dumps(v, sort_keys=True)
        else:
            out[k] = v
    return out


def _write_gpkg(features: list[dict[str, Any]], path: Path) -> None:
    import geopandas as gpd

    rows = [_flat_props(f["properties"]) for f in features]
    geoms = [shape(f["geometry"]) for f in features]
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")
    if "site" not in gdf.columns:
        gdf["site"] = None
    if path.exists():
        path.unlink()
    gdf.to_file(path, driver="GPKG", engine="pyogrio")


def _write_csv(features: list[dict[str, Any]], path: Path) -> None:
    import csv

    rows = []
    for f in features:
        row = _flat_props(f["properties"])
        geom = shape(f["geometry"])
        if geom.geom_type == "Point":
            row["lon"], row["lat"] = geom.x, geom.y
        else:
            row["wkt"] = geom.wkt
        rows.append(row)
    columns: list[str] = []
    for row in rows:
        for k in row:
            if k not in columns:
                columns.append(k)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

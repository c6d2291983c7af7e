"""Find scenes: STAC APIs (pystac-client), static STAC catalogues (pystac) and provider aliases."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from basewatch.errors import CatalogError, InputError
from basewatch.imagery.bands import REQUIRED_BANDS, SENSOR_BANDS, map_assets
from basewatch.imagery.net import (
    DEFAULT_NETWORK,
    NetworkParams,
    is_remote,
    network_cause,
    stac_io,
)

log = logging.getLogger(__name__)

CATALOG_ALIASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "earth-search": (
        "https://earth-search.aws.element84.com/v1",
        ("sentinel-2-l2a", "sentinel-1-grd"),
    ),
    "planetary-computer": (
        "https://planetarycomputer.microsoft.com/api/stac/v1",
        ("sentinel-2-l2a", "sentinel-1-rtc"),
    ),
}
"""Alias -> (STAC API root, default collections).

Earth Search also serves ``sentinel-2-c1-l2a`` (Collection 1, reprocessed, with a -0.1
reflectance offset carried in each asset's ``raster:bands``): pass ``--collection
sentinel-2-c1-l2a`` to read it instead of ``sentinel-2-l2a``. It is not a default because both
collections hold the same acquisitions, and reading both would count every pass twice.
"""

S2_DEFAULT_SCALE = 1e-4
"""Sentinel-2 L2A digital numbers -> reflectance, when an asset does not say."""


@dataclass(frozen=True, kw_only=True)
class Scene:
    """One image (a STAC item) that basewatch can read, with hrefs by canonical band."""

    id: str
    """STAC item id."""
    collection: str
    """Collection id (may be empty for items outside a collection)."""
    sensor: str
    """``sentinel-2``, ``sentinel-1`` or ``highres``."""
    time: datetime
    """Acquisition time, UTC."""
    bbox: tuple[float, float, float, float]
    """Footprint bounds in EPSG:4326 (west, south, east, north)."""
    cloud_cover: float | None
    """Scene-wide cloud cover in percent, where the provider gives it."""
    assets: dict[str, str]
    """Canonical band name -> absolute href."""
    scales: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Canonical band name -> (scale, offset) to apply to the stored values."""
    href: str = ""
    """Href of the item's JSON, where known."""
    georeferencing: str = "grid"
    """``grid`` (geotransform) or ``gcp`` (ground control points)."""
    band_index: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Canonical band name -> 1-based band indexes inside its asset file (default: all
    bands; set for multi-band files such as a local GeoTIFF holding every band)."""

    def covers(self, bounds: tuple[float, float, float, float]) -> bool:
        """Whether the scene's footprint bounds intersect ``bounds`` (EPSG:4326)."""
        w, s, e, n = self.bbox
        return not (bounds[2] < w or bounds[0] > e or bounds[3] < s or bounds[1] > n)


class Catalog(Protocol):
    """Anything that can list scenes for an area and a time range."""

    name: str

    def search(
        self,
        *,
        bbox: tuple[float, float, float, float],
        start: datetime,
        end: datetime,
        collections: Sequence[str] | None = None,
        max_cloud: float | None = None,
    ) -> list[Scene]:
        """Scenes intersecting ``bbox`` between ``start`` and ``end``, sorted by time and id."""
        ...


def sensor_of(collection: str, properties: dict[str, Any]) -> str:
    """Guess the sensor family of an item from its collection id and properties."""
    text = f"{collection} {properties.get('platform', '')} {properties.get('constellation', '')}"
    text = text.lower()
    if "sentinel-2" in text or "sentinel2" in text:
        return "sentinel-2"
    if "sentinel-1" in text or "sentinel1" in text or "sar:instrument_mode" in properties:
        return "sentinel-1"
    return "highres"


def _asset_scale(asset: Any, canonical: str, sensor: str) -> tuple[float, float]:
    # STAC 1.0 raster extension (``raster:bands``) or STAC 1.1 ``bands`` with ``scale`` fields.
    for key in ("raster:bands", "bands"):
        bands = asset.extra_fields.get(key) or []
        if bands and isinstance(bands[0], dict) and "scale" in bands[0]:
            return float(bands[0].get("scale", 1.0)), float(bands[0].get("offset", 0.0))
    if sensor == "sentinel-2" and canonical != "scl":
        return S2_DEFAULT_SCALE, 0.0
    return 1.0, 0.0


def scene_from_item(item: Any) -> Scene | None:
    """Turn a ``pystac.Item`` into a :class:`Scene`; None if it lacks the bands basewatch needs.

    Raises :class:`CatalogError` naming the item when a value has the wrong type (a text
    cloud cover or band scale, a short bbox...).
    """
    try:
        return _scene_from_item(item)
    except (TypeError, ValueError, LookupError, AttributeError) as exc:
        raise CatalogError(
            f"STAC item {getattr(item, 'id', None)!r}: unusable ({type(exc).__name__}: {exc}); "
            "fix its properties, bbox or assets, or leave it out of the catalogue"
        ) from exc


def usable_scenes(items: Iterable[Any], source: str) -> list[Scene]:
    """The scenes of ``items`` (``pystac.Item``) that basewatch can read.

    Items without the needed bands are left out silently (other products of the same
    collection); a malformed item is left out with a warning naming it and ``source``, so
    one bad record in a catalogue of thousands does not stop a search.
    """
    out = []
    for item in items:
        try:
            scene = scene_from_item(item)
        except CatalogError as exc:
            log.warning("%s: skipped: %s", source, exc)
            continue
        if scene is not None:
            out.append(scene)
    return out


def _scene_from_item(item: Any) -> Scene | None:
    collection = item.collection_id or ""
    props = dict(item.properties)
    sensor = sensor_of(collection, props)
    keys = map_assets(list(item.assets))
    wanted = [b for b in SENSOR_BANDS[sensor] if b in keys]
    if not all(b in keys for b in REQUIRED_BANDS[sensor]):
        return None
    assets = {
        b: item.assets[keys[b]].get_absolute_href() or item.assets[keys[b]].href for b in wanted
    }
    scales = {b: _asset_scale(item.assets[keys[b]], b, sensor) for b in wanted}
    when = item.datetime or item.common_metadata.start_datetime
    if when is None:
        return None
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    bbox = tuple(float(v) for v in (item.bbox or (-180.0, -90.0, 180.0, 90.0)))[:4]
    cloud = props.get("eo:cloud_cover")
    self_href = item.get_self_href() or ""
    geo = str(props.get("basewatch:georeferencing", ""))
    if not geo:
        geo = "gcp" if sensor == "sentinel-1" and "grd" in collection.lower() else "grid"
    return Scene(
        id=item.id,
        collection=collection,
        sensor=sensor,
        time=when,
        bbox=(bbox[0], bbox[1], bbox[2], bbox[3]),
        cloud_cover=float(cloud) if cloud is not None else None,
        assets=assets,
        scales=scales,
        href=self_href,
        georeferencing=geo,
    )


def scene_from_dict(item: Any, *, href: str = "") -> Scene | None:
    """Turn a STAC item dict (as read from JSON) into a :class:`Scene`, like scene_from_item.

    Raises :class:`CatalogError` naming the item when the dict is not a valid STAC item.
    """
    import pystac

    name = item.get("id") if isinstance(item, dict) else None
    try:
        parsed = pystac.Item.from_dict(item, href=href or None, preserve_dict=False)
    except Exception as exc:  # pystac raises many kinds (STACError, KeyError, ValueError...)
        raise CatalogError(
            f"STAC item {name!r}{' at ' + href if href else ''}: not a valid STAC item "
            f"({type(exc).__name__}: {exc}); fix the item or leave it out of the catalogue"
        ) from exc
    return scene_from_item(parsed)


@dataclass(frozen=True, kw_only=True)
class Extent:
    """What a static or folder catalogue holds: its scenes' time span and footprint."""

    start: datetime
    """Time of the first scene (UTC)."""
    end: datetime
    """Time of the last scene (UTC)."""
    scenes: int
    """Number of readable scenes."""
    bbox: tuple[float, float, float, float]
    """Bounds of all footprints (west, south, east, north), EPSG:4326."""
    collections: tuple[str, ...] = ()
    """The scenes' collections, sorted."""

    @classmethod
    def of(cls, scenes: Sequence[Scene]) -> Extent | None:
        """The extent of ``scenes``; None when there are none."""
        if not scenes:
            return None
        return cls(
            start=min(s.time for s in scenes),
            end=max(s.time for s in scenes),
            scenes=len(scenes),
            bbox=(
                min(s.bbox[0] for s in scenes),
                min(s.bbox[1] for s in scenes),
                max(s.bbox[2] for s in scenes),
                max(s.bbox[3] for s in scenes),
            ),
            collections=tuple(sorted({s.collection for s in scenes})),
        )

    def describe(self) -> str:
        """E.g. ``412 scenes from 2024-06-04 to 2024-12-20 over lon 35.7..36.1, lat ...``."""
        w, s, e, n = self.bbox
        noun = "scene" if self.scenes == 1 else "scenes"
        return (
            f"{self.scenes} {noun} from {self.start:%Y-%m-%d} to {self.end:%Y-%m-%d} "
            f"over lon {w:.3f}..{e:.3f}, lat {s:.3f}..{n:.3f}"
        )


DEFAULT_WINDOW_DAYS = 365
"""Search window of a STAC API without ``--from``: this many days before ``--to``."""


def catalog_extent(catalog: Catalog) -> Extent | None:
    """The extent of a static or folder catalogue; None for a STAC API (unknown) or none."""
    extent = getattr(getattr(catalog, "inner", catalog), "extent", None)
    return extent() if callable(extent) else None


def is_listing(catalog: Catalog) -> bool:
    """Whether ``catalog`` lists all its scenes itself (static STAC or folder), not an API."""
    return callable(getattr(getattr(catalog, "inner", catalog), "extent", None))


def search_window(
    catalog: Catalog,
    start: datetime | None,
    end: datetime | None,
    *,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The ``(start, end)`` to search: the given days, else defaults.

    A static or folder catalogue defaults to its own extent (first and last scene); a
    STAC API to the :data:`DEFAULT_WINDOW_DAYS` before ``end``, ``end`` to ``now``. A
    reversed window is an :class:`InputError`.
    """
    from datetime import timedelta

    extent = catalog_extent(catalog) if start is None or end is None else None
    if extent is not None:
        end = end or extent.end
        start = start or extent.start
    end = end or now or datetime.now(UTC)
    start = start or end - timedelta(days=DEFAULT_WINDOW_DAYS)
    if start > end:
        raise InputError(
            f"--from {start:%Y-%m-%d} is after --to {end:%Y-%m-%d}: the window is empty; swap them"
        )
    return start, end


def window_note(catalog: Catalog, start: object, end: object) -> str:
    """How a defaulted window was chosen, e.g. `` (the catalogue's own span)``; empty when
    both ``start`` and ``end`` were given."""
    if start is not None and end is not None:
        return ""
    if is_listing(catalog) and catalog_extent(catalog) is not None:
        if start is None and end is None:
            return " (default: the catalogue's own span)"
        if start is None:
            return " (default: from the catalogue's first scene)"
        return " (default: up to the catalogue's last scene)"
    if start is None and end is None:
        return f" (default: the {DEFAULT_WINDOW_DAYS} days up to today)"
    if start is None:
        return f" (default: the {DEFAULT_WINDOW_DAYS} days up to --to)"
    return " (default: up to today)"


def nothing_found(
    catalog: Catalog,
    *,
    start: datetime,
    end: datetime,
    where: str,
    collections: Sequence[str] | None = None,
    max_cloud: float | None = None,
) -> CatalogError:
    """The error for a search that found no scene: what was searched and what the catalogue
    covers, with the fix."""
    filters = ""
    if collections:
        filters += f", collections {', '.join(collections)}"
    if max_cloud is not None:
        filters += f", cloud cover <= {max_cloud:g} %"
    searched = (
        f"{catalog.name}: no scenes for {where} from {start:%Y-%m-%d} to {end:%Y-%m-%d}{filters}"
    )
    if is_listing(catalog):
        extent = catalog_extent(catalog)
        if extent is None:
            return CatalogError(
                f"{searched}; the catalogue holds no scene basewatch can read. Fix: point "
                "--catalog at a catalogue of Sentinel-1, Sentinel-2 or sub-metre images"
            )
        unknown = [c for c in collections or () if c not in extent.collections]
        if unknown and extent.collections:
            return CatalogError(
                f"{searched}; the catalogue has no collection {', '.join(unknown)}: its "
                f"collections are {', '.join(extent.collections)}. Fix: give --collection "
                "one of those (or leave it out to search them all)"
            )
        return CatalogError(
            f"{searched}; the catalogue holds {extent.describe()}. Fix: choose --from/--to "
            "inside that span (or leave them out to search all of it) and check the zones lie "
            "inside its footprint"
        )
    return CatalogError(
        f"{searched}. Fix: widen --from/--to, check the collections (--collection) and "
        "--max-cloud, and that the zones lie where the catalogue has imagery"
    )


class CachedCatalog:
    """A catalogue whose searches are remembered, so a run can look first and work second
    without asking a STAC API twice."""

    def __init__(self, inner: Catalog) -> None:
        """Wrap ``inner``."""
        self.inner = inner
        self.name = inner.name
        self._found: dict[tuple[Any, ...], list[Scene]] = {}

    def search(
        self,
        *,
        bbox: tuple[float, float, float, float],
        start: datetime,
        end: datetime,
        collections: Sequence[str] | None = None,
        max_cloud: float | None = None,
    ) -> list[Scene]:
        """The inner catalogue's scenes (asked once per distinct search)."""
        key = (bbox, start, end, tuple(collections or ()), max_cloud)
        if key not in self._found:
            self._found[key] = self.inner.search(
                bbox=bbox, start=start, end=end, collections=collections, max_cloud=max_cloud
            )
        return list(self._found[key])


def _keep(
    scene: Scene,
    bbox: tuple[float, float, float, float],
    start: datetime,
    end: datetime,
    collections: Sequence[str] | None,
    max_cloud: float | None,
) -> bool:
    if not scene.covers(bbox) or not (start <= scene.time <= end):
        return False
    if collections and scene.collection not in collections:
        return False
    if max_cloud is None or scene.sensor != "sentinel-2" or scene.cloud_cover is None:
        return True
    return scene.cloud_cover <= max_cloud


@dataclass
class StaticCatalog:
    """A static STAC catalogue (local path or http(s) URL) walked with pystac."""

    name: str
    """Path or URL of ``catalog.json``."""
    net: NetworkParams = DEFAULT_NETWORK
    """Retries and timeouts when the catalogue is read over HTTP."""
    _scenes: list[Scene] | None = None

    def _all(self) -> list[Scene]:
        if self._scenes is None:
            import warnings

            import pystac
            from pystac_client.warnings import FallbackToPystac

            try:
                root = pystac.read_file(self.name, stac_io=stac_io(self.net))
                if isinstance(root, pystac.Item):
                    items = [root]
                elif isinstance(root, pystac.Catalog):
                    with warnings.catch_warnings():  # walking a static catalogue is the plan
                        warnings.simplefilter("ignore", FallbackToPystac)
                        items = list(root.get_items(recursive=True))
                else:
                    raise CatalogError(f"{self.name}: not a STAC catalogue, collection or item")
            except CatalogError:
                raise
            except Exception as exc:  # pystac raises many kinds (IO, HTTP, JSON, STAC validation)
                if is_remote(self.name):
                    cause = network_cause(exc)
                else:
                    cause = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                raise CatalogError(
                    f"{self.name}: cannot open the STAC catalogue ({cause}); "
                    "check the path or URL (a catalog.json or collection.json) and the network"
                ) from exc
            self._scenes = sorted(usable_scenes(items, self.name), key=lambda s: (s.time, s.id))
        return self._scenes

    def search(
        self,
        *,
        bbox: tuple[float, float, float, float],
        start: datetime,
        end: datetime,
        collections: Sequence[str] | None = None,
        max_cloud: float | None = None,
    ) -> list[Scene]:
        """Scenes of the catalogue intersecting ``bbox`` in ``[start, end]``."""
        return [s for s in self._all() if _keep(s, bbox, start, end, collections, max_cloud)]

    def extent(self) -> Extent | None:
        """What the catalogue holds (None when it holds no scene basewatch can read)."""
        return Extent.of(self._all())


@dataclass
class ApiCatalog:
    """A STAC API searched with pystac-client (optionally signing Planetary Computer hrefs)."""

    name: str
    """Root URL of the STAC API."""
    default_collections: tuple[str, ...] = ()
    """Collections searched when the caller names none."""
    sign: bool = False
    """Sign asset hrefs with the ``planetary-computer`` package."""
    net: NetworkParams = DEFAULT_NETWORK
    """Retries (exponential backoff on timeouts, 429 and 5xx) and timeouts of API requests."""

    def search(
        self,
        *,
        bbox: tuple[float, float, float, float],
        start: datetime,
        end: datetime,
        collections: Sequence[str] | None = None,
        max_cloud: float | None = None,
    ) -> list[Scene]:
        """Scenes from the API's ``/search`` intersecting ``bbox`` in ``[start, end]``."""
        from pystac.errors import STACError
        from pystac_client import Client
        from pystac_client.exceptions import APIError

        modifier = None
        if self.sign:
            try:
                import planetary_computer

                modifier = planetary_computer.sign_inplace
            except ImportError as exc:
                raise CatalogError(
                    "planetary-computer: signing needs the 'planetary-computer' package; "
                    "pip install planetary-computer"
                ) from exc
        try:
            client = Client.open(self.name, modifier=modifier, stac_io=stac_io(self.net))
            search = client.search(
                bbox=bbox,
                datetime=[start, end],
                collections=list(collections or self.default_collections) or None,
            )
            items = list(search.items())
        except (APIError, OSError, ValueError, TypeError, KeyError, STACError) as exc:
            raise CatalogError(
                f"{self.name}: STAC search failed ({network_cause(exc)}); check the URL "
                "and the network, or use a local catalogue"
            ) from exc
        scenes = usable_scenes(items, self.name)
        kept = [s for s in scenes if _keep(s, bbox, start, end, None, max_cloud)]
        return sorted(kept, key=lambda s: (s.time, s.id))


def open_catalog(
    spec: str | Path, *, sensor: str | None = None, net: NetworkParams | None = None
) -> Catalog:
    """Open a catalogue from an alias (``earth-search``, ``planetary-computer``), a STAC API URL,
    a static catalogue (local path or URL to ``catalog.json``) or a folder of GeoTIFF/COG files.

    ``sensor`` applies to a folder of GeoTIFFs only (default: inferred from each file's band
    count and data type).
    """

    net = net or DEFAULT_NETWORK
    text = str(spec)
    path = Path(text)
    stac = (
        text in CATALOG_ALIASES
        or text.startswith(("http://", "https://"))
        or path.is_file()
        or (path / "catalog.json").is_file()
    )
    if sensor and stac:
        raise InputError(
            f"--sensor {sensor}: only a folder of GeoTIFF files takes --sensor, and {text} is a "
            "STAC catalogue, whose collections say their sensor; leave out --sensor (choose "
            "collections with --collection)"
        )
    if text in CATALOG_ALIASES:
        url, collections = CATALOG_ALIASES[text]
        return ApiCatalog(url, collections, sign=text == "planetary-computer", net=net)
    if text.startswith(("http://", "https://")):
        if text.endswith(".json"):
            return StaticCatalog(text, net=net)
        return ApiCatalog(text, net=net)
    if path.is_dir():
        candidate = path / "catalog.json"
        if candidate.is_file():
            return StaticCatalog(str(candidate), net=net)
        from basewatch.imagery.folder import FolderCatalog

        return FolderCatalog(str(path), sensor=sensor or None)
    if path.is_file():
        return StaticCatalog(str(path), net=net)
    aliases = ", ".join(CATALOG_ALIASES)
    raise InputError(
        f"{text}: no such catalogue; give a path to catalog.json, a STAC API URL, "
        f"or one of: {aliases}"
    )

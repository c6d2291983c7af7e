"""A local folder of GeoTIFF / COG files used as a catalogue (one multi-band file per scene).

Each file is one scene:

- **time**: the ``TIFFTAG_DATETIME`` tag (``YYYY:MM:DD HH:MM:SS``, UTC), else a date in the
  file name (``YYYYMMDD``, ``YYYYMMDDTHHMMSS`` or ``YYYY-MM-DD``); files with neither are
  reported as an error naming the file.
- **sensor**: given by the user (``--sensor``), else inferred from the bands: 1-2 float
  bands are Sentinel-1 (``vv``, ``vh``), 3-4 ``uint8`` bands sub-metre RGB(A), 4 or more
  integer bands Sentinel-2.
- **bands**: band descriptions that are known names (``B02``, ``blue``, ``VV`` ...) are used;
  otherwise the sensor's order: Sentinel-2 ``blue, green, red, nir, swir16, scl``;
  Sentinel-1 ``vv, vh``; sub-metre ``red, green, blue``. Sentinel-2 integer values are
  scaled by 1e-4.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from basewatch.errors import CatalogError, InputError
from basewatch.imagery.bands import REQUIRED_BANDS, canonical_band, s2_file_scale
from basewatch.imagery.catalog import S2_DEFAULT_SCALE, Extent, Scene, _keep

log = logging.getLogger(__name__)

SENSORS = ("sentinel-2", "sentinel-1", "highres")
"""Sensors a folder of GeoTIFFs can hold."""

BAND_ORDER: dict[str, tuple[str, ...]] = {
    "sentinel-2": ("blue", "green", "red", "nir", "swir16", "scl"),
    "sentinel-1": ("vv", "vh"),
    "highres": ("red", "green", "blue"),
}
"""Band order assumed when a file's bands carry no known description."""

SUFFIXES = (".tif", ".tiff")
"""File name endings read as GeoTIFFs (case-insensitive)."""

_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?:[T_-]?(\d{2})(\d{2})(\d{2}))?(?!\d)")


def time_from_tag(tag: str) -> datetime | None:
    """Parse a ``TIFFTAG_DATETIME`` value (``YYYY:MM:DD HH:MM:SS``) as UTC; None if malformed."""
    try:
        return datetime.strptime(tag.strip(), "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def time_from_name(name: str) -> datetime | None:
    """The first plausible ``YYYYMMDD[THHMMSS]`` or ``YYYY-MM-DD`` date in a file name (UTC)."""
    for m in _NAME_DATE.finditer(name):
        y, mo, d, hh, mm, ss = m.groups()
        try:
            return datetime(
                int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=UTC
            )
        except ValueError:
            continue
    return None


def infer_sensor(count: int, dtype: str) -> str | None:
    """The sensor a file's band count and data type suggest, or None when ambiguous."""
    floating = dtype.startswith("float")
    if floating and count in (1, 2):
        return "sentinel-1"
    if dtype == "uint8" and count in (3, 4):
        return "highres"
    if not floating and dtype != "uint8" and count >= 4:
        return "sentinel-2"
    return None


def _band_names(descriptions: Sequence[str | None], sensor: str) -> dict[str, int]:
    named = {canonical_band(d): i + 1 for i, d in enumerate(descriptions) if d}
    named.pop(None, None)
    if sensor == "highres":
        order = BAND_ORDER["highres"]
        if not all(b in named for b in order):
            named = {b: i + 1 for i, b in enumerate(order[: len(descriptions)])}
        return {str(k): v for k, v in named.items() if k in order}
    if all(b in named for b in REQUIRED_BANDS[sensor]):
        return {str(k): v for k, v in named.items()}
    return {b: i + 1 for i, b in enumerate(BAND_ORDER[sensor][: len(descriptions)])}


def scene_from_file(path: Path, *, sensor: str | None = None) -> Scene:
    """Describe one GeoTIFF as a :class:`Scene` (see the module docstring for the rules).

    GDAL/rasterio warnings raised while reading the file are logged as basewatch warnings
    that name the file. Raises :class:`CatalogError` naming the file and the fix.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return _scene_from_file(path, sensor=sensor)
        finally:
            for w in caught:
                text = " ".join(str(w.message).split())
                log.warning("%s: %s (%s)", path, text, w.category.__name__)


def _scene_from_file(path: Path, *, sensor: str | None = None) -> Scene:
    import rasterio
    from rasterio.warp import transform_bounds

    try:
        with rasterio.open(path) as src:
            tags = src.tags()
            count, dtype = src.count, src.dtypes[0]
            descriptions = list(src.descriptions)
            gcps, gcp_crs = src.gcps
            gridded = src.crs is not None
            pixel_m = None
            if src.crs is not None:
                bbox = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
                pixel_m = _pixel_m(src)
            elif gcps and gcp_crs is not None:
                xs, ys = [g.x for g in gcps], [g.y for g in gcps]
                bbox = transform_bounds(gcp_crs, "EPSG:4326", min(xs), min(ys), max(xs), max(ys))
            else:
                raise CatalogError(
                    f"{path}: no georeference (no CRS, no ground control points); "
                    "give georeferenced GeoTIFFs"
                )
    except rasterio.errors.RasterioError as exc:
        reason = " ".join(str(exc).split())
        raise CatalogError(
            f"{path}: cannot open as a GeoTIFF ({reason}); repair or remove the file"
        ) from exc
    when = time_from_tag(tags.get("TIFFTAG_DATETIME", "")) or time_from_name(path.name)
    if when is None:
        raise CatalogError(
            f"{path}: no acquisition date; set the TIFFTAG_DATETIME tag or put the date in "
            "the file name (YYYYMMDD or YYYY-MM-DD)"
        )
    kind = sensor or infer_sensor(count, dtype)
    if kind is None:
        raise CatalogError(
            f"{path}: cannot tell the sensor from {count} {dtype} band(s); "
            f"give --sensor ({', '.join(SENSORS)})"
        )
    _check_pixel_size(path, kind, pixel_m, given=sensor is not None)
    bands = _band_names(descriptions, kind)
    missing = [b for b in REQUIRED_BANDS.get(kind, ()) if b not in bands and kind != "highres"]
    if missing:
        raise CatalogError(
            f"{path}: {count} band(s) lack {', '.join(missing)} for {kind}; "
            "name the bands in the file (band descriptions) or give the right --sensor"
        )
    href = str(path)
    if kind == "highres":
        assets = {"visual": href}
        index: dict[str, tuple[int, ...]] = {"visual": tuple(sorted(bands.values()))}
        scales: dict[str, tuple[float, float]] = {"visual": (1.0, 0.0)}
    else:
        assets = {b: href for b in bands}
        index = {b: (i,) for b, i in bands.items()}
        integer = not dtype.startswith("float")
        default = S2_DEFAULT_SCALE
        if kind == "sentinel-2" and integer:  # Sentinel Hub x 65535 exports, scale tags
            default, problem = s2_file_scale(path, bands)
            if problem is not None:
                raise CatalogError(problem)
        scales = {
            b: (default if kind == "sentinel-2" and integer and b != "scl" else 1.0, 0.0)
            for b in bands
        }
    return Scene(
        id=path.stem,
        collection="folder",
        sensor=kind,
        time=when,
        bbox=(float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])),
        cloud_cover=None,
        assets=assets,
        scales=scales,
        href=href,
        georeferencing="grid" if gridded else "gcp",
        band_index=index,
    )


SENSOR_PIXEL_M = {"sentinel-2": (5.0, 70.0), "sentinel-1": (2.0, 100.0), "highres": (0.05, 5.0)}
"""Ground pixel sizes (metres) a file of each sensor can have: Sentinel-2 10-60 m, Sentinel-1
from its strip-map modes to wide swaths, sub-metre and metre imagery."""


def _pixel_m(src: Any) -> float | None:
    """Ground pixel size (metres) of an open gridded dataset, None where it cannot be told."""
    from basewatch.imagery.load import ground_pixel_size

    try:
        return ground_pixel_size(src.transform, src.crs.to_string(), src.width, src.height)
    except (ValueError, RuntimeError):  # pyproj cannot use the CRS: the check is skipped
        return None


def _check_pixel_size(path: Path, kind: str, pixel_m: float | None, *, given: bool) -> None:
    """Refuse a file whose pixels cannot be ``kind``'s (0.5 m images given as Sentinel-1):
    its detector would count nothing, or nonsense, without a word."""
    if pixel_m is None or kind not in SENSOR_PIXEL_M:
        return
    lo, hi = SENSOR_PIXEL_M[kind]
    if lo <= pixel_m <= hi:
        return
    fits = [k for k, (a, b) in SENSOR_PIXEL_M.items() if a <= pixel_m <= b]
    how = "--sensor" if given else "the sensor told from its bands"
    hint = f"; give --sensor {fits[0]}" if fits else ""
    raise CatalogError(
        f"{path}: its pixels are {pixel_m:.3g} m, which {kind} images do not have "
        f"({lo:g}-{hi:g} m; {kind} from {how}){hint}"
    )


@dataclass
class FolderCatalog:
    """A folder (searched recursively) of GeoTIFF / COG files, one scene per file."""

    name: str
    """Path of the folder."""
    sensor: str | None = None
    """Sensor of every file (``sentinel-2``, ``sentinel-1``, ``highres``); None infers it."""
    failures: list[str] = field(default_factory=list)
    """One line per file that could not be read as a scene (file and reason); such files
    are left out of every search, the others are used."""
    _scenes: list[Scene] | None = None

    def __post_init__(self) -> None:
        if self.sensor is not None and self.sensor not in SENSORS:
            raise InputError(f"--sensor {self.sensor}: use one of {', '.join(SENSORS)}")
        if not any(self._files()):
            raise InputError(
                f"{self.name}: folder without a catalog.json and without GeoTIFF (.tif/.tiff) "
                "files; point --catalog at a STAC catalogue or a folder of GeoTIFFs"
            )

    def _files(self) -> list[Path]:
        return sorted(
            p for p in Path(self.name).rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
        )

    def _all(self) -> list[Scene]:
        if self._scenes is None:
            scenes = []
            for f in self._files():
                try:
                    scenes.append(scene_from_file(f, sensor=self.sensor))
                except CatalogError as exc:  # one bad file must not stop the run
                    self.failures.append(str(exc))
            self._scenes = sorted(scenes, key=lambda s: (s.time, s.id))
        return self._scenes

    def extent(self) -> Extent | None:
        """What the folder holds (None when no file is a readable scene)."""
        return Extent.of(self._all())

    def search(
        self,
        *,
        bbox: tuple[float, float, float, float],
        start: datetime,
        end: datetime,
        collections: Sequence[str] | None = None,
        max_cloud: float | None = None,
    ) -> list[Scene]:
        """Files whose footprint intersects ``bbox`` and whose date is in ``[start, end]``."""
        return [s for s in self._all() if _keep(s, bbox, start, end, None, max_cloud)]

"""Run a detector on image files: the readers and the dispatch behind ``basewatch detect``.

This is the I/O edge of :mod:`basewatch.detect`: it reads an image into arrays, picks the
detector for the sensor, and writes the detections as a GeoJSON FeatureCollection in the
DESIGN.md format (``bbox_px``, ``score``, ``class``, ``length_m``; EPSG:4326 footprints where
the image is georeferenced, null geometry otherwise).

Inputs per sensor:

- ``s2``: a folder of single-band GeoTIFFs whose names hold ``B02``/``B03``/``B04``/``B08``
  (``B11``, ``SCL`` when present), a multi-band GeoTIFF (band descriptions, else the order
  blue, green, red, nir, swir16, scl), or a STAC item JSON. Integer values are scaled to
  reflectance by the file's (or item's) scale, else 1e-4 (``scale`` overrides).
- ``s1``: a sigma0 GeoTIFF, VV first (or named), optionally VH; linear or dB floats (dB is
  converted), integers are taken as amplitude and squared.
- ``sar``: any single-channel amplitude image (GeoTIFF, PNG, JPEG; colour images are averaged
  over their channels), integers divided by their type's maximum, squared to intensity;
  pixel size from the georeference or ``gsd_m``.
- ``highres``: an RGB image (GeoTIFF or PNG) at sub-metre GSD.

Bad inputs raise :class:`~basewatch.errors.ImageryError` / :class:`~basewatch.errors.InputError`
naming the file and the fix; images that hold nothing to search (no data, fully cloudy, no
water) give an empty result whose ``reason`` says why.
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from basewatch.detect import Detection
from basewatch.errors import ImageryError, InputError
from basewatch.imagery.load import ground_pixel_size
from basewatch.outputs import cannot_write, refuse_overwriting

log = logging.getLogger(__name__)

SENSORS = ("s1", "sar", "s2", "highres")
"""Values accepted for ``sensor``."""
S2_BANDS = ("blue", "green", "red", "nir", "swir16", "scl")
"""Sentinel-2 bands read (the first four are required)."""
S2_REQUIRED = ("blue", "green", "red", "nir")
"""Sentinel-2 bands without which the optical ship detector cannot run."""
S2_DEFAULT_SCALE = 1e-4
"""Digital numbers -> reflectance when neither the file nor the user says otherwise."""
SCL_UNUSABLE = (0, 1, 3, 8, 9, 10)
"""SCL classes masked out: no data, defective, cloud shadow, medium/high cloud, cirrus."""
CLOUD_REFLECTANCE = 0.3
"""Without SCL, pixels brighter than this in blue, green and red are taken as cloud."""
CLOUD_MIN_WIDTH_PX = 10
"""Bright patches narrower than this (pixels) are objects, not clouds."""
MIN_CLEAR_FRACTION = 0.01
"""Below this share of usable pixels an image is reported as fully cloudy / without data."""
MODEL_SENSORS = ("highres", "s2")
"""Sensors whose detector takes a weights file (``model``)."""
_BAND_IN_NAME = {
    "blue": re.compile(r"(?<![A-Za-z0-9])B0?2(?![0-9])"),
    "green": re.compile(r"(?<![A-Za-z0-9])B0?3(?![0-9])"),
    "red": re.compile(r"(?<![A-Za-z0-9])B0?4(?![0-9])"),
    "nir": re.compile(r"(?<![A-Za-z0-9])B0?8(?![0-9A])"),
    "swir16": re.compile(r"(?<![A-Za-z0-9])B11(?![0-9])"),
    "scl": re.compile(r"(?<![A-Za-z0-9])SCL(?![A-Za-z])", re.IGNORECASE),
}
"""How a single-band file name says which Sentinel-2 band it holds."""


@dataclass(frozen=True, kw_only=True)
class Raster:
    """An image read into memory, with what is known about its grid."""

    bands: dict[str, np.ndarray]
    """Canonical band name -> 2-D float array (reflectance, linear intensity or [0, 1] RGB)."""
    valid: np.ndarray
    """True where the pixel holds usable data (clear, not no-data)."""
    source: str
    """The path the image was read from."""
    transform: Any = None
    """Affine pixel -> CRS transform, or None without georeference."""
    crs: str | None = None
    """CRS of ``transform`` (WKT or EPSG code), or None."""
    pixel_size_m: float | None = None
    """Ground size of a pixel in metres (from the georeference), or None."""
    calibrated: bool = True
    """Radar: whether the values are calibrated sigma0 (float files), not display-scaled or
    raw digital numbers whose absolute level means nothing."""
    notes: dict[str, Any] = field(default_factory=dict)
    """What the reader decided that the output should record (e.g. the scale it applied)."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the raster."""
        first = next(iter(self.bands.values()))
        return int(first.shape[0]), int(first.shape[1])


@dataclass(frozen=True, kw_only=True)
class DetectResult:
    """Detections of one image, with what is needed to write them."""

    source: str
    """The input path."""
    sensor: str
    """The ``sensor`` the image was read as."""
    detector: str
    """Detector name and version, ``name/version``."""
    detections: list[Detection]
    """Detections in the input's pixel grid."""
    transform: Any = None
    """Affine pixel -> CRS transform, or None."""
    crs: str | None = None
    """CRS of ``transform``, or None."""
    pixel_size_m: float | None = None
    """Pixel size used by the detector (metres)."""
    reason: str | None = None
    """Why the result is empty without the image being wrong (cloudy, no water, no data)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Further facts written into the collection's ``basewatch`` member."""


Reader = Callable[[Path, float | None], Raster]
Detector = Callable[[Raster, float, Path | None], tuple[list[Detection], str | None]]


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------


def _open(path: Path) -> Any:
    """Open ``path`` with rasterio, or raise :class:`ImageryError` naming it."""
    import rasterio

    if not path.exists():
        raise InputError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        raise InputError(
            f"{path} is a folder; give the image files in it (e.g. {path / '*.tif'}): only "
            "--sensor s2 reads a folder (of band files)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            return rasterio.open(path)
    except rasterio.errors.RasterioError as exc:
        raise ImageryError(f"{path}: cannot be read as an image ({exc}); give a GeoTIFF") from exc


def _georef(src: Any) -> tuple[Any, str | None, float | None]:
    """Transform, CRS and ground pixel size (metres) of an open dataset, or Nones.

    Files positioned by ground control points only (Sentinel-1 GRD) get the affine transform
    that best fits their GCPs: good to a pixel or so over a chip, coarser over a whole swath.
    """
    from rasterio.transform import from_gcps

    gcps, gcp_crs = src.gcps
    if src.crs is not None and not src.transform.is_identity:
        transform, crs = src.transform, src.crs.to_string()
    elif gcps and gcp_crs is not None and len(gcps) >= 3:
        transform, crs = from_gcps(gcps), gcp_crs.to_string()
    else:
        return None, None, None
    px = ground_pixel_size(transform, crs, src.width, src.height)
    if not math.isfinite(px) or px <= 0:  # e.g. a UTM grid labelled EPSG:4326
        raise ImageryError(
            f"{src.name}: its grid (origin x {transform.c:.6g}, y {transform.f:.6g}, pixel "
            f"{transform.a:.6g}) does not fit its CRS {crs}, so the pixel size cannot be "
            "measured; fix the file's CRS (e.g. gdal_edit.py -a_srs EPSG:326NN for UTM metres)"
        )
    return transform, crs, px


def _scale_of(src: Any, band: int, user: float | None) -> tuple[float, str]:
    """Reflectance per digital number and where it came from: the user's (``user``), the
    file's (``file``; floats are reflectance already), 1/65535 for a Sentinel Hub "Raw"
    export (``name``), else :data:`S2_DEFAULT_SCALE` (``default``)."""
    from basewatch.imagery.bands import SENTINEL_HUB_RAW_SCALE, is_sentinel_hub_raw

    if user is not None:
        return user, "user"
    if src.dtypes[band - 1].startswith("float"):
        return 1.0, "file"
    file_scale = float(src.scales[band - 1]) if src.scales else 1.0
    if file_scale != 1.0:
        return file_scale, "file"
    if is_sentinel_hub_raw(Path(str(src.name)).name):
        return SENTINEL_HUB_RAW_SCALE, "name"
    return S2_DEFAULT_SCALE, "default"


def _read_band(src: Any, band: int, shape: tuple[int, int] | None = None) -> np.ndarray:
    """One band as float64 with no-data as NaN, resampled (nearest) to ``shape`` if given."""
    import rasterio
    from rasterio.enums import Resampling

    kwargs: dict[str, Any] = {}
    if shape is not None and (src.height, src.width) != shape:
        kwargs = {"out_shape": shape, "resampling": Resampling.nearest}
    try:
        arr = src.read(band, masked=True, **kwargs)
    except rasterio.errors.RasterioError as exc:
        raise ImageryError(
            f"{src.name}: band {band} cannot be decoded ({str(exc).splitlines()[0][:120]}); "
            "the file is corrupt or truncated: download or export it again"
        ) from None
    return np.ma.filled(arr.astype(np.float64), np.nan)


def _s2_files(folder: Path) -> dict[str, Path]:
    """Canonical band -> file in a folder of single-band GeoTIFFs, from the file names."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".tif", ".tiff", ".jp2"):
            continue
        for band, pattern in _BAND_IN_NAME.items():
            if not pattern.search(path.stem):
                continue
            if band in found:  # two exports of one band: which one was meant?
                raise InputError(
                    f"{folder}: two files for band {band} ({found[band].name}, {path.name}); "
                    "keep one band file per band in the folder"
                )
            found[band] = path
    return found


def read_s2(path: Path, scale: float | None = None) -> Raster:
    """Read a Sentinel-2 image: a band folder, a multi-band GeoTIFF or a STAC item JSON."""
    if path.is_dir():
        files = _s2_files(path)
        missing = [b for b in S2_REQUIRED if b not in files]
        if len(missing) == len(S2_REQUIRED):  # the ship model runs on any of them
            raise InputError(
                f"{path}: no file for band(s) {', '.join(missing)} (found "
                f"{', '.join(sorted(files)) or 'none'}); single-band file names must contain "
                "B02, B03, B04 or B08 (all four best; B11 and SCL optional)"
            )
        sources = {b: (str(p), 1) for b, p in files.items()}
        return _read_s2_sources(path, sources, scale, {})
    if path.suffix.lower() == ".json":
        return _read_s2_item(path, scale)
    with _open(path) as src:
        count = src.count
        names = _multiband_names(list(src.descriptions), count)
    if not all(b in names for b in S2_REQUIRED):
        raise InputError(
            f"{path}: {count} band(s), need at least 4 (blue, green, red, nir) for --sensor s2; "
            "give a 4-6 band GeoTIFF in the order blue, green, red, nir[, swir16, scl], name "
            "the bands in the file, or give a folder of single-band files"
        )
    sources = {b: (str(path), i) for b, i in names.items()}
    return _read_s2_sources(path, sources, scale, {})


def _multiband_names(descriptions: Sequence[str | None], count: int) -> dict[str, int]:
    """Canonical band -> 1-based index of a multi-band file (descriptions, else the order)."""
    from basewatch.imagery.bands import canonical_band

    named: dict[str, int] = {}
    for i, desc in enumerate(descriptions):
        canon = canonical_band(desc) if desc else None
        if canon is not None and canon not in named:
            named[canon] = i + 1
    if all(b in named for b in S2_REQUIRED):
        return named
    if count < 4:
        return {}
    return {b: i + 1 for i, b in enumerate(S2_BANDS[:count])}


def _read_s2_item(path: Path, scale: float | None) -> Raster:
    """Read the bands of a Sentinel-2 STAC item JSON (hrefs local or remote)."""
    from basewatch.imagery.catalog import scene_from_dict

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a STAC item JSON ({exc}); give an item file") from exc
    scene = scene_from_dict(data, href=str(path.resolve()))  # CatalogError names a bad item
    if scene is None or scene.sensor != "sentinel-2":
        assets = data.get("assets") if isinstance(data, dict) else None
        names = ", ".join(sorted(assets)) if isinstance(assets, dict) else ""
        raise InputError(
            f"{path}: STAC item {data.get('id')!r} lacks Sentinel-2 assets blue, green, red, nir "
            f"(has {names or 'none'}); give a Sentinel-2 L2A item"
        )
    sources = {b: (href, scene.band_index.get(b, (1,))[0]) for b, href in scene.assets.items()}
    scales = {b: s for b, s in scene.scales.items() if b != "scl"}
    return _read_s2_sources(path, sources, scale, scales)


def _read_s2_sources(
    path: Path,
    sources: dict[str, tuple[str, int]],
    scale: float | None,
    item_scales: dict[str, tuple[float, float]],
) -> Raster:
    """Read Sentinel-2 bands from (href, band index) pairs onto the blue band's grid."""
    import rasterio

    bands: dict[str, np.ndarray] = {}
    georef: tuple[Any, str | None, float | None] = (None, None, None)
    shape: tuple[int, int] | None = None
    first: tuple[str, str, Any, Any] = ("", "", None, None)
    origins: dict[str, tuple[float, str]] = {}
    for name in S2_BANDS:
        if name not in sources:
            continue
        href, index = sources[name]
        try:
            with rasterio.open(href) as src:
                if shape is None:
                    shape = (src.height, src.width)
                    georef = _georef(src)
                    first = (name, href, src.crs, src.bounds)
                else:
                    _check_same_ground(path, first, (name, href, src.crs, src.bounds), src.res)
                arr = _read_band(src, index, shape)
                if name != "scl":
                    if name in item_scales and scale is None:
                        factor, offset = item_scales[name]
                        origins[name] = (factor, "item")
                    else:
                        factor, origin = _scale_of(src, index, scale)
                        offset = 0.0
                        origins[name] = (factor, origin)
                    arr = arr * factor + offset
        except rasterio.errors.RasterioError as exc:
            raise ImageryError(f"{path}: cannot read band {name} from {href} ({exc})") from exc
        bands[name] = arr
    if shape is None:
        raise InputError(f"{path}: no band to read; give blue, green, red and nir")
    notes = _check_scale(path, bands, origins)
    valid = s2_data_mask([v for n, v in bands.items() if n != "scl"])  # those it has
    scl = bands.pop("scl", None)
    if scl is not None:
        valid &= ~np.isin(np.nan_to_num(scl, nan=0).astype(int), SCL_UNUSABLE)
    else:
        valid &= ~cloud_mask(bands)
    transform, crs, px = georef
    return Raster(
        bands=bands,
        valid=valid,
        source=str(path),
        transform=transform,
        crs=crs,
        pixel_size_m=px,
        notes=notes,
    )


def s2_data_mask(bands: Sequence[np.ndarray]) -> np.ndarray:
    """Pixels that hold data in every band given: finite (the file's no-data reads as NaN)
    and not zero in all of them at once.

    A zero in one band is a real value, not missing data: clear water is often 0 in the near
    infrared or red of an export without a no-data value (82,000 pixels of the Los Angeles
    sen2ships port), and ships in that water must be searched. Only a pixel that is zero in
    every band lies outside the image's footprint (the monitor's rule too).
    """
    valid = np.logical_and.reduce([np.isfinite(b) for b in bands])
    valid &= np.add.reduce([np.where(np.isfinite(b), np.abs(b), 0.0) for b in bands]) > 0
    return np.asarray(valid, dtype=bool)


def _check_same_ground(
    path: Path, first: tuple[str, str, Any, Any], band: tuple[str, str, Any, Any], res: Any
) -> None:
    """Refuse a band whose georeferenced footprint differs from the first band's by more
    than a pixel (bands of another scene or place in the same folder): it would be resampled
    onto the first band's grid as if it covered the same ground."""
    name0, href0, crs0, bounds0 = first
    name, href, crs, bounds = band
    if crs0 is None or crs is None:
        return  # not georeferenced: nothing to compare but the shapes, which may differ
    tol = 1.5 * max(abs(float(r)) for r in res)
    if crs != crs0 or max(abs(a - b) for a, b in zip(bounds, bounds0, strict=True)) > tol:
        raise InputError(
            f"{path}: band {name} ({Path(href).name}) does not cover the ground of band {name0} "
            f"({Path(href0).name}): bounds {tuple(round(v) for v in bounds)} against "
            f"{tuple(round(v) for v in bounds0)}; the bands of one image must come from one "
            "scene: give each scene's bands in a folder of their own"
        )


def _check_scale(
    path: Path, bands: dict[str, np.ndarray], origins: dict[str, tuple[float, str]]
) -> dict[str, Any]:
    """Refuse Sentinel-2 values that are not plausible as reflectance unless the user set the
    scale; say in the output which scale was applied when the file did not state it.

    Raises :class:`ImageryError` naming the file and the ``--scale`` to give."""
    from basewatch.imagery.bands import check_s2_reflectance

    given = {f for f, o in origins.values() if o == "user"}
    if given:
        _check_given_scale(path, bands, next(iter(given)))
        return {}
    guessed = {o for _, o in origins.values()} & {"name", "default"}
    if not guessed:
        return {}
    factors = {f for f, o in origins.values() if o in ("name", "default")}
    applied = next(iter(factors)) if len(factors) == 1 else None
    check_s2_reflectance(
        {b: v for b, v in bands.items() if b != "scl"}, source=str(path), applied=applied
    )
    if "name" in guessed:
        return {
            "scale": applied,
            "scale_reason": 'Sentinel Hub "Raw" export named in the file name: reflectance '
            "x 65535 (give --scale to override)",
        }
    return {"scale": applied, "scale_reason": "not in the file: reflectance x 10000 assumed"}


MIN_BRIGHTEST_REFLECTANCE = 0.005
"""With a scale the user gave, the brightest 1 % of at least one band must exceed this: land,
ships and even clear water (blue 0.02-0.1) do, values 20 times too dark do not."""


def _check_given_scale(path: Path, bands: dict[str, np.ndarray], scale: float) -> None:
    """Stop, naming ``path`` and the fix, when the user's ``--scale`` makes values that are
    not reflectance: too bright (as for a guessed scale) or far too dark."""
    from basewatch.imagery.bands import check_s2_reflectance

    reflectance = {b: v for b, v in bands.items() if b != "scl"}
    check_s2_reflectance(reflectance, source=f"{path} (--scale {scale:g})", applied=scale)
    tops = [
        float(np.percentile(v[ok], 99))
        for v in reflectance.values()
        if (ok := np.isfinite(v) & (v > 0)).sum() >= 100
    ]
    if tops and max(tops) < MIN_BRIGHTEST_REFLECTANCE:
        raise ImageryError(
            f"{path}: with --scale {scale:g} even the brightest 1 % of every band reads below "
            f"{max(tops):.2g} (land, ships and water read 0.02-1): the scale is too small; "
            "give the reflectance per stored value (1e-4 for L2A x 10000, 1.5259e-05 for "
            "Sentinel Hub UINT16 exports) or leave out --scale"
        )


def cloud_mask(bands: dict[str, np.ndarray]) -> np.ndarray:
    """Clouds without an SCL band: wide patches brighter than :data:`CLOUD_REFLECTANCE` in
    blue, green and red. Bright objects narrower than :data:`CLOUD_MIN_WIDTH_PX` pixels (white
    ships, superstructures, roofs) are not clouds."""
    from scipy import ndimage
    from skimage.morphology import disk

    if not all(b in bands for b in ("blue", "green", "red")):
        return np.zeros(next(iter(bands.values())).shape, dtype=bool)
    bright = np.all([bands[b] > CLOUD_REFLECTANCE for b in ("blue", "green", "red")], axis=0)
    if not bright.any():
        return bright
    return ndimage.binary_opening(bright, structure=disk(CLOUD_MIN_WIDTH_PX // 2))


_OPTICAL_NAME = re.compile(r"Sentinel-2|(?<![A-Za-z0-9])S2[ABC]_|_L[12][AC](?![A-Za-z0-9])")
"""A file name that says Sentinel-2 (a band name of :data:`_BAND_IN_NAME` says it too)."""


def _refuse_optical(path: Path, sensor: str) -> None:
    """Stop when a radar ``--sensor`` is given a file whose name says it is a Sentinel-2
    band: its reflectance would be read as radar amplitude (70 'ships' in one band of the
    Athens export)."""
    name = path.name
    if _OPTICAL_NAME.search(name) or any(p.search(path.stem) for p in _BAND_IN_NAME.values()):
        raise InputError(
            f"{path}: the name says Sentinel-2 (optical), not radar; give --sensor s2 (with "
            f"the folder of its bands), or rename the file if it is radar (--sensor {sensor})"
        )


def read_s1(path: Path, scale: float | None = None) -> Raster:
    """Read a Sentinel-1 sigma0 GeoTIFF (VV, optionally VH) as linear intensity."""
    from basewatch.imagery.bands import canonical_band

    _refuse_optical(path, "s1")
    with _open(path) as src:
        if src.count > 2:
            raise InputError(
                f"{path}: {src.count} bands, --sensor s1 takes 1 (VV) or 2 (VV, VH); "
                "give a sigma0 GeoTIFF or use --sensor sar for a single amplitude band"
            )
        names = {canonical_band(d): i + 1 for i, d in enumerate(src.descriptions) if d}
        vv_index = names.get("vv", 1)
        vh_index = names.get("vh", 2 if src.count == 2 and vv_index == 1 else None)
        integer = not src.dtypes[0].startswith("float")
        bands = {"vv": _to_linear(_read_band(src, vv_index), integer, scale)}
        if vh_index is not None:
            bands["vh"] = _to_linear(_read_band(src, vh_index), integer, scale)
        transform, crs, px = _georef(src)
    valid = np.isfinite(bands["vv"]) & (bands["vv"] > 0)
    return Raster(
        bands=bands,
        valid=valid,
        source=str(path),
        transform=transform,
        crs=crs,
        pixel_size_m=px,
        calibrated=not integer,
    )


def _to_linear(arr: np.ndarray, integer: bool, scale: float | None) -> np.ndarray:
    """Linear intensity from amplitude digital numbers (integers), dB or linear floats."""
    if scale is not None:
        arr = arr * scale
    if integer:
        return arr * arr
    finite = arr[np.isfinite(arr)]
    if finite.size and float(np.median(finite)) < 0:
        return np.asarray(10.0 ** (arr / 10.0))
    return arr


MIN_HIGHRES_EXTENT_M = 40.0
"""A sub-metre image whose longer side covers less ground than this holds no whole aircraft
(a mistaken --gsd: 0.01 m on a 2,560-pixel image is 26 m); refused."""
COLOUR_SPREAD = 0.1
"""Bands differ as a colour image's do when their mean absolute difference exceeds this share
of the image's own variation (mean absolute deviation). Measured: the four HRSID radar chips
stored as RGB 0.000, also after JPEG at quality 95, 80 and 50; the 51 Airbus Pléiades colour
images 0.22-0.66 (median 0.45); blue/green/red of three Sentinel-2 ports 0.41-0.99."""


def colour(arrays: Sequence[np.ndarray]) -> bool:
    """Whether the first three bands of an image differ as a colour image's do (not a grey
    image stored as RGB), judged on every 4th pixel of each axis."""
    if len(arrays) < 3:
        return False
    a, b, c = (np.asarray(x[::4, ::4], np.float64) for x in arrays[:3])
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(c)
    if not ok.any():
        return False
    a, b, c = a[ok], b[ok], c[ok]
    spread = float(np.mean(np.abs(a - np.mean(a)))) or 1.0
    diff = max(float(np.mean(np.abs(a - b))), float(np.mean(np.abs(b - c))))
    return diff > COLOUR_SPREAD * spread


def read_sar(path: Path, scale: float | None = None) -> Raster:
    """Read any single-channel amplitude image (8-bit PNG included) as intensity."""
    _refuse_optical(path, "sar")
    with _open(path) as src:
        if src.count == 0:
            raise ImageryError(f"{path}: the file holds no band; give an amplitude image")
        arrays = [_read_band(src, i) for i in range(1, min(src.count, 3) + 1)]
        if src.count in (3, 4) and colour(arrays):
            raise InputError(
                f"{path}: {src.count} bands that differ as a colour image's do; --sensor sar "
                "takes one amplitude channel (or a grey image stored as RGB): export one "
                "polarisation (e.g. VV) of a radar composite as a grey image; give --sensor s2 "
                "for Sentinel-2 bands, --sensor highres for a sub-metre colour image"
            )
        if src.count in (3, 4):
            amplitude = np.mean(arrays, axis=0)
        elif src.count == 1:
            amplitude = arrays[0]
        else:
            raise InputError(
                f"{path}: {src.count} bands; --sensor sar takes one amplitude channel (or a "
                "grey image stored as RGB); use --sensor s1 for VV+VH"
            )
        transform, crs, px = _georef(src)
        dtype = np.dtype(src.dtypes[0])
    if scale is not None:
        amplitude = amplitude * scale
    elif dtype.kind in "ui":
        amplitude = amplitude / float(np.iinfo(dtype).max)  # display amplitude -> [0, 1]
    finite = amplitude[np.isfinite(amplitude)]
    if finite.size and float(np.median(finite)) < 0:
        intensity = np.asarray(10.0 ** (amplitude / 10.0))  # dB
    else:
        intensity = amplitude * amplitude
    valid = np.isfinite(intensity)
    return Raster(
        bands={"vv": intensity},
        valid=valid,
        source=str(path),
        transform=transform,
        crs=crs,
        pixel_size_m=px,
        calibrated=dtype.kind == "f",
    )


def read_highres(path: Path, scale: float | None = None) -> Raster:
    """Read a sub-metre image (red, green, blue first; one band is grayscale) into [0, 1].

    The values are the network's 8-bit input divided by 255, made by the rule the monitor's
    chip loader also applies (:func:`basewatch.detect.aircraft.asset_stretch`): 8-bit values
    unchanged; 16-bit and float data stretched from the 0.5th to the 99.5th percentile of the
    whole file; with ``scale``, ``value * scale`` in [0, 1] instead.
    """
    from basewatch.detect.aircraft import asset_stretch, scale_stretch, to_input_bytes

    with _open(path) as src:
        if src.count == 2:
            raise InputError(
                f"{path}: 2 bands; --sensor highres needs an RGB (3+ bands) or grayscale image"
            )
        rgb_bands = (1, 2, 3) if src.count >= 3 else (1, 1, 1)
        arrays = [_read_band(src, i) for i in rgb_bands]
        if scale is not None:
            stretch = scale_stretch(scale)
        else:
            stretch = asset_stretch(src, rgb_bands[: src.count])
        transform, crs, px = _georef(src)
        one_band = src.count < 3
    stack = np.dstack(arrays)
    valid = np.all(np.isfinite(stack), axis=2)
    rgb8 = to_input_bytes(stack, stretch)
    bands = {name: rgb8[:, :, i] / 255.0 for i, name in enumerate(("red", "green", "blue"))}
    notes = {} if stretch.rule == "8-bit" else {"input_stretch": stretch.describe()}
    if one_band or not colour(arrays):
        notes["greyscale"] = "one band" if one_band else "three (nearly) equal bands"
    return Raster(
        bands=bands,
        valid=valid,
        source=str(path),
        transform=transform,
        crs=crs,
        pixel_size_m=px,
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------------------------


def detect_s2(
    raster: Raster, gsd_m: float, model: Path | None
) -> tuple[list[Detection], str | None]:
    """Ships in a Sentinel-2 raster with the trained ship model (``model`` replaces it).

    Runs :func:`basewatch.detect.optical.detect_ships` (the ONNX model of
    :mod:`basewatch.detect.ships_s2`) over the usable pixels near the image's water.
    """
    from basewatch.detect import optical

    clear = float(raster.valid.mean()) if raster.valid.size else 0.0
    if clear < MIN_CLEAR_FRACTION:
        return [], (
            f"fully cloudy or no data ({clear:.1%} of the pixels are usable); if the image is "
            "clear, its values may be scaled otherwise, e.g. --scale 1.5259e-5 for reflectance "
            "x 65535 (Sentinel Hub UINT16)"
        )
    from basewatch.detect.ships_s2 import water_any

    water = water_any(raster.bands, raster.valid)  # from whatever bands the image has
    if water.sum() < 25:
        return [], "no water in the image (all land): nothing to search for ships"
    dets = optical.detect_ships(
        raster.bands, pixel_size_m=gsd_m, valid=raster.valid, water=water, model=model
    )
    return dets, None


def detect_radar(
    raster: Raster, gsd_m: float, model: Path | None
) -> tuple[list[Detection], str | None]:
    """Ships in a radar raster with :func:`basewatch.detect.sar.detect` over its own water."""
    from basewatch.detect import sar

    lo, hi = RADAR_GSD_RANGE_M
    if not lo <= gsd_m <= hi:
        raise InputError(
            f"{raster.source}: a radar pixel of {gsd_m:g} m is outside {lo:g}-{hi:g} m (Sentinel-1 "
            "IW GRD 10 m, HRSID-like chips 0.5-3 m); give the image's pixel size with --gsd"
        )
    image = np.where(raster.valid, raster.bands["vv"], np.nan)
    if not np.isfinite(image).any() or float(np.nanmax(image)) <= 0:
        return [], "no data in the image"
    water = sar.water_mask(image, pixel_size_m=gsd_m, calibrated=raster.calibrated)
    if not water.any():
        return [], "no water in the image (all land): nothing to search for ships"
    return sar.detect(image, pixel_size_m=gsd_m, search_mask=water, target="ship"), None


RADAR_GSD_RANGE_M = (0.1, 100.0)
"""Radar pixel sizes the ship detector accepts (metres): spotlight modes to wide swaths."""
COAST_BUFFER_M = 200.0
"""GSHHG land closer than this to its coastline stays searchable (quays, piers, moles that
the 1:250 000 coastline draws as land; ships moored alongside)."""
COAST_SAMPLE_M = 50.0
"""Spacing (metres) at which the coastline land mask is sampled, then spread to pixels."""


@lru_cache(maxsize=1)
def _landmask() -> Any:
    """The GSHHG full-resolution land mask of ``roaring-landmask`` (loaded once, ~10 s), or
    None when the package (extra ``[coast]``) is not installed."""
    try:
        from roaring_landmask import RoaringLandmask
    except ImportError:
        return None
    return RoaringLandmask.new()


def coastline_land(raster: Raster, gsd_m: float) -> np.ndarray | None:
    """Land far from the coast for a georeferenced raster, from the GSHHG shoreline.

    Pixels on GSHHG land more than :data:`COAST_BUFFER_M` from its coastline, where bright
    buildings would otherwise pass for ships wherever the image's own water mask lets them
    in. None without a georeference or without the ``roaring-landmask`` package."""
    if raster.transform is None or raster.crs is None:
        return None
    mask = _landmask()
    if mask is None:
        return None
    from pyproj import Transformer
    from scipy import ndimage

    rows, cols = raster.shape
    step = max(1, int(round(COAST_SAMPLE_M / gsd_m)))
    rr, cc = np.mgrid[0 : rows + step : step, 0 : cols + step : step]
    xs, ys = raster.transform @ (cc.ravel() + 0.5, rr.ravel() + 0.5)
    lon, lat = Transformer.from_crs(raster.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    land = np.asarray(mask.contains_many(np.asarray(lon, float), np.asarray(lat, float)))
    land = land.reshape(rr.shape)
    inland = ndimage.distance_transform_edt(land) * step * gsd_m > COAST_BUFFER_M
    full = np.repeat(np.repeat(inland, step, axis=0), step, axis=1)
    offset = step // 2  # samples sit at pixel centres 0, step, ...: centre the blocks on them
    full = np.pad(full, ((offset, 0), (offset, 0)), mode="edge")
    return full[:rows, :cols]


def _without_inland(raster: Raster, gsd_m: float) -> tuple[Raster, str]:
    """The raster with GSHHG land far from the coast masked out, and what was done."""
    from dataclasses import replace

    if raster.transform is None:
        raise InputError(
            f"{raster.source}: --coastline needs a georeferenced image; leave it out for chips "
            "without georeference (their water mask comes from the image alone)"
        )
    if _landmask() is None:
        raise InputError(
            "--coastline needs the roaring-landmask package: pip install 'basewatch[coast]'"
        )
    land = coastline_land(raster, gsd_m)
    if land is None:  # not reached: georeferenced and the package is present
        return raster, "coastline not applied"
    share = float((land & raster.valid).mean())
    note = f"GSHHG land > {COAST_BUFFER_M:g} m inland left out ({share:.1%} of the pixels)"
    return replace(raster, valid=raster.valid & ~land), note


def detect_highres(
    raster: Raster, gsd_m: float, model: Path | None
) -> tuple[list[Detection], str | None]:
    """Aircraft in a sub-metre RGB raster (the highres entry of :data:`DISPATCH`).

    The trained detector (:func:`basewatch.detect.aircraft.detect_aircraft`) runs on the 8-bit
    image; ``model`` replaces the shipped ONNX, or is a YOLO export run with
    :mod:`basewatch.detect.yolo` (its classes as the model names them). Vehicles and ships in
    sub-metre images are counted per zone by the classical detector in ``monitor``; on whole
    airport images it finds too many look-alikes to be offered here.
    """
    from basewatch.detect import aircraft, yolo

    rgb = np.dstack([raster.bands[b] for b in ("red", "green", "blue")])
    rgb8 = aircraft.fraction_to_uint8(rgb)  # back to the bytes read_highres made
    if model is not None and yolo.is_yolo_model(model):
        return yolo.detect_yolo(rgb8, model, gsd_m=gsd_m), None
    return aircraft.detect_aircraft(rgb8, gsd_m, model, search_mask=raster.valid), None


def _detector_name(
    sensor: str, bands: Mapping[str, object] | None = None, model: Path | None = None
) -> str:
    """``name/version`` of the detector behind ``sensor``; for Sentinel-2 with the shipped
    models, the one that runs on ``bands`` (:func:`basewatch.detect.ships_s2.identity`);
    with a user's ``model`` file, :func:`_user_model_name`."""
    from basewatch.detect import aircraft, sar, ships_s2

    if model is not None:
        return _user_model_name(sensor, model)
    if sensor == "s2" and bands is not None:
        return "/".join(ships_s2.identity(bands))
    module = {"s1": sar, "sar": sar, "s2": ships_s2, "highres": aircraft}[sensor]
    return f"{module.NAME}/{module.VERSION}"


def _user_model_name(sensor: str, model: Path) -> str:
    """``name/version`` of a user's model file (``--model``): the detector it runs in and the
    version its metadata give, then the file's name and the start of its SHA-256, so that
    detections of different weights never carry the shipped model's name."""
    import hashlib

    from basewatch.detect import aircraft, ships_s2

    if sensor == "s2":
        _, info = ships_s2.load_model(model)
        name = ships_s2.PARTIAL_NAME if ships_s2.is_verifier(info) else ships_s2.NAME
    else:
        _, info = aircraft.load_model(model)
        name = aircraft.NAME
    digest = hashlib.sha256(model.read_bytes()).hexdigest()[:12]
    return f"{name}/{info.version} (user model {model.name}, sha256 {digest})"


DISPATCH: dict[str, tuple[Reader, Detector]] = {
    "s1": (read_s1, detect_radar),
    "sar": (read_sar, detect_radar),
    "s2": (read_s2, detect_s2),
    "highres": (read_highres, detect_highres),
}
"""Sensor -> (reader, detector)."""


# --------------------------------------------------------------------------------------------
# Running and writing
# --------------------------------------------------------------------------------------------


def detect_image(
    path: str | Path,
    *,
    sensor: str,
    gsd_m: float | None = None,
    model: str | Path | None = None,
    scale: float | None = None,
    coastline: bool = False,
) -> DetectResult:
    """Read one image and run the detector for ``sensor`` on it.

    Args:
        path: the image (for ``s2`` also a band folder or a STAC item JSON).
        sensor: ``s1``, ``sar``, ``s2`` or ``highres``.
        gsd_m: pixel size in metres; None: from the georeference (required without one).
        model: weights file for a learned stage; None: the detector's default.
        scale: multiply stored values by this (e.g. ``1/65535`` for reflectance stored over
            the full uint16 range); None: from the file, else the sensor's convention.
        coastline: radar only: leave out land more than :data:`COAST_BUFFER_M` inland of the
            GSHHG coastline (georeferenced images; needs the ``[coast]`` extra).

    Returns:
        The detections and what is needed to write them.
    """
    if sensor not in DISPATCH:
        raise InputError(f"sensor must be one of {', '.join(SENSORS)}; got {sensor!r}")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise InputError(f"scale must be a positive number, got {scale!r}")
    src = Path(path)
    reader, detector = DISPATCH[sensor]
    raster = reader(src, scale)
    px = gsd_m if gsd_m is not None else raster.pixel_size_m
    if px is None:
        raise InputError(f"{src}: no georeference, so the pixel size is unknown; give --gsd METRES")
    if not (math.isfinite(px) and px > 0):
        raise InputError(f"gsd must be a positive number of metres, got {px!r}")
    rows, cols = raster.valid.shape
    if sensor == "highres" and max(rows, cols) * px < MIN_HIGHRES_EXTENT_M:
        raise InputError(
            f"{src}: at {px:g} m a pixel the image covers {cols * px:.1f} x {rows * px:.1f} m, "
            "too little to hold an aircraft; check --gsd (metres per pixel, e.g. 0.5 for "
            "Pléiades, 0.02 for a drone orthophoto)"
        )
    model_path = Path(model) if model is not None else None
    if model_path is not None and sensor not in MODEL_SENSORS:
        raise InputError(
            f"--model {model_path}: the {sensor} detector has no learned stage in this version; "
            "leave out --model"
        )
    if model_path is not None and not model_path.exists():
        raise InputError(f"{model_path}: no such model file; check --model")
    extra: dict[str, Any] = {"clear_fraction": round(float(raster.valid.mean()), 4)}
    if sensor == "s2":
        extra["bands"] = [b for b in S2_BANDS if b in raster.bands]
        missing = [b for b in S2_REQUIRED if b not in raster.bands]
        if missing:
            log.warning(
                "%s: no %s band: the band-robust detector %s runs on %s (it finds fewer ships "
                "than the four-band one; see README)",
                src,
                ", ".join(missing),
                _detector_name(sensor, raster.bands, model_path),
                ", ".join(extra["bands"]),
            )
    if sensor == "highres" and "greyscale" in raster.notes:
        log.warning(
            "%s: a greyscale image (%s): the aircraft detector is trained on colour images "
            "and finds fewer aircraft and more look-alikes in grey ones; a radar image needs "
            "--sensor sar",
            src,
            raster.notes["greyscale"],
        )
    if coastline and sensor in ("s1", "sar"):
        raster, extra["coastline"] = _without_inland(raster, px)
    if not raster.valid.any():
        detections: list[Detection] = []
        reason: str | None = "no data in the image (every pixel is no-data or masked)"
    else:
        detections, reason = detector(raster, px, model_path)
        if not detections and reason is None and _blank(raster):
            reason = "the image is blank (every usable pixel has the same value)"
    return DetectResult(
        source=str(src),
        sensor=sensor,
        detector=_detector_name(sensor, raster.bands, model_path),
        detections=detections,
        transform=raster.transform,
        crs=raster.crs,
        pixel_size_m=px,
        reason=reason,
        extra={**extra, **raster.notes},
    )


def _blank(raster: Raster) -> bool:
    """Whether every usable pixel of every band holds one value (an all-zero export)."""
    return all(
        float(np.nanmax(band[raster.valid])) == float(np.nanmin(band[raster.valid]))
        for band in raster.bands.values()
    )


def footprint_px(det: Detection, pixel_size_m: float) -> list[tuple[float, float]]:
    """Corners ``(x, y)`` of a detection's footprint in pixel-edge coordinates (pixel ``i``
    spans ``[i, i + 1]``, as the affine transform expects).

    The oriented rectangle of its length, width and heading where known, else its box.
    """
    if det.length_m and det.width_m:
        col, row = det.centroid_px[0] + 0.5, det.centroid_px[1] + 0.5
        h = math.radians(det.heading_deg or 0.0)
        half_l = det.length_m / pixel_size_m / 2.0
        half_w = det.width_m / pixel_size_m / 2.0
        along = (math.sin(h), -math.cos(h))  # (d col, d row) of the major axis
        across = (math.cos(h), math.sin(h))
        return [
            (
                col + a * half_l * along[0] + b * half_w * across[0],
                row + a * half_l * along[1] + b * half_w * across[1],
            )
            for a, b in ((1, 1), (1, -1), (-1, -1), (-1, 1))
        ]
    c0, r0, w, h_px = det.bbox_px
    return [(c0, r0), (c0 + w, r0), (c0 + w, r0 + h_px), (c0, r0 + h_px)]


def to_feature_collection(result: DetectResult) -> dict[str, Any]:
    """The detections of one image as a GeoJSON FeatureCollection (DESIGN.md format)."""
    to_wgs = None
    if result.transform is not None and result.crs is not None:
        from pyproj import Transformer

        to_wgs = Transformer.from_crs(result.crs, "EPSG:4326", always_xy=True)
    features = []
    for det in result.detections:
        geometry = None
        if to_wgs is not None:
            corners = [result.transform @ c for c in footprint_px(det, result.pixel_size_m or 1.0)]
            lon, lat = to_wgs.transform([p[0] for p in corners], [p[1] for p in corners])
            ring = [[round(float(x), 7), round(float(y), 7)] for x, y in zip(lon, lat, strict=True)]
            geometry = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
        props: dict[str, Any] = {
            "bbox_px": [int(v) for v in det.bbox_px],
            "score": round(float(det.score), 4),
            "class": det.cls,
            "length_m": None if det.length_m is None else round(float(det.length_m), 1),
            "centroid_px": [round(float(v), 2) for v in det.centroid_px],
        }
        for key in ("width_m", "heading_deg"):
            value = getattr(det, key)
            if value is not None:
                props[key] = round(float(value), 1)
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    meta: dict[str, Any] = {
        "source": result.source,
        "sensor": result.sensor,
        "detector": result.detector,
        "pixel_size_m": None if result.pixel_size_m is None else round(result.pixel_size_m, 3),
        "georeferenced": to_wgs is not None,
        "count": len(features),
        **result.extra,
    }
    if result.reason:
        meta["reason"] = result.reason
    return {"type": "FeatureCollection", "basewatch": meta, "features": features}


def output_paths(images: Sequence[Path], out: Path) -> list[Path]:
    """Where each image's detections go: ``out`` itself for one image (unless it is an
    existing folder, or a new path without a suffix), else ``out/<image stem>.geojson``;
    never over an input (an image, a STAC item, a file of a band folder)."""
    new_folder = not out.exists() and not out.suffix  # "--out results": a folder to make
    if len(images) == 1 and not out.is_dir() and not new_folder:
        if out.suffix.lower() not in (".geojson", ".json"):
            raise InputError(
                f"--out {out}: detections are GeoJSON; name the file .geojson (or give a folder)"
            )
        refuse_overwriting([out], images)
        return [out]
    if out.exists() and not out.is_dir():
        raise InputError(
            f"--out {out} is a file but {len(images)} images were given; give a folder"
        )
    if not out.exists() and out.suffix.lower() in (".geojson", ".json"):
        raise InputError(
            f"--out {out} names a file but {len(images)} images were given; give a folder "
            "(each image gets FOLDER/<image>.geojson) or one image"
        )
    names = [image.stem if image.is_file() else image.resolve().name for image in images]
    paths = [out / f"{name}.geojson" for name in names]  # "detect ." names it by its folder
    seen: dict[Path, Path] = {}
    for image, target in zip(images, paths, strict=True):
        if target in seen:
            raise InputError(
                f"{image} and {seen[target]} would both write {target}; rename one of them"
            )
        seen[target] = image
    refuse_overwriting(paths, images)
    return paths


def run_detect(
    images: Sequence[str | Path],
    *,
    sensor: str,
    out: str | Path,
    gsd_m: float | None = None,
    model: str | Path | None = None,
    scale: float | None = None,
    coastline: bool = False,
    written: Callable[[Path, DetectResult], None] | None = None,
) -> list[tuple[Path, DetectResult]]:
    """Detect objects in every image and write one GeoJSON per image.

    Returns ``(written path, result)`` per image, in the order given. ``written`` is called
    with each as soon as its file is written, so a caller can report what was written
    before a bad image stops the run.
    """
    if not images:
        raise InputError("no image given; pass at least one IMAGE")
    sources = [Path(p) for p in images]
    targets = output_paths(sources, Path(out))
    done: list[tuple[Path, DetectResult]] = []
    for source, target in zip(sources, targets, strict=True):
        result = detect_image(
            source, sensor=sensor, gsd_m=gsd_m, model=model, scale=scale, coastline=coastline
        )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(to_feature_collection(result), indent=1) + "\n")
        except OSError as exc:
            raise cannot_write(target, exc) from exc
        done.append((target, result))
        if written is not None:
            written(target, result)
    return done

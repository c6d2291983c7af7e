"""Read one zone's window from a scene, reprojected to the zone's UTM grid, with its clear mask.

GDAL's and rasterio's warnings about a file become basewatch warnings that name the file
(logger ``basewatch.imagery.load``). Chips are read by several threads at once, so this is
done without :func:`warnings.catch_warnings` (not thread-safe): the georeference rasterio
would warn about is checked here up front and named in the chip's error, rasterio's own
``NotGeoreferencedWarning`` about it is filtered out once, and GDAL's warnings (which
rasterio logs under the ``rasterio`` logger) are logged again with the file that the thread
logging them is reading (a thread-local name, :func:`reading`).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from basewatch.errors import ImageryError
from basewatch.imagery.cache import chip_key, default_cache_dir, read_cached, write_cached
from basewatch.imagery.catalog import Scene
from basewatch.imagery.chip import Chip
from basewatch.imagery.net import DEFAULT_NETWORK, NetworkParams, gdal_options, is_remote
from basewatch.sites import Zone

log = logging.getLogger(__name__)

warnings.filterwarnings(
    "ignore", message="Dataset has no geotransform, gcps, or rpcs", module="rasterio"
)  # rasterio's NotGeoreferencedWarning: _check_georeference names the file instead

_current = threading.local()

IN_MEMORY = threading.Lock()
"""Held while rasterio makes GDAL datasets of numpy arrays (``rasterize``, ``reproject`` of
arrays). rasterio silences its own ``NotGeoreferencedWarning`` about such a dataset (it has
no geotransform until rasterio sets one) with :func:`warnings.catch_warnings`, which is not
thread-safe: with two reading threads doing it at once, one thread's exit restores filters
under the other, whose warning then leaks (printed raw, with a site-packages path, by Dask
workers). One thread at a time keeps rasterio's own filter in force."""


@contextmanager
def reading(href: str) -> Iterator[None]:
    """Name ``href`` as the file this thread reads: GDAL warnings logged meanwhile name it."""
    previous = getattr(_current, "href", None)
    _current.href = href
    try:
        yield
    finally:
        _current.href = previous


BENIGN_GDAL_WARNINGS = (
    "got from GeoTIFF keys is not the same as the one from the EPSG registry",
    "internal_proj_create_from_database: datum not found: EPSG:1",
    "internal_proj_create_from_database: ellipsoid not found: EPSG:1",
)
"""GDAL warnings that are logged at debug level only. Sentinel Hub exports (every sen2ships
port) carry datum and ellipsoid code 1 (no such EPSG code) beside geographic CRS 4326 in their
GeoTIFF keys; GDAL says so three times on every open, although the coordinates are the same
either way (checked on the Athens export: identical longitude and latitude with
``GTIFF_SRS_SOURCE`` set to ``EPSG`` and to the file's keys)."""


class _NameTheFile(logging.Handler):
    """Logs the warnings of rasterio's loggers (GDAL's CE_Warning messages) again as
    basewatch warnings that start with the file the logging thread is reading (those in
    :data:`BENIGN_GDAL_WARNINGS` as debug messages)."""

    def emit(self, record: logging.LogRecord) -> None:
        href = getattr(_current, "href", None)
        text = " ".join(record.getMessage().split())
        if any(benign in text for benign in BENIGN_GDAL_WARNINGS):
            log.debug("%s: GDAL: %s", href or "(reading)", text)
        elif href:
            log.warning("%s: GDAL: %s", href, text)
        else:
            log.warning("GDAL: %s", text)


if not any(isinstance(h, _NameTheFile) for h in logging.getLogger("rasterio").handlers):
    logging.getLogger("rasterio").addHandler(_NameTheFile(logging.WARNING))


def gdal_reason(exc: BaseException) -> str:
    """What GDAL said about a failed read: rasterio's ``Read failed. See previous exception
    for details.`` replaced by that previous exception (``band 1: IReadBlock failed ...``)."""
    text = str(exc)
    cause = exc.__cause__
    while cause is not None and "previous exception" in text:
        text, cause = str(cause), cause.__cause__
    return " ".join(text.split())


def _check_georeference(href: str, src: Any) -> None:
    """Raise ImageryError naming ``href`` when the open dataset ``src`` has neither a CRS
    nor ground control points (a photo renamed .tif): it cannot be placed on a zone."""
    if src.crs is None and not src.gcps[0]:
        raise ImageryError(
            f"{href}: the image has no georeference (no CRS, no ground control points); "
            "give a georeferenced GeoTIFF"
        )


SCL_UNUSABLE = frozenset({0, 1, 3, 8, 9, 10})
"""SCL classes masked out: no data, saturated/defective, cloud shadow, cloud medium/high, cirrus."""


@dataclass(frozen=True, kw_only=True)
class LoadParams:
    """How a zone's window is cut from a scene."""

    margin_m: float = 300.0
    """Margin around the zone's bounds for 10 m sensors (background for CFAR and contrast)."""
    highres_margin_m: float = 40.0
    """Margin around the zone's bounds for sub-metre imagery."""
    resolution_m: float = 10.0
    """Grid spacing for Sentinel-1 and Sentinel-2 (their native 10 m)."""
    net: NetworkParams = DEFAULT_NETWORK
    """Retries and timeouts of COG reads over HTTP."""
    cache_dir: Path | None = None
    """Cache every chip here; None caches only chips of remote scenes, in
    :func:`~basewatch.imagery.cache.default_cache_dir` (``BASEWATCH_CACHE_DIR`` sets it
    and then caches every chip)."""
    use_cache: bool = True
    """False bypasses the cache (neither reads nor writes it); so does ``BASEWATCH_NO_CACHE=1``."""
    io_threads: int = 2
    """Scenes read at the same time, ahead of the detectors, in each process that observes
    chips (threads: GDAL reads and warps without holding the GIL). More hide network latency:
    with 100 ms per request, 8 threads read about 8 times as many chips per second as one."""


def cache_dir_for(scene: Scene, params: LoadParams) -> Path | None:
    """Where ``scene``'s chips are cached under ``params``, or None when they are not."""
    if not params.use_cache or os.environ.get("BASEWATCH_NO_CACHE", "") not in ("", "0"):
        return None
    if params.cache_dir is not None:
        return Path(params.cache_dir)
    if os.environ.get("BASEWATCH_CACHE_DIR"):
        return default_cache_dir()
    if any(is_remote(h) for h in scene.assets.values()):
        return default_cache_dir()
    return None


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM CRS of the zone containing ``(lon, lat)``."""
    return _epsg_crs(_utm_code(lon, lat))


def _utm_code(lon: float, lat: float) -> int:
    number = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + number


@functools.lru_cache(maxsize=128)
def _epsg_crs(code: int) -> CRS:
    return CRS.from_epsg(code)


@functools.lru_cache(maxsize=128)
def _from_wgs84(code: int) -> Transformer:
    return Transformer.from_crs("EPSG:4326", _epsg_crs(code), always_xy=True)


def zone_grid(
    geometry: BaseGeometry, *, resolution_m: float, margin_m: float
) -> tuple[CRS, Affine, int, int, BaseGeometry]:
    """The UTM grid around ``geometry``: (crs, transform, width, height, geometry in UTM).

    The grid is snapped to multiples of ``resolution_m`` so that chips of one zone from
    different scenes line up pixel for pixel.
    """
    c = geometry.centroid
    code = _utm_code(c.x, c.y)
    crs, to_utm = _epsg_crs(code), _from_wgs84(code)
    projected = shapely.transform(geometry, lambda xy: np.column_stack(to_utm.transform(*xy.T)))
    minx, miny, maxx, maxy = projected.bounds
    r = resolution_m
    x0 = math.floor((minx - margin_m) / r) * r
    y1 = math.ceil((maxy + margin_m) / r) * r
    x1 = math.ceil((maxx + margin_m) / r) * r
    y0 = math.floor((miny - margin_m) / r) * r
    width, height = round((x1 - x0) / r), round((y1 - y0) / r)
    return crs, Affine(r, 0.0, x0, 0.0, -r, y1), width, height, projected


def ground_pixel_size(transform: Any, crs: str, width: int, height: int) -> float:
    """Geodesic size (metres) of one pixel at the image centre, the mean of both axes.

    Web Mercator "metres" are not ground metres (a 10 m EPSG:3857 pixel is 7.9 m at 38 N);
    this measures the real size on the WGS84 ellipsoid.
    """
    from pyproj import Geod, Transformer

    to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    c, r = width / 2.0, height / 2.0
    pts = [transform @ (c, r), transform @ (c + 1, r), transform @ (c, r + 1)]
    lon, lat = to_wgs.transform([p[0] for p in pts], [p[1] for p in pts])
    geod = Geod(ellps="WGS84")
    _, _, dx = geod.inv(lon[0], lat[0], lon[1], lat[1])
    _, _, dy = geod.inv(lon[0], lat[0], lon[2], lat[2])
    return float((abs(dx) + abs(dy)) / 2.0)


def _native_resolution_m(href: str, net: NetworkParams, source: Any = None) -> float:
    import rasterio

    try:
        with ExitStack() as stack:
            stack.enter_context(reading(href))
            src = source
            if src is None:
                stack.enter_context(rasterio.Env(**gdal_options(net)))
                src = stack.enter_context(rasterio.open(href))
            _check_georeference(href, src)
            res = abs(src.transform.a)
            if src.crs is not None and src.crs.is_geographic:
                lat = (src.bounds.top + src.bounds.bottom) / 2
                res *= 111_320.0 * math.cos(math.radians(lat))
            return float(res)
    except rasterio.errors.RasterioError as exc:
        raise ImageryError(f"{href}: cannot open the image ({gdal_reason(exc)})") from exc


def _read_warped(
    href: str,
    *,
    crs: CRS,
    transform: Affine,
    width: int,
    height: int,
    nearest: bool,
    net: NetworkParams = DEFAULT_NETWORK,
    indexes: tuple[int, ...] | None = None,
    source: Any = None,
) -> np.ndarray:
    """Read every band of ``href`` warped onto the given grid (only the needed blocks are read).

    A grid-referenced image is warped through its geotransform, a GCP-referenced one
    (Sentinel-1 GRD) through its ground control points. Over HTTP only the byte ranges of
    the internal tiles the window touches are requested, with retries (see ``net``).
    ``source`` is ``href`` already opened (by :class:`_Sources`): the zones of one site then
    share its header and its cache of decoded tiles, so a tile they share is read once.
    """
    import rasterio

    try:
        with ExitStack() as stack:
            stack.enter_context(reading(href))
            src = source
            if src is None:
                stack.enter_context(rasterio.Env(**gdal_options(net)))
                src = stack.enter_context(rasterio.open(href))
            data, mask = _warp(href, src, crs, transform, width, height, nearest, indexes)
    except rasterio.errors.RasterioError as exc:
        raise read_failure(href, exc) from exc
    if mask is None:
        return data
    out = data.astype(np.float32)
    out[:, ~mask] = np.nan
    return out


NETWORK_WORDS = (
    "resolve host",
    "timed out",
    "timeout",
    "connection",
    "connect to",
    "http",
    "ssl",
    "curl",
    "403",
    "404",
    "access denied",
)
"""Words of a GDAL reason that tell a network failure from a bad file."""


def read_failure(href: str, exc: Exception) -> ImageryError:
    """The error for an image GDAL cannot open or read: a network failure for a remote
    ``href`` whose reason says so (the server, the address or credentials to check), else a
    bad file (truncated, not a GeoTIFF)."""
    reason = gdal_reason(exc)
    remote = "://" in href and not href.startswith("file://")
    if remote and any(word in reason.lower() for word in NETWORK_WORDS):
        hint = (
            "the server could not be reached or refused the request; check the network, "
            "the address and any credentials (public AWS buckets: AWS_NO_SIGN_REQUEST=YES); "
            "the chip is tried again on the next run"
        )
    else:
        hint = "the file may be truncated or not a GeoTIFF"
    return ImageryError(f"{href}: cannot read the image ({reason}); {hint}")


def _warp(
    href: str,
    src: Any,
    crs: CRS,
    transform: Affine,
    width: int,
    height: int,
    nearest: bool,
    indexes: tuple[int, ...] | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(data, valid mask)`` of ``src`` on the grid; mask None when ``data`` is final."""
    from rasterio.enums import Resampling

    _check_georeference(href, src)
    nodata = src.nodata if src.nodata is not None else (0 if src.dtypes[0] == "uint16" else None)
    resampling = Resampling.nearest if nearest else Resampling.bilinear
    if src.crs is None:
        return _read_gcp(src, crs, transform, width, height, resampling, nodata, indexes), None
    same_crs = src.crs.to_string() == crs.srs  # "EPSG:32636" for both (zone grids: EPSG codes)
    _check_overlap(href, src, crs if not same_crs else None, transform, width, height)
    step = _grid_step(src, transform) if same_crs else None
    if step is not None:
        return _read_aligned(src, transform, width, height, step, nearest, nodata, indexes)
    return _read_vrt(src, crs, transform, width, height, resampling, nodata, indexes)


def _read_vrt(
    src: Any,
    crs: CRS,
    transform: Affine,
    width: int,
    height: int,
    resampling: Any,
    nodata: float | None,
    indexes: tuple[int, ...] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(data, valid mask)`` of ``src`` warped onto the grid by GDAL's warper."""
    from rasterio.vrt import WarpedVRT

    with WarpedVRT(
        src,
        crs=crs.to_wkt(),
        transform=transform,
        width=width,
        height=height,
        resampling=resampling,
        src_nodata=nodata,
        nodata=nodata,
    ) as vrt:
        data = vrt.read(list(indexes) if indexes else None)
        mask = vrt.dataset_mask() > 0 if nodata is not None else np.ones(data.shape[1:], bool)
    return data, mask


def _grid_step(src: Any, transform: Affine) -> int | None:
    """``k`` when the grid (in ``src``'s CRS) is ``src``'s own pixel grid, each source pixel
    split into k x k grid pixels (k a whole number); else None.

    On such a grid the warper's result can be had without it (:func:`_read_aligned`), which
    costs far less CPU than GDAL's warper. Sentinel-1 and -2 COGs in the zone's UTM zone lie
    on such grids (10 m pixels on multiples of 10 m; the 20 m bands k = 2).
    """
    st = src.transform
    if st.b or st.d or transform.b or transform.d or st.e != -st.a or transform.e != -transform.a:
        return None
    r = transform.a
    ratio = st.a / r
    step = round(ratio)
    if step < 1 or abs(ratio - step) > 1e-9:
        return None
    cols, rows = (transform.c - st.c) / r, (st.f - transform.f) / r
    if abs(cols - round(cols)) > 1e-6 or abs(rows - round(rows)) > 1e-6:
        return None
    return step


def _read_aligned(
    src: Any,
    transform: Affine,
    width: int,
    height: int,
    step: int,
    nearest: bool,
    nodata: float | None,
    indexes: tuple[int, ...] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(data, valid mask)`` of ``src`` on a grid :func:`_grid_step` accepted, computed from
    a window of the source as GDAL's warper computes it, pixel for pixel.

    Nearest (and bilinear at k = 1, where its weights are 1 and 0) takes the source pixel
    under each grid pixel's centre; bilinear at k > 1 weighs the four source pixels around
    the centre, leaving out those off the image or nodata and renormalising the weights,
    and rounds to the nearest integer for integer data. Grid pixels without data get
    ``nodata`` (0 without one) and, with a nodata value, are not valid; a pixel is valid
    when any band holds data (GDAL's dataset mask).
    """
    bands = list(indexes) if indexes else list(range(1, src.count + 1))
    st = src.transform
    col0 = round((transform.c - st.c) / transform.a)
    row0 = round((st.f - transform.f) / transform.a)
    fill = 0 if nodata is None else nodata
    if nearest or step == 1:
        out = _nearest_window(src, bands, col0, row0, width, height, step, fill)
    else:
        out = _bilinear_window(src, bands, col0, row0, width, height, step, nodata)
    if nodata is None:
        return out, np.ones((height, width), bool)
    valid = np.zeros((height, width), bool)
    for band in out:
        valid |= ~np.isnan(band) if np.isnan(nodata) else band != nodata
    return out, valid


def _nearest_window(
    src: Any,
    bands: list[int],
    col0: int,
    row0: int,
    width: int,
    height: int,
    step: int,
    fill: float,
) -> np.ndarray:
    """The source pixel under each grid pixel's centre (``fill`` off the image)."""
    from rasterio.windows import Window

    src_cols = np.floor_divide(col0 + np.arange(width), step)
    src_rows = np.floor_divide(row0 + np.arange(height), step)
    inside_c = np.flatnonzero((src_cols >= 0) & (src_cols < src.width))
    inside_r = np.flatnonzero((src_rows >= 0) & (src_rows < src.height))
    out = np.full((len(bands), height, width), fill, src.dtypes[0])
    if inside_c.size and inside_r.size:  # contiguous runs: the grid's part over the image
        cols, rows = src_cols[inside_c], src_rows[inside_r]
        c0, r0 = int(cols[0]), int(rows[0])
        window = Window(c0, r0, int(cols[-1]) + 1 - c0, int(rows[-1]) + 1 - r0)
        block = src.read(bands, window=window)
        if step > 1:
            block = block[:, rows - r0][:, :, cols - c0]
        out[:, inside_r[0] : inside_r[-1] + 1, inside_c[0] : inside_c[-1] + 1] = block
    return out


def _bilinear_window(
    src: Any,
    bands: list[int],
    col0: int,
    row0: int,
    width: int,
    height: int,
    step: int,
    nodata: float | None,
) -> np.ndarray:
    """Bilinear interpolation of the source at each grid pixel's centre, as GDAL's warper
    does it: only where the source pixel under the centre holds data, from its valid
    neighbours with their weights renormalised, integers rounded to the nearest."""
    from rasterio.windows import Window

    at_c = (col0 + np.arange(width) + 0.5) / step - 0.5  # centres in source pixel units
    at_r = (row0 + np.arange(height) + 0.5) / step - 0.5
    cols, rows = np.floor(at_c).astype(np.int64), np.floor(at_r).astype(np.int64)
    col_w, row_w = at_c - cols, at_r - rows
    c0, c1 = max(int(cols[0]), 0), min(int(cols[-1]) + 2, src.width)
    r0, r1 = max(int(rows[0]), 0), min(int(rows[-1]) + 2, src.height)
    dtype = np.dtype(src.dtypes[0])
    out = np.full((len(bands), height, width), 0 if nodata is None else nodata, dtype)
    if c1 <= c0 or r1 <= r0:
        return out
    block = src.read(bands, window=Window(c0, r0, c1 - c0, r1 - r0)).astype(np.float64)
    under_c = np.floor_divide(col0 + np.arange(width), step) - c0
    under_r = np.floor_divide(row0 + np.arange(height), step) - r0
    for i, values in enumerate(block):
        if nodata is None:
            ok = np.ones(values.shape, bool)
        else:
            ok = ~np.isnan(values) if np.isnan(nodata) else values != nodata
        total = np.zeros((height, width))
        weight = np.zeros((height, width))
        for dr, wr in ((0, 1 - row_w), (1, row_w)):
            for dc, wc in ((0, 1 - col_w), (1, col_w)):
                v, has = _pick(values, ok, rows + dr - r0, cols + dc - c0)
                w = np.where(has, np.outer(wr, wc), 0.0)
                total += w * v
                weight += w
        _, centre = _pick(values, ok, under_r, under_c)
        good = centre & (weight >= 1e-5)
        value = total[good] / weight[good]
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            value = np.clip(np.floor(value + 0.5), info.min, info.max)
        out[i][good] = value.astype(dtype)
    return out


def _pick(
    values: np.ndarray, ok: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``values[rows][:, cols]`` (0 where not held) and where it holds data (``ok`` and
    inside ``values``)."""
    on_r = (rows >= 0) & (rows < values.shape[0])
    on_c = (cols >= 0) & (cols < values.shape[1])
    r = np.clip(rows, 0, values.shape[0] - 1)
    c = np.clip(cols, 0, values.shape[1] - 1)
    has = ok[r][:, c] & on_r[:, None] & on_c[None, :]
    return np.where(has, values[r][:, c], 0.0), has


class _Sources:
    """The assets of one scene, each opened once (lazily) and kept open for several zones.

    GDAL keeps an open dataset's header and decoded tiles (its block cache), so the zones of
    one site that fall on the same tiles of a scene read and decode them once.
    """

    def __init__(self, scene: Scene, net: NetworkParams) -> None:
        self.scene, self.net = scene, net
        self._stack = ExitStack()
        self._open: dict[str, Any] = {}
        self._env_entered = False

    def __enter__(self) -> _Sources:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def get(self, name: str) -> Any:
        """The open dataset of asset ``name``; ImageryError when it cannot be opened."""
        if name in self._open:
            return self._open[name]
        import rasterio

        if not self._env_entered:
            self._stack.enter_context(rasterio.Env(**gdal_options(self.net)))
            self._env_entered = True
        href = self.scene.assets[name]
        try:
            with reading(href):
                src = self._stack.enter_context(rasterio.open(href))
        except rasterio.errors.RasterioError as exc:
            raise read_failure(href, exc) from exc
        _check_georeference(href, src)
        self._open[name] = src
        return src


def _check_overlap(
    href: str, src: Any, crs: CRS | None, transform: Affine, width: int, height: int
) -> None:
    """Raise ImageryError when the image lies wholly outside the window it should cover
    (``crs`` the grid's CRS, None when it is the image's own).

    The scene was chosen because its catalogue footprint covers the zone, so an image that
    does not even overlap the window has a wrong CRS or geotransform.
    """
    from rasterio.warp import transform_bounds

    west, north = transform @ (0, 0)
    east, south = transform @ (width, height)
    left, bottom, right, top = west, south, east, north
    if crs is not None:
        try:
            left, bottom, right, top = transform_bounds(crs, src.crs, west, south, east, north)
        except Exception:  # noqa: BLE001 - CRS pairs GDAL cannot relate: let the warp decide
            return
    b = src.bounds
    if right < b.left or left > b.right or top < b.bottom or bottom > b.top:
        raise ImageryError(
            f"{href}: the image (bounds {b.left:.6g}, {b.bottom:.6g}, {b.right:.6g}, "
            f"{b.top:.6g} in {src.crs}) does not overlap the zone although the catalogue says "
            "the scene covers it; the image's CRS or geotransform is wrong, fix the file"
        )


def _read_gcp(
    src: Any,
    crs: CRS,
    transform: Affine,
    width: int,
    height: int,
    resampling: Any,
    nodata: float | None,
    indexes: tuple[int, ...] | None,
) -> np.ndarray:
    """Warp a GCP-referenced image (Sentinel-1 GRD) onto the grid through its GCPs.

    ``WarpedVRT`` with an explicit destination grid ignores the GCPs of a source without a
    geotransform (rasterio 1.4: the output is misplaced without any error), so the source
    window the grid needs is found with a GCP transformer, read, and reprojected with
    ``rasterio.warp.reproject(gcps=...)`` (GCPs shifted into the window).
    """
    from rasterio.control import GroundControlPoint
    from rasterio.transform import GCPTransformer
    from rasterio.warp import reproject
    from rasterio.windows import Window

    gcps, gcp_crs = src.gcps
    bands = list(indexes) if indexes else list(range(1, src.count + 1))
    out = np.full((len(bands), height, width), np.nan, np.float32)
    cols, rows = np.meshgrid(np.linspace(0, width, 17), np.linspace(0, height, 17))
    xs = transform.a * cols.ravel() + transform.b * rows.ravel() + transform.c
    ys = transform.d * cols.ravel() + transform.e * rows.ravel() + transform.f
    lon, lat = Transformer.from_crs(crs, gcp_crs, always_xy=True).transform(xs, ys)
    with GCPTransformer(gcps) as to_pixel:
        src_rows, src_cols = to_pixel.rowcol(lon, lat, op=lambda v: v)
    pad = 3
    r0 = max(0, math.floor(float(np.min(src_rows))) - pad)
    c0 = max(0, math.floor(float(np.min(src_cols))) - pad)
    r1 = min(src.height, math.ceil(float(np.max(src_rows))) + pad)
    c1 = min(src.width, math.ceil(float(np.max(src_cols))) + pad)
    if r1 <= r0 or c1 <= c0:
        return out  # the grid lies outside the image
    window = Window(c0, r0, c1 - c0, r1 - r0)
    data = src.read(bands, window=window).astype(np.float32)
    if nodata is not None:
        data[data == nodata] = np.nan
    shifted = [
        GroundControlPoint(row=g.row - r0, col=g.col - c0, x=g.x, y=g.y, z=g.z, id=g.id)
        for g in gcps
    ]
    for i in range(len(bands)):
        with IN_MEMORY:
            reproject(
                data[i],
                out[i],
                gcps=shifted,
                src_crs=gcp_crs,
                src_nodata=np.nan,
                dst_transform=transform,
                dst_crs=crs,
                dst_nodata=np.nan,
                resampling=resampling,
            )
    return out


def load_chip(scene: Scene, zone: Zone, *, params: LoadParams | None = None) -> Chip:
    """Load ``zone``'s window from ``scene`` as a :class:`Chip` on the zone's UTM grid.

    Sentinel-2 pixels flagged by SCL as no data, saturated, cloud shadow, cloud or cirrus
    are marked not valid. Raises :class:`ImageryError` when an asset cannot be read.
    """
    (loaded,) = load_chips(scene, [zone], params=params)
    if isinstance(loaded, ImageryError):
        raise loaded
    return loaded


def load_chips(
    scene: Scene, zones: Sequence[Zone], *, params: LoadParams | None = None
) -> list[Chip | ImageryError]:
    """Load several zones (usually one site's) from ``scene``, opening each asset once.

    Each zone gets the chip :func:`load_chip` gives it (the same pixels: every zone is
    warped onto its own grid), but the zones share the open datasets, so a tile under
    several zones is fetched and decoded once. A zone that cannot be loaded gets its
    :class:`ImageryError` in its place instead of a chip.
    """
    p = params or LoadParams()
    out: list[Chip | ImageryError] = []
    with _Sources(scene, p.net) as sources:
        for zone in zones:
            try:
                out.append(_load_one(scene, zone, p, sources))
            except ImageryError as exc:
                out.append(exc)
    return out


def _load_one(scene: Scene, zone: Zone, p: LoadParams, sources: _Sources) -> Chip:
    if scene.sensor == "highres":
        href = scene.assets["visual"]
        resolution = _native_resolution_m(href, p.net, sources.get("visual"))
        margin = p.highres_margin_m
    else:
        resolution, margin = p.resolution_m, p.margin_m
    crs, transform, width, height, projected = zone_grid(
        zone.geometry, resolution_m=resolution, margin_m=margin
    )
    if width * height > 60_000_000:
        raise ImageryError(
            f"zone {zone.key}: window of {width} x {height} px at {resolution:.2f} m is too large; "
            "draw a smaller zone"
        )
    cache = cache_dir_for(scene, p)
    key = ""
    cached = None
    if cache is not None:
        key = chip_key(
            scene_id=scene.id,
            assets=scene.assets,
            scales=scene.scales,
            geometry=zone.geometry,
            crs=crs.to_string(),
            transform=transform,
            width=width,
            height=height,
        )
        cached = read_cached(cache, key)
    if cached is not None:
        bands, valid, zone_mask = cached
    else:
        bands = _read_bands(scene, crs, transform, width, height, p.net, sources)
        if scene.sensor == "sentinel-2":
            _check_reflectance(scene, bands)
        valid = _valid_mask(bands, scene.sensor)
        zone_mask = _zone_mask(projected.wkb, tuple(transform), width, height).copy()
        if cache is not None:
            write_cached(cache, key, bands, valid, zone_mask)
    return Chip(
        scene_id=scene.id,
        sensor=scene.sensor,
        time=scene.time,
        bands=bands,
        transform=transform,
        crs=crs.to_string(),
        resolution_m=resolution,
        zone_mask=zone_mask,
        valid=valid,
        meta={"collection": scene.collection, "georeferencing": scene.georeferencing},
    )


def _read_bands(
    scene: Scene,
    crs: CRS,
    transform: Affine,
    width: int,
    height: int,
    net: NetworkParams,
    sources: _Sources | None = None,
) -> dict[str, np.ndarray]:
    bands: dict[str, np.ndarray] = {}
    for name, href in scene.assets.items():
        data = _read_warped(
            href,
            crs=crs,
            transform=transform,
            width=width,
            height=height,
            nearest=name == "scl",
            net=net,
            indexes=scene.band_index.get(name),
            source=sources.get(name) if sources is not None else None,
        )
        scale, offset = scene.scales.get(name, (1.0, 0.0))
        if name == "visual":  # the aircraft network's 8-bit input / 255, as `detect` makes it
            from basewatch.detect.aircraft import asset_stretch, to_input_bytes

            with ExitStack() as stack, reading(href):
                srcs = sources or stack.enter_context(_Sources(scene, net))
                stretch = asset_stretch(srcs.get(name), scene.band_index.get(name))
            rgb8 = to_input_bytes(data, stretch)
            for i, colour in enumerate(("red", "green", "blue")):
                j = min(i, data.shape[0] - 1)  # one band: grayscale
                bands[colour] = np.where(np.isfinite(data[j]), rgb8[j] / np.float32(255), np.nan)
        else:
            bands[name] = data[0] * scale + offset if name != "scl" else data[0]
    return bands


def _check_reflectance(scene: Scene, bands: dict[str, np.ndarray]) -> None:
    """Never count ships on mis-scaled Sentinel-2 values (see bands.implausible_reflectance)."""
    from basewatch.imagery.bands import implausible_reflectance

    why = implausible_reflectance(bands)
    if why is not None:
        scale = sorted({f"{v[0]:g}" for k, v in scene.scales.items() if k != "scl"})
        raise ImageryError(
            f"scene {scene.id} ({scene.href}): values scaled by {', '.join(scale)} are not "
            f"reflectance: {why}; give the item's raster:scale (or the file's scale tag) that "
            "the data use, e.g. 1.5259e-05 for Sentinel Hub UINT16 exports (reflectance x 65535)"
        )


def _valid_mask(bands: dict[str, np.ndarray], sensor: str) -> np.ndarray:
    data_bands = [v for k, v in bands.items() if k != "scl"]
    valid = np.logical_and.reduce([np.isfinite(b) for b in data_bands])
    if sensor == "sentinel-2" and "scl" in bands:
        scl = bands["scl"]
        scl_int = np.where(np.isfinite(scl), scl, 0).astype(np.int16)
        valid &= ~np.isin(scl_int, list(SCL_UNUSABLE))
    if sensor == "highres":
        valid &= (bands["red"] + bands["green"] + bands["blue"]) > 0
    return np.asarray(valid, dtype=bool)


@functools.lru_cache(maxsize=512)
def _zone_mask(wkb: bytes, transform: tuple[float, ...], width: int, height: int) -> np.ndarray:
    """The zone (UTM geometry as WKB) rasterized on the grid; cached, as a zone is cut from
    every scene on the same grid (copy before changing it)."""
    return _rasterize(shapely.from_wkb(wkb), Affine(*transform[:6]), width, height)


def _rasterize(geometry: BaseGeometry, transform: Affine, width: int, height: int) -> np.ndarray:
    from rasterio.features import rasterize

    with IN_MEMORY:  # see IN_MEMORY: rasterio's catch_warnings is not thread-safe
        mask = rasterize(
            [geometry],
            out_shape=(height, width),
            transform=transform,
            fill=0,
            default_value=1,
            dtype="uint8",
        )
    return mask.astype(bool)

"""Aircraft in sub-metre imagery with the project's own trained detector (ONNX Runtime only).

The model is a small CenterNet-style network (see :mod:`basewatch.train.aircraft`): it sees
the image resampled to its training ground sample distance (1 m), predicts a heatmap of
aircraft centres at 1/4 of that resolution plus, at each centre, a sub-cell offset and the
box size. This module does everything around the network with numpy: image checks and
conversion (grayscale, 16-bit, float), resampling to the model's GSD, per-image contrast
normalisation (the same function the training uses), tiling with overlap, batched inference,
peak decoding and non-maximum suppression across tiles. Results are :class:`Detection`
objects in the input image's pixels.
"""

from __future__ import annotations

import math
import threading
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from basewatch.detect import Detection
from basewatch.detect._common import check_pixel_size
from basewatch.detect.centernet import (
    NMS_IOU,
    SIZE_MULTIPLE,
    ModelInfo,
    TileSpec,
    box_iou,
    centre_inside,
    decode,
    nms,
    open_model,
    resample,
    run_tiled,
    tile_origins,
    to_detection,
)
from basewatch.errors import ImageryError, InputError

__all__ = [
    "NMS_IOU",
    "SIZE_MULTIPLE",
    "InputStretch",
    "ModelInfo",
    "TileSpec",
    "asset_stretch",
    "box_iou",
    "decode",
    "detect_aircraft",
    "detect_boxes",
    "merge_scales",
    "fraction_to_uint8",
    "load_model",
    "nms",
    "normalise",
    "resample",
    "run_tiled",
    "stretch_of",
    "tile_origins",
    "to_input_bytes",
    "to_rgb8",
]

NAME = "highres-aircraft-cnn"
"""Detector name recorded with every observation."""
VERSION = "2.1.0"
"""Detector version; part of an observation's identity."""

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "aircraft.onnx"
"""The model shipped in the package (trained on 51 Airbus Pleiades images, CC BY-NC-SA 4.0)."""

MODEL_GSD_M = 1.0
"""Ground sample distance the network is trained and run at (metres per pixel)."""
STRIDE = 4
"""Output cells per input pixel side: the heatmap is 1/STRIDE of the network input."""
SCORE_THRESHOLD = 0.45
"""Default minimum centre score for a detection."""
GSD_WARN_RATIO = 4.0
"""Warn when the image GSD differs from the model's by more than this factor."""
GSD_MAX_M = 3.0
"""Coarser images cannot show aircraft shapes to this model; refuse them."""
DEFAULT_TILES = TileSpec()
"""Tiles of 704 m with 96 m overlap (more than the largest aircraft), mirrored copies averaged."""


# --------------------------------------------------------------------------------------------
# Image conversion and resampling (shared with the training code)
# --------------------------------------------------------------------------------------------


def to_rgb8(image: object, *, name: str = "image") -> np.ndarray:
    """Return ``image`` as an ``(rows, cols, 3)`` uint8 array.

    Accepts ``(rows, cols)`` grayscale, ``(rows, cols, 1|3|4+)`` arrays (the first three bands
    are taken as red, green, blue), uint8, 16-bit or float data. Non-uint8 data is stretched
    from its 0.5th to 99.5th percentile (ignoring zeros, the usual nodata) to 0-255 (the rule
    :func:`asset_stretch` applies to a file), except float data within [0, 1] reaching
    :data:`FRACTION_MIN_MAX` (8-bit values / 255), which is taken back to 8 bits
    (:func:`fraction_to_uint8`), not stretched.
    """
    arr = np.asarray(image)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] == 0:
        raise InputError(
            f"{name} must be (rows, cols) or (rows, cols, bands), got shape {arr.shape}; "
            "pass pixel rows first (a (bands, rows, cols) raster: .transpose(1, 2, 0))"
        )
    if arr.shape[0] < 8 or arr.shape[1] < 8:
        raise InputError(f"{name} is too small to hold an aircraft: shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 2:
        arr = np.dstack([arr[:, :, 0], arr[:, :, 0], arr[:, :, 0]])
    else:
        arr = arr[:, :, :3]
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind == "f" and _is_fraction(arr):
        return fraction_to_uint8(arr)
    return _stretch_to_uint8(arr)


FRACTION_MIN_MAX = 0.25
"""Float data in [0, 1] whose maximum reaches this is taken as 8-bit values / 255; darker
float data (reflectance, 12-bit counts / 65535) is stretched instead."""


def _is_fraction(arr: np.ndarray) -> bool:
    """Whether float data looks like 8-bit values divided by 255 (the pipeline's chips)."""
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return False
    lo, hi = float(finite.min()), float(finite.max())
    return lo >= 0.0 and FRACTION_MIN_MAX <= hi <= 1.0


def fraction_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] back to 8-bit values: ``round(value * 255)``, NaN as 0.

    The one conversion between the pipeline's chips (8-bit values divided by 255, NaN where
    the image has no data) and the network's 8-bit input, so that ``basewatch detect`` and
    the monitor hand the network the same pixels for the same image.
    """
    data = np.nan_to_num(np.asarray(arr, dtype=np.float64), nan=0.0)
    return np.clip(np.round(data * 255.0), 0, 255).astype(np.uint8)


def _stretch_to_uint8(arr: np.ndarray) -> np.ndarray:
    """An in-memory 16-bit or float image stretched by :func:`stretch_of` its own values."""
    step = max(1, math.ceil(max(arr.shape[0], arr.shape[1]) / STATS_SIDE_PX))
    return to_input_bytes(arr, stretch_of(arr[::step, ::step]))


# --------------------------------------------------------------------------------------------
# The network's 8-bit input from a file: one rule for `basewatch detect` and the monitor
# --------------------------------------------------------------------------------------------


STRETCH_PERCENTILES = (0.5, 99.5)
"""Percentiles of a whole 16-bit or float asset that become 0 and 255 of the network input."""
STATS_SIDE_PX = 1024
"""The percentiles are taken from a read of the whole asset at most this many pixels on a
side (GDAL uses the file's overviews when it has them): the same numbers whoever reads it."""


@dataclass(frozen=True, kw_only=True)
class InputStretch:
    """Linear map of an asset's stored values to the network's 8-bit input.

    ``byte = round((value - lo) / (hi - lo) * 255)``, clipped to 0-255; no data (NaN) is 0.
    """

    lo: float
    """Stored value that becomes 0."""
    hi: float
    """Stored value that becomes 255."""
    rule: str
    """How ``lo`` and ``hi`` were chosen: ``8-bit``, ``scale`` or ``asset-percentiles``."""

    def describe(self) -> str:
        """One line for an output's metadata, e.g. ``asset-percentiles 212-2874 -> 0-255``."""
        return f"{self.rule} {self.lo:.6g}-{self.hi:.6g} -> 0-255"


EIGHT_BIT = InputStretch(lo=0.0, hi=255.0, rule="8-bit")
"""8-bit data: the stored bytes are the network input, unchanged."""


def scale_stretch(scale: float, offset: float = 0.0) -> InputStretch:
    """The stretch that maps ``value * scale + offset`` in [0, 1] to 0-255 (a declared scale)."""
    if not (math.isfinite(scale) and scale > 0 and math.isfinite(offset)):
        raise InputError(f"scale must be a positive number, got {scale!r}")
    return InputStretch(lo=-offset / scale, hi=(1.0 - offset) / scale, rule="scale")


def stretch_of(values: np.ndarray) -> InputStretch:
    """The :data:`STRETCH_PERCENTILES` stretch of ``values`` (all bands pooled, so colours
    keep their balance; zeros, the usual no-data, and NaN left out)."""
    data = np.asarray(values, dtype=np.float64)
    sample = data[np.isfinite(data) & (data != 0)]
    if sample.size == 0:
        return InputStretch(lo=0.0, hi=1.0, rule="asset-percentiles")
    lo, hi = (float(v) for v in np.percentile(sample, STRETCH_PERCENTILES))
    if not hi > lo:
        hi = lo + 1.0
    return InputStretch(lo=lo, hi=hi, rule="asset-percentiles")


def asset_stretch(src: Any, indexes: tuple[int, ...] | None = None) -> InputStretch:
    """How the network input is made from an open rasterio dataset: one rule per file.

    uint8 files give their bytes unchanged (:data:`EIGHT_BIT`). 16-bit and float files
    (12-bit Pleiades counts in uint16, float reflectance) are stretched linearly from the
    0.5th to the 99.5th percentile of the whole asset (:func:`stretch_of` of ``indexes``,
    default the first three bands, read at most :data:`STATS_SIDE_PX` on a side), so a
    zone's chip and the whole image get the same bytes for the same pixel: a per-chip
    stretch would make one aircraft look different in a small zone and in the full scene.
    ``basewatch detect --sensor highres`` and the monitor's chip loader both call this.
    """
    import rasterio
    from rasterio.enums import Resampling

    if src.dtypes[0] == "uint8":
        return EIGHT_BIT
    bands = list(indexes) if indexes else list(range(1, min(src.count, 3) + 1))
    key = tuple(bands)
    with _STRETCH_LOCK:  # the zones of one site share the open dataset: read it once
        known = _STRETCHES.get(src, {}).get(key)
    if known is not None:
        return known
    step = max(1, math.ceil(max(src.height, src.width) / STATS_SIDE_PX))
    shape = (len(bands), math.ceil(src.height / step), math.ceil(src.width / step))
    try:
        data = src.read(bands, out_shape=shape, resampling=Resampling.nearest, masked=True)
    except rasterio.errors.RasterioError as exc:
        raise ImageryError(
            f"{src.name}: cannot read the image for its brightness range "
            f"({str(exc).splitlines()[0][:120]}); the file is corrupt or truncated: "
            "download or export it again"
        ) from None
    stretch = stretch_of(np.ma.filled(data.astype(np.float64), np.nan))
    with _STRETCH_LOCK:
        _STRETCHES.setdefault(src, {})[key] = stretch
    return stretch


_STRETCHES: weakref.WeakKeyDictionary[Any, dict[tuple[int, ...], InputStretch]] = (
    weakref.WeakKeyDictionary()
)
"""Stretch of each open dataset (forgotten with the dataset)."""
_STRETCH_LOCK = threading.Lock()


def to_input_bytes(values: np.ndarray, stretch: InputStretch) -> np.ndarray:
    """Stored values (any layout) as the network's 8-bit input under ``stretch``; NaN is 0."""
    data = np.asarray(values, dtype=np.float64)
    if stretch.rule == "8-bit":
        return np.clip(np.round(np.nan_to_num(data, nan=0.0)), 0, 255).astype(np.uint8)
    scaled = (data - stretch.lo) * (255.0 / (stretch.hi - stretch.lo))
    return np.clip(np.round(np.nan_to_num(scaled, nan=0.0)), 0, 255).astype(np.uint8)


def normalise(rgb: np.ndarray) -> np.ndarray:
    """Per-image, per-band contrast normalisation to a ``(3, rows, cols)`` float32 array.

    Each band is centred on its median and divided by its 2-98 percentile spread, so haze,
    exposure and sensor differences mostly cancel. Pixels that are zero in every band (nodata
    around an image's footprint) are left out of the statistics. The training code applies
    the same function.
    """
    data = np.asarray(rgb, dtype=np.float32)
    step = max(1, int(math.sqrt(data.shape[0] * data.shape[1] / 250_000)))
    sample = data[::step, ::step].reshape(-1, data.shape[2])
    has_data = sample.any(axis=1)  # all-zero pixels are nodata (outside the image footprint)
    if has_data.sum() >= 64:
        sample = sample[has_data]
    lo, mid, hi = np.percentile(sample, [2, 50, 98], axis=0)
    spread = np.maximum(hi - lo, 48.0)
    out = np.empty((data.shape[2], data.shape[0], data.shape[1]), np.float32)
    for band in range(data.shape[2]):
        np.subtract(data[:, :, band], mid[band], out=out[band])
        out[band] /= spread[band]
    return out


# --------------------------------------------------------------------------------------------
# Model loading
# --------------------------------------------------------------------------------------------


DEFAULTS = ModelInfo(
    gsd_m=MODEL_GSD_M,
    stride=STRIDE,
    score_threshold=SCORE_THRESHOLD,
    version=VERSION,
    kind="aircraft-centernet",
    bands=("red", "green", "blue"),
)
"""What an aircraft model without metadata is taken to be."""


def load_model(model: Path | str | None = None) -> tuple[Any, ModelInfo]:
    """Open an aircraft ONNX model (default: the shipped one) and read its metadata."""
    path = Path(model) if model is not None else DEFAULT_MODEL
    return open_model(
        path,
        what="aircraft",
        trainer="basewatch train aircraft",
        shipped=model is None,
        defaults=DEFAULTS,
    )


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def check_gsd(gsd_m: float | None, model_gsd_m: float) -> float:
    """Validate the image GSD; ``None`` means "assume the model's own GSD" (with a warning).

    Raises :class:`InputError` for GSDs too coarse to show aircraft shapes and warns when the
    GSD is far from the model's (resampling that far loses or invents detail).
    """
    if gsd_m is None:
        warnings.warn(
            f"image ground sample distance unknown; assuming the model's {model_gsd_m} m. "
            "Pass --gsd (metres per pixel) for correct sizes and detections",
            UserWarning,
            stacklevel=3,
        )
        return model_gsd_m
    gsd = check_pixel_size(gsd_m, name="gsd_m")
    if gsd > GSD_MAX_M:
        raise InputError(
            f"a pixel of {gsd} m (--gsd) is too coarse for the aircraft model (trained at "
            f"{model_gsd_m} m, usable up to {GSD_MAX_M} m); use Sentinel-2 apron counts for such "
            "images"
        )
    ratio = max(gsd / model_gsd_m, model_gsd_m / gsd)
    if ratio > GSD_WARN_RATIO:
        warnings.warn(
            f"a pixel of {gsd} m (--gsd) is far from the model's {model_gsd_m} m; the image is "
            "resampled but detections may be unreliable",
            UserWarning,
            stacklevel=3,
        )
    return gsd


COARSE_SCALE = 2.0
"""The second, coarser pass runs at this many model GSDs per pixel (2 m for the 1 m model)."""


def merge_scales(fine: np.ndarray, coarse: np.ndarray, *, large_px: float) -> np.ndarray:
    """Merge detections of the model-GSD pass with those of the coarser pass.

    Rows are ``(x0, y0, x1, y1, score)`` in one pixel grid. Aircraft longer than about the
    network's receptive field (wide-bodies, 60-110 m) come out of the fine pass as two or three
    fragments; the coarse pass sees them whole. Coarse boxes whose longer side reaches
    ``large_px`` are kept, and fine boxes centred inside one of them are dropped.
    """
    if len(coarse) == 0 or large_px <= 0:
        return fine
    sides = np.maximum(coarse[:, 2] - coarse[:, 0], coarse[:, 3] - coarse[:, 1])
    big = coarse[sides >= large_px]
    if len(big) == 0 or len(fine) == 0:
        return np.concatenate([fine, big]) if len(big) else fine
    cx = (fine[:, 0] + fine[:, 2]) / 2
    cy = (fine[:, 1] + fine[:, 3]) / 2
    inside = (
        (cx[:, None] >= big[None, :, 0])
        & (cx[:, None] <= big[None, :, 2])
        & (cy[:, None] >= big[None, :, 1])
        & (cy[:, None] <= big[None, :, 3])
    ).any(axis=1)
    return np.concatenate([fine[~inside], big])


def detect_boxes(
    image: np.ndarray,
    gsd_m: float | None,
    model: Path | None = None,
    *,
    threshold: float | None = None,
    nms_iou: float | None = None,
    scale: float = 1.0,
    tiles: TileSpec = DEFAULT_TILES,
) -> np.ndarray:
    """One pass of the network at ``scale`` model GSDs per pixel.

    Returns rows ``(x0, y0, x1, y1, score)`` in the image's pixels (what
    :func:`detect_aircraft` merges; the bench stores them).
    """
    rgb = to_rgb8(image)
    _, info = load_model(model)
    gsd = check_gsd(gsd_m, info.gsd_m)
    return _pass(rgb, gsd, model, threshold=threshold, nms_iou=nms_iou, scale=scale, tiles=tiles)


def _pass(
    rgb: np.ndarray,
    gsd: float,
    model: Path | None,
    *,
    threshold: float | None,
    nms_iou: float | None,
    scale: float = 1.0,
    tiles: TileSpec = DEFAULT_TILES,
) -> np.ndarray:
    """:func:`detect_boxes` on an RGB uint8 image whose ``gsd`` was checked (and warned
    about) once by the caller."""
    session, info = load_model(model)
    factor = info.gsd_m * scale / gsd
    boxes = run_tiled(
        session,
        normalise(resample(rgb, factor)),
        stride=info.stride,
        threshold=info.score_threshold if threshold is None else float(threshold),
        tiles=tiles,
        nms_iou=info.nms_iou if nms_iou is None else float(nms_iou),
    )
    boxes[:, :4] *= factor
    return boxes


def detect_aircraft(
    image: np.ndarray,
    gsd_m: float | None,
    model: Path | None = None,
    *,
    threshold: float | None = None,
    search_mask: np.ndarray | None = None,
    tiles: TileSpec = DEFAULT_TILES,
    nms_iou: float | None = None,
    large_m: float | None = None,
) -> list[Detection]:
    """Aircraft in a sub-metre image, as :class:`Detection` objects in the image's pixels.

    ``image`` is ``(rows, cols)`` or ``(rows, cols, bands)`` uint8, uint16 or float (RGB
    first); ``gsd_m`` its ground sample distance in metres (``None``: assume the model's,
    with a warning); ``model`` an ONNX file from ``basewatch train aircraft`` (default: the
    shipped model); ``threshold`` overrides the model's score threshold; ``search_mask``
    (image shape, bool) keeps only detections centred on True pixels; ``nms_iou`` overrides
    the model's non-maximum suppression IoU (its ``nms_iou`` metadata, else 0.4);
    ``large_m`` overrides the model's ``large_m``: when above 0, a second pass at
    :data:`COARSE_SCALE` finds aircraft at least this long (metres) whole
    (:func:`merge_scales`).
    """
    rgb = to_rgb8(image)
    mask = None if search_mask is None else np.asarray(search_mask, dtype=bool)
    if mask is not None and mask.shape != rgb.shape[:2]:
        raise InputError(
            f"search_mask must have the image's shape {rgb.shape[:2]}, got {mask.shape}"
        )
    session, info = load_model(model)
    gsd = check_gsd(gsd_m, info.gsd_m)
    large = info.large_m if large_m is None else float(large_m)
    kw: dict[str, Any] = {"threshold": threshold, "nms_iou": nms_iou, "tiles": tiles}
    boxes = _pass(rgb, gsd, model, **kw)
    if large > 0:
        coarse = _pass(rgb, gsd, model, scale=COARSE_SCALE, **kw)
        boxes = merge_scales(boxes, coarse, large_px=large / gsd)
    dets = (to_detection(b, factor=1.0, gsd_m=gsd, cls="aircraft") for b in boxes)
    return [d for d in dets if centre_inside(d, mask)]

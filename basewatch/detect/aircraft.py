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
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from basewatch.detect import Detection
from basewatch.detect._common import check_pixel_size
from basewatch.errors import InputError

NAME = "highres-aircraft-cnn"
"""Detector name recorded with every observation."""
VERSION = "1.0.0"
"""Detector version; part of an observation's identity."""

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "aircraft.onnx"
"""The model shipped in the package (trained on the Airbus Pleiades sample, CC BY-NC-SA 4.0)."""

MODEL_GSD_M = 1.0
"""Ground sample distance the network is trained and run at (metres per pixel)."""
STRIDE = 4
"""Output cells per input pixel side: the heatmap is 1/STRIDE of the network input."""
SIZE_MULTIPLE = 16
"""Network inputs must have sides that are a multiple of this."""
SCORE_THRESHOLD = 0.45
"""Default minimum centre score for a detection."""
NMS_IOU = 0.4
"""Boxes overlapping a higher-scoring box by more than this IoU are dropped."""
GSD_WARN_RATIO = 4.0
"""Warn when the image GSD differs from the model's by more than this factor."""
GSD_MAX_M = 3.0
"""Coarser images cannot show aircraft shapes to this model; refuse them."""


@dataclass(frozen=True, kw_only=True)
class TileSpec:
    """How a large image is cut into network inputs (in model-GSD pixels)."""

    size: int = 704
    """Side of a square tile (a multiple of :data:`SIZE_MULTIPLE`)."""
    overlap: int = 96
    """Overlap between neighbouring tiles; larger than the biggest aircraft (73 m)."""
    batch: int = 4
    """Tiles per network call."""
    flip: bool = True
    """Also run each tile mirrored and average the two heatmaps (fewer false alarms)."""


# --------------------------------------------------------------------------------------------
# Image conversion and resampling (shared with the training code)
# --------------------------------------------------------------------------------------------


def to_rgb8(image: object, *, name: str = "image") -> np.ndarray:
    """Return ``image`` as an ``(rows, cols, 3)`` uint8 array.

    Accepts ``(rows, cols)`` grayscale, ``(rows, cols, 1|3|4+)`` arrays (the first three bands
    are taken as red, green, blue), uint8, 16-bit or float data. Non-uint8 data is stretched
    from its 0.5th to 99.5th percentile (ignoring zeros, the usual nodata) to 0-255.
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
    return _stretch_to_uint8(arr)


def _stretch_to_uint8(arr: np.ndarray) -> np.ndarray:
    data = arr.astype(np.float32)
    finite = np.isfinite(data)
    sample = data[finite & (data != 0)]
    if sample.size == 0:
        return np.zeros(arr.shape, dtype=np.uint8)
    lo, hi = np.percentile(sample, [0.5, 99.5])
    if not hi > lo:
        hi = lo + 1.0
    scaled = (np.nan_to_num(data, nan=lo) - lo) / (hi - lo) * 255.0
    return np.clip(scaled, 0, 255).astype(np.uint8)


def resample(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Shrink (``factor`` > 1) or enlarge an RGB image by ``factor`` (output = input / factor).

    Integer shrink factors use a block mean (area averaging, as a coarser sensor would);
    the rest of the factor is done with bilinear interpolation.
    """
    if abs(factor - 1.0) < 1e-3:
        return rgb.astype(np.float32)
    whole = max(1, int(math.floor(factor + 1e-6)))
    if whole > 1:
        rows = rgb.shape[0] // whole * whole
        cols = rgb.shape[1] // whole * whole
        out = np.zeros((rows // whole, cols // whole, rgb.shape[2]), np.float32)
        for i in range(whole):
            for j in range(whole):
                out += rgb[i:rows:whole, j:cols:whole]
        out /= whole * whole
    else:
        out = rgb.astype(np.float32)
    rest = factor / whole
    if abs(rest - 1.0) > 1e-3:
        if rest > 1.0:
            out = ndimage.gaussian_filter(out, sigma=(0.4 * (rest - 1.0) + 1e-3,) * 2 + (0,))
        zoom = 1.0 / rest
        out = ndimage.zoom(out, (zoom, zoom, 1), order=1, grid_mode=True, mode="nearest")
    return out.astype(np.float32)


def normalise(rgb: np.ndarray) -> np.ndarray:
    """Per-image, per-band contrast normalisation to a ``(3, rows, cols)`` float32 array.

    Each band is centred on its median and divided by its 2-98 percentile spread, so haze,
    exposure and sensor differences mostly cancel. The training code applies the same function.
    """
    data = np.asarray(rgb, dtype=np.float32)
    step = max(1, int(math.sqrt(data.shape[0] * data.shape[1] / 250_000)))
    sample = data[::step, ::step].reshape(-1, data.shape[2])
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


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """What the ONNX model says about itself (its ``metadata_props``)."""

    gsd_m: float
    """Ground sample distance the model expects (m)."""
    stride: int
    """Heatmap cells per input pixel side."""
    score_threshold: float
    """Score threshold chosen on held-out images."""
    version: str
    """Model version string."""


@lru_cache(maxsize=4)
def _session(path: str, mtime: float) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise InputError(
            f"model {path} cannot be loaded by onnxruntime ({exc}); "
            "pass an ONNX file written by `basewatch train aircraft`"
        ) from None


def load_model(model: Path | str | None = None) -> tuple[Any, ModelInfo]:
    """Open an aircraft ONNX model (default: the shipped one) and read its metadata."""
    path = Path(model) if model is not None else DEFAULT_MODEL
    if not path.is_file():
        fix = (
            "reinstall basewatch (the model ships in basewatch/models/)"
            if model is None
            else "pass the .onnx file written by `basewatch train aircraft`"
        )
        raise InputError(f"aircraft model {path} does not exist; {fix}")
    session = _session(str(path.resolve()), path.stat().st_mtime)
    meta = session.get_modelmeta().custom_metadata_map
    names = [o.name for o in session.get_outputs()]
    if names[:2] != ["heatmap", "regression"]:
        raise InputError(
            f"model {path} has outputs {names}, not (heatmap, regression): it is not a "
            "basewatch aircraft model; for YOLO exports use basewatch.detect.yolo"
        )
    info = ModelInfo(
        gsd_m=float(meta.get("gsd_m", MODEL_GSD_M)),
        stride=int(meta.get("stride", STRIDE)),
        score_threshold=float(meta.get("score_threshold", SCORE_THRESHOLD)),
        version=str(meta.get("version", VERSION)),
    )
    return session, info


# --------------------------------------------------------------------------------------------
# Tiling, decoding, NMS
# --------------------------------------------------------------------------------------------


def tile_origins(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``size`` covering ``length`` with at least ``overlap``."""
    if length <= size:
        return [0]
    if not 0 <= overlap < size:
        raise InputError(f"tile overlap must be in [0, {size}) for {size} px tiles, got {overlap}")
    step = size - overlap
    count = math.ceil((length - overlap) / step)
    last = length - size
    return sorted({min(round(i * last / (count - 1)), last) for i in range(count)})


def decode(
    heatmap: np.ndarray,
    regression: np.ndarray,
    *,
    stride: int,
    threshold: float,
    max_det: int = 500,
) -> np.ndarray:
    """Peaks of one tile's heatmap as rows ``(x0, y0, x1, y1, score)`` in network pixels.

    ``heatmap`` is ``(1, h, w)`` in [0, 1]; ``regression`` is ``(4, h, w)``: centre offset
    within the cell (x, y, in cells) and log box width and height (in network pixels).
    """
    hm = heatmap[0]
    peaks = (hm == ndimage.maximum_filter(hm, size=3, mode="constant")) & (hm >= threshold)
    rows, cols = np.nonzero(peaks)
    if rows.size == 0:
        return np.zeros((0, 5), dtype=np.float32)
    scores = hm[rows, cols]
    order = np.argsort(-scores)[:max_det]
    rows, cols, scores = rows[order], cols[order], scores[order]
    cx = (cols + regression[0, rows, cols]) * stride
    cy = (rows + regression[1, rows, cols]) * stride
    w = np.exp(np.clip(regression[2, rows, cols], -3, 8))
    h = np.exp(np.clip(regression[3, rows, cols], -3, 8))
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, scores], axis=1).astype(
        np.float32
    )


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``(x0, y0, x1, y1)`` box with each row of ``boxes``."""
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, iou_threshold: float = NMS_IOU) -> np.ndarray:
    """Greedy non-maximum suppression on rows ``(x0, y0, x1, y1, score)``; returns kept rows."""
    if len(boxes) == 0:
        return boxes
    order = np.argsort(-boxes[:, 4], kind="stable")
    rest = boxes[order]
    kept = []
    while len(rest):
        best = rest[0]
        kept.append(best)
        rest = rest[1:]
        if len(rest):
            rest = rest[box_iou(best, rest) <= iou_threshold]
    return np.stack(kept)


def run_tiled(
    session: Any,
    image: np.ndarray,
    *,
    stride: int,
    threshold: float,
    tiles: TileSpec = TileSpec(),
) -> np.ndarray:
    """Run the network over a normalised ``(3, rows, cols)`` image tile by tile.

    Each tile keeps only the detections whose centre lies in its own share of the overlap
    (the half nearest to it), then NMS removes what still doubles up. Returns rows
    ``(x0, y0, x1, y1, score)`` in the image's pixels.
    """
    _, rows, cols = image.shape
    size = tiles.size
    th, tw = min(size, _ceil_to(rows)), min(size, _ceil_to(cols))
    padded = _pad_to(image, max(rows, th), max(cols, tw))
    ys = tile_origins(padded.shape[1], th, tiles.overlap)
    xs = tile_origins(padded.shape[2], tw, tiles.overlap)
    origins = [(y, x) for y in ys for x in xs]
    found: list[np.ndarray] = []
    input_name = session.get_inputs()[0].name
    for start in range(0, len(origins), tiles.batch):
        chunk = origins[start : start + tiles.batch]
        batch = np.stack([padded[:, y : y + th, x : x + tw] for y, x in chunk])
        heatmaps, regressions = session.run(["heatmap", "regression"], {input_name: batch})
        if tiles.flip:
            heatmaps = _flip_average(session, input_name, batch, heatmaps)
        for (y, x), hm, reg in zip(chunk, heatmaps, regressions, strict=True):
            dets = decode(hm, reg, stride=stride, threshold=threshold)
            if len(dets) == 0:
                continue
            dets[:, [0, 2]] += x
            dets[:, [1, 3]] += y
            keep = _owned(dets, (y, x), (th, tw), ys, xs)
            found.append(dets[keep])
    if not found:
        return np.zeros((0, 5), dtype=np.float32)
    boxes = nms(np.concatenate(found))
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    return boxes[(cx < cols) & (cy < rows)]


def _flip_average(session: Any, input_name: str, batch: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Mean of the heatmaps of the batch as is, mirrored left-right and mirrored up-down."""
    total = heat.copy()
    for axis in (3, 2):
        flipped = np.ascontiguousarray(np.flip(batch, axis=axis))
        (mirror,) = session.run(["heatmap"], {input_name: flipped})
        total += np.flip(mirror, axis=axis)
    return total / 3


def _ceil_to(n: int) -> int:
    return int(math.ceil(n / SIZE_MULTIPLE) * SIZE_MULTIPLE)


def _pad_to(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    rows, cols = _ceil_to(rows), _ceil_to(cols)
    pad = ((0, 0), (0, rows - image.shape[1]), (0, cols - image.shape[2]))
    return np.pad(image, pad, mode="reflect" if min(image.shape[1:]) > 1 else "edge")


def _owned(
    dets: np.ndarray,
    origin: tuple[int, int],
    shape: tuple[int, int],
    ys: list[int],
    xs: list[int],
) -> np.ndarray:
    """Detections whose centre lies in this tile's share of the image."""
    y, x = origin
    cx = (dets[:, 0] + dets[:, 2]) / 2
    cy = (dets[:, 1] + dets[:, 3]) / 2
    x_lo, x_hi = _share(x, xs, shape[1])
    y_lo, y_hi = _share(y, ys, shape[0])
    return (cx >= x_lo) & (cx < x_hi) & (cy >= y_lo) & (cy < y_hi)


def _share(start: int, starts: list[int], size: int) -> tuple[float, float]:
    i = starts.index(start)
    lo = -math.inf if i == 0 else (starts[i - 1] + size + start) / 2
    hi = math.inf if i == len(starts) - 1 else (start + size + starts[i + 1]) / 2
    return lo, hi


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
            f"gsd_m={gsd} m is too coarse for the aircraft model (trained at {model_gsd_m} m, "
            f"usable up to {GSD_MAX_M} m); use Sentinel-2 apron counts for such images"
        )
    ratio = max(gsd / model_gsd_m, model_gsd_m / gsd)
    if ratio > GSD_WARN_RATIO:
        warnings.warn(
            f"gsd_m={gsd} m is far from the model's {model_gsd_m} m; the image is resampled "
            "but detections may be unreliable",
            UserWarning,
            stacklevel=3,
        )
    return gsd


def detect_aircraft(
    image: np.ndarray,
    gsd_m: float | None,
    model: Path | None = None,
    *,
    threshold: float | None = None,
    search_mask: np.ndarray | None = None,
    tiles: TileSpec = TileSpec(),
) -> list[Detection]:
    """Aircraft in a sub-metre image, as :class:`Detection` objects in the image's pixels.

    ``image`` is ``(rows, cols)`` or ``(rows, cols, bands)`` uint8, uint16 or float (RGB
    first); ``gsd_m`` its ground sample distance in metres (``None``: assume the model's,
    with a warning); ``model`` an ONNX file from ``basewatch train aircraft`` (default: the
    shipped model); ``threshold`` overrides the model's score threshold; ``search_mask``
    (image shape, bool) keeps only detections centred on True pixels.
    """
    rgb = to_rgb8(image)
    mask = None if search_mask is None else np.asarray(search_mask, dtype=bool)
    if mask is not None and mask.shape != rgb.shape[:2]:
        raise InputError(
            f"search_mask must have the image's shape {rgb.shape[:2]}, got {mask.shape}"
        )
    session, info = load_model(model)
    gsd = check_gsd(gsd_m, info.gsd_m)
    factor = info.gsd_m / gsd
    net_input = normalise(resample(rgb, factor))
    boxes = run_tiled(
        session,
        net_input,
        stride=info.stride,
        threshold=info.score_threshold if threshold is None else float(threshold),
        tiles=tiles,
    )
    return [d for d in (_detection(b, factor, gsd) for b in boxes) if _inside(d, mask)]


def _detection(box: np.ndarray, factor: float, gsd: float) -> Detection:
    x0, y0, x1, y1 = (float(v) * factor for v in box[:4])
    width, height = x1 - x0, y1 - y0
    bbox = (
        int(round(max(0.0, x0))),
        int(round(max(0.0, y0))),
        max(1, int(round(width))),
        max(1, int(round(height))),
    )
    # the box's longer side as the major axis: north-south (0) or east-west (90), so a
    # footprint drawn from length, width and heading is the axis-aligned box itself
    length_px, width_px = max(width, height), min(width, height)
    return Detection(
        bbox_px=bbox,
        score=float(np.clip(box[4], 0.0, 1.0)),
        cls="aircraft",
        centroid_px=((x0 + x1) / 2, (y0 + y1) / 2),
        length_m=length_px * gsd,
        width_m=width_px * gsd,
        heading_deg=0.0 if height >= width else 90.0,
        area_px=int(round(width * height)),
    )


def _inside(det: Detection, mask: np.ndarray | None) -> bool:
    if mask is None:
        return True
    col, row = det.centroid_px
    r, c = int(row), int(col)
    return 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and bool(mask[r, c])

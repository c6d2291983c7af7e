"""Running basewatch's own CenterNet-style ONNX detectors (onnxruntime and numpy only).

The networks trained by :mod:`basewatch.train.centernet` (aircraft in sub-metre images,
ships in Sentinel-2) share one output contract: a ``heatmap`` of object-centre
probabilities at 1/``stride`` of the network input and a ``regression`` map (sub-cell centre
offset x, y and log box width, height in network pixels). This module does what is common
around such a network: resampling to the model's ground sample distance, reading the
model's metadata, tiling with overlap, batched inference (optionally averaged with mirrored
copies), peak decoding, non-maximum suppression across tiles and conversion of boxes to
:class:`~basewatch.detect.Detection` objects in the input image's pixels. What differs per
detector (input conversion and normalisation) stays in the detector's own module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from basewatch.detect import Detection
from basewatch.errors import InputError

SIZE_MULTIPLE = 16
"""Network inputs must have sides that are a multiple of this."""
NMS_IOU = 0.4
"""Boxes overlapping a higher-scoring box by more than this IoU are dropped."""


@dataclass(frozen=True, kw_only=True)
class TileSpec:
    """How a large image is cut into network inputs (in model-GSD pixels)."""

    size: int = 704
    """Side of a square tile (a multiple of :data:`SIZE_MULTIPLE`)."""
    overlap: int = 96
    """Overlap between neighbouring tiles; larger than the biggest object."""
    batch: int = 4
    """Tiles per network call."""
    flip: bool = True
    """Also run each tile mirrored and average the heatmaps (fewer false alarms)."""


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """What the ONNX model says about itself (its ``metadata_props``)."""

    gsd_m: float
    """Ground sample distance the model expects (m)."""
    stride: int
    """Network input pixels per heatmap cell side."""
    score_threshold: float
    """Score threshold chosen on held-out images."""
    version: str
    """Model version string."""
    kind: str = ""
    """``basewatch_model`` entry (e.g. ``aircraft-centernet``, ``ships-s2-centernet``)."""
    bands: tuple[str, ...] = ()
    """Input channels in order (empty: the detector's default)."""
    peak_window: int = 3
    """Side of the window in which a heatmap cell must be the maximum to be a peak."""
    nms_iou: float = NMS_IOU
    """Boxes overlapping a better one by more than this IoU are dropped (chosen per model)."""
    large_m: float = 0.0
    """Objects at least this long (m) are taken from a second, coarser pass (0: one pass)."""


# --------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------


def resample(image: np.ndarray, factor: float) -> np.ndarray:
    """Shrink (``factor`` > 1) or enlarge a ``(rows, cols, bands)`` image by ``factor``.

    The output has ``input / factor`` pixels per side. Integer shrink factors use a block mean
    (area averaging, as a coarser sensor would); the rest of the factor is done with bilinear
    interpolation.
    """
    if abs(factor - 1.0) < 1e-3:
        return image.astype(np.float32)
    whole = max(1, int(math.floor(factor + 1e-6)))
    if whole > 1:
        rows = image.shape[0] // whole * whole
        cols = image.shape[1] // whole * whole
        out = np.zeros((rows // whole, cols // whole, image.shape[2]), np.float32)
        for i in range(whole):
            for j in range(whole):
                out += image[i:rows:whole, j:cols:whole]
        out /= whole * whole
    else:
        out = image.astype(np.float32)
    rest = factor / whole
    if abs(rest - 1.0) > 1e-3:
        # band by band on contiguous planes: the same values as filtering the (rows, cols,
        # bands) array with a zero sigma and zoom on the band axis, in 60 % of the time
        planes = []
        for band in range(out.shape[2]):
            plane = np.ascontiguousarray(out[..., band])
            if rest > 1.0:
                plane = ndimage.gaussian_filter(plane, sigma=0.4 * (rest - 1.0) + 1e-3)
            plane = ndimage.zoom(plane, 1.0 / rest, order=1, grid_mode=True, mode="nearest")
            planes.append(plane)
        out = np.stack(planes, axis=-1)
    return out.astype(np.float32)


# --------------------------------------------------------------------------------------------
# Model loading
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _session(path: str, mtime: float, threads: int, trainer: str) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads > 0:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise InputError(
            f"model {path} cannot be loaded by onnxruntime ({exc}); "
            f"pass an ONNX file written by `{trainer}`"
        ) from None


def open_model(
    path: Path,
    *,
    what: str,
    trainer: str,
    shipped: bool,
    defaults: ModelInfo,
    threads: int = 0,
) -> tuple[Any, ModelInfo]:
    """Open a CenterNet ONNX model and read its metadata (missing entries from ``defaults``).

    ``what`` names the model in messages (``aircraft``), ``trainer`` the command that writes
    such files, ``shipped`` whether ``path`` is the packaged default; ``threads`` sets
    onnxruntime's intra-op threads (0: its default).
    """
    if not path.is_file():
        fix = (
            "reinstall basewatch (the model ships in basewatch/models/)"
            if shipped
            else f"pass the .onnx file written by `{trainer}`"
        )
        raise InputError(f"{what} model {path} does not exist; {fix}")
    session = _session(str(path.resolve()), path.stat().st_mtime, threads, trainer)
    meta = session.get_modelmeta().custom_metadata_map
    names = [o.name for o in session.get_outputs()]
    if names[:2] != ["heatmap", "regression"]:
        raise InputError(
            f"model {path} has outputs {names}, not (heatmap, regression): it is not a "
            f"basewatch {what} model; for YOLO exports use basewatch.detect.yolo"
        )
    bands = tuple(b for b in meta.get("bands", "").split(",") if b) or defaults.bands
    info = ModelInfo(
        gsd_m=float(meta.get("gsd_m", defaults.gsd_m)),
        stride=int(meta.get("stride", defaults.stride)),
        score_threshold=float(meta.get("score_threshold", defaults.score_threshold)),
        version=str(meta.get("version", defaults.version)),
        kind=str(meta.get("basewatch_model", defaults.kind)),
        bands=bands,
        peak_window=int(meta.get("peak_window", defaults.peak_window)),
        nms_iou=float(meta.get("nms_iou", defaults.nms_iou)),
        large_m=float(meta.get("large_m", defaults.large_m)),
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
    peak_window: int = 3,
) -> np.ndarray:
    """Peaks of one tile's heatmap as rows ``(x0, y0, x1, y1, score)`` in network pixels.

    ``heatmap`` is ``(1, h, w)`` in [0, 1]; ``regression`` is ``(4, h, w)``: centre offset
    within the cell (x, y, in cells) and log box width and height (in network pixels). A
    peak is a cell that is the maximum of its ``peak_window`` square and reaches ``threshold``.
    """
    hm = heatmap[0]
    top = ndimage.maximum_filter(hm, size=peak_window, mode="constant")
    peaks = (hm == top) & (hm >= threshold)
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
    peak_window: int = 3,
    nms_iou: float = NMS_IOU,
) -> np.ndarray:
    """Run the network over a ``(channels, rows, cols)`` network input tile by tile.

    Each tile keeps only the detections whose centre lies in its own share of the overlap
    (the half nearest to it), then NMS (``nms_iou``) removes what still doubles up. Returns
    rows ``(x0, y0, x1, y1, score)`` in the image's pixels.
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
            dets = decode(hm, reg, stride=stride, threshold=threshold, peak_window=peak_window)
            if len(dets) == 0:
                continue
            dets[:, [0, 2]] += x
            dets[:, [1, 3]] += y
            keep = _owned(dets, (y, x), (th, tw), ys, xs)
            found.append(dets[keep])
    if not found:
        return np.zeros((0, 5), dtype=np.float32)
    boxes = nms(np.concatenate(found), nms_iou)
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
# Boxes to detections
# --------------------------------------------------------------------------------------------


def to_detection(box: Sequence[float], *, factor: float, gsd_m: float, cls: str) -> Detection:
    """A network box row ``(x0, y0, x1, y1, score)`` as a :class:`Detection` in image pixels.

    ``factor`` is image pixels per network pixel, ``gsd_m`` the image's pixel size. The box's
    longer side is the major axis: north-south (heading 0) or east-west (90), so a footprint
    drawn from length, width and heading is the axis-aligned box itself.
    """
    x0, y0, x1, y1 = (float(v) * factor for v in box[:4])
    width, height = x1 - x0, y1 - y0
    bbox = (
        int(round(max(0.0, x0))),
        int(round(max(0.0, y0))),
        max(1, int(round(width))),
        max(1, int(round(height))),
    )
    length_px, width_px = max(width, height), min(width, height)
    return Detection(
        bbox_px=bbox,
        score=float(np.clip(box[4], 0.0, 1.0)),
        cls=cls,
        centroid_px=((x0 + x1) / 2, (y0 + y1) / 2),
        length_m=length_px * gsd_m,
        width_m=width_px * gsd_m,
        heading_deg=0.0 if height >= width else 90.0,
        area_px=int(round(width * height)),
    )


def centre_inside(det: Detection, mask: np.ndarray | None) -> bool:
    """Whether ``det``'s centre pixel is True in ``mask`` (always, when ``mask`` is None)."""
    if mask is None:
        return True
    col, row = det.centroid_px
    r, c = int(row), int(col)
    return 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and bool(mask[r, c])

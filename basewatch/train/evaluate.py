"""Score an aircraft model against labelled images: precision, recall, F1, count error."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basewatch.detect.aircraft import box_iou, detect_aircraft
from basewatch.train.labels import LabelledImage

IOU = 0.3
"""A detection matches a labelled aircraft at this IoU or more."""


@dataclass(frozen=True, kw_only=True)
class ImageScore:
    """Matching result of one image."""

    name: str
    """Image file name."""
    truth: int
    """Labelled aircraft."""
    found: int
    """Detections."""
    matched: int
    """Detections matched one-to-one to a label at IoU >= :data:`IOU`."""


def match(pred: np.ndarray, truth: np.ndarray, iou: float = IOU) -> int:
    """Greedy one-to-one matches of ``pred`` rows (x0, y0, x1, y1, score) to ``truth`` boxes."""
    if len(pred) == 0 or len(truth) == 0:
        return 0
    free = np.ones(len(truth), dtype=bool)
    n = 0
    for box in pred[np.argsort(-pred[:, 4], kind="stable")]:
        ious = np.where(free, box_iou(box, truth), 0.0)
        j = int(np.argmax(ious))
        if ious[j] >= iou:
            free[j] = False
            n += 1
    return n


def match_detail(
    pred: np.ndarray, truth: np.ndarray, iou: float = IOU
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching as :func:`match`, returning which rows matched.

    Returns ``(pred_matched, truth_matched)``, boolean arrays over ``pred`` and ``truth`` rows.
    """
    pred_ok = np.zeros(len(pred), dtype=bool)
    truth_ok = np.zeros(len(truth), dtype=bool)
    if len(pred) == 0 or len(truth) == 0:
        return pred_ok, truth_ok
    for k in np.argsort(-pred[:, 4], kind="stable"):
        ious = np.where(~truth_ok, box_iou(pred[k], truth), 0.0)
        j = int(np.argmax(ious))
        if ious[j] >= iou:
            truth_ok[j] = True
            pred_ok[k] = True
    return pred_ok, truth_ok


def detections_array(
    item: LabelledImage,
    model: Path | None,
    threshold: float | None = None,
    nms_iou: float | None = None,
) -> np.ndarray:
    """Detections of ``model`` on ``item`` as rows ``(x0, y0, x1, y1, score)`` (image px)."""
    dets = detect_aircraft(item.read(), item.gsd_m, model, threshold=threshold, nms_iou=nms_iou)
    return np.array(
        [[c, r, c + w, r + h, d.score] for d in dets for c, r, w, h in [d.bbox_px]],
        dtype=np.float32,
    ).reshape(-1, 5)


def best_threshold(
    preds: list[np.ndarray], truths: list[np.ndarray], grid: np.ndarray | None = None
) -> tuple[float, float]:
    """The score threshold of ``grid`` with the best pooled F1 over the given images.

    ``preds`` hold rows ``(x0, y0, x1, y1, score)`` found at a low threshold; returns
    ``(threshold, f1)``. Ties go to the lower threshold.
    """
    grid = np.round(np.arange(0.15, 0.81, 0.025), 3) if grid is None else grid
    best = (float(grid[0]), -1.0)
    for t in grid:
        tp = found = total = 0
        for p, tr in zip(preds, truths, strict=True):
            kept = p[p[:, 4] >= t]
            tp += match(kept, tr)
            found += len(kept)
            total += len(tr)
        prec = tp / found if found else 0.0
        rec = tp / total if total else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        if f1 > best[1] + 1e-9:
            best = (float(t), f1)
    return best


def score_image(
    item: LabelledImage, model: Path | None, threshold: float | None = None
) -> ImageScore:
    """Run the detector on one labelled image and match its detections to the labels."""
    dets = detect_aircraft(item.read(), item.gsd_m, model, threshold=threshold)
    pred = np.array(
        [[c, r, c + w, r + h, d.score] for d in dets for c, r, w, h in [d.bbox_px]],
        dtype=np.float32,
    ).reshape(-1, 5)
    return ImageScore(
        name=item.name, truth=len(item.boxes), found=len(pred), matched=match(pred, item.boxes)
    )


def summary(scores: list[ImageScore]) -> dict[str, float]:
    """Pooled precision, recall, F1 and the median per-image relative count error."""
    tp = sum(s.matched for s in scores)
    found = sum(s.found for s in scores)
    truth = sum(s.truth for s in scores)
    p = tp / found if found else 0.0
    r = tp / truth if truth else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    errors = [abs(s.found - s.truth) / max(s.truth, 1) for s in scores] or [0.0]
    return {"precision": p, "recall": r, "f1": f1, "median_count_error": statistics.median(errors)}

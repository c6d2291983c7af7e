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

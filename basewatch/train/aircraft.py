"""Train the aircraft detector from scratch on CPU and export it to ONNX (extra ``[train]``).

The network, loss, batches and export are :mod:`basewatch.train.centernet`'s; the aircraft
model is that network at 1 m per pixel on RGB, stem stride 2 and heads at 1/4 (4 m cells),
width 16. The encoder reaches 1/16 with a dilated block, so the receptive field covers a
73 m An-124. Crops are 256 m, drawn with any rotation, flips and scale 0.75-1.33, then this
module's photometric augmentation (colour gain/offset, haze, occasional grayscale, blur,
noise) on the normalised pixels. 75 % of the crops are centred near an aircraft.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from basewatch.detect.aircraft import MODEL_GSD_M, STRIDE, VERSION, normalise, resample
from basewatch.errors import InputError
from basewatch.train import centernet
from basewatch.train.centernet import (
    CenterNet,
    NetSpec,
    Prepared,
    TrainConfig,
    TrainResult,
    _crop,
)
from basewatch.train.labels import LabelledImage

__all__ = [
    "NET",
    "Prepared",
    "TrainConfig",
    "TrainResult",
    "_crop",
    "prepare",
    "targets",
    "train",
]

NET = NetSpec(in_channels=3, width=16, stem_stride=2, head_level=1)
"""The aircraft network: RGB in, heads at 1/4 (``STRIDE``)."""


def prepare(images: Sequence[LabelledImage]) -> list[Prepared]:
    """Read, resample to the model GSD and normalise every image once."""
    out = []
    for item in images:
        factor = MODEL_GSD_M / item.gsd_m
        pixels = normalise(resample(item.read(), factor))
        out.append(Prepared(image=torch.from_numpy(pixels), boxes=item.boxes / factor))
    return out


def photometric(
    x: Tensor, boxes: np.ndarray, rng: np.random.Generator
) -> tuple[Tensor, np.ndarray]:
    """Colour gain/offset, haze, grayscale, blur and noise on one normalised crop."""
    gain = torch.tensor(rng.normal(1.0, 0.08, 3) * rng.uniform(0.7, 1.3), dtype=torch.float32)
    bias = torch.tensor(rng.normal(0.0, 0.05, 3) + rng.normal(0.0, 0.15), dtype=torch.float32)
    x = x * gain[:, None, None] + bias[:, None, None]
    if rng.random() < 0.3:
        haze = float(rng.uniform(0.2, 0.6))
        x = x * (1 - haze) + haze * float(rng.uniform(0.0, 1.0))
    if rng.random() < 0.1:
        x = x.mean(0, keepdim=True).expand(3, -1, -1)
    if rng.random() < 0.2:
        x = F.avg_pool2d(x[None], 3, 1, 1, count_include_pad=False)[0]
    return x + torch.randn_like(x) * float(rng.uniform(0.0, 0.05)), boxes


def targets(boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmap ``(1, n, n)``, regression ``(4, n, n)`` and its mask for an aircraft crop."""
    return centernet.targets(boxes, size, stride=STRIDE)


def train(
    images: Sequence[LabelledImage],
    out: Path,
    cfg: TrainConfig = centernet.DEFAULT_CONFIG,
    *,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train an aircraft detector on ``images`` and export it to ``out`` (ONNX)."""
    if not images:
        raise InputError("train aircraft: no labelled images to train on")
    if sum(len(im.boxes) for im in images) == 0:
        raise InputError("train aircraft: the labelled images hold no aircraft box")
    centernet.seed_everything(cfg)
    data = prepare(images)
    net = CenterNet(NET)
    meta = {
        "basewatch_model": "aircraft-centernet",
        "version": VERSION,
        "gsd_m": str(MODEL_GSD_M),
        "bands": "red,green,blue",
        "names": "{0: 'aircraft'}",
    }
    names = [im.name for im in images]
    return centernet.fit(
        net, data, out, cfg, augment=photometric, meta=meta, names=names, progress=progress
    )

"""Train the aircraft detector from scratch on CPU and export it to ONNX (extra ``[train]``).

The network, loss, batches and export are :mod:`basewatch.train.centernet`'s; the aircraft
model is that network at 1 m per pixel on RGB, stem stride 2 and heads at 1/4 (4 m cells),
width 16. The encoder reaches 1/16 with a dilated block, so the receptive field covers a
73 m An-124. Crops are 256 m, drawn with any rotation, flips and scale 0.75-1.33, then this
module's photometric augmentation (colour gain/offset, haze, occasional grayscale, blur,
noise) on the normalised pixels. 75 % of the crops are centred near an aircraft.
"""

from __future__ import annotations

import math
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
    "AIRCRAFT_CONFIG",
    "NET",
    "Prepared",
    "TrainConfig",
    "TrainResult",
    "_crop",
    "prepare",
    "targets",
    "train",
    "train_prepared",
]

NET = NetSpec(in_channels=3, width=16, stem_stride=2, head_level=1)
"""The aircraft network: RGB in, heads at 1/4 (``STRIDE``)."""

AIRCRAFT_CONFIG = TrainConfig(
    epochs=40,
    steps_per_epoch=25,
    positive_share=0.65,
    hard_negative_share=0.2,
    mine_at=(0.35, 0.7),
    mine_threshold=0.2,
    scale_range=(0.7, 1.45),
    threads=1,
)
"""The aircraft recipe: once false alarms are mined (after 35 % and 70 % of the batches),
20 % of the crops centre on one of them, 52 % near an aircraft and the rest anywhere."""


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
    """Photometric augmentation of one normalised crop (what varies between airports).

    Colour gain/offset per band and overall, a gamma-like curve, haze (contrast loss towards
    a bright or dark veil), soft cast shadows (building or cloud shadow patches), grayscale,
    blur of random strength, JPEG compression artefacts and sensor noise.
    """
    gain = torch.tensor(rng.normal(1.0, 0.1, 3) * rng.uniform(0.65, 1.35), dtype=torch.float32)
    bias = torch.tensor(rng.normal(0.0, 0.06, 3) + rng.normal(0.0, 0.2), dtype=torch.float32)
    x = x * gain[:, None, None] + bias[:, None, None]
    if rng.random() < 0.3:
        # gamma-like curve: bends mid-tones, keeps order
        d = x - x.mean()
        x = x + float(rng.uniform(-0.3, 0.3)) * d * d.abs().clamp(max=1.5)
    if rng.random() < 0.35:
        haze = float(rng.uniform(0.2, 0.7))
        x = x * (1 - haze) + haze * float(rng.uniform(-0.2, 1.2))
    if rng.random() < 0.3:
        x = _shadow(x, rng)
    if rng.random() < 0.1:
        x = x.mean(0, keepdim=True).expand(3, -1, -1)
    if rng.random() < 0.3:
        sigma = float(rng.uniform(0.5, 1.5))
        x = _gauss_blur(x, sigma)
    if rng.random() < 0.3:
        x = _jpeg(x, int(rng.integers(20, 80)))
    return x + torch.randn_like(x) * float(rng.uniform(0.0, 0.06)), boxes


def _gauss_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of a ``(c, h, w)`` tensor."""
    radius = max(1, int(math.ceil(2.5 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[0]
    y = F.pad(x[None], (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)
    y = F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), groups=c)
    return y[0]


def _shadow(x: Tensor, rng: np.random.Generator) -> Tensor:
    """Darken a soft-edged random ellipse (a cast or cloud shadow) of the crop."""
    _, h, w = x.shape
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    ry, rx = rng.uniform(0.1, 0.6) * h, rng.uniform(0.1, 0.6) * w
    angle = rng.uniform(0, math.pi)
    ca, sa = math.cos(angle), math.sin(angle)
    u = ((xx - cx) * ca + (yy - cy) * sa) / rx
    v = (-(xx - cx) * sa + (yy - cy) * ca) / ry
    mask = torch.sigmoid((1.0 - torch.sqrt(u**2 + v**2)) * float(rng.uniform(3, 15)))
    floor = float(x.min())
    depth = float(rng.uniform(0.3, 0.75))
    return x - depth * mask[None] * (x - floor)


def _jpeg(x: Tensor, quality: int) -> Tensor:
    """Round-trip the crop through JPEG at ``quality`` (block and ringing artefacts)."""
    import io

    from PIL import Image

    lo = float(x.min())
    hi = max(float(x.max()), lo + 1e-3)
    u8 = ((x - lo) / (hi - lo) * 255).clamp(0, 255).byte().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(u8)).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    back = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(back).permute(2, 0, 1) / 255 * (hi - lo) + lo


def targets(boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmap ``(1, n, n)``, regression ``(4, n, n)`` and its mask for an aircraft crop."""
    return centernet.targets(boxes, size, stride=STRIDE)


def train(
    images: Sequence[LabelledImage],
    out: Path,
    cfg: TrainConfig = AIRCRAFT_CONFIG,
    *,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train an aircraft detector on ``images`` and export it to ``out`` (ONNX)."""
    if not images:
        raise InputError("train aircraft: no labelled images to train on")
    if sum(len(im.boxes) for im in images) == 0:
        raise InputError("train aircraft: the labelled images hold no aircraft box")
    centernet.seed_everything(cfg)
    return train_prepared(prepare(images), [im.name for im in images], out, cfg, progress=progress)


def train_prepared(
    data: Sequence[Prepared],
    names: Sequence[str],
    out: Path,
    cfg: TrainConfig = AIRCRAFT_CONFIG,
    *,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train on images already passed through :func:`prepare` (the bench prepares once)."""
    centernet.seed_everything(cfg)
    net = CenterNet(NET)
    meta = {
        "basewatch_model": "aircraft-centernet",
        "version": VERSION,
        "gsd_m": str(MODEL_GSD_M),
        "bands": "red,green,blue",
        "names": "{0: 'aircraft'}",
    }
    return centernet.fit(
        net, data, out, cfg, augment=photometric, meta=meta, names=names, progress=progress
    )

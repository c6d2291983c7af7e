"""Train the aircraft detector from scratch on CPU and export it to ONNX (extra ``[train]``).

Architecture: a small CenterNet-style fully convolutional network at 1 m per pixel. An
encoder (strides 2-16, a dilated block at 1/16 so the receptive field covers a 73 m An-124)
and a two-step decoder with skip connections produce, at 1/4 resolution (4 m cells):

* ``heatmap``: probability that an aircraft centre lies in the cell (focal loss on Gaussian
  targets, as in CenterNet);
* ``regression``: sub-cell centre offset (x, y) and log box width/height in network pixels.

Training samples are 256 m crops drawn on the fly with ``grid_sample`` from the whole
normalised images: arbitrary rotation, flips, scale 0.75-1.33, colour gain/offset, haze,
noise, occasional grayscale. Crops are centred on an aircraft most of the time and anywhere
otherwise, so the network also learns the empty parts of an airport.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from basewatch.detect.aircraft import MODEL_GSD_M, STRIDE, normalise, resample
from basewatch.errors import InputError
from basewatch.train.labels import LabelledImage

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Training settings."""

    epochs: int = 40
    """Passes of ``steps_per_epoch`` batches."""
    steps_per_epoch: int = 25
    """Batches per epoch."""
    batch: int = 12
    """Crops per batch."""
    crop: int = 256
    """Crop side in network pixels (metres at 1 m)."""
    lr: float = 3e-3
    """Peak learning rate (AdamW, one-cycle schedule)."""
    width: int = 16
    """Channels of the first layer; later layers use 2x, 4x, 6x."""
    positive_share: float = 0.75
    """Share of crops centred on an aircraft."""
    seed: int = 0
    """Random seed (torch and numpy)."""
    threads: int = 2
    """Torch CPU threads."""
    score_threshold: float = 0.45
    """Score threshold written into the model's metadata."""
    checkpoint_every: int = 0
    """Also export the ONNX model every this many epochs (0: only at the end)."""


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class AircraftNet(nn.Module):
    """Tiny CenterNet: encoder to 1/16, decoder back to 1/4, heatmap and box heads."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w1, w2, w3, w4 = width, 2 * width, 4 * width, 6 * width
        self.stem = _conv(3, w1, 2)
        self.enc2 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))
        self.enc3 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))
        self.enc4 = nn.Sequential(_conv(w3, w4, 2), _conv(w4, w4), _conv(w4, w4, dilation=2))
        self.lat4 = nn.Conv2d(w4, w3, 1)
        self.dec3 = _conv(w3, w3)
        self.lat3 = nn.Conv2d(w3, w2, 1)
        self.dec2 = _conv(w2, w2)
        self.hm_head = nn.Sequential(_conv(w2, w2), nn.Conv2d(w2, 1, 1))
        self.reg_head = nn.Sequential(_conv(w2, w2), nn.Conv2d(w2, 4, 1))
        nn.init.constant_(self.hm_head[-1].bias, -2.19)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Heatmap logits ``(b, 1, h/4, w/4)`` and regression ``(b, 4, h/4, w/4)``."""
        s2 = self.enc2(self.stem(x))
        s3 = self.enc3(s2)
        s4 = self.enc4(s3)
        d3 = self.dec3(s3 + F.interpolate(self.lat4(s4), scale_factor=2.0, mode="nearest"))
        d2 = self.dec2(s2 + F.interpolate(self.lat3(d3), scale_factor=2.0, mode="nearest"))
        return self.hm_head(d2), self.reg_head(d2)


class _Exported(nn.Module):
    """The network as exported: sigmoid on the heatmap."""

    def __init__(self, net: AircraftNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logits, reg = self.net(x)
        return torch.sigmoid(logits), reg


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """One training image at the model's GSD."""

    image: Tensor
    """``(3, rows, cols)`` normalised pixels."""
    boxes: np.ndarray
    """``(n, 4)`` boxes ``(x0, y0, x1, y1)`` in model pixels."""


def prepare(images: Sequence[LabelledImage]) -> list[Prepared]:
    """Read, resample to the model GSD and normalise every image once."""
    out = []
    for item in images:
        factor = MODEL_GSD_M / item.gsd_m
        pixels = normalise(resample(item.read(), factor))
        out.append(Prepared(image=torch.from_numpy(pixels), boxes=item.boxes / factor))
    return out


def _sample_params(
    rng: np.random.Generator, data: Sequence[Prepared], cfg: TrainConfig
) -> tuple[int, np.ndarray, float, float, bool]:
    """Random image, crop centre (model px), angle, scale and flip for one crop."""
    i = int(rng.integers(len(data)))
    item = data[i]
    _, rows, cols = item.image.shape
    if len(item.boxes) and rng.random() < cfg.positive_share:
        b = item.boxes[rng.integers(len(item.boxes))]
        centre = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) + rng.uniform(-90, 90, 2)
    else:
        centre = rng.uniform([0, 0], [cols, rows])
    angle = float(rng.uniform(0, 2 * math.pi))
    scale = float(math.exp(rng.uniform(math.log(0.75), math.log(1.33))))
    return i, centre, angle, scale, bool(rng.random() < 0.5)


def _crop(
    item: Prepared, centre: np.ndarray, angle: float, scale: float, flip: bool, size: int
) -> tuple[Tensor, np.ndarray]:
    """One rotated/scaled/flipped crop and its boxes in crop pixels."""
    _, rows, cols = item.image.shape
    c, s = math.cos(angle), math.sin(angle)
    fx = -1.0 if flip else 1.0
    # output offset (u, v) from crop centre -> source offset = scale * R @ (fx * u, v)
    m = np.array([[c * fx, -s], [s * fx, c]]) * scale
    half = size / 2
    theta = np.zeros((2, 3), dtype=np.float32)
    theta[0, :2] = m[0] * np.array([half, half]) / (cols / 2)
    theta[1, :2] = m[1] * np.array([half, half]) / (rows / 2)
    theta[0, 2] = (centre[0] - cols / 2) / (cols / 2)
    theta[1, 2] = (centre[1] - rows / 2) / (rows / 2)
    grid = F.affine_grid(torch.from_numpy(theta)[None], [1, 3, size, size], align_corners=False)
    crop = F.grid_sample(
        item.image[None], grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    boxes = item.boxes
    if len(boxes) == 0:
        return crop[0], np.zeros((0, 4), dtype=np.float32)
    ctr = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    uv = (ctr - centre) @ np.linalg.inv(m).T + half
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    c2, s2 = c * c, s * s
    nw = (c2 * w + s2 * h) / scale
    nh = (s2 * w + c2 * h) / scale
    out = np.stack([uv[:, 0] - nw / 2, uv[:, 1] - nh / 2, uv[:, 0] + nw / 2, uv[:, 1] + nh / 2], 1)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < size) & (uv[:, 1] >= 0) & (uv[:, 1] < size)
    return crop[0], out[inside].astype(np.float32)


def _photometric(x: Tensor, rng: np.random.Generator) -> Tensor:
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
    return x + torch.randn_like(x) * float(rng.uniform(0.0, 0.05))


def targets(boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmap ``(1, n, n)``, regression ``(4, n, n)`` and its mask ``(1, n, n)`` for a crop."""
    n = size // STRIDE
    hm = np.zeros((1, n, n), dtype=np.float32)
    reg = np.zeros((4, n, n), dtype=np.float32)
    mask = np.zeros((1, n, n), dtype=np.float32)
    yy, xx = np.mgrid[0:n, 0:n]
    for x0, y0, x1, y1 in boxes:
        w, h = max(x1 - x0, 2.0), max(y1 - y0, 2.0)
        cx, cy = (x0 + x1) / 2 / STRIDE, (y0 + y1) / 2 / STRIDE
        j, i = int(cx), int(cy)
        if not (0 <= i < n and 0 <= j < n):
            continue
        sigma = max(0.8, math.sqrt(w * h) / STRIDE / 6)
        g = np.exp(-((xx - j) ** 2 + (yy - i) ** 2) / (2 * sigma**2))
        hm[0] = np.maximum(hm[0], g)
        reg[:, i, j] = (cx - j, cy - i, math.log(w), math.log(h))
        mask[0, i, j] = 1.0
    return hm, reg, mask


def make_batch(
    data: Sequence[Prepared], rng: np.random.Generator, cfg: TrainConfig
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A batch of augmented crops with their targets."""
    xs, hms, regs, masks = [], [], [], []
    for _ in range(cfg.batch):
        i, centre, angle, scale, flip = _sample_params(rng, data, cfg)
        crop, boxes = _crop(data[i], centre, angle, scale, flip, cfg.crop)
        hm, reg, mask = targets(boxes, cfg.crop)
        xs.append(_photometric(crop, rng))
        hms.append(hm)
        regs.append(reg)
        masks.append(mask)
    return (
        torch.stack(xs),
        torch.from_numpy(np.stack(hms)),
        torch.from_numpy(np.stack(regs)),
        torch.from_numpy(np.stack(masks)),
    )


# --------------------------------------------------------------------------------------------
# Loss and training loop
# --------------------------------------------------------------------------------------------


def focal_loss(logits: Tensor, target: Tensor) -> Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of centres."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1.0).float()
    neg = 1.0 - pos
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p**2 * (1 - target) ** 4 * neg
    n = pos.sum().clamp(min=1.0)
    return -(pos_loss.sum() + neg_loss.sum()) / n


def regression_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """L1 on offsets and log sizes at centre cells."""
    n = mask.sum().clamp(min=1.0)
    return (F.l1_loss(pred, target, reduction="none") * mask).sum() / n


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """What a training run produced."""

    onnx_path: Path
    """The exported model."""
    seconds: float
    """Wall-clock training time (without data loading and export)."""
    final_loss: float
    """Mean loss over the last epoch."""
    images: tuple[str, ...]
    """Names of the training images."""


def train(
    images: Sequence[LabelledImage],
    out: Path,
    cfg: TrainConfig = TrainConfig(),
    *,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a detector on ``images`` and export it to ``out`` (ONNX)."""
    if not images:
        raise InputError("train aircraft: no labelled images to train on")
    if sum(len(im.boxes) for im in images) == 0:
        raise InputError("train aircraft: the labelled images hold no aircraft box")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    data = prepare(images)
    net = AircraftNet(cfg.width)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    total = cfg.epochs * cfg.steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total)
    start = time.monotonic()
    last = 0.0
    net.train()
    for epoch in range(cfg.epochs):
        losses = []
        for _ in range(cfg.steps_per_epoch):
            x, hm, reg, mask = make_batch(data, rng, cfg)
            logits, pred = net(x)
            loss = focal_loss(logits, hm) + regression_loss(pred, reg, mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        last = float(np.mean(losses))
        if progress is not None:
            progress(epoch + 1, last)
        log.info("epoch %d/%d loss %.4f", epoch + 1, cfg.epochs, last)
        if cfg.checkpoint_every and (epoch + 1) % cfg.checkpoint_every == 0:
            names = [im.name for im in images]
            export_onnx(net, out, cfg=cfg, images=names, seconds=time.monotonic() - start)
            net.train()
    seconds = time.monotonic() - start
    export_onnx(net, out, cfg=cfg, images=[im.name for im in images], seconds=seconds)
    return TrainResult(
        onnx_path=out, seconds=seconds, final_loss=last, images=tuple(im.name for im in images)
    )


def export_onnx(
    net: AircraftNet, out: Path, *, cfg: TrainConfig, images: Sequence[str], seconds: float
) -> None:
    """Write ``net`` as ONNX (opset 17, dynamic batch and size) with its metadata."""
    import onnx

    net.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, cfg.crop, cfg.crop)
    torch.onnx.export(
        _Exported(net),
        (dummy,),
        str(out),
        dynamo=False,
        opset_version=17,
        input_names=["image"],
        output_names=["heatmap", "regression"],
        dynamic_axes={
            "image": {0: "batch", 2: "rows", 3: "cols"},
            "heatmap": {0: "batch", 2: "hrows", 3: "hcols"},
            "regression": {0: "batch", 2: "hrows", 3: "hcols"},
        },
    )
    model = onnx.load(str(out))
    meta = {
        "basewatch_model": "aircraft-centernet",
        "version": "1.0.0",
        "gsd_m": str(MODEL_GSD_M),
        "stride": str(STRIDE),
        "score_threshold": str(cfg.score_threshold),
        "names": "{0: 'aircraft'}",
        "training_images": ",".join(images),
        "training_seconds": f"{seconds:.0f}",
        "config": repr(cfg),
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(out))

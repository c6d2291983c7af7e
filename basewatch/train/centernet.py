"""The CenterNet-style trainer shared by basewatch's detectors (extra ``[train]``).

One small fully convolutional network, one loss, one batch maker and one ONNX export serve
every detector basewatch trains (aircraft in sub-metre images, ships in Sentinel-2); what
differs is a :class:`NetSpec` (input channels, width, output stride), an optional
preprocessing module baked into the exported graph, the augmentation hook and the metadata.

Network: an encoder (strides 2-8 after the stem, a dilated block at the deepest level) and a
decoder with skip connections back to the head level. Outputs at 1/``stride`` of the input:

* ``heatmap``: probability that an object centre lies in the cell (CenterNet's focal loss on
  Gaussian targets);
* ``regression``: sub-cell centre offset (x, y) and log box width/height in network pixels.

Training samples are square crops drawn on the fly with ``grid_sample`` from the whole
prepared images (any rotation, flips, a scale range), then passed to the detector's own
augmentation hook; the loss can be masked over regions with unlabelled objects.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from basewatch.errors import InputError

log = logging.getLogger(__name__)

Augment = Callable[[Tensor, np.ndarray, np.random.Generator], tuple[Tensor, np.ndarray]]
"""Augmentation hook: ``(crop, boxes, rng) -> (network input, boxes)`` for one crop."""


@dataclass(frozen=True, kw_only=True)
class NetSpec:
    """Shape of the network."""

    in_channels: int = 3
    """Channels reaching the first convolution (after any preprocessing module)."""
    width: int = 16
    """Channels of the first layer; later levels use 2x, 4x, 6x."""
    stem_stride: int = 2
    """Stride of the first convolution (1 keeps full resolution for small objects)."""
    head_level: int = 1
    """Level the decoder returns to: 0 the stem's, 1 the next one (stride x2)."""

    @property
    def stride(self) -> int:
        """Network input pixels per output cell side."""
        return self.stem_stride * 2**self.head_level


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
    """Crop side in network pixels."""
    lr: float = 3e-3
    """Peak learning rate (AdamW, one-cycle schedule)."""
    positive_share: float = 0.75
    """Share of crops centred near an object."""
    jitter_px: float = 90.0
    """Largest offset of a positive crop's centre from its object (network pixels)."""
    scale_range: tuple[float, float] = (0.75, 1.33)
    """Range of the random scale (log-uniform)."""
    min_sigma: float = 0.8
    """Smallest Gaussian radius of a heatmap target (cells)."""
    max_sigma: float = 1e9
    """Largest Gaussian radius of a heatmap target (cells)."""
    max_sigma_along: float = 3.0
    """Largest radius along the axis of an elongated target (cells)."""
    sigma_div: float = 6.0
    """Target radius = sqrt(box area) / stride / this."""
    seed: int = 0
    """Random seed (torch and numpy)."""
    threads: int = 2
    """Torch CPU threads."""
    score_threshold: float = 0.45
    """Score threshold written into the model's metadata."""
    checkpoint_every: int = 0
    """Also export the ONNX model every this many epochs (0: only at the end)."""
    hard_negative_share: float = 0.0
    """Share of crops centred on mined false alarms once mining has run (0: no mining)."""
    mine_at: tuple[float, ...] = (0.5,)
    """Fractions of the training after which false alarms are mined from the training
    images (the network's peaks that lie on no labelled object)."""
    mine_threshold: float = 0.2
    """Heatmap score from which an unlabelled peak counts as a false alarm to mine."""


DEFAULT_CONFIG = TrainConfig()
"""The default training settings."""


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CenterNet(nn.Module):
    """Tiny CenterNet: encoder to 1/8 of the stem, decoder back to the head level."""

    def __init__(
        self, spec: NetSpec, preprocess: nn.Module | None = None, input_channels: int = 0
    ) -> None:
        super().__init__()
        if spec.head_level not in (0, 1):
            raise InputError(f"NetSpec.head_level must be 0 or 1, got {spec.head_level}")
        self.spec = spec
        self.input_channels = input_channels or spec.in_channels
        self.pre = preprocess if preprocess is not None else nn.Identity()
        width = spec.width
        w1, w2, w3, w4 = width, 2 * width, 4 * width, 6 * width
        self.stem = _conv(spec.in_channels, w1, spec.stem_stride)
        self.enc2 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))
        self.enc3 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))
        self.enc4 = nn.Sequential(_conv(w3, w4, 2), _conv(w4, w4), _conv(w4, w4, dilation=2))
        self.lat4 = nn.Conv2d(w4, w3, 1)
        self.dec3 = _conv(w3, w3)
        self.lat3 = nn.Conv2d(w3, w2, 1)
        self.dec2 = _conv(w2, w2)
        head = w2
        if spec.head_level == 0:
            self.lat2 = nn.Conv2d(w2, w1, 1)
            self.dec1 = _conv(w1, w1)
            head = w1
        self.hm_head = nn.Sequential(_conv(head, head), nn.Conv2d(head, 1, 1))
        self.reg_head = nn.Sequential(_conv(head, head), nn.Conv2d(head, 4, 1))
        nn.init.constant_(self.hm_head[-1].bias, -2.19)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Heatmap logits ``(b, 1, h/s, w/s)`` and regression ``(b, 4, h/s, w/s)``."""
        s1 = self.stem(self.pre(x))
        s2 = self.enc2(s1)
        s3 = self.enc3(s2)
        s4 = self.enc4(s3)
        d3 = self.dec3(s3 + F.interpolate(self.lat4(s4), scale_factor=2.0, mode="nearest"))
        d = self.dec2(s2 + F.interpolate(self.lat3(d3), scale_factor=2.0, mode="nearest"))
        if self.spec.head_level == 0:
            d = self.dec1(s1 + F.interpolate(self.lat2(d), scale_factor=2.0, mode="nearest"))
        return self.hm_head(d), self.reg_head(d)


class _Exported(nn.Module):
    """The network as exported: sigmoid on the heatmap."""

    def __init__(self, net: CenterNet) -> None:
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
    """``(channels, rows, cols)`` pixels as the augmentation hook expects them."""
    boxes: np.ndarray
    """``(n, 4)`` boxes ``(x0, y0, x1, y1)`` in model pixels, or ``(n, 7)`` with each object's
    major axis ``(ux, uy, length)`` (unit vector, length in pixels) for elongated targets."""
    ignore: Tensor | None = None
    """``(1, rows, cols)``: 1 where objects are present but unlabelled (no loss on negatives)."""
    weight: float = 1.0
    """Relative chance that a crop is drawn from this image."""


def _sample_params(
    rng: np.random.Generator,
    data: Sequence[Prepared],
    cfg: TrainConfig,
    hard: Sequence[np.ndarray] | None = None,
) -> tuple[int, np.ndarray, float, float, bool]:
    """Random image, crop centre (model px), angle, scale and flip for one crop.

    ``hard`` (one ``(n, 2)`` array of mined false-alarm centres per image) makes a share
    ``cfg.hard_negative_share`` of the crops centre on one of them.
    """
    if hard is not None and cfg.hard_negative_share > 0 and rng.random() < cfg.hard_negative_share:
        with_hard = [k for k, h in enumerate(hard) if len(h)]
        if with_hard:
            i = with_hard[int(rng.integers(len(with_hard)))]
            centre = hard[i][rng.integers(len(hard[i]))] + rng.uniform(-32, 32, 2)
            angle = float(rng.uniform(0, 2 * math.pi))
            lo, hi = cfg.scale_range
            scale = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            return i, centre, angle, scale, bool(rng.random() < 0.5)
    weights = np.array([d.weight for d in data], dtype=float)
    if np.all(weights == weights[0]):
        i = int(rng.integers(len(data)))
    else:
        i = int(rng.choice(len(data), p=weights / weights.sum()))
    item = data[i]
    _, rows, cols = item.image.shape
    if len(item.boxes) and rng.random() < cfg.positive_share:
        b = item.boxes[rng.integers(len(item.boxes)), :4]
        jitter = rng.uniform(-cfg.jitter_px, cfg.jitter_px, 2)
        centre = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]) + jitter
    else:
        centre = rng.uniform([0, 0], [cols, rows])
    angle = float(rng.uniform(0, 2 * math.pi))
    lo, hi = cfg.scale_range
    scale = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return i, centre, angle, scale, bool(rng.random() < 0.5)


def _crop(
    item: Prepared, centre: np.ndarray, angle: float, scale: float, flip: bool, size: int
) -> tuple[Tensor, np.ndarray]:
    """One rotated/scaled/flipped crop and its boxes in crop pixels.

    The crop carries the image's channels followed, when the item has one, by its ignore mask.
    """
    image = item.image if item.ignore is None else torch.cat([item.image, item.ignore])
    _, rows, cols = image.shape
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
    shape = [1, image.shape[0], size, size]
    grid = F.affine_grid(torch.from_numpy(theta)[None], shape, align_corners=False)
    crop = F.grid_sample(
        image[None], grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    boxes = item.boxes
    if len(boxes) == 0:
        return crop[0], np.zeros((0, boxes.shape[1] if boxes.ndim == 2 else 4), np.float32)
    ctr = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    inv = np.linalg.inv(m)
    uv = (ctr - centre) @ inv.T + half
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    c2, s2 = c * c, s * s
    nw = (c2 * w + s2 * h) / scale
    nh = (s2 * w + c2 * h) / scale
    out = np.stack([uv[:, 0] - nw / 2, uv[:, 1] - nh / 2, uv[:, 0] + nw / 2, uv[:, 1] + nh / 2], 1)
    if boxes.shape[1] >= 7:
        axis = boxes[:, 4:6] @ inv.T  # a source direction seen in the crop
        norm = np.maximum(np.linalg.norm(axis, axis=1, keepdims=True), 1e-9)
        out = np.concatenate([out, axis / norm, boxes[:, 6:7] / scale], axis=1)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < size) & (uv[:, 1] >= 0) & (uv[:, 1] < size)
    return crop[0], out[inside].astype(np.float32)


def targets(
    boxes: np.ndarray,
    size: int,
    *,
    stride: int,
    min_sigma: float = 0.8,
    max_sigma: float = 1e9,
    sigma_div: float = 6.0,
    max_sigma_along: float = 3.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heatmap ``(1, n, n)``, regression ``(4, n, n)`` and its mask ``(1, n, n)`` for a crop.

    Boxes with an axis (7 columns) get a Gaussian of radius ``length / stride / sigma_div``
    (at most ``max_sigma_along``) along the axis and ``min_sigma`` across it, so side-by-side
    ships keep separate peaks while a long ship's centre may sit anywhere along its keel.
    """
    n = size // stride
    hm = np.zeros((1, n, n), dtype=np.float32)
    reg = np.zeros((4, n, n), dtype=np.float32)
    mask = np.zeros((1, n, n), dtype=np.float32)
    yy, xx = np.mgrid[0:n, 0:n]
    for row in boxes:
        x0, y0, x1, y1 = (float(v) for v in row[:4])
        w, h = max(x1 - x0, 2.0), max(y1 - y0, 2.0)
        cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
        j, i = int(cx), int(cy)
        if not (0 <= i < n and 0 <= j < n):
            continue
        if len(row) >= 7:
            # elongated object: a Gaussian stretched along its major axis, narrow across it
            ux, uy = float(row[4]), float(row[5])
            along = (xx - j) * ux + (yy - i) * uy
            across = -(xx - j) * uy + (yy - i) * ux
            s_along = min(max(min_sigma, float(row[6]) / stride / sigma_div), max_sigma_along)
            g = np.exp(-(along**2) / (2 * s_along**2) - across**2 / (2 * min_sigma**2))
        else:
            sigma = min(max(min_sigma, math.sqrt(w * h) / stride / sigma_div), max_sigma)
            g = np.exp(-((xx - j) ** 2 + (yy - i) ** 2) / (2 * sigma**2))
        hm[0] = np.maximum(hm[0], g)
        reg[:, i, j] = (cx - j, cy - i, math.log(w), math.log(h))
        mask[0, i, j] = 1.0
    return hm, reg, mask


@dataclass(frozen=True, kw_only=True)
class Batch:
    """Network inputs and targets of one batch."""

    x: Tensor
    """``(b, c, crop, crop)`` network inputs."""
    heatmap: Tensor
    """``(b, 1, n, n)`` Gaussian centre targets."""
    regression: Tensor
    """``(b, 4, n, n)`` offset and log-size targets."""
    mask: Tensor
    """``(b, 1, n, n)`` 1 at centre cells."""
    ignore: Tensor
    """``(b, 1, n, n)`` 1 where negatives carry no loss (unlabelled objects)."""


def make_batch(
    data: Sequence[Prepared],
    rng: np.random.Generator,
    cfg: TrainConfig,
    *,
    stride: int,
    augment: Augment,
    hard: Sequence[np.ndarray] | None = None,
) -> Batch:
    """A batch of augmented crops with their targets (``hard``: mined false alarms)."""
    xs, hms, regs, masks, ignores = [], [], [], [], []
    n = cfg.crop // stride
    for _ in range(cfg.batch):
        i, centre, angle, scale, flip = _sample_params(rng, data, cfg, hard)
        crop, boxes = _crop(data[i], centre, angle, scale, flip, cfg.crop)
        if data[i].ignore is not None:
            crop, ign = crop[:-1], crop[-1:]
            ignores.append(F.max_pool2d(ign[None], stride)[0] > 0.5)
        else:
            ignores.append(torch.zeros(1, n, n, dtype=torch.bool))
        x, boxes = augment(crop, boxes, rng)
        hm, reg, mask = targets(
            boxes,
            cfg.crop,
            stride=stride,
            min_sigma=cfg.min_sigma,
            max_sigma=cfg.max_sigma,
            sigma_div=cfg.sigma_div,
            max_sigma_along=cfg.max_sigma_along,
        )
        xs.append(x)
        hms.append(hm)
        regs.append(reg)
        masks.append(mask)
    return Batch(
        x=torch.stack(xs),
        heatmap=torch.from_numpy(np.stack(hms)),
        regression=torch.from_numpy(np.stack(regs)),
        mask=torch.from_numpy(np.stack(masks)),
        ignore=torch.stack(ignores).float(),
    )


# --------------------------------------------------------------------------------------------
# Loss and training loop
# --------------------------------------------------------------------------------------------


def focal_loss(logits: Tensor, target: Tensor, ignore: Tensor | None = None) -> Tensor:
    """CenterNet's penalty-reduced focal loss, normalised by the number of centres.

    ``ignore`` (same shape, 1 = ignore) removes the negative term where objects are unlabelled.
    """
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1.0).float()
    neg = 1.0 - pos
    if ignore is not None:
        neg = neg * (1.0 - ignore)
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


def fit(
    net: CenterNet,
    data: Sequence[Prepared],
    out: Path,
    cfg: TrainConfig,
    *,
    augment: Augment,
    meta: Mapping[str, str],
    names: Sequence[str],
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train ``net`` on ``data`` and export it to ``out`` (ONNX) with ``meta`` added.

    The random generators are seeded from ``cfg.seed`` by the caller's contract: call
    :func:`seed_everything` before building ``net`` for reproducible weights.
    """
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    total = cfg.epochs * cfg.steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total)
    stride = net.spec.stride
    start = time.monotonic()
    last = 0.0
    net.train()
    hard: list[np.ndarray] | None = None
    mine_epochs = (
        {max(1, round(f * cfg.epochs)) for f in cfg.mine_at} if cfg.hard_negative_share else set()
    )
    for epoch in range(cfg.epochs):
        if epoch in mine_epochs:
            hard = mine_false_alarms(net, data, threshold=cfg.mine_threshold)
            log.info("mined %d false alarms", sum(len(h) for h in hard))
            net.train()
        losses = []
        for _ in range(cfg.steps_per_epoch):
            b = make_batch(data, rng, cfg, stride=stride, augment=augment, hard=hard)
            logits, pred = net(b.x)
            loss = focal_loss(logits, b.heatmap, b.ignore) + regression_loss(
                pred, b.regression, b.mask
            )
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
            seconds = time.monotonic() - start
            export_onnx(net, out, cfg=cfg, meta=meta, images=names, seconds=seconds)
            net.train()
    seconds = time.monotonic() - start
    export_onnx(net, out, cfg=cfg, meta=meta, images=names, seconds=seconds)
    return TrainResult(onnx_path=out, seconds=seconds, final_loss=last, images=tuple(names))


def mine_false_alarms(
    net: CenterNet, data: Sequence[Prepared], *, threshold: float, tile: int = 1024
) -> list[np.ndarray]:
    """Centres (model px, ``(n, 2)`` per image) of the network's peaks on no labelled object.

    Hard-negative mining: every training image is run through ``net`` (in tiles of
    ``tile`` pixels), and the heatmap peaks above ``threshold`` whose centre lies outside every
    labelled box (grown by a quarter of its size) and outside ignore regions are returned,
    so that later crops can be drawn on the airport clutter the network still mistakes.
    """
    stride = net.spec.stride
    net.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for item in data:
            _, rows, cols = item.image.shape
            found = []
            for y in range(0, rows, tile):
                for x in range(0, cols, tile):
                    part = item.image[:, y : y + tile, x : x + tile]
                    h, w = part.shape[1] // 32 * 32, part.shape[2] // 32 * 32
                    if h < 32 or w < 32:
                        continue
                    logits, _ = net(part[None, :, :h, :w])
                    hm = torch.sigmoid(logits)
                    top = F.max_pool2d(hm, 3, 1, 1)
                    peaks = ((hm == top) & (hm >= threshold))[0, 0].nonzero().numpy()
                    if len(peaks):
                        found.append((peaks[:, ::-1] + 0.5) * stride + np.array([x, y]))
            centres = np.concatenate(found) if found else np.zeros((0, 2))
            if len(centres) and len(item.boxes):
                b = item.boxes[:, :4]
                gx = (b[:, 2] - b[:, 0]) / 4
                gy = (b[:, 3] - b[:, 1]) / 4
                inside = (
                    (centres[:, None, 0] >= b[None, :, 0] - gx)
                    & (centres[:, None, 0] <= b[None, :, 2] + gx)
                    & (centres[:, None, 1] >= b[None, :, 1] - gy)
                    & (centres[:, None, 1] <= b[None, :, 3] + gy)
                ).any(axis=1)
                centres = centres[~inside]
            if len(centres) and item.ignore is not None:
                r = np.clip(centres[:, 1].astype(int), 0, rows - 1)
                c = np.clip(centres[:, 0].astype(int), 0, cols - 1)
                centres = centres[item.ignore[0].numpy()[r, c] < 0.5]
            out.append(centres.astype(np.float32))
    return out


def seed_everything(cfg: TrainConfig) -> None:
    """Seed torch and set its CPU threads from ``cfg``."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)


def export_onnx(
    net: CenterNet,
    out: Path,
    *,
    cfg: TrainConfig,
    meta: Mapping[str, str],
    images: Sequence[str],
    seconds: float,
) -> None:
    """Write ``net`` as ONNX (opset 17, dynamic batch and size) with its metadata.

    ``meta`` gives the model's own entries (``basewatch_model``, ``version``, ``gsd_m``...);
    ``stride``, ``score_threshold``, ``training_images``, ``training_seconds`` and ``config``
    are added here.
    """
    import onnx

    net.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, net.input_channels, cfg.crop, cfg.crop)
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
    entries = {
        **meta,
        "stride": str(net.spec.stride),
        "score_threshold": str(cfg.score_threshold),
        "training_images": ",".join(images),
        "training_seconds": f"{seconds:.0f}",
        "config": repr(cfg),
        "net": repr(net.spec),
    }
    for key, value in entries.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(out))


def set_metadata(path: Path, entries: dict[str, str]) -> None:
    """Set (replace or add) ``metadata_props`` entries of an ONNX file."""
    import onnx

    model = onnx.load(str(path))
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    for key, value in [*kept, *entries.items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))

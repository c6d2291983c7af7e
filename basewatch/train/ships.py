"""Train the Sentinel-2 ship detector on labelled ports and export it to ONNX (extra ``[train]``).

Data: the sen2ships layout: one folder per port with single-band GeoTIFFs whose names hold
``B02``/``B03``/``B04``/``B08``, and a COCO ``coco_annotations.json`` next to the folders whose
images are named ``<port>_rgb.tiff`` (boxes and uncompressed RLE masks, one category).

Model: :mod:`basewatch.train.centernet`'s network at 10 m, stem stride 1 and heads at full
resolution (one heatmap cell per 10 m pixel: ships moored 2-3 px apart keep their own
peaks), width 12, with a fixed preprocessing module inside the exported graph: log
reflectance of the four bands and NDWI. Nothing depends on the scene's land/water mix.

Simulated naval harbours (the demo's simulator: piers with warships moored alongside and in
nests) are added to training (:data:`SIMULATED` of them, :data:`SIMULATED_SHARE` of the
crops), so the model also counts the demo's Tartus piers.

Augmentation per 96 px crop: any rotation, flips, scale 0.8-1.25 (from the shared
trainer), then here: copy-paste of labelled ships (their RLE masks) into open water of the
crop, gain and offset per band, haze, noise. The loss is not applied to negatives in
:data:`IGNORE` (moored warships that the labels leave out).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from basewatch.detect import Detection
from basewatch.detect.centernet import resample
from basewatch.detect.ships_s2 import BANDS, MODEL_GSD_M, SCORE_THRESHOLD, VERSION
from basewatch.errors import InputError
from basewatch.train import centernet
from basewatch.train.centernet import CenterNet, NetSpec, Prepared, TrainConfig, TrainResult

SEN2SHIPS_SCALE = 1.0 / 65535.0
"""Sentinel Hub "Raw" UINT16 files hold reflectance x 65535."""
IGNORE: dict[str, tuple[tuple[int, int, int, int], ...]] = {
    "athens": ((50, 280, 200, 540),),
}
"""Per port, boxes ``(x0, y0, x1, y1)`` (pixels of the port's grid) with unlabelled ships:
in Athens the Salamis naval base piers (moored warships, see the data's SOURCE.md)."""

SIMULATED = 6
"""Simulated harbours (:func:`basewatch.train.simulated.simulated_harbours`) added to training."""
SIMULATED_SHARE = 0.25
"""Share of the training crops drawn from simulated harbours."""

NET = NetSpec(in_channels=len(BANDS) + 1, width=12, stem_stride=1, head_level=0)
"""The ship network: 4 log reflectances + NDWI in, heatmap at full resolution."""

SHIP_CONFIG = TrainConfig(
    epochs=100,
    steps_per_epoch=20,
    batch=12,
    crop=96,
    lr=3e-3,
    positive_share=0.7,
    jitter_px=40.0,
    scale_range=(0.8, 1.25),
    min_sigma=0.8,
    max_sigma=1.2,
    max_sigma_along=3.0,
    score_threshold=SCORE_THRESHOLD,
    threads=1,
)
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
"""Score thresholds tried on the training ports; the best F1 is written into the model."""
"""The shipped model's settings (also used by the leave-one-port-out bench). One torch
thread: on a shared 2-core machine a second thread mostly spins (3x the CPU per step)."""


@dataclass(frozen=True, kw_only=True)
class ShipScene:
    """One labelled Sentinel-2 port scene."""

    name: str
    """Port (folder) name."""
    pixels: np.ndarray
    """``(rows, cols, 4)`` float32 reflectance, bands in :data:`BANDS` order."""
    boxes: np.ndarray
    """``(n, 4)`` float32 ship boxes ``(x0, y0, x1, y1)`` in pixel edges."""
    masks: tuple[np.ndarray, ...]
    """Per box, its boolean mask over the box's pixels (from the RLE segmentation)."""
    gsd_m: float
    """Ground size of a pixel (m)."""
    ignore: tuple[tuple[int, int, int, int], ...] = ()
    """Boxes with unlabelled ships (no loss on negatives there)."""
    simulated: bool = False
    """Rendered by basewatch's simulator rather than a real image."""


def decode_rle(segmentation: dict[str, object], shape: tuple[int, int]) -> np.ndarray:
    """An uncompressed COCO RLE (column-major run lengths) as a boolean ``shape`` mask."""
    counts = segmentation.get("counts")
    if not isinstance(counts, list):
        raise InputError("segmentation must be an uncompressed COCO RLE (a list of counts)")
    flat = np.zeros(shape[0] * shape[1], dtype=bool)
    pos = 0
    for i, run in enumerate(counts):
        if i % 2:
            flat[pos : pos + int(run)] = True
        pos += int(run)
    return flat.reshape(shape[1], shape[0]).T


def load_ports(
    data: Path, ports: Sequence[str] | None = None, *, scale: float | None = None
) -> list[ShipScene]:
    """Read the labelled ports of a sen2ships-layout folder (all, or ``ports`` by name)."""
    from basewatch.detect.run import read_s2

    data = Path(data)
    coco_path = data / "coco_annotations.json"
    if not data.is_dir() or not coco_path.is_file():
        raise InputError(
            f"--data {data}: expected a folder with coco_annotations.json and one folder of "
            "Sentinel-2 band files (B02, B03, B04, B08) per port (the sen2ships layout)"
        )
    coco = json.loads(coco_path.read_text(encoding="utf-8"))
    images = {str(im["file_name"]).split("_")[0]: im for im in coco.get("images", [])}
    present = sorted(p.name for p in data.iterdir() if p.is_dir() and p.name in images)
    wanted = list(ports) if ports else present
    unknown = [p for p in wanted if p not in present]
    if unknown or not wanted:
        raise InputError(
            f"--ports {', '.join(unknown) or '(none)'}: not a labelled port folder of {data}; "
            f"choose from {', '.join(present) or 'none (no port folder matches the labels)'}"
        )
    scenes = []
    for port in wanted:
        folder = data / port
        raw = any("raw" in p.name.lower() for p in folder.iterdir())
        raster = read_s2(folder, scale if scale is not None else (SEN2SHIPS_SCALE if raw else None))
        image = images[port]
        anns = [a for a in coco.get("annotations", []) if a.get("image_id") == image["id"]]
        shape = raster.shape
        if (image.get("height"), image.get("width")) != shape:
            raise InputError(
                f"{folder}: bands are {shape[1]} x {shape[0]} px but the labels of "
                f"{image['file_name']} are {image.get('width')} x {image.get('height')}"
            )
        pixels = np.dstack([np.nan_to_num(raster.bands[b]) for b in BANDS]).astype(np.float32)
        boxes, masks = [], []
        for ann in anns:
            x, y, w, h = (float(v) for v in ann["bbox"])
            boxes.append([x, y, x + w, y + h])
            full = decode_rle(ann["segmentation"], shape)
            x0, y0 = int(math.floor(x)), int(math.floor(y))
            masks.append(full[y0 : int(math.ceil(y + h)), x0 : int(math.ceil(x + w))])
        scenes.append(
            ShipScene(
                name=port,
                pixels=pixels,
                boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                masks=tuple(masks),
                gsd_m=float(raster.pixel_size_m or MODEL_GSD_M),
                ignore=IGNORE.get(port, ()),
            )
        )
    return scenes


# --------------------------------------------------------------------------------------------
# Preparation and augmentation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Patch:
    """A labelled ship cut out for copy-paste, at the model's GSD."""

    pixels: np.ndarray
    """``(4, h, w)`` reflectance around the ship."""
    alpha: np.ndarray
    """``(h, w)`` ship share of each pixel (its resampled mask)."""


def prepare(scenes: Sequence[ShipScene]) -> tuple[list[Prepared], list[Patch]]:
    """Resample every scene to the model's GSD; cut out its real ships for copy-paste.

    Simulated scenes together get :data:`SIMULATED_SHARE` of the crops (when there are real
    ones too).
    """
    data, bank = [], []
    n_sim = sum(s.simulated for s in scenes)
    n_real = len(scenes) - n_sim
    sim_weight = SIMULATED_SHARE * n_real / ((1 - SIMULATED_SHARE) * n_sim) if n_sim else 1.0
    for scene in scenes:
        factor = MODEL_GSD_M / scene.gsd_m
        image = resample(scene.pixels, factor).transpose(2, 0, 1)
        ignore = np.zeros(image.shape[1:], np.float32)
        for x0, y0, x1, y1 in scene.ignore:
            ignore[int(y0 / factor) : int(y1 / factor), int(x0 / factor) : int(x1 / factor)] = 1
        axes = np.array([mask_axis(m) for m in scene.masks], np.float32).reshape(-1, 3)
        axes[:, 2] /= factor
        data.append(
            Prepared(
                image=torch.from_numpy(np.ascontiguousarray(image)),
                boxes=np.concatenate([scene.boxes / factor, axes], axis=1),
                ignore=torch.from_numpy(ignore)[None],
                weight=sim_weight if scene.simulated and n_real else 1.0,
            )
        )
        if scene.simulated:
            continue
        for box, mask in zip(scene.boxes, scene.masks, strict=True):
            patch = _cut(scene.pixels, box, mask, factor)
            if patch is not None:
                bank.append(patch)
    return data, bank


def mask_axis(mask: np.ndarray) -> tuple[float, float, float]:
    """Major axis of a ship mask: unit vector ``(ux, uy)`` (x right, y down) and its length
    in pixels (from the second moments of a uniform bar: length = sqrt(12 var) + 1)."""
    rows, cols = np.nonzero(mask > 0.5)
    if rows.size < 2:
        return 1.0, 0.0, 1.0
    cov = np.cov(np.stack([cols, rows]).astype(float))
    values, vectors = np.linalg.eigh(cov)
    ux, uy = vectors[:, -1]
    return float(ux), float(uy), float(math.sqrt(12 * max(values[-1], 0.0)) + 1.0)


def _cut(pixels: np.ndarray, box: np.ndarray, mask: np.ndarray, factor: float) -> Patch | None:
    """A ship's pixels and mask, 2 px margin, resampled to the model GSD."""
    x0, y0 = int(math.floor(box[0])), int(math.floor(box[1]))
    rows, cols = mask.shape
    if not mask.any() or y0 < 2 or x0 < 2:
        return None
    y1, x1 = y0 + rows, x0 + cols
    if y1 + 2 > pixels.shape[0] or x1 + 2 > pixels.shape[1]:
        return None
    full = np.zeros((rows + 4, cols + 4, 1), np.float32)
    full[2:-2, 2:-2, 0] = mask
    part = pixels[y0 - 2 : y1 + 2, x0 - 2 : x1 + 2]
    alpha = np.clip(resample(full, factor)[:, :, 0], 0.0, 1.0)
    return Patch(pixels=resample(part, factor).transpose(2, 0, 1), alpha=alpha)


def _water(x: Tensor) -> np.ndarray:
    """Open-water pixels of a reflectance crop (NDWI > 0.2 and dark nir)."""
    g, n = x[1].numpy(), x[3].numpy()
    return ((g - n) / np.maximum(g + n, 1e-3) > 0.2) & (n < 0.08)


def paste_ships(
    x: Tensor, boxes: np.ndarray, rng: np.random.Generator, bank: Sequence[Patch], count: int
) -> tuple[Tensor, np.ndarray]:
    """Paste up to ``count`` ships from ``bank`` into open water of crop ``x``."""
    water = _water(x)
    size = x.shape[1]
    out = x.clone()
    added = []
    taken = np.zeros((size, size), bool)
    for b in boxes:
        taken[max(0, int(b[1])) : int(b[3]) + 1, max(0, int(b[0])) : int(b[2]) + 1] = True
    for _ in range(count):
        patch = bank[int(rng.integers(len(bank)))]
        k, flip = int(rng.integers(4)), bool(rng.random() < 0.5)
        pix, alpha = np.rot90(patch.pixels, k, axes=(1, 2)), np.rot90(patch.alpha, k)
        if flip:
            pix, alpha = pix[:, :, ::-1], alpha[:, ::-1]
        h, w = alpha.shape
        if h >= size or w >= size:
            continue
        for _try in range(8):
            r, c = int(rng.integers(size - h)), int(rng.integers(size - w))
            if water[r : r + h, c : c + w].all() and not taken[r : r + h, c : c + w].any():
                a = torch.from_numpy(np.ascontiguousarray(alpha))
                p = torch.from_numpy(np.ascontiguousarray(pix))
                region = out[:, r : r + h, c : c + w]
                out[:, r : r + h, c : c + w] = region * (1 - a) + p * a
                taken[r : r + h, c : c + w] = True
                rr, cc = np.nonzero(alpha > 0.25)
                if rr.size:
                    box = [c + cc.min(), r + rr.min(), c + cc.max() + 1, r + rr.max() + 1]
                    added.append([*box, *mask_axis(alpha)][: boxes.shape[1]])
                break
    if added:
        boxes = np.concatenate([boxes, np.asarray(added, np.float32)])
    return out, boxes


def photometric(x: Tensor, rng: np.random.Generator) -> Tensor:
    """Gain and offset per band, haze and noise on a reflectance crop."""
    gain = rng.uniform(0.8, 1.25) * rng.normal(1.0, 0.04, x.shape[0])
    offset = rng.normal(0.0, 0.006, x.shape[0])
    x = x * torch.tensor(gain, dtype=torch.float32)[:, None, None]
    x = x + torch.tensor(offset, dtype=torch.float32)[:, None, None]
    if rng.random() < 0.3:
        haze = float(rng.uniform(0.05, 0.3))
        colour = np.array([0.16, 0.14, 0.12, 0.11][: x.shape[0]]) * rng.uniform(0.6, 1.5)
        x = x * (1 - haze) + haze * torch.tensor(colour, dtype=torch.float32)[:, None, None]
    x = x + torch.randn_like(x) * float(rng.uniform(0.0, 0.005))
    return x.clamp(min=0.0)


def make_augment(
    bank: Sequence[Patch], paste_share: float = 0.5
) -> Callable[[Tensor, np.ndarray, np.random.Generator], tuple[Tensor, np.ndarray]]:
    """The augmentation hook: copy-paste (``paste_share`` of the crops), then photometry."""

    def augment(
        x: Tensor, boxes: np.ndarray, rng: np.random.Generator
    ) -> tuple[Tensor, np.ndarray]:
        if bank and rng.random() < paste_share:
            x, boxes = paste_ships(x, boxes, rng, bank, int(rng.integers(1, 4)))
        return photometric(x, rng), boxes

    return augment


class LogReflectance(nn.Module):
    """Fixed input normalisation inside the graph: log reflectance per band, plus NDWI."""

    def forward(self, x: Tensor) -> Tensor:
        """``(b, 4, h, w)`` reflectance (blue, green, red, nir) -> ``(b, 5, h, w)``."""
        x = x.clamp(min=0.0)
        logs = (torch.log(x + 0.01) + 2.3) / 1.2
        g, n = x[:, 1:2], x[:, 3:4]
        ndwi = (g - n) / (g + n + 0.02)
        return torch.cat([logs, 2.0 * ndwi], 1)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def train(
    scenes: Sequence[ShipScene],
    out: Path,
    cfg: TrainConfig = SHIP_CONFIG,
    *,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a Sentinel-2 ship detector on ``scenes`` and export it to ``out`` (ONNX)."""
    if not scenes:
        raise InputError("train ships: no labelled port to train on")
    if sum(len(s.boxes) for s in scenes) == 0:
        raise InputError("train ships: the labelled ports hold no ship box")
    centernet.seed_everything(cfg)
    data, bank = prepare(scenes)
    net = CenterNet(NET, preprocess=LogReflectance(), input_channels=len(BANDS))
    ignore = "; ".join(f"{s.name} {list(box)}" for s in scenes for box in s.ignore)
    meta = {
        "basewatch_model": "ships-s2-centernet",
        "version": VERSION,
        "gsd_m": str(MODEL_GSD_M),
        "bands": ",".join(BANDS),
        "input": "reflectance 0-1 (normalised inside the graph: log reflectance and NDWI)",
        "names": "{0: 'ship'}",
        "ignore_boxes": ignore,
        "peak_window": "3",
    }
    names = [s.name for s in scenes]
    result = centernet.fit(
        net, data, out, cfg, augment=make_augment(bank), meta=meta, names=names, progress=progress
    )
    real = [s for s in scenes if not s.simulated]
    if real:
        threshold, f1 = calibrate_threshold(out, real)
        set_metadata(out, {"score_threshold": str(threshold), "training_f1": f"{f1:.3f}"})
    return result


def matches(dets: Sequence[Detection], boxes: np.ndarray) -> int:
    """One-to-one matches of detections whose centre lies in a box ``(x0, y0, x1, y1)``
    (pixel edges), highest score first, nearest box centre first."""
    free = np.ones(len(boxes), bool)
    hits = 0
    for det in sorted(dets, key=lambda d: -d.score):
        c, r = det.centroid_px[0] + 0.5, det.centroid_px[1] + 0.5
        inside = free & (boxes[:, 0] <= c) & (c <= boxes[:, 2]) & (boxes[:, 1] <= r)
        inside &= r <= boxes[:, 3]
        if inside.any():
            cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
            dist = np.hypot(cx - c, cy - r)
            free[int(np.argmin(np.where(inside, dist, np.inf)))] = False
            hits += 1
    return hits


def calibrate_threshold(model: Path, scenes: Sequence[ShipScene]) -> tuple[float, float]:
    """The score threshold of :data:`THRESHOLDS` with the best pooled F1 on ``scenes`` (the
    training ports: no held-out data is used) and that F1."""
    from basewatch.detect.ships_s2 import detect_ships_s2

    runs = []
    for scene in scenes:
        bands = {b: scene.pixels[:, :, i] for i, b in enumerate(BANDS)}
        valid = scene.pixels[:, :, 3] > 0
        dets = detect_ships_s2(
            bands, pixel_size_m=scene.gsd_m, valid=valid, model=model, threshold=min(THRESHOLDS)
        )
        runs.append((dets, scene.boxes))
    best = (SCORE_THRESHOLD, -1.0)
    for threshold in THRESHOLDS:
        tp = found = truth = 0
        for dets, boxes in runs:
            kept = [d for d in dets if d.score >= threshold]
            tp, found, truth = tp + matches(kept, boxes), found + len(kept), truth + len(boxes)
        f1 = 2 * tp / (found + truth) if found + truth else 0.0
        if f1 > best[1]:
            best = (threshold, f1)
    return best


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

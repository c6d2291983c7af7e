"""Train the Sentinel-2 ship detector on labelled ports and export it to ONNX (extra ``[train]``).

Data: the sen2ships layout: one folder per port with single-band GeoTIFFs whose names hold
``B02``/``B03``/``B04``/``B08``/``B11`` (any subset: ports with missing bands are used), and a
COCO ``coco_annotations.json`` next to the folders whose images are named ``<port>_rgb.tiff``
(boxes and uncompressed RLE masks, one category). Labels drawn on a preview grid that differs
from the band grid (Qingdao) are registered to the bands (:func:`register_labels`).

Model: :mod:`basewatch.train.centernet`'s network at 10 m, stem stride 1 and heads at full
resolution (one heatmap cell per 10 m pixel: ships moored 2-3 px apart keep their own
peaks), width 12, with a fixed preprocessing module inside the exported graph
(:class:`BandRobust`): per band log reflectance, local contrast (log reflectance minus its
31 px mean) and availability, NDWI and MNDWI where their bands exist. Missing bands are
:data:`~basewatch.detect.ships_s2.MISSING`; training drops bands at random
(:data:`BAND_DROPOUT` of the crops) so that one model serves every band subset. Nothing
depends on the scene's land/water mix.

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from basewatch.detect import Detection
from basewatch.detect.centernet import resample
from basewatch.detect.ships_s2 import (
    BANDS,
    MIN_BANDS,
    MISSING,
    MODEL_GSD_M,
    SCORE_THRESHOLD,
    VERSION,
)
from basewatch.errors import InputError
from basewatch.train import centernet
from basewatch.train.centernet import (
    CenterNet,
    NetSpec,
    Prepared,
    TrainConfig,
    TrainResult,
    set_metadata,
)

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

BAND_DROPOUT = 0.5
"""Share of training crops in which a random subset of the present bands is removed."""
LOCAL_PX = 31
"""Window (pixels) of the local mean subtracted for the local-contrast channels."""
NET = NetSpec(in_channels=3 * len(BANDS) + 2, width=8, stem_stride=1, head_level=0)
"""The ship network: per band log reflectance, local contrast and availability, plus NDWI
and MNDWI in; heatmap at full resolution."""

SHIP_CONFIG = TrainConfig(
    epochs=80,
    steps_per_epoch=20,
    batch=16,
    crop=64,
    lr=4e-3,
    positive_share=0.7,
    jitter_px=24.0,
    scale_range=(0.8, 1.25),
    min_sigma=0.8,
    max_sigma=1.2,
    max_sigma_along=3.0,
    score_threshold=SCORE_THRESHOLD,
    threads=1,
)
"""The shipped model's settings (also used by the leave-one-port-out bench): 1600 steps of
16 crops of 64 px. One torch thread: on a shared 2-core machine a second thread mostly spins
(3x the CPU per step)."""
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)
"""Score thresholds tried on the training ports; the best F1 is written into the model."""


@dataclass(frozen=True, kw_only=True)
class ShipScene:
    """One labelled Sentinel-2 port scene."""

    name: str
    """Port (folder) name."""
    pixels: np.ndarray
    """``(rows, cols, len(BANDS))`` float32 reflectance in :data:`BANDS` order; a band the
    port lacks is :data:`~basewatch.detect.ships_s2.MISSING` everywhere."""
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

    @property
    def present(self) -> tuple[str, ...]:
        """Bands the scene has."""
        return tuple(b for i, b in enumerate(BANDS) if float(self.pixels[0, 0, i]) > MISSING / 2)

    def bands(self) -> dict[str, np.ndarray]:
        """The present bands as a mapping (the detector's input)."""
        return {b: self.pixels[:, :, BANDS.index(b)] for b in self.present}


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


_BAND_CODES = {"blue": "B0?2", "green": "B0?3", "red": "B0?4", "nir": "B0?8", "swir16": "B11"}


def band_files(folder: Path) -> dict[str, Path]:
    """Band -> single-band GeoTIFF of a port folder, from the file names (B02 ... B11)."""
    import re

    found: dict[str, Path] = {}
    for band, code in _BAND_CODES.items():
        pattern = re.compile(rf"(?<![A-Za-z0-9]){code}(?![0-9A])")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in (".tif", ".tiff") and pattern.search(path.stem):
                found[band] = path
                break
    return found


def read_port(folder: Path, scale: float | None = None) -> tuple[np.ndarray, float]:
    """A port's bands as ``(rows, cols, len(BANDS))`` reflectance (missing bands
    :data:`MISSING`, no-data 0) and its geodesic pixel size in metres.

    Integer files are scaled by ``scale``; without it by 1/65535 when the file names say
    Sentinel Hub "Raw", else 1e-4.
    """
    import rasterio
    from rasterio.enums import Resampling

    from basewatch.imagery.load import ground_pixel_size

    files = band_files(folder)
    if not any(b in files for b in MIN_BANDS):
        raise InputError(
            f"{folder}: no file for any of the bands B02, B03, B04, B08 (found "
            f"{', '.join(p.name for p in sorted(folder.iterdir())) or 'nothing'}); "
            "single-band file names must contain the band code"
        )
    raw = any("raw" in p.name.lower() for p in files.values())
    factor = scale if scale is not None else (SEN2SHIPS_SCALE if raw else 1e-4)
    shape: tuple[int, int] | None = None
    px = MODEL_GSD_M
    layers = {}
    for band in BANDS:
        if band not in files:
            continue
        with rasterio.open(files[band]) as src:
            if shape is None:
                shape = (src.height, src.width)
                if src.crs is not None and not src.transform.is_identity:
                    px = ground_pixel_size(src.transform, src.crs.to_string(), *shape[::-1])
            arr = src.read(1, out_shape=shape, resampling=Resampling.bilinear, masked=True).astype(
                np.float32
            )
            mult = 1.0 if src.dtypes[0].startswith("float") else factor
        layers[band] = np.ma.filled(arr * mult, 0.0)
    assert shape is not None
    pixels = np.full((*shape, len(BANDS)), MISSING, np.float32)
    for band, arr in layers.items():
        pixels[:, :, BANDS.index(band)] = np.nan_to_num(np.clip(arr, 0.0, None))
    return pixels, float(px)


def register_labels(folder: Path, label_shape: tuple[int, int], pixels: np.ndarray) -> np.ndarray:
    """The affine map (2 x 3, label px -> band px) of labels drawn on a preview image.

    The preview (``*True_color*.jpg|png`` of ``label_shape``) is the band grid stretched to
    another size; its scale is the ratio of the sizes and the residual shift is measured by
    phase correlation of the preview's blue (else green) channel against that band brought to
    the preview grid. Refused when the registered images do not correlate (r < 0.8).
    """
    from PIL import Image
    from scipy import ndimage
    from skimage.registration import phase_cross_correlation

    previews = [
        p
        for p in sorted(folder.iterdir())
        if "true_color" in p.name.lower() and p.suffix.lower() in (".jpg", ".jpeg", ".png")
    ]
    rows, cols = pixels.shape[:2]
    for path in previews:
        with Image.open(path) as im:
            if (im.height, im.width) != label_shape:
                continue
            rgb = np.asarray(im.convert("RGB"), dtype=np.float64)
        for channel, band in ((2, "blue"), (1, "green"), (0, "red")):
            layer = pixels[:, :, BANDS.index(band)]
            if float(layer[0, 0]) <= MISSING / 2:
                continue
            sy, sx = rows / label_shape[0], cols / label_shape[1]
            warped = ndimage.affine_transform(
                layer.astype(np.float64), [sy, sx], output_shape=label_shape, order=1
            )

            def norm(a: np.ndarray) -> np.ndarray:
                a = np.log(a - a.min() + 1e-3)
                return (a - a.mean()) / (a.std() + 1e-9)

            ref, moving = norm(rgb[:, :, channel]), norm(warped)
            shift, _, _ = phase_cross_correlation(ref, moving, upsample_factor=4)
            moved = ndimage.shift(moving, shift, order=1)
            m = (slice(20, -20), slice(20, -20))
            r = float(np.corrcoef(moved[m].ravel(), ref[m].ravel())[0, 1])
            if r < 0.8:
                raise InputError(
                    f"{path}: the preview does not match the {band} band after scaling "
                    f"(correlation {r:.2f}); the labels cannot be registered to the bands"
                )
            # preview px p = band px / s + shift  ->  band px = s * (p - shift)
            return np.array([[sx, 0.0, -sx * shift[1]], [0.0, sy, -sy * shift[0]]])
    raise InputError(
        f"{folder}: labels are on a {label_shape[1]} x {label_shape[0]} grid, the bands "
        f"{cols} x {rows}, and no preview (*True_color*.jpg/png) of the labels' size was found "
        "to register them"
    )


def load_ports(
    data: Path, ports: Sequence[str] | None = None, *, scale: float | None = None
) -> list[ShipScene]:
    """Read the labelled ports of a sen2ships-layout folder (all, or ``ports`` by name).

    Ports may lack bands (:func:`read_port`); labels on another grid than the bands are
    registered (:func:`register_labels`).
    """
    data = Path(data)
    coco_path = data / "coco_annotations.json"
    if not data.is_dir() or not coco_path.is_file():
        raise InputError(
            f"--data {data}: expected a folder with coco_annotations.json and one folder of "
            "Sentinel-2 band files (B02, B03, B04, B08) per port (the sen2ships layout)"
        )
    coco = json.loads(coco_path.read_text(encoding="utf-8"))
    images = {str(im["file_name"]).removesuffix("_rgb.tiff"): im for im in coco.get("images", [])}
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
        pixels, gsd = read_port(folder, scale)
        image = images[port]
        anns = [a for a in coco.get("annotations", []) if a.get("image_id") == image["id"]]
        shape = pixels.shape[:2]
        label_shape = (int(image.get("height", 0)), int(image.get("width", 0)))
        affine = None
        if label_shape != shape:
            affine = register_labels(folder, label_shape, pixels)
        boxes, masks = [], []
        for ann in anns:
            x, y, w, h = (float(v) for v in ann["bbox"])
            full = decode_rle(ann["segmentation"], label_shape)
            x0, y0 = int(math.floor(x)), int(math.floor(y))
            mask = full[y0 : int(math.ceil(y + h)), x0 : int(math.ceil(x + w))]
            if affine is not None:
                x, y, w, h, mask = _map_box(affine, x, y, w, h, mask)
            boxes.append([x, y, x + w, y + h])
            masks.append(mask)
        scenes.append(
            ShipScene(
                name=port,
                pixels=pixels,
                boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                masks=tuple(masks),
                gsd_m=gsd,
                ignore=IGNORE.get(port, ()),
            )
        )
    return scenes


def _map_box(
    affine: np.ndarray, x: float, y: float, w: float, h: float, mask: np.ndarray
) -> tuple[float, float, float, float, np.ndarray]:
    """A box and its mask carried from the label grid to the band grid (scale + shift)."""
    from scipy import ndimage

    sx, sy = float(affine[0, 0]), float(affine[1, 1])
    nx, ny = sx * x + affine[0, 2], sy * y + affine[1, 2]
    nw, nh = sx * w, sy * h
    x0, y0 = math.floor(nx), math.floor(ny)
    shape = (max(1, math.ceil(ny + nh) - y0), max(1, math.ceil(nx + nw) - x0))
    if mask.size:
        zoom = (shape[0] / mask.shape[0], shape[1] / mask.shape[1])
        mask = ndimage.zoom(mask.astype(np.float32), zoom, order=0) > 0.5
        mask = mask[: shape[0], : shape[1]]
    if mask.shape != shape or not mask.any():
        mask = np.ones(shape, bool)
    return nx, ny, nw, nh, mask


# --------------------------------------------------------------------------------------------
# Preparation and augmentation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Patch:
    """A labelled ship cut out for copy-paste, at the model's GSD."""

    pixels: np.ndarray
    """``(len(BANDS), h, w)`` reflectance around the ship (missing bands :data:`MISSING`)."""
    alpha: np.ndarray
    """``(h, w)`` ship share of each pixel (its resampled mask)."""
    present: np.ndarray = field(default_factory=lambda: np.ones(len(BANDS), bool))
    """Per band of :data:`BANDS`, whether the patch has it."""


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
                ignore=torch.from_numpy(ignore)[None] if scene.ignore else None,
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
    present = pixels[0, 0, :] > MISSING / 2
    return Patch(pixels=resample(part, factor).transpose(2, 0, 1), alpha=alpha, present=present)


def available(x: Tensor) -> np.ndarray:
    """Per band, whether a crop ``(len(BANDS), h, w)`` has it (not :data:`MISSING`)."""
    return (x[:, 0, 0] > MISSING / 2).numpy()


def _water(x: Tensor) -> np.ndarray:
    """Open-water pixels of a reflectance crop from its present bands: NDWI > 0.2 and dark
    nir; without green, dark nir (< 0.05), else dark SWIR (< 0.04), else dark green."""
    have = available(x)
    band = {b: x[i].numpy() for i, (b, ok) in enumerate(zip(BANDS, have, strict=False)) if ok}
    if "green" in band and "nir" in band:
        g, n = band["green"], band["nir"]
        return ((g - n) / np.maximum(g + n, 1e-3) > 0.2) & (n < 0.08)
    if "nir" in band:
        return band["nir"] < 0.05
    if "swir16" in band:
        return band["swir16"] < 0.04
    if "green" in band:
        return band["green"] < 0.08
    return np.zeros(x.shape[1:], bool)


def paste_ships(
    x: Tensor, boxes: np.ndarray, rng: np.random.Generator, bank: Sequence[Patch], count: int
) -> tuple[Tensor, np.ndarray]:
    """Paste up to ``count`` ships from ``bank`` into open water of crop ``x``.

    Only patches that hold every band the crop has are pasted."""
    have = available(x)
    usable = [p for p in bank if bool(np.all(p.present[: len(have)] >= have))]
    if not usable:
        return x, boxes
    water = _water(x)
    size = x.shape[1]
    out = x.clone()
    added = []
    taken = np.zeros((size, size), bool)
    for b in boxes:
        taken[max(0, int(b[1])) : int(b[3]) + 1, max(0, int(b[0])) : int(b[2]) + 1] = True
    for _ in range(count):
        patch = usable[int(rng.integers(len(usable)))]
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
                p = torch.from_numpy(np.ascontiguousarray(pix[: x.shape[0]]))
                region = out[:, r : r + h, c : c + w]
                out[:, r : r + h, c : c + w] = region * (1 - a) + p * a
                taken[r : r + h, c : c + w] = True
                rr, cc = np.nonzero(alpha > 0.25)
                if rr.size:
                    box = [c + cc.min(), r + rr.min(), c + cc.max() + 1, r + rr.max() + 1]
                    added.append([*box, *mask_axis(alpha)][: boxes.shape[1]])
                break
    out[torch.from_numpy(~have)] = MISSING
    if added:
        boxes = np.concatenate([boxes, np.asarray(added, np.float32)])
    return out, boxes


HAZE = np.array([0.16, 0.14, 0.12, 0.11, 0.09])
"""Colour of simulated haze per band of :data:`BANDS`."""


def photometric(x: Tensor, rng: np.random.Generator) -> Tensor:
    """Gain and offset per band, haze and noise on the present bands of a reflectance crop."""
    have = torch.from_numpy(available(x))
    n = x.shape[0]
    gain = rng.uniform(0.8, 1.25) * rng.normal(1.0, 0.04, n)
    offset = rng.normal(0.0, 0.006, n)
    y = x * torch.tensor(gain, dtype=torch.float32)[:, None, None]
    y = y + torch.tensor(offset, dtype=torch.float32)[:, None, None]
    if rng.random() < 0.3:
        haze = float(rng.uniform(0.05, 0.3))
        colour = HAZE[:n] * rng.uniform(0.6, 1.5)
        y = y * (1 - haze) + haze * torch.tensor(colour, dtype=torch.float32)[:, None, None]
    y = (y + torch.randn_like(y) * float(rng.uniform(0.0, 0.005))).clamp(min=0.0)
    y[~have] = MISSING
    return y


def drop_bands(x: Tensor, rng: np.random.Generator, keep: float = 0.5) -> Tensor:
    """Band dropout: each present band is kept with probability ``keep``; at least one band of
    :data:`~basewatch.detect.ships_s2.MIN_BANDS` always stays."""
    have = available(x)
    kept = have & (rng.random(len(have)) < keep)
    essential = [i for i, b in enumerate(BANDS) if b in MIN_BANDS and have[i]]
    if essential and not any(kept[i] for i in essential):
        kept[essential[int(rng.integers(len(essential)))]] = True
    out = x.clone()
    out[torch.from_numpy(~kept)] = MISSING
    return out


def make_augment(
    bank: Sequence[Patch], paste_share: float = 0.5, dropout: float = BAND_DROPOUT
) -> Callable[[Tensor, np.ndarray, np.random.Generator], tuple[Tensor, np.ndarray]]:
    """The augmentation hook: copy-paste (``paste_share`` of the crops), photometry, then
    band dropout (``dropout`` of the crops)."""

    def augment(
        x: Tensor, boxes: np.ndarray, rng: np.random.Generator
    ) -> tuple[Tensor, np.ndarray]:
        if bank and rng.random() < paste_share:
            x, boxes = paste_ships(x, boxes, rng, bank, int(rng.integers(1, 4)))
        x = photometric(x, rng)
        if rng.random() < dropout:
            x = drop_bands(x, rng)
        return x, boxes

    return augment


class BandRobust(nn.Module):
    """Fixed input normalisation inside the graph, for any subset of the bands.

    Input ``(b, 5, h, w)``: reflectance of :data:`BANDS`, :data:`MISSING` where a band is
    absent. Output ``(b, 17, h, w)``: per band log reflectance, local contrast (log minus its
    :data:`LOCAL_PX` mean: haze and the scene's brightness cancel) and availability (0/1),
    then NDWI (green, nir) and MNDWI (green, swir16), 0 where a band is absent.
    """

    def forward(self, x: Tensor) -> Tensor:
        """Normalised network input."""
        avail = (x > MISSING / 2).float()
        r = x.clamp(min=0.0)
        logs = (torch.log(r + 0.01) + 2.3) / 1.2 * avail
        k = LOCAL_PX
        mean = F.avg_pool2d(logs, (1, k), 1, (0, k // 2), count_include_pad=False)
        mean = F.avg_pool2d(mean, (k, 1), 1, (k // 2, 0), count_include_pad=False)
        local = 2.0 * (logs - mean) * avail
        g, n, s = r[:, 1:2], r[:, 3:4], r[:, 4:5]
        ndwi = (g - n) / (g + n + 0.02) * avail[:, 1:2] * avail[:, 3:4]
        mndwi = (g - s) / (g + s + 0.02) * avail[:, 1:2] * avail[:, 4:5]
        return torch.cat([logs, local, avail, 2.0 * ndwi, 2.0 * mndwi], 1)


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
    net = CenterNet(NET, preprocess=BandRobust(), input_channels=len(BANDS))
    ignore = "; ".join(f"{s.name} {list(box)}" for s in scenes for box in s.ignore)
    meta = {
        "basewatch_model": "ships-s2-centernet",
        "version": VERSION,
        "gsd_m": str(MODEL_GSD_M),
        "bands": ",".join(BANDS),
        "input": "reflectance 0-1, -1 for a missing band (normalised inside the graph)",
        "missing_value": str(MISSING),
        "band_dropout": str(BAND_DROPOUT),
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
        bands = scene.bands()
        valid = np.any([v > 0 for v in bands.values()], axis=0)
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

"""Sub-metre RGB detector, first (classical) version.

Objects are pixels that differ from a local model of the ground (a coarse running median of
each colour band), brighter, darker (shadows) or of another colour. The deviation is
thresholded with hysteresis, cleaned with morphology (thin markings opened away, an object
and its shadow closed together), split where touching objects merged, and each piece is
classified from its size and shape: aircraft are 12-85 m long with the low solidity of a
cross (fuselage, wings, tailplane); vehicles are compact rectangles 5-15 m long (up to 22 m
with their shadow); ships are elongated hulls 20-400 m long. A later version replaces this
with a trained model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.filters import apply_hysteresis_threshold
from skimage.measure import regionprops
from skimage.morphology import disk
from skimage.segmentation import watershed

from basewatch.detect import Detection
from basewatch.detect._common import (
    bbox_of,
    check_array,
    check_mask,
    check_pixel_size,
    check_target,
    moment_geometry,
    odd,
)
from basewatch.errors import InputError

NAME = "highres-classical"
"""Detector name recorded with every observation."""
VERSION = "0.1.0"
"""Detector version; part of an observation's identity."""

TARGETS = ("aircraft", "vehicle", "ship", "any")
"""Values accepted for ``target``."""
GROUND_CLASSES = ("aircraft", "vehicle")
"""Classes that stand on the ground; they are told apart by shape, not searched apart."""


@dataclass(frozen=True, kw_only=True)
class ClassShape:
    """Size and shape range of one object class."""

    min_length_m: float
    """Shortest object of the class (metres, longest extent)."""
    max_length_m: float
    """Longest object of the class (metres, longest extent)."""
    min_solidity: float
    """Lowest area / convex-hull area."""
    max_solidity: float
    """Highest area / convex-hull area."""
    min_elongation: float
    """Lowest length / width."""
    max_elongation: float
    """Highest length / width."""
    min_fill: float
    """Lowest area / length**2: a cross of wings fills at least this much of its square."""


CLASS_SHAPES: dict[str, ClassShape] = {
    "aircraft": ClassShape(
        min_length_m=12.0,
        max_length_m=85.0,
        min_solidity=0.3,
        max_solidity=0.82,
        min_elongation=0.6,
        max_elongation=2.2,
        min_fill=0.12,
    ),
    "vehicle": ClassShape(
        min_length_m=4.5,
        max_length_m=22.0,
        min_solidity=0.75,
        max_solidity=1.0,
        min_elongation=1.4,
        max_elongation=6.0,
        min_fill=0.1,
    ),
    "ship": ClassShape(
        min_length_m=20.0,
        max_length_m=400.0,
        min_solidity=0.6,
        max_solidity=1.0,
        min_elongation=2.5,
        max_elongation=15.0,
        min_fill=0.03,
    ),
}
"""Default shape range per class."""


@dataclass(frozen=True, kw_only=True)
class HighresParams:
    """Settings of :func:`detect`."""

    k_seed: float = 8.0
    """Seed pixels lie this many noise standard deviations off the ground (noisy images)."""
    k_grow: float = 4.0
    """Grown pixels lie this many noise standard deviations off the ground."""
    min_contrast: float = 0.25
    """Seed pixels differ from the ground by at least this much (RGB distance, 0-1 scale;
    0.25 is a grey-level step of about 37 in each 8-bit band)."""
    grow_contrast: float = 0.12
    """Grown pixels differ from the ground by at least this much."""
    background_cell_m: float = 8.0
    """Cell size of the coarse ground model (metres)."""
    background_window_m: float = 200.0
    """Side of the running-median window of the ground model (metres); must exceed about
    twice the largest object so objects do not become ground."""
    open_m: float = 1.0
    """Details thinner than about twice this (markings, cables) are opened away (metres)."""
    close_m: float = 2.0
    """Gaps up to about twice this (between an airframe and its shadow) are closed (metres)."""
    reference_range: float = 0.6
    """Luminance spread (2nd to 98th percentile) of a clear scene; deviations of flatter
    (hazy) or harsher images are rescaled to it, within a factor of 0.5 to 3."""
    max_hole_m2: float = 100.0
    """Holes in an object up to this area (metres squared) are filled."""
    work_gsd_m: float | None = None
    """Pixel size at which to work (metres); None: a fifteenth of the smallest target's
    shortest length, but never finer than the image."""
    shapes: dict[str, ClassShape] | None = None
    """Shape ranges per class; None: :data:`CLASS_SHAPES`."""
    min_mean_contrast: float = 0.3
    """An object's mean deviation from the ground (RGB distance) is at least this."""
    full_score_contrast: float = 0.6
    """Mean deviation from the ground (RGB distance) that earns full contrast score."""


def detect(
    rgb: np.ndarray,
    *,
    gsd_m: float,
    search_mask: np.ndarray | None = None,
    target: str = "aircraft",
    params: HighresParams | None = None,
) -> list[Detection]:
    """Objects in a sub-metre RGB image by contrast against the local ground.

    Args:
        rgb: image of shape (rows, cols, 3), float in [0, 1] (uint8 is scaled by 1/255).
        gsd_m: ground sample distance (pixel size) in metres.
        search_mask: True where objects may be (the zone's ground); None: everywhere.
        target: ``aircraft``, ``vehicle``, ``ship`` or ``any`` (every class).
        params: detector settings; defaults to :class:`HighresParams()`.

    Returns:
        One :class:`Detection` per object, in the input's pixel grid, sorted by row then
        column.
    """
    image = _as_rgb(rgb)
    gsd = check_pixel_size(gsd_m, name="gsd_m")
    check_target(target, TARGETS)
    params = params or HighresParams()
    shapes = params.shapes or CLASS_SHAPES
    classes = _candidate_classes(target, shapes)
    rows, cols = image.shape[:2]
    if rows == 0 or cols == 0:
        return []
    ok = np.all(np.isfinite(image), axis=2)
    if search_mask is not None:
        ok &= check_mask(search_mask, name="search_mask", shape=(rows, cols))
    if ok.sum() < 16:
        return []
    shortest = min(shapes[c].min_length_m for c in classes)
    work = params.work_gsd_m if params.work_gsd_m is not None else shortest / 15.0
    factor = max(1, int(math.floor(work / gsd + 1e-9)))
    small, small_ok = _downsample(image, ok, factor)
    px = gsd * factor
    deviation, sigma = _ground_deviation(small, small_ok, params, px)
    if deviation is None or sigma is None:
        return []
    longest = max(shapes[c].max_length_m for c in classes)
    objects = _segment(deviation, sigma, small_ok, params, px, longest / px)
    split = shortest if target == "any" else shapes[target].min_length_m
    labels = _split_merged(objects, longest / px, split / px)
    out: list[Detection] = []
    for region in regionprops(labels, intensity_image=deviation):
        det = _classify(region, classes, shapes, params, px, factor, (rows, cols))
        if det is not None and (target == "any" or det.cls == target):
            out.append(det)
    return sorted(out, key=lambda d: (d.centroid_px[1], d.centroid_px[0]))


def _candidate_classes(target: str, shapes: dict[str, ClassShape]) -> tuple[str, ...]:
    """Classes an object may be given: all ground classes for a ground target, so that an
    aircraft is not cut into vehicle-sized pieces when vehicles are counted."""
    if target == "any":
        return tuple(shapes)
    family = GROUND_CLASSES if target in GROUND_CLASSES else (target,)
    return tuple(c for c in shapes if c in family) or (target,)


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    """Check the image and return it as float32 in [0, 1]."""
    arr = check_array(rgb, name="rgb", ndim=3)
    if arr.shape[2] != 3:
        raise InputError(
            f"rgb must have 3 channels (rows, cols, 3), got shape {arr.shape}; "
            "stack the red, green and blue bands last"
        )
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return arr.astype(np.float32, copy=False)


def _downsample(image: np.ndarray, ok: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Block means of ``factor`` x ``factor`` pixels (partial blocks at the edges are cut)."""
    if factor == 1:
        return np.where(ok[..., None], image, 0.0).astype(np.float32), ok
    rows = image.shape[0] // factor * factor
    cols = image.shape[1] // factor * factor
    if rows == 0 or cols == 0:
        return np.zeros((0, 0, 3), dtype=np.float32), np.zeros((0, 0), dtype=bool)
    img = np.where(ok[..., None], image, 0.0)[:rows, :cols]
    weight = ok[:rows, :cols].astype(np.float32)
    shape = (rows // factor, factor, cols // factor, factor)
    total = (img * weight[..., None]).reshape(*shape, 3).sum(axis=(1, 3))
    count = weight.reshape(shape).sum(axis=(1, 3))
    small_ok = count >= 0.5 * factor * factor
    small = total / np.maximum(count, 1.0)[..., None]
    return small.astype(np.float32), small_ok


def _ground_deviation(
    image: np.ndarray, ok: np.ndarray, params: HighresParams, px: float
) -> tuple[np.ndarray, float] | tuple[None, None]:
    """RGB distance of each pixel from a coarse running median of the ground, and the noise
    level of that distance."""
    if image.size == 0 or ok.sum() < 16:
        return None, None
    cell = max(1, int(round(params.background_cell_m / px)))
    ground = np.zeros_like(image)
    for band in range(3):
        ground[..., band] = _coarse_median(image[..., band], ok, cell, params, px)
    deviation = np.sqrt(((image - ground) ** 2).sum(axis=2))
    deviation = np.where(ok, deviation, 0.0)
    # Hazy or flat images compress all contrasts; rescale to a typical scene's range.
    luminance = image.mean(axis=2)[ok]
    lo, hi = np.percentile(luminance, [2, 98])
    if hi - lo > 1e-3:
        deviation *= float(np.clip(params.reference_range / (hi - lo), 0.5, 3.0))
    sample = deviation[ok]
    if not float(sample.max()) > 0:
        return None, None
    # Noise level from the quiet part of the image: the 10th percentile of a 3-channel
    # Gaussian distance is about 0.58 sigma. Busy scenes do not inflate it.
    sigma = float(np.percentile(sample, 10)) / 0.58
    return deviation.astype(np.float32), max(sigma, 1e-3)


def _coarse_median(
    band: np.ndarray, ok: np.ndarray, cell: int, params: HighresParams, px: float
) -> np.ndarray:
    """Running median of one band on a coarse grid, interpolated back to full size."""
    rows, cols = band.shape
    r_cells, c_cells = -(-rows // cell), -(-cols // cell)
    fill = float(np.median(band[ok])) if ok.any() else 0.0
    padded = np.full((r_cells * cell, c_cells * cell), fill, dtype=np.float32)
    padded[:rows, :cols] = np.where(ok, band, fill)
    valid = np.zeros(padded.shape, dtype=np.float32)
    valid[:rows, :cols] = ok
    tiles = padded.reshape(r_cells, cell, c_cells, cell).transpose(0, 2, 1, 3)
    coarse = np.median(tiles.reshape(r_cells, c_cells, cell * cell), axis=2)
    # Cells mostly outside the mask (their median is mostly the fill value) count as empty.
    share = valid.reshape(r_cells, cell, c_cells, cell).mean(axis=(1, 3))
    coarse = np.where(share >= 0.5, coarse, np.nan)
    have = np.isfinite(coarse)
    if not have.all():
        # Empty cells take the value of the nearest cell with data.
        _, (ir, ic) = ndimage.distance_transform_edt(~have, return_indices=True)
        coarse = coarse[ir, ic] if have.any() else np.full_like(coarse, fill)
    window = odd(params.background_window_m / (cell * px), 3)
    smooth = ndimage.median_filter(coarse, size=window, mode="nearest")
    zoomed = ndimage.zoom(smooth, cell, order=1, mode="nearest", grid_mode=True)
    return zoomed[:rows, :cols]


def _segment(
    deviation: np.ndarray,
    sigma: float,
    ok: np.ndarray,
    params: HighresParams,
    px: float,
    max_len_px: float,
) -> np.ndarray:
    """Binary mask of object pixels: hysteresis threshold, then opening and closing.

    In busy scenes the low threshold can chain objects, markings and buildings into one
    sprawling component; such components (larger than the largest target) keep only their
    pixels above the high threshold.
    """
    high = max(params.k_seed * sigma, params.min_contrast)
    low = max(params.k_grow * sigma, params.grow_contrast)
    dev = np.where(ok, deviation, 0.0)
    mask = apply_hysteresis_threshold(dev, low, high) & ok
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n:
        too_big = np.zeros(n + 1, dtype=bool)
        for index, sl in enumerate(ndimage.find_objects(labels), start=1):
            if sl is not None and max(s.stop - s.start for s in sl) > 1.5 * max_len_px:
                too_big[index] = True
        sprawl = too_big[labels]
        mask = (mask & ~sprawl) | (sprawl & (dev >= high))
    r_open = int(round(params.open_m / px))
    if r_open >= 1:
        mask = ndimage.binary_opening(mask, structure=disk(r_open))
    r_close = int(round(params.close_m / px))
    if r_close >= 1:
        mask = ndimage.binary_closing(mask, structure=disk(r_close), border_value=0)
    # Fill holes (a dark cockpit, a gap between wing and shadow) but not whole enclosed yards.
    holes = ndimage.binary_fill_holes(mask) & ~mask
    max_hole = max(1, int(round(params.max_hole_m2 / (px * px))))
    hole_labels, n = ndimage.label(holes)
    if n:
        sizes = np.bincount(hole_labels.ravel())
        small = sizes <= max_hole
        small[0] = False
        mask = mask | small[hole_labels]
    return mask & ok


def _split_merged(mask: np.ndarray, max_len_px: float, min_len_px: float) -> np.ndarray:
    """Label objects; components longer than the largest target are split by a watershed on
    the distance transform (rows of parked aircraft whose shadows touch)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return labels
    out = labels.copy()
    next_label = n + 1
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        local = labels[sl] == index
        extent = max(local.shape)
        if extent <= max_len_px or local.sum() > 50 * max_len_px * max_len_px:
            continue
        distance = ndimage.distance_transform_edt(local)
        peaks = peak_local_max(
            distance,
            min_distance=max(int(round(min_len_px / 2)), 2),
            labels=local.astype(np.int32),
            exclude_border=False,
        )
        if len(peaks) < 2:
            continue
        markers = np.zeros(local.shape, dtype=np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        parts = watershed(-distance, markers=markers, mask=local)
        region = out[sl]
        for part in range(1, len(peaks) + 1):
            sel = parts == part
            if sel.any():
                region[sel] = next_label
                next_label += 1
    return out


def _classify(
    region: object,
    classes: tuple[str, ...],
    shapes: dict[str, ClassShape],
    params: HighresParams,
    px: float,
    factor: int,
    full_shape: tuple[int, int],
) -> Detection | None:
    """Return the region as a detection of the first class whose shape it fits, else None."""
    coords = region.coords  # type: ignore[attr-defined]
    rows, cols = coords[:, 0], coords[:, 1]
    area = int(rows.size)
    if area < 4:
        return None
    r0, c0, r1, c1 = region.bbox  # type: ignore[attr-defined]
    shortest = min(shapes[c].min_length_m for c in classes)
    longest = max(shapes[c].max_length_m for c in classes)
    if math.hypot(r1 - r0, c1 - c0) * px < shortest or min(r1 - r0, c1 - c0) * px > longest:
        return None
    _, length_px, width_px, heading = moment_geometry(rows, cols)
    extent_px = max(float(region.feret_diameter_max), length_px)  # type: ignore[attr-defined]
    length_m = extent_px * px
    width_m = max(width_px, 1.0) * px
    solidity = float(region.solidity)  # type: ignore[attr-defined]
    elongation = length_px / max(width_px, 1e-6)
    fill = area / max(extent_px * extent_px, 1.0)
    mean_dev = float(region.intensity_mean)  # type: ignore[attr-defined]
    if mean_dev < params.min_mean_contrast:
        return None
    chosen = None
    for cls in classes:
        s = shapes[cls]
        if not s.min_length_m <= length_m <= s.max_length_m:
            continue
        if not s.min_solidity <= solidity <= s.max_solidity:
            continue
        if not s.min_elongation <= elongation <= s.max_elongation:
            continue
        if fill < s.min_fill:
            continue
        chosen = cls
        break
    if chosen is None:
        return None
    score = min(max(mean_dev / params.full_score_contrast, 0.0), 1.0)
    full_rows = (rows * factor).astype(np.int64)
    full_cols = (cols * factor).astype(np.int64)
    c0, r0, w, h = bbox_of(full_rows, full_cols)
    w = min(w + factor - 1, full_shape[1] - c0)
    h = min(h + factor - 1, full_shape[0] - r0)
    centroid_r, centroid_c = region.centroid  # type: ignore[attr-defined]
    return Detection(
        bbox_px=(c0, r0, w, h),
        score=round(0.4 + 0.6 * score, 4),
        cls=chosen,
        centroid_px=(
            round((centroid_c + 0.5) * factor - 0.5, 3),
            round((centroid_r + 0.5) * factor - 0.5, 3),
        ),
        length_m=round(length_m, 2),
        width_m=round(width_m, 2),
        heading_deg=round(heading, 2),
        area_px=int(area * factor * factor),
    )

"""Radar (Sentinel-1-like) detector: CFAR on linear backscatter, objects from pixel clusters.

The detector works on one co-polarised band (VV) in linear units. For each pixel it estimates the
local clutter (mean and equivalent number of looks, ENL) in a square background ring around a
guard window, both scaled to the expected object size, and flags the pixel when it exceeds the
gamma-distribution quantile for the chosen false-alarm probability (Pfa). Bright pixels are
censored from the clutter estimate and the estimate is repeated, so dense anchorages or rows of
vehicles do not raise their own threshold. Objects seeded inside the search mask may grow a
little way out of it through very bright pixels (ships under a quay's smeared edge); flagged
pixels far from any bright core are dropped, and objects are cut where the brightness along
their axis falls into a deep valley (ships moored bow to stern along a pier). Length, width and
heading come from image moments; objects outside the target's size range or without a bright
enough peak are dropped, as are faint returns lined up with a much brighter target along an
image axis (side lobes; azimuth ambiguities far along track are not handled yet). Near the shore
(more than 30 % land within 100 m), where quay edges, cranes and corners of buildings pass the
CFAR test, ships must be at least 50 m long. :func:`detect_ships` runs the whole chain on an
image without a zone, its water mask taken from the image itself.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage
from scipy.special import gammaincinv
from skimage.filters import threshold_otsu
from skimage.morphology import disk, remove_small_objects

from basewatch.detect import Detection
from basewatch.detect._common import (
    bbox_of,
    check_array,
    check_mask,
    check_pixel_size,
    check_target,
    dilate,
    masked_window_stats,
    moment_geometry,
    odd,
)
from basewatch.errors import InputError

NAME = "sar-cfar"
"""Detector name recorded with every observation."""
VERSION = "0.5.0"
"""Detector version; part of an observation's identity."""

TARGETS = ("ship", "vehicle", "aircraft", "any")
"""Values accepted for ``target``."""


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TargetSize:
    """Size range and CFAR windows that suit one kind of target."""

    min_length_m: float
    """Shortest object kept (metres, major axis)."""
    max_length_m: float
    """Longest object kept (metres, major axis)."""
    max_width_m: float
    """Widest object kept (metres, minor axis)."""
    guard_m: float
    """Side of the guard window (metres): pixels this close are not clutter."""
    background_m: float
    """Side of the background window (metres) in which the clutter is estimated."""
    merge_m: float
    """Flagged pixels closer than this (metres) belong to one object."""
    min_peak_db: float
    """Brightest pixel of a kept object is at least this far (dB) above the clutter mean;
    keeps land, piers and breakwaters that the water mask lets in from passing as ships."""
    grow_m: float
    """An object seeded inside the search mask may extend this far (metres) outside it
    through pixels at least ``min_peak_db`` above the clutter (moored ships under a quay's
    smeared edge)."""


TARGET_SIZES: dict[str, TargetSize] = {
    "ship": TargetSize(
        min_length_m=15.0,
        max_length_m=420.0,
        max_width_m=80.0,
        guard_m=120.0,
        background_m=500.0,
        merge_m=3.0,
        min_peak_db=15.0,
        grow_m=30.0,
    ),
    "vehicle": TargetSize(
        min_length_m=3.0,
        max_length_m=30.0,
        max_width_m=20.0,
        guard_m=50.0,
        background_m=250.0,
        merge_m=3.0,
        min_peak_db=6.0,
        grow_m=0.0,
    ),
    "aircraft": TargetSize(
        min_length_m=10.0,
        max_length_m=100.0,
        max_width_m=100.0,
        guard_m=100.0,
        background_m=400.0,
        merge_m=10.0,
        min_peak_db=6.0,
        grow_m=0.0,
    ),
    "any": TargetSize(
        min_length_m=3.0,
        max_length_m=420.0,
        max_width_m=100.0,
        guard_m=120.0,
        background_m=500.0,
        merge_m=10.0,
        min_peak_db=6.0,
        grow_m=0.0,
    ),
}
"""Default size range and windows per ``target``."""


@dataclass(frozen=True, kw_only=True)
class CfarParams:
    """Settings of :func:`detect`. ``None`` means: take the value for the target's size."""

    pfa: float = 1e-6
    """Probability of false alarm per pixel of homogeneous clutter."""
    guard_m: float | None = None
    """Side of the guard window in metres (None: from the target's size)."""
    background_m: float | None = None
    """Side of the background window in metres (None: from the target's size)."""
    censor_iterations: int = 2
    """How often the clutter is re-estimated with the flagged pixels left out."""
    min_enl: float = 1.0
    """Lowest equivalent number of looks assumed for the clutter (1: exponential)."""
    max_enl: float = 30.0
    """Highest equivalent number of looks assumed for the clutter."""
    min_background_pixels: int = 30
    """Fewest clutter pixels in a window; below it the whole search area's clutter is used."""
    min_length_m: float | None = None
    """Shortest object kept, metres (None: from the target)."""
    max_length_m: float | None = None
    """Longest object kept, metres (None: from the target)."""
    max_width_m: float | None = None
    """Widest object kept, metres (None: from the target)."""
    merge_m: float | None = None
    """Flagged pixels closer than this belong to one object (None: from the target)."""
    min_pixels: int = 1
    """Fewest flagged pixels in an object."""
    split_min_part_m: float = 40.0
    """An object is cut at a deep brightness valley along its axis only if both parts are
    at least this long (metres)."""
    split_valley_ratio: float = 0.05
    """Depth of such a valley: the summed brightness across the object there is below this
    fraction of the brightest cross-section on either side (-13 dB)."""
    core_halo_m: float = 20.0
    """Flagged pixels farther than this (metres, at least one pixel) from a pixel
    ``min_peak_db`` above the clutter are dropped before objects are formed."""
    min_peak_db: float | None = None
    """Brightest pixel over clutter mean (dB) an object needs (None: from the target)."""
    grow_m: float | None = None
    """How far objects may grow out of the search mask (None: from the target)."""
    sidelobe_ratio: float = 0.03
    """An object whose peak is below this fraction of a brighter object's peak (-15 dB) and
    that lies on that object's row or column band, within the side-lobe reach, is a side
    lobe (or range/azimuth streak) of it and is dropped."""
    sidelobe_reach: float = 3.0
    """Side lobes are looked for up to this many lengths of the bright object..."""
    sidelobe_reach_m: float = 300.0
    """...and at least this far (metres) from its centre."""
    contrast_full_score_db: float = 20.0
    """Object-to-clutter contrast (dB) that earns score 1; 0 dB earns 0."""
    shore_radius_m: float = 100.0
    """Radius of the disc (metres) in which the share of land around an object is measured
    (only with a search mask, for ships)."""
    shore_land_share: float = 0.3
    """Objects with more than this share of land (outside the search mask) in that disc are
    near the shore, where quay edges, cranes and urban corners pass the CFAR test..."""
    fragment_margin_m: float = 0.0
    """Objects centred within a larger object's box grown by this (metres) are fragments of
    it and dropped; negative disables."""
    saturated_size_factor: float = 1.5
    """Objects holding clipped pixels may be this many times the target's longest and widest
    size: in display-scaled images a bright ship's side lobes and smear saturate with it."""
    shore_min_length_m: float = 50.0
    """...and are kept only when at least this long (moored warships and auxiliaries are;
    bright corners of buildings and quays seldom are). 0 disables the rule."""
    clip_margin_db: float | None = 0.0
    """In a clipped (display-scaled) image, objects whose brightest pixel lies more than this
    many dB below the clip level are dropped: the stretch that makes such an image clips on
    ships' hulls and superstructures, while pilings, breakwater rubble, wakes and sea spikes
    stay well below it. 0 (the default): an object must hold a clipped pixel. None disables
    the rule; it never applies to unclipped (calibrated) images, whose maximum is not shared
    by :data:`SATURATION_MIN_PIXELS` pixels."""


# --------------------------------------------------------------------------------------------
# Water mask
# --------------------------------------------------------------------------------------------

WATER_CELL_M = 10.0
"""Images finer than this are block-averaged to about this cell size before masking."""
WATER_SMOOTH_M = 50.0
"""Side of the window in which pixels vote for water or land."""
WATER_BRIGHT_DB = 8.0
"""Pixels this much brighter than typical land (ships, urban points) abstain from the vote."""
WATER_MAX_TARGET_M2 = 40_000.0
"""Bright patches larger than this (urban blocks) are land and vote as land."""
WATER_MIN_AREA_M2 = 40_000.0
"""Dark patches smaller than this (radar shadows, smooth roofs) are not water."""
WATER_MIN_SEPARATION_DB = 4.0
"""Water and land classes closer than this (dB) mean the image holds only one of them."""
WATER_MAX_ISLAND_M2 = 250_000.0
"""Land patches smaller than this that water surrounds are objects afloat, not land."""
WATER_SPECKLE_PX = 3
"""The amplitude is averaged over this many pixels square before its log is taken. The mean
of the log of single pixels is pulled down by speckle and by the zeros and flattened blocks
that JPEG compression leaves in dark areas: on the HRSID chips re-encoded at JPEG quality 80
the urban port P0094 read 59 % water instead of 39 %; averaged over 3 px, 42-43 % at every
quality. Never more than the 10 m water cell (Sentinel-1's 10 m pixels are not smoothed)."""
WATER_MAX_TEXTURE = 100.0
"""One-class uncalibrated images smoother than this :func:`texture_ratio` are all water (sea
8-25 in the HRSID chips, 55 for the swell of the offshore chip P0135; land 65-490: the
classes overlap, so a one-class image is taken as water unless it is strongly textured)."""
WATER_MAX_DB = -15.0
"""Median backscatter (dB) below which a one-class image is taken as all water."""


def water_mask(
    image: np.ndarray,
    *,
    pixel_size_m: float,
    calibrated: bool = True,
    speckle_px: int = WATER_SPECKLE_PX,
) -> np.ndarray:
    """Water pixels from the radar image itself.

    The amplitude is averaged over ``speckle_px`` pixels (never more than the 10 m cell), its
    log block-averaged to about 10 m and median-filtered over about 50 m;
    Otsu's threshold splits it into water and land when the image holds two distinct classes
    (medians at least 4 dB apart, the brighter one holding a patch of at least 4 ha so that a
    crowded anchorage is not taken for land); otherwise the whole image is water when its
    median is below -15 dB, else land (for ``calibrated`` sigma0; display-scaled or raw
    digital numbers carry no absolute level, so there a one-class image is water when it is
    as smooth as speckle, see :func:`texture_ratio`). Bright land patches smaller than 25 ha
    that water surrounds on all sides are objects afloat (a large saturated ship) and join
    the water. Each pixel is then classified by a majority vote of
    the pixels in a 50 m window in which compact patches (< 4 ha) of pixels 8 dB brighter
    than typical land (ships, bright points) and their neighbours do not vote, so ships, also
    those moored alongside a quay, fall inside the water. Isolated pixels are opened away and
    dark patches smaller than 4 ha dropped. NaN is never water.

    Args:
        image: linear backscatter (VV), 2-D float; NaN where there is no data.
        pixel_size_m: pixel size in metres.
        calibrated: whether the values are calibrated backscatter (sigma0), so that the
            -15 dB level means something.
        speckle_px: side of the window (pixels) in which the amplitude is averaged before
            the log is taken (see :data:`WATER_SPECKLE_PX`); 1 takes the log of each pixel.

    Returns:
        Boolean array of the image's shape, True on water.
    """
    if int(speckle_px) != speckle_px or speckle_px < 1:
        raise InputError(f"speckle_px must be a whole number >= 1, got {speckle_px!r}")
    arr = check_array(image, name="image", ndim=2).astype(np.float64, copy=False)
    px = check_pixel_size(pixel_size_m)
    finite = np.isfinite(arr)
    out = np.zeros(arr.shape, dtype=bool)
    if arr.size == 0 or not finite.any():
        return out
    factor = max(1, int(round(WATER_CELL_M / px)))
    cell = px * factor
    coarse = _block_nanmean(_speckle_db(arr, finite, min(speckle_px, factor)), factor)
    ok = np.isfinite(coarse)
    if not ok.any():
        return out
    window = odd(WATER_SMOOTH_M / cell, 3)
    filled = np.where(ok, coarse, float(np.nanmedian(coarse)))
    smooth = ndimage.median_filter(filled, size=window, mode="nearest")
    split = _split_levels(smooth[ok])
    max_cells = max(1, int(round(WATER_MAX_TARGET_M2 / (cell * cell))))
    if split is not None:
        # Land is extensive: bright classes made only of small patches are ships, not land.
        big = remove_small_objects(ok & (smooth >= split[0]), max_size=max_cells)
        if not big.any():
            split = None
    if split is None:
        if calibrated:
            is_water = bool(np.median(smooth[ok]) < WATER_MAX_DB)
        else:
            is_water = texture_ratio(arr, pixel_size_m=px) < WATER_MAX_TEXTURE
        water = np.full(coarse.shape, is_water) & ok
    else:
        threshold, land_level = split
        bright = ndimage.binary_dilation(filled > land_level + WATER_BRIGHT_DB)
        bright = bright & ~remove_small_objects(bright, max_size=max_cells)
        voters = ok & ~bright
        landlike = voters & (filled >= threshold)
        n_votes = ndimage.uniform_filter(voters.astype(np.float64), window, mode="constant")
        n_land = ndimage.uniform_filter(landlike.astype(np.float64), window, mode="constant")
        with np.errstate(invalid="ignore", divide="ignore"):
            water = np.where(n_votes > 1e-9, n_land < 0.5 * n_votes, smooth < threshold) & ok
        water = ndimage.binary_opening(water, structure=disk(1))
        min_cells = max(1, int(round(WATER_MIN_AREA_M2 / (cell * cell))))
        water = remove_small_objects(water, max_size=min_cells - 1)
        water = _enclosed_patches_to_water(water, ok, max(1, int(WATER_MAX_ISLAND_M2 / cell**2)))
    full = np.repeat(np.repeat(water, factor, axis=0), factor, axis=1)
    out = full[: arr.shape[0], : arr.shape[1]] & finite
    return out


def _speckle_db(arr: np.ndarray, finite: np.ndarray, size: int) -> np.ndarray:
    """Backscatter in dB after averaging the amplitude over ``size`` x ``size`` pixels (NaN
    where the pixel has no data; no-data neighbours do not count)."""
    amplitude = np.sqrt(np.clip(np.where(finite, arr, 0.0), 0.0, None))
    if size > 1:
        weight = ndimage.uniform_filter(finite.astype(np.float64), size, mode="nearest")
        total = ndimage.uniform_filter(amplitude, size, mode="nearest")
        with np.errstate(invalid="ignore", divide="ignore"):
            amplitude = np.where(weight > 1e-9, total / weight, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(finite, 20.0 * np.log10(np.clip(amplitude, 1e-5, None)), np.nan)


def texture_ratio(image: np.ndarray, *, pixel_size_m: float) -> float:
    """How much more the image varies from one 50 m block to the next than speckle explains.

    The robust variance (MAD) of the block means of intensity over the median within-block
    variance divided by the block's pixel count: about 1 for pure uncorrelated speckle, 8-55
    for real sea (correlated speckle, swell), 65-490 for land in the HRSID chips; robust
    statistics keep ships out. Needs no calibration."""
    arr = np.where(np.isfinite(image), image, np.nan).astype(np.float64)
    block = max(2, int(round(WATER_SMOOTH_M / pixel_size_m)))
    rows, cols = (arr.shape[0] // block) * block, (arr.shape[1] // block) * block
    if rows == 0 or cols == 0:
        return float("inf")
    blocks = arr[:rows, :cols].reshape(rows // block, block, cols // block, block)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(blocks, axis=(1, 3)).ravel()
        variances = np.nanvar(blocks, axis=(1, 3)).ravel()
    good = np.isfinite(means) & np.isfinite(variances)
    if good.sum() < 4:
        return float("inf")
    means, variances = means[good], variances[good]
    within = float(np.median(variances)) / (block * block)
    if not within > 0:
        return float("inf")
    spread = 1.4826 * float(np.median(np.abs(means - np.median(means))))
    return spread * spread / within


def _enclosed_patches_to_water(water: np.ndarray, ok: np.ndarray, max_cells: int) -> np.ndarray:
    """Land patches that water surrounds on all sides (they touch neither the image border
    nor no-data) and smaller than ``max_cells`` are objects afloat (a large or saturated ship,
    a crowded nest), not land: they join the water so that the detector measures them."""
    land = ok & ~water
    if not land.any():
        return water
    labels, n = ndimage.label(land, structure=np.ones((3, 3), dtype=bool))
    edge = np.zeros(land.shape, dtype=bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    edge |= ndimage.binary_dilation(~ok)
    touching = np.unique(labels[edge & land])
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    afloat = (sizes <= max_cells) & ~np.isin(np.arange(n + 1), touching)
    afloat[0] = False
    return water | (afloat[labels] & land)


def _block_nanmean(a: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor`` x ``factor`` blocks, ignoring NaN (partial blocks at the edges)."""
    if factor == 1:
        return a
    rows = -(-a.shape[0] // factor) * factor
    cols = -(-a.shape[1] // factor) * factor
    padded = np.full((rows, cols), np.nan)
    padded[: a.shape[0], : a.shape[1]] = a
    blocks = padded.reshape(rows // factor, factor, cols // factor, factor)
    good = np.isfinite(blocks)
    total = np.where(good, blocks, 0.0).sum(axis=(1, 3))
    count = good.sum(axis=(1, 3))
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _split_levels(samples: np.ndarray) -> tuple[float, float] | None:
    """Otsu threshold and land level (dB) of smoothed samples; None for a one-class image."""
    lo, hi = np.percentile(samples, [1, 99])
    if hi - lo < 1e-6:
        return None
    threshold = float(threshold_otsu(np.clip(samples, lo, hi)))
    below, above = samples[samples < threshold], samples[samples >= threshold]
    if below.size <= 0.01 * samples.size or above.size <= 0.01 * samples.size:
        return None
    land_level = float(np.median(above))
    if land_level - float(np.median(below)) < WATER_MIN_SEPARATION_DB:
        return None
    return threshold, land_level


# --------------------------------------------------------------------------------------------
# CFAR detection
# --------------------------------------------------------------------------------------------


SATURATION_MIN_PIXELS = 4
"""Pixels that must share the image's maximum for ``saturation="auto"`` to call it a clip."""


def saturation_level(values: np.ndarray) -> float | None:
    """The value at which an image is clipped, or None: its maximum when at least
    :data:`SATURATION_MIN_PIXELS` finite pixels share it (8-bit display amplitude saturates
    on ships and urban corners; calibrated floats practically never repeat their maximum)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    top = float(finite.max())
    if top <= 0 or int(np.count_nonzero(finite >= top)) < SATURATION_MIN_PIXELS:
        return None
    return top


@lru_cache(maxsize=32)
def _gamma_multiplier_table(pfa: float) -> tuple[np.ndarray, np.ndarray]:
    """``log(ENL)`` grid and the matching threshold/mean ratios of a unit-mean gamma law."""
    enl = np.geomspace(0.3, 200.0, 96)
    mult = gammaincinv(enl, 1.0 - pfa) / enl
    return np.log(enl), mult


def gamma_threshold_factor(enl: np.ndarray | float, pfa: float) -> np.ndarray:
    """Threshold over clutter mean such that a gamma(ENL) variable exceeds it with ``pfa``."""
    log_enl, mult = _gamma_multiplier_table(float(pfa))
    return np.interp(np.log(np.clip(enl, 0.3, 200.0)), log_enl, mult)


def _resolve(params: CfarParams, target: str, px: float) -> dict[str, float]:
    """Effective sizes (pixels and metres) for this target and pixel size."""
    size = TARGET_SIZES[target]

    def pick(value: float | None, default: float) -> float:
        return float(default if value is None else value)

    guard_m = pick(params.guard_m, size.guard_m)
    background_m = pick(params.background_m, size.background_m)
    guard = odd(guard_m / px, 3)
    background = max(odd(background_m / px, 3), guard + 8)
    background = background if background % 2 == 1 else background + 1
    return {
        "guard": guard,
        "background": background,
        "min_length_m": pick(params.min_length_m, size.min_length_m),
        "max_length_m": pick(params.max_length_m, size.max_length_m),
        "max_width_m": pick(params.max_width_m, size.max_width_m),
        "merge_px": pick(params.merge_m, size.merge_m) / px,
        "min_peak_db": pick(params.min_peak_db, size.min_peak_db),
        "grow_px": pick(params.grow_m, size.grow_m) / px,
    }


def cfar_map(
    image: np.ndarray,
    eligible: np.ndarray,
    *,
    guard: int,
    background: int,
    params: CfarParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flag pixels above the local gamma CFAR threshold, with iterative censoring.

    Args:
        image: linear intensity, finite where ``eligible``.
        eligible: pixels that may be flagged and that form the clutter.
        guard: side of the guard window (pixels).
        background: side of the background window (pixels).
        params: Pfa, ENL limits, censoring iterations.

    Returns:
        ``(flagged, clutter_mean, threshold)`` arrays of the image's shape.
    """
    values = np.where(eligible, image, 0.0)
    samples = values[eligible]
    median = float(np.median(samples))
    global_mean = float(samples[samples <= np.quantile(samples, 0.99)].mean())
    global_thr = median * float(gamma_threshold_factor(params.min_enl, params.pfa))
    censored = eligible & (values > global_thr)
    flagged = np.zeros(image.shape, dtype=bool)
    mean = np.full(image.shape, global_mean)
    threshold = np.full(image.shape, global_thr)
    for _ in range(params.censor_iterations + 1):
        clutter = eligible & ~censored
        count, mean, var = masked_window_stats(values, clutter, background, guard)
        with np.errstate(invalid="ignore", divide="ignore"):
            enl = np.clip(mean * mean / var, params.min_enl, params.max_enl)
        sparse = ~(count >= params.min_background_pixels)
        mean = np.where(sparse, global_mean, mean)
        enl = np.where(sparse | ~np.isfinite(enl), params.min_enl, enl)
        threshold = mean * gamma_threshold_factor(enl, params.pfa)
        flagged = eligible & (values > threshold)
        censored = ndimage.binary_dilation(flagged, iterations=1) & eligible
    return flagged, mean, threshold


def detect(
    image: np.ndarray,
    *,
    pixel_size_m: float,
    search_mask: np.ndarray | None = None,
    target: str = "ship",
    params: CfarParams | None = None,
    saturation: float | str | None = "auto",
) -> list[Detection]:
    """Bright objects in a radar image by CFAR.

    Args:
        image: linear backscatter (VV), 2-D float; NaN where there is no data.
        pixel_size_m: pixel size in metres.
        search_mask: True where targets may be (water for ships, the zone's ground for
            vehicles); the clutter is estimated from these pixels only. None: everywhere.
        target: ``ship``, ``vehicle``, ``aircraft`` or ``any``; sets the size range and windows.
        params: detector settings; defaults to :class:`CfarParams()`.
        saturation: the value at which the image is clipped (display-scaled 8-bit amplitude
            saturates on ships): pixels at it are flagged and count as bright cores whatever
            the clutter, since their true brightness is unknown. ``"auto"``: the image's
            maximum when at least :data:`SATURATION_MIN_PIXELS` pixels share it; None: never.

    Returns:
        One :class:`Detection` per object, class ``target`` (``object`` for ``any``), sorted by
        row then column.
    """
    arr = check_array(image, name="image", ndim=2).astype(np.float64, copy=False)
    px = check_pixel_size(pixel_size_m)
    check_target(target, TARGETS)
    params = params or CfarParams()
    if not 0.0 < params.pfa < 0.5:
        raise InputError(f"params.pfa must be in (0, 0.5), got {params.pfa!r}")
    valid = np.isfinite(arr) & (arr >= 0)
    eligible = valid
    if search_mask is not None:
        eligible = valid & check_mask(search_mask, name="search_mask", shape=arr.shape)
    if arr.size == 0 or eligible.sum() < 2:
        return []
    if float(np.ptp(arr[eligible])) <= 0.0:
        return []
    cfg = _resolve(params, target, px)
    sat = saturation_level(arr[valid]) if saturation == "auto" else saturation
    if sat is not None and not isinstance(sat, float | int):
        raise InputError(f"saturation must be a number, 'auto' or None, got {saturation!r}")
    flagged, mean, threshold = cfar_map(
        arr,
        eligible,
        guard=int(cfg["guard"]),
        background=int(cfg["background"]),
        params=params,
    )
    core_level = mean * 10.0 ** (cfg["min_peak_db"] / 10.0)
    if sat is not None:
        # A clipped pixel is at least as bright as the clip: flagged, and a core.
        flagged |= eligible & (arr >= sat)
        core_level = np.minimum(core_level, float(sat))
    if not flagged.any():
        return []
    if search_mask is not None and cfg["grow_px"] >= 1:
        flagged = _grow_outside(arr, flagged, eligible, valid, core_level, cfg)
    flagged = _near_cores(arr, flagged, core_level, max(params.core_halo_m / px, 1.0))
    labels = _group(flagged, cfg["merge_px"])
    labels = _split_at_valleys(arr, labels, core_level, params, px)
    objects = _measure(arr, labels, mean, eligible, px, core_level, sat)
    objects = _drop_inside_oversized(objects, labels, cfg, params, px)
    objects = [o for o in objects if _keep(o, cfg, px, params, sat)]
    if search_mask is not None and target == "ship" and params.shore_min_length_m > 0:
        objects = _drop_small_near_shore(objects, eligible | ~valid, params, px)
    objects = _drop_sidelobes(objects, params, px)
    objects = _drop_fragments(objects, params, px)
    cls = "object" if target == "any" else target
    return [_to_detection(o, cls, params) for o in objects]


def detect_ships(
    image: np.ndarray,
    *,
    pixel_size_m: float,
    params: CfarParams | None = None,
    calibrated: bool = True,
) -> list[Detection]:
    """Ships in a whole radar image without a zone: water from the image itself, then CFAR.

    Args:
        image: linear backscatter (VV), 2-D float; NaN where there is no data.
        pixel_size_m: pixel size in metres.
        params: detector settings; defaults to :class:`CfarParams()`.
        calibrated: whether the values are calibrated sigma0 (see :func:`water_mask`).

    Returns:
        Ships (see :func:`detect`); empty when the image holds no water.
    """
    water = water_mask(image, pixel_size_m=pixel_size_m, calibrated=calibrated)
    if not water.any():
        return []
    return detect(image, pixel_size_m=pixel_size_m, search_mask=water, params=params)


def _grow_outside(
    image: np.ndarray,
    flagged: np.ndarray,
    eligible: np.ndarray,
    valid: np.ndarray,
    core_level: np.ndarray,
    cfg: dict[str, float],
) -> np.ndarray:
    """Extend flagged objects out of the search mask through very bright pixels nearby
    (at least the core level of the nearest search-mask pixel)."""
    distance, (near_r, near_c) = ndimage.distance_transform_edt(~eligible, return_indices=True)
    band = (distance > 0) & (distance <= cfg["grow_px"]) & valid
    if not band.any():
        return flagged
    bright = band & (image >= core_level[near_r, near_c])
    candidates = flagged | bright
    labels, _ = ndimage.label(candidates, structure=np.ones((3, 3), dtype=bool))
    seeded = np.unique(labels[flagged])
    return np.isin(labels, seeded[seeded > 0])


def _near_cores(
    image: np.ndarray, flagged: np.ndarray, core_level: np.ndarray, halo_px: float
) -> np.ndarray:
    """Flagged pixels within ``halo_px`` of a core pixel (``min_peak_db`` above the clutter,
    or saturated).

    Dimmer flagged pixels far from any bright core (a pier or quay edge between two moored
    ships) would otherwise chain separate targets into one object.
    """
    core = flagged & (image >= core_level)
    return flagged & dilate(core, halo_px)


def _group(flagged: np.ndarray, merge_px: float) -> np.ndarray:
    """Label flagged pixels; pixels within ``merge_px`` of each other share a label."""
    radius = math.floor(merge_px / 2.0)
    if radius >= 1:
        grown = dilate(flagged, radius)
        labels, _ = ndimage.label(grown, structure=np.ones((3, 3), dtype=bool))
        return np.where(flagged, labels, 0)
    labels, _ = ndimage.label(flagged, structure=np.ones((3, 3), dtype=bool))
    return labels


def _split_at_valleys(
    image: np.ndarray, labels: np.ndarray, core_level: np.ndarray, params: CfarParams, px: float
) -> np.ndarray:
    """Cut objects where the brightness along their major axis drops deeply between two
    bright parts, each at least ``split_min_part_m`` long (ships moored bow to stern).

    A valley must hold no core pixel (``core_level``: ``min_peak_db`` above the clutter)."""
    out = labels.copy()
    next_label = int(labels.max()) + 1
    min_part = params.split_min_part_m / px
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        local = labels[sl] == index
        rows, cols = np.nonzero(local)
        if rows.size < 4:
            continue
        _, length, _, heading = moment_geometry(rows, cols)
        if length < 2 * min_part:
            continue
        t = math.radians(heading)
        along = cols * math.sin(t) - rows * math.cos(t)
        bins = np.floor(along - along.min()).astype(int)
        values = image[sl][local]
        profile = np.bincount(bins, weights=values, minlength=bins.max() + 1)
        has_core = np.zeros(profile.size, dtype=bool)
        has_core[bins[values >= core_level[sl][local]]] = True
        cuts = _valleys(profile, has_core, min_part, params.split_valley_ratio)
        if not cuts:
            continue
        part = np.searchsorted(np.asarray(cuts), bins, side="right")
        region = out[sl]
        for k in range(1, len(cuts) + 1):
            sel = part == k
            region[rows[sel], cols[sel]] = next_label
            next_label += 1
    return out


def _valleys(profile: np.ndarray, has_core: np.ndarray, min_part: float, ratio: float) -> list[int]:
    """Bin indices where ``profile`` falls below ``ratio`` times the peaks on both sides and
    no core pixel lies, leaving parts of at least ``min_part`` bins."""
    cuts: list[int] = []
    start = 0
    n = profile.size
    for i in range(int(math.ceil(min_part)), n - int(math.ceil(min_part)) + 1):
        if i - start < min_part:
            continue
        left = float(profile[start:i].max())
        right = float(profile[i:].max())
        deep = profile[i] < ratio * min(left, right) and not has_core[i]
        if deep and profile[i] <= profile[max(i - 1, 0)]:
            # lowest point of this valley
            j = i
            while j + 1 < n and profile[j + 1] < profile[j] and not has_core[j + 1]:
                j += 1
            if n - j < min_part:
                break
            cuts.append(j)
            start = j
    return cuts


@dataclass(frozen=True, kw_only=True)
class _Object:
    """Measurements of one candidate object (internal)."""

    bbox: tuple[int, int, int, int]
    centroid: tuple[float, float]
    length_m: float
    width_m: float
    heading_deg: float
    area_px: int
    peak: float
    peak_db: float
    contrast_db: float
    has_core: bool
    """Whether a pixel inside the search mask reaches the core level (bright or saturated)."""
    saturated: bool
    """Whether the object holds clipped pixels (its measured size includes clipped lobes)."""
    label: int
    """The object's label in the label image."""
    where: tuple[slice, slice]
    """The object's bounding slices in the label image."""


def _measure(
    image: np.ndarray,
    labels: np.ndarray,
    clutter: np.ndarray,
    inside: np.ndarray,
    px: float,
    core_level: np.ndarray,
    saturation: float | None,
) -> list[_Object]:
    """Geometry, peak and contrast of each labelled object.

    The peak is taken over the object's pixels inside the search mask, so an object that is
    bright only where it grew out of the mask (a crane on a quay) does not pass as a ship.
    """
    out: list[_Object] = []
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        local = labels[sl] == index
        rows, cols = np.nonzero(local)
        values = image[sl][local]
        rows = rows + sl[0].start
        cols = cols + sl[1].start
        centroid, length, width, heading = moment_geometry(rows, cols)
        bg = clutter[sl][local]
        bg_mean = float(np.nanmean(bg)) if np.isfinite(bg).any() else float("nan")
        mean_val = float(values.mean())
        in_mask = inside[sl][local]
        peak = float(values[in_mask].max()) if in_mask.any() else 0.0
        has_core = bool((values[in_mask] >= core_level[sl][local][in_mask]).any())
        contrast = _db_ratio(mean_val, bg_mean)
        out.append(
            _Object(
                bbox=bbox_of(rows, cols),
                centroid=centroid,
                length_m=length * px,
                width_m=width * px,
                heading_deg=heading,
                area_px=int(rows.size),
                peak=peak,
                peak_db=_db_ratio(peak, bg_mean),
                contrast_db=contrast,
                has_core=has_core,
                saturated=saturation is not None and bool((values >= saturation).any()),
                label=index,
                where=sl,
            )
        )
    return out


def _db_ratio(value: float, reference: float) -> float:
    """``10 log10(value / reference)``; 0 when either is not positive or not finite."""
    if not (value > 0 and reference > 0 and math.isfinite(value) and math.isfinite(reference)):
        return 0.0
    return 10.0 * math.log10(value / reference)


def _keep(
    obj: _Object, cfg: dict[str, float], px: float, params: CfarParams, clip: float | None
) -> bool:
    """Whether an object is bright enough and its size fits the target (one pixel of
    tolerance for blur and partial pixels; saturated objects may be
    ``saturated_size_factor`` times longer and wider: their clipped lobes count). In an image
    clipped at ``clip``, its peak must come within ``clip_margin_db`` of the clip."""
    if obj.area_px < params.min_pixels or not (obj.peak_db >= cfg["min_peak_db"] or obj.has_core):
        return False
    margin = params.clip_margin_db
    if clip is not None and margin is not None and _db_ratio(obj.peak, clip) < -margin:
        return False
    return obj.length_m + px >= cfg["min_length_m"] and not _oversized(obj, cfg, params, px)


def _oversized(obj: _Object, cfg: dict[str, float], params: CfarParams, px: float) -> bool:
    """Whether an object is too long or too wide for the target (see :func:`_keep`)."""
    factor = params.saturated_size_factor if obj.saturated else 1.0
    return (
        obj.length_m - px > cfg["max_length_m"] * factor
        or obj.width_m - px > cfg["max_width_m"] * factor
    )


def _drop_inside_oversized(
    objects: list[_Object],
    labels: np.ndarray,
    cfg: dict[str, float],
    params: CfarParams,
    px: float,
) -> list[_Object]:
    """Drop the objects that lie inside a bright mass too large for the target.

    A bright mass in the search area that is too long or too wide for a ship (land the water
    mask let in, or a huge saturated hull with its lobes) leaves dimmer fragments in its gaps
    and along its edges; they are pieces of it, not ships of their own. The mass's convex hull,
    grown by ``core_halo_m``, takes them out (the mass itself fails the size test)."""
    from skimage.morphology import convex_hull_image

    masses = [o for o in objects if o.has_core and _oversized(o, cfg, params, px)]
    if not masses or len(objects) < 2:
        return objects
    mass_ids = {id(o) for o in masses}
    covered = np.zeros(labels.shape, dtype=bool)
    halo = max(params.core_halo_m / px, 1.0)
    pad = int(math.ceil(max([halo] + [0.15 * m.length_m / px for m in masses]))) + 1
    for mass in masses:
        rs, cs = mass.where
        r0, c0 = max(rs.start - pad, 0), max(cs.start - pad, 0)
        r1, c1 = min(rs.stop + pad, labels.shape[0]), min(cs.stop + pad, labels.shape[1])
        local = labels[r0:r1, c0:c1] == mass.label
        hull = convex_hull_image(local) if local.sum() >= 3 else local
        covered[r0:r1, c0:c1] |= dilate(hull, max(halo, 0.15 * mass.length_m / px))
    kept = []
    for obj in objects:
        c = min(max(int(round(obj.centroid[0])), 0), labels.shape[1] - 1)
        r = min(max(int(round(obj.centroid[1])), 0), labels.shape[0] - 1)
        if id(obj) in mass_ids or not covered[r, c]:
            kept.append(obj)
    return kept


def _drop_small_near_shore(
    objects: list[_Object], water: np.ndarray, params: CfarParams, px: float
) -> list[_Object]:
    """Drop objects shorter than ``shore_min_length_m`` with much land around them."""
    if not objects:
        return objects
    size = odd(2.0 * params.shore_radius_m / px, 3)
    land = ndimage.uniform_filter((~water).astype(np.float32), size, mode="constant")
    inside = ndimage.uniform_filter(np.ones(water.shape, np.float32), size, mode="constant")
    share = land / np.maximum(inside, 1e-6)  # the image border is neither land nor water
    rows, cols = share.shape
    kept = []
    for obj in objects:
        c = min(max(int(round(obj.centroid[0])), 0), cols - 1)
        r = min(max(int(round(obj.centroid[1])), 0), rows - 1)
        if share[r, c] > params.shore_land_share and obj.length_m < params.shore_min_length_m:
            continue
        kept.append(obj)
    return kept


def _drop_fragments(objects: list[_Object], params: CfarParams, px: float) -> list[_Object]:
    """Drop objects whose centre lies within the box of a larger object, grown by
    ``fragment_margin_m``: pieces of one large ship (its bow, a bright superstructure, the
    fringe the CFAR cut off), not ships of their own."""
    if len(objects) < 2 or params.fragment_margin_m < 0:
        return objects
    margin = params.fragment_margin_m / px
    order = sorted(range(len(objects)), key=lambda i: -objects[i].area_px)
    dropped: set[int] = set()
    for i in order:
        if i in dropped:
            continue
        c0, r0, w, h = objects[i].bbox
        for j in order:
            other = objects[j]
            if j == i or j in dropped or other.area_px >= objects[i].area_px:
                continue
            oc, orow = other.centroid
            if (
                c0 - margin <= oc <= c0 + w - 1 + margin
                and r0 - margin <= orow <= r0 + h - 1 + margin
            ):
                dropped.add(j)
    return [o for k, o in enumerate(objects) if k not in dropped]


def _drop_sidelobes(objects: list[_Object], params: CfarParams, px: float) -> list[_Object]:
    """Remove faint objects on the row/column band of a much brighter object nearby."""
    if len(objects) < 2 or params.sidelobe_ratio <= 0:
        return objects
    order = sorted(range(len(objects)), key=lambda i: -objects[i].peak)
    dropped: set[int] = set()
    for i in order:
        if i in dropped:
            continue
        bright = objects[i]
        c0, r0, w, h = bright.bbox
        reach = max(params.sidelobe_reach * max(w, h), params.sidelobe_reach_m / px)
        for j, other in enumerate(objects):
            if j == i or j in dropped or other.peak >= params.sidelobe_ratio * bright.peak:
                continue
            oc, orow = other.centroid
            on_row = r0 - 0.5 <= orow <= r0 + h - 0.5 and abs(oc - bright.centroid[0]) <= reach
            on_col = c0 - 0.5 <= oc <= c0 + w - 0.5 and abs(orow - bright.centroid[1]) <= reach
            if on_row or on_col:
                dropped.add(j)
    kept = [o for k, o in enumerate(objects) if k not in dropped]
    return sorted(kept, key=lambda o: (o.centroid[1], o.centroid[0]))


def _to_detection(obj: _Object, cls: str, params: CfarParams) -> Detection:
    """Wrap an internal object as a :class:`Detection`."""
    score = min(max(obj.contrast_db / params.contrast_full_score_db, 0.0), 1.0)
    return Detection(
        bbox_px=obj.bbox,
        score=round(score, 4),
        cls=cls,
        centroid_px=(round(obj.centroid[0], 3), round(obj.centroid[1], 3)),
        length_m=round(obj.length_m, 2),
        width_m=round(obj.width_m, 2),
        heading_deg=round(obj.heading_deg, 2),
        area_px=obj.area_px,
    )

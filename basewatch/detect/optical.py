"""Sentinel-2-like (10 m) detectors: ships against water, objects standing on a paved surface.

:func:`detect_ships` runs the trained ship model (:mod:`basewatch.detect.ships_s2`). The
classical detector it replaced stays as :func:`detect_ships_contrast`, for comparison: there,
ships are found by their near-infrared (and visible) contrast against the water around
them, estimated from water pixels only. The search area is the water plus land that is not "land
proper": land proper lies on long straight land runs in four directions (an opening by line
segments), so a ship moored alongside a quay, a short bump on the coastline, falls back into
the search area while wide quays stay out; of that leftover land only the shallow parts (no
deeper than a ship's beam from the water) are searched. Water next to land proper must beat
the land's blurred halo. Objects are measured with contrast-weighted moments corrected for
the sensor's blur; very long objects (breakwaters) and objects next to the coast that point
away from it (crane booms, jetty heads, rough shores) are rejected.

Apron objects (aircraft, vehicles) are pixels whose neighbourhood deviates from a robust
model of the paved surface (window mean of inlier pixels, MAD spread per band), grouped with
hysteresis and split with a watershed when touching objects merge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.morphology import h_maxima, remove_small_holes, remove_small_objects
from skimage.segmentation import watershed

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

NAME = "s2-contrast"
"""Name of the classical detectors here, recorded with apron observations (``-apron``) and
ship observations of :func:`detect_ships_contrast`; :func:`detect_ships` records
:data:`basewatch.detect.ships_s2.NAME`."""
VERSION = "0.1.0"
"""Detector version; part of an observation's identity."""

VISIBLE = ("blue", "green", "red")
"""Canonical visible band names."""
APRON_TARGETS = ("aircraft", "vehicle", "any")
"""Values accepted for ``target`` by :func:`detect_apron_objects`."""

NDWI_THRESHOLD = 0.05
"""Pixels with NDWI (green vs nir) above this are water."""
MNDWI_THRESHOLD = 0.15
"""Pixels with MNDWI (green vs swir16) above this are water (used when swir16 is given)."""
WATER_MIN_PX = 12
"""Water patches with fewer pixels (dark shadows, puddles) are dropped."""
WATER_MAX_HOLE_M2 = 60_000.0
"""Non-water holes up to this area (ships at anchor, buoys) are filled into the water."""


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ShipParams:
    """Settings of :func:`detect_ships_contrast`."""

    k_seed: float = 6.0
    """A ship needs a pixel this many local standard deviations above the water."""
    k_grow: float = 3.0
    """Pixels this many standard deviations above the water join a seeded ship."""
    min_excess: float = 0.03
    """A ship's brightest pixel exceeds the water by at least this reflectance (nir or
    visible), whatever the water's noise."""
    noise_floor: float = 0.004
    """Lowest standard deviation assumed for the water (reflectance)."""
    background_m: float = 400.0
    """Side of the window in which the water's mean and spread are estimated (metres)."""
    land_run_m: float = 450.0
    """Land proper lies on straight land runs at least this long in four directions; shorter
    bumps on the coast (moored ships) are searched."""
    max_moored_depth_m: float = 40.0
    """Land that is not land proper and nowhere farther than this from water (moored ships,
    thin jetties, breakwaters) is searched; thicker leftovers (corners of quays) are not."""
    shore_px: float = 2.0
    """Pixels this close to land proper (pixels) get the stricter shore test."""
    shore_leak: float = 0.25
    """Share of the land's excess that its blur can carry into the next water pixels."""
    crane_reach_m: float = 30.0
    """Objects whose nearest pixel is this close to land proper (metres) must lie alongside
    it (see ``alongside_deg``)."""
    alongside_deg: float = 35.0
    """Largest angle between such an object's axis and the coast (degrees). Crane booms,
    jetty heads and bumps of a rough shore point away from the coast and are rejected; so
    are ships moored bow-on, a limitation of this version."""
    psf_sigma_px: float = 0.5
    """Standard deviation of the sensor's blur (pixels), removed from measured sizes."""
    min_length_m: float = 25.0
    """Shortest ship kept (metres, blur-corrected length)."""
    max_length_m: float = 420.0
    """Longest ship kept (metres); longer bright objects are breakwaters or jetties."""
    max_width_m: float = 80.0
    """Widest ship kept (metres)."""
    full_score_excess: float = 0.12
    """Mean nir excess over the water (reflectance) that earns score 1."""


@dataclass(frozen=True, kw_only=True)
class ApronParams:
    """Settings of :func:`detect_apron_objects`. ``None`` sizes come from the target."""

    k_seed: float = 8.0
    """An object needs a pixel whose local deviation energy is this many robust standard
    deviations above the surface's own (the energy is heavy-tailed, hence the high value)."""
    k_grow: float = 4.0
    """Pixels this many robust standard deviations above the surface join an object."""
    min_contrast: float = 0.012
    """An object's strongest pixel differs from the surface by at least this reflectance."""
    noise_floor: float = 0.004
    """Lowest robust standard deviation assumed for the surface (reflectance)."""
    smoothing_px: float = 0.6
    """Gaussian smoothing (pixels) of the deviation before thresholding (matched to the blur)."""
    border_m: float = 10.0
    """Seeds closer than this to the surface mask's edge are ignored (mixed edge pixels)."""
    background_m: float = 300.0
    """Side of the window in which the surface's local level is estimated (metres)."""
    min_length_m: float | None = None
    """Shortest object kept (metres); None: from the target."""
    max_length_m: float | None = None
    """Longest object kept (metres); None: from the target."""
    split_distance_m: float | None = None
    """Peaks of contrast closer than this belong to one object; None: from the target."""
    full_score_z: float = 20.0
    """Peak deviation (in robust standard deviations) that earns score 1."""


APRON_SIZES: dict[str, tuple[float, float, float]] = {
    "aircraft": (10.0, 90.0, 20.0),
    "vehicle": (3.0, 30.0, 15.0),
    "any": (3.0, 90.0, 15.0),
}
"""Target -> (min length m, max length m, split distance m) for apron objects."""


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


def _band_stack(
    bands: Mapping[str, np.ndarray], names: tuple[str, ...], *, required: tuple[str, ...]
) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """Check and convert the bands; returns float64 arrays keyed by name and their shape."""
    if not isinstance(bands, Mapping):
        raise InputError(
            f"bands must be a mapping of band name to 2-D array, got {type(bands).__name__}"
        )
    missing = [name for name in required if name not in bands]
    if missing:
        raise InputError(
            f"bands lacks {', '.join(missing)} (has {', '.join(sorted(bands)) or 'none'}); "
            "pass canonical band names blue, green, red, nir"
        )
    out: dict[str, np.ndarray] = {}
    shape: tuple[int, int] | None = None
    for name in names:
        if name not in bands:
            continue
        arr = check_array(bands[name], name=f"bands[{name!r}]", ndim=2).astype(np.float64)
        if shape is None:
            shape = (int(arr.shape[0]), int(arr.shape[1]))
        elif arr.shape != shape:
            raise InputError(
                f"bands[{name!r}] has shape {arr.shape}, other bands {shape}; "
                "resample all bands to one grid"
            )
        out[name] = arr
    assert shape is not None  # required bands exist
    return out, shape


def _usable(
    arrays: dict[str, np.ndarray], shape: tuple[int, int], valid: np.ndarray | None
) -> np.ndarray:
    """Pixels where every band is finite and ``valid`` (if given) is True."""
    ok = np.ones(shape, dtype=bool)
    for arr in arrays.values():
        ok &= np.isfinite(arr)
    if valid is not None:
        ok &= check_mask(valid, name="valid", shape=shape)
    return ok


# --------------------------------------------------------------------------------------------
# Water
# --------------------------------------------------------------------------------------------


def water_mask(bands: Mapping[str, np.ndarray], *, valid: np.ndarray | None = None) -> np.ndarray:
    """Water pixels from a normalised difference water index.

    MNDWI (green vs swir16) when ``swir16`` is present, else NDWI (green vs nir); water
    patches of fewer than 12 pixels are dropped. Ships are not water here;
    :func:`detect_ships_contrast` fills the small holes they leave.

    Args:
        bands: reflectance arrays keyed ``green`` and ``nir`` (and optionally ``swir16``),
            all on one grid; NaN where unusable.
        valid: True where pixels are usable (clear, with data); None: all finite pixels.

    Returns:
        Boolean array, True on water.
    """
    names = ("green", "nir", "swir16")
    arrays, shape = _band_stack(bands, names, required=("green", "nir"))
    ok = _usable(arrays, shape, valid)
    if not ok.any():
        return np.zeros(shape, dtype=bool)
    green = arrays["green"]
    if "swir16" in arrays:
        other, threshold = arrays["swir16"], MNDWI_THRESHOLD
    else:
        other, threshold = arrays["nir"], NDWI_THRESHOLD
    with np.errstate(invalid="ignore", divide="ignore"):
        index = (green - other) / (green + other)
    water = ok & np.isfinite(index) & (index > threshold)
    water = remove_small_objects(water, max_size=WATER_MIN_PX - 1)
    return water


def _fill_ships(water: np.ndarray, ok: np.ndarray, px: float) -> np.ndarray:
    """Water with small enclosed non-water holes (ships at anchor) filled in."""
    max_hole = max(1, int(round(WATER_MAX_HOLE_M2 / (px * px))))
    return remove_small_holes(water, max_size=max_hole) & ok


def _shallow_land(land: np.ndarray, core: np.ndarray, params: ShipParams, px: float) -> np.ndarray:
    """Land outside the ``core`` that is nowhere thicker than a moored ship."""
    strips = land & ~core
    if not strips.any():
        return strips
    depth = ndimage.distance_transform_edt(np.pad(land, 1, constant_values=False))[1:-1, 1:-1]
    labels, n = ndimage.label(strips, structure=np.ones((3, 3), dtype=bool))
    shallow = np.ones(n + 1, dtype=bool)
    shallow[0] = False
    # a strip is deep when any of its pixels is (cheaper than a per-label maximum)
    shallow[labels[depth > params.max_moored_depth_m / px + 0.5]] = False
    return shallow[labels]


def _land_core(land: np.ndarray, run_px: float) -> np.ndarray:
    """Land pixels lying on straight land runs of at least ``run_px`` pixels in each of four
    directions (rows, columns, both diagonals): an opening by line segments.

    A ship moored alongside a quay is a bump shorter than ``run_px`` along the coast, so it
    is not core; wide land and long straight quays are. Image edges count as land.
    """
    if run_px <= 1:
        return land.copy()
    need = max(int(round(run_px)), 2)
    need_diag = max(int(round(run_px / math.sqrt(2.0))), 2)
    pad = need  # replicate the edges so runs leaving the image count as long
    padded = np.pad(land, pad, mode="edge")
    core = _runs(padded, axis=1) >= need
    core &= _runs(padded, axis=0) >= need
    core &= _diagonal_runs(padded, flip=False) >= need_diag
    core &= _diagonal_runs(padded, flip=True) >= need_diag
    return core[pad:-pad, pad:-pad] & land


def _runs(mask: np.ndarray, axis: int) -> np.ndarray:
    """Length of the run of True values each pixel belongs to, along ``axis`` (0 elsewhere)."""
    m = mask if axis == 1 else mask.T
    rows, cols = m.shape
    flat = np.zeros((rows, cols + 2), dtype=np.int8)
    flat[:, 1:-1] = m
    edges = np.diff(flat, axis=1)
    r_start, c_start = np.nonzero(edges == 1)
    r_end, c_end = np.nonzero(edges == -1)
    lengths = c_end - c_start
    out = np.zeros((rows, cols), dtype=np.int32)
    # Fill each run with its length via a difference array along the row.
    diff = np.zeros((rows, cols + 1), dtype=np.int32)
    np.add.at(diff, (r_start, c_start), lengths)
    np.add.at(diff, (r_end, c_end), -lengths)
    out = np.cumsum(diff[:, :-1], axis=1)
    return out if axis == 1 else out.T


def _diagonal_runs(mask: np.ndarray, *, flip: bool) -> np.ndarray:
    """Run lengths along the main diagonals (anti-diagonals when ``flip``)."""
    m = mask[:, ::-1] if flip else mask
    rows, cols = m.shape
    # Shear so that diagonals become rows: pixel (r, c) goes to (r - c + cols - 1, c).
    sheared = np.zeros((rows + cols - 1, cols), dtype=bool)
    r_idx, c_idx = np.indices((rows, cols))
    sheared[r_idx - c_idx + cols - 1, c_idx] = m
    runs = _runs(sheared, axis=1)
    out = runs[r_idx - c_idx + cols - 1, c_idx]
    return out[:, ::-1] if flip else out


# --------------------------------------------------------------------------------------------
# Ships
# --------------------------------------------------------------------------------------------


def detect_ships(
    bands: Mapping[str, np.ndarray],
    *,
    pixel_size_m: float,
    valid: np.ndarray | None = None,
    water: np.ndarray | None = None,
    model: Path | str | None = None,
    threshold: float | None = None,
) -> list[Detection]:
    """Ships in a Sentinel-2 image with the trained model (:mod:`basewatch.detect.ships_s2`).

    Args:
        bands: reflectance arrays (0-1) keyed ``blue``, ``green``, ``red``, ``nir`` (and
            optionally ``swir16``) on one grid; with one of the first four missing the shipped
            two-stage detector runs (:data:`basewatch.detect.ships_s2.PARTIAL_MODEL`).
        pixel_size_m: pixel size in metres.
        valid: True where pixels are usable; None: all finite pixels.
        water: water mask; None: :func:`water_mask` of ``bands``.
        model: an ONNX file from ``basewatch train ships`` (default: the shipped model).
        threshold: minimum score (default: the model's).

    Returns:
        One :class:`Detection` (class ``ship``) per vessel, sorted by row then column. The
        classical contrast detector is :func:`detect_ships_contrast`.
    """
    from basewatch.detect.ships_s2 import detect_ships_s2

    return detect_ships_s2(
        bands,
        pixel_size_m=pixel_size_m,
        valid=valid,
        water=water,
        model=model,
        threshold=threshold,
    )


def detect_ships_contrast(
    bands: Mapping[str, np.ndarray],
    *,
    pixel_size_m: float,
    valid: np.ndarray | None = None,
    water: np.ndarray | None = None,
    params: ShipParams | None = None,
) -> list[Detection]:
    """Ships in a Sentinel-2-like image by contrast against the surrounding water (classical).

    Args:
        bands: reflectance arrays keyed ``blue``, ``green``, ``red``, ``nir`` (``swir16``
            optional), all on one grid; NaN where unusable.
        pixel_size_m: pixel size in metres.
        valid: True where pixels are usable; None: all finite pixels.
        water: water mask to use; None: :func:`water_mask` of ``bands``.
        params: detector settings; defaults to :class:`ShipParams()`.

    Returns:
        One :class:`Detection` (class ``ship``) per vessel, sorted by row then column.
    """
    names = (*VISIBLE, "nir", "swir16")
    arrays, shape = _band_stack(bands, names, required=("green", "nir"))
    px = check_pixel_size(pixel_size_m)
    params = params or ShipParams()
    ok = _usable(arrays, shape, valid)
    if ok.sum() < 4:
        return []
    if water is None:
        water = water_mask(bands, valid=valid)
    water = check_mask(water, name="water", shape=shape) & ok
    if water.sum() < 4:
        return []
    water = _fill_ships(water, ok, px)
    land = ok & ~water
    core = _land_core(land, params.land_run_m / px)
    shallow = _shallow_land(land, core, params, px)
    search = ok & (water | shallow)
    nir = arrays["nir"]
    vis = np.mean([arrays[b] for b in VISIBLE if b in arrays], axis=0)
    z, excess_nir, excess_vis = _water_contrast(nir, vis, water, params, px)
    to_core, nearest = _nearest_core(land & ~shallow)
    strong = np.maximum(excess_nir, excess_vis) >= params.min_excess
    grow = (
        search
        & (z >= params.k_grow)
        & _above_shore_halo(excess_nir, excess_vis, to_core, nearest, params)
    )
    seeds = grow & (z >= params.k_seed) & strong
    labels = _hysteresis_labels(grow, seeds)
    if labels.max() == 0:
        return []
    ships: list[Detection] = []
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        det = _ship_from_component(labels, index, sl, excess_nir, excess_vis, search, params, px)
        if det is None or _is_crane(det, labels, index, sl, to_core, nearest, params, px):
            continue
        ships.append(det)
    return sorted(ships, key=lambda d: (d.centroid_px[1], d.centroid_px[0]))


def _above_shore_halo(
    excess_nir: np.ndarray,
    excess_vis: np.ndarray,
    to_core: np.ndarray,
    nearest: np.ndarray,
    params: ShipParams,
) -> np.ndarray:
    """False where a pixel next to land proper is no brighter than the land's blurred halo.

    Within ``shore_px`` of land proper a pixel must exceed the water by more than
    ``shore_leak`` times the nearest land pixel's own excess (and by ``min_excess``).
    """
    near = to_core <= params.shore_px
    if not near.any():
        return np.ones(excess_nir.shape, dtype=bool)
    rows, cols = nearest[0][near], nearest[1][near]
    out = np.ones(excess_nir.shape, dtype=bool)
    ok_nir = excess_nir[near] >= params.min_excess + params.shore_leak * np.clip(
        excess_nir[rows, cols], 0, None
    )
    ok_vis = excess_vis[near] >= params.min_excess + params.shore_leak * np.clip(
        excess_vis[rows, cols], 0, None
    )
    out[near] = ok_nir | ok_vis
    return out


def _nearest_core(core: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (pixels) to land proper and the (row, col) of the nearest land-proper pixel."""
    if not core.any():
        return np.full(core.shape, np.inf), np.zeros((2, *core.shape), dtype=np.intp)
    distance, indices = ndimage.distance_transform_edt(~core, return_indices=True)
    return distance, indices


def _is_crane(
    det: Detection,
    labels: np.ndarray,
    index: int,
    sl: tuple[slice, slice],
    to_core: np.ndarray,
    nearest: np.ndarray,
    params: ShipParams,
    px: float,
) -> bool:
    """Whether an object next to land proper does not lie alongside it.

    Ships moored at a quay lie along the coast; crane booms, jetty heads and rough natural
    shores stand out from it. The object's axis must be within ``alongside_deg`` of the
    coast's tangent.
    """
    local = labels[sl] == index
    rows, cols = np.nonzero(local)
    rows, cols = rows + sl[0].start, cols + sl[1].start
    dist = to_core[rows, cols]
    near = dist * px <= params.crane_reach_m
    if not near.any():
        return False
    # Coast normal: mean unit vector from the nearest land-proper pixel to each object pixel.
    dr = (rows - nearest[0][rows, cols])[near].astype(np.float64)
    dc = (cols - nearest[1][rows, cols])[near].astype(np.float64)
    norm = np.hypot(dr, dc)
    norm[norm == 0] = 1.0
    dr, dc = float((dr / norm).sum()), float((dc / norm).sum())
    if math.hypot(dc, dr) < 1e-6:
        return False
    normal = math.degrees(math.atan2(dc, -dr)) % 180.0
    heading = det.heading_deg or 0.0
    angle = abs(normal - heading) % 180.0
    return min(angle, 180.0 - angle) < 90.0 - params.alongside_deg


def _water_contrast(
    nir: np.ndarray,
    vis: np.ndarray,
    water: np.ndarray,
    params: ShipParams,
    px: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contrast of every pixel against the local water: ``(z, nir excess, visible excess)``.

    The water's local mean and spread come from water pixels only, in a window of
    ``background_m``; bright pixels are censored and the estimate repeated once.
    """
    size = odd(params.background_m / px, 5)
    clutter = water.copy()
    z = np.zeros(nir.shape)
    excess_nir = np.zeros(nir.shape)
    excess_vis = np.zeros(nir.shape)
    for _ in range(2):
        parts = []
        for band in (nir, vis):
            count, mean, var = masked_window_stats(band, clutter, size)
            fallback = ~(count >= 20)
            if fallback.any():
                sample = band[clutter] if clutter.any() else band[water]
                mean = np.where(fallback, float(np.median(sample)), mean)
                var = np.where(fallback, float(np.var(sample)), var)
            sd = np.maximum(np.sqrt(var), params.noise_floor)
            excess = band - mean
            parts.append((excess, excess / sd))
        (excess_nir, z_nir), (excess_vis, z_vis) = parts
        z = np.maximum(z_nir, z_vis)
        clutter = water & ~dilate(z >= params.k_grow, 1)
        if clutter.sum() < 20:
            clutter = water
    return z, excess_nir, excess_vis


def _hysteresis_labels(grow: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Label the 8-connected components of ``grow`` that contain a seed; others are 0."""
    labels, n = ndimage.label(grow, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return labels
    seeded = np.zeros(n + 1, dtype=bool)
    seeded[np.unique(labels[seeds & grow])] = True
    seeded[0] = False
    keep = seeded[labels]
    out, _ = ndimage.label(keep, structure=np.ones((3, 3), dtype=bool))
    return out


def _ship_from_component(
    labels: np.ndarray,
    index: int,
    sl: tuple[slice, slice],
    excess_nir: np.ndarray,
    excess_vis: np.ndarray,
    search: np.ndarray,
    params: ShipParams,
    px: float,
) -> Detection | None:
    """Measure one candidate and return it as a ship, or None if its shape rules it out."""
    pad = 2
    r0, c0 = max(sl[0].start - pad, 0), max(sl[1].start - pad, 0)
    r1 = min(sl[0].stop + pad, labels.shape[0])
    c1 = min(sl[1].stop + pad, labels.shape[1])
    local = labels[r0:r1, c0:c1] == index
    rows, cols = np.nonzero(local)
    rows, cols = rows + r0, cols + c0
    weight_nir = np.clip(excess_nir[r0:r1, c0:c1], 0, None)
    weight_vis = np.clip(excess_vis[r0:r1, c0:c1], 0, None)
    weight = np.maximum(weight_nir, weight_vis)
    halo = ndimage.binary_dilation(local) & search[r0:r1, c0:c1]
    hr, hc = np.nonzero(halo)
    _, length_px, width_px, heading = moment_geometry(
        hr + r0, hc + c0, weight[hr, hc], extra_var=-(params.psf_sigma_px**2)
    )
    centroid, bin_length, _, bin_heading = moment_geometry(rows, cols)
    length_m = max(length_px, 1.0) * px if length_px > 0 else bin_length * px
    width_m = width_px * px
    peak = float(max(weight_nir[local].max(), weight_vis[local].max()))
    if peak < params.min_excess:
        return None
    if length_m < params.min_length_m or length_m - px > params.max_length_m:
        return None
    if width_m - px > params.max_width_m:
        return None
    mean_excess = float(weight_nir[local].mean())
    score = min(max(mean_excess / params.full_score_excess, 0.0), 1.0)
    return Detection(
        bbox_px=bbox_of(rows, cols),
        score=round(0.5 + 0.5 * score, 4),
        cls="ship",
        centroid_px=(round(centroid[0], 3), round(centroid[1], 3)),
        length_m=round(length_m, 2),
        width_m=round(width_m, 2),
        heading_deg=round(heading if length_px > width_px else bin_heading, 2),
        area_px=int(rows.size),
    )


# --------------------------------------------------------------------------------------------
# Apron objects
# --------------------------------------------------------------------------------------------


def detect_apron_objects(
    bands: Mapping[str, np.ndarray],
    *,
    pixel_size_m: float,
    surface_mask: np.ndarray,
    valid: np.ndarray | None = None,
    target: str = "aircraft",
    params: ApronParams | None = None,
) -> list[Detection]:
    """Objects standing on a paved surface (aircraft on an apron, vehicles on a pad).

    Args:
        bands: reflectance arrays keyed ``blue``, ``green``, ``red``, ``nir``, one grid.
        pixel_size_m: pixel size in metres.
        surface_mask: True on the paved surface to search (the zone's polygon).
        valid: True where pixels are usable; None: all finite pixels.
        target: ``aircraft``, ``vehicle`` or ``any``; sets the size range.
        params: detector settings; defaults to :class:`ApronParams()`.

    Returns:
        One :class:`Detection` per object (class ``target``; ``object`` for ``any``), sorted
        by row then column.
    """
    names = (*VISIBLE, "nir")
    arrays, shape = _band_stack(bands, names, required=("nir",))
    if not any(b in arrays for b in VISIBLE):
        raise InputError("bands needs at least one visible band (blue, green or red) and nir")
    px = check_pixel_size(pixel_size_m)
    check_target(target, APRON_TARGETS)
    params = params or ApronParams()
    surface = check_mask(surface_mask, name="surface_mask", shape=shape)
    ok = _usable(arrays, shape, valid) & surface
    if ok.sum() < 9:
        return []
    min_len, max_len, split = APRON_SIZES[target]
    min_len = min_len if params.min_length_m is None else params.min_length_m
    max_len = max_len if params.max_length_m is None else params.max_length_m
    split = split if params.split_distance_m is None else params.split_distance_m
    z, contrast = _surface_deviation(arrays, ok, params, px)
    interior = ok & ~dilate(~ok, params.border_m / px) if params.border_m > 0 else ok
    seeds = interior & (z >= params.k_seed) & (contrast >= params.min_contrast)
    grow = ok & (z >= params.k_grow)
    labels = _hysteresis_labels(grow, seeds)
    if labels.max() == 0:
        return []
    labels = _split_touching(labels, z, max(split / px, 1.0))
    cls = "object" if target == "any" else target
    out: list[Detection] = []
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        local = labels[sl] == index
        rows, cols = np.nonzero(local)
        rows, cols = rows + sl[0].start, cols + sl[1].start
        if not seeds[rows, cols].any():
            continue
        centroid, length_px, width_px, heading = moment_geometry(rows, cols, z[rows, cols])
        length_m = length_px * px
        if length_m + px < min_len or length_m - px > max_len:
            continue
        peak = float(z[rows, cols].max())
        out.append(
            Detection(
                bbox_px=bbox_of(rows, cols),
                score=round(min(max(peak / params.full_score_z, 0.0), 1.0), 4),
                cls=cls,
                centroid_px=(round(centroid[0], 3), round(centroid[1], 3)),
                length_m=round(length_m, 2),
                width_m=round(width_px * px, 2),
                heading_deg=round(heading, 2),
                area_px=int(rows.size),
            )
        )
    return sorted(out, key=lambda d: (d.centroid_px[1], d.centroid_px[0]))


def _surface_deviation(
    arrays: dict[str, np.ndarray], ok: np.ndarray, params: ApronParams, px: float
) -> tuple[np.ndarray, np.ndarray]:
    """How strongly each pixel's neighbourhood departs from the surface: ``(z, contrast)``.

    Per band, the surface level is the window mean of surface pixels left after a first
    robust (median/MAD) pass flags outliers, and the spread is the MAD of the residual.
    The normalised residuals are averaged over bands (grey airframes and shadows shift all
    bands together, independent noise averages down), squared, smoothed over about one
    pixel and rooted: a local energy, so an aircraft brighter than the concrete next to its
    own dark shadow (the two can cancel within one 10 m pixel) still stands out. ``z`` is
    the energy's robust z-score over the surface; ``contrast`` the largest local RMS
    deviation of any band in reflectance.
    """
    size = odd(params.background_m / px, 5)
    flagged = np.zeros(ok.shape, dtype=bool)
    for band_arr in arrays.values():
        values = band_arr[ok]
        med = float(np.median(values))
        mad = max(1.4826 * float(np.median(np.abs(values - med))), params.noise_floor)
        flagged |= ok & (np.abs(np.where(ok, band_arr, med) - med) > params.k_grow * mad)
    clutter = ok & ~dilate(flagged, 1)
    if clutter.sum() < 9:
        clutter = ok
    coherent = np.zeros(ok.shape)
    contrast = np.zeros(ok.shape)
    for band_arr in arrays.values():
        count, mean, _ = masked_window_stats(band_arr, clutter, size)
        level = np.where(count >= 9, mean, float(np.median(band_arr[clutter])))
        resid = np.where(ok, band_arr - level, 0.0)
        sd = max(1.4826 * float(np.median(np.abs(resid[clutter]))), params.noise_floor)
        coherent += resid / sd
        local_sq = _smooth_inside(resid * resid, ok, params.smoothing_px)
        contrast = np.maximum(contrast, np.sqrt(np.clip(local_sq, 0, None)))
    coherent /= len(arrays)
    energy = np.sqrt(np.clip(_smooth_inside(coherent * coherent, ok, params.smoothing_px), 0, None))
    sample = energy[clutter]
    med = float(np.median(sample))
    spread = max(1.4826 * float(np.median(np.abs(sample - med))), 1e-9)
    z = np.where(ok, (energy - med) / spread, 0.0)
    return z, contrast


def _smooth_inside(values: np.ndarray, ok: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing that ignores pixels outside ``ok`` (normalised convolution)."""
    if sigma <= 0:
        return values
    num = ndimage.gaussian_filter(np.where(ok, values, 0.0), sigma)
    den = ndimage.gaussian_filter(ok.astype(np.float64), sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-6, num / den, 0.0)


def _split_touching(labels: np.ndarray, z: np.ndarray, min_distance_px: float) -> np.ndarray:
    """Split components that hold several distinct contrast peaks (watershed).

    A peak counts when it is more than ``min_distance_px - 1`` pixels from a stronger one
    and rises at least 60 % above the saddle that links it to its neighbours, so one large
    aircraft with uneven contrast is not cut into pieces. Fighters 35 m apart are split; at
    30 m (3 pixels) they may not be.
    """
    mask = labels > 0
    level = np.log(np.clip(z, 1e-3, None))
    distance = max(int(math.floor(min_distance_px)) - 1, 1)
    peaks = peak_local_max(
        np.where(mask, level, level.min()),
        min_distance=distance,
        labels=labels,
        exclude_border=False,
    )
    if len(peaks) <= 1:
        return labels
    prominent = h_maxima(np.where(mask, level, level.min()), math.log(1.6)).astype(bool)
    keep = [tuple(p) for p in peaks if prominent[tuple(p)]]
    markers = np.zeros(labels.shape, dtype=np.int32)
    for i, (r, c) in enumerate(keep, start=1):
        markers[r, c] = i
    # Components without a prominent peak keep one marker at their maximum.
    have = np.zeros(int(labels.max()) + 1, dtype=bool)
    have[labels[markers > 0]] = True
    n = len(keep)
    for index, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None or have[index]:
            continue
        local = np.where(labels[sl] == index, level[sl], -np.inf)
        r, c = np.unravel_index(int(np.argmax(local)), local.shape)
        n += 1
        markers[r + sl[0].start, c + sl[1].start] = n
    return watershed(-level, markers=markers, mask=mask).astype(np.int32)

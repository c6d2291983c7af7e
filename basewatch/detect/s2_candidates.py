"""Ship candidates in Sentinel-2 images and their features (numpy and scipy only).

The first stage of the two-stage Sentinel-2 ship detector (:mod:`basewatch.detect.ships_s2`):
a generator with high recall and low precision. Whatever bands the image has (any of blue,
green, red, nir, swir16), each band's log reflectance is compared with the local *water
level*, a low percentile of the band in a window of :data:`BACKGROUND_M` (the water is the
darkest surface near a port in every band used here, so moored ships and ships in nests,
whose window still holds water, stand out too). The candidate map is the largest of the
bands' contrasts, lightly smoothed; candidates are its local maxima above
:data:`SEED_CONTRAST` within :data:`NEAR_WATER_M` of water. Quays, cranes, coast corners and
bright shallows pass too: telling them from ships is the second stage's job (a learned
verifier scoring :func:`features`).

Every feature is scale-free or in metres (the pixel size is given), and a feature of a band
the image lacks is NaN (the verifier handles missing values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

BANDS = ("blue", "green", "red", "nir", "swir16")
"""Bands used, in feature order."""
BACKGROUND_M = 300.0
"""Side of the window in which the water level is estimated (metres)."""
BACKGROUND_PERCENTILE = 20.0
"""Percentile of a band in the window taken as the water level."""
BLOCK_M = 40.0
"""The background is estimated on blocks of this side (metres), then interpolated."""
SEED_CONTRAST = 0.25
"""A candidate's smoothed contrast (log reflectance above the water level) is at least this."""
NEAR_WATER_M = 250.0
"""Candidates farther than this from water are not searched."""
PEAK_M = 15.0
"""Two candidates are at least this far apart (metres), so ships side by side keep theirs."""
SMOOTH_PX = 0.7
"""Gaussian smoothing (pixels) of the candidate map."""
LEVELS = (0.3, 0.6)
"""Top-hat levels (log units) at which the blob around a candidate is measured."""
TOPHAT_M = (30.0, 50.0, 90.0, 150.0)
"""Sides (metres) of the squares of the grey openings whose top-hats are features: a hull
(beam under 60 m) keeps its contrast in the wide ones, land and broad quays lose it."""
BLOB_TOPHAT_M = 90.0
"""Side of the top-hat on which blobs are measured."""
IN_NOISE_UNITS = (
    "peak",
    "peak_raw",
    "isolation5",
    "isolation9",
    "texture9",
    "texture21",
    *(f"tophat{m:g}" for m in TOPHAT_M),
    *(f"l{v:g}_mean" for v in LEVELS),
)
"""Features of the candidate map given in units of the water's robust spread (haze and a
bright sea lower every contrast of a scene; the spread scales with them)."""
MAX_CANDIDATES = 20000
"""At most this many candidates per image (the strongest)."""
EPS = 0.01
"""Added to reflectance before the logarithm (dark water stays finite)."""


@dataclass(frozen=True)
class Candidates:
    """Candidate positions and their features."""

    rows: np.ndarray
    """``(n,)`` row of each candidate (pixels of the input)."""
    cols: np.ndarray
    """``(n,)`` column of each candidate."""
    features: np.ndarray
    """``(n, len(FEATURES))`` float32, NaN where a band is missing."""
    geometry: np.ndarray
    """``(n, 4)`` length (m), width (m), heading (deg clockwise from north) and area (px) of
    the blob around each candidate (at the upper level, else the lower one)."""
    centroids: np.ndarray
    """``(n, 2)`` blob centroid ``(row, col)`` of each candidate (its peak if no blob)."""


def feature_names() -> tuple[str, ...]:
    """Names of the feature columns, in order."""
    names: list[str] = []
    for b in BANDS:
        names += [f"{b}_log", f"{b}_bg", f"{b}_contrast", f"{b}_contrast_max3", f"{b}_excess"]
        names += [f"{b}_z"]
    names += ["ndwi", "ndwi_bg", "mndwi", "mndwi_bg", "ndvi", "nir_over_vis", "n_bands"]
    names += ["peak", "peak_raw", "isolation5", "isolation9", "texture9", "texture21"]
    names += [f"tophat{m:g}" for m in TOPHAT_M]
    names += ["water_noise"]
    for level in LEVELS:
        tag = f"l{level:g}"
        names += [f"{tag}_area_m2", f"{tag}_length_m", f"{tag}_width_m", f"{tag}_elong"]
        names += [f"{tag}_peaks", f"{tag}_rank", f"{tag}_mean"]
    names += ["water5", "water11", "water25", "to_water_m", "to_land_m"]
    names += ["density150", "density400", "along_land_deg"]
    return tuple(names)


FEATURES = feature_names()
"""Feature column names."""


def _block_percentile(band: np.ndarray, ok: np.ndarray, block: int, q: float) -> np.ndarray:
    """Per block of ``block`` x ``block`` pixels, the ``q`` percentile of the usable pixels
    (NaN where a block has none)."""
    rows, cols = band.shape
    nr, nc = -(-rows // block), -(-cols // block)
    pad = np.full((nr * block, nc * block), np.inf, np.float32)
    pad[:rows, :cols] = np.where(ok, band, np.inf)
    tiles = pad.reshape(nr, block, nc, block).transpose(0, 2, 1, 3).reshape(nr, nc, -1)
    tiles = np.sort(tiles, axis=2)
    count = np.isfinite(tiles).sum(axis=2)
    index = np.clip(np.round(q / 100.0 * (count - 1)), 0, None).astype(np.int64)
    out = np.take_along_axis(tiles, index[:, :, None], axis=2)[:, :, 0]
    return np.where(count > 0, out, np.nan).astype(np.float32)


def water_level(logs: np.ndarray, ok: np.ndarray, px: float) -> np.ndarray:
    """The local water level of a log-reflectance band: the :data:`BACKGROUND_PERCENTILE`
    percentile of blocks of :data:`BLOCK_M`, then the same percentile over a window of
    :data:`BACKGROUND_M`, interpolated back to every pixel."""
    block = max(2, int(round(BLOCK_M / px)))
    coarse = _block_percentile(logs, ok, block, BACKGROUND_PERCENTILE)
    fill = float(np.nanmedian(coarse)) if np.isfinite(coarse).any() else 0.0
    coarse = np.where(np.isfinite(coarse), coarse, fill)
    win = max(3, int(round(BACKGROUND_M / (block * px))) | 1)
    coarse = ndimage.percentile_filter(coarse, BACKGROUND_PERCENTILE, size=win, mode="nearest")
    zoom = (logs.shape[0] / coarse.shape[0], logs.shape[1] / coarse.shape[1])
    full = ndimage.zoom(coarse, zoom, order=1, grid_mode=True, mode="nearest")
    return full[: logs.shape[0], : logs.shape[1]].astype(np.float32)


def _window_mean(a: np.ndarray, size: int) -> np.ndarray:
    """Mean over a ``size`` square window (edges: nearest)."""
    return ndimage.uniform_filter(a.astype(np.float32), size=size, mode="nearest")


def extract(
    bands: Mapping[str, np.ndarray],
    *,
    pixel_size_m: float,
    ok: np.ndarray,
    water: np.ndarray,
    seed_contrast: float = SEED_CONTRAST,
) -> Candidates:
    """Candidates and their features in one image.

    Args:
        bands: reflectance (0-1) of the bands present (keys of :data:`BANDS`), one grid.
        pixel_size_m: pixel size (m).
        ok: usable pixels.
        water: water pixels (from the bands present).
        seed_contrast: lowest smoothed contrast of a candidate (log units).
    """
    px = float(pixel_size_m)
    present = [b for b in BANDS if b in bands]
    logs: dict[str, np.ndarray] = {}
    contrast: dict[str, np.ndarray] = {}
    level: dict[str, np.ndarray] = {}
    refl: dict[str, np.ndarray] = {}
    for b in present:
        r = np.where(ok, np.nan_to_num(np.asarray(bands[b], np.float32)), 0.0).clip(0.0, None)
        refl[b] = r
        lg = np.log(r + EPS)
        bg = water_level(lg, ok, px)
        logs[b], level[b], contrast[b] = lg, bg, np.where(ok, lg - bg, 0.0)
    peak_map = np.max([contrast[b] for b in present], axis=0)
    smooth = ndimage.gaussian_filter(peak_map, SMOOTH_PX)
    to_water = ndimage.distance_transform_edt(~water) * px if water.any() else None
    near = to_water <= NEAR_WATER_M if to_water is not None else ok
    search = ok & near
    win = max(3, int(round(2 * PEAK_M / px)) | 1)
    is_peak = (smooth == ndimage.maximum_filter(smooth, size=win)) & (smooth >= seed_contrast)
    is_peak &= search
    rows, cols = np.nonzero(is_peak)
    if rows.size > MAX_CANDIDATES:
        keep = np.argsort(-smooth[rows, cols])[:MAX_CANDIDATES]
        rows, cols = rows[keep], cols[keep]
    n = rows.size
    feats: dict[str, np.ndarray] = {}
    nan = np.full(n, np.nan, np.float32)
    for b in BANDS:
        if b not in contrast:
            for k in ("log", "bg", "contrast", "contrast_max3", "excess", "z"):
                feats[f"{b}_{k}"] = nan
            continue
        feats[f"{b}_log"] = logs[b][rows, cols]
        feats[f"{b}_bg"] = level[b][rows, cols]
        feats[f"{b}_contrast"] = contrast[b][rows, cols]
        feats[f"{b}_contrast_max3"] = _max3_at(contrast[b], rows, cols)
        feats[f"{b}_excess"] = refl[b][rows, cols] - (np.exp(level[b][rows, cols]) - EPS)
        feats[f"{b}_z"] = feats[f"{b}_contrast_max3"] / _noise(contrast[b], water)

    def nd(a: str, c: str, where: str) -> np.ndarray:
        if a not in refl or c not in refl:
            return nan
        if where == "bg":
            x, y = np.exp(level[a][rows, cols]) - EPS, np.exp(level[c][rows, cols]) - EPS
        else:
            x, y = refl[a][rows, cols], refl[c][rows, cols]
        return ((x - y) / (x + y + 0.02)).astype(np.float32)

    feats["ndwi"], feats["ndwi_bg"] = nd("green", "nir", "px"), nd("green", "nir", "bg")
    feats["mndwi"], feats["mndwi_bg"] = nd("green", "swir16", "px"), nd("green", "swir16", "bg")
    feats["ndvi"] = nd("nir", "red", "px")
    vis = [b for b in ("blue", "green", "red") if b in refl]
    if vis and "nir" in refl:
        v = np.mean([refl[b][rows, cols] for b in vis], axis=0)
        feats["nir_over_vis"] = np.log((refl["nir"][rows, cols] + EPS) / (v + EPS))
    else:
        feats["nir_over_vis"] = nan
    feats["n_bands"] = np.full(n, len(present), np.float32)
    feats["peak"] = smooth[rows, cols]
    feats["peak_raw"] = peak_map[rows, cols]
    for size in (5, 9):
        s = max(3, int(round(size * 10.0 / px)) | 1)
        ring = _window_mean(smooth, s)
        feats[f"isolation{size}"] = smooth[rows, cols] - ring[rows, cols]
    for size in (9, 21):
        s = max(3, int(round(size * 10.0 / px)) | 1)
        m1, m2 = _window_mean(peak_map, s), _window_mean(peak_map**2, s)
        feats[f"texture{size}"] = np.sqrt(np.clip(m2 - m1**2, 0, None))[rows, cols]
    tophats: dict[float, np.ndarray] = {}
    for side_m in TOPHAT_M:
        width_px = max(2, int(round(side_m / px)))
        th = smooth - ndimage.grey_opening(smooth, size=(width_px, width_px), mode="nearest")
        tophats[side_m] = th
        feats[f"tophat{side_m:g}"] = _max3_at(th, rows, cols)
    blob_map = tophats[BLOB_TOPHAT_M]
    noise = _noise(smooth, water)
    feats["water_noise"] = np.full(n, noise, np.float32)
    geometry = np.zeros((n, 4), np.float32)
    centroids = np.stack([rows, cols], axis=1).astype(np.float32)
    for level_value in LEVELS:
        tag = f"l{level_value:g}"
        blob = _blobs(blob_map, search, level_value, rows, cols, px)
        feats[f"{tag}_area_m2"] = blob["area"] * px * px
        feats[f"{tag}_length_m"] = blob["length"] * px
        feats[f"{tag}_width_m"] = blob["width"] * px
        feats[f"{tag}_elong"] = blob["length"] / np.maximum(blob["width"], 0.5)
        feats[f"{tag}_peaks"] = blob["peaks"]
        feats[f"{tag}_rank"] = blob["rank"]
        feats[f"{tag}_mean"] = blob["mean"]
        has = blob["area"] > 0
        geometry[has] = np.stack(
            [blob["length"] * px, blob["width"] * px, blob["heading"], blob["area"]], axis=1
        )[has]
        centroids[has] = np.stack([blob["row"], blob["col"]], axis=1)[has]
    for size in (5, 11, 25):
        s = max(3, int(round(size * 10.0 / px)) | 1)
        feats[f"water{size}"] = _window_mean(water.astype(np.float32), s)[rows, cols]
    if to_water is not None and (~water).any():
        feats["to_water_m"] = to_water[rows, cols]
        land = ok & ~water
        to_land, nearest = ndimage.distance_transform_edt(~land, return_indices=True)
        feats["to_land_m"] = (to_land * px)[rows, cols]
    else:
        feats["to_water_m"] = np.zeros(n, np.float32) if water.any() else np.full(n, 1e4)
        feats["to_land_m"] = np.full(n, 1e4, np.float32) if water.any() else np.zeros(n)
        nearest = None
    feats["density150"], feats["density400"] = _density(rows, cols, px, smooth)
    feats["along_land_deg"] = _along_land(rows, cols, geometry[:, 2], nearest, geometry[:, 3])
    for name in IN_NOISE_UNITS:
        feats[name] = feats[name] / noise
    matrix = np.stack([np.asarray(feats[k], np.float32) for k in FEATURES], axis=1)
    return Candidates(
        rows=rows.astype(np.int64),
        cols=cols.astype(np.int64),
        features=matrix,
        geometry=geometry,
        centroids=centroids,
    )


def _max3_at(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``ndimage.maximum_filter(values, 3)[rows, cols]``, computed at those pixels only (the
    filter's border mode repeats the edge pixel, as clipping the neighbours' indices does)."""
    out = values[rows, cols].copy()
    last_row, last_col = values.shape[0] - 1, values.shape[1] - 1
    for dr in (-1, 0, 1):
        r = np.clip(rows + dr, 0, last_row)
        for dc in (-1, 0, 1):
            np.maximum(out, values[r, np.clip(cols + dc, 0, last_col)], out=out)
    return out


def _noise(values: np.ndarray, water: np.ndarray) -> float:
    """Robust spread (1.4826 MAD) of ``values`` over the water (a floor of 0.02)."""
    sample = values[water] if water.sum() >= 50 else values.ravel()
    if sample.size > 200_000:
        sample = sample[:: sample.size // 200_000]
    mad = float(np.median(np.abs(sample - np.median(sample))))
    return max(1.4826 * mad, 0.02)


def _blobs(
    smooth: np.ndarray,
    search: np.ndarray,
    level_value: float,
    rows: np.ndarray,
    cols: np.ndarray,
    px: float,
) -> dict[str, np.ndarray]:
    """Per candidate, moments of the connected region of ``smooth >= level`` holding it."""
    mask = (smooth >= level_value) & search
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    n = rows.size
    out = {k: np.zeros(n, np.float32) for k in ("area", "length", "width", "heading")}
    out |= {k: np.zeros(n, np.float32) for k in ("peaks", "rank", "mean", "row", "col")}
    if count == 0 or n == 0:
        return out
    rr, cc = np.nonzero(mask)
    lab = labels[rr, cc]
    w = np.ones(rr.size)
    size = count + 1
    s0 = np.bincount(lab, w, size)
    sr, sc = np.bincount(lab, rr, size), np.bincount(lab, cc, size)
    srr, scc = np.bincount(lab, rr * rr, size), np.bincount(lab, cc * cc, size)
    src = np.bincount(lab, rr * cc, size)
    mean_val = np.bincount(lab, smooth[rr, cc], size) / np.maximum(s0, 1)
    with np.errstate(all="ignore"):
        mr, mc = sr / np.maximum(s0, 1), sc / np.maximum(s0, 1)
        vrr = srr / np.maximum(s0, 1) - mr**2 + 1 / 12
        vcc = scc / np.maximum(s0, 1) - mc**2 + 1 / 12
        vrc = src / np.maximum(s0, 1) - mr * mc
    tr, det = vrr + vcc, vrr * vcc - vrc**2
    disc = np.sqrt(np.clip(tr**2 / 4 - det, 0, None))
    l1, l2 = tr / 2 + disc, np.clip(tr / 2 - disc, 0, None)
    length, width = np.sqrt(12 * l1), np.sqrt(12 * l2)
    # heading of the major axis, clockwise from north (rows grow southwards)
    theta = 0.5 * np.arctan2(2 * vrc, vcc - vrr)  # angle from +col axis towards +row
    heading = (90.0 + np.degrees(theta)) % 180.0
    mine = labels[rows, cols]
    inside = mine > 0
    peaks = np.bincount(mine[inside], minlength=size).astype(np.float32)
    value = smooth[rows, cols]
    order = np.lexsort((-value, mine))
    rank = np.zeros(n, np.float32)
    sorted_lab = mine[order]
    starts = np.r_[0, np.nonzero(np.diff(sorted_lab))[0] + 1]
    pos = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    rank[order] = pos
    out["area"] = np.where(inside, s0[mine], 0).astype(np.float32)
    out["length"] = np.where(inside, length[mine], 0).astype(np.float32)
    out["width"] = np.where(inside, width[mine], 0).astype(np.float32)
    out["heading"] = np.where(inside, heading[mine], 0).astype(np.float32)
    out["peaks"] = np.where(inside, peaks[mine], 0).astype(np.float32)
    out["rank"] = np.where(inside, rank, 0).astype(np.float32)
    out["mean"] = np.where(inside, mean_val[mine], 0).astype(np.float32)
    out["row"] = np.where(inside, mr[mine], rows).astype(np.float32)
    out["col"] = np.where(inside, mc[mine], cols).astype(np.float32)
    return out


def _density(
    rows: np.ndarray, cols: np.ndarray, px: float, smooth: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Number of other candidates within 150 m and 400 m."""
    from scipy.spatial import cKDTree

    n = rows.size
    if n == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    tree = cKDTree(np.stack([rows, cols], axis=1).astype(float))
    out = []
    for radius in (150.0, 400.0):
        counts = tree.query_ball_point(tree.data, r=radius / px, return_length=True)
        out.append(np.asarray(counts, np.float32) - 1)
    return out[0], out[1]


def _along_land(
    rows: np.ndarray,
    cols: np.ndarray,
    heading: np.ndarray,
    nearest: np.ndarray | None,
    area: np.ndarray,
) -> np.ndarray:
    """Angle (0-90 degrees) between a candidate's blob axis and the direction to the nearest
    land pixel: ~90 for a hull alongside a quay, ~0 for a boom or jetty pointing out; NaN
    without land or blob."""
    n = rows.size
    if nearest is None or n == 0:
        return np.full(n, np.nan, np.float32)
    dr = nearest[0][rows, cols] - rows
    dc = nearest[1][rows, cols] - cols
    to_land = (np.degrees(np.arctan2(dc, -dr))) % 180.0
    diff = np.abs(to_land - heading) % 180.0
    angle = np.minimum(diff, 180.0 - diff)
    far = (dr == 0) & (dc == 0)
    return np.where(far | (area <= 0), np.nan, angle).astype(np.float32)


def label_candidates(
    rows: np.ndarray, cols: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate, whether its pixel centre lies in a box ``(x0, y0, x1, y1)`` (pixel
    edges) and the index of the box (nearest box centre; -1 when none)."""
    n = rows.size
    which = np.full(n, -1, np.int64)
    if n == 0 or len(boxes) == 0:
        return np.zeros(n, bool), which
    c, r = cols[:, None] + 0.5, rows[:, None] + 0.5
    b = np.asarray(boxes, np.float64)
    inside = (b[:, 0] <= c) & (c <= b[:, 2]) & (b[:, 1] <= r) & (r <= b[:, 3])
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    dist = np.where(inside, np.hypot(cx - c, cy - r), np.inf)
    best = np.argmin(dist, axis=1)
    hit = inside.any(axis=1)
    which[hit] = best[hit]
    return np.asarray(hit, bool), which


def suppress(
    rows: np.ndarray,
    cols: np.ndarray,
    geometry: np.ndarray,
    scores: np.ndarray,
    *,
    threshold: float,
    across_m: float,
    pixel_size_m: float,
    min_along_m: float = 20.0,
    max_along_m: float = 150.0,
) -> np.ndarray:
    """Indices of the candidates kept as ships, best score first.

    A candidate scoring at least ``threshold`` is kept unless a better kept one lies within
    ``across_m`` of it, or along that one's hull: within half its blob length (at least
    ``min_along_m``, at most ``max_along_m``) along its axis and ``across_m`` across. Ships
    side by side (beams apart, across the axis) keep their own detections; the several
    maxima along one long hull give one.
    """
    px = float(pixel_size_m)
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    kr: list[float] = []
    kc: list[float] = []
    ux: list[float] = []
    uy: list[float] = []
    half: list[float] = []
    for i in order:
        if scores[i] < threshold:
            break
        if kept:
            dr = (rows[i] - np.asarray(kr)) * px
            dc = (cols[i] - np.asarray(kc)) * px
            along = np.abs(dr * np.asarray(uy) + dc * np.asarray(ux))
            across = np.abs(-dr * np.asarray(ux) + dc * np.asarray(uy))
            if (((along <= np.asarray(half)) & (across <= across_m)).any()) or (
                np.hypot(dr, dc) < across_m
            ).any():
                continue
        kept.append(int(i))
        kr.append(float(rows[i]))
        kc.append(float(cols[i]))
        heading = math.radians(float(geometry[i, 2]))
        length = float(geometry[i, 0]) if geometry[i, 3] > 0 else 0.0
        uy.append(-math.cos(heading))  # heading clockwise from north: rows grow southwards
        ux.append(math.sin(heading))
        half.append(min(max(length / 2, min_along_m), max_along_m))
    return np.asarray(kept, np.int64)

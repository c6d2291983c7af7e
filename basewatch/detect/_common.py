"""Helpers shared by the detector modules: input checks, moment geometry, windowed statistics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.morphology import disk

from basewatch.errors import InputError


def check_pixel_size(value: float, *, name: str = "pixel_size_m") -> float:
    """Return ``value`` as float, or raise :class:`InputError` unless it is finite and > 0."""
    try:
        size = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number of metres, got {value!r}") from None
    if not math.isfinite(size) or size <= 0:
        raise InputError(f"{name} must be a positive number of metres, got {value!r}")
    return size


def check_array(array: object, *, name: str, ndim: int) -> np.ndarray:
    """Return ``array`` as a numpy array of ``ndim`` dimensions, or raise :class:`InputError`."""
    arr = np.asarray(array)
    if arr.ndim != ndim:
        raise InputError(
            f"{name} must be a {ndim}-D array, got shape {arr.shape}; "
            f"pass a single {'band' if ndim == 2 else 'image'} of shape "
            f"{'(rows, cols)' if ndim == 2 else '(rows, cols, 3)'}"
        )
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return arr


def check_mask(mask: object, *, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``mask`` as a boolean array of ``shape``, or raise :class:`InputError`."""
    arr = np.asarray(mask)
    if arr.shape != shape:
        raise InputError(
            f"{name} must have the image's shape {shape}, got {arr.shape}; "
            "build it on the same pixel grid as the image"
        )
    return arr.astype(bool, copy=False)


def check_target(target: str, allowed: Sequence[str]) -> str:
    """Return ``target`` or raise :class:`InputError` naming the allowed values."""
    if target not in allowed:
        raise InputError(f"target must be one of {', '.join(allowed)}; got {target!r}")
    return target


def moment_geometry(
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    extra_var: float = 1.0 / 12.0,
) -> tuple[tuple[float, float], float, float, float]:
    """Centroid ``(col, row)``, length and width (pixels) and heading of a set of pixels.

    Length and width are those of the uniform rectangle with the same second moments:
    ``sqrt(12 * variance)`` along the principal axes. ``extra_var`` is added to both
    variances: ``1/12`` treats each pixel as a unit square (binary masks); a negative value
    removes a known blur (e.g. ``-psf_sigma**2`` for contrast-weighted moments).
    Heading is the major axis in degrees clockwise from grid north (up), in [0, 180).
    """
    r = rows.astype(np.float64)
    c = cols.astype(np.float64)
    w = np.ones_like(r) if weights is None else np.clip(weights.astype(np.float64), 0, None)
    total = w.sum()
    if not total > 0:
        w = np.ones_like(r)
        total = w.sum()
    r0 = float((w * r).sum() / total)
    c0 = float((w * c).sum() / total)
    dr, dc = r - r0, c - c0
    cov = np.array(
        [[(w * dc * dc).sum(), (w * dc * dr).sum()], [(w * dc * dr).sum(), (w * dr * dr).sum()]]
    ) / float(total)
    evals, evecs = np.linalg.eigh(cov)
    major = evecs[:, 1]
    length = math.sqrt(max(12.0 * (evals[1] + extra_var), 0.0))
    width = math.sqrt(max(12.0 * (evals[0] + extra_var), 0.0))
    heading = math.degrees(math.atan2(major[0], -major[1])) % 180.0
    if length - width < 1e-6 * max(length, 1.0):
        heading = 0.0
    return (c0, r0), length, width, heading


def bbox_of(rows: np.ndarray, cols: np.ndarray) -> tuple[int, int, int, int]:
    """Pixel box ``(col_min, row_min, width, height)`` of a set of pixels."""
    c0, r0 = int(cols.min()), int(rows.min())
    return c0, r0, int(cols.max()) - c0 + 1, int(rows.max()) - r0 + 1


def masked_window_stats(
    values: np.ndarray, weights: np.ndarray, size: int, guard: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum of weights, mean and variance of ``values`` in a square window (minus a guard).

    The window is ``size`` pixels on a side; the centred ``guard`` square is left out (0: no
    guard). Pixels with weight 0 do not count, so masks and censoring are honoured; windows
    that cross the image border use the pixels inside it. Returns ``(count, mean, var)``;
    mean and variance are NaN where the count is 0.
    """
    v = np.where(weights > 0, values, 0.0).astype(np.float64)
    m = weights.astype(np.float64)

    def window_sum(a: np.ndarray) -> np.ndarray:
        total = ndimage.uniform_filter(a, size, mode="constant") * float(size * size)
        if guard > 0:
            total -= ndimage.uniform_filter(a, guard, mode="constant") * float(guard * guard)
        return total

    count = window_sum(m)
    s1 = window_sum(m * v)
    s2 = window_sum(m * v * v)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = count > 0.5
        mean = np.where(ok, s1 / np.where(ok, count, 1.0), np.nan)
        var = np.where(ok, s2 / np.where(ok, count, 1.0) - mean * mean, np.nan)
    return count, mean, np.clip(var, 0.0, None)


def dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` pixels (Euclidean) of a True pixel; fast for large radii."""
    if radius <= 0 or not mask.any():
        return mask.copy()
    if radius < 3:
        return ndimage.binary_dilation(mask, structure=disk(int(round(radius))))
    return ndimage.distance_transform_edt(~mask) <= radius


def odd(n: float, minimum: int = 1) -> int:
    """The odd integer nearest to ``n`` and not below ``minimum``."""
    k = max(int(round(n)), minimum)
    return k if k % 2 == 1 else k + 1

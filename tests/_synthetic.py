"""Synthetic objects for the detector tests: rotated rectangles rendered with partial-pixel cover.

Kept apart from :mod:`basewatch.testing` on purpose, so the detectors are tested against a
renderer other than the one the demo scenario uses.
"""

from __future__ import annotations

import math

import numpy as np

Rect = tuple[float, float, float, float, float]
"""(x_m, y_m, length_m, width_m, heading_deg clockwise from north); x right, y down."""


def coverage(shape: tuple[int, int], rects: list[Rect], px: float, sub: int = 10) -> np.ndarray:
    """Fraction of each pixel covered by the union of rotated rectangles (sub-grid average)."""
    out = np.zeros(shape)
    reach = max(max(r[2], r[3]) for r in rects)
    xs, ys = [r[0] for r in rects], [r[1] for r in rects]
    c0, c1 = max(int((min(xs) - reach) / px) - 1, 0), min(int((max(xs) + reach) / px) + 2, shape[1])
    r0, r1 = max(int((min(ys) - reach) / px) - 1, 0), min(int((max(ys) + reach) / px) + 2, shape[0])
    sx = (np.arange((c1 - c0) * sub) + 0.5) * px / sub + c0 * px
    sy = (np.arange((r1 - r0) * sub) + 0.5) * px / sub + r0 * px
    gx, gy = np.meshgrid(sx, sy)
    inside = np.zeros(gx.shape, dtype=bool)
    for x, y, length, width, heading in rects:
        t = math.radians(heading)
        ux, uy = math.sin(t), -math.cos(t)
        along = (gx - x) * ux + (gy - y) * uy
        across = -(gx - x) * uy + (gy - y) * ux
        inside |= (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
    out[r0:r1, c0:c1] = inside.reshape(r1 - r0, sub, c1 - c0, sub).mean(axis=(1, 3))
    return out

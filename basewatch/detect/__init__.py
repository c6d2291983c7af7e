"""Detectors: arrays in, :class:`Detection` lists out; no I/O inside.

Each submodule holds one detector family: ``sar`` (radar CFAR), ``optical``
(Sentinel-2 ships and apron objects) and ``highres`` (sub-metre imagery).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Detection:
    """One detected object in a raster's pixel grid."""

    bbox_px: tuple[int, int, int, int]
    """Pixel box ``(col_min, row_min, width, height)`` in the input raster."""
    score: float
    """Confidence in [0, 1]."""
    cls: str
    """Object class: ``ship``, ``aircraft``, ``vehicle`` or ``object``."""
    centroid_px: tuple[float, float]
    """Centre of the object as ``(col, row)`` in fractional pixels."""
    length_m: float | None = None
    """Length of the object's major axis in metres, where known."""
    width_m: float | None = None
    """Width of the object's minor axis in metres, where known."""
    heading_deg: float | None = None
    """Orientation of the major axis, degrees clockwise from grid north (0-180)."""
    area_px: int = 0
    """Number of pixels in the object's footprint."""

"""The :class:`Chip`: one zone's pixels from one scene, on the zone's UTM grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from affine import Affine


@dataclass(frozen=True, kw_only=True)
class Chip:
    """Pixels of one zone (plus a margin) from one scene.

    Optical bands are surface reflectance as float32 in [0, ~1.5]; radar bands are
    linear backscatter (sigma0 or gamma0) as float32; high-resolution bands
    ``red``/``green``/``blue`` are float32 in [0, 1].
    """

    scene_id: str
    """Identifier of the scene (STAC item id)."""
    sensor: str
    """``sentinel-2``, ``sentinel-1`` or ``highres``."""
    time: datetime
    """Acquisition time (timezone-aware, UTC)."""
    bands: dict[str, np.ndarray]
    """Canonical band name -> 2-D float32 array; all arrays share one grid."""
    transform: Affine
    """Affine transform of the grid (pixel -> projected coordinates)."""
    crs: str
    """CRS of the grid, e.g. ``EPSG:32636``."""
    resolution_m: float
    """Pixel size in metres."""
    zone_mask: np.ndarray
    """Boolean array, True inside the zone polygon."""
    valid: np.ndarray
    """Boolean array, True where the pixel holds data and is clear (no cloud/shadow)."""
    meta: dict[str, str] = field(default_factory=dict)
    """Free-form provenance (collection, platform, georeferencing method)."""

    @property
    def clear_fraction(self) -> float:
        """Share of the zone's pixels that are valid and clear (0-1)."""
        inside = int(self.zone_mask.sum())
        if inside == 0:
            return 0.0
        return float((self.valid & self.zone_mask).sum()) / inside

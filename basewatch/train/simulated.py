"""Simulated sub-metre airfield images with known aircraft boxes (from basewatch.testing).

The demo's sub-metre scenes draw aircraft as plan-view crosses with a cast shadow; real
Pleiades images alone do not teach the network that look. Adding a few of these images to
training (``basewatch train aircraft --simulated N``) lets the shipped model count the demo's
aircraft too. Each image is a concrete apron on open land with aircraft of every simulated
class at random headings, olive vehicles (negatives) and a random acquisition date (sun).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from shapely.geometry import box as shapely_box
from shapely.geometry.base import BaseGeometry

from basewatch.testing import (
    AIRCRAFT_TYPES,
    Feature,
    Grid,
    Layout,
    SceneModel,
    SceneObject,
    make_aircraft,
    make_vehicle,
    object_parts,
)
from basewatch.train.labels import LabelledImage

CRS = "EPSG:32636"
ORIGIN = (540_000.0, 3_918_000.0)
"""A point near Khmeimim in UTM 36N (the sun angles of the demo)."""


def simulated_airfield(seed: int, *, size_px: int = 1024, gsd_m: float = 0.5) -> LabelledImage:
    """One simulated 0.5 m apron image with its aircraft boxes (pixels, body only)."""
    rng = np.random.default_rng(seed)
    side = size_px * gsd_m
    x0, y0 = ORIGIN[0] + 2000.0 * seed, ORIGIN[1]
    grid = Grid.around(x0, y0, size_m=side, res=gsd_m, crs=CRS)
    left, top = grid.left, grid.top
    inset = float(rng.uniform(20, 80))
    apron = shapely_box(left + inset, top - side + inset, left + side - inset, top - inset)
    layout = Layout(crs=CRS, features=(Feature(geometry=apron, material="concrete"),), seed=seed)
    objects: list[SceneObject] = []
    boxes: list[list[float]] = []
    classes = list(AIRCRAFT_TYPES)
    for _ in range(int(rng.integers(6, 16))):
        cls = classes[int(rng.integers(len(classes)))]
        span = max(AIRCRAFT_TYPES[cls]["length"], AIRCRAFT_TYPES[cls]["span"])
        for _try in range(20):
            x = float(rng.uniform(left + inset + span / 2, left + side - inset - span / 2))
            y = float(rng.uniform(top - side + inset + span / 2, top - inset - span / 2))
            obj = make_aircraft(cls, x=x, y=y, heading_deg=float(rng.uniform(0, 360)), rng=rng)
            body, _ = object_parts(obj)
            if all(not body.buffer(4.0).intersects(o) for o in _bodies(objects)):
                objects.append(obj)
                bx0, by0, bx1, by1 = body.bounds
                boxes.append(
                    [
                        (bx0 - left) / gsd_m,
                        (top - by1) / gsd_m,
                        (bx1 - left) / gsd_m,
                        (top - by0) / gsd_m,
                    ]
                )
                break
    for _ in range(int(rng.integers(0, 6))):
        x = float(rng.uniform(left + inset, left + side - inset))
        y = float(rng.uniform(top - side + inset, top - inset))
        obj = make_vehicle("launcher", x=x, y=y, heading_deg=float(rng.uniform(0, 360)), rng=rng)
        if all(not object_parts(obj)[0].buffer(4.0).intersects(o) for o in _bodies(objects)):
            objects.append(obj)
    when = datetime(2024, 1, 1, 8, 40, tzinfo=UTC) + timedelta(days=int(rng.integers(0, 365)))
    rgb = SceneModel(layout, grid).render_highres(when=when, objects=objects, seed=seed)
    return LabelledImage(
        name=f"simulated-{seed}",
        path=Path(f"simulated-{seed}"),
        boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
        gsd_m=gsd_m,
        pixels=np.ascontiguousarray(rgb.transpose(1, 2, 0)),
    )


def _bodies(objects: list[SceneObject]) -> list[BaseGeometry]:
    return [object_parts(o)[0] for o in objects]


def simulated_airfields(count: int, *, seed: int = 1000) -> list[LabelledImage]:
    """``count`` simulated airfield images (seeds ``seed``, ``seed + 1``, ...)."""
    return [simulated_airfield(seed + i) for i in range(count)]

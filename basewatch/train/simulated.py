"""Simulated training images from basewatch.testing: sub-metre airfields (aircraft boxes) and
Sentinel-2 naval harbours (ship boxes and masks).

The demo's sub-metre scenes draw aircraft as plan-view crosses with a cast shadow; real
Pleiades images alone do not teach the network that look. Adding a few of these images to
training (``basewatch train aircraft --simulated N``) lets the shipped model count the demo's
aircraft too. Each image is a concrete apron on open land with aircraft of every simulated
class at random headings, olive vehicles (negatives) and a random acquisition date (sun).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from basewatch.train.ships import ShipScene

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


# --------------------------------------------------------------------------------------------
# Sentinel-2 harbours with moored warships (ship detector)
# --------------------------------------------------------------------------------------------

NAVAL = ("frigate", "corvette", "landing_ship", "submarine", "auxiliary", "tug")
"""Ship classes moored in simulated harbours."""


def simulated_harbour(seed: int, *, size_px: int = 192) -> ShipScene:
    """A simulated 10 m Sentinel-2 naval harbour with its ships' boxes and masks.

    Land along the north edge with a quay, 2-5 piers (18 m wide, 150-700 m long) reaching
    south into the harbour, warships of :data:`NAVAL` moored along them (one or both sides,
    bow to stern) or in nests, some piers empty, a few ships at anchor; rendered by the
    demo's simulator (:meth:`basewatch.testing.SceneModel.render_s2`) on a random date.
    """
    from basewatch.testing import SHIP_TYPES, make_ship
    from basewatch.train.ships import BANDS, ShipScene

    rng = np.random.default_rng(seed)
    res = 10.0
    side = size_px * res
    x0, y0 = ORIGIN[0] + 5000.0 * seed, ORIGIN[1] - 20000.0
    grid = Grid.around(x0, y0, size_m=side, res=res, crs=CRS)
    left, top = grid.left, grid.top
    shore = top - float(rng.uniform(250, 600))
    features = [
        Feature(geometry=shapely_box(left, top - side, left + side, shore), material="harbour"),
        Feature(geometry=shapely_box(left, shore, left + side, shore + 60.0), material="pier"),
    ]
    objects = []
    n_piers = int(rng.integers(2, 6))
    spacing = float(rng.uniform(70, 220))
    x = left + float(rng.uniform(150, 600))
    piers = []
    for _ in range(n_piers):
        length = float(rng.uniform(150, 700))
        pier = shapely_box(x - 9.0, shore - length, x + 9.0, shore)
        features.append(Feature(geometry=pier, material="pier"))
        piers.append((x, length))
        x += spacing
        if x > left + side - 150:
            break
    for px_, length in piers:
        if rng.random() < 0.3:
            continue  # an empty pier: concrete alone is not a ship
        for sgn in (-1.0, 1.0):
            if rng.random() < 0.3:
                continue
            y = shore - 15.0
            nest = int(rng.integers(1, 3)) if rng.random() < 0.3 else 1
            while True:
                cls = NAVAL[int(rng.integers(len(NAVAL)))]
                size = SHIP_TYPES[cls]
                if y - size["length"] < shore - length - 20.0:
                    break
                for k in range(nest):
                    off = 9.0 + 3.0 + size["beam"] / 2 + k * (size["beam"] + 3.0)
                    objects.append(
                        make_ship(
                            cls,
                            x=px_ + sgn * off,
                            y=y - size["length"] / 2,
                            heading_deg=float(rng.choice([0.0, 180.0]) + rng.normal(0, 1)),
                            rng=rng,
                        )
                    )
                y -= size["length"] + float(rng.uniform(5, 40))
    for _ in range(int(rng.integers(0, 4))):
        cls = NAVAL[int(rng.integers(len(NAVAL)))]
        ax = float(rng.uniform(left + 200, left + side - 200))
        ay = float(rng.uniform(top - side + 200, shore - 500))
        if ay > top - side + 200:
            objects.append(
                make_ship(cls, x=ax, y=ay, heading_deg=float(rng.uniform(0, 360)), rng=rng)
            )
    layout = Layout(crs=CRS, features=tuple(features), seed=seed)
    when = datetime(2024, 1, 1, 8, 20, tzinfo=UTC) + timedelta(days=int(rng.integers(0, 365)))
    render = SceneModel(layout, grid).render_s2(when=when, objects=objects, seed=seed)
    layers = []
    for b in BANDS:  # swir16 comes at 20 m: repeated onto the 10 m grid
        layer = render.bands[b].astype(np.float32) * 1e-4
        if layer.shape != (size_px, size_px):
            reps = (-(-size_px // layer.shape[0]), -(-size_px // layer.shape[1]))
            layer = np.kron(layer, np.ones(reps, np.float32))[:size_px, :size_px]
        layers.append(layer)
    pixels = np.dstack(layers)
    boxes, masks = [], []
    for obj in objects:
        body, _ = object_parts(obj)
        bx0, by0, bx1, by1 = body.bounds
        c0, r0 = int((bx0 - left) // res), int((top - by1) // res)
        c1, r1 = int((bx1 - left) // res) + 1, int((top - by0) // res) + 1
        if c0 < 2 or r0 < 2 or c1 > size_px - 2 or r1 > size_px - 2:
            continue
        mask = grid.mask(body)[r0:r1, c0:c1]
        if not mask.any():
            mask = np.ones((r1 - r0, c1 - c0), bool)
        boxes.append([float(c0), float(r0), float(c1), float(r1)])
        masks.append(mask)
    return ShipScene(
        name=f"simulated-harbour-{seed}",
        pixels=pixels,
        boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
        masks=tuple(masks),
        gsd_m=res,
        simulated=True,
    )


def simulated_harbours(count: int, *, seed: int = 2000) -> list[ShipScene]:
    """``count`` simulated harbours (seeds ``seed``, ``seed + 1``, ...)."""
    return [simulated_harbour(seed + i) for i in range(count)]

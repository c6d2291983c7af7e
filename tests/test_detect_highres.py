"""Sub-metre classical detector: a synthetic 0.5 m apron and the Airbus Pleiades sample.

Synthetic scenes follow the brief: concrete grey 150-180 with texture and slab joints, grass
around, aircraft as plan-view crosses in light or dark grey with a cast shadow (fighters
22 x 14 m, An-124 69 x 73 m), olive launchers 12 x 3 m and a 10 x 4 m radar; objects drawn on
a 0.25 m sub-grid, area-averaged to 0.5 m, blurred and noised.
"""

from __future__ import annotations

import ast
import csv
import math
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from _synthetic import Rect
from _synthetic import coverage as _coverage
from scipy import ndimage

from basewatch.detect import Detection, highres
from basewatch.errors import InputError

GSD = 0.5
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def coverage(shape: tuple[int, int], rects: list[Rect], px: float, sub: int = 2) -> np.ndarray:
    """Sub-metre scenes need only a 2 x 2 sub-grid per pixel."""
    return _coverage(shape, rects, px, sub)


def aircraft_rects(x: float, y: float, length: float, span: float, hd: float) -> list[Rect]:
    t = math.radians(hd)
    ux, uy = math.sin(t), -math.cos(t)
    return [
        (x, y, length, 0.11 * length, hd),
        (x + 0.05 * length * ux, y + 0.05 * length * uy, span, 0.22 * length, hd + 90),
        (x - 0.42 * length * ux, y - 0.42 * length * uy, 0.38 * span, 0.1 * length, hd + 90),
    ]


@lru_cache(maxsize=8)
def apron(
    seed: int, fighters: int = 6, heavies: int = 2, vehicles: int = 5
) -> tuple[np.ndarray, np.ndarray, tuple[tuple[float, float, str], ...]]:
    """600 m square at 0.5 m: grass, a concrete apron (60 m inset), fighters in a row 40 m
    apart, An-124s, launchers and one radar. Returns RGB, apron mask, (x, y, class) truths."""
    rng = np.random.default_rng(seed)
    size = 1200
    shape = (size, size)
    surface = np.zeros(shape, dtype=bool)
    surface[120:-120, 120:-120] = True
    concrete = rng.uniform(150, 180) / 255
    grass = (0.33, 0.38, 0.24)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, shape), 3) * 0.02
    img = np.zeros((*shape, 3))
    for b in range(3):
        img[..., b] = np.where(surface, concrete + texture, grass[b] + 2 * texture)
    joints = np.arange(size) * GSD % 5 < GSD  # slab joints every 5 m
    img[joints, :, :] -= 0.04 * surface[joints, :, None]
    img[:, joints, :] -= 0.04 * surface[:, joints, None]
    line = coverage(shape, [(300.0, 180.0, 480.0, 0.2, 90.0)], GSD, sub=4)  # yellow taxi line
    for b, v in enumerate((0.85, 0.75, 0.2)):
        img[..., b] = img[..., b] * (1 - line) + v * line
    truth: list[tuple[float, float, str]] = []

    def draw(rects: list[Rect], colour: tuple[float, float, float], shadow: bool) -> None:
        if shadow:
            offset = [(x + 3.0, y + 2.5, ln, w, h) for x, y, ln, w, h in rects]
            cover = coverage(shape, offset, GSD) * surface
            img[...] = img * (1 - cover[..., None]) + 0.22 * cover[..., None]
        cover = coverage(shape, rects, GSD)
        img[...] = img * (1 - cover[..., None]) + np.array(colour) * cover[..., None]

    for k in range(fighters):
        grey = float(rng.choice([0.82, 0.38]))
        hd = 180 + rng.uniform(-8, 8)
        draw(aircraft_rects(120 + 40.0 * k, 150.0, 22.0, 14.0, hd), (grey,) * 3, True)
        truth.append((120 + 40.0 * k, 150.0, "aircraft"))
    for k in range(heavies):
        grey = float(rng.choice([0.8, 0.45]))
        hd = 180 + rng.uniform(-5, 5)
        draw(aircraft_rects(180 + 110.0 * k, 330.0, 69.0, 73.0, hd), (grey,) * 3, True)
        truth.append((180 + 110.0 * k, 330.0, "aircraft"))
    for k in range(vehicles):
        x, hd = 130 + 25.0 * k, float(rng.uniform(0, 180))
        if k < vehicles - 1:
            draw([(x, 470.0, 12.0, 3.0, hd)], (80 / 255, 90 / 255, 60 / 255), False)
        else:
            draw([(x, 470.0, 10.0, 4.0, hd)], (0.3, 0.3, 0.28), False)  # radar
        truth.append((x, 470.0, "vehicle"))
    img = ndimage.gaussian_filter(img, (0.6, 0.6, 0)) + rng.normal(0, 0.01, img.shape)
    return np.clip(img, 0, 1).astype(np.float32), surface, tuple(truth)


def matched(dets: list[Detection], truth: list[tuple[float, float]], tol_m: float) -> int:
    free = list(dets)
    hits = 0
    for x, y in truth:
        col, row = x / GSD - 0.5, y / GSD - 0.5
        best = min(free, key=lambda d: math.dist(d.centroid_px, (col, row)), default=None)
        if best is not None and math.dist(best.centroid_px, (col, row)) * GSD <= tol_m:
            free.remove(best)
            hits += 1
    return hits


# --------------------------------------------------------------------------------------------
# Synthetic apron
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_apron_aircraft_and_vehicles_are_counted_and_classed(seed: int) -> None:
    rgb, surface, truth = apron(seed)
    dets = highres.detect(rgb, gsd_m=GSD, search_mask=surface, target="any")
    counts = Counter(d.cls for d in dets)
    assert counts == {"aircraft": 8, "vehicle": 5}
    for cls, tol in (("aircraft", 8.0), ("vehicle", 4.0)):
        where = [(x, y) for x, y, c in truth if c == cls]
        assert matched([d for d in dets if d.cls == cls], where, tol) == len(where)
    fighters = [d for d in dets if d.cls == "aircraft" and (d.length_m or 0) < 40]
    heavies = [d for d in dets if d.cls == "aircraft" and (d.length_m or 0) >= 40]
    assert len(fighters) == 6 and len(heavies) == 2
    assert all(20 <= (d.length_m or 0) <= 32 for d in fighters)  # 22 m plus shadow
    assert all(65 <= (d.length_m or 0) <= 85 for d in heavies)  # 69-73 m plus shadow
    assert all(9 <= (d.length_m or 0) <= 16 for d in dets if d.cls == "vehicle")


def test_target_selects_one_class() -> None:
    rgb, surface, _ = apron(0)
    aircraft = highres.detect(rgb, gsd_m=GSD, search_mask=surface, target="aircraft")
    vehicles = highres.detect(rgb, gsd_m=GSD, search_mask=surface, target="vehicle")
    assert len(aircraft) == 8 and {d.cls for d in aircraft} == {"aircraft"}
    # Aircraft are not cut into vehicle-sized pieces when vehicles are counted.
    assert len(vehicles) == 5 and {d.cls for d in vehicles} == {"vehicle"}


def test_empty_apron_has_no_objects() -> None:
    rgb, surface, _ = apron(3, fighters=0, heavies=0, vehicles=0)
    assert highres.detect(rgb, gsd_m=GSD, search_mask=surface, target="any") == []
    assert highres.detect(rgb, gsd_m=GSD, target="aircraft") == []


def test_uint8_input_and_pixel_grid() -> None:
    rgb, surface, _ = apron(1)
    as_uint8 = (rgb * 255).round().astype(np.uint8)
    dets = highres.detect(as_uint8, gsd_m=GSD, search_mask=surface, target="aircraft")
    assert len(dets) == 8
    for det in dets:
        c0, r0, w, h = det.bbox_px
        assert c0 >= 0 and r0 >= 0 and c0 + w <= 1200 and r0 + h <= 1200
        col, row = det.centroid_px
        assert c0 <= col <= c0 + w and r0 <= row <= r0 + h
        assert 0.0 <= det.score <= 1.0 and det.area_px > 0
        assert det.heading_deg is not None and 0.0 <= det.heading_deg < 180.0


def test_search_mask_limits_the_search() -> None:
    rgb, _, _ = apron(0)
    west = np.zeros(rgb.shape[:2], dtype=bool)
    west[:, :500] = True  # x < 250 m: the first four fighters and one An-124
    dets = highres.detect(rgb, gsd_m=GSD, search_mask=west, target="aircraft")
    assert len(dets) == 5
    assert all(d.bbox_px[0] + d.bbox_px[2] <= 500 for d in dets)


# --------------------------------------------------------------------------------------------
# Robustness
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rgb",
    [
        np.zeros((0, 0, 3), dtype=np.float32),
        np.full((64, 64, 3), np.nan, dtype=np.float32),
        np.full((64, 64, 3), 0.6, dtype=np.float32),
    ],
    ids=["empty", "all-nan", "constant"],
)
def test_degenerate_images_give_nothing(rgb: np.ndarray) -> None:
    assert highres.detect(rgb, gsd_m=GSD, target="any") == []


def test_all_invalid_mask_gives_nothing() -> None:
    rgb, surface, _ = apron(0)
    assert highres.detect(rgb, gsd_m=GSD, search_mask=np.zeros_like(surface)) == []


@pytest.mark.parametrize(
    ("rgb", "kwargs", "message"),
    [
        (np.zeros((8, 8)), {"gsd_m": GSD}, "3-D"),
        (np.zeros((8, 8, 4)), {"gsd_m": GSD}, "3 channels"),
        (np.zeros((8, 8, 3)), {"gsd_m": 0.0}, "gsd_m"),
        (np.zeros((8, 8, 3)), {"gsd_m": GSD, "target": "tank"}, "target"),
        (np.zeros((8, 8, 3)), {"gsd_m": GSD, "search_mask": np.ones((4, 4))}, "search_mask"),
    ],
)
def test_bad_inputs_raise_input_error(
    rgb: np.ndarray, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        highres.detect(rgb, **kwargs)  # type: ignore[arg-type]


def test_module_identity() -> None:
    assert highres.NAME == "highres-classical"
    assert highres.VERSION.count(".") == 2


# --------------------------------------------------------------------------------------------
# Real data: Airbus aircraft sample (Pleiades, 0.5 m), whole airport tiles, no apron mask
# --------------------------------------------------------------------------------------------

AIRBUS = DATA / "aircraft_airbus_pleiades_50cm"
SUBSET = (
    "074737f4-7f59-4729-be5d-67f6f1d34668.jpg",  # footprint group 4, bright concrete
    "996ba764-cd2a-49c0-9c9f-b166207de0ab.jpg",  # group 5, piers with 64 airliners
    "20bfce20-fb8a-4e20-a4aa-57064add848b.jpg",  # group 7, mixed surfaces
)


def _boxes(rows: list[dict[str, str]], image_id: str) -> list[tuple[float, float, float, float]]:
    out = []
    for row in rows:
        if row["image_id"] != image_id:
            continue
        points = ast.literal_eval(row["geometry"])  # "[(x, y), ...]": not JSON
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        out.append((min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)))
    return out


def _one_to_one(dets: list[Detection], boxes: list[tuple[float, float, float, float]]) -> int:
    used: set[int] = set()
    for det in sorted(dets, key=lambda d: -d.score):
        col, row = det.centroid_px
        inside = [
            (math.dist((col, row), (x + w / 2, y + h / 2)), i)
            for i, (x, y, w, h) in enumerate(boxes)
            if i not in used and x - 5 <= col <= x + w + 5 and y - 5 <= row <= y + h + 5
        ]
        if inside:
            used.add(min(inside)[1])
    return len(used)


def test_airbus_pleiades_subset_precision_recall() -> None:
    if not (AIRBUS / "annotations.csv").exists():
        pytest.skip(f"Airbus aircraft sample not found at {AIRBUS} (shared data folder absent)")
    from PIL import Image

    with (AIRBUS / "annotations.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    totals = [0, 0, 0]
    per_image = {}
    for name in SUBSET:
        rgb = np.asarray(Image.open(AIRBUS / "images" / name).convert("RGB"))
        boxes = _boxes(rows, name)
        dets = highres.detect(rgb, gsd_m=GSD, target="aircraft")
        hits = _one_to_one(dets, boxes)
        per_image[name[:8]] = (len(boxes), len(dets), hits)
        totals = [totals[0] + len(boxes), totals[1] + len(dets), totals[2] + hits]
    recall, precision = totals[2] / totals[0], totals[2] / totals[1]
    print(f"\nAirbus subset: recall {recall:.3f}, precision {precision:.3f}; per image {per_image}")
    # Whole airport tiles without an apron mask: terminals, cars and jet bridges are searched
    # too, so precision is low; a zone mask or the later trained model is the remedy.
    assert recall >= 0.55
    assert precision >= 0.15

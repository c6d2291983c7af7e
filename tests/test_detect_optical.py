"""Sentinel-2-like detectors: ships against water (the classical `detect_ships_contrast` and
the trained model behind `detect_ships`) and aircraft on aprons.

Synthetic scenes follow the brief's conventions: reflectances of water, land, concrete,
hulls and airframes; objects drawn at their real footprint on a 1 m sub-grid, area-averaged
to 10 m, blurred by a Gaussian PSF (sigma 0.5 px) plus noise (sigma 0.004).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _synthetic import Rect, coverage
from scipy import ndimage

from basewatch.detect import Detection, optical
from basewatch.errors import InputError

PX = 10.0
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BANDS = ("blue", "green", "red", "nir", "swir16")
WATER = {"blue": 0.06, "green": 0.05, "red": 0.03, "nir": 0.02, "swir16": 0.01}
LAND = {"blue": 0.07, "green": 0.09, "red": 0.11, "nir": 0.25, "swir16": 0.28}
CONCRETE = {"blue": 0.20, "green": 0.20, "red": 0.20, "nir": 0.22, "swir16": 0.25}

Scene = dict[str, np.ndarray]


def paint(scene: Scene, cov: np.ndarray, refl: dict[str, float] | float) -> None:
    for band in BANDS:
        value = refl[band] if isinstance(refl, dict) else refl
        scene[band] = scene[band] * (1 - cov) + value * cov


def textured(
    rng: np.random.Generator, shape: tuple[int, int], refl: dict[str, float], amp: float, s: float
) -> Scene:
    field = ndimage.gaussian_filter(rng.normal(0, 1, shape), s)
    factor = 1 + amp * field / field.std()
    return {band: refl[band] * factor for band in BANDS}


def observe(rng: np.random.Generator, scene: Scene) -> Scene:
    """PSF blur and sensor noise, as float32 reflectance."""
    return {
        band: (ndimage.gaussian_filter(v, 0.5) + rng.normal(0, 0.004, v.shape)).astype(np.float32)
        for band, v in scene.items()
    }


def draw_ship(
    rng: np.random.Generator,
    scene: Scene,
    x: float,
    y: float,
    length: float,
    width: float,
    hd: float,
) -> None:
    shape = scene["nir"].shape
    vis, nir = rng.uniform(0.10, 0.20), rng.uniform(0.12, 0.25)
    hull = {"blue": vis, "green": vis, "red": vis, "nir": nir, "swir16": nir}
    paint(scene, coverage(shape, [(x, y, length, width, hd)], PX), hull)
    deck = {"blue": vis + 0.1, "green": vis + 0.1, "red": vis + 0.1, "nir": nir + 0.08}
    deck["swir16"] = nir
    paint(scene, coverage(shape, [(x, y, 0.35 * length, 0.6 * width, hd)], PX), deck)


def harbour(seed: int, ships: bool = True) -> tuple[Scene, list[tuple[float, float, float]]]:
    """4 km harbour: land, a 200 m concrete quay with its edge at y=1200 m, 6 ships moored
    alongside it (3 m off), two quay cranes whose 60 x 3 m booms reach over the water and
    a 900 x 30 m detached breakwater. Returns bands and (x, y, length) truths."""
    rng = np.random.default_rng(seed)
    shape = (400, 400)
    scene = {b: np.full(shape, WATER[b]) for b in BANDS}
    land = textured(rng, shape, LAND, 0.08, 2.0)
    quay = textured(rng, shape, CONCRETE, 0.04, 2.0)
    for b in BANDS:
        scene[b][:100] = land[b][:100]
        scene[b][100:120] = quay[b][100:120]
    paint(scene, coverage(shape, [(1800.0, 3005.0, 900.0, 30.0, 90.0)], PX), CONCRETE)
    truth = []
    if ships:
        for x, length, width in zip(
            (400, 750, 1150, 1600, 2300, 3200),
            (135, 110, 74, 100, 90, 135),
            (16, 15, 10, 15, 14, 16),
            strict=True,
        ):
            y = 1200 + 3 + width / 2
            draw_ship(rng, scene, x, y, length, width, 90.0)
            truth.append((float(x), y, float(length)))
    for x in (2750.0, 2900.0):
        paint(scene, coverage(shape, [(x, 1215.0, 60.0, 3.0, 0.0)], PX), 0.35)
    return observe(rng, scene), truth


def anchorage(seed: int) -> tuple[Scene, list[tuple[float, float]]]:
    """Open water with 20 ships of 60-180 m at random headings, 650-800 m apart."""
    rng = np.random.default_rng(seed)
    scene = {b: np.full((400, 400), WATER[b]) for b in BANDS}
    truth = []
    for i in range(20):
        x = 700 + (i % 5) * 650 + rng.uniform(-60, 60)
        y = 700 + (i // 5) * 800 + rng.uniform(-60, 60)
        length = rng.uniform(60, 180)
        draw_ship(rng, scene, x, y, length, length / rng.uniform(6, 8), rng.uniform(0, 180))
        truth.append((x, y))
    return observe(rng, scene), truth


def aircraft_rects(x: float, y: float, length: float, span: float, hd: float) -> list[Rect]:
    """Plan view of an aircraft: fuselage, wing, tailplane."""
    t = math.radians(hd)
    ux, uy = math.sin(t), -math.cos(t)
    return [
        (x, y, length, 0.11 * length, hd),
        (x + 0.05 * length * ux, y + 0.05 * length * uy, span, 0.22 * length, hd + 90),
        (x - 0.42 * length * ux, y - 0.42 * length * uy, 0.38 * span, 0.1 * length, hd + 90),
    ]


def apron(seed: int, n_aircraft: int = 15) -> tuple[Scene, np.ndarray, int]:
    """2 km field with a 1200 x 600 m concrete apron; 12 fighters (22 x 14 m) in two rows
    45 m apart, two Il-76 and one An-124; airframes 0.08-0.25 off the concrete (most
    brighter), each with a dark shadow offset to one side."""
    rng = np.random.default_rng(seed)
    shape = (200, 200)
    scene = textured(rng, shape, LAND, 0.12, 2.0)
    surface = np.zeros(shape, dtype=bool)
    surface[60:120, 40:160] = True
    concrete = textured(rng, shape, CONCRETE, 0.015, 1.0)
    for b in BANDS:
        scene[b][surface] = concrete[b][surface]
    types = [(22.0, 14.0)] * 12 + [(47.0, 50.0)] * 2 + [(69.0, 73.0)]
    slots = [(450 + 45.0 * k, 680.0) for k in range(14)] + [
        (450 + 45.0 * k, 1050.0) for k in range(14)
    ]
    big_slots = [(620 + 100.0 * k, 880.0) for k in range(8)]
    order = rng.permutation(len(slots))
    for i in range(n_aircraft):
        length, span = types[i % len(types)]
        x, y = big_slots[i - 12] if length > 30 else slots[order[i]]
        rects = aircraft_rects(x, y, length, span, 180.0 + rng.uniform(-5, 5))
        shadow = [
            (rx + 0.12 * length, ry + 0.10 * length, rl, rw, rh) for rx, ry, rl, rw, rh in rects
        ]
        paint(scene, coverage(shape, shadow, PX) * surface, 0.07)
        delta = rng.uniform(0.08, 0.25) * (1 if rng.random() < 0.75 else -1)
        paint(scene, coverage(shape, rects, PX), {b: CONCRETE[b] + delta for b in BANDS})
    bands = observe(rng, scene)
    return {b: bands[b] for b in ("blue", "green", "red", "nir")}, surface, n_aircraft


def matched(dets: list[Detection], truth: list[tuple[float, float]], tol_px: float) -> int:
    free = list(dets)
    hits = 0
    for x, y in truth:
        col, row = x / PX - 0.5, y / PX - 0.5
        best = min(free, key=lambda d: math.dist(d.centroid_px, (col, row)), default=None)
        if best is not None and math.dist(best.centroid_px, (col, row)) <= tol_px:
            free.remove(best)
            hits += 1
    return hits


# --------------------------------------------------------------------------------------------
# Water
# --------------------------------------------------------------------------------------------


def test_water_mask_ndwi_and_mndwi() -> None:
    bands, _ = harbour(0)
    with_swir = optical.water_mask(bands)
    without = optical.water_mask({k: v for k, v in bands.items() if k != "swir16"})
    for mask in (with_swir, without):
        assert mask[:120].mean() < 0.01  # land and quay
        assert mask[250:, :].mean() > 0.99  # open water
    # Invalid pixels are never water.
    valid = np.ones((400, 400), dtype=bool)
    valid[300:, :] = False
    assert not optical.water_mask(bands, valid=valid)[300:].any()


# --------------------------------------------------------------------------------------------
# Ships
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_harbour_six_moored_ships_cranes_and_breakwater_rejected(seed: int) -> None:
    bands, truth = harbour(seed)
    dets = optical.detect_ships_contrast(bands, pixel_size_m=PX)
    assert len(dets) == 6
    assert matched(dets, [(x, y) for x, y, _ in truth], tol_px=2.0) == 6
    by_x = sorted(dets, key=lambda d: d.centroid_px[0])
    for det, (_, _, length) in zip(by_x, truth, strict=True):
        assert det.cls == "ship"
        assert det.length_m == pytest.approx(length, rel=0.15)
        assert det.heading_deg is not None and min(det.heading_deg, 180 - det.heading_deg) > 75


def test_cranes_and_breakwater_alone_are_not_ships() -> None:
    bands, _ = harbour(4, ships=False)
    assert optical.detect_ships_contrast(bands, pixel_size_m=PX) == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_empty_water_has_no_ships(seed: int) -> None:
    rng = np.random.default_rng(50 + seed)
    bands = observe(rng, {b: np.full((400, 400), WATER[b]) for b in BANDS})
    assert optical.detect_ships_contrast(bands, pixel_size_m=PX) == []


@pytest.mark.parametrize("seed", [0, 1])
def test_anchorage_of_twenty_ships(seed: int) -> None:
    bands, truth = anchorage(seed)
    dets = optical.detect_ships_contrast(bands, pixel_size_m=PX)
    assert len(dets) == 20
    assert matched(dets, truth, tol_px=2.0) == 20


def test_given_water_mask_and_valid_are_honoured() -> None:
    bands, truth = harbour(0)
    valid = np.ones((400, 400), dtype=bool)
    valid[:, 200:] = False  # the eastern half is cloud
    dets = optical.detect_ships_contrast(bands, pixel_size_m=PX, valid=valid)
    assert len(dets) == 4 and all(d.centroid_px[0] < 200 for d in dets)
    no_water = np.zeros((400, 400), dtype=bool)
    assert optical.detect_ships_contrast(bands, pixel_size_m=PX, water=no_water) == []


# --------------------------------------------------------------------------------------------
# Apron objects
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_apron_count_within_twenty_percent_and_empty_apron_zero(seed: int) -> None:
    bands, surface, n = apron(seed)
    dets = optical.detect_apron_objects(bands, pixel_size_m=PX, surface_mask=surface)
    assert 0.8 * n <= len(dets) <= 1.2 * n
    assert all(d.cls == "aircraft" and 10 <= (d.length_m or 0) <= 100 for d in dets)
    empty, surface, _ = apron(seed, n_aircraft=0)
    assert optical.detect_apron_objects(empty, pixel_size_m=PX, surface_mask=surface) == []


def test_empty_apron_with_a_loose_polygon_has_no_false_alarms() -> None:
    # A zone polygon drawn 20 m beyond the concrete takes in grass along every edge.
    for seed in range(3):
        empty, surface, _ = apron(seed, n_aircraft=0)
        loose = ndimage.binary_dilation(surface, iterations=2)
        assert optical.detect_apron_objects(empty, pixel_size_m=PX, surface_mask=loose) == []


def test_touching_fighters_are_split() -> None:
    rng = np.random.default_rng(3)
    shape = (60, 60)
    scene = {b: np.full(shape, CONCRETE[b]) for b in BANDS}
    for x in (265.0, 300.0, 335.0):  # three dark fighters in a row, 35 m apart (21 m gaps)
        paint(scene, coverage(shape, aircraft_rects(x, 300.0, 22.0, 14.0, 180.0), PX), 0.05)
    bands = observe(rng, scene)
    surface = np.ones(shape, dtype=bool)
    dets = optical.detect_apron_objects(bands, pixel_size_m=PX, surface_mask=surface)
    assert len(dets) == 3


# --------------------------------------------------------------------------------------------
# Robustness
# --------------------------------------------------------------------------------------------


def _bands(value: float | None, shape: tuple[int, int] = (40, 40)) -> Scene:
    fill = np.nan if value is None else value
    return {b: np.full(shape, fill, dtype=np.float32) for b in ("blue", "green", "red", "nir")}


@pytest.mark.parametrize(
    "bands",
    [_bands(0.05, (0, 0)), _bands(None), _bands(0.03), _bands(0.2)],
    ids=["empty", "all-nan", "constant-water", "constant-land"],
)
def test_degenerate_bands_give_nothing(bands: Scene) -> None:
    shape = bands["nir"].shape
    assert optical.detect_ships_contrast(bands, pixel_size_m=PX) == []
    surface = np.ones(shape, dtype=bool)
    assert optical.detect_apron_objects(bands, pixel_size_m=PX, surface_mask=surface) == []
    assert optical.water_mask(bands).shape == shape


def test_all_invalid_gives_nothing() -> None:
    bands, _ = harbour(0)
    invalid = np.zeros((400, 400), dtype=bool)
    assert optical.detect_ships_contrast(bands, pixel_size_m=PX, valid=invalid) == []
    apron_bands, surface, _ = apron(0)
    assert (
        optical.detect_apron_objects(
            apron_bands, pixel_size_m=PX, surface_mask=surface, valid=invalid[:200, :200]
        )
        == []
    )


def test_bad_inputs_raise_input_error() -> None:
    good = _bands(0.05)
    surface = np.ones((40, 40), dtype=bool)
    with pytest.raises(InputError, match="nir"):
        optical.detect_ships_contrast({"green": good["green"]}, pixel_size_m=PX)
    with pytest.raises(InputError, match="shape"):
        optical.detect_ships_contrast({**good, "nir": np.zeros((10, 10))}, pixel_size_m=PX)
    with pytest.raises(InputError, match="2-D"):
        optical.water_mask({**good, "green": np.zeros((2, 40, 40))})
    with pytest.raises(InputError, match="pixel_size_m"):
        optical.detect_ships_contrast(good, pixel_size_m=-10.0)
    with pytest.raises(InputError, match="surface_mask"):
        optical.detect_apron_objects(good, pixel_size_m=PX, surface_mask=np.ones((3, 3)))
    with pytest.raises(InputError, match="target"):
        optical.detect_apron_objects(good, pixel_size_m=PX, surface_mask=surface, target="ship")
    with pytest.raises(InputError, match="mapping"):
        optical.detect_ships_contrast(np.zeros((4, 40, 40)), pixel_size_m=PX)  # type: ignore[arg-type]


def test_module_identity() -> None:
    assert optical.NAME == "s2-contrast"
    assert optical.VERSION.count(".") == 2


# --------------------------------------------------------------------------------------------
# Real data: sen2ships (Sentinel-2 ports with COCO boxes)
# --------------------------------------------------------------------------------------------

SEN2SHIPS = DATA / "s2_ships_sen2ships_ports"
PORTS = ("athens", "cartagena", "casablanca")


def _read_port(port: str) -> Scene:
    import rasterio

    bands: Scene = {}
    for code, name in (("B02", "blue"), ("B03", "green"), ("B04", "red"), ("B08", "nir")):
        (path,) = sorted((SEN2SHIPS / port).glob(f"*{code}_Raw.tiff"))
        with rasterio.open(path) as src:
            raw = src.read(1)
        # SOURCE.md says x10000, but water/land levels only make sense for the Sentinel Hub
        # UINT16 scaling (reflectance x 65535): water nir 0.014, land nir 0.26 in Athens.
        bands[name] = np.where(raw > 0, raw / 65535.0, np.nan).astype(np.float32)
    return bands


def _one_to_one(dets: list[Detection], boxes: list[list[float]], pad: float = 2.0) -> int:
    used: set[int] = set()
    for det in sorted(dets, key=lambda d: -d.score):
        col, row = det.centroid_px[0] + 0.5, det.centroid_px[1] + 0.5  # COCO: pixel edges
        inside = [
            (math.dist((col, row), (x + w / 2, y + h / 2)), i)
            for i, (x, y, w, h) in enumerate(boxes)
            if i not in used and x - pad <= col <= x + w + pad and y - pad <= row <= y + h + pad
        ]
        if inside:
            used.add(min(inside)[1])
    return len(used)


def test_sen2ships_ports_precision_recall() -> None:
    coco_path = SEN2SHIPS / "coco_annotations.json"
    if not coco_path.exists():
        pytest.skip(f"sen2ships subset not found at {SEN2SHIPS} (shared data folder absent)")
    coco = json.loads(coco_path.read_text())
    totals = [0, 0, 0]
    per_port = {}
    for port in PORTS:
        (image,) = [i for i in coco["images"] if i["file_name"] == f"{port}_rgb.tiff"]
        boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == image["id"]]
        bands = _read_port(port)
        assert bands["nir"].shape == (image["height"], image["width"])
        dets = optical.detect_ships_contrast(bands, pixel_size_m=PX)
        hits = _one_to_one(dets, boxes)
        per_port[port] = (len(boxes), len(dets), hits)
        totals = [totals[0] + len(boxes), totals[1] + len(dets), totals[2] + hits]
    recall, precision = totals[2] / totals[0], totals[2] / totals[1]
    print(f"\nsen2ships: recall {recall:.3f}, precision {precision:.3f}; per port {per_port}")
    # Labels miss many small and berthed boats (see SOURCE.md), so precision is a floor.
    assert recall >= 0.42
    assert precision >= 0.14


# --------------------------------------------------------------------------------------------
# detect_ships: the trained model (basewatch.detect.ships_s2) on the same synthetic scenes
# --------------------------------------------------------------------------------------------


@pytest.mark.xfail(
    strict=True,
    reason="known failure of s2-ships-cnn 1.0.0: 135 m hulls moored 3 m off a 200 m-deep quay "
    "of the same brightness (0.10-0.20 vs 0.20) score 0.1-0.2, below its 0.35 threshold",
)
@pytest.mark.parametrize("seed", [0, 1])
def test_model_finds_the_six_moored_ships_not_the_cranes_or_breakwater(seed: int) -> None:
    bands, truth = harbour(seed)
    dets = optical.detect_ships(bands, pixel_size_m=PX)
    hits = matched(dets, [(x, y) for x, y, _ in truth], tol_px=3.0)
    assert hits >= 5, dets
    assert len(dets) - hits <= 1, dets


@pytest.mark.parametrize("seed", [0, 1])
def test_model_counts_the_anchorage_and_leaves_empty_water_empty(seed: int) -> None:
    bands, truth = anchorage(seed)
    dets = optical.detect_ships(bands, pixel_size_m=PX)
    assert matched(dets, truth, tol_px=3.0) >= 16 and len(dets) <= 21
    empty, _ = harbour(seed + 10, ships=False)
    cranes_only = optical.detect_ships(empty, pixel_size_m=PX)
    assert len(cranes_only) <= 1


def test_model_bad_inputs_raise_input_error() -> None:
    good = _bands(0.05)
    # swir16 alone is not enough for any shipped detector; green alone runs the two-stage one
    with pytest.raises(InputError, match="nir"):
        optical.detect_ships({"swir16": good["green"]}, pixel_size_m=PX)
    assert isinstance(optical.detect_ships({"green": good["green"]}, pixel_size_m=PX), list)
    with pytest.raises(InputError, match="shape"):
        optical.detect_ships({**good, "nir": np.zeros((10, 10))}, pixel_size_m=PX)
    with pytest.raises(InputError, match="pixel_size_m"):
        optical.detect_ships(good, pixel_size_m=-10.0)
    with pytest.raises(InputError, match="mapping"):
        optical.detect_ships(np.zeros((4, 40, 40)), pixel_size_m=PX)  # type: ignore[arg-type]

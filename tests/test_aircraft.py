"""Aircraft detector (ONNX Runtime): shipped model on a real Airbus image, tiling and NMS on
synthetic arrays with a stand-in network, bad inputs, and user YOLO models built in the test."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from basewatch.detect import aircraft, yolo
from basewatch.detect.aircraft import (
    DEFAULT_MODEL,
    TileSpec,
    detect_aircraft,
    nms,
    run_tiled,
    tile_origins,
    to_rgb8,
)
from basewatch.errors import ImageryError, InputError
from basewatch.train.labels import read_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "aircraft_airbus_pleiades_50cm"
REAL_IMAGE = "4f833867-273e-4d73-8bc3-cb2d9ceb54ef.jpg"


def _real_image() -> tuple[np.ndarray, np.ndarray]:
    """One shared Airbus image (0.5 m) and its labelled boxes (x0, y0, x1, y1)."""
    from basewatch.train.labels import load_labels

    path = DATA / "images" / REAL_IMAGE
    if not path.is_file():
        pytest.skip(f"shared Airbus sample not found at {path}")
    item = next(im for im in load_labels(DATA) if im.name == REAL_IMAGE)
    return item.read(), item.boxes


def _as_rows(dets: list) -> np.ndarray:
    return np.array(
        [[c, r, c + w, r + h, d.score] for d in dets for c, r, w, h in [d.bbox_px]],
        dtype=np.float32,
    ).reshape(-1, 5)


# ------------------------------------------------------------------------------------------
# Shipped model on real imagery
# ------------------------------------------------------------------------------------------


def test_shipped_model_is_small_and_describes_itself() -> None:
    assert DEFAULT_MODEL.is_file()
    assert DEFAULT_MODEL.stat().st_size <= 20 * 1024 * 1024
    _, info = aircraft.load_model()
    assert info.gsd_m == aircraft.MODEL_GSD_M
    assert info.stride == aircraft.STRIDE
    assert 0 < info.score_threshold < 1
    assert (DEFAULT_MODEL.parent / "MODEL_CARD.md").is_file()


def test_shipped_model_finds_the_aircraft_of_a_real_image() -> None:
    from basewatch.train.evaluate import match

    rgb, truth = _real_image()
    dets = detect_aircraft(rgb, 0.5)
    pred = _as_rows(dets)
    matched = match(pred, truth)
    # the shipped model saw this image in training: this checks the inference path end to end
    # (resampling, tiling, decoding, box scale), not generalisation (see bench/eval_aircraft.py)
    assert matched >= 0.8 * len(truth)
    assert len(pred) <= 1.25 * len(truth)
    assert all(d.cls == "aircraft" and 0 < d.score <= 1 for d in dets)
    sizes = [d.length_m for d in dets if d.length_m is not None]
    assert 15 < float(np.median(sizes)) < 90  # metres: aircraft-sized boxes


def test_real_image_as_grey_16_bit_and_coarser_gsd_still_counts() -> None:
    from basewatch.train.evaluate import match

    rgb, truth = _real_image()
    crop, keep = rgb[:1280, :1280], (truth[:, 2] < 1280) & (truth[:, 3] < 1280)
    sub = truth[keep]
    base = detect_aircraft(crop, 0.5)
    grey16 = (crop.mean(axis=2) * 257).astype(np.uint16)
    grey = detect_aircraft(grey16, 0.5)
    assert abs(len(grey) - len(base)) <= max(2, 0.3 * len(base))
    # the same ground at 0.75 m (resampled by the caller) gives boxes in the new pixels
    small = aircraft.resample(crop, 1.5).astype(np.uint8)
    coarse = detect_aircraft(small, 0.75)
    assert match(_as_rows(coarse), sub / 1.5) >= 0.6 * len(sub)


# ------------------------------------------------------------------------------------------
# Tiling and NMS with a stand-in network
# ------------------------------------------------------------------------------------------


class _BrightBlobNet:
    """A fake onnxruntime session: the heatmap is the 4 x 4 block mean of channel 0 > 0.5,
    boxes are 24 px squares centred on the cell centre."""

    class _Arg:
        name = "image"

    def get_inputs(self) -> list:
        return [self._Arg()]

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = feeds["image"]
        b, _, h, w = x.shape
        blocks = x[:, 0].reshape(b, h // 4, 4, w // 4, 4).mean(axis=(2, 4))
        heat = np.clip(blocks - 0.5, 0, 1)[:, None].astype(np.float32)
        reg = np.zeros((b, 4, h // 4, w // 4), np.float32)
        reg[:, :2] = 0.5
        reg[:, 2:] = np.log(24.0)
        outputs = {"heatmap": heat, "regression": reg}
        return [outputs[n] for n in names]


def _blob_image(centres: list[tuple[int, int]], shape: tuple[int, int]) -> np.ndarray:
    img = np.zeros((3, *shape), np.float32)
    for cx, cy in centres:
        img[:, cy - 2 : cy + 2, cx - 2 : cx + 2] = 2.0
    return img


@pytest.mark.parametrize("size,overlap", [(64, 16), (96, 32), (512, 96)])
def test_tiles_cover_everything_with_the_overlap(size: int, overlap: int) -> None:
    for length in (1, size, size + 1, 3 * size - 7, 1000):
        starts = tile_origins(length, size, overlap)
        covered = np.zeros(max(length, size), bool)
        for s in starts:
            covered[s : s + size] = True
        assert covered[:length].all()
        assert starts[0] == 0 and starts[-1] + size >= length
        assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:], strict=False))


def test_objects_on_tile_seams_are_found_once_where_they_are() -> None:
    rng = np.random.default_rng(3)
    centres = [(int(x) * 4 + 2, int(y) * 4 + 2) for x, y in rng.integers(2, 68, (12, 2))]
    centres += [(62, 30), (30, 62), (62, 62), (110, 110)]  # on and near the seams
    centres = list(dict.fromkeys(centres))
    spaced = [
        c
        for i, c in enumerate(centres)
        if all(max(abs(c[0] - d[0]), abs(c[1] - d[1])) > 28 for d in centres[:i])
    ]
    image = _blob_image(spaced, (280, 280))
    boxes = run_tiled(
        _BrightBlobNet(), image, stride=4, threshold=0.3, tiles=TileSpec(size=64, overlap=32)
    )
    found = sorted(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes)
    assert len(found) == len(spaced)
    for (fx, fy), (tx, ty) in zip(found, sorted(spaced), strict=True):
        assert abs(fx - tx) <= 2 and abs(fy - ty) <= 2
    assert np.allclose(boxes[:, 2] - boxes[:, 0], 24)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array(
        [[0, 0, 10, 10, 0.9], [1, 1, 11, 11, 0.8], [20, 20, 30, 30, 0.7], [0, 0, 10, 9, 0.95]],
        np.float32,
    )
    kept = nms(boxes, 0.4)
    assert kept[:, 4].tolist() == pytest.approx([0.95, 0.7])


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------


def test_image_conversion_handles_grey_16_bit_and_float() -> None:
    rng = np.random.default_rng(0)
    grey16 = rng.integers(0, 4000, (40, 50)).astype(np.uint16)
    out = to_rgb8(grey16)
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, 0], out[:, :, 2])
    order = np.argsort(grey16.ravel())
    assert np.all(np.diff(out[:, :, 0].ravel()[order].astype(int)) >= 0)  # monotonic stretch
    assert to_rgb8(rng.random((20, 20, 4))).shape == (20, 20, 3)
    with pytest.raises(InputError, match="rows, cols"):
        to_rgb8(np.zeros((3, 4, 5, 6)))
    with pytest.raises(InputError, match="too small"):
        to_rgb8(np.zeros((4, 4, 3)))


def test_gsd_checks() -> None:
    image = np.full((64, 64, 3), 160, np.uint8)
    with pytest.raises(InputError, match="too coarse"):
        detect_aircraft(image, 10.0)
    with pytest.raises(InputError, match="positive"):
        detect_aircraft(image, -0.5)
    with pytest.warns(UserWarning, match="far from the model") as caught:
        detect_aircraft(image, 0.1)
    assert len(caught) == 1  # once, not once per pass (it was printed three times)
    with pytest.warns(UserWarning, match="unknown"):
        detect_aircraft(image, None)


def test_missing_or_foreign_model_is_refused(tmp_path: Path) -> None:
    image = np.full((64, 64, 3), 160, np.uint8)
    with pytest.raises(InputError, match="does not exist"):
        detect_aircraft(image, 0.5, tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InputError, match="cannot be loaded"):
        detect_aircraft(image, 0.5, bad)


def test_corrupt_and_truncated_jpegs_raise_a_clear_error(tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    rng = np.random.default_rng(1)
    with rasterio.open(
        good, "w", driver="JPEG", width=256, height=256, count=3, dtype="uint8"
    ) as dst:
        dst.write(rng.integers(0, 255, (3, 256, 256), dtype=np.uint8))
    data = good.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8 definitely not the rest of a jpeg")
    for name in ("cut.jpg", "junk.jpg"):
        with pytest.raises(ImageryError, match="corrupt or truncated"):
            read_image(tmp_path / name)
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "absent.jpg")


def test_plain_image_has_no_georeference_and_geotiff_gives_its_gsd(tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    with rasterio.open(plain, "w", driver="PNG", width=32, height=32, count=1, dtype="uint8") as d:
        d.write(np.zeros((1, 32, 32), np.uint8))
    info = read_image(plain)
    assert info.crs is None and info.gsd_m is None and info.pixels.shape == (32, 32, 1)
    geo = tmp_path / "geo.tif"
    profile = {
        "driver": "GTiff",
        "width": 32,
        "height": 32,
        "count": 3,
        "dtype": "uint16",
        "crs": "EPSG:32636",
        "transform": from_origin(500000, 3900000, 0.3, 0.3),
    }
    with rasterio.open(geo, "w", **profile) as d:
        d.write(np.ones((3, 32, 32), np.uint16))
    info = read_image(geo)
    assert info.crs == "EPSG:32636" and info.gsd_m == pytest.approx(0.3)


# ------------------------------------------------------------------------------------------
# User YOLO models (built here with the onnx helper API)
# ------------------------------------------------------------------------------------------


def _tiny_yolo(path: Path, *, oriented: bool, names: dict[int, str] | None) -> None:
    """A 64 x 64 'YOLO' whose class-0 score is the brightness of each 8 x 8 cell.

    Output [1, 4 + 2 (+1), 64]: cell-centre boxes of 24 x 12 px, class scores (bright,
    1 - bright) and, for OBB, a constant angle of 0.5 rad.
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    ys, xs = np.mgrid[0:8, 0:8]
    boxes = np.stack([xs * 8 + 4, ys * 8 + 4, np.full_like(xs, 24), np.full_like(xs, 12)])
    consts = [numpy_helper.from_array(boxes.reshape(1, 4, 64).astype(np.float32), "boxes")]
    consts.append(numpy_helper.from_array(np.array([1, 1, 64], np.int64), "shape"))
    consts.append(numpy_helper.from_array(np.array([1.0], np.float32), "one"))
    if oriented:
        consts.append(numpy_helper.from_array(np.full((1, 1, 64), 0.5, np.float32), "angle"))
    nodes = [
        helper.make_node(
            "AveragePool", ["images"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]
        ),
        helper.make_node("ReduceMean", ["pooled"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("Reshape", ["grey", "shape"], ["bright"]),
        helper.make_node("Sub", ["one", "bright"], ["dark"]),
    ]
    parts = ["boxes", "bright", "dark"] + (["angle"] if oriented else [])
    nodes.append(helper.make_node("Concat", parts, ["output0"], axis=1))
    rows = 4 + 2 + (1 if oriented else 0)
    graph = helper.make_graph(
        nodes,
        "tiny-yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, rows, 64])],
        initializer=consts,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(
            model, {"names": repr(names), "task": "obb" if oriented else "detect"}
        )
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _bright_squares(shape: tuple[int, int], corners: list[tuple[int, int]]) -> np.ndarray:
    img = np.full((*shape, 3), 20, np.uint8)
    for x, y in corners:
        img[y : y + 24, x : x + 24] = 250
    return img


@pytest.mark.parametrize("oriented", [False, True])
def test_user_yolo_model_runs_tiled_with_names_from_metadata(
    tmp_path: Path, oriented: bool
) -> None:
    path = tmp_path / "tiny.onnx"
    _tiny_yolo(path, oriented=oriented, names={0: "plane", 1: "ground"})
    corners = [(10, 10), (100, 40), (150, 150)]
    image = _bright_squares((200, 220), corners)
    dets = yolo.detect_yolo(image, path, conf=0.9, iou=0.3, gsd_m=0.5)
    planes = [d for d in dets if d.cls == "aircraft"]
    assert planes and len(planes) <= 4 * len(corners)
    for d in planes:
        cx, cy = d.centroid_px
        assert any(x - 4 <= cx <= x + 28 and y - 4 <= cy <= y + 28 for x, y in corners)
    for x, y in corners:  # every square found
        assert any(
            abs(d.centroid_px[0] - x - 12) <= 12 and abs(d.centroid_px[1] - y - 12) <= 12
            for d in planes
        )
    assert all(
        d.length_m == pytest.approx(12.0) and d.width_m == pytest.approx(6.0) for d in planes
    )
    if oriented:
        assert all(d.heading_deg is not None for d in planes)
        # a 24 x 12 box turned by 0.5 rad spans more than 24 px across
        assert all(d.bbox_px[2] > 24 for d in planes)
    else:
        assert all(d.bbox_px[2] == 24 and d.bbox_px[3] == 12 for d in planes)
    ground = [d for d in dets if d.cls == "object"]
    assert ground, "the dark background is the model's second class, mapped to 'object'"


def test_user_yolo_names_file_and_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "tiny.onnx"
    _tiny_yolo(path, oriented=False, names=None)
    image = _bright_squares((64, 64), [(20, 20)])
    with pytest.raises(InputError, match="no class names"):
        yolo.load_yolo(path)
    (tmp_path / "names.txt").write_text("ship\nwater\n")
    dets = yolo.detect_yolo(image, path, names=tmp_path / "names.txt", conf=0.9)
    assert {d.cls for d in dets} >= {"ship"}
    (tmp_path / "names.yaml").write_text("names:\n  0: small-vehicle\n  1: x\n")
    assert yolo.read_names(tmp_path / "names.yaml") == ("small-vehicle", "x")
    (tmp_path / "three.json").write_text(json.dumps(["a", "b", "c"]))
    with pytest.raises(InputError, match="fits neither"):
        yolo.load_yolo(path, tmp_path / "three.json")


def test_yolo_decode_picks_best_class_and_threshold() -> None:
    out = np.array(
        [
            [10, 50],  # cx
            [20, 60],  # cy
            [4, 8],  # w
            [2, 8],  # h
            [0.1, 0.95],  # class 0
            [0.8, 0.2],  # class 1
        ],
        np.float32,
    )
    boxes, cls, geom = yolo.decode(out, nc=2, oriented=False, conf=0.5)
    assert cls.tolist() == [1, 0]
    assert boxes[:, :4].tolist() == [[8, 19, 12, 21], [46, 56, 54, 64]]
    assert geom[:, 2].tolist() == [0, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert yolo.basewatch_class("Small_Vehicle") == "vehicle"
        assert yolo.basewatch_class("storage-tank") == "object"


def test_training_without_torch_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from basewatch.train.run import require_torch

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(InputError, match=r"basewatch\[train\]"):
        require_torch()


def test_yolo_models_are_told_apart_from_basewatch_models(tmp_path: Path) -> None:
    path = tmp_path / "tiny.onnx"
    _tiny_yolo(path, oriented=False, names={0: "plane", 1: "ground"})
    assert yolo.is_yolo_model(path)
    assert not yolo.is_yolo_model(DEFAULT_MODEL)
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    assert not yolo.is_yolo_model(tmp_path / "junk.onnx")
    with pytest.raises(InputError, match="not a basewatch aircraft model"):
        detect_aircraft(np.full((64, 64, 3), 150, np.uint8), 0.5, path)


def test_pipeline_counts_highres_aircraft_with_the_trained_model() -> None:
    from basewatch.observe import detector_identity

    assert detector_identity("aircraft", "highres") == (aircraft.NAME, aircraft.VERSION)
    assert detector_identity("vehicle", "highres")[0] == "highres-classical"


def test_simulated_airfield_aircraft_are_mostly_found() -> None:
    from basewatch.train.evaluate import match
    from basewatch.train.simulated import simulated_airfield

    item = simulated_airfield(2000)  # not one of the simulated training seeds (1000-1005)
    assert item.pixels is not None and len(item.boxes) >= 6
    dets = detect_aircraft(item.pixels, item.gsd_m)
    pred = _as_rows(dets)
    matched = match(pred, item.boxes)
    assert matched >= 0.5 * len(item.boxes)
    assert matched >= 0.8 * len(pred)
    west = np.zeros(item.pixels.shape[:2], bool)
    west[:, : west.shape[1] // 2] = True
    kept = detect_aircraft(item.pixels, item.gsd_m, search_mask=west)
    assert {d.bbox_px for d in kept} == {d.bbox_px for d in dets if d.centroid_px[0] < 512}
    with pytest.raises(InputError, match="search_mask"):
        detect_aircraft(item.pixels, item.gsd_m, search_mask=west[:10])


# ------------------------------------------------------------------------------------------
# One input path: `basewatch detect --sensor highres` and the monitor see the same pixels
# ------------------------------------------------------------------------------------------


def test_pipeline_chips_convert_back_to_the_exact_8_bit_values() -> None:
    rng = np.random.default_rng(3)
    rgb8 = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    chip = rgb8 / 255.0  # what the loader makes of an 8-bit visual asset
    chip[:3] = np.nan  # outside the image footprint
    back = to_rgb8(chip)
    assert np.array_equal(back[3:], rgb8[3:]) and not back[:3].any()
    assert np.array_equal(aircraft.fraction_to_uint8(rgb8 / 255.0), rgb8)
    # darker float data (reflectance) is still stretched to the full 8-bit range
    assert to_rgb8(rng.random((20, 20, 3)) * 0.2).max() == 255


def test_detect_and_the_monitor_give_identical_boxes_for_the_same_image(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from shapely.geometry import box as shapely_box

    from basewatch.detect.run import detect_highres, read_highres
    from basewatch.imagery.catalog import Scene
    from basewatch.imagery.load import LoadParams, load_chip, zone_grid
    from basewatch.observe import inside_zone, observe
    from basewatch.sites import Zone
    from basewatch.train.simulated import simulated_airfield

    geometry = shapely_box(35.945, 35.398, 35.951, 35.403)
    zone = Zone(site_id="s", id="apron", kind="apron", target="aircraft", geometry=geometry)
    margin = LoadParams().highres_margin_m
    crs, transform, width, height, _ = zone_grid(geometry, resolution_m=0.5, margin_m=margin)
    item = simulated_airfield(2001, size_px=max(width, height))
    assert item.pixels is not None
    pixels = item.pixels[:height, :width]
    path = tmp_path / "apron_2024-12-01.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs=crs,
        transform=transform,
    ) as dst:
        dst.write(pixels.transpose(2, 0, 1))
    scene = Scene(
        id="apron-1",
        collection="",
        sensor="highres",
        time=datetime(2024, 12, 1, tzinfo=UTC),
        bbox=geometry.bounds,
        cloud_cover=None,
        assets={"visual": str(path)},
    )
    chip = load_chip(scene, zone)
    assert chip.zone_mask.shape == (height, width)
    raster = read_highres(path)
    dets, _ = detect_highres(raster, 0.5, None)
    inside = sorted(
        d.bbox_px
        for d in dets
        if aircraft.centre_inside(d, chip.zone_mask) and inside_zone(d, chip)
    )
    obs = observe(chip, zone)
    monitored = sorted(tuple(f["properties"]["bbox_px"]) for f in obs.detections)
    assert len(monitored) >= 3  # the simulated apron holds aircraft and the model sees them
    assert monitored == inside


def test_coarse_pass_replaces_the_fragments_of_a_large_aircraft() -> None:
    fine = np.array(
        [
            [0, 0, 40, 40, 0.6],  # two fragments of one 100 px wide-body
            [60, 0, 100, 40, 0.5],
            [300, 300, 330, 330, 0.7],  # a small aircraft elsewhere
        ],
        np.float32,
    )
    coarse = np.array(
        [[0, 0, 100, 90, 0.55], [298, 298, 332, 332, 0.6]],  # whole wide-body; the small one
        np.float32,
    )
    merged = aircraft.merge_scales(fine, coarse, large_px=80)
    assert sorted(map(tuple, merged[:, :4].tolist())) == [(0, 0, 100, 90), (300, 300, 330, 330)]
    assert np.array_equal(aircraft.merge_scales(fine, coarse, large_px=0), fine)
    assert np.array_equal(aircraft.merge_scales(fine, coarse[:0], large_px=80), fine)

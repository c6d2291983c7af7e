"""The trained Sentinel-2 ship detector: labels (sen2ships layout, RLE masks), copy-paste,
the shared CenterNet trainer on a tiny port, the shipped model on a real port crop, and its
use by ``basewatch detect --sensor s2`` and the pipeline."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from _synthetic import coverage
from click.testing import CliRunner
from rasterio.transform import from_origin
from scipy import ndimage

from basewatch.detect import Detection, optical, ships_s2
from basewatch.detect.run import _detector_name, detect_image, read_s2
from basewatch.errors import InputError
from basewatch.observe import detector_identity

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "s2_ships_sen2ships_ports"
PX = 10.0
WATER = {"blue": 0.06, "green": 0.05, "red": 0.03, "nir": 0.02}
LAND = {"blue": 0.07, "green": 0.09, "red": 0.11, "nir": 0.25}
CODES = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}
SHIPS = [
    (400.0, 1000.0, 135.0, 16.0, 0.0),
    (430.0, 1000.0, 110.0, 15.0, 0.0),
    (1100.0, 1400.0, 100.0, 14.0, 60.0),
]
"""(x_m, y_m, length_m, beam_m, heading) of the tiny port's ships: two moored side by side."""


def rle(mask: np.ndarray) -> dict[str, object]:
    """Uncompressed COCO RLE (column-major) of a boolean mask."""
    flat = mask.T.ravel()
    counts, current, run = [], False, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = bool(value), 0
        run += 1
    counts.append(run)
    return {"counts": counts, "size": list(mask.shape)}


def tiny_port(root: Path, name: str = "port", seed: int = 0) -> list[list[float]]:
    """A 192 x 192 px Sentinel-2 port in the sen2ships layout (land on top, a quay, ships)."""
    rng = np.random.default_rng(seed)
    shape = (192, 192)
    bands = {b: np.full(shape, v) for b, v in WATER.items()}
    for b, v in LAND.items():
        bands[b][:40] = v
        bands[b][40:90, :30] = 0.2  # quay
    masks, boxes = [], []
    for ship in SHIPS:
        cover = coverage(shape, [ship], PX)
        for b in bands:
            hull = 0.2 if b == "nir" else 0.15
            bands[b] = bands[b] * (1 - cover) + hull * cover
        mask = cover > 0.25
        rows, cols = np.nonzero(mask)
        masks.append(mask)
        boxes.append(
            [float(cols.min()), float(rows.min()), float(np.ptp(cols) + 1), 1.0 + np.ptp(rows)]
        )
    folder = root / name
    folder.mkdir(parents=True)
    profile = {"driver": "GTiff", "height": 192, "width": 192, "count": 1, "dtype": "uint16"}
    profile |= {"crs": "EPSG:32636", "transform": from_origin(600_000, 3_920_000, PX, PX)}
    for b, code in CODES.items():
        refl = ndimage.gaussian_filter(bands[b], 0.5) + rng.normal(0, 0.004, shape)
        with rasterio.open(
            folder / f"2024-12-01_Sentinel-2_L2A_{code}_Raw.tiff", "w", **profile
        ) as f:
            f.write(np.round(refl.clip(1e-4, 1) * 65535).astype("uint16"), 1)
    coco_path = root / "coco_annotations.json"
    coco = (
        json.loads(coco_path.read_text())
        if coco_path.exists()
        else {"images": [], "annotations": []}
    )
    image_id = len(coco["images"]) + 1
    coco["images"].append(
        {"id": image_id, "file_name": f"{name}_rgb.tiff", "width": 192, "height": 192}
    )
    for box, mask in zip(boxes, masks, strict=True):
        coco["annotations"].append(
            {"image_id": image_id, "category_id": 1, "bbox": box, "segmentation": rle(mask)}
        )
    coco_path.write_text(json.dumps(coco))
    return boxes


# --------------------------------------------------------------------------------------------
# Labels and augmentation (no torch needed for the readers)
# --------------------------------------------------------------------------------------------


def test_rle_masks_decode_to_the_drawn_ships(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from basewatch.train.ships import decode_rle, load_ports

    mask = np.zeros((7, 5), bool)
    mask[2:5, 1:3] = True
    mask[6, 4] = True
    assert (decode_rle(rle(mask), (7, 5)) == mask).all()
    boxes = tiny_port(tmp_path)
    (scene,) = load_ports(tmp_path)
    assert scene.name == "port" and scene.gsd_m == pytest.approx(PX, rel=1e-3)
    assert scene.boxes[:, :2].tolist() == [b[:2] for b in boxes]
    # the 135 m ship's mask is 14 px long; its pixels are brighter in nir than the water
    assert scene.masks[0].sum(axis=0).max() >= 13
    assert float(scene.pixels[:, :, 3][50:150, 100:190].mean()) < 0.03


def test_partial_ports_and_labels_on_a_stretched_preview_are_read(tmp_path: Path) -> None:
    """A port without blue/green/red is read with those bands missing; labels drawn on a
    preview stretched to another size (as sen2ships' Qingdao) are registered to the bands."""
    pytest.importorskip("torch")
    from PIL import Image

    from basewatch.train.ships import load_ports

    boxes = tiny_port(tmp_path)
    folder = tmp_path / "port"
    for code in ("B02", "B03", "B04"):
        next(folder.glob(f"*{code}*")).unlink()
    (scene,) = load_ports(tmp_path)
    assert scene.present == ("nir",)
    assert float(scene.pixels[:, :, 0].max()) == ships_s2.MISSING
    # the labels and a preview on a 192 x 150 grid: rows squeezed by 192 / 150
    tiny_port(tmp_path, "squeezed", seed=2)
    folder = tmp_path / "squeezed"
    with rasterio.open(next(folder.glob("*B02*"))) as src:
        blue = src.read(1).astype(float)
    preview = np.asarray(Image.fromarray(blue).resize((192, 150), Image.BILINEAR))
    preview8 = np.round(255 * (preview - preview.min()) / np.ptp(preview)).astype(np.uint8)
    Image.fromarray(np.dstack([preview8] * 3)).save(folder / "x_True_color.png")
    coco_path = tmp_path / "coco_annotations.json"
    coco = json.loads(coco_path.read_text())
    image = [i for i in coco["images"] if i["file_name"] == "squeezed_rgb.tiff"][0]
    image["height"] = 150
    for ann in coco["annotations"]:
        if ann["image_id"] == image["id"]:
            x, y, w, h = ann["bbox"]
            ann["bbox"] = [x, y * 150 / 192, w, h * 150 / 192]
            ann["segmentation"] = rle(np.zeros((150, 192), bool))
    coco_path.write_text(json.dumps(coco))
    scene = load_ports(tmp_path, ["squeezed"])[0]
    assert scene.present == ships_s2.MIN_BANDS
    for (x0, y0, x1, y1), (x, y, w, h) in zip(scene.boxes, boxes, strict=True):
        assert abs(x0 - x) < 1.0 and abs(x1 - x0 - w) < 1.0
        assert abs(y0 - y) < 1.5 and abs(y1 - y0 - h) < 1.5
    # a preview that shows something else is refused
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (150, 192, 3), np.uint8)).save(
        folder / "x_True_color.png"
    )
    with pytest.raises(InputError, match="cannot be registered"):
        load_ports(tmp_path, ["squeezed"])


def test_band_dropout_keeps_one_usable_band_and_marks_the_rest_missing() -> None:
    torch = pytest.importorskip("torch")
    from basewatch.train.ships import BandRobust, drop_bands

    x = torch.full((5, 8, 8), 0.05)
    x[4] = ships_s2.MISSING  # no swir16 in this port
    rng = np.random.default_rng(0)
    for _ in range(50):
        y = drop_bands(x, rng, keep=0.2)
        kept = [b for i, b in enumerate(ships_s2.BANDS) if float(y[i, 0, 0]) > -0.5]
        assert kept and set(kept) <= {"blue", "green", "red", "nir"}
        assert all(
            float(y[i].min()) == ships_s2.MISSING
            for i in range(5)
            if i not in [ships_s2.BANDS.index(b) for b in kept]
        )
    # the graph's input module: a missing band contributes zeros, whatever its value
    a = BandRobust()(x[None])
    b = x.clone()
    b[4] = -7.0
    assert torch.allclose(a, BandRobust()(b[None]))
    assert a.shape == (1, 17, 8, 8) and float(a[0, 14].max()) == 0.0  # swir16 availability


def test_wrong_folders_and_ports_are_named(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from basewatch.train.ships import load_ports

    with pytest.raises(InputError, match="coco_annotations.json"):
        load_ports(tmp_path)
    tiny_port(tmp_path)
    with pytest.raises(InputError, match="choose from port"):
        load_ports(tmp_path, ["athens"])


def test_copy_paste_puts_a_ship_into_open_water_with_its_box() -> None:
    torch = pytest.importorskip("torch")
    from basewatch.train.ships import Patch, paste_ships

    water = torch.tensor([0.06, 0.05, 0.03, 0.02])[:, None, None].expand(4, 64, 64).clone()
    water[:, :20] = torch.tensor([0.07, 0.09, 0.11, 0.25])[:, None, None]  # land on top
    alpha = np.zeros((14, 4), np.float32)
    alpha[1:13, 1:3] = 1.0
    patch = Patch(pixels=np.full((4, 14, 4), 0.18, np.float32), alpha=alpha)
    out, boxes = paste_ships(
        water, np.zeros((0, 4), np.float32), np.random.default_rng(1), [patch], 2
    )
    assert len(boxes) >= 1
    for x0, y0, x1, y1 in boxes:
        assert y0 >= 20  # only into water
        assert {x1 - x0, y1 - y0} in ({2.0, 12.0}, {12.0, 2.0})
        assert float(out[3, int(y0) : int(y1), int(x0) : int(x1)].mean()) == pytest.approx(0.18)


# --------------------------------------------------------------------------------------------
# Training a tiny model with the shared trainer and running it
# --------------------------------------------------------------------------------------------


def test_train_ships_cli_exports_a_model_the_detector_runs(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from basewatch.cli import cli

    tiny_port(tmp_path / "data", "north", seed=0)
    tiny_port(tmp_path / "data", "south", seed=1)
    out = tmp_path / "ships.onnx"
    args = ["train", "ships", "--data", str(tmp_path / "data"), "--out", str(out)]
    result = CliRunner().invoke(
        cli,
        [*args, "--ports", "north", "--epochs", "1", "--steps", "2", "--batch", "2"]
        + ["--detector", "cnn"],
    )
    assert result.exit_code == 0, result.output
    assert "trained on north (3 ships)" in result.output
    session, info = ships_s2.load_model(out)
    assert info.gsd_m == 10.0 and info.stride == 1 and info.bands == ships_s2.BANDS
    assert info.kind == "ships-s2-centernet" and ships_s2.accepts_missing(session)
    # the network takes raw reflectance: 5 bands in (-1 = missing), a heatmap cell per pixel
    image = np.full((1, 5, 64, 96), 0.05, np.float32)
    image[:, 4] = ships_s2.MISSING
    heat, reg = session.run(None, {"image": image})
    assert heat.shape == (1, 1, 64, 96) and reg.shape == (1, 4, 64, 96)
    raster = read_s2(tmp_path / "data" / "south", 1 / 65535)
    dets = ships_s2.detect_ships_s2(raster.bands, pixel_size_m=10.0, model=out, threshold=0.0)
    assert dets and all(d.cls == "ship" for d in dets)
    # bands may be missing: nir alone, or the visible bands alone, still run
    for names in (("nir",), ("blue", "green", "red")):
        part = {b: raster.bands[b] for b in names}
        some = ships_s2.detect_ships_s2(part, pixel_size_m=10.0, model=out, threshold=0.0)
        assert some and all(d.cls == "ship" for d in some)
    water = optical.water_mask(raster.bands)
    near = ndimage.distance_transform_edt(~water) * PX <= ships_s2.NEAR_WATER_M
    assert all(near[int(d.centroid_px[1]), int(d.centroid_px[0])] for d in dets)
    # --model replaces the shipped model in `basewatch detect --sensor s2`
    via_cli = detect_image(tmp_path / "data" / "south", sensor="s2", model=out, scale=1 / 65535)
    assert via_cli.reason is None
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:12]  # never the shipped model's name
    user = f"s2-ships-cnn/{info.version} (user model ships.onnx, sha256 {digest})"
    assert via_cli.detector == user
    bad = CliRunner().invoke(cli, [*args, "--ports", "athens"])
    assert isinstance(bad.exception, InputError) and "choose from north, south" in str(
        bad.exception
    )
    wrong = CliRunner().invoke(cli, ["train", "ships", "--data", str(tmp_path), "--out", str(out)])
    assert isinstance(wrong.exception, InputError) and "sen2ships layout" in str(wrong.exception)


# --------------------------------------------------------------------------------------------
# The shipped model
# --------------------------------------------------------------------------------------------


def test_pipeline_and_detect_record_the_ship_model() -> None:
    assert detector_identity("ship", "sentinel-2") == (ships_s2.NAME, ships_s2.VERSION)
    assert _detector_name("s2") == f"{ships_s2.NAME}/{ships_s2.VERSION}"
    assert detector_identity("aircraft", "sentinel-2")[0] == "s2-contrast-apron"
    _, info = ships_s2.load_model()
    assert info.gsd_m == ships_s2.MODEL_GSD_M and info.kind == "ships-s2-centernet"


def _labels(port: str) -> list[list[float]]:
    """The labelled boxes ``[x, y, w, h]`` of a shared sen2ships port (skip when absent)."""
    coco_path = DATA / "coco_annotations.json"
    if not coco_path.exists() or not (DATA / port).is_dir():
        pytest.skip(f"sen2ships {port} not found at {DATA} (shared data folder absent)")
    coco = json.loads(coco_path.read_text())
    (image,) = [i for i in coco["images"] if i["file_name"] == f"{port}_rgb.tiff"]
    return [a["bbox"] for a in coco["annotations"] if a["image_id"] == image["id"]]


def _hits(dets: list[Detection], boxes: list[list[float]]) -> set[int]:
    """Boxes ``[x, y, w, h]`` holding a detection's centre, one detection per box."""
    hits: set[int] = set()
    for d in dets:
        col, row = d.centroid_px[0] + 0.5, d.centroid_px[1] + 0.5
        for i, (x, y, w, h) in enumerate(boxes):
            if i not in hits and x <= col <= x + w and y <= row <= y + h:
                hits.add(i)
                break
    return hits


def _athens() -> tuple[dict[str, np.ndarray], np.ndarray, list[list[float]], float]:
    boxes = _labels("athens")
    raster = read_s2(DATA / "athens", 1 / 65535)
    return raster.bands, raster.valid, boxes, float(raster.pixel_size_m or PX)


def test_shipped_model_finds_moored_ships_in_piraeus_and_nothing_on_land() -> None:
    bands, valid, boxes, px = _athens()
    r0, r1, c0, c1 = 540, 780, 340, 940  # Perama nest, Piraeus container quays and piers
    crop = {b: v[r0:r1, c0:c1] for b, v in bands.items()}
    dets = optical.detect_ships(crop, pixel_size_m=px, valid=valid[r0:r1, c0:c1])
    inside = [
        (x - c0, y - r0, w, h)
        for x, y, w, h in boxes
        if c0 <= x and x + w <= c1 and r0 <= y and y + h <= r1
    ]
    hits = _hits(dets, inside)
    assert len(inside) >= 15
    assert len(hits) >= 0.6 * len(inside), (len(hits), len(inside), len(dets))
    assert len(dets) <= 2 * len(inside)
    assert all(15 <= d.length_m <= 400 for d in dets)
    # open land (the hills north of Perama, bright in nir): the network itself finds nothing,
    # even when told the whole crop is water
    r0, r1, c0, c1 = 230, 390, 420, 680
    land = {b: v[r0:r1, c0:c1] for b, v in bands.items()}
    assert float(np.median(land["nir"])) > 0.15
    everywhere = np.ones(land["nir"].shape, bool)
    assert ships_s2.detect_ships_s2(land, pixel_size_m=px, water=everywhere) == []


def test_ports_lacking_a_band_run_the_shipped_two_stage_detector() -> None:
    """Los Angeles (nir and swir16 only): the CNN cannot run, so ``basewatch detect`` runs the
    shipped two-stage detector, names it in its output, and finds most labelled ships (its
    training port; bench/eval_ships.py: 39 of 57 at 100 detections)."""
    assert ships_s2.identity(["blue", "green", "red", "nir"]) == (ships_s2.NAME, ships_s2.VERSION)
    assert ships_s2.identity(["blue", "green", "red", "nir", "swir16"])[0] == ships_s2.NAME
    assert ships_s2.identity(["green", "red", "nir", "swir16"]) == (
        ships_s2.PARTIAL_NAME,
        ships_s2.PARTIAL_VERSION,
    )
    _, info = ships_s2.load_model(ships_s2.PARTIAL_MODEL)
    assert ships_s2.is_verifier(info)
    boxes = _labels("los_angeles")
    result = detect_image(DATA / "los_angeles", sensor="s2")
    assert result.detector == f"{ships_s2.PARTIAL_NAME}/{ships_s2.PARTIAL_VERSION}"
    hits = _hits(result.detections, boxes)
    assert len(hits) >= 0.5 * len(boxes), (len(hits), len(boxes), len(result.detections))
    assert len(result.detections) <= 2 * len(boxes)


def test_shipped_model_is_independent_of_the_crop_around_a_ship() -> None:
    """Fixed normalisation: a ship scores the same in a small chip as in the whole port."""
    bands, valid, boxes, px = _athens()
    whole = optical.detect_ships(bands, pixel_size_m=px, valid=valid)
    big = max(whole, key=lambda d: d.score)
    col, row = (int(v) for v in big.centroid_px)
    r0, c0 = max(0, row - 40), max(0, col - 40)
    chip = {b: v[r0 : row + 40, c0 : col + 40] for b, v in bands.items()}
    found = optical.detect_ships(chip, pixel_size_m=px)
    near = [
        d
        for d in found
        if math.dist((d.centroid_px[0] + c0, d.centroid_px[1] + r0), big.centroid_px) < 3
    ]
    assert near and abs(near[0].score - big.score) < 0.25


def test_bad_inputs_give_clear_errors_or_nothing() -> None:
    rng = np.random.default_rng(0)
    good = {b: rng.uniform(0.01, 0.05, (64, 64)).astype(np.float32) for b in ships_s2.MIN_BANDS}
    with pytest.raises(InputError, match="all missing"):
        ships_s2.detect_ships_s2({"swir16": good["nir"]}, pixel_size_m=PX)
    with pytest.raises(InputError, match="outside 5.0-20.0 m"):
        ships_s2.detect_ships_s2(good, pixel_size_m=60.0)
    with pytest.raises(InputError, match="not a Sentinel-2 ship model"):
        ships_s2.load_model(
            Path(__file__).resolve().parents[1] / "basewatch" / "models" / "aircraft.onnx"
        )
    nodata = {b: np.full((64, 64), np.nan, np.float32) for b in ships_s2.MIN_BANDS}
    assert ships_s2.detect_ships_s2(nodata, pixel_size_m=PX) == []
    assert ships_s2.detect_ships_s2(good, pixel_size_m=PX, valid=np.zeros((64, 64), bool)) == []


def test_simulated_harbours_label_every_moored_ship() -> None:
    pytest.importorskip("torch")
    from basewatch.train.simulated import simulated_harbour

    scene = simulated_harbour(2003)
    assert scene.simulated and scene.gsd_m == PX and len(scene.boxes) >= 3
    nir = scene.pixels[:, :, 3]
    water = float(np.median(nir[-40:]))
    assert water < 0.05
    for (x0, y0, x1, y1), mask in zip(scene.boxes.astype(int), scene.masks, strict=True):
        assert mask.shape == (y1 - y0, x1 - x0) and mask.any()
        assert float(nir[y0:y1, x0:x1][mask].max()) > water + 0.04


def test_side_by_side_ships_keep_separate_elongated_peaks() -> None:
    pytest.importorskip("torch")
    from basewatch.train.centernet import targets
    from basewatch.train.ships import mask_axis

    mask = np.zeros((20, 6), bool)
    mask[3:17, 2:4] = True  # a 14 px ship pointing north-south
    ux, uy, length = mask_axis(mask)
    assert abs(uy) == pytest.approx(1.0) and length == pytest.approx(14.0, abs=1.5)
    # two such ships moored 2 px apart, centres at x = 20 and 22
    boxes = np.array([[19, 13, 21, 27, ux, uy, length], [21, 13, 23, 27, ux, uy, length]])
    hm, _, centres = targets(boxes.astype(np.float32), 48, stride=1, min_sigma=0.8)
    assert centres.sum() == 2 and hm[0, 20, 20] == 1.0 and hm[0, 20, 22] == 1.0
    assert hm[0, 20, 21] < 0.6  # a dip between them: two peaks
    assert hm[0, 22, 20] > 0.6 > hm[0, 20, 18]  # long along the keel, narrow across

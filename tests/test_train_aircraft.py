"""Training the aircraft detector: labels (Airbus layout, COCO), augmentation geometry,
targets, and a one-epoch CLI run on a tiny synthetic dataset that exports a usable ONNX."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from basewatch.cli import cli  # noqa: E402
from basewatch.detect.aircraft import STRIDE, detect_aircraft, load_model  # noqa: E402
from basewatch.detect.run import detect_image  # noqa: E402
from basewatch.errors import InputError  # noqa: E402
from basewatch.train import aircraft as tr  # noqa: E402
from basewatch.train.labels import load_labels  # noqa: E402


def _cross(img: np.ndarray, x: int, y: int, size: int, level: int) -> None:
    half, arm = size // 2, max(2, size // 8)
    img[y - arm : y + arm, x - half : x + half] = level
    img[y - half : y + half, x - arm : x + arm] = level


def _write_jpeg(path: Path, img: np.ndarray) -> None:
    with rasterio.open(
        path, "w", driver="JPEG", width=img.shape[1], height=img.shape[0], count=3, dtype="uint8"
    ) as dst:
        dst.write(img.transpose(2, 0, 1))


def _tiny_airbus(root: Path, n_images: int = 2, seed: int = 0) -> list[list[tuple[int, ...]]]:
    """Airbus-layout folder: 320 px grey images with 3 bright crosses each (60 px = 30 m)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = ["id,image_id,geometry,class"]
    all_boxes = []
    k = 0
    for i in range(n_images):
        img = rng.normal(150, 6, (320, 320, 3)).clip(0, 255).astype(np.uint8)
        boxes = []
        for x, y in ((70, 80), (220, 100), (150, 240)):
            _cross(img, x, y, 60, 235)
            boxes.append((x - 30, y - 30, x + 30, y + 30))
            poly = [(x - 30, y - 30), (x + 30, y - 30), (x + 30, y + 30), (x - 30, y + 30)]
            k += 1
            rows.append(f'{k},img{i}.jpg,"{poly + poly[:1]}",Airplane')
        k += 1
        rows.append(f'{k},img{i}.jpg,"[(0, 0), (5, 0), (5, 5), (0, 0)]",Helipad')
        _write_jpeg(root / "images" / f"img{i}.jpg", img)
        all_boxes.append(boxes)
    rows.append(f'{k + 1},absent.jpg,"[(0, 0), (5, 0), (5, 5), (0, 0)]",Airplane')
    (root / "annotations.csv").write_text("\n".join(rows) + "\n")
    return all_boxes


def test_airbus_and_coco_labels_read_the_same_boxes(tmp_path: Path) -> None:
    boxes = _tiny_airbus(tmp_path / "airbus")
    items = load_labels(tmp_path / "airbus")
    assert [im.name for im in items] == ["img0.jpg", "img1.jpg"]  # absent.jpg skipped
    assert items[0].boxes.tolist() == [list(b) for b in boxes[0]]  # Helipad ignored
    coco = {
        "images": [{"id": 7, "file_name": "img1.jpg", "width": 320, "height": 320}],
        "categories": [{"id": 1, "name": "plane"}, {"id": 2, "name": "car"}],
        "annotations": [
            {"image_id": 7, "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0]}
            for x0, y0, x1, y1 in boxes[1]
        ]
        + [{"image_id": 7, "category_id": 2, "bbox": [1, 1, 4, 4]}],
    }
    (tmp_path / "airbus" / "labels.json").write_text(json.dumps(coco))
    from_coco = load_labels(tmp_path / "airbus" / "labels.json")
    assert len(from_coco) == 1
    assert from_coco[0].boxes.tolist() == items[1].boxes.tolist()
    with pytest.raises(InputError, match="annotations.csv"):
        load_labels(tmp_path / "airbus" / "images")
    for gsd in (0.0, -1.0, float("nan"), 30.0):  # was a ZeroDivisionError / numpy traceback
        with pytest.raises(InputError, match=r"--gsd .*0\.05-5 m"):
            load_labels(tmp_path / "airbus", gsd_m=gsd)


@pytest.mark.parametrize("seed", range(6))
def test_augmented_crop_moves_boxes_with_the_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = torch.zeros(3, 300, 300)
    image[:, 140:160, 100:120] = 1.0  # one bright 20 x 20 object centred at (110, 150)
    item = tr.Prepared(image=image, boxes=np.array([[100, 140, 120, 160]], np.float32))
    angle = float(rng.uniform(0, 2 * math.pi))
    scale = float(rng.uniform(0.8, 1.25))
    flip = bool(seed % 2)
    centre = np.array([110.0, 150.0]) + rng.uniform(-30, 30, 2)
    crop, boxes = tr._crop(item, centre, angle, scale, flip, 128)
    assert boxes.shape == (1, 4)
    grey = crop[0].numpy()
    rows, cols = np.nonzero(grey > 0.5)
    cx, cy = (boxes[0, 0] + boxes[0, 2]) / 2, (boxes[0, 1] + boxes[0, 3]) / 2
    assert abs(cols.mean() + 0.5 - cx) < 1.5 and abs(rows.mean() + 0.5 - cy) < 1.5
    side = 20 / scale
    assert side * 0.95 <= boxes[0, 2] - boxes[0, 0] <= side * math.sqrt(2) * 1.05


def test_targets_peak_at_box_centres() -> None:
    boxes = np.array([[10, 10, 50, 40], [100, 60, 140, 120]], np.float32)
    hm, reg, mask = tr.targets(boxes, 160)
    assert hm.shape == (1, 40, 40) and mask.sum() == 2
    i, j = 25 // STRIDE, 30 // STRIDE
    assert hm[0, i, j] == 1.0 and mask[0, i, j] == 1.0
    assert reg[:, i, j] == pytest.approx([30 / 4 - j, 25 / 4 - i, math.log(40), math.log(30)])
    assert hm[0, 0, 39] < 1e-3


def test_one_epoch_cli_run_exports_a_model_the_detector_loads(tmp_path: Path) -> None:
    _tiny_airbus(tmp_path / "data", n_images=3)
    out = tmp_path / "model.onnx"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "aircraft",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--steps",
            "2",
            "--batch",
            "2",
            "--val-images",
            "img2.jpg",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "trained on 2 images + 0 simulated (6 aircraft)" in result.output
    assert "held-out: precision" in result.output
    _, info = load_model(out)
    assert info.gsd_m == 1.0 and info.stride == STRIDE
    image = np.full((300, 300, 3), 150, np.uint8)
    dets = detect_aircraft(image, 0.5, out, threshold=0.99)
    assert isinstance(dets, list)
    # `basewatch detect --model` names the user's file, never the shipped model
    image_path = tmp_path / "data" / "images" / "img0.jpg"
    named = detect_image(image_path, sensor="highres", gsd_m=0.5, model=out).detector
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:12]
    assert named == f"highres-aircraft-cnn/{info.version} (user model model.onnx, sha256 {digest})"


def test_cli_rejects_bad_arguments(tmp_path: Path) -> None:
    _tiny_airbus(tmp_path / "data", n_images=1)
    runner = CliRunner()
    bad_out = runner.invoke(
        cli, ["train", "aircraft", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "m")]
    )
    assert isinstance(bad_out.exception, InputError) and ".onnx" in str(bad_out.exception)
    unknown = runner.invoke(
        cli,
        [
            "train",
            "aircraft",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "m.onnx"),
            "--val-images",
            "nope.jpg",
        ],
    )
    assert isinstance(unknown.exception, InputError) and "nope.jpg" in str(unknown.exception)

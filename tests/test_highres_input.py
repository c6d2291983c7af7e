"""One input path for the aircraft network: `basewatch detect --sensor highres` and the
monitor's chips turn 16-bit and float imagery into the same 8-bit input, by one rule per file
(:func:`basewatch.detect.aircraft.asset_stretch`) that does not depend on a chip's extent.

The images are a real Airbus Pleiades 50 cm crop (shared data) rewritten as a 12-bit product
in uint16 and as float reflectance, georeferenced on a zone's grid."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box as shapely_box

from basewatch.detect import aircraft
from basewatch.detect.run import detect_highres, detect_image, read_highres
from basewatch.errors import ImageryError
from basewatch.imagery.catalog import Scene
from basewatch.imagery.chip import Chip
from basewatch.imagery.load import LoadParams, load_chip, zone_grid
from basewatch.observe import inside_zone, observe
from basewatch.sites import Zone

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "aircraft_airbus_pleiades_50cm"
REAL_IMAGE = "4f833867-273e-4d73-8bc3-cb2d9ceb54ef.jpg"
ZONE = Zone(
    site_id="s",
    id="apron",
    kind="apron",
    target="aircraft",
    geometry=shapely_box(35.945, 35.398, 35.9495, 35.4017),
)
CROP_ROW, CROP_COL = 1300, 1400
"""Top-left pixel of the zone's window in the Airbus image (8 labelled aircraft inside)."""


def _airbus() -> np.ndarray:
    """The shared Airbus image as (rows, cols, 3) uint8."""
    from basewatch.train.labels import read_image

    path = DATA / "images" / REAL_IMAGE
    if not path.is_file():
        pytest.skip(f"shared Airbus sample not found at {path}")
    pixels = read_image(path).pixels
    assert pixels is not None
    return np.asarray(pixels)[:, :, :3]


def _as_12_bit(rgb8: np.ndarray) -> np.ndarray:
    """8-bit values as counts of a 12-bit sensor in uint16 (dark offset, gain: 150-3720)."""
    return (150 + 14 * rgb8.astype(np.uint16)).astype(np.uint16)


def _write(path: Path, pixels: np.ndarray, transform: Affine, crs: object) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=pixels.shape[1],
        height=pixels.shape[0],
        count=3,
        dtype=pixels.dtype.name,
        crs=crs,
        transform=transform,
    ) as dst:
        dst.write(pixels.transpose(2, 0, 1))
    return path


def _chip(path: Path) -> Chip:
    scene = Scene(
        id=path.stem,
        collection="",
        sensor="highres",
        time=datetime(2024, 12, 1, tzinfo=UTC),
        bbox=ZONE.geometry.bounds,
        cloud_cover=None,
        assets={"visual": str(path)},
    )
    return load_chip(scene, ZONE, params=LoadParams(use_cache=False))


def _monitored_and_detected(path: Path) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Boxes of the monitor's observation and of `detect` (those centred in the zone)."""
    chip = _chip(path)
    obs = observe(chip, ZONE)
    monitored = sorted(tuple(f["properties"]["bbox_px"]) for f in obs.detections)
    dets, _ = detect_highres(read_highres(path), 0.5, None)
    detected = sorted(
        tuple(d.bbox_px)
        for d in dets
        if aircraft.centre_inside(d, chip.zone_mask) and inside_zone(d, chip)
    )
    return monitored, detected


@pytest.fixture(scope="module")
def grid() -> tuple[object, Affine, int, int]:
    crs, transform, width, height, _ = zone_grid(
        ZONE.geometry, resolution_m=0.5, margin_m=LoadParams().highres_margin_m
    )
    return crs, transform, width, height


def test_detect_and_the_monitor_give_identical_boxes_on_16_bit_and_float_images(
    tmp_path: Path, grid: tuple[object, Affine, int, int]
) -> None:
    crs, transform, width, height = grid
    rgb8 = _airbus()[CROP_ROW : CROP_ROW + height, CROP_COL : CROP_COL + width]
    counts = _as_12_bit(rgb8)
    reflectance = (counts / 10000.0).astype(np.float32)  # 0.015-0.372
    eight = _write(tmp_path / "apron_8bit.tif", rgb8, transform, crs)
    n_eight = len(_monitored_and_detected(eight)[0])
    for name, pixels in (("uint16", counts), ("float32", reflectance)):
        path = _write(tmp_path / f"apron_{name}.tif", pixels, transform, crs)
        monitored, detected = _monitored_and_detected(path)
        assert monitored == detected, name
        # the stretched 12-bit and reflectance images show the network the aircraft the
        # 8-bit original shows it (8 labelled in the zone)
        assert len(monitored) >= 6 and abs(len(monitored) - n_eight) <= 1, (name, n_eight)


def test_a_chip_gets_the_bytes_of_the_whole_file_not_a_stretch_of_its_own(
    tmp_path: Path, grid: tuple[object, Affine, int, int]
) -> None:
    crs, transform, width, height = grid
    pad = 300  # the file reaches 150 m beyond the zone's window on every side
    rgb8 = _airbus()[
        CROP_ROW - pad : CROP_ROW + height + pad, CROP_COL - pad : CROP_COL + width + pad
    ]
    bigger = transform @ Affine.translation(-pad, -pad)
    counts = _as_12_bit(rgb8)
    counts[:40] = 0  # a strip of no-data, as along an image's footprint
    for pixels in (counts, (counts / 10000.0).astype(np.float32)):
        path = _write(tmp_path / f"scene_{pixels.dtype.name}.tif", pixels, bigger, crs)
        whole = read_highres(path)
        chip = _chip(path)
        window = (slice(pad, pad + height), slice(pad, pad + width))
        for band in ("red", "green", "blue"):
            from_detect = aircraft.fraction_to_uint8(whole.bands[band][window])
            from_chip = aircraft.fraction_to_uint8(chip.bands[band])
            assert np.array_equal(from_chip, from_detect), (pixels.dtype, band)
        assert "asset-percentiles" in whole.notes["input_stretch"]


def test_input_rule_per_file() -> None:
    # 8-bit bytes pass unchanged
    values = np.array([[0.0, 17.0, 255.0, np.nan]])
    assert aircraft.to_input_bytes(values, aircraft.EIGHT_BIT).tolist() == [[0, 17, 255, 0]]
    # a declared scale maps value * scale in [0, 1] to 0-255
    half = aircraft.scale_stretch(1 / 4095)
    assert aircraft.to_input_bytes(np.array([0, 2047.5, 4095, 9000]), half).tolist() == [
        0,
        128,
        255,
        255,
    ]
    # percentiles leave zeros and NaN out and pool the bands (colours keep their balance)
    rng = np.random.default_rng(5)
    data = rng.uniform(1000, 2000, (3, 200, 200))
    data[0] += 500  # a red cast
    data[:, :20] = 0
    data[:, -5:] = np.nan
    stretch = aircraft.stretch_of(data)
    assert 1000 < stretch.lo < 1020 and 2480 < stretch.hi < 2500
    out = aircraft.to_input_bytes(data, stretch)
    assert out[0, 50:150].mean() > out[1, 50:150].mean() + 60
    assert not out[:, :20].any() and not out[:, -5:].any()


def test_a_truncated_16_bit_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.tif"
    pixels = _as_12_bit(np.random.default_rng(1).integers(0, 256, (256, 256, 3), np.uint8))
    _write(path, pixels, Affine(0.5, 0, 500000, 0, -0.5, 3900000), "EPSG:32636")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageryError, match=r"cut\.tif.*(corrupt|truncated)"):
        detect_image(path, sensor="highres", gsd_m=0.5)

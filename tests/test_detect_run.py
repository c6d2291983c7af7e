"""``basewatch detect``: readers per sensor, the dispatch table, the GeoJSON contract, bad input.

Scenes are small seeded rasters written to ``tmp_path``: Sentinel-2 reflectance (water with
two ships at sea and a strip of land), Sentinel-1 sigma0 with two bright ships, and an 8-bit
amplitude PNG without georeference.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from _synthetic import coverage
from rasterio.transform import from_origin
from scipy import ndimage

from basewatch.cli import main
from basewatch.detect import run
from basewatch.errors import ImageryError, InputError

PX = 10.0
CRS = "EPSG:32636"
ORIGIN = (600_000.0, 3_920_000.0)  # about 36.1 E, 35.4 N (Tartus coast)
WATER = {"blue": 0.06, "green": 0.05, "red": 0.03, "nir": 0.02}
LAND = {"blue": 0.07, "green": 0.09, "red": 0.11, "nir": 0.25}
SHIPS = [(600.0, 700.0, 135.0, 16.0, 30.0), (1400.0, 1300.0, 100.0, 14.0, 100.0)]
"""(x_m, y_m, length_m, width_m, heading_deg) of the ships in every synthetic scene."""
S2_CODES = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}


def s2_scene(seed: int, *, land: bool = True, cloud: bool = False) -> dict[str, np.ndarray]:
    """200 x 200 px reflectance: water, two ships, land along the top unless ``land`` is False."""
    rng = np.random.default_rng(seed)
    shape = (200, 200)
    bands = {b: np.full(shape, v) for b, v in WATER.items()}
    if land:
        for b, v in LAND.items():
            bands[b][:30] = v
    cover = coverage(shape, SHIPS, PX)
    for b in bands:
        hull = 0.2 if b == "nir" else 0.15
        bands[b] = bands[b] * (1 - cover) + hull * cover
    if cloud:
        bands = {b: np.full(shape, 0.6) for b in bands}
    return {
        b: (ndimage.gaussian_filter(v, 0.5) + rng.normal(0, 0.004, shape)).clip(1e-4, None)
        for b, v in bands.items()
    }


def write_tif(
    path: Path,
    arrays: list[np.ndarray],
    dtype: str,
    *,
    georef: bool = True,
    nodata: float | None = None,
) -> Path:
    """Write a GeoTIFF (UTM 36N, 10 m) holding ``arrays`` as bands."""
    rows, cols = arrays[0].shape
    profile = {
        "driver": "GTiff",
        "height": rows,
        "width": cols,
        "count": len(arrays),
        "dtype": dtype,
        "nodata": nodata,
    }
    if georef:
        profile |= {"crs": CRS, "transform": from_origin(*ORIGIN, PX, PX)}
    with rasterio.open(path, "w", **profile) as dst:
        for i, arr in enumerate(arrays, start=1):
            dst.write(arr.astype(dtype), i)
    return path


def s2_folder(tmp_path: Path, bands: dict[str, np.ndarray], name: str = "scene") -> Path:
    """Single-band uint16 files (reflectance x 10000, no scale tag) named by band."""
    folder = tmp_path / name
    folder.mkdir()
    for band, code in S2_CODES.items():
        dn = np.round(bands[band] * 10000)
        write_tif(folder / f"2024-12-01_Sentinel-2_L2A_{code}.tiff", [dn], "uint16")
    return folder


def radar_scene(seed: int) -> np.ndarray:
    """200 x 200 px sigma0 (linear): water 0.01 with gamma speckle, land on top, two ships."""
    rng = np.random.default_rng(seed)
    shape = (200, 200)
    refl = np.full(shape, 0.01)
    refl[:30] = 0.08
    cover = coverage(shape, SHIPS, PX)
    refl = refl * (1 - cover) + 3.0 * cover
    refl = ndimage.gaussian_filter(refl, 0.5)
    return (refl * rng.gamma(4.5, 1 / 4.5, size=shape)).astype(np.float32)


def ship_centres_px() -> list[tuple[float, float]]:
    """Ship centres as (col, row) pixel coordinates (pixel centres at integers)."""
    return [(x / PX - 0.5, y / PX - 0.5) for x, y, *_ in SHIPS]


def assert_two_ships(result: run.DetectResult) -> None:
    """Exactly the two ships, each within 2 px of its true centre."""
    assert len(result.detections) == 2, result.detections
    got = sorted(d.centroid_px for d in result.detections)
    for (c, r), (tc, tr) in zip(got, sorted(ship_centres_px()), strict=True):
        assert abs(c - tc) <= 2 and abs(r - tr) <= 2


# --------------------------------------------------------------------------------------------
# Sentinel-2 readers
# --------------------------------------------------------------------------------------------


def test_s2_band_folder_finds_both_ships_with_pixel_size_from_georef(tmp_path: Path) -> None:
    folder = s2_folder(tmp_path, s2_scene(0))
    result = run.detect_image(folder, sensor="s2")
    assert result.pixel_size_m == pytest.approx(PX, rel=0.01)
    assert_two_ships(result)
    lengths = sorted(d.length_m or 0 for d in result.detections)
    # the trained s2 model's box lengths are within 30 % (100 m ship: 128 m)
    assert lengths[0] == pytest.approx(100, rel=0.3) and lengths[1] == pytest.approx(135, rel=0.3)


def test_multiband_geotiff_gives_the_same_ships_as_the_band_folder(tmp_path: Path) -> None:
    bands = s2_scene(1)
    path = write_tif(tmp_path / "stack.tif", [bands[b] * 10000 for b in S2_CODES], "uint16")
    from_stack = run.detect_image(path, sensor="s2")
    from_folder = run.detect_image(s2_folder(tmp_path, bands), sensor="s2")
    assert_two_ships(from_stack)
    assert [d.bbox_px for d in from_stack.detections] == [d.bbox_px for d in from_folder.detections]


def test_scale_option_reads_full_range_uint16(tmp_path: Path) -> None:
    bands = s2_scene(2)
    path = write_tif(tmp_path / "raw.tif", [bands[b] * 65535 for b in S2_CODES], "uint16")
    with pytest.raises(ImageryError, match=r"raw\.tif.*--scale 1\.5259e-05"):
        run.detect_image(path, sensor="s2")  # read as x1e-4 it would be 6.5x too bright
    scaled = run.detect_image(path, sensor="s2", scale=1 / 65535)
    assert_two_ships(scaled)
    assert float(np.nanmedian(run.read_s2(path, 1 / 65535).bands["nir"])) < 0.1


def test_stac_item_with_local_assets(tmp_path: Path) -> None:
    folder = s2_folder(tmp_path, s2_scene(3))
    assets = {
        code: {"href": str(p), "type": "image/tiff; application=geotiff", "roles": ["data"]}
        for p in sorted(folder.iterdir())
        for code in S2_CODES.values()
        if code in p.name
    }
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "S2B_36SYC_20241201_0_L2A",
        "collection": "sentinel-2-l2a",
        "geometry": {"type": "Point", "coordinates": [36.1, 35.4]},
        "bbox": [36.0, 35.3, 36.2, 35.5],
        "properties": {"datetime": "2024-12-01T08:20:00Z", "platform": "sentinel-2b"},
        "assets": assets,
        "links": [],
    }
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    assert_two_ships(run.detect_image(path, sensor="s2"))


def test_s2_bad_inputs_name_the_file_and_the_fix(tmp_path: Path) -> None:
    bands = s2_scene(4)
    two = write_tif(tmp_path / "two.tif", [bands["green"] * 1e4, bands["nir"] * 1e4], "uint16")
    with pytest.raises(InputError, match=r"two\.tif: 2 band\(s\), need at least 4"):
        run.detect_image(two, sensor="s2")
    folder = tmp_path / "unnamed"
    folder.mkdir()
    write_tif(folder / "band_a.tif", [bands["blue"] * 1e4], "uint16")
    with pytest.raises(InputError, match="no file for band.*blue, green, red, nir.*B02"):
        run.detect_image(folder, sensor="s2")
    with pytest.raises(InputError, match="no such file"):
        run.detect_image(tmp_path / "missing.tif", sensor="s2")
    text = tmp_path / "notes.tif"
    text.write_text("not an image")
    with pytest.raises(ImageryError, match="notes.tif: cannot be read"):
        run.detect_image(text, sensor="s2")


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("cloud", "fully cloudy"), ("land", "no water"), ("nodata", "no data")],
)
def test_images_with_nothing_to_search_give_an_empty_result_with_a_reason(
    tmp_path: Path, kind: str, reason: str
) -> None:
    bands = s2_scene(5, cloud=kind == "cloud")
    if kind == "land":
        bands = {b: np.full((60, 60), v) for b, v in LAND.items()}
    if kind == "nodata":
        bands = {b: np.zeros((60, 60)) for b in bands}
    arrays = [np.round(bands[b] * 1e4) for b in S2_CODES]
    path = write_tif(tmp_path / f"{kind}.tif", arrays, "uint16", nodata=0)
    result = run.detect_image(path, sensor="s2")
    assert result.detections == []
    assert result.reason is not None and reason in result.reason
    collection = run.to_feature_collection(result)
    assert collection["features"] == [] and reason in collection["basewatch"]["reason"]


# --------------------------------------------------------------------------------------------
# Radar readers
# --------------------------------------------------------------------------------------------


def test_s1_sigma0_in_db_or_linear_gives_the_same_ships(tmp_path: Path) -> None:
    vv = radar_scene(6)
    linear = write_tif(tmp_path / "vv_lin.tif", [vv, vv / 5], "float32")
    decibel = write_tif(tmp_path / "vv_db.tif", [10 * np.log10(vv)], "float32")
    a = run.detect_image(linear, sensor="s1")
    b = run.detect_image(decibel, sensor="s1")
    assert_two_ships(a)
    assert [d.bbox_px for d in a.detections] == [d.bbox_px for d in b.detections]
    three = write_tif(tmp_path / "three.tif", [vv, vv, vv], "float32")
    with pytest.raises(InputError, match="3 bands, --sensor s1 takes 1"):
        run.detect_image(three, sensor="s1")


def test_sar_png_without_georeference_needs_gsd_and_gives_null_geometry(tmp_path: Path) -> None:
    from PIL import Image

    amplitude = np.sqrt(radar_scene(7)) * 255 / np.sqrt(10.0)  # display-scaled
    path = tmp_path / "chip.png"
    Image.fromarray(np.clip(amplitude, 0, 255).astype(np.uint8)).save(path)
    with pytest.raises(InputError, match="no georeference.*--gsd"):
        run.detect_image(path, sensor="sar")
    result = run.detect_image(path, sensor="sar", gsd_m=PX)
    assert_two_ships(result)
    for gsd in (0.01, 1e6):  # was: 0 detections and exit 0
        with pytest.raises(InputError, match=r"chip\.png.*outside 0\.1-100 m.*--gsd"):
            run.detect_image(path, sensor="sar", gsd_m=gsd)
    collection = run.to_feature_collection(result)
    assert collection["basewatch"]["georeferenced"] is False
    assert all(f["geometry"] is None for f in collection["features"])


# --------------------------------------------------------------------------------------------
# Output contract and CLI
# --------------------------------------------------------------------------------------------


def test_feature_collection_follows_the_design_format(tmp_path: Path) -> None:
    result = run.detect_image(s2_folder(tmp_path, s2_scene(8)), sensor="s2")
    collection = run.to_feature_collection(result)
    assert collection["type"] == "FeatureCollection"
    assert collection["basewatch"]["detector"].startswith("s2-ships-cnn/")
    for feature, det in zip(collection["features"], result.detections, strict=True):
        props = feature["properties"]
        assert props["bbox_px"] == list(det.bbox_px)
        assert 0 <= props["score"] <= 1 and props["class"] == "ship" and props["length_m"] > 50
        ring = np.array(feature["geometry"]["coordinates"][0])
        assert ring.shape == (5, 2) and (ring[0] == ring[-1]).all()
        # the footprint lies around the ship's true position
        from pyproj import Transformer

        to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
        x, y = to_utm.transform(ring[:-1, 0].mean(), ring[:-1, 1].mean())
        col, row = (x - ORIGIN[0]) / PX - 0.5, (ORIGIN[1] - y) / PX - 0.5
        assert abs(col - det.centroid_px[0]) < 0.5 and abs(row - det.centroid_px[1]) < 0.5


def test_one_image_writes_the_file_several_write_a_folder(tmp_path: Path) -> None:
    a = s2_folder(tmp_path, s2_scene(9), "tartus-a")
    b = s2_folder(tmp_path, s2_scene(10), "tartus-b")
    single = tmp_path / "one.geojson"
    ((path, result),) = run.run_detect([a], sensor="s2", out=single)
    assert path == single and len(json.loads(single.read_text())["features"]) == 2
    out = tmp_path / "many"
    written = run.run_detect([a, b], sensor="s2", out=out)
    assert [p.name for p, _ in written] == ["tartus-a.geojson", "tartus-b.geojson"]
    existing = tmp_path / "existing"
    existing.mkdir()
    ((path, _),) = run.run_detect([b], sensor="s2", out=existing)
    assert path == existing / "tartus-b.geojson"
    with pytest.raises(InputError, match="is a file but 2 images"):
        run.run_detect([a, b], sensor="s2", out=single)
    with pytest.raises(InputError, match="names a file but 2 images.*give a folder"):
        run.run_detect([a, b], sensor="s2", out=tmp_path / "new.geojson")  # was made a folder
    assert not (tmp_path / "new.geojson").exists()


def test_cli_detect_and_its_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = s2_folder(tmp_path, s2_scene(11))
    out = tmp_path / "dets.geojson"
    main(["detect", str(folder), "--sensor", "s2", "--out", str(out)])
    assert "2 detection(s)" in capsys.readouterr().out
    assert json.loads(out.read_text())["basewatch"]["count"] == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["detect", str(tmp_path / "nope.tif"), "--sensor", "s1", "--out", str(out)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.tif: no such file" in err


def test_every_sensor_has_a_reader_and_a_detector() -> None:
    assert set(run.DISPATCH) == set(run.SENSORS)
    for reader, detector in run.DISPATCH.values():
        assert callable(reader) and callable(detector)
    with pytest.raises(InputError, match="sensor must be one of"):
        run.detect_image("x.tif", sensor="landsat")


def test_model_is_refused_where_no_learned_stage_exists(tmp_path: Path) -> None:
    weights = tmp_path / "w.json"
    weights.write_text("{}")
    image = write_tif(tmp_path / "s1.tif", [radar_scene(12)], "float32")
    with pytest.raises(InputError, match="no learned stage"):
        run.detect_image(image, sensor="s1", model=weights)


def test_highres_counts_aircraft_on_a_real_image_crop(tmp_path: Path) -> None:
    """``detect --sensor highres`` on a 0.5 m airport crop (8-bit PNG, no georeference) finds
    the labelled aircraft in pixel boxes, with exactly the detections the aircraft module
    gives for the same bytes (the reader keeps 8-bit values exact)."""
    from PIL import Image

    from basewatch.detect import aircraft
    from basewatch.train.labels import load_labels

    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    folder = data / "aircraft_airbus_pleiades_50cm"
    name = "4f833867-273e-4d73-8bc3-cb2d9ceb54ef.jpg"
    if not (folder / "images" / name).is_file():
        pytest.skip(f"shared Airbus sample not found in {folder}")
    item = next(im for im in load_labels(folder) if im.name == name)
    crop = item.read()[:1024, :1024]
    labels = [b for b in item.boxes if b[2] <= 1024 and b[3] <= 1024]
    assert len(labels) >= 3
    path = tmp_path / "apron.png"
    Image.fromarray(crop).save(path)
    result = run.detect_image(path, sensor="highres", gsd_m=0.5)
    assert result.detector.startswith(aircraft.NAME)
    direct = aircraft.detect_aircraft(crop, 0.5)
    assert [d.bbox_px for d in result.detections] == [d.bbox_px for d in direct]
    assert {d.cls for d in result.detections} == {"aircraft"}
    centres = [(c + w / 2, r + h / 2) for c, r, w, h in (d.bbox_px for d in result.detections)]
    found = sum(
        any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in centres) for x0, y0, x1, y1 in labels
    )
    assert found >= 0.8 * len(labels)
    assert len(result.detections) <= len(labels) + 2


def test_highres_grayscale_and_16_bit_images_are_read(tmp_path: Path) -> None:
    """A one-band image is taken as grayscale; a 16-bit one is stretched onto 8 bits."""
    import rasterio

    rng = np.random.default_rng(13)
    grey = rng.integers(200, 3000, (64, 64)).astype(np.uint16)
    path = tmp_path / "grey16.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint16"
    ) as dst:
        dst.write(grey, 1)
    raster = run.read_highres(path, None)
    red = raster.bands["red"]
    assert np.array_equal(red, raster.bands["blue"])
    assert red.min() == 0.0 and red.max() == 1.0
    assert np.allclose(red * 255, np.round(red * 255))  # on the 8-bit grid
    order = np.argsort(grey, axis=None)
    assert np.all(np.diff(red.ravel()[order]) >= 0)  # the stretch keeps the order


def test_highres_on_a_grey_image_warns_and_says_so_in_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A radar chip saved as an RGB PNG (HRSID style: three equal bands) given to --sensor
    highres gave 'aircraft' without comment; now a warning names --sensor sar and the output
    records the greyscale input. A colour image gets neither."""
    from PIL import Image

    amplitude = (np.clip(radar_scene(21), 0, 1) * 255).astype(np.uint8)
    grey = tmp_path / "sar_chip.png"
    Image.fromarray(np.dstack([amplitude] * 3)).save(grey)
    out = tmp_path / "grey.geojson"
    main(["detect", str(grey), "--sensor", "highres", "--gsd", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert "a greyscale image (three (nearly) equal bands)" in err and "--sensor sar" in err
    assert json.loads(out.read_text())["basewatch"]["greyscale"] == "three (nearly) equal bands"
    colour = np.dstack([amplitude, amplitude // 2, 255 - amplitude])
    Image.fromarray(colour).save(tmp_path / "colour.png")
    raster = run.read_highres(tmp_path / "colour.png", None)
    assert "greyscale" not in raster.notes


def test_gcp_georeferenced_grd_gets_footprints_and_pixel_size(tmp_path: Path) -> None:
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS as RioCRS

    vv = radar_scene(14)
    rows, cols = vv.shape
    gcps = [
        GroundControlPoint(row=r, col=c, x=ORIGIN[0] + c * PX, y=ORIGIN[1] - r * PX)
        for r in (0, rows // 2, rows)
        for c in (0, cols // 2, cols)
    ]
    path = tmp_path / "grd.tif"
    profile = {"driver": "GTiff", "height": rows, "width": cols, "count": 1, "dtype": "float32"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(vv, 1)
        dst.gcps = (gcps, RioCRS.from_string(CRS))
    result = run.detect_image(path, sensor="s1")
    assert result.pixel_size_m == pytest.approx(PX, rel=0.01)
    assert_two_ships(result)
    features = run.to_feature_collection(result)["features"]
    assert all(f["geometry"]["type"] == "Polygon" for f in features)


S1_CROPS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "s1_s2_vessel_crops_allenai_example"
)


@pytest.mark.parametrize("pol", ["vv", "vh"])
@pytest.mark.parametrize("gsd", [9.0, 10.0])
def test_real_sentinel1_crop_finds_its_one_ship_in_vv_and_vh(pol: str, gsd: float) -> None:
    """AllenAI's 128 x 128 8-bit S1 crops hold one 234 m ship (model estimate). The display
    stretch saturates the ship and its lobes: 0.2.0 took it for land (VV: nothing, no reason)
    or cut it in two (VH at 9 m)."""
    folder = S1_CROPS / "sentinel1"
    if not folder.is_dir():
        pytest.skip(f"shared Sentinel-1 crops not found in {folder}")
    (path,) = folder.glob(f"*_0_{pol}.png")
    result = run.detect_image(path, sensor="s1", gsd_m=gsd)
    assert result.reason is None
    assert len(result.detections) == 1
    (det,) = result.detections
    col, row = det.centroid_px
    assert 60 <= col <= 72 and 48 <= row <= 66  # the bright hull and its smear, rows ~30-88
    assert det.heading_deg is not None and min(det.heading_deg, 180 - det.heading_deg) < 30


# --------------------------------------------------------------------------------------------
# Sentinel-2 scale: x 65535 exports recognised, x 10000 left alone, nothing silent
# --------------------------------------------------------------------------------------------


def test_sentinel_hub_raw_names_are_scaled_by_65535_and_say_so(tmp_path: Path) -> None:
    bands = s2_scene(20)
    folder = tmp_path / "raw"
    folder.mkdir()
    for band, code in S2_CODES.items():
        dn = np.round(bands[band] * 65535)
        write_tif(folder / f"2024-12-01_Sentinel-2_L2A_{code}_(Raw).tiff", [dn], "uint16")
    result = run.detect_image(folder, sensor="s2")
    reference = run.detect_image(s2_folder(tmp_path, bands), sensor="s2")
    assert result.extra["scale"] == pytest.approx(1 / 65535)
    assert "Raw" in result.extra["scale_reason"]
    assert reference.extra["scale"] == pytest.approx(1e-4)
    assert len(result.detections) == len(reference.detections) == 2
    collection = run.to_feature_collection(result)
    assert collection["basewatch"]["scale"] == pytest.approx(1 / 65535)


def test_zero_in_one_band_is_dark_water_and_zero_in_all_is_outside_the_image(
    tmp_path: Path,
) -> None:
    """Exports without a no-data value: clear water reads 0 in the near infrared (real
    sen2ships ports do), and is searched like any water; only pixels 0 in every band (the
    strip outside the footprint) are unusable."""
    bands = s2_scene(24)
    reference = run.detect_image(s2_folder(tmp_path, bands, "plain"), sensor="s2")
    dark = bands["nir"] < 0.03  # open water, not the hulls (nir 0.2) nor the land
    bands["nir"] = np.where(dark, 0.0, bands["nir"])
    for b in bands:
        bands[b][:, 190:] = 0.0  # outside the footprint: 10 columns of zeros in every band
    raster = run.read_s2(s2_folder(tmp_path, bands, "dark"), None)
    assert dark[:, :190].mean() > 0.5
    assert raster.valid[:, :190].all() and not raster.valid[:, 190:].any()
    result = run.detect_image(tmp_path / "dark", sensor="s2")
    assert result.extra["clear_fraction"] == pytest.approx(0.95)
    assert_two_ships(result)
    assert len(reference.detections) == 2


def test_a_sentinel2_band_given_as_radar_is_refused(tmp_path: Path) -> None:
    """One band of an optical export read as radar amplitude gave 70 'ships' (Athens B02)."""
    folder = s2_folder(tmp_path, s2_scene(28))
    band = next(folder.glob("*_B02.tiff"))
    for sensor in ("s1", "sar"):
        with pytest.raises(InputError, match=r"_B02\.tiff: the name says Sentinel-2.*--sensor s2"):
            run.detect_image(band, sensor=sensor, gsd_m=10.0)
    radar = write_tif(tmp_path / "S1A_IW_GRDH_20241201_vv.tif", [radar_scene(29)], "float32")
    assert len(run.detect_image(radar, sensor="s1").detections) == 2  # radar names pass


def test_a_given_scale_that_makes_no_reflectance_is_refused(tmp_path: Path) -> None:
    """--scale is obeyed when it gives reflectance; a guess that does not (x 1e-4 on a
    x 65535 export: 489 detections on real Athens, 48 right; or far too small) stops with the
    file and the scale to give."""
    bands = s2_scene(25)
    folder = tmp_path / "raw"
    folder.mkdir()
    for band, code in S2_CODES.items():
        dn = np.round(bands[band] * 65535)
        write_tif(folder / f"2024-12-01_Sentinel-2_L2A_{code}_Raw.tiff", [dn], "uint16")
    assert len(run.detect_image(folder, sensor="s2", scale=1 / 65535).detections) == 2
    with pytest.raises(ImageryError, match=r"raw \(--scale 0\.0001\).*--scale 1\.5259e-05"):
        run.detect_image(folder, sensor="s2", scale=1e-4)
    with pytest.raises(ImageryError, match=r"raw: with --scale 1e-09.*too small"):
        run.detect_image(folder, sensor="s2", scale=1e-9)


def test_bands_of_two_places_in_one_folder_are_refused(tmp_path: Path) -> None:
    """A folder whose nir band covers other ground than its blue band (two scenes' files
    mixed) was resampled onto one grid and detected on; now it stops naming both files."""
    bands = s2_scene(26)
    folder = s2_folder(tmp_path, bands, "mixed")
    nir = next(folder.glob("*_B08.tiff"))
    with rasterio.open(nir) as src:
        profile, data = src.profile, src.read(1)
    profile["transform"] = from_origin(ORIGIN[0] + 5000, ORIGIN[1], PX, PX)  # 5 km east
    with rasterio.open(nir, "w", **profile) as dst:
        dst.write(data, 1)
    with pytest.raises(InputError, match=r"mixed: band nir \(.*_B08\.tiff\) does not cover"):
        run.detect_image(folder, sensor="s2")


def test_missing_bands_are_named_in_the_output_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bands = s2_scene(27)
    full = run.detect_image(s2_folder(tmp_path, bands, "full"), sensor="s2")
    assert full.extra["bands"] == ["blue", "green", "red", "nir"]
    folder = s2_folder(tmp_path, bands, "partial")
    next(folder.glob("*_B04.tiff")).unlink()
    with caplog.at_level("WARNING", logger="basewatch.detect.run"):
        partial = run.detect_image(folder, sensor="s2")
    assert partial.extra["bands"] == ["blue", "green", "nir"]
    assert "no red band" in caplog.text and "s2-ships-two-stage" in caplog.text
    collection = run.to_feature_collection(partial)
    assert collection["basewatch"]["bands"] == ["blue", "green", "nir"]


def test_x65535_values_without_the_name_stop_and_name_the_scale(tmp_path: Path) -> None:
    bands = s2_scene(21)
    bands = {b: v * 6.5535 for b, v in bands.items()}  # x 65535 stored, read as x 10000
    folder = s2_folder(tmp_path, bands)
    with pytest.raises(ImageryError, match=r"scene.*--scale 1\.5259e-05"):
        run.detect_image(folder, sensor="s2")
    ok = run.detect_image(folder, sensor="s2", scale=1 / 65535)  # the user's scale is obeyed
    assert len(ok.detections) == 2 and "scale" not in ok.extra
    with pytest.raises(SystemExit) as exit_info:
        main(["detect", str(folder), "--sensor", "s2", "--out", str(tmp_path / "o.geojson")])
    assert exit_info.value.code != 0
    assert not (tmp_path / "o.geojson").exists()


def test_reflectance_plausibility_rules() -> None:
    from basewatch.imagery.bands import implausible_reflectance, suggest_scale

    bands = s2_scene(22)
    assert implausible_reflectance(bands) is None
    hub = {b: v * 6.5535 for b, v in bands.items()}
    assert "brightest 1 %" in (implausible_reflectance(hub) or "")
    assert suggest_scale(hub, 1e-4) == pytest.approx(1 / 65535)
    murky = {b: np.full((50, 50), v) for b, v in {"green": 0.6, "nir": 0.25}.items()}
    assert "open water reads 0.25" in (implausible_reflectance(murky) or "")


def test_folder_catalogue_recognises_or_refuses_mis_scaled_files(tmp_path: Path) -> None:
    from basewatch.errors import CatalogError
    from basewatch.imagery.folder import scene_from_file

    bands = s2_scene(23)
    arrays = [np.round(bands[b] * 65535) for b in ("blue", "green", "red", "nir")]
    raw = write_tif(tmp_path / "S2_20241201_Raw.tif", arrays, "uint16")
    scene = scene_from_file(raw, sensor="sentinel-2")
    assert scene.scales["nir"][0] == pytest.approx(1 / 65535)
    plain = write_tif(tmp_path / "S2_20241201.tif", arrays, "uint16")
    with pytest.raises(CatalogError, match=r"S2_20241201\.tif.*-scale 1\.5259e-05"):
        scene_from_file(plain, sensor="sentinel-2")
    tenk = [np.round(bands[b] * 10000) for b in ("blue", "green", "red", "nir")]
    scene = scene_from_file(write_tif(tmp_path / "S2_20241202.tif", tenk, "uint16"))
    assert scene.scales["nir"][0] == pytest.approx(1e-4)


SEN2SHIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "s2_ships_sen2ships_ports"


def test_real_athens_raw_export_is_read_right_without_scale(tmp_path: Path) -> None:
    """sen2ships' Athens bands are Sentinel Hub "Raw" UINT16 (reflectance x 65535), no scale
    tag: recognised by name; the same file renamed is refused, naming the --scale; written as
    x 10000 it is left alone. All three readings give about the same ships."""
    athens = SEN2SHIPS / "athens"
    if not athens.is_dir():
        pytest.skip(f"shared sen2ships ports not found in {athens}")
    auto = run.detect_image(athens, sensor="s2")
    given = run.detect_image(athens, sensor="s2", scale=1 / 65535)
    assert auto.extra["scale"] == pytest.approx(1 / 65535)
    assert auto.extra["clear_fraction"] > 0.99  # its 35,000 px of 0 in nir or red are water
    assert abs(len(auto.detections) - len(given.detections)) <= 2
    assert len(given.detections) >= 20
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for path in sorted(athens.glob("*_B0[2348]_Raw.tiff")):
        (renamed / path.name.replace("_Raw", "")).symlink_to(path.resolve())
    with pytest.raises(ImageryError, match=r"renamed.*--scale 1\.5259e-05"):
        run.detect_image(renamed, sensor="s2")
    raster = run.read_s2(athens, 1 / 65535)
    arrays = [np.nan_to_num(raster.bands[b] * 10000) for b in ("blue", "green", "red", "nir")]
    with rasterio.open(next(athens.glob("*_B02_Raw.tiff"))) as src:
        profile = src.profile | {"count": 4, "dtype": "uint16", "nodata": None}
    stack = tmp_path / "athens_x10000.tif"
    with rasterio.open(stack, "w", **profile) as dst:
        for i, arr in enumerate(arrays, start=1):
            dst.write(np.round(arr).astype("uint16"), i)
    tenk = run.detect_image(stack, sensor="s2")
    assert tenk.extra["scale"] == pytest.approx(1e-4)
    assert abs(len(tenk.detections) - len(given.detections)) <= max(3, len(given.detections) // 10)


def test_coastline_leaves_out_inland_pixels_of_a_georeferenced_radar_image(
    tmp_path: Path,
) -> None:
    """The synthetic scene's grid lies on land near Tartus per GSHHG: with --coastline the
    inland part is left out and said so; without a georeference the option is refused."""
    pytest.importorskip("roaring_landmask", reason="extra [coast] not installed")
    path = write_tif(tmp_path / "s1.tif", [radar_scene(30)], "float32")
    plain = run.detect_image(path, sensor="s1")
    coast = run.detect_image(path, sensor="s1", coastline=True)
    assert "GSHHG" in coast.extra["coastline"]
    assert len(coast.detections) < len(plain.detections) == 2
    chip = write_tif(tmp_path / "chip.tif", [radar_scene(31)], "float32", georef=False)
    with pytest.raises(InputError, match="georeferenced"):
        run.detect_image(chip, sensor="sar", gsd_m=PX, coastline=True)


def test_monitor_chips_refuse_mis_scaled_sentinel2(tmp_path: Path) -> None:
    """A catalogue item whose scale does not fit its data (x 65535 values, scale 1e-4) stops
    the chip with a reason naming the scene, never a count (monitor records it as failed)."""
    from dataclasses import replace

    from pyproj import Transformer
    from shapely.geometry import box

    from basewatch.imagery.folder import scene_from_file
    from basewatch.imagery.load import LoadParams, load_chip
    from basewatch.sites import Zone

    bands = s2_scene(24)
    arrays = [np.round(bands[b] * 65535) for b in ("blue", "green", "red", "nir")]
    path = write_tif(tmp_path / "S2_20241201_Raw.tif", arrays, "uint16")
    scene = scene_from_file(path, sensor="sentinel-2")
    to_wgs = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    w, s = to_wgs.transform(ORIGIN[0] + 300, ORIGIN[1] - 1700)
    e, n = to_wgs.transform(ORIGIN[0] + 1700, ORIGIN[1] - 300)
    zone = Zone(site_id="s", id="z", kind="pier", target="ship", geometry=box(w, s, e, n))
    chip = load_chip(scene, zone, params=LoadParams(use_cache=False))
    assert float(np.nanmedian(chip.bands["nir"])) < 0.1
    wrong = replace(scene, scales={b: (1e-4, 0.0) for b in scene.scales})
    with pytest.raises(ImageryError, match=r"S2_20241201_Raw.*not reflectance.*1\.5259e-05"):
        load_chip(wrong, zone, params=LoadParams(use_cache=False))

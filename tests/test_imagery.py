"""Band aliases, STAC item parsing (real provider metadata) and per-zone chip loading."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from basewatch.errors import ImageryError, InputError
from basewatch.imagery.bands import canonical_band, map_assets
from basewatch.imagery.catalog import Scene, open_catalog, scene_from_item
from basewatch.imagery.load import load_chip, utm_crs, zone_grid
from basewatch.sites import Zone

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "stac_items_real"


def test_aliases_cover_both_naming_conventions() -> None:
    assert canonical_band("B02") == "blue" and canonical_band("blue") == "blue"
    assert canonical_band("SCL") == "scl" and canonical_band("VH") == "vh"
    assert canonical_band("B8A") == "nir08" and canonical_band("B08") == "nir"
    assert canonical_band("thumbnail") is None
    assert map_assets(["B02", "B03", "B04", "B08", "B11", "SCL", "visual"]) == {
        "blue": "B02",
        "green": "B03",
        "red": "B04",
        "nir": "B08",
        "swir16": "B11",
        "scl": "SCL",
        "visual": "visual",
    }


@pytest.mark.parametrize(
    ("name", "epsg"),
    [
        ("earth-search-v0_S2A_28QCH_20200714_0_L2A.json", 32628),
        ("planetary-computer_S2B_MSIL2A_20190629T212529_R043_T06VVN.json", 32606),
    ],
)
def test_real_provider_items_parse(name: str, epsg: int) -> None:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"real STAC metadata not found at {SHARED} (../shared/data is absent)")
    item = pystac.Item.from_dict(json.loads(path.read_text()))
    scene = scene_from_item(item)
    assert scene is not None
    assert scene.sensor == "sentinel-2"
    assert set(scene.assets) == {"blue", "green", "red", "nir", "swir16", "scl"}
    assert "B02" in scene.assets["blue"].rsplit("/", 1)[-1]
    assert scene.scales["blue"] == (1e-4, 0.0) and scene.scales["scl"] == (1.0, 0.0)
    assert scene.cloud_cover is not None and 0 <= scene.cloud_cover <= 100
    assert scene.time.tzinfo is not None
    fields = {**item.properties, **item.assets["B02"].extra_fields}
    assert fields.get("proj:epsg") == epsg or fields.get("proj:code") == f"EPSG:{epsg}"


def _write_band(path: Path, data: np.ndarray, transform: Affine, crs: str = "EPSG:32636") -> None:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=0,
        tiled=True,
        blockxsize=128,
        blockysize=128,
    ) as dst:
        dst.write(data, 1)


@pytest.fixture
def s2_scene(tmp_path: Path) -> tuple[Scene, Zone]:
    """A 4 km S2-like tile (10 m bands, 20 m SCL) whose west half is cloud."""
    x0, y0 = 770_000.0, 3_925_000.0  # EPSG:32636, near Khmeimim
    t10 = Affine(10, 0, x0, 0, -10, y0)
    t20 = Affine(20, 0, x0, 0, -20, y0)
    rng = np.random.default_rng(0)
    assets = {}
    for name, refl in (("blue", 0.07), ("green", 0.09), ("red", 0.11), ("nir", 0.25)):
        data = (rng.normal(refl, 0.005, (400, 400)) * 10_000).astype(np.uint16)
        _write_band(tmp_path / f"{name}.tif", data, t10)
        assets[name] = str(tmp_path / f"{name}.tif")
    scl = np.full((200, 200), 4, np.uint8)
    scl[:, :100] = 9  # cloud high probability over the west half
    _write_band(tmp_path / "scl.tif", scl, t20)
    assets["scl"] = str(tmp_path / "scl.tif")
    scales = {k: (1e-4, 0.0) for k in assets if k != "scl"} | {"scl": (1.0, 0.0)}
    scene = Scene(
        id="S2-test",
        collection="sentinel-2-l2a",
        sensor="sentinel-2",
        time=datetime(2024, 12, 1, 8, 20, tzinfo=UTC),
        bbox=(35.0, 35.0, 36.5, 36.0),
        cloud_cover=50.0,
        assets=assets,
        scales=scales,
    )
    from pyproj import Transformer

    to_wgs = Transformer.from_crs("EPSG:32636", "EPSG:4326", always_xy=True)
    # A 600 m x 300 m zone straddling the cloud edge (x0 + 2000 m), 60 % on the cloudy side.
    w, s = to_wgs.transform(x0 + 1640, y0 - 2300)
    e, n = to_wgs.transform(x0 + 2240, y0 - 2000)
    zone = Zone(site_id="s", id="apron", kind="apron", target="aircraft", geometry=box(w, s, e, n))
    return scene, zone


def test_load_chip_reads_zone_window_with_scl_mask(s2_scene: tuple[Scene, Zone]) -> None:
    scene, zone = s2_scene
    chip = load_chip(scene, zone)
    assert chip.crs == "EPSG:32636" and chip.resolution_m == 10.0
    assert chip.transform.c % 10 == 0 and chip.transform.f % 10 == 0  # snapped grid
    h, w = chip.zone_mask.shape
    assert chip.bands["blue"].shape == (h, w)
    assert 115 <= w <= 125 and 85 <= h <= 95  # zone plus 300 m margins, not the 4 km tile
    assert float(np.nanmedian(chip.bands["nir"])) == pytest.approx(0.25, abs=0.01)
    # The zone is not a UTM-aligned box (it was drawn in lon/lat), so allow a few pixels.
    assert chip.clear_fraction == pytest.approx(0.4, abs=0.05)


def test_zone_grid_is_stable_for_the_same_zone(s2_scene: tuple[Scene, Zone]) -> None:
    _, zone = s2_scene
    assert (
        zone_grid(zone.geometry, resolution_m=10, margin_m=300)[:4]
        == zone_grid(zone.geometry, resolution_m=10, margin_m=300)[:4]
    )
    assert utm_crs(35.9, 35.4).to_epsg() == 32636
    assert utm_crs(-70.0, -33.0).to_epsg() == 32719


@pytest.mark.parametrize("shift_m", [(0, 0), (-2_000, 0), (2_000, -1_800), (10, -30)])
def test_grid_of_the_image_is_read_without_warping_and_gives_the_warped_pixels(
    s2_scene: tuple[Scene, Zone], tmp_path: Path, shift_m: tuple[float, float]
) -> None:
    """A zone grid on the image's own pixels (10 m bands; 20 m bands by nearest and by
    bilinear) is computed from a window of the image and gives exactly what GDAL's warper
    gives: values, nodata holes, and the parts of the grid that lie off the image (the
    shifts put the grid half off the west edge and over the south-east corner)."""
    from pyproj import CRS
    from rasterio.enums import Resampling

    from basewatch.imagery.load import _grid_step, _read_vrt, _warp

    scene, zone = s2_scene
    crs, transform, width, height, _ = zone_grid(zone.geometry, resolution_m=10, margin_m=300)
    transform = Affine.translation(*shift_m) @ transform
    rng = np.random.default_rng(5)
    holes10, holes20 = tmp_path / "holes10.tif", tmp_path / "holes20.tif"  # 0: nodata
    with rasterio.open(scene.assets["nir"]) as src:
        data = (np.arange(400 * 400).reshape(400, 400) % 997).astype(np.uint16)
        _write_band(holes10, data, src.transform)
    with rasterio.open(scene.assets["scl"]) as src:
        data = rng.integers(0, 3_000, (200, 200)).astype(np.uint16)
        data[rng.random(data.shape) < 0.05] = 0
        _write_band(holes20, data, src.transform)
    cases = ((holes10, False, 1), (holes10, True, 1), (holes20, False, 2), (holes20, True, 2))
    for path, nearest, k in (*cases, (Path(scene.assets["scl"]), True, 2)):
        with rasterio.open(path) as src:
            assert _grid_step(src, transform) == k
            fast, fast_valid = _warp(str(path), src, crs, transform, width, height, nearest, None)
            method = Resampling.nearest if nearest else Resampling.bilinear
            warped, valid = _read_vrt(src, crs, transform, width, height, method, 0, None)
        assert fast.dtype == warped.dtype
        np.testing.assert_array_equal(fast, warped)
        np.testing.assert_array_equal(fast_valid, valid)
        if path != Path(scene.assets["scl"]):  # the holes (and the off-image part) are not valid
            assert 0 < valid.sum() < valid.size
    with rasterio.open(holes10) as src:  # grids that are not the image's: warped as before
        assert _grid_step(src, Affine.translation(5, 0) @ transform) is None
        assert _grid_step(src, Affine.scale(1.5) @ transform) is None
        with pytest.raises(ImageryError, match="does not overlap"):  # the grid's CRS counts
            _warp(str(holes10), src, CRS.from_epsg(32637), transform, width, height, False, None)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_corrupt_asset_is_a_clear_imagery_error(
    s2_scene: tuple[Scene, Zone], tmp_path: Path
) -> None:
    scene, zone = s2_scene
    broken = tmp_path / "broken.tif"
    broken.write_bytes(Path(scene.assets["blue"]).read_bytes()[:300])
    bad = Scene(**{**scene.__dict__, "assets": {**scene.assets, "blue": str(broken)}})
    with pytest.raises(ImageryError, match="broken.tif"):
        load_chip(bad, zone)


def test_open_catalog_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such catalogue"):
        open_catalog(tmp_path / "missing.json")
    with pytest.raises(InputError, match="without a catalog.json"):
        open_catalog(tmp_path)


@pytest.mark.parametrize("field", ["raster:bands", "bands"])
def test_collection_1_offset_is_applied(
    s2_scene: tuple[Scene, Zone], tmp_path: Path, field: str
) -> None:
    """An Earth Search ``sentinel-2-c1-l2a`` item carries scale 1e-4 and offset -0.1 per asset
    (STAC 1.0 ``raster:bands`` or STAC 1.1 ``bands``); the loader must apply both, or every
    reflectance would be 0.1 too bright."""
    old, zone = s2_scene
    t10 = Affine(10, 0, 770_000.0, 0, -10, 3_925_000.0)
    water_dn = 1000 + 600  # a 0.06-reflectance pixel in Collection 1 digital numbers
    item = pystac.Item(
        id="S2B_36SYE_20241203_0_L2A",
        geometry=None,
        bbox=None,
        datetime=datetime(2024, 12, 3, 8, 30, tzinfo=UTC),
        properties={"platform": "sentinel-2b"},
        collection="sentinel-2-c1-l2a",
    )
    for name in ("blue", "green", "red", "nir"):
        path = tmp_path / f"c1-{name}.tif"
        _write_band(path, np.full((400, 400), water_dn, np.uint16), t10)
        extra = {field: [{"nodata": 0, "scale": 0.0001, "offset": -0.1}]}
        item.add_asset(name, pystac.Asset(href=str(path), extra_fields=extra))
    item.add_asset("scl", pystac.Asset(href=old.assets["scl"]))
    scene = scene_from_item(item)
    assert scene is not None
    assert scene.scales["blue"] == pytest.approx((0.0001, -0.1))
    chip = load_chip(scene, zone)
    assert float(np.nanmedian(chip.bands["blue"])) == pytest.approx(0.06, abs=1e-4)


def test_one_malformed_item_is_skipped_with_a_warning(
    s2_scene: tuple[Scene, Zone], caplog: pytest.LogCaptureFixture
) -> None:
    """A catalogue search keeps every readable item when one record is malformed (a text
    cloud cover), and names the skipped item."""
    from basewatch.imagery.catalog import usable_scenes

    scene, _ = s2_scene

    def item(item_id: str, cloud: object) -> pystac.Item:
        it = pystac.Item(
            id=item_id,
            geometry=None,
            bbox=list(scene.bbox),
            datetime=scene.time,
            properties={"platform": "sentinel-2a", "eo:cloud_cover": cloud},
            collection="sentinel-2-l2a",
        )
        for name, href in scene.assets.items():
            it.add_asset(name, pystac.Asset(href=href))
        return it

    items = [item("good-1", 10.0), item("bad", "cloudy"), item("good-2", 20.0)]
    with caplog.at_level("WARNING", logger="basewatch.imagery.catalog"):
        scenes = usable_scenes(items, "test-catalogue")
    assert [s.id for s in scenes] == ["good-1", "good-2"]
    assert "test-catalogue" in caplog.text and "'bad'" in caplog.text


def test_percentile_prefilter_never_hides_a_percentile_above_the_limit() -> None:
    """The count that spares the reflectance check its percentiles says False only where
    the percentile is at most the limit (random sizes, limits on and between the values)."""
    from basewatch.imagery.bands import _percentile_may_exceed

    rng = np.random.default_rng(3)
    for _ in range(3_000):
        values = rng.gamma(2.0, 0.05, int(rng.integers(1, 400))).astype(np.float32)
        q = float(rng.choice([1, 5, 50, 95, 99]))
        limit = float(rng.choice(values)) if rng.random() < 0.5 else float(rng.uniform(0, 0.5))
        if float(np.percentile(values, q)) > limit:
            assert _percentile_may_exceed(values, q, limit)


@pytest.mark.parametrize(
    ("href", "gdal_says", "hint"),
    [
        (
            "https://sentinel-cogs.s3.us-west-2.amazonaws.com/x/B04.tif",
            "CURL error: Could not resolve host: sentinel-cogs.s3.us-west-2.amazonaws.com",
            "the server could not be reached",
        ),
        ("https://example.org/B04.tif", "HTTP response code: 403", "AWS_NO_SIGN_REQUEST=YES"),
        ("https://example.org/B04.tif", "not recognized as a supported file format", "truncated"),
        ("/data/B04.tif", "TIFFReadDirectory: connection lost", "truncated"),  # a local file
    ],
)
def test_read_failures_tell_the_network_from_a_bad_file(
    href: str, gdal_says: str, hint: str
) -> None:
    """An unreachable STAC asset was reported as 'the file may be truncated or not a GeoTIFF'."""
    import rasterio

    from basewatch.imagery.load import read_failure

    error = read_failure(href, rasterio.errors.RasterioIOError(gdal_says))
    assert str(error).startswith(f"{href}: cannot read the image ({gdal_says}); ")
    assert hint in str(error)

"""The scene simulator: grids, sun, objects, clouds, Sentinel-1/2 and sub-metre rendering,
COG writing and STAC items."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from scipy import ndimage
from shapely.geometry import box

from basewatch.errors import InputError
from basewatch.imagery.catalog import open_catalog, scene_from_item
from basewatch.imagery.load import load_chip
from basewatch.sites import Zone
from basewatch.testing import (
    MATERIALS,
    S1_ENL,
    CloudSpec,
    CollectionSpec,
    Feature,
    Grid,
    Layout,
    SceneModel,
    SceneObject,
    cloud_layers,
    derive_seed,
    highres_item,
    make_aircraft,
    make_ship,
    make_vehicle,
    object_parts,
    s1_item,
    s2_item,
    sun_position,
    utm_crs_for,
    write_catalog,
    write_cog,
)

CRS = "EPSG:32636"
X0, Y0 = 767_000.0, 3_921_000.0  # near Khmeimim, UTM 36N
SUMMER = datetime(2024, 6, 21, 8, 20, tzinfo=UTC)
WINTER = datetime(2024, 12, 10, 8, 20, tzinfo=UTC)


def _grid(size_m: float = 2000.0, res: float = 10.0) -> Grid:
    return Grid.around(X0, Y0, size_m=size_m, res=res, crs=CRS)


def _uniform(material: str) -> Layout:
    return Layout(crs=CRS, background=material, seed=1)


def _port_layout() -> Layout:
    """Sea in the west half, a concrete quay and land in the east half."""
    west = box(X0 - 2000.0, Y0 - 2000.0, X0, Y0 + 2000.0)
    quay = box(X0, Y0 - 2000.0, X0 + 100.0, Y0 + 2000.0)
    return Layout(
        crs=CRS,
        background="land",
        features=(
            Feature(geometry=west, material="sea"),
            Feature(geometry=quay, material="concrete"),
            Feature(
                geometry=box(X0 + 300, Y0 + 300, X0 + 340, Y0 + 340),
                material="roof_light",
                height_m=12.0,
            ),
        ),
        seed=3,
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- basics


def test_derive_seed_is_stable_and_sensitive() -> None:
    assert derive_seed(2024, "khmeimim", "2024-12-03") == derive_seed(
        2024, "khmeimim", "2024-12-03"
    )
    assert derive_seed(2024, "khmeimim") != derive_seed(2024, "tartus")
    assert derive_seed(1, 23) != derive_seed(12, 3)  # parts are separated
    assert 0 <= derive_seed("x") < 2**63


def test_utm_zone_and_grid_alignment() -> None:
    assert utm_crs_for(35.9486, 35.4011) == "EPSG:32636"
    assert utm_crs_for(24.0, 35.5) == "EPSG:32635"
    assert utm_crs_for(-58.4, -34.6) == "EPSG:32721"
    with pytest.raises(InputError, match="UTM domain"):
        utm_crs_for(10.0, 85.0)
    g = Grid.around(X0 + 3.0, Y0 - 7.0, size_m=4000.0, res=10.0, crs=CRS)
    assert g.shape == (400, 400) and g.left % 20 == 0 and g.top % 20 == 0
    assert g.coarsened(2).shape == (200, 200) and g.refined(5).res == 2.0
    c = Grid.covering((X0, Y0, X0 + 101.0, Y0 + 50.2), res=0.5, crs=CRS)
    minx, miny, maxx, maxy = c.bounds
    assert minx <= X0 and miny <= Y0 and maxx >= X0 + 101.0 and maxy >= Y0 + 50.2
    with pytest.raises(InputError, match="empty"):
        Grid(crs=CRS, left=0.0, top=0.0, res=10.0, width=0, height=3)


def test_sun_position_matches_the_season() -> None:
    az, el = sun_position(35.95, 35.40, SUMMER)
    assert 66.0 < el < 72.0 and 95.0 < az < 140.0  # high in the south-east mid-morning
    az, el = sun_position(35.95, 35.40, WINTER)
    assert 25.0 < el < 34.0 and 140.0 < az < 165.0
    with pytest.raises(InputError, match="timezone"):
        sun_position(35.9, 35.4, datetime(2024, 6, 1, 8))


def test_factories_reject_unknown_classes() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="aircraft class"):
        make_aircraft("zeppelin", x=0.0, y=0.0, heading_deg=0.0, rng=rng)
    with pytest.raises(InputError, match="ship class"):
        make_ship("galleon", x=0.0, y=0.0, heading_deg=0.0, rng=rng)
    with pytest.raises(InputError, match="material"):
        Feature(geometry=box(0, 0, 1, 1), material="cheese")


def test_object_footprints_have_their_nominal_size() -> None:
    rng = np.random.default_rng(1)
    fighter = make_aircraft("fighter", x=100.0, y=200.0, heading_deg=90.0, rng=rng)
    body, top = object_parts(fighter)
    minx, miny, maxx, maxy = body.bounds
    assert top is None
    assert maxx - minx == pytest.approx(22.0, abs=0.01)  # nose east: length along x
    assert maxy - miny == pytest.approx(14.0, abs=0.01)
    assert ((minx + maxx) / 2, (miny + maxy) / 2) == pytest.approx((100.0, 200.0))
    frigate = make_ship("frigate", x=0.0, y=0.0, heading_deg=0.0, rng=rng)
    body, top = object_parts(frigate)
    minx, miny, maxx, maxy = body.bounds
    assert (maxy - miny, maxx - minx) == pytest.approx((135.0, 16.0))
    assert top is not None and body.contains(top)
    launcher = make_vehicle("launcher", x=0.0, y=0.0, heading_deg=45.0, rng=rng)
    assert object_parts(launcher)[0].area == pytest.approx(36.0)


# --------------------------------------------------------------------------- Sentinel-2


def test_s2_render_is_deterministic_and_seeded() -> None:
    model = SceneModel(_port_layout(), _grid())
    rng = np.random.default_rng(0)
    ships = [make_ship("frigate", x=X0 - 300.0, y=Y0, heading_deg=0.0, rng=rng)]
    clouds = CloudSpec(cover=0.3, seed=11)
    a = model.render_s2(when=SUMMER, objects=ships, clouds=clouds, seed=5)
    b = model.render_s2(when=SUMMER, objects=ships, clouds=clouds, seed=5)
    c = model.render_s2(when=SUMMER, objects=ships, clouds=clouds, seed=6)
    for key in ("blue", "green", "red", "nir", "swir16", "scl"):
        assert np.array_equal(a.bands[key], b.bands[key])
    assert not np.array_equal(a.bands["red"], c.bands["red"])
    assert a.bands["red"].dtype == np.uint16 and a.bands["red"].shape == (200, 200)
    assert a.bands["swir16"].shape == (100, 100) and a.bands["scl"].dtype == np.uint8


def test_s2_reflectance_follows_the_surface() -> None:
    model = SceneModel(_port_layout(), _grid())
    r = model.render_s2(when=SUMMER, seed=2)
    nir = r.bands["nir"][:, :80] / 1e4  # open sea
    red_land = r.bands["red"][:, 120:] / 1e4
    assert float(np.median(nir)) == pytest.approx(0.02, abs=0.006)
    assert 0.05 < float(np.median(red_land)) < 0.2
    assert float(np.std(nir)) < 0.01  # sensor noise ~0.004
    scl = r.bands["scl"]
    assert np.mean(scl[:, :40] == 6) > 0.95  # water
    assert np.mean(np.isin(scl[:, 60:], (4, 5))) > 0.9  # land: vegetation / not vegetated
    assert r.cloud_cover == 0.0


def test_ship_appears_at_its_real_size_in_s2() -> None:
    """The nir anomaly of a uniform 135 m x 16 m hull integrates to its area, and its
    second moment along the hull gives its length (area mixing and PSF keep both)."""
    layout = _uniform("sea")
    grid = _grid(1000.0)
    model = SceneModel(layout, grid)
    hull = (0.15, 0.15, 0.15, 0.20, 0.18)
    ship = SceneObject(
        cls="frigate",
        kind="ship",
        x=X0 + 3.0,
        y=Y0 - 4.0,
        heading_deg=90.0,
        length_m=135.0,
        width_m=16.0,
        height_m=0.0,
        s2=hull,
        vv=5.0,
        rgb=(120, 120, 120),
    )
    with_ship = model.render_s2(when=SUMMER, objects=[ship], seed=9)
    without = model.render_s2(when=SUMMER, objects=[], seed=9)
    anomaly = (with_ship.bands["nir"].astype(float) - without.bands["nir"]) / 1e4
    anomaly = np.where(np.abs(anomaly) > 0.002, anomaly, 0.0)  # drop noise-level pixels
    contrast = hull[3] - MATERIALS["sea"].s2[3]
    area = anomaly.sum() * grid.res**2 / contrast
    body, _ = object_parts(ship)
    assert area == pytest.approx(body.area, rel=0.1)
    cols = np.arange(anomaly.shape[1])
    weights = anomaly.sum(axis=0)
    mean = (cols * weights).sum() / weights.sum()
    var = ((cols - mean) ** 2 * weights).sum() / weights.sum()
    length = math.sqrt(12.0 * (var - 0.5**2 - 1.0 / 12.0)) * grid.res
    assert length == pytest.approx(135.0, rel=0.12)


def test_clouds_produce_scl_classes() -> None:
    model = SceneModel(_uniform("land"), _grid())
    overcast = model.render_s2(when=WINTER, clouds=CloudSpec(cover=1.0, seed=1), seed=1)
    assert np.isin(overcast.bands["scl"], (8, 9)).mean() > 0.99
    assert overcast.cloud_cover > 99.0
    assert np.median(overcast.bands["blue"]) / 1e4 > 0.4  # clouds are bright
    partly = model.render_s2(when=WINTER, clouds=CloudSpec(cover=0.4, seed=2), seed=2)
    scl = partly.bands["scl"]
    for cls in (3, 8, 9):  # shadow, medium and high cloud probability
        assert (scl == cls).any(), cls
    assert np.isin(scl, (4, 5)).mean() > 0.25  # some land stays clear
    cloudy = np.isin(scl, (8, 9, 10)).mean() * 100.0
    assert partly.cloud_cover == pytest.approx(cloudy, abs=0.01)
    assert 20.0 < partly.cloud_cover < 60.0
    cirrus = model.render_s2(when=WINTER, clouds=CloudSpec(cover=0.0, cirrus=0.3, seed=3), seed=3)
    assert (cirrus.bands["scl"] == 10).mean() > 0.3
    assert model.render_s2(when=WINTER, seed=4).cloud_cover == 0.0


def test_cloud_shadows_fall_away_from_the_sun() -> None:
    grid = _grid(3000.0)
    az, el = sun_position(35.95, 35.4, WINTER)
    layers = cloud_layers(
        CloudSpec(cover=0.2, height_m=2000.0, seed=8), grid, azimuth=az, elevation=el
    )
    cloud, shadow = layers.cloud > 0.5, layers.shadow > 0.5
    assert cloud.any() and shadow.any()
    (cy, cx), (sy, sx) = ndimage.center_of_mass(cloud), ndimage.center_of_mass(shadow)
    bearing = math.degrees(math.atan2(sx - cx, -(sy - cy))) % 360.0  # rows grow southwards
    assert abs((bearing - (az + 180.0) + 180.0) % 360.0 - 180.0) < 30.0


# --------------------------------------------------------------------------- Sentinel-1


def test_speckle_has_the_expected_mean_and_looks() -> None:
    model = SceneModel(_uniform("land"), _grid(3000.0))
    img = model.render_s1(when=SUMMER, seed=3)
    mean_clutter = model.s1_surface(SUMMER, sea_vv=0.01, moisture=1.0)
    ratio = img["vv"] / (ndimage.gaussian_filter(mean_clutter[0], 0.6) + 0.0015)
    assert float(ratio.mean()) == pytest.approx(1.0, abs=0.02)
    enl = float(ratio.mean() ** 2 / ratio.var())
    assert enl == pytest.approx(S1_ENL, rel=0.1)
    assert float(np.mean(img["vv"])) == pytest.approx(0.08 + 0.0015, rel=0.05)
    assert float(np.mean(img["vh"])) == pytest.approx(0.015 + 0.0008, rel=0.08)
    assert img["vv"].dtype == np.float32 and (img["vv"] > 0).all()


def test_targets_are_bright_in_radar() -> None:
    model = SceneModel(_port_layout(), _grid())
    rng = np.random.default_rng(4)
    ship = make_ship("frigate", x=X0 - 500.0, y=Y0, heading_deg=0.0, rng=rng)
    launcher = make_vehicle("launcher", x=X0 + 500.0, y=Y0 - 500.0, heading_deg=30.0, rng=rng)
    img = model.render_s1(when=SUMMER, objects=[ship, launcher], seed=4)["vv"]
    g = model.grid

    def around(x: float, y: float, half: int) -> np.ndarray:
        c, r = ~g.transform @ (x, y)
        return img[int(r) - half : int(r) + half + 1, int(c) - half : int(c) + half + 1]

    assert float(np.median(img[:, :60])) < 0.02  # open sea is dark
    assert float(around(ship.x, ship.y, 4).max()) > 1.0
    window = around(launcher.x, launcher.y, 3)
    assert 1.0 < float(window.max()) < 12.0  # a bright point target...
    excess = float((window - np.median(img[:, 120:])).sum())
    assert 2.0 < excess < 20.0  # ...holding "vv 1-5 over 1-3 pixels"
    assert (window > 1.0).sum() <= 8


# --------------------------------------------------------------------------- sub-metre


def test_highres_draws_aircraft_at_their_size() -> None:
    grid = _grid(120.0, res=0.5)
    model = SceneModel(_uniform("concrete"), grid)
    plane = SceneObject(
        cls="fighter",
        kind="aircraft",
        x=X0,
        y=Y0,
        heading_deg=0.0,
        length_m=22.0,
        width_m=14.0,
        height_m=0.0,
        s2=(0.4,) * 5,
        vv=1.0,
        rgb=(245, 245, 245),
    )
    img = model.render_highres(when=SUMMER, objects=[plane], seed=1)
    again = model.render_highres(when=SUMMER, objects=[plane], seed=1)
    assert img.dtype == np.uint8 and img.shape == (3, 240, 240)
    assert np.array_equal(img, again)
    bright = img.min(axis=0) > 215
    rows, cols = np.nonzero(bright)
    assert (rows.max() - rows.min() + 1) * 0.5 == pytest.approx(22.0, abs=1.5)
    assert (cols.max() - cols.min() + 1) * 0.5 == pytest.approx(14.0, abs=1.5)
    body, _ = object_parts(plane)
    assert bright.sum() * 0.25 == pytest.approx(body.area, rel=0.15)
    ground = img[:, :40, :40].mean(axis=(1, 2))
    assert 140 < ground.mean() < 190  # concrete grey


def test_highres_needs_a_fine_grid_and_s2_a_coarse_one() -> None:
    with pytest.raises(InputError, match="sub-metre"):
        SceneModel(_uniform("land"), _grid()).render_highres(when=SUMMER)
    with pytest.raises(InputError, match="2 m pixels"):
        SceneModel(_uniform("land"), _grid(50.0, res=0.5)).render_s2(when=SUMMER)


# --------------------------------------------------------------------------- COGs and STAC


def _s2_files(folder: Path, seed: int) -> dict[str, Path]:
    grid = _grid()
    render = SceneModel(_port_layout(), grid).render_s2(
        when=SUMMER, clouds=CloudSpec(cover=0.2, seed=seed), seed=seed
    )
    files = {}
    for key, band in render.bands.items():
        g = grid if band.shape == grid.shape else grid.coarsened(2)
        files[key] = folder / f"{key}.tif"
        write_cog(
            files[key], band, grid=g, nodata=0, resampling="nearest" if key == "scl" else "average"
        )
    return files


def test_cogs_are_valid_and_byte_identical(tmp_path: Path) -> None:
    a = _s2_files(tmp_path / "a", seed=1)
    b = _s2_files(tmp_path / "b", seed=1)
    c = _s2_files(tmp_path / "c", seed=2)
    assert all(_sha(a[k]) == _sha(b[k]) for k in a)
    assert _sha(a["red"]) != _sha(c["red"])
    with rasterio.open(a["red"]) as src:
        assert src.driver == "GTiff" and src.profile["tiled"]
        assert src.crs.to_epsg() == 32636 and src.res == (10.0, 10.0)
        assert src.dtypes[0] == "uint16" and src.nodata == 0
        assert src.overviews(1) and src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    with rasterio.open(a["swir16"]) as src:
        assert src.res == (20.0, 20.0)


def test_write_cog_checks_shapes_and_jpeg(tmp_path: Path) -> None:
    grid = _grid(100.0)
    with pytest.raises(InputError, match="does not match grid"):
        write_cog(tmp_path / "x.tif", np.zeros((3, 3), np.uint16), grid=grid)
    with pytest.raises(InputError, match="JPEG"):
        write_cog(tmp_path / "x.tif", np.zeros((10, 10), np.float32), grid=grid, jpeg_quality=90)
    rgb = np.full((3, 10, 10), 120, np.uint8)
    write_cog(
        tmp_path / "v.tif", rgb, grid=grid, jpeg_quality=90, colorinterp=("red", "green", "blue")
    )
    with rasterio.open(tmp_path / "v.tif") as src:
        assert src.count == 3 and "JPEG" in src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"]
        assert [c.name for c in src.colorinterp] == ["red", "green", "blue"]


def test_items_and_catalogue_open_with_pystac_and_basewatch(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    grid = _grid()
    s2_files = _s2_files(root / "sentinel-2-l2a" / "S2A_test_20240621", seed=1)
    s2 = s2_item(
        item_id="S2A_test_20240621",
        when=SUMMER,
        grid=grid,
        platform="sentinel-2a",
        cloud_cover=12.5,
        sun=(120.0, 69.0),
        files={k: p.resolve() for k, p in s2_files.items()},
    )
    model = SceneModel(_port_layout(), grid)
    s1_bands = model.render_s1(when=SUMMER, seed=2)
    s1_files = {}
    for key, band in s1_bands.items():
        s1_files[key] = (root / "sentinel-1-grd" / "S1A_test" / f"{key}.tif").resolve()
        write_cog(s1_files[key], band, grid=grid, nodata=0)
    s1 = s1_item(
        item_id="S1A_test",
        when=SUMMER,
        grid=grid,
        platform="sentinel-1a",
        orbit_state="descending",
        relative_orbit=21,
        files=s1_files,
    )
    hr_grid = Grid.covering((X0, Y0, X0 + 60.0, Y0 + 40.0), res=0.5, crs=CRS)
    hr_path = (root / "highres" / "VHR_test" / "visual.tif").resolve()
    image = SceneModel(_uniform("concrete"), hr_grid).render_highres(when=SUMMER, seed=1)
    write_cog(hr_path, image, grid=hr_grid, jpeg_quality=90)
    hr = highres_item(
        item_id="VHR_test",
        when=SUMMER,
        grid=hr_grid,
        platform="simsat-vhr",
        constellation="simulated-vhr",
        sun=(120.0, 69.0),
        path=hr_path,
    )
    assert set(s2.assets) == {"blue", "green", "red", "nir", "swir16", "scl"}
    assert s2.assets["red"].extra_fields["raster:bands"][0]["scale"] == 0.0001
    assert s2.properties["proj:code"] == CRS and s2.properties["eo:cloud_cover"] == 12.5
    assert any("sar" in e for e in s1.stac_extensions) and any(
        "sat" in e for e in s1.stac_extensions
    )
    assert s1.properties["basewatch:georeferencing"] == "grid"
    assert set(hr.assets) == {"visual"} and hr.properties["gsd"] == 0.5
    with pytest.raises(InputError, match="lacks asset"):
        s2_item(
            item_id="bad",
            when=SUMMER,
            grid=grid,
            platform="sentinel-2a",
            cloud_cover=0.0,
            sun=(0.0, 0.0),
            files={"red": s2_files["red"]},
        )
    catalog_json = write_catalog(
        root,
        catalog_id="test",
        description="test",
        collections=[
            CollectionSpec(id="sentinel-2-l2a", title="S2", description="S2", items=[s2]),
            CollectionSpec(id="sentinel-1-grd", title="S1", description="S1", items=[s1]),
            CollectionSpec(id="highres", title="HR", description="HR", items=[hr]),
        ],
    )
    text = (root / "sentinel-2-l2a" / "S2A_test_20240621" / "S2A_test_20240621.json").read_text()
    assert str(tmp_path) not in text  # hrefs are relative
    cat = pystac.Catalog.from_file(str(catalog_json))
    items = {it.id: it for it in cat.get_items(recursive=True)}
    assert set(items) == {"S2A_test_20240621", "S1A_test", "VHR_test"}
    scenes = {s.id: s for s in (scene_from_item(it) for it in items.values()) if s is not None}
    assert {s.sensor for s in scenes.values()} == {"sentinel-2", "sentinel-1", "highres"}
    assert scenes["S1A_test"].georeferencing == "grid"
    assert scenes["S2A_test_20240621"].scales["red"] == (0.0001, 0.0)
    found = open_catalog(catalog_json).search(
        bbox=tuple(s2.bbox),  # type: ignore[arg-type]
        start=datetime(2024, 6, 1, tzinfo=UTC),
        end=datetime(2024, 7, 1, tzinfo=UTC),
    )
    assert {s.id for s in found} == set(items)
    # the loader cuts a zone's chip out of the written COGs
    zone_geom = box(35.93, 35.39, 35.935, 35.393)
    zone = Zone(site_id="x", id="z", kind="apron", target="aircraft", geometry=zone_geom)
    chip = load_chip(scenes["S2A_test_20240621"], zone)
    assert chip.zone_mask.any() and 0.0 < float(np.nanmean(chip.bands["red"])) < 0.5

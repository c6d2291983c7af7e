"""Local GeoTIFF folders as catalogues, the chip cache, and GCP-referenced (Sentinel-1 GRD)
images warped onto the zone grid."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.control import GroundControlPoint
from shapely.geometry import box

from basewatch.errors import CatalogError, InputError
from basewatch.imagery.catalog import Scene, open_catalog
from basewatch.imagery.folder import (
    FolderCatalog,
    infer_sensor,
    scene_from_file,
    time_from_name,
    time_from_tag,
)
from basewatch.imagery.load import LoadParams, load_chip
from basewatch.monitor import parse_day
from basewatch.sites import Zone

X0, Y0 = 770_000.0, 3_925_000.0  # EPSG:32636, near Khmeimim
TO_WGS = Transformer.from_crs("EPSG:32636", "EPSG:4326", always_xy=True)
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32636", always_xy=True)


def _zone(x0: float, y0: float, x1: float, y1: float) -> Zone:
    w, s = TO_WGS.transform(x0, y0)
    e, n = TO_WGS.transform(x1, y1)
    return Zone(site_id="s", id="z", kind="apron", target="any", geometry=box(w, s, e, n))


def _write(path: Path, data: np.ndarray, **profile: object) -> None:
    count, h, w = data.shape
    with rasterio.open(
        path, "w", driver="GTiff", height=h, width=w, count=count, dtype=data.dtype, **profile
    ) as dst:
        dst.write(data)


def _s2_stack(rng: np.random.Generator) -> np.ndarray:
    refl = np.array([0.07, 0.09, 0.11, 0.25, 0.28])[:, None, None]
    data = (rng.normal(refl, 0.003, (5, 200, 200)) * 10_000).astype(np.uint16)
    scl = np.full((1, 200, 200), 4, np.uint16)
    scl[0, :, :100] = 8  # cloud over the west half
    return np.concatenate([data, scl])


def test_dates_from_tags_and_names() -> None:
    assert time_from_tag("2024:12:03 08:20:11") == datetime(2024, 12, 3, 8, 20, 11, tzinfo=UTC)
    assert time_from_tag("yesterday") is None
    assert time_from_name("S2_20241203T082011_x.tif") == datetime(
        2024, 12, 3, 8, 20, 11, tzinfo=UTC
    )
    assert time_from_name("tartus-2024-12-03.tif") == datetime(2024, 12, 3, tzinfo=UTC)
    assert time_from_name("tile_99999999_20241203.tif") == datetime(2024, 12, 3, tzinfo=UTC)
    assert time_from_name("scene.tif") is None
    assert infer_sensor(2, "float32") == "sentinel-1"
    assert infer_sensor(3, "uint8") == "highres"
    assert infer_sensor(6, "uint16") == "sentinel-2"
    assert infer_sensor(1, "uint16") is None


def test_folder_of_geotiffs_is_a_catalogue(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    grid = {"crs": "EPSG:32636", "transform": Affine(10, 0, X0, 0, -10, Y0), "nodata": 0}
    _write(tmp_path / "khmeimim_20241203.tif", _s2_stack(rng), **grid)
    tagged = tmp_path / "sub" / "radar.tif"
    tagged.parent.mkdir()
    vv = rng.gamma(4.5, 0.08 / 4.5, (2, 200, 200)).astype(np.float32)
    _write(tagged, vv, crs="EPSG:32636", transform=grid["transform"])
    with rasterio.open(tagged, "r+") as dst:
        dst.update_tags(TIFFTAG_DATETIME="2024:12:05 03:40:00")
    catalog = open_catalog(tmp_path)
    assert isinstance(catalog, FolderCatalog)
    zone = _zone(X0 + 600, Y0 - 1400, X0 + 1400, Y0 - 600)
    scenes = catalog.search(
        bbox=zone.geometry.bounds, start=parse_day("2024-12-01"), end=parse_day("2024-12-31")
    )
    assert [(s.id, s.sensor) for s in scenes] == [
        ("khmeimim_20241203", "sentinel-2"),
        ("radar", "sentinel-1"),
    ]
    assert scenes[1].time == datetime(2024, 12, 5, 3, 40, tzinfo=UTC)
    s2 = load_chip(scenes[0], zone, params=LoadParams(use_cache=False))
    assert set(s2.bands) == {"blue", "green", "red", "nir", "swir16", "scl"}
    assert float(np.nanmedian(s2.bands["nir"])) == pytest.approx(0.25, abs=0.005)
    assert float(np.nanmedian(s2.bands["blue"])) == pytest.approx(0.07, abs=0.005)
    assert s2.clear_fraction == pytest.approx(0.5, abs=0.05)  # west half under cloud (SCL 8)
    s1 = load_chip(scenes[1], zone, params=LoadParams(use_cache=False))
    assert set(s1.bands) == {"vv", "vh"} and s1.clear_fraction == 1.0
    outside = catalog.search(
        bbox=zone.geometry.bounds, start=parse_day("2025-01-01"), end=parse_day("2025-02-01")
    )
    assert outside == []


def test_folder_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="without a catalog.json"):
        open_catalog(tmp_path)
    grid = {"crs": "EPSG:32636", "transform": Affine(10, 0, X0, 0, -10, Y0)}
    _write(tmp_path / "nodate.tif", np.ones((2, 20, 20), np.float32), **grid)
    everywhere = {
        "bbox": (-180, -90, 180, 90),
        "start": parse_day("2000-01-01"),
        "end": parse_day("2030-01-01"),
    }
    # a file that is not a usable scene is left out and recorded with its reason
    catalog = open_catalog(tmp_path)
    assert catalog.search(**everywhere) == []
    assert isinstance(catalog, FolderCatalog)
    (failure,) = catalog.failures
    assert re.search(r"nodate.tif: no acquisition date.*YYYYMMDD", failure)
    with pytest.raises(CatalogError, match=r"nodate.tif: no acquisition date.*YYYYMMDD"):
        scene_from_file(tmp_path / "nodate.tif")
    (tmp_path / "nodate.tif").rename(tmp_path / "odd_20241201.tif")
    _write(tmp_path / "odd_20241201.tif", np.ones((1, 20, 20), np.int16), **grid)
    catalog = open_catalog(tmp_path)
    assert catalog.search(**everywhere) == []
    assert isinstance(catalog, FolderCatalog)
    assert "give --sensor" in catalog.failures[0]
    found = open_catalog(tmp_path, sensor="sentinel-1").search(
        bbox=(-180, -90, 180, 90), start=parse_day("2000-01-01"), end=parse_day("2030-01-01")
    )
    assert [s.sensor for s in found] == ["sentinel-1"]
    with pytest.raises(InputError, match="--sensor radar"):
        open_catalog(tmp_path, sensor="radar")
    (tmp_path / "catalog.json").write_text('{"type": "Catalog", "id": "c", "links": []}')
    for stac in (str(tmp_path), "earth-search", "https://example.org/stac"):
        with pytest.raises(InputError, match="only a folder of GeoTIFF files takes --sensor"):
            open_catalog(stac, sensor="sentinel-1")  # was ignored: every sensor listed


def test_a_file_whose_pixels_the_sensor_cannot_have_is_refused(tmp_path: Path) -> None:
    """0.5 m RGB images given as Sentinel-1 were counted by the radar detector (0 vehicles
    where the sub-metre detector counts 5); now the file is refused, naming the sensor that
    fits. A 10 m stack told to be sub-metre likewise."""
    rgb = np.random.default_rng(3).integers(0, 255, (3, 40, 40), dtype=np.uint8)
    fine = {"crs": "EPSG:32636", "transform": Affine(0.5, 0, X0, 0, -0.5, Y0)}
    _write(tmp_path / "apron_20241201.tif", rgb, **fine)
    assert scene_from_file(tmp_path / "apron_20241201.tif").sensor == "highres"
    with pytest.raises(CatalogError, match=r"apron_20241201\.tif: its pixels are 0\.5 m.*"
                       r"sentinel-1.*give --sensor highres"):  # fmt: skip
        scene_from_file(tmp_path / "apron_20241201.tif", sensor="sentinel-1")
    catalog = open_catalog(tmp_path, sensor="sentinel-1")
    assert isinstance(catalog, FolderCatalog)
    everywhere = (-180, -90, 180, 90)
    assert catalog.search(bbox=everywhere, start=parse_day("2024-01-01"),
                          end=parse_day("2025-01-01")) == []  # fmt: skip
    assert "give --sensor highres" in catalog.failures[0]
    coarse = {"crs": "EPSG:32636", "transform": Affine(10, 0, X0, 0, -10, Y0)}
    _write(tmp_path / "s2_20241201.tif", _s2_stack(np.random.default_rng(4)), **coarse)
    with pytest.raises(
        CatalogError, match=r"pixels are 9\.99 m, which highres.*--sensor sentinel-2"
    ):
        scene_from_file(tmp_path / "s2_20241201.tif", sensor="highres")


def test_the_window_note_says_how_the_days_were_chosen(tmp_path: Path) -> None:
    from basewatch.imagery.catalog import window_note

    grid = {"crs": "EPSG:32636", "transform": Affine(10, 0, X0, 0, -10, Y0)}
    _write(tmp_path / "odd_20241201.tif", np.ones((1, 20, 20), np.int16), **grid)
    unreadable = open_catalog(tmp_path)  # its one file cannot be told a sensor: no scene
    assert window_note(unreadable, None, None) == " (default: the 365 days up to today)"
    _write(tmp_path / "s1_20241203.tif", np.ones((2, 20, 20), np.float32), **grid)
    listing = open_catalog(tmp_path)
    assert window_note(listing, None, None) == " (default: the catalogue's own span)"
    assert (
        window_note(listing, None, "2024-12-31") == " (default: from the catalogue's first scene)"
    )
    assert (
        window_note(listing, "2024-12-01", None) == " (default: up to the catalogue's last scene)"
    )
    assert window_note(listing, "2024-12-01", "2024-12-31") == ""


def _counting_scene(tmp_path: Path) -> Scene:
    rng = np.random.default_rng(2)
    grid = {"crs": "EPSG:32636", "transform": Affine(10, 0, X0, 0, -10, Y0)}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "s1_20241203.tif"
    _write(path, rng.gamma(4.5, 0.08 / 4.5, (2, 200, 200)).astype(np.float32), **grid)
    return open_catalog(tmp_path).search(
        bbox=(-180, -90, 180, 90), start=parse_day("2024-01-01"), end=parse_day("2025-01-01")
    )[0]


def test_chip_cache_serves_a_rerun_without_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import basewatch.imagery.load as load_module

    monkeypatch.delenv("BASEWATCH_NO_CACHE", raising=False)
    scene = _counting_scene(tmp_path / "images")
    zone = _zone(X0 + 600, Y0 - 1400, X0 + 1400, Y0 - 600)
    reads: list[str] = []
    real = load_module._read_warped

    def counted(href: str, **kwargs: object) -> np.ndarray:
        reads.append(href)
        return real(href, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(load_module, "_read_warped", counted)
    params = LoadParams(cache_dir=tmp_path / "cache")
    first = load_chip(scene, zone, params=params)
    assert len(reads) == 2 and list((tmp_path / "cache").rglob("*.npz"))
    again = load_chip(scene, zone, params=params)
    assert len(reads) == 2  # nothing read the second time
    for name in first.bands:
        np.testing.assert_array_equal(first.bands[name], again.bands[name])
    np.testing.assert_array_equal(first.valid, again.valid)
    assert again.transform == first.transform and again.clear_fraction == first.clear_fraction
    other = _zone(X0 + 500, Y0 - 1400, X0 + 1400, Y0 - 600)  # another zone: another key
    load_chip(scene, other, params=params)
    assert len(reads) == 4
    load_chip(scene, zone, params=LoadParams(cache_dir=tmp_path / "cache", use_cache=False))
    assert len(reads) == 6  # --no-cache reads again
    monkeypatch.setenv("BASEWATCH_NO_CACHE", "1")
    load_chip(scene, zone, params=params)
    assert len(reads) == 8
    # Local files are not cached by default (reading them is as cheap as the cache).
    monkeypatch.delenv("BASEWATCH_NO_CACHE")
    monkeypatch.delenv("BASEWATCH_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    load_chip(scene, zone, params=LoadParams())
    assert not (tmp_path / "xdg").exists()


def test_corrupt_cache_entry_is_read_again(tmp_path: Path) -> None:
    scene = _counting_scene(tmp_path / "images")
    zone = _zone(X0 + 600, Y0 - 1400, X0 + 1400, Y0 - 600)
    params = LoadParams(cache_dir=tmp_path / "cache")
    first = load_chip(scene, zone, params=params)
    (entry,) = (tmp_path / "cache").rglob("*.npz")
    entry.write_bytes(b"not a npz")
    again = load_chip(scene, zone, params=params)
    np.testing.assert_array_equal(first.bands["vv"], again.bands["vv"])


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_gcp_referenced_image_is_warped_to_the_right_place(tmp_path: Path) -> None:
    """A GRD-like image: rotated, flipped (ascending pass), georeferenced by lon/lat GCPs only."""
    h, w = 240, 260
    angle = np.radians(12.0)
    # pixel (col, row) -> UTM: 10 m pixels, rows run north-to-south rotated by 12 degrees,
    # columns run east-to-west (a mirror image, as on an ascending pass).
    ox, oy = X0 + 2600.0, Y0 - 100.0

    def to_utm(col: float, row: float) -> tuple[float, float]:
        x = ox - 10 * col * np.cos(angle) + 10 * row * np.sin(angle)
        y = oy - 10 * col * np.sin(angle) - 10 * row * np.cos(angle)
        return float(x), float(y)

    gcps = []
    for row in np.linspace(0, h, 6):
        for col in np.linspace(0, w, 6):
            lon, lat = TO_WGS.transform(*to_utm(col, row))
            gcps.append(GroundControlPoint(row=row, col=col, x=lon, y=lat, z=0.0))
    data = np.full((1, h, w), 0.02, np.float32)
    target_rc = (101, 57)  # (row, col) of a bright point target
    data[0, target_rc[0], target_rc[1]] = 5.0
    path = tmp_path / "S1A_IW_GRDH_20241203.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=h, width=w, count=1, dtype="float32"
    ) as dst:
        dst.write(data)
        dst.gcps = (gcps, rasterio.crs.CRS.from_epsg(4326))
    scene = open_catalog(tmp_path, sensor="sentinel-1").search(
        bbox=(-180, -90, 180, 90), start=parse_day("2024-01-01"), end=parse_day("2025-01-01")
    )[0]
    assert scene.georeferencing == "gcp" and scene.sensor == "sentinel-1"
    ex, ey = to_utm(target_rc[1] + 0.5, target_rc[0] + 0.5)  # centre of the target pixel
    zone = _zone(ex - 400, ey - 300, ex + 400, ey + 300)
    chip = load_chip(scene, zone, params=LoadParams(use_cache=False))
    row, col = np.unravel_index(np.nanargmax(chip.bands["vv"]), chip.bands["vv"].shape)
    x, y = chip.transform @ (col + 0.5, row + 0.5)
    assert chip.crs == "EPSG:32636"
    assert abs(x - ex) <= 10.0 and abs(y - ey) <= 10.0  # within one 10 m pixel
    assert chip.meta["georeferencing"] == "gcp"

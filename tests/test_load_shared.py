"""A site's zones read from one scene together: the same chips, each tile fetched once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box

from basewatch.errors import ImageryError
from basewatch.imagery.catalog import Scene
from basewatch.imagery.chip import Chip
from basewatch.imagery.load import LoadParams, load_chip, load_chips
from basewatch.imagery.testing import serve_directory
from basewatch.monitor import ChipTask, by_group, group_key, observe_chip, observe_chips
from basewatch.sites import Zone

X0, Y0 = 700_000.0, 3_930_000.0
"""Upper-left corner of the test image (EPSG:32636, near Tartus)."""


def _cog(path: Path) -> None:
    rng = np.random.default_rng(3)
    data = rng.gamma(4.0, 0.02, (2, 512, 512)).astype(np.float32)
    profile = {
        "driver": "GTiff",
        "width": 512,
        "height": 512,
        "count": 2,
        "dtype": "float32",
        "crs": "EPSG:32636",
        "transform": Affine(10, 0, X0, 0, -10, Y0),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def _zone(zone_id: str, x0: float, y0: float, x1: float, y1: float, site: str = "s") -> Zone:
    to_ll = Transformer.from_crs("EPSG:32636", "EPSG:4326", always_xy=True)
    lo, hi = to_ll.transform(x0, y0), to_ll.transform(x1, y1)
    geom = box(lo[0], lo[1], hi[0], hi[1])
    return Zone(site_id=site, id=zone_id, kind="pier", target="ship", geometry=geom)


def _scene(href: str, scene_id: str = "radar") -> Scene:
    return Scene(
        id=scene_id,
        collection="test",
        sensor="sentinel-1",
        time=datetime(2024, 12, 1, tzinfo=UTC),
        bbox=(-180.0, -90.0, 180.0, 90.0),
        cloud_cover=None,
        assets={"vv": href},
        band_index={"vv": (1,)},
    )


ZONES = [
    _zone("a", X0 + 600, Y0 - 1400, X0 + 1200, Y0 - 900),
    _zone("b", X0 + 1000, Y0 - 1300, X0 + 1500, Y0 - 800),
    _zone("c", X0 + 700, Y0 - 2000, X0 + 1000, Y0 - 1700),
]


def test_zones_read_together_give_the_chips_read_alone_and_fetch_once(tmp_path: Path) -> None:
    _cog(tmp_path / "vv.tif")
    params = LoadParams(use_cache=False)
    with serve_directory(tmp_path) as (url, stats, _):
        together = load_chips(_scene(f"{url}/vv.tif?together"), ZONES, params=params)
        shared_bytes, shared_requests = stats.bytes_sent, stats.requests
        alone = [load_chip(_scene(f"{url}/vv.tif?z={z.id}"), z, params=params) for z in ZONES]
        alone_bytes = stats.bytes_sent - shared_bytes
    for chip, single in zip(together, alone, strict=True):
        assert isinstance(chip, Chip)
        assert chip.transform == single.transform and chip.crs == single.crs
        np.testing.assert_array_equal(chip.bands["vv"], single.bands["vv"])
        np.testing.assert_array_equal(chip.valid, single.valid)
        np.testing.assert_array_equal(chip.zone_mask, single.zone_mask)
    # the three zones lie on the same tiles: read together, those tiles come once
    assert shared_bytes < 0.6 * alone_bytes
    assert shared_requests < stats.requests - shared_requests


def test_a_zone_that_cannot_be_loaded_gets_its_error_and_the_others_load(
    tmp_path: Path,
) -> None:
    _cog(tmp_path / "vv.tif")
    huge = _zone("huge", X0 - 50_000, Y0 - 90_000, X0 + 90_000, Y0 + 50_000)
    out = load_chips(_scene(str(tmp_path / "vv.tif")), [ZONES[0], huge], params=LoadParams())
    assert isinstance(out[0], Chip)
    assert isinstance(out[1], ImageryError) and "too large" in str(out[1])
    missing = load_chips(_scene(str(tmp_path / "nope.tif")), ZONES[:2], params=LoadParams())
    assert all(isinstance(m, ImageryError) and "nope.tif" in str(m) for m in missing)


@pytest.mark.parametrize("io_threads", [1, 4])
def test_observe_chips_keeps_the_order_and_matches_one_by_one(
    tmp_path: Path, io_threads: int
) -> None:
    _cog(tmp_path / "vv.tif")
    scenes = [_scene(str(tmp_path / "vv.tif"), f"radar-{i}") for i in range(3)]
    tasks = [ChipTask(zone=z, scene=s) for z in ZONES for s in scenes]
    ordered = by_group(tasks)
    assert [group_key(t) for t in ordered] == sorted(group_key(t) for t in tasks)
    load = LoadParams(use_cache=False, io_threads=io_threads)
    results = observe_chips(ordered, load)
    assert len(results) == len(ordered)
    for task, (obs, error) in zip(ordered, results, strict=True):
        expected, expected_error = observe_chip(task, load)
        assert error == expected_error == ""
        assert obs == expected and obs is not None
        assert (obs.zone_id, obs.scene_id) == (task.zone.id, task.scene.id)

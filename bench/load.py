"""Per-zone loading over HTTP: chips per second and bytes read per chip, against a whole-scene
read, for a 10980 x 10980 Sentinel-2-like COG (1024 px DEFLATE tiles, overviews) that the
bench writes and serves from a loopback HTTP server that counts the bytes it sends.

Usage: python bench/load.py [--zones N] [--keep DIR]
Prints the figures; asserts nothing.

Goal: bytes read per chip within 1.5x the compressed
bytes of the full-resolution tiles the zone's window touches.

Then sites: --sites N groups of three zones (an apron, a pier and a position a few hundred
metres apart, as at a real base) read the way `monitor` reads them, all zones of a site
from one scene together (`load_chips`: each asset opened once, tiles shared). Goal: bytes
read per site and scene within 1.2x the compressed bytes of the tiles the site touches
(the union of its zones' tiles); the same zones read one by one are printed beside it.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.shutil import copy as rio_copy
from rasterio.warp import transform_bounds
from rasterio.windows import from_bounds
from scipy import ndimage
from shapely.geometry import box

from basewatch.imagery.catalog import Scene
from basewatch.imagery.chip import Chip
from basewatch.imagery.load import LoadParams, load_chip, load_chips
from basewatch.imagery.net import DEFAULT_NETWORK, gdal_options
from basewatch.imagery.testing import serve_directory
from basewatch.sites import Zone

SIZE = 10980
"""Pixels per side of a Sentinel-2 MGRS tile at 10 m."""
X0, Y0 = 699_960.0, 3_990_240.0
"""Upper-left corner of MGRS tile 36SYE-like (EPSG:32636), around Khmeimim / Tartus."""
ZONE_SIZES_M = ((600, 300), (1000, 500), (2000, 1500), (300, 300))
"""Zone footprints cycled through (apron, pier, whole base, air-defence position)."""


def write_cog(path: Path) -> None:
    """A textured uint16 reflectance band, written as a COG like Earth Search's."""
    rng = np.random.default_rng(0)
    coarse = ndimage.zoom(rng.normal(0.12, 0.05, (344, 344)), SIZE / 344, order=1)[:SIZE, :SIZE]
    data = np.clip((coarse + rng.normal(0, 0.01, (SIZE, SIZE))) * 10_000, 1, 65535)
    data = data.astype(np.uint16)
    tmp = path.with_suffix(".plain.tif")
    profile = {
        "driver": "GTiff",
        "width": SIZE,
        "height": SIZE,
        "count": 1,
        "dtype": "uint16",
        "crs": "EPSG:32636",
        "transform": Affine(10, 0, X0, 0, -10, Y0),
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
    }
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data, 1)
    rio_copy(tmp, path, driver="COG", BLOCKSIZE=1024, COMPRESS="DEFLATE", PREDICTOR=2)
    tmp.unlink()


def zones(n: int) -> list[Zone]:
    """``n`` zones spread over the tile, of the sizes in :data:`ZONE_SIZES_M`."""
    to_wgs = Transformer.from_crs("EPSG:32636", "EPSG:4326", always_xy=True)
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        w, h = ZONE_SIZES_M[i % len(ZONE_SIZES_M)]
        x = X0 + rng.uniform(5_000, SIZE * 10 - 5_000)
        y = Y0 - rng.uniform(5_000, SIZE * 10 - 5_000)
        lo = to_wgs.transform(x, y - h)
        hi = to_wgs.transform(x + w, y)
        geom = box(lo[0], lo[1], hi[0], hi[1])
        out.append(Zone(site_id="bench", id=f"z{i}", kind="other", target="any", geometry=geom))
    return out


def touched_tile_bytes(
    path: Path, chip_crs: str, chip_transform: Affine, width: int, height: int
) -> int:
    """Compressed bytes of the full-resolution tiles under a chip's footprint."""
    return sum(touched_tiles(path, chip_crs, chip_transform, width, height).values())


def touched_tiles(
    path: Path, chip_crs: str, chip_transform: Affine, width: int, height: int
) -> dict[tuple[int, int], int]:
    """Compressed bytes of the full-resolution tiles under a chip's footprint (+1 px for
    bilinear resampling). The chip's grid may be in another UTM zone than the file (a zone
    east of 36 deg E lies in UTM 37N), so its bounds are carried into the file's CRS first."""
    with rasterio.open(path) as src:
        bx, by = src.block_shapes[0][1], src.block_shapes[0][0]
        left, top = chip_transform @ (0, 0)
        right, bottom = chip_transform @ (width, height)
        bounds = transform_bounds(chip_crs, src.crs, left, bottom, right, top, densify_pts=21)
        win = from_bounds(*bounds, transform=src.transform)
        col0, row0 = win.col_off - 1, win.row_off - 1
        col1, row1 = win.col_off + win.width + 1, win.row_off + win.height + 1
        c0, r0 = max(0, math.floor(col0 / bx)), max(0, math.floor(row0 / by))
        c1 = min(math.ceil(src.width / bx), math.ceil(col1 / bx))
        r1 = min(math.ceil(src.height / by), math.ceil(row1 / by))
        tiles = {}
        for r in range(r0, r1):
            for c in range(c0, c1):
                size = src.get_tag_item(f"BLOCK_SIZE_{c}_{r}", "TIFF", bidx=1)
                tiles[(c, r)] = int(size or 0)
    return tiles


SITE_OFFSETS_M = ((0, 0, 600, 300), (700, -200, 1000, 500), (-500, -900, 300, 300))
"""A site's zones: (dx, dy, width, height) in metres from the site's corner."""


def sites(n: int) -> list[list[Zone]]:
    """``n`` sites of three zones each, spread over the tile."""
    to_wgs = Transformer.from_crs("EPSG:32636", "EPSG:4326", always_xy=True)
    rng = np.random.default_rng(2)
    out = []
    for i in range(n):
        x0 = X0 + rng.uniform(5_000, SIZE * 10 - 5_000)
        y0 = Y0 - rng.uniform(5_000, SIZE * 10 - 5_000)
        zones_ = []
        for j, (dx, dy, w, h) in enumerate(SITE_OFFSETS_M):
            lo = to_wgs.transform(x0 + dx, y0 + dy - h)
            hi = to_wgs.transform(x0 + dx + w, y0 + dy)
            geom = box(lo[0], lo[1], hi[0], hi[1])
            zones_.append(
                Zone(site_id=f"s{i}", id=f"z{j}", kind="other", target="any", geometry=geom)
            )
        out.append(zones_)
    return out


def _scene(url: str, tag: str) -> Scene:
    return Scene(
        id=f"bench-{tag}",
        collection="bench",
        sensor="sentinel-1",
        time=datetime(2024, 12, 1, tzinfo=UTC),
        bbox=(-180.0, -90.0, 180.0, 90.0),
        cloud_cover=None,
        assets={"vv": f"{url}?{tag}"},  # a fresh URL: a cold read
    )


def measure_sites(cog: Path, url: str, stats: Any, n: int) -> None:
    """Bytes read per site and scene (zones together, and one by one) against tile bytes."""
    params = LoadParams(use_cache=False)
    print(
        f"{'site':<5} {'req':>4} {'bytes read':>11} {'tile bytes':>11} {'ratio':>6} "
        f"{'zone by zone':>12} {'ratio':>6}"
    )
    ratios, alone_ratios = [], []
    for i, zones_ in enumerate(sites(n)):
        before_b, before_n = stats.bytes_sent, stats.requests
        chips = load_chips(_scene(url, f"site={i}"), zones_, params=params)
        sent, requests = stats.bytes_sent - before_b, stats.requests - before_n
        tiles: dict[tuple[int, int], int] = {}
        for chip in chips:
            assert isinstance(chip, Chip), chip
            h, w = chip.zone_mask.shape
            tiles.update(touched_tiles(cog, chip.crs, chip.transform, w, h))
        before_b = stats.bytes_sent
        for j, zone in enumerate(zones_):
            load_chip(_scene(url, f"site={i}&zone={j}"), zone, params=params)
        alone = stats.bytes_sent - before_b
        tile_bytes = sum(tiles.values())
        ratios.append(sent / max(tile_bytes, 1))
        alone_ratios.append(alone / max(tile_bytes, 1))
        print(
            f"s{i:<4} {requests:>4} {sent:>11,} {tile_bytes:>11,} {ratios[-1]:>6.2f} "
            f"{alone:>12,} {alone_ratios[-1]:>6.2f}"
        )
    print(
        f"bytes read per site and scene / bytes of the tiles the site touches: median "
        f"{np.median(ratios):.2f}, max {max(ratios):.2f} (goal <= 1.2); zone by zone: median "
        f"{np.median(alone_ratios):.2f}, max {max(alone_ratios):.2f}"
    )


def main() -> None:
    """Write the COG, serve it, load each zone cold over HTTP and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zones", type=int, default=12)
    parser.add_argument("--sites", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="Write the COG here and keep it.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        cog = root / "B02.tif"
        t0 = time.perf_counter()
        if not cog.exists():
            write_cog(cog)
        file_bytes = cog.stat().st_size
        with rasterio.open(cog) as src:
            full_res = sum(
                int(src.get_tag_item(f"BLOCK_SIZE_{c}_{r}", "TIFF", bidx=1) or 0)
                for r in range(math.ceil(src.height / 1024))
                for c in range(math.ceil(src.width / 1024))
            )
        print(
            f"COG {SIZE} x {SIZE}: {file_bytes / 1e6:.1f} MB on disk, full-resolution tiles "
            f"{full_res / 1e6:.1f} MB (written in {time.perf_counter() - t0:.1f} s)"
        )
        params = LoadParams(use_cache=False)
        rows = []
        with serve_directory(root) as (url, stats, _):
            for i, zone in enumerate(zones(args.zones)):
                scene = Scene(
                    id=f"bench-{i}",
                    collection="bench",
                    sensor="sentinel-1",
                    time=datetime(2024, 12, 1, tzinfo=UTC),
                    bbox=(-180.0, -90.0, 180.0, 90.0),
                    cloud_cover=None,
                    assets={"vv": f"{url}/{cog.name}?zone={i}"},  # a fresh URL: a cold read
                )
                before_b, before_n = stats.bytes_sent, stats.requests
                t = time.perf_counter()
                chip = load_chip(scene, zone, params=params)
                dt = time.perf_counter() - t
                h, w = chip.zone_mask.shape
                tiles = touched_tile_bytes(cog, chip.crs, chip.transform, w, h)
                sent = stats.bytes_sent - before_b
                rows.append((zone.id, w, h, dt, stats.requests - before_n, sent, tiles))
            t = time.perf_counter()
            with (
                rasterio.Env(**gdal_options(DEFAULT_NETWORK)),
                rasterio.open(f"{url}/{cog.name}?whole=1") as src,
            ):
                src.read(1)
            whole_s = time.perf_counter() - t
            whole_sent = stats.bytes_sent - sum(r[5] for r in rows)
            measure_sites(cog, f"{url}/{cog.name}", stats, args.sites)
        print(
            f"{'zone':<5} {'px':>9} {'s':>6} {'req':>4} {'bytes read':>11} "
            f"{'tile bytes':>11} {'ratio':>6}"
        )
        for zid, w, h, dt, n, sent, tiles in rows:
            print(
                f"{zid:<5} {w:>4}x{h:<4} {dt:>6.3f} {n:>4} {sent:>11,} {tiles:>11,} "
                f"{sent / max(tiles, 1):>6.2f}"
            )
        total_t = sum(r[3] for r in rows)
        mean_sent = sum(r[5] for r in rows) / len(rows)
        ratios = [r[5] / max(r[6], 1) for r in rows]
        print(f"chips/s (cold, loopback HTTP, 1 process): {len(rows) / total_t:.1f}")
        print(
            f"bytes read per chip: mean {mean_sent / 1e3:,.0f} kB; whole-scene read "
            f"{whole_sent / 1e6:,.1f} MB in {whole_s:.1f} s "
            f"({whole_sent / mean_sent:,.0f}x a chip)"
        )
        print(
            f"bytes read / bytes of touched tiles: median {np.median(ratios):.2f}, "
            f"max {max(ratios):.2f} (goal <= 1.5)"
        )


if __name__ == "__main__":
    main()

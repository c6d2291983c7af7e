"""Chip images for the report and the dashboard: one zone's pixels from one stored scene.

A chip is read again from the scene's STAC item (the ``href`` kept in the store), never
from a path given by the client: routes take a site id, a zone id and a scene id, and
each is looked up in the store first.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from basewatch.errors import ImageryError
from basewatch.imagery.chip import Chip
from basewatch.sites import Zone
from basewatch.store import SceneRecord

__all__ = ["ChipImage", "chip_overlay", "chip_png", "data_uri", "render_chip", "render_overlay"]

S2_DISPLAY_MAX = 0.3
"""Sentinel-2 reflectance shown as full brightness."""
S1_DB_RANGE = (-25.0, 5.0)
"""Sentinel-1 backscatter range (dB) mapped to black..white."""


@dataclass(frozen=True, kw_only=True)
class ChipImage:
    """A chip rendered for display."""

    png: bytes
    """PNG bytes (RGBA; pixels that are not valid are transparent)."""
    bounds: tuple[float, float, float, float]
    """``(west, south, east, north)`` in EPSG:4326 of the chip's grid (its UTM extent)."""


def _rgba(chip: Chip) -> np.ndarray:
    """An RGBA float image in 0-1 of the chip (true colour, or radar VV in dB as grey)."""
    if chip.sensor == "sentinel-1":
        vv = np.asarray(chip.bands["vv"], dtype=float)
        db = 10.0 * np.log10(np.clip(vv, 1e-6, None))
        low, high = S1_DB_RANGE
        grey = np.clip((db - low) / (high - low), 0.0, 1.0)
        rgb = np.dstack([grey, grey, grey])
    elif all(b in chip.bands for b in ("red", "green", "blue")):
        rgb = np.dstack([chip.bands[b] for b in ("red", "green", "blue")]).astype(float)
        scale = 1.0 if chip.sensor == "highres" else S2_DISPLAY_MAX
        rgb = np.clip(np.nan_to_num(rgb / scale), 0.0, 1.0)
    else:
        raise ImageryError(
            f"chip {chip.scene_id}: no displayable bands ({', '.join(sorted(chip.bands))})"
        )
    alpha = np.where(chip.valid, 1.0, 0.0)
    return np.dstack([rgb, alpha])


def _bounds(chip: Chip) -> tuple[float, float, float, float]:
    """The chip's extent in EPSG:4326 (the box around its four projected corners)."""
    from pyproj import Transformer

    height, width = chip.valid.shape
    corners = [chip.transform @ (c, r) for c in (0, width) for r in (0, height)]
    to_wgs84 = Transformer.from_crs(chip.crs, "EPSG:4326", always_xy=True)
    lons, lats = to_wgs84.transform([x for x, _ in corners], [y for _, y in corners])
    return (float(min(lons)), float(min(lats)), float(max(lons)), float(max(lats)))


BOX_COLOUR = (1.0, 0.1, 0.1, 1.0)
"""Colour of detection boxes (RGBA)."""
MIN_DISPLAY_PX = 240
"""Small chips are enlarged (nearest neighbour) to at least this many pixels across."""


def _draw_boxes(rgba: np.ndarray, detections: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Outline each detection's ``bbox_px`` ``[col, row, width, height]`` in red."""
    out = rgba.copy()
    height, width = out.shape[:2]
    for feature in detections:
        bbox = (feature.get("properties") or {}).get("bbox_px")
        if not isinstance(bbox, list | tuple) or len(bbox) != 4:
            continue
        c0, r0 = max(int(bbox[0]), 0), max(int(bbox[1]), 0)
        c1 = min(int(bbox[0] + bbox[2]) - 1, width - 1)
        r1 = min(int(bbox[1] + bbox[3]) - 1, height - 1)
        if c1 < c0 or r1 < r0:
            continue
        out[r0, c0 : c1 + 1] = out[r1, c0 : c1 + 1] = BOX_COLOUR
        out[r0 : r1 + 1, c0] = out[r0 : r1 + 1, c1] = BOX_COLOUR
    return out


def _enlarge(rgba: np.ndarray) -> np.ndarray:
    """Repeat pixels so that a small chip is at least :data:`MIN_DISPLAY_PX` across."""
    factor = max(1, -(-MIN_DISPLAY_PX // max(rgba.shape[:2])))
    return np.repeat(np.repeat(rgba, factor, axis=0), factor, axis=1) if factor > 1 else rgba


def render_chip(chip: Chip, detections: Sequence[Mapping[str, Any]] = ()) -> ChipImage:
    """PNG and geographic bounds of ``chip``, with ``detections`` outlined in red."""
    from matplotlib.image import imsave

    rgba = _enlarge(_draw_boxes(_rgba(chip), detections))
    buffer = io.BytesIO()
    imsave(buffer, rgba, format="png")
    return ChipImage(png=buffer.getvalue(), bounds=_bounds(chip))


MAP_CRS = "EPSG:3857"
"""The CRS Leaflet draws in: a map overlay is warped onto a regular grid of it."""
MAX_OVERLAY_PX = 800
"""A map overlay is at most this many pixels across (coarser than the chip if needed)."""


def render_overlay(chip: Chip) -> ChipImage:
    """``chip`` warped onto a Web Mercator grid, for ``L.imageOverlay`` on a Leaflet map.

    Leaflet stretches an image overlay linearly between its corner coordinates in Web
    Mercator, so a chip on its UTM grid (rotated by the grid convergence, up to ~2 degrees)
    would be misplaced by several pixels at its edges; warped first (nearest neighbour,
    pixels outside the chip transparent), it lies where its pixels are. The bounds are
    the warped grid's ``(west, south, east, north)`` in EPSG:4326.
    """
    from matplotlib.image import imsave
    from pyproj import Transformer
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    rgba = _rgba(chip).astype(np.float32).transpose(2, 0, 1)
    _, height, width = rgba.shape
    left, top = chip.transform @ (0, 0)
    right, bottom = chip.transform @ (width, height)
    extent = max(abs(right - left), abs(top - bottom))
    resolution = max(chip.resolution_m, extent / MAX_OVERLAY_PX)
    dst_transform, dst_width, dst_height = calculate_default_transform(
        chip.crs,
        MAP_CRS,
        width,
        height,
        left=min(left, right),
        bottom=min(top, bottom),
        right=max(left, right),
        top=max(top, bottom),
        resolution=resolution,
    )
    warped = np.zeros((4, dst_height, dst_width), dtype=np.float32)
    reproject(
        source=rgba,
        destination=warped,
        src_transform=chip.transform,
        src_crs=chip.crs,
        dst_transform=dst_transform,
        dst_crs=MAP_CRS,
        resampling=Resampling.nearest,
    )
    buffer = io.BytesIO()
    imsave(buffer, np.clip(warped.transpose(1, 2, 0), 0.0, 1.0), format="png")
    west, north = dst_transform @ (0, 0)
    east, south = dst_transform @ (dst_width, dst_height)
    to_wgs84 = Transformer.from_crs(MAP_CRS, "EPSG:4326", always_xy=True)
    (lon0, lon1), (lat0, lat1) = to_wgs84.transform([west, east], [south, north])
    return ChipImage(png=buffer.getvalue(), bounds=(lon0, lat0, lon1, lat1))


def data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI (for a self-contained HTML page)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def chip_png(
    record: SceneRecord, zone: Zone, detections: Sequence[Mapping[str, Any]] = ()
) -> ChipImage:
    """Read ``zone``'s window from the stored scene ``record`` and render it.

    Raises :class:`~basewatch.errors.ImageryError` when the scene's item or pixels cannot
    be read (moved catalogue, network down).
    """
    return render_chip(_load(record, zone), detections)


def _load(record: SceneRecord, zone: Zone) -> Chip:
    """The chip of ``zone`` from the stored scene ``record`` (read again from its item)."""
    import pystac

    from basewatch.imagery.catalog import scene_from_item
    from basewatch.imagery.load import load_chip

    try:
        item = pystac.Item.from_file(record.href)
    except (OSError, ValueError, KeyError, pystac.STACError) as exc:
        raise ImageryError(
            f"scene {record.id}: cannot read its STAC item {record.href} ({exc}); "
            "was the catalogue moved?"
        ) from exc
    scene = scene_from_item(item)
    if scene is None:
        raise ImageryError(f"scene {record.id}: its item has none of the bands basewatch reads")
    return load_chip(scene, zone)


def chip_overlay(record: SceneRecord, zone: Zone) -> ChipImage:
    """Read ``zone``'s window from the stored scene ``record`` as a map overlay.

    See :func:`render_overlay`; raises :class:`~basewatch.errors.ImageryError` like
    :func:`chip_png`.
    """
    return render_overlay(_load(record, zone))

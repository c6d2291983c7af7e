"""Turn one zone x scene chip into an :class:`Observation` by running the right detector."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
from pyproj import Transformer

from basewatch.detect import Detection
from basewatch.errors import InputError
from basewatch.imagery.chip import Chip
from basewatch.sites import Zone


@dataclass(frozen=True, kw_only=True)
class Observation:
    """What one detector saw in one zone on one scene."""

    site_id: str
    """Site the zone belongs to."""
    zone_id: str
    """Zone id (unique within its site)."""
    scene_id: str
    """Scene (STAC item) id."""
    time: datetime
    """Acquisition time, timezone-aware UTC."""
    sensor: str
    """``sentinel-2``, ``sentinel-1`` or ``highres``."""
    detector: str
    """Detector name, e.g. ``sar-cfar``."""
    detector_version: str
    """Detector version; part of the observation's identity."""
    metric: str
    """``ship_count``, ``aircraft_count`` or ``vehicle_count``."""
    value: float | None
    """The count, or None when the chip was unusable (see ``flags``)."""
    clear_fraction: float
    """Share of the zone that was valid and cloud-free (0-1)."""
    detections: list[dict[str, Any]] = field(default_factory=list)
    """Detections as GeoJSON Feature dicts (DESIGN.md detections format)."""
    flags: tuple[str, ...] = ()
    """Quality flags, e.g. ``cloudy``, ``partial``, ``no-data``."""


MIN_CLEAR_FOR_COUNT = 0.05
"""Below this clear fraction a chip yields no count (value None, flag ``cloudy``)."""
PARTLY_CLOUDY = 0.9
"""Below this clear fraction a count is flagged ``partly-cloudy``."""

METRICS = {"ship": "ship_count", "aircraft": "aircraft_count", "vehicle": "vehicle_count"}
"""Zone target -> metric name."""

DETECTOR_PLAN: dict[tuple[str, str], str] = {
    ("ship", "sentinel-1"): "sar",
    ("ship", "sentinel-2"): "optical-ships",
    ("aircraft", "sentinel-2"): "optical-apron",
    ("aircraft", "highres"): "highres-aircraft",
    ("vehicle", "sentinel-1"): "sar",
    ("vehicle", "highres"): "highres",
    ("ship", "highres"): "highres",
}
"""(zone target, sensor) -> detector family; pairs not listed are not observed.

Sentinel-2 at 10 m cannot resolve 12 m launchers, and aircraft in radar are left to a
later version, so those pairs are skipped rather than counted badly.
"""


_DETECTOR_THREADS = 0
"""onnxruntime intra-op threads of the detectors' networks in this process (0: its default,
one per core); see :func:`set_detector_threads`."""


def set_detector_threads(threads: int) -> None:
    """Give the detectors' networks ``threads`` onnxruntime intra-op threads in this process.

    0 keeps onnxruntime's default (one thread per core, spinning between operators). A Dask
    worker process that runs one chip at a time is given 1, so N workers use N cores and
    do not each start a thread per core (``monitor`` does this on every worker).
    """
    global _DETECTOR_THREADS
    if threads < 0:
        raise InputError(f"detector threads {threads}: give 0 (onnxruntime's default) or more")
    _DETECTOR_THREADS = threads


def detector_threads() -> int:
    """The onnxruntime intra-op threads set by :func:`set_detector_threads` (0: default)."""
    return _DETECTOR_THREADS


def counted_targets() -> list[str]:
    """The zone targets some detector counts (``any`` is not one), sorted."""
    return sorted({target for target, _ in DETECTOR_PLAN})


def observable(target: str, sensor: str) -> bool:
    """Whether basewatch has a detector for ``target`` objects in ``sensor`` images."""
    return (target, sensor) in DETECTOR_PLAN


def detector_identity(target: str, sensor: str) -> tuple[str, str]:
    """The ``(name, version)`` of the detector used for ``target`` in ``sensor`` images."""
    from basewatch.detect import aircraft, highres, optical, sar, ships_s2

    family = DETECTOR_PLAN[(target, sensor)]
    module = {
        "sar": sar,
        "optical-ships": ships_s2,
        "optical-apron": optical,
        "highres": highres,
        "highres-aircraft": aircraft,
    }[family]
    name = module.NAME if family != "optical-apron" else f"{module.NAME}-apron"
    return name, module.VERSION


def run_detector(chip: Chip, target: str) -> list[Detection]:
    """Run the detector planned for ``target`` on the whole chip (zone and margin)."""
    from basewatch.detect import highres, optical, sar
    from basewatch.detect.ships_s2 import detect_ships_s2

    family = DETECTOR_PLAN[(target, chip.sensor)]
    res = chip.resolution_m
    if family == "sar":
        image = np.where(chip.valid, chip.bands["vv"], np.nan)
        if target == "ship":
            water = sar.water_mask(image, pixel_size_m=res)
            return sar.detect(image, pixel_size_m=res, search_mask=water, target=target)
        return sar.detect(image, pixel_size_m=res, search_mask=chip.zone_mask, target=target)
    optical_bands = {k: v for k, v in chip.bands.items() if k != "scl"}
    if family == "optical-ships":
        water = optical.water_mask(optical_bands, valid=chip.valid)
        return detect_ships_s2(  # optical.detect_ships, with this process's threads
            optical_bands,
            pixel_size_m=res,
            valid=chip.valid,
            water=water,
            threads=_DETECTOR_THREADS,
        )
    if family == "optical-apron":
        return optical.detect_apron_objects(
            optical_bands,
            pixel_size_m=res,
            surface_mask=chip.zone_mask,
            valid=chip.valid,
            target=target,
        )
    rgb = np.dstack([chip.bands["red"], chip.bands["green"], chip.bands["blue"]])
    rgb = np.nan_to_num(rgb, nan=0.0)
    if family == "highres-aircraft":
        from basewatch.detect import aircraft

        # The chip holds the network's bytes / 255 (load.py, aircraft.asset_stretch): take them
        # back exactly, as `basewatch detect` does, never re-stretched per chip.
        rgb8 = aircraft.fraction_to_uint8(rgb)
        return aircraft.detect_aircraft(rgb8, res, search_mask=chip.zone_mask & chip.valid)
    return highres.detect(rgb, gsd_m=res, search_mask=chip.zone_mask & chip.valid, target=target)


def detection_feature(det: Detection, chip: Chip) -> dict[str, Any]:
    """A detection as a GeoJSON Feature (footprint in EPSG:4326) in the DESIGN.md format."""
    col, row = det.centroid_px  # pixel indices: the pixel's centre is at index + 0.5
    x, y = chip.transform @ (col + 0.5, row + 0.5)
    if det.length_m and det.width_m:
        heading = math.radians(det.heading_deg or 0.0)
        half_l, half_w = det.length_m / 2, det.width_m / 2
        ux, uy = math.sin(heading), math.cos(heading)  # along the major axis (clockwise from north)
        vx, vy = uy, -ux
        corners = [
            (x + sl * half_l * ux + sw * half_w * vx, y + sl * half_l * uy + sw * half_w * vy)
            for sl, sw in ((1, 1), (1, -1), (-1, -1), (-1, 1))
        ]
    else:
        c0, r0, w, h = det.bbox_px
        corners = [
            chip.transform @ (c, r)
            for c, r in ((c0, r0), (c0 + w, r0), (c0 + w, r0 + h), (c0, r0 + h))
        ]
    to_wgs = _to_wgs84(chip.crs)
    ring = [list(map(lambda v: round(v, 7), to_wgs.transform(cx, cy))) for cx, cy in corners]
    ring.append(ring[0])
    props: dict[str, Any] = {
        "bbox_px": [int(v) for v in det.bbox_px],
        "score": round(float(det.score), 4),
        "class": det.cls,
    }
    for key in ("length_m", "width_m", "heading_deg"):
        value = getattr(det, key)
        if value is not None:
            props[key] = round(float(value), 1)
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": props,
    }


@lru_cache(maxsize=16)
def _to_wgs84(crs: str) -> Transformer:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def _has_data(chip: Chip) -> bool:
    """Whether any zone pixel holds data in every image band (cloud or not)."""
    data = [np.isfinite(b) for name, b in chip.bands.items() if name != "scl"]
    return bool(np.any(np.logical_and.reduce(data) & chip.zone_mask)) if data else False


def inside_zone(det: Detection, chip: Chip) -> bool:
    """Whether the detection's centre falls inside the zone polygon."""
    col, row = det.centroid_px  # pixel indices: pixel i spans [i - 0.5, i + 0.5)
    r, c = math.floor(row + 0.5), math.floor(col + 0.5)
    h, w = chip.zone_mask.shape
    return 0 <= r < h and 0 <= c < w and bool(chip.zone_mask[r, c])


def observe(chip: Chip, zone: Zone) -> Observation:
    """Count ``zone.target`` objects in ``chip`` with the planned detector.

    Raises :class:`InputError` when no detector exists for the zone's target and the chip's
    sensor (check :func:`observable` first).
    """
    if not observable(zone.target, chip.sensor):
        raise InputError(
            f"zone {zone.key}: no detector for target {zone.target!r} in {chip.sensor} images; "
            "check basewatch.observe.observable() before observing"
        )
    name, version = detector_identity(zone.target, chip.sensor)
    clear = chip.clear_fraction
    flags: list[str] = []
    value: float | None
    features: list[dict[str, Any]] = []
    if clear < MIN_CLEAR_FOR_COUNT:
        cloudy = chip.sensor == "sentinel-2" and _has_data(chip)
        flags.append("cloudy" if cloudy else "no-data")
        value = None
    else:
        if clear < PARTLY_CLOUDY:
            flags.append("partly-cloudy" if chip.sensor == "sentinel-2" else "partial")
        detections = [d for d in run_detector(chip, zone.target) if inside_zone(d, chip)]
        detections.sort(key=lambda d: (d.centroid_px[1], d.centroid_px[0]))
        features = [detection_feature(d, chip) for d in detections]
        value = float(len(detections))
    georef = chip.meta.get("georeferencing", "")
    if georef == "gcp":
        flags.append("gcp-georeferenced")
    if chip.sensor == "highres":
        flags.append(f"gsd={chip.resolution_m:.2f}m")  # sub-metre series mix several GSDs
    return Observation(
        site_id=zone.site_id,
        zone_id=zone.id,
        scene_id=chip.scene_id,
        time=chip.time,
        sensor=chip.sensor,
        detector=name,
        detector_version=version,
        metric=METRICS.get(zone.target, "object_count"),
        value=value,
        clear_fraction=round(clear, 4),
        detections=features,
        flags=tuple(flags),
    )

"""The simulated ``syria-2024`` scenario behind ``basewatch demo``.

It rebuilds, from seeded simulation, the imagery and flight tracks analysts used in
December 2024 when Russia drew down at Khmeimim air base and the Tartus naval facility:

* a site registry (the bundled ``syria-2024`` one, plus optional synthetic sites);
* a static STAC catalogue of Sentinel-2 L2A-like, Sentinel-1 GRD-like and sub-metre
  scenes rendered by :mod:`basewatch.testing` over a 4 km tile around each site;
* ADS-B state vectors of transports leaving and reaching Khmeimim, plus overflights;
* ``truth.json``: what is really in every zone on every scene, the cloud over it and
  the dates of the events (the pipeline never reads it; tests and benchmarks do).

The story: the Tartus flotilla (4-7 ships) is at its piers on every pass until it leaves
on 2024-12-02; the Khmeimim main apron holds 12-20 aircraft (empty on about one clear pass
in five, as real aprons are) until it empties on 2024-12-03; the S-400 battery leaves on
2024-12-10; heavy transports depart about weekly, then at least three times a day from
2024-12-06. Everything is deterministic: the same seed gives byte-identical files.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import functools
import io
import json
import math
import multiprocessing
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import shapely
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import LineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from basewatch.context.tracks import COLUMNS
from basewatch.errors import InputError
from basewatch.sites import Registry, Site, Zone, load_registry, save_registry
from basewatch.testing import (
    AIRCRAFT_TYPES,
    SHIP_TYPES,
    VEHICLE_TYPES,
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
    rng_for,
    s1_item,
    s2_item,
    sun_position,
    utm_crs_for,
    write_catalog,
    write_cog,
)

__all__ = [
    "FLOTILLA_LEAVES",
    "MAIN_APRON_EMPTIES",
    "S400_LEAVES",
    "SCENARIO_END",
    "SCENARIO_START",
    "ScenarioPaths",
    "build_scenario",
]

SCENARIO_START = date(2024, 6, 1)
"""First day of the scenario."""
SCENARIO_END = date(2024, 12, 20)
"""Last day of the scenario."""
S2_FIRST, S2_EVERY = date(2024, 6, 4), 5
"""First Sentinel-2 pass and revisit (days)."""
S1_FIRST, S1_EVERY = date(2024, 6, 6), 6
"""First Sentinel-1 pass and revisit (days)."""
HIGHRES_DAYS = (date(2024, 12, 3), date(2024, 12, 13))
"""Days of the sub-metre images of Khmeimim."""
FLOTILLA_LEAVES = date(2024, 12, 2)
"""The Tartus flotilla sails this day (passes on it still show the ships)."""
MAIN_APRON_EMPTIES = date(2024, 12, 3)
"""Khmeimim's main apron is empty this day and holds at most 5 aircraft afterwards."""
S400_LEAVES = date(2024, 12, 10)
"""The S-400 battery leaves this day (gone from passes after it)."""
AIRLIFT_STARTS = date(2024, 12, 6)
"""From this day at least three heavy transports leave Khmeimim every day."""
WEEKLY_UNTIL = date(2024, 12, 5)
"""Until this day heavy transports leave Khmeimim about once a week."""

TILE_M = 4000.0
"""Side of the Sentinel tiles around each site (m)."""
HIGHRES_RES = 0.5
"""Pixel size of the sub-metre images (m)."""
HIGHRES_MARGIN_M = 150.0
"""Margin of the sub-metre images around the zones' bounding box (m)."""
MIN_SPACING_M = 35.0
"""Smallest distance between the centres of two objects in one zone (m)."""

S2_COLLECTION, S1_COLLECTION, HR_COLLECTION = "sentinel-2-l2a", "sentinel-1-grd", "highres"


@dataclass(frozen=True, kw_only=True)
class ScenarioPaths:
    """Where :func:`build_scenario` wrote the scenario."""

    root: Path
    """Output folder."""
    sites: Path
    """Site registry (``sites.geojson``)."""
    catalog: Path
    """Static STAC catalogue (``catalog/catalog.json``)."""
    tracks: Path
    """ADS-B state vectors (``tracks/adsb-states.csv``)."""
    truth: Path
    """Ground truth (``truth.json``)."""


# --------------------------------------------------------------------------- local frames


class _Frame:
    """Metric design coordinates ``(u, v)`` around a site, rotated, mapped to UTM and WGS84.

    ``u`` points to design east and ``v`` to design north; the design frame is the
    local azimuthal equidistant frame turned clockwise by ``rotation_deg`` (so a layout
    drawn with the sea to design west faces ``270 + rotation_deg``).
    """

    def __init__(self, lon: float, lat: float, rotation_deg: float = 0.0) -> None:
        self.lon, self.lat = lon, lat
        self.crs = utm_crs_for(lon, lat)
        aeqd = f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs"
        self._to_utm = Transformer.from_crs(aeqd, self.crs, always_xy=True)
        self._to_ll = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)
        self._from_ll = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
        r = math.radians(rotation_deg)
        self.rotation = rotation_deg
        self._c, self._s = math.cos(r), math.sin(r)

    def _en(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u, v = uv[:, 0], uv[:, 1]
        return u * self._c + v * self._s, -u * self._s + v * self._c

    def _uv(self, e: np.ndarray, n: np.ndarray) -> np.ndarray:
        return np.column_stack([e * self._c - n * self._s, e * self._s + n * self._c])

    def to_utm(self, geom: BaseGeometry) -> BaseGeometry:
        """Design geometry -> UTM."""
        return shapely.transform(
            geom, lambda a: np.column_stack(self._to_utm.transform(*self._en(a)))
        )

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        """Design geometry -> EPSG:4326, rounded to 7 decimals."""
        return shapely.transform(
            geom, lambda a: np.round(np.column_stack(self._to_ll.transform(*self._en(a))), 7)
        )

    def from_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        """EPSG:4326 geometry -> design coordinates."""
        return shapely.transform(
            geom, lambda a: self._uv(*self._from_ll.transform(a[:, 0], a[:, 1]))
        )

    def utm_point(self, u: float, v: float) -> tuple[float, float]:
        """Design point -> UTM ``(x, y)``."""
        e, n = self._en(np.array([[u, v]], float))
        x, y = self._to_utm.transform(e, n)
        return float(x[0]), float(y[0])

    def lonlat_arrays(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Design coordinates -> ``(lon, lat)`` arrays."""
        e, n = self._en(np.column_stack([u, v]))
        lon, lat = self._to_ll.transform(e, n)
        return np.asarray(lon), np.asarray(lat)

    def utm_heading(self, u: float, v: float, heading: float) -> float:
        """Design heading at ``(u, v)`` -> heading clockwise from UTM grid north."""
        h = math.radians(heading)
        x0, y0 = self.utm_point(u, v)
        x1, y1 = self.utm_point(u + 10.0 * math.sin(h), v + 10.0 * math.cos(h))
        return math.degrees(math.atan2(x1 - x0, y1 - y0)) % 360.0


# --------------------------------------------------------------------------- objects in zones


@dataclass(frozen=True, kw_only=True)
class Placed:
    """An object of a site's state, in the site's design frame."""

    kind: str
    """``aircraft``, ``ship`` or ``vehicle``."""
    cls: str
    """Class (key of the testing module's type tables)."""
    u: float
    """Design east (m)."""
    v: float
    """Design north (m)."""
    heading: float
    """Design heading of the nose / bow (degrees clockwise from design north)."""
    zone: str = ""
    """Zone id the object stands in ('' for objects outside every zone)."""
    length_m: float | None = None
    """Ship length when not the class default."""
    beam_m: float | None = None
    """Ship beam when not the class default."""


def _size(p: Placed) -> tuple[float, float]:
    if p.kind == "aircraft":
        a = AIRCRAFT_TYPES[p.cls]
        return a["length"], a["span"]
    if p.kind == "ship":
        s = SHIP_TYPES[p.cls]
        return p.length_m or s["length"], p.beam_m or s["beam"]
    t = VEHICLE_TYPES[p.cls]
    return t["length"], t["width"]


@dataclass(frozen=True)
class _Rect:
    """Axis-aligned rectangle of the design frame (a zone's extent)."""

    u0: float
    v0: float
    u1: float
    v1: float

    @classmethod
    def of(cls, geom: BaseGeometry) -> _Rect:
        return cls(*geom.bounds)

    @property
    def cu(self) -> float:
        return (self.u0 + self.u1) / 2.0

    @property
    def cv(self) -> float:
        return (self.v0 + self.v1) / 2.0

    @property
    def hu(self) -> float:
        return (self.u1 - self.u0) / 2.0

    @property
    def hv(self) -> float:
        return (self.v1 - self.v0) / 2.0

    def grown(self, m: float) -> Polygon:
        return box(self.u0 - m, self.v0 - m, self.u1 + m, self.v1 + m)


def _jitter(p: Placed, rng: np.random.Generator, *, pos: float = 1.5, hdg: float = 3.0) -> Placed:
    return Placed(
        kind=p.kind,
        cls=p.cls,
        u=p.u + float(rng.uniform(-pos, pos)),
        v=p.v + float(rng.uniform(-pos, pos)),
        heading=(p.heading + float(rng.uniform(-hdg, hdg))) % 360.0,
        zone=p.zone,
        length_m=p.length_m,
        beam_m=p.beam_m,
    )


def _apron_slots(rect: _Rect, zone: str) -> tuple[list[Placed], list[Placed]]:
    """Fighter stands in rows along the apron's long side, heavy stands on its centre lane."""
    fighters: list[Placed] = []
    rows = [(rect.cv - (rect.hv - 20.0), 0.0), (rect.cv + (rect.hv - 20.0), 180.0)]
    if rect.hv < 70.0:
        rows = [(rect.cv, 0.0)]
    n = int((2 * rect.hu - 44.0) // 38.0) + 1
    start = rect.cu - (n - 1) * 38.0 / 2.0
    for v, heading in rows:
        fighters += [
            Placed(
                kind="aircraft", cls="fighter", u=start + 38.0 * i, v=v, heading=heading, zone=zone
            )
            for i in range(n)
        ]
    heavy: list[Placed] = []
    if rect.hv >= 70.0:
        m = int((2 * rect.hu - 80.0) // 120.0) + 1
        start = rect.cu - (m - 1) * 120.0 / 2.0
        heavy = [
            Placed(
                kind="aircraft", cls="il76", u=start + 120.0 * i, v=rect.cv, heading=90.0, zone=zone
            )
            for i in range(m)
        ]
    return fighters, heavy


def _fill_apron(
    rect: _Rect, zone: str, *, fighters: int, heavy: int, rng: np.random.Generator
) -> list[Placed]:
    """``fighters`` fighters and ``heavy`` Il-76s on random stands of the apron."""
    f_slots, h_slots = _apron_slots(rect, zone)
    heavy = min(heavy, len(h_slots))
    fighters = min(fighters, len(f_slots))
    chosen = (
        [h_slots[i] for i in sorted(rng.choice(len(h_slots), heavy, replace=False))]
        if heavy
        else []
    )
    if fighters:
        chosen += [f_slots[i] for i in sorted(rng.choice(len(f_slots), fighters, replace=False))]
    return [_jitter(p, rng) for p in chosen]


def _transport_stands(
    rect: _Rect, zone: str, config: Sequence[str], heading: float
) -> list[Placed]:
    """Transports on the transport apron: ``config`` is a list of classes (at most 3 Il-76 or
    2 An-124 / 1 An-124 + 1 Il-76)."""
    if list(config) == ["an124", "an124"]:
        us = [rect.cu - 60.0, rect.cu + 60.0]
    elif "an124" in config:
        us = [rect.cu - 60.0, rect.cu + 100.0]
        config = sorted(config, key=lambda c: c != "an124")
    elif len(config) == 3:
        us = [rect.cu - 100.0, rect.cu, rect.cu + 100.0]
    elif len(config) == 2:
        us = [rect.cu - 100.0, rect.cu + 100.0]
    else:
        us = [rect.cu]
    return [
        Placed(kind="aircraft", cls=c, u=u, v=rect.cv, heading=heading, zone=zone)
        for c, u in zip(config, us, strict=False)
    ]


def _sam_ring(
    rect: _Rect, zone: str, *, launchers: int, radar: bool, radius: float
) -> list[Placed]:
    """Launchers on a ring, pointing outwards, and the radar in the middle."""
    out: list[Placed] = []
    for k in range(launchers):
        a = 360.0 * (k + 0.5) / launchers
        r = math.radians(a)
        out.append(
            Placed(
                kind="vehicle",
                cls="launcher",
                u=rect.cu + radius * math.sin(r),
                v=rect.cv + radius * math.cos(r),
                heading=a,
                zone=zone,
            )
        )
    if radar:
        out.append(
            Placed(kind="vehicle", cls="radar", u=rect.cu, v=rect.cv, heading=0.0, zone=zone)
        )
    return out


@dataclass(frozen=True, kw_only=True)
class _Berth:
    """A line along one side of a pier where ships moor bow to stern."""

    v: float
    """Design v of the ships' centre line."""
    u_east: float
    """East end of the usable line (inside the zone)."""
    u_west: float
    """West end of the usable line."""


PIER_SPACING_M = 70.0
"""Distance between neighbouring piers of a pier zone (m)."""


def _pier_berths(rect: _Rect) -> tuple[list[float], list[_Berth]]:
    """Pier centre lines (v) across a pier zone, 70 m apart from its north edge, and the
    berth along the south side of each (ships 20 m from the pier's centre line, so about
    30 m of open water separates them from the next pier)."""
    piers: list[float] = []
    v = rect.v1 - 14.0
    while v - 20.0 - 9.0 >= rect.v0 + 8.0:
        piers.append(v)
        v -= PIER_SPACING_M
    berths = [_Berth(v=p - 20.0, u_east=rect.u1 - 8.0, u_west=rect.u0 + 13.0) for p in piers]
    return piers, berths


SHIP_GAP_M = (50.0, 70.0)
"""Range of open water between two ships moored bow to stern (m)."""


def _moor_once(
    berths: Sequence[_Berth],
    ships: Sequence[tuple[str, float, float]],
    zone: str,
    rng: np.random.Generator,
) -> list[Placed]:
    """One random arrangement: longest ships first, each on a random berth with room left."""
    cursor = [b.u_east for b in berths]
    out: list[Placed] = []
    for cls, length, beam in sorted(ships, key=lambda s: -s[1]):
        for i in (int(k) for k in rng.permutation(len(berths))):
            if cursor[i] - length < berths[i].u_west:
                continue
            u = cursor[i] - length / 2.0
            cursor[i] -= length + float(rng.uniform(*SHIP_GAP_M))
            heading = 270.0 if rng.random() < 0.7 else 90.0
            out.append(
                Placed(
                    kind="ship",
                    cls=cls,
                    u=u,
                    v=berths[i].v,
                    heading=heading,
                    zone=zone,
                    length_m=length,
                    beam_m=beam,
                )
            )
            break
    return out


def _fill_piers(
    berths: Sequence[_Berth],
    ships: Sequence[tuple[str, float, float]],
    zone: str,
    rng: np.random.Generator,
) -> list[Placed]:
    """Moor ``ships`` ``(class, length, beam)`` along the berths, bow to stern from the east.

    Tries a few random arrangements and keeps the first that moors every ship (else the
    one that moors most); ships that find no room stay out of port.
    """
    best: list[Placed] = []
    for _ in range(12):
        placed = _moor_once(berths, ships, zone, rng)
        if len(placed) > len(best):
            best = placed
        if len(best) == len(ships):
            break
    return [_jitter(p, rng, pos=1.0, hdg=1.0) for p in best]


# --------------------------------------------------------------------------- layout helpers


@dataclass
class _Paint:
    """Features of a layout being drawn in design coordinates (painting order)."""

    items: list[tuple[BaseGeometry, str, float, tuple[float, float, float] | None, float]] = field(
        default_factory=list
    )

    def add(
        self,
        geom: BaseGeometry,
        material: str,
        *,
        tone: float = 1.0,
        vegetation: tuple[float, float, float] | None = None,
        height: float = 0.0,
    ) -> None:
        if not geom.is_empty:
            self.items.append((geom, material, tone, vegetation, height))

    def layout(self, frame: _Frame, *, background: str, seed: int) -> Layout:
        feats = tuple(
            Feature(geometry=frame.to_utm(g), material=m, tone=t, vegetation=veg, height_m=h)
            for g, m, t, veg, h in self.items
        )
        return Layout(crs=frame.crs, background=background, features=feats, seed=seed)


def _line(points: Sequence[tuple[float, float]], width: float) -> Polygon:
    return LineString(points).buffer(width / 2.0, cap_style="flat", join_style="mitre")


PALETTES: dict[str, list[tuple[str, float, tuple[float, float] | None]]] = {
    "coastal": [
        ("soil", 0.28, (0.45, 0.40)),
        ("orchard", 0.32, (0.25, 0.10)),
        ("grass", 0.17, (0.30, 0.20)),
        ("soil", 0.17, None),
        ("greenhouse", 0.06, None),
    ],
    "steppe": [
        ("soil", 0.35, (0.35, 0.30)),
        ("land", 0.25, None),
        ("grass", 0.25, (0.20, 0.15)),
        ("soil", 0.15, None),
    ],
    "desert": [
        ("sand", 0.55, None),
        ("soil", 0.30, None),
        ("gravel", 0.15, None),
    ],
}
"""Parcel materials by landscape: (material, weight, (mean cover, seasonal amplitude))."""


def _parcels(paint: _Paint, rng: np.random.Generator, *, half: float, palette: str) -> None:
    """A patchwork of fields over the square ``[-half, half]^2``, tilted a little (in the
    desert: broad, low-contrast patches of natural ground instead)."""
    choices = PALETTES[palette]
    weights = np.array([c[1] for c in choices])
    desert = palette == "desert"
    heights, widths = ((250.0, 700.0), (300.0, 900.0)) if desert else ((70.0, 200.0), (80.0, 260.0))
    tones = (0.96, 1.04) if desert else (0.88, 1.12)
    angle = float(rng.uniform(-15.0, 15.0))
    v = -half * 1.45
    while v < half * 1.45:
        height = float(rng.uniform(*heights))
        u = -half * 1.45
        while u < half * 1.45:
            width = float(rng.uniform(*widths))
            material, _, veg = choices[int(rng.choice(len(choices), p=weights / weights.sum()))]
            vegetation = None
            if veg is not None:
                peak = float(rng.choice([100.0, 215.0, 330.0]))
                vegetation = (veg[0], veg[1], peak)
            margin = 0.0 if desert else 2.0  # field boundaries between crops
            cell = box(u + margin, v + margin, u + width - margin, v + height - margin)
            cell = affinity.rotate(cell, angle, origin=(0.0, 0.0))
            if cell.intersects(box(-half, -half, half, half)):
                tone = float(rng.uniform(*tones))
                paint.add(cell, material, tone=tone, vegetation=vegetation)
            u += width
        v += height


def _buildings(
    paint: _Paint,
    rng: np.random.Generator,
    area: Polygon,
    *,
    density: float = 0.5,
    big: bool = False,
) -> None:
    """Buildings with random roofs and heights on a street grid inside ``area``."""
    minx, miny, maxx, maxy = area.bounds
    roofs = ["roof_light", "roof_dark", "roof_red", "urban"]
    step = 70.0 if big else 38.0
    y = miny + 6.0
    while y < maxy - 10.0:
        x = minx + 6.0
        while x < maxx - 10.0:
            if rng.random() < density:
                w = float(rng.uniform(0.45, 0.8)) * step
                h = float(rng.uniform(0.45, 0.8)) * step
                b = box(x, y, x + w, y + h)
                if area.contains(b):
                    paint.add(
                        b,
                        roofs[int(rng.integers(len(roofs)))],
                        tone=float(rng.uniform(0.9, 1.1)),
                        height=float(rng.uniform(5.0, 14.0 if not big else 16.0)),
                    )
            x += step
        y += step


# --------------------------------------------------------------------------- site worlds

StateFn = Callable[[date], list[Placed]]


@dataclass(frozen=True, kw_only=True)
class _World:
    """Everything needed to render one site."""

    site: Site
    """The site and its zones (registry geometry)."""
    frame: _Frame
    """Design frame of the site."""
    layout: Layout
    """Static layout in UTM."""
    zones: dict[str, BaseGeometry]
    """Zone polygons in the design frame."""
    state: StateFn
    """Objects present on a day."""
    weather: dict[date, str]
    """Sentinel-2 pass day -> ``clear``, ``cloudy`` or ``overcast`` over the site."""
    events: tuple[dict[str, str], ...] = ()
    """Story events (date, zone, what) for truth.json."""
    sea: bool = False
    """Whether the site has water (sets the sea state of radar scenes)."""
    highres: bool = False
    """Whether the site gets the sub-metre images."""


def _zone_rects(site: Site, frame: _Frame) -> dict[str, BaseGeometry]:
    return {z.id: frame.from_lonlat(z.geometry) for z in site.zones}


def _khmeimim_layout(frame: _Frame, zones: dict[str, BaseGeometry], seed: int) -> Layout:
    rng = rng_for(seed, "khmeimim", "layout")
    paint = _Paint()
    _parcels(paint, rng, half=2100.0, palette="coastal")
    village = box(1250.0, -900.0, 2100.0, 700.0)
    paint.add(village, "urban", tone=0.95)
    _buildings(paint, rng, village, density=0.55)
    airfield = box(-700.0, -1750.0, 1150.0, 1550.0)
    paint.add(airfield, "grass", vegetation=(0.25, 0.2, 60.0))
    paint.add(
        _line([(-700, -1760), (1150, -1760), (1150, 1560), (-700, 1560), (-700, -1760)], 7),
        "asphalt",
    )
    # runway 2800 m x 45 m (N-S), markings, parallel taxiway and links
    paint.add(box(-82.5, -1500.0, -37.5, 1300.0), "concrete", tone=0.9)
    paint.add(box(-90.0, -1500.0, -82.5, 1300.0), "asphalt")
    paint.add(box(-37.5, -1500.0, -30.0, 1300.0), "asphalt")
    for y in np.arange(-1440.0, 1260.0, 50.0):
        paint.add(box(-60.45, y, -59.55, y + 30.0), "paint")
    for end, sign in ((-1500.0, 1.0), (1300.0, -1.0)):
        for k in range(8):
            x = -80.0 + k * 5.5 if k < 4 else -60.0 + 2.5 + (k - 4) * 5.5
            y0, y1 = sorted((end + sign * 6.0, end + sign * 36.0))
            paint.add(box(x, y0, x + 1.8, y1), "paint")
    paint.add(box(108.5, -1475.0, 131.5, 1225.0), "concrete", tone=0.95)
    for y in (-1450.0, -600.0, -200.0, 400.0, 1200.0):
        paint.add(box(-37.5, y - 11.5, 108.5, y + 11.5), "concrete", tone=0.95)
    # aprons slightly larger than the zones, with their links to the taxiway
    main = _Rect.of(zones["main-apron"])
    transport = _Rect.of(zones["transport-apron"])
    paint.add(main.grown(25.0), "concrete")
    paint.add(box(131.5, main.cv - 15.0, main.u0 - 20.0, main.cv + 15.0), "concrete", tone=0.95)
    paint.add(transport.grown(25.0), "concrete")
    paint.add(
        box(131.5, transport.cv - 15.0, transport.u0 - 20.0, transport.cv + 15.0),
        "concrete",
        tone=0.95,
    )
    for k in range(6):  # hardened shelters south of the main apron
        x = main.u0 + 70.0 + 70.0 * k
        paint.add(box(x, main.v0 - 190.0, x + 28.0, main.v0 - 154.0), "shelter", height=9.0)
        paint.add(box(x + 6.0, main.v0 - 154.0, x + 22.0, main.v0 - 25.0), "concrete", tone=0.95)
    paint.add(box(131.5, -430.0, 430.0, -250.0), "concrete")  # south apron
    paint.add(box(-420.0, 150.0, -82.5, 380.0), "concrete", tone=1.02)  # civil apron
    paint.add(box(-540.0, 180.0, -420.0, 360.0), "roof_light", height=14.0)  # terminal
    paint.add(box(-600.0, 380.0, -540.0, 420.0), "roof_dark", height=8.0)
    tech = box(900.0, -700.0, 1140.0, 1100.0)
    paint.add(tech, "concrete", tone=0.85)
    _buildings(paint, rng, tech, density=0.6, big=True)
    for k in range(4):
        paint.add(
            Point(960.0 + 40.0 * (k % 2), -1000.0 - 40.0 * (k // 2)).buffer(13.0, 24),
            "tank_roof",
            height=10.0,
        )
    # S-400 position: gravel pad, access track, revetments behind each launcher
    sam = _Rect.of(zones["s400-position"])
    paint.add(sam.grown(15.0), "gravel")
    paint.add(_line([(sam.u1 + 15.0, sam.cv), (-700.0, sam.cv)], 8.0), "gravel")
    for k in range(8):
        a = math.radians(360.0 * (k + 0.5) / 8)
        cu, cv = sam.cu + 104.0 * math.sin(a), sam.cv + 104.0 * math.cos(a)
        berm = affinity.rotate(
            box(cu - 12.0, cv - 2.5, cu + 12.0, cv + 2.5), -math.degrees(a), origin=(cu, cv)
        )
        paint.add(berm, "berm", height=3.0)
    paint.add(_line([(-1100.0, -2100.0), (-1150.0, 0.0), (-1050.0, 2100.0)], 9.0), "asphalt")
    paint.add(_line([(1150.0, 200.0), (2100.0, 260.0)], 9.0), "asphalt")
    return paint.layout(frame, background="land", seed=derive_seed(seed, "khmeimim"))


def _tartus_layout(frame: _Frame, zones: dict[str, BaseGeometry], seed: int) -> Layout:
    rng = rng_for(seed, "tartus", "layout")
    paint = _Paint()
    _parcels(paint, rng, half=2100.0, palette="coastal")
    city = box(350.0, -2100.0, 1400.0, -150.0)
    paint.add(city, "urban")
    _buildings(paint, rng, city, density=0.7)
    north = box(700.0, 900.0, 1300.0, 2100.0)
    paint.add(north, "urban", tone=0.95)
    _buildings(paint, rng, north, density=0.45)
    # coastline: the sea to the west of a gently wiggling shore
    ys = np.linspace(2150.0, -2150.0, 44)
    wiggle = 25.0 * np.sin(ys / 230.0) + 12.0 * np.sin(ys / 71.0 + 1.0)
    xs = np.where(ys > 680.0, 170.0 + wiggle + (ys - 680.0) * 0.05, 250.0)
    xs = np.where(ys < -1420.0, 300.0 + wiggle, xs)
    shore = list(zip(xs.tolist(), ys.tolist(), strict=True))
    sea = Polygon([(-2150.0, 2150.0), *shore, (-2150.0, -2150.0)])
    beach = LineString(shore).buffer(22.0).difference(box(200.0, -1430.0, 400.0, 690.0))
    paint.add(beach, "sand")
    paint.add(sea, "sea")
    basin = [
        (-650.0, 650.0),
        (250.0, 650.0),
        (250.0, -1385.0),
        (-420.0, -1385.0),
        (-650.0, -1250.0),
    ]
    paint.add(Polygon(basin), "harbour")  # open to the sea between the two moles
    paint.add(
        _line([(265.0, 650.0), (-650.0, 650.0), (-650.0, -1250.0)], 44.0), "breakwater", height=6.0
    )
    paint.add(_line([(320.0, -1385.0), (-420.0, -1385.0)], 40.0), "breakwater", height=6.0)
    paint.add(box(250.0, -1400.0, 360.0, 680.0), "concrete", tone=0.95)  # quays
    # naval piers across the zone
    rect = _Rect.of(zones["piers"])
    piers, _ = _pier_berths(rect)
    for v in piers:
        paint.add(box(rect.u0 + 28.0, v - 9.0, 252.0, v + 9.0), "pier")
    # commercial jetties with quay cranes, container yard, warehouses, tanks
    for v in (-520.0, -900.0):
        paint.add(box(-210.0, v - 20.0, 252.0, v + 20.0), "pier")
        for x in (-20.0, 90.0, 170.0):
            paint.add(box(x, v - 7.0, x + 16.0, v + 7.0), "steel", height=38.0)
    paint.add(box(-300.0, -250.0, 252.0, -190.0), "pier")
    paint.add(box(360.0, -1350.0, 620.0, -700.0), "containers")
    ware = box(360.0, -680.0, 620.0, -180.0)
    paint.add(ware, "concrete", tone=0.9)
    _buildings(paint, rng, ware, density=0.8, big=True)
    base = box(360.0, -150.0, 640.0, 640.0)
    paint.add(base, "concrete", tone=0.92)
    _buildings(paint, rng, box(450.0, 120.0, 640.0, 640.0), density=0.6, big=True)
    for k in range(5):
        paint.add(
            Point(400.0 + 45.0 * (k % 3), -90.0 + 45.0 * (k // 3)).buffer(16.0, 24),
            "tank_roof",
            height=12.0,
        )
    paint.add(_line([(400.0, 2100.0), (420.0, -2100.0)], 10.0), "asphalt")
    paint.add(_line([(420.0, 300.0), (2100.0, 380.0)], 9.0), "asphalt")
    return paint.layout(frame, background="land", seed=derive_seed(seed, "tartus"))


# --------------------------------------------------------------------------- passes and weather


@dataclass(frozen=True, kw_only=True)
class _Pass:
    """One acquisition over one site."""

    sensor: str
    """``sentinel-2``, ``sentinel-1`` or ``highres``."""
    day: date
    """Acquisition day."""
    index: int
    """Pass number since the first pass of the series."""


def _pass_days(first: date, every: int, start: date, end: date) -> list[tuple[int, date]]:
    out = []
    k = 0
    while first + timedelta(days=k * every) <= end:
        d = first + timedelta(days=k * every)
        if d >= start:
            out.append((k, d))
        k += 1
    return out


def _passes(start: date, end: date, *, highres: bool) -> list[_Pass]:
    passes = [
        _Pass(sensor="sentinel-2", day=d, index=k)
        for k, d in _pass_days(S2_FIRST, S2_EVERY, start, end)
    ]
    passes += [
        _Pass(sensor="sentinel-1", day=d, index=k)
        for k, d in _pass_days(S1_FIRST, S1_EVERY, start, end)
    ]
    if highres:
        passes += [
            _Pass(sensor="highres", day=d, index=i)
            for i, d in enumerate(HIGHRES_DAYS)
            if start <= d <= end
        ]
    order = {"sentinel-1": 0, "sentinel-2": 1, "highres": 2}
    return sorted(passes, key=lambda p: (p.day, order[p.sensor]))


_CLOUD_WEIGHT = {6: 0.10, 7: 0.06, 8: 0.08, 9: 0.22, 10: 0.45, 11: 0.6, 12: 0.7}
"""Relative chance of cloud on a pass by month (dry summer, rainy winter on the coast)."""


def _cloudy_days(rng: np.random.Generator, days: Sequence[date]) -> list[date]:
    """About a third of ``days``, drawn with the seasonal weights."""
    w = np.array([_CLOUD_WEIGHT.get(d.month, 0.3) for d in days])
    n = int(round(len(days) / 3.0))
    idx = rng.choice(len(days), n, replace=False, p=w / w.sum())
    return sorted(days[int(i)] for i in idx)


def _syria_weather(seed: int) -> dict[str, dict[date, str]]:
    """Weather over Khmeimim and Tartus on every Sentinel-2 pass of the scenario."""
    rng = rng_for(seed, "weather", "syria")
    days = [d for _, d in _pass_days(S2_FIRST, S2_EVERY, SCENARIO_START, SCENARIO_END)]
    out: dict[str, dict[date, str]] = {
        "khmeimim": dict.fromkeys(days, "clear"),
        "tartus": dict.fromkeys(days, "clear"),
    }
    cloudy = _cloudy_days(rng, days)
    for d in cloudy:
        which = str(rng.choice(["both", "khmeimim", "tartus"], p=[0.45, 0.3, 0.25]))
        for site in ("khmeimim", "tartus"):
            if which in ("both", site):
                out[site][d] = "cloudy"
    before = [d for d in cloudy if d.month <= 10 and out["khmeimim"][d] == "cloudy"]
    overcast = before[int(rng.integers(len(before)))]
    for site in ("khmeimim", "tartus"):
        if out[site][overcast] == "cloudy":
            out[site][overcast] = "overcast"
    return out


def _site_weather(seed: int, site_id: str) -> dict[date, str]:
    rng = rng_for(seed, "weather", site_id)
    days = [d for _, d in _pass_days(S2_FIRST, S2_EVERY, SCENARIO_START, SCENARIO_END)]
    out = dict.fromkeys(days, "clear")
    cloudy = _cloudy_days(rng, days)
    for d in cloudy:
        out[d] = "cloudy"
    out[cloudy[int(rng.integers(len(cloudy)))]] = "overcast"
    return out


# --------------------------------------------------------------------------- Syrian stories


def _main_apron_empty_days(seed: int, weather: dict[date, str]) -> set[date]:
    """Days the Khmeimim main apron is empty: about one clear pass in five, June-November.

    Four of them are clear Sentinel-2 passes in September-November; none falls in the last
    week before the drawdown. Radar passes (always clear) make up the rest of the quota.
    """
    rng = rng_for(seed, "khmeimim", "empty-apron")
    last = date(2024, 11, 25)
    clear = [d for d, w in sorted(weather.items()) if w == "clear" and d <= last]
    s1_days = [d for _, d in _pass_days(S1_FIRST, S1_EVERY, SCENARIO_START, last)]
    quota = round((len(clear) + len(s1_days)) / 5)
    summer = [d for d in clear if d.month <= 8]
    autumn = [d for d in clear if d.month >= 9]
    picks = {autumn[int(i)] for i in rng.choice(len(autumn), 4, replace=False)}
    n_summer = min(len(summer), max(1, (quota - 4) // 2))
    picks |= {summer[int(i)] for i in rng.choice(len(summer), n_summer, replace=False)}
    shared = [d for d in s1_days if d in picks]
    free = [d for d in s1_days if d not in picks]
    n_s1 = max(0, min(len(free), quota - len(picks) - len(shared)))
    picks |= {free[int(i)] for i in rng.choice(len(free), n_s1, replace=False)}
    return picks


def _khmeimim_state(seed: int, zones: dict[str, BaseGeometry], empty: set[date]) -> StateFn:
    main = _Rect.of(zones["main-apron"])
    transport = _Rect.of(zones["transport-apron"])
    sam = _Rect.of(zones["s400-position"])
    south = _Rect(131.5, -430.0, 430.0, -250.0)

    def state(day: date) -> list[Placed]:
        rng = rng_for(seed, "khmeimim", "state", day.isoformat())
        out: list[Placed] = []
        # main apron
        if day in empty or day == MAIN_APRON_EMPTIES:
            fighters, heavy = 0, 0
        elif day > MAIN_APRON_EMPTIES:
            fighters, heavy = int(rng.integers(0, 6)), 0
        else:
            total = int(rng.integers(12, 21))
            heavy = int(rng.choice([0, 1, 1, 2, 2, 3]))
            fighters = total - heavy
        out += _fill_apron(main, "main-apron", fighters=fighters, heavy=heavy, rng=rng)
        # transport apron
        if day == date(2024, 12, 13):
            config = ["an124", "an124"]
        elif day == MAIN_APRON_EMPTIES:
            config = ["il76", "il76"]
        else:
            december = day.month == 12
            n = int(rng.choice([1, 2, 2, 3] if december else [0, 0, 0, 1, 1, 2]))
            config = [
                "an124" if rng.random() < (0.35 if december else 0.2) else "il76" for _ in range(n)
            ]
            if n == 3:  # three stands only take Il-76s
                config = ["il76"] * 3
        heading = 90.0 if rng.random() < 0.5 else 270.0
        out += [
            _jitter(p, rng)
            for p in _transport_stands(transport, "transport-apron", config, heading)
        ]
        # S-400 battery
        if day <= S400_LEAVES:
            ring = _sam_ring(sam, "s400-position", launchers=8, radar=True, radius=85.0)
            out += [_jitter(p, rng, pos=1.0) for p in ring]
        # aircraft outside the zones: south apron and the civil apron
        n_south = (
            3
            if day == MAIN_APRON_EMPTIES
            else int(rng.integers(0, 5 if day < MAIN_APRON_EMPTIES else 4))
        )
        for i in sorted(rng.choice(7, n_south, replace=False)):
            out.append(
                _jitter(
                    Placed(
                        kind="aircraft",
                        cls="fighter",
                        u=south.u0 + 30.0 + 40.0 * int(i),
                        v=south.cv,
                        heading=0.0,
                    ),
                    rng,
                )
            )
        n_civil = 0 if day == MAIN_APRON_EMPTIES else int(rng.choice([0, 0, 1, 1, 2]))
        for i in range(n_civil):
            out.append(
                _jitter(
                    Placed(
                        kind="aircraft", cls="airliner", u=-360.0 + 90.0 * i, v=265.0, heading=270.0
                    ),
                    rng,
                )
            )
        return out

    return state


FLOTILLA: tuple[tuple[str, float, float, float], ...] = (
    ("frigate", 135.0, 16.0, 1.0),
    ("frigate", 135.0, 16.0, 0.9),
    ("frigate", 124.0, 15.0, 0.6),
    ("submarine", 74.0, 10.0, 0.8),
    ("submarine", 74.0, 10.0, 0.6),
    ("landing_ship", 112.0, 15.0, 0.5),
    ("corvette", 100.0, 13.0, 0.5),
    ("auxiliary", 90.0, 15.0, 0.7),
    ("auxiliary", 75.0, 14.0, 0.6),
    ("auxiliary", 62.0, 12.0, 0.4),
)
"""Ships of the Tartus flotilla: (class, length, beam, relative chance of being in port)."""


def _tartus_state(seed: int, zones: dict[str, BaseGeometry]) -> StateFn:
    rect = _Rect.of(zones["piers"])
    _, berths = _pier_berths(rect)
    merchant_berths = [
        (-60.0, -520.0 + 37.5),
        (-40.0, -520.0 - 37.5),
        (-50.0, -900.0 + 37.5),
        (-70.0, -900.0 - 37.5),
    ]

    def state(day: date) -> list[Placed]:
        rng = rng_for(seed, "tartus", "state", day.isoformat())
        out: list[Placed] = []
        if day <= FLOTILLA_LEAVES:
            n = int(rng.integers(4, 8))
            w = np.array([s[3] for s in FLOTILLA])
            idx = rng.choice(len(FLOTILLA), n, replace=False, p=w / w.sum())
            ships = [FLOTILLA[int(i)][:3] for i in sorted(idx)]
            out += _fill_piers(berths, ships, "piers", rng)
        for i in sorted(rng.choice(len(merchant_berths), int(rng.integers(1, 4)), replace=False)):
            u, v = merchant_berths[int(i)]
            length = float(rng.uniform(120.0, 170.0))
            out.append(
                _jitter(
                    Placed(
                        kind="ship",
                        cls="merchant",
                        u=u,
                        v=v,
                        heading=float(rng.choice([90.0, 270.0])),
                        length_m=length,
                        beam_m=length / 6.5,
                    ),
                    rng,
                    hdg=1.0,
                )
            )
        if rng.random() < 0.5:
            out.append(
                Placed(
                    kind="ship",
                    cls="merchant",
                    u=float(rng.uniform(-1800.0, -1200.0)),
                    v=float(rng.uniform(-1500.0, 1500.0)),
                    heading=float(rng.uniform(0.0, 360.0)),
                    length_m=180.0,
                    beam_m=28.0,
                )
            )
        for _ in range(int(rng.integers(0, 3))):
            out.append(
                Placed(
                    kind="ship",
                    cls="tug",
                    u=float(rng.uniform(-450.0, -300.0)),
                    v=float(rng.uniform(-1150.0, -350.0)),
                    heading=float(rng.uniform(0.0, 360.0)),
                )
            )
        return out

    return state


def _syrian_worlds(registry: Registry, seed: int) -> list[_World]:
    weather = _syria_weather(seed)
    worlds = []
    k = registry.site("khmeimim")
    kf = _Frame(*k.point)
    kz = _zone_rects(k, kf)
    empty = _main_apron_empty_days(seed, weather["khmeimim"])
    worlds.append(
        _World(
            site=k,
            frame=kf,
            layout=_khmeimim_layout(kf, kz, seed),
            zones=kz,
            state=_khmeimim_state(seed, kz, empty),
            weather=weather["khmeimim"],
            events=(
                {
                    "date": MAIN_APRON_EMPTIES.isoformat(),
                    "zone": "main-apron",
                    "what": "main apron emptied; at most 5 aircraft afterwards",
                },
                {
                    "date": S400_LEAVES.isoformat(),
                    "zone": "s400-position",
                    "what": "S-400 battery leaves (gone from passes after this day)",
                },
                {
                    "date": AIRLIFT_STARTS.isoformat(),
                    "zone": "",
                    "what": "airlift: at least 3 heavy-transport departures a day",
                },
                *(
                    {"date": d.isoformat(), "zone": "main-apron", "what": "apron empty (routine)"}
                    for d in sorted(empty)
                ),
            ),
            highres=True,
        )
    )
    t = registry.site("tartus")
    tf = _Frame(*t.point)
    tz = _zone_rects(t, tf)
    worlds.append(
        _World(
            site=t,
            frame=tf,
            layout=_tartus_layout(tf, tz, seed),
            zones=tz,
            state=_tartus_state(seed, tz),
            weather=weather["tartus"],
            events=(
                {
                    "date": FLOTILLA_LEAVES.isoformat(),
                    "zone": "piers",
                    "what": "flotilla leaves (passes on this day still show it)",
                },
            ),
            sea=True,
        )
    )
    return worlds


# --------------------------------------------------------------------------- synthetic sites

COASTAL_CANDIDATES: tuple[tuple[float, float, float], ...] = (
    (35.935, 35.175, 265.0),
    (35.785, 35.640, 275.0),
    (35.215, 33.330, 285.0),
    (35.655, 34.175, 290.0),
    (36.120, 36.640, 300.0),
    (34.540, 36.760, 190.0),
    (33.560, 34.870, 150.0),
    (32.900, 34.640, 185.0),
    (34.930, 32.700, 265.0),
    (32.180, 31.250, 355.0),
    (29.750, 31.120, 330.0),
    (30.600, 36.850, 185.0),
    (24.050, 35.520, 10.0),
    (27.950, 36.420, 200.0),
)
"""Coastal anchor points (lon, lat, bearing towards the sea) for synthetic naval bases."""

INLAND_BOXES: tuple[tuple[float, float, float, float, str], ...] = (
    (36.8, 33.9, 40.4, 36.3, "steppe"),
    (40.6, 32.6, 43.4, 35.4, "desert"),
    (32.2, 37.6, 35.8, 39.4, "steppe"),
    (36.6, 30.6, 38.4, 32.4, "desert"),
)
"""Boxes (west, south, east, north, landscape) where synthetic inland sites are drawn."""

SYNTHETIC_KINDS = ("airbase", "naval_base", "air_defence")


def _far_enough(
    lon: float, lat: float, taken: Sequence[tuple[float, float]], km: float = 20.0
) -> bool:
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    for lo, la in taken:
        _, _, d = geod.inv(lon, lat, lo, la)
        if d < km * 1000.0:
            return False
    return True


@dataclass(frozen=True, kw_only=True)
class _SynthSpec:
    id: str
    kind: str
    lon: float
    lat: float
    rotation: float
    palette: str
    zones: tuple[tuple[str, str, str, tuple[float, float, float, float]], ...]
    """(zone id, kind, target, design rectangle)."""


def _synthetic_specs(n: int, seed: int, taken: list[tuple[float, float]]) -> list[_SynthSpec]:
    rng = rng_for(seed, "synthetic", "places")
    coastal = list(COASTAL_CANDIDATES)
    order = [int(i) for i in rng.permutation(len(coastal))]
    specs: list[_SynthSpec] = []
    for i in range(n):
        number = i + 3
        kind = SYNTHETIC_KINDS[i % 3]
        srng = rng_for(seed, "synthetic", number)
        two = bool(srng.random() < 0.5)
        if kind == "naval_base" and order:
            lon = lat = bearing = 0.0
            while order:
                base = coastal[order.pop(0)]
                along = math.radians(base[2] + 90.0)
                shift = float(srng.uniform(-0.05, 0.05))
                lon = base[0] + shift * math.sin(along) / math.cos(math.radians(base[1]))
                lat = base[1] + shift * math.cos(along)
                bearing = base[2]
                if _far_enough(lon, lat, taken):
                    break
            else:
                kind = "airbase"
            if kind == "naval_base":
                zones = [("piers", "pier", "ship", (-180.0, -75.0, 120.0, 75.0))]
                if two:
                    zones.append(
                        (
                            "sam-position",
                            "air_defence_position",
                            "vehicle",
                            (700.0, 300.0, 920.0, 520.0),
                        )
                    )
                taken.append((lon, lat))
                specs.append(
                    _SynthSpec(
                        id=f"synthetic-{number:03d}",
                        kind=kind,
                        lon=round(lon, 5),
                        lat=round(lat, 5),
                        rotation=bearing - 270.0,
                        palette="coastal",
                        zones=tuple(zones),
                    )
                )
                continue
        if kind == "naval_base":
            kind = "airbase"
        for _ in range(1000):
            w, s, e, nn, palette = INLAND_BOXES[int(srng.integers(len(INLAND_BOXES)))]
            lon, lat = float(srng.uniform(w, e)), float(srng.uniform(s, nn))
            if _far_enough(lon, lat, taken):
                break
        else:  # pragma: no cover - the boxes hold thousands of places 20 km apart
            raise InputError(f"--sites {n + 2}: cannot place that many synthetic sites 20 km apart")
        taken.append((lon, lat))
        if kind == "airbase":
            zones = [("apron", "apron", "aircraft", (230.0, -90.0, 590.0, 90.0))]
            if two:
                zones.append(
                    (
                        "sam-position",
                        "air_defence_position",
                        "vehicle",
                        (-920.0, 400.0, -700.0, 620.0),
                    )
                )
        else:
            zones = [
                ("sam-north", "air_defence_position", "vehicle", (-110.0, -110.0, 110.0, 110.0))
            ]
            if two:
                zones.append(
                    ("sam-south", "air_defence_position", "vehicle", (500.0, -720.0, 720.0, -500.0))
                )
        rotation = (
            float(srng.uniform(-60.0, 60.0))
            if kind == "airbase"
            else float(srng.uniform(0.0, 90.0))
        )
        specs.append(
            _SynthSpec(
                id=f"synthetic-{number:03d}",
                kind=kind,
                lon=round(lon, 5),
                lat=round(lat, 5),
                rotation=round(rotation, 1),
                palette=palette,
                zones=tuple(zones),
            )
        )
    return specs


_KIND_NAMES = {"airbase": "air base", "naval_base": "naval base", "air_defence": "air-defence site"}


def _synthetic_site(spec: _SynthSpec) -> Site:
    frame = _Frame(spec.lon, spec.lat, spec.rotation)
    zones = tuple(
        Zone(
            site_id=spec.id,
            id=zid,
            kind=kind,
            target=target,
            geometry=frame.to_lonlat(box(*rect)),
            name=f"{zid.replace('-', ' ').capitalize()} (synthetic)",
            properties={"sources": ["basewatch scenario simulator (synthetic zone)"]},
        )
        for zid, kind, target, rect in spec.zones
    )
    number = int(spec.id.rsplit("-", 1)[1])
    return Site(
        id=spec.id,
        name=f"Synthetic {_KIND_NAMES[spec.kind]} {number:03d}",
        kind=spec.kind,
        geometry=Point(spec.lon, spec.lat),
        operator="ZZ",
        country="ZZ",
        zones=zones,
        properties={
            "sources": ["basewatch scenario simulator (synthetic site, not a real facility)"],
            "note": "Synthetic site added by 'basewatch demo --sites N' to exercise scale.",
        },
    )


def _synthetic_layout(
    spec: _SynthSpec, frame: _Frame, zones: dict[str, BaseGeometry], seed: int
) -> Layout:
    rng = rng_for(seed, spec.id, "layout")
    paint = _Paint()
    half = 2100.0 if spec.rotation == 0 else 2900.0
    _parcels(paint, rng, half=half, palette=spec.palette)
    if spec.kind == "airbase":
        paint.add(
            box(-600.0, -1500.0, 800.0, 1500.0),
            "grass" if spec.palette != "desert" else "land",
            vegetation=(0.2, 0.15, 60.0) if spec.palette != "desert" else None,
        )
        paint.add(box(-22.5, -1300.0, 22.5, 1300.0), "concrete", tone=0.9)
        paint.add(box(138.5, -1250.0, 161.5, 1250.0), "concrete", tone=0.95)
        for y in (-1250.0, 0.0, 1250.0):
            paint.add(box(22.5, y - 11.5, 138.5, y + 11.5), "concrete", tone=0.95)
        apron = _Rect.of(zones["apron"])
        paint.add(apron.grown(25.0), "concrete")
        paint.add(box(161.5, apron.cv - 15.0, apron.u0 - 20.0, apron.cv + 15.0), "concrete")
        _buildings(paint, rng, box(650.0, -900.0, 790.0, 900.0), density=0.6, big=True)
    elif spec.kind == "naval_base":
        rect = _Rect.of(zones["piers"])
        quay = rect.u1 + 100.0
        paint.add(box(-3000.0, -3000.0, quay, 3000.0), "sea")
        paint.add(box(-450.0, -500.0, quay, 450.0), "harbour")
        paint.add(
            _line([(quay + 10.0, 450.0), (-450.0, 450.0), (-450.0, -350.0)], 36.0),
            "breakwater",
            height=5.0,
        )
        paint.add(box(quay, -1500.0, quay + 90.0, 1500.0), "concrete", tone=0.95)
        piers, _ = _pier_berths(rect)
        for v in piers:
            paint.add(box(rect.u0 + 28.0, v - 9.0, quay + 2.0, v + 9.0), "pier")
        town = box(quay + 150.0, -1500.0, quay + 900.0, -300.0)
        paint.add(town, "urban")
        _buildings(paint, rng, town, density=0.6)
    for zid, geom in zones.items():
        if zid.startswith("sam"):
            r = _Rect.of(geom)
            paint.add(r.grown(15.0), "gravel")
            paint.add(_line([(r.u1 + 15.0, r.cv), (r.u1 + 400.0, r.cv + 60.0)], 7.0), "gravel")
    return paint.layout(
        frame,
        background="land" if spec.palette != "desert" else "sand",
        seed=derive_seed(seed, spec.id),
    )


def _synthetic_story(seed: int, spec: _SynthSpec) -> tuple[dict[str, Any], ...]:
    rng = rng_for(seed, spec.id, "story")
    out = []
    for zid, _kind, target, _ in spec.zones:
        level = {
            "aircraft": int(rng.integers(6, 15)),
            "ship": int(rng.integers(2, 5)),
            "vehicle": int(rng.choice([4, 6, 6])),
        }[target]
        if rng.random() < 0.5:
            out.append({"zone": zid, "story": "stable", "level": level})
        else:
            day = date(2024, 8, 15) + timedelta(days=int(rng.integers(0, 118)))
            to = 0.0 if target == "vehicle" or rng.random() < 0.5 else 0.3
            out.append(
                {"zone": zid, "story": "drop", "level": level, "date": day.isoformat(), "to": to}
            )
    return tuple(out)


_SYNTH_FLEET = (
    ("frigate", 135.0, 16.0),
    ("corvette", 100.0, 13.0),
    ("submarine", 74.0, 10.0),
    ("auxiliary", 80.0, 14.0),
)


def _synthetic_state(
    seed: int, spec: _SynthSpec, zones: dict[str, BaseGeometry], story: Sequence[dict[str, Any]]
) -> StateFn:
    def state(day: date) -> list[Placed]:
        rng = rng_for(seed, spec.id, "state", day.isoformat())
        out: list[Placed] = []
        for entry in story:
            zid = str(entry["zone"])
            level = int(entry["level"])
            dropped = entry["story"] == "drop" and day > date.fromisoformat(str(entry["date"]))
            rect = _Rect.of(zones[zid])
            if zid.startswith("sam"):
                if not dropped:
                    out += [
                        _jitter(p, rng, pos=1.0)
                        for p in _sam_ring(rect, zid, launchers=level, radar=True, radius=70.0)
                    ]
                continue
            n = round(level * float(entry["to"])) if dropped else level
            n = max(0, n + int(rng.integers(-1, 2)))
            if zid == "apron":
                out += _fill_apron(rect, zid, fighters=n, heavy=0, rng=rng)
            else:
                _, berths = _pier_berths(rect)
                ships = [_SYNTH_FLEET[int(i)] for i in rng.integers(0, len(_SYNTH_FLEET), n)]
                out += _fill_piers(berths, ships, zid, rng)
        return out

    return state


def _synthetic_worlds(n: int, seed: int, taken: list[tuple[float, float]]) -> list[_World]:
    worlds = []
    for spec in _synthetic_specs(n, seed, taken):
        site = _synthetic_site(spec)
        frame = _Frame(spec.lon, spec.lat, spec.rotation)
        zones = _zone_rects(site, frame)
        story = _synthetic_story(seed, spec)
        events = tuple(
            {
                "date": str(e["date"]),
                "zone": str(e["zone"]),
                "what": f"drop to {float(e['to']):.0%} of {e['level']}",
            }
            for e in story
            if e["story"] == "drop"
        )
        worlds.append(
            _World(
                site=site,
                frame=frame,
                layout=_synthetic_layout(spec, frame, zones, seed),
                zones=zones,
                state=_synthetic_state(seed, spec, zones, story),
                weather=_site_weather(seed, spec.id),
                events=events,
                sea=spec.kind == "naval_base",
            )
        )
    return worlds


# --------------------------------------------------------------------------- rendering


def _pass_time(sensor: str, day: date, lon: float) -> datetime:
    """Acquisition time: Sentinel-2 ~08:20, Sentinel-1 ~03:50, sub-metre ~08:40 UTC at 36 E
    (sun-synchronous orbits pass at the same local solar time, so later further west)."""
    base = {"sentinel-2": time(8, 20), "sentinel-1": time(3, 50), "highres": time(8, 40)}[sensor]
    shift = timedelta(seconds=round((35.9 - lon) * 240.0))
    return datetime.combine(day, base, tzinfo=UTC) + shift


def _item_id(sensor: str, site_id: str, p: _Pass) -> str:
    stamp = p.day.strftime("%Y%m%d")
    if sensor == "sentinel-2":
        return f"S2{'AB'[p.index % 2]}_{site_id}_{stamp}_L2A"
    if sensor == "sentinel-1":
        return f"S1A_IW_GRDH_{site_id}_{stamp}"
    return f"VHR_{site_id}_{stamp}"


def _scene_object(world: _World, p: Placed, rng: np.random.Generator) -> SceneObject:
    x, y = world.frame.utm_point(p.u, p.v)
    heading = world.frame.utm_heading(p.u, p.v, p.heading)
    if p.kind == "aircraft":
        return make_aircraft(p.cls, x=x, y=y, heading_deg=heading, rng=rng)
    if p.kind == "ship":
        return make_ship(
            p.cls, x=x, y=y, heading_deg=heading, rng=rng, length_m=p.length_m, beam_m=p.beam_m
        )
    return make_vehicle(p.cls, x=x, y=y, heading_deg=heading, rng=rng)


def _obscured(cloud: np.ndarray, cirrus: np.ndarray) -> np.ndarray:
    """Pixels a photo-interpreter would call cloudy (the SCL cloud and cirrus thresholds)."""
    return (cloud >= 0.25) | (cirrus >= 0.08)


@dataclass
class _SiteRender:
    """Cached grids and masks of one site."""

    world: _World
    grid: Grid
    model: SceneModel
    zones_utm: dict[str, BaseGeometry]
    masks: dict[str, np.ndarray]
    near: np.ndarray
    _highres: SceneModel | None = None

    def highres_model(self) -> SceneModel:
        """The sub-metre model over the zones' bounding box plus a margin (built once)."""
        if self._highres is None:
            union = shapely.union_all(list(self.zones_utm.values()))
            bounds = union.buffer(HIGHRES_MARGIN_M, join_style="mitre").bounds
            grid = Grid.covering(bounds, res=HIGHRES_RES, crs=self.grid.crs)
            self._highres = SceneModel(self.world.layout, grid)
        return self._highres

    @classmethod
    def build(cls, world: _World) -> _SiteRender:
        x, y = world.frame.utm_point(0.0, 0.0)
        grid = Grid.around(x, y, size_m=TILE_M, res=10.0, crs=world.frame.crs)
        zones_utm = {zid: world.frame.to_utm(g) for zid, g in world.zones.items()}
        masks = {zid: grid.mask(g) for zid, g in zones_utm.items()}
        near = grid.mask(shapely.union_all([g.buffer(200.0) for g in zones_utm.values()]))
        return cls(world, grid, SceneModel(world.layout, grid), zones_utm, masks, near)


def _cloud_spec(r: _SiteRender, day: date, when: datetime, seed: int) -> CloudSpec | None:
    """Clouds of a Sentinel-2 pass, drawn until they match the planned weather over the zones."""
    status = r.world.weather.get(day, "clear")
    rng = rng_for(seed, r.world.site.id, "clouds", day.isoformat())
    az, el = sun_position(*r.model.lonlat, when)

    def draw(cover: float, cirrus: float) -> CloudSpec:
        return CloudSpec(
            cover=cover,
            cirrus=cirrus,
            scale_m=float(rng.uniform(600.0, 1600.0)),
            height_m=float(rng.uniform(800.0, 2600.0)),
            brightness=float(rng.uniform(0.85, 1.1)),
            seed=int(rng.integers(0, 2**62)),
        )

    if status == "overcast":
        return draw(1.0, 0.0)
    if status == "cloudy":
        spec = draw(0.5, 0.0)
        for _ in range(40):
            cirrus = float(rng.uniform(0.1, 0.3)) if rng.random() < 0.3 else 0.0
            spec = draw(float(rng.uniform(0.35, 0.85)), cirrus)
            lay = cloud_layers(spec, r.grid, azimuth=az, elevation=el)
            covered = _obscured(lay.cloud, lay.cirrus)
            if max(float(covered[m].mean()) for m in r.masks.values()) >= 0.3:
                break
        return spec
    if rng.random() < 0.5:
        return None
    for _ in range(20):
        spec = draw(float(rng.uniform(0.03, 0.2)), 0.0)
        lay = cloud_layers(spec, r.grid, azimuth=az, elevation=el)
        if float(np.maximum(lay.cloud, lay.shadow)[r.near].max(initial=0.0)) < 0.05:
            return spec
    return None


_UNUSABLE_SCL = (0, 1, 3, 8, 9, 10)


def _counts(placed: Iterable[Placed]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in placed:
        counts[p.cls] = counts.get(p.cls, 0) + 1
    return dict(sorted(counts.items()))


def _truth_rows(
    r: _SiteRender,
    placed: Sequence[Placed],
    *,
    item_id: str,
    collection: str,
    sensor: str,
    when: datetime,
    cloud: np.ndarray | None = None,
    scl: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """One row per zone: true objects, cloud over the zone and (with ``scl``) its clear share.

    ``clear_fraction`` is the share of the zone's pixels whose SCL class is usable; it is
    null for Sentinel-2 scenes built without imagery.
    """
    rows = []
    frame = r.world.frame
    for zone in r.world.site.zones:
        inside = [p for p in placed if p.zone == zone.id]
        mask = r.masks[zone.id]
        cloud_fraction = float(cloud[mask].mean()) if cloud is not None and mask.any() else 0.0
        clear_fraction: float | None = 1.0
        if sensor == "sentinel-2":
            clear_fraction = None
            if scl is not None and mask.any():
                scl10 = np.repeat(np.repeat(scl, 2, axis=0), 2, axis=1)
                usable = ~np.isin(scl10[: mask.shape[0], : mask.shape[1]], _UNUSABLE_SCL)
                clear_fraction = round(float(usable[mask].mean()), 4)
        lon, lat = frame.lonlat_arrays(
            np.array([p.u for p in inside]), np.array([p.v for p in inside])
        )
        objects = [
            {
                "class": p.cls,
                "lon": round(float(lo), 6),
                "lat": round(float(la), 6),
                "heading_deg": round((p.heading + frame.rotation) % 360.0, 1),
                "length_m": round(_size(p)[0], 1),
                "width_m": round(_size(p)[1], 1),
            }
            for p, lo, la in zip(inside, lon, lat, strict=True)
        ]
        rows.append(
            {
                "site": r.world.site.id,
                "zone": zone.id,
                "scene_id": item_id,
                "collection": collection,
                "sensor": sensor,
                "time": _iso(when),
                "counts": _counts(inside),
                "total": len(inside),
                "cloud_fraction": round(cloud_fraction, 4),
                "clear_fraction": clear_fraction,
                "objects": objects,
            }
        )
    return rows


def _site_row(
    r: _SiteRender, placed: Sequence[Placed], *, item_id: str, sensor: str, when: datetime
) -> dict[str, Any]:
    """Everything on the site on a scene, including objects outside the zones."""
    return {
        "site": r.world.site.id,
        "scene_id": item_id,
        "sensor": sensor,
        "time": _iso(when),
        "counts": _counts(placed),
        "outside_zones": _counts(p for p in placed if not p.zone),
    }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, kw_only=True)
class _Result:
    """What rendering one pass produced."""

    collection: str
    """Collection of the item."""
    item: dict[str, Any]
    """The STAC item as a dict (asset hrefs absolute)."""
    truth: list[dict[str, Any]]
    """Truth rows of the site's zones on this scene."""
    site: dict[str, Any]
    """Truth row of the whole site on this scene."""


@dataclass(frozen=True, kw_only=True)
class _Shot:
    """One pass over one site, ready to render."""

    r: _SiteRender
    p: _Pass
    placed: list[Placed]
    objects: list[SceneObject]
    root: Path
    """Folder of the catalogue."""
    seed: int
    imagery: bool
    """Write the COGs and the item (False: truth only)."""

    def result(
        self,
        collection: str,
        item: pystac.Item | None,
        *,
        item_id: str,
        when: datetime,
        cloud: np.ndarray | None = None,
        scl: np.ndarray | None = None,
    ) -> _Result:
        sensor = self.p.sensor
        truth = _truth_rows(
            self.r,
            self.placed,
            item_id=item_id,
            collection=collection,
            sensor=sensor,
            when=when,
            cloud=cloud,
            scl=scl,
        )
        site = _site_row(self.r, self.placed, item_id=item_id, sensor=sensor, when=when)
        return _Result(
            collection=collection,
            item=item.to_dict() if item is not None else {},
            truth=truth,
            site=site,
        )


def _render_s2(shot: _Shot) -> _Result:
    r, p = shot.r, shot.p
    when = _pass_time("sentinel-2", p.day, r.model.lonlat[0])
    item_id = _item_id("sentinel-2", r.world.site.id, p)
    clouds = _cloud_spec(r, p.day, when, shot.seed)
    if not shot.imagery:
        az, el = sun_position(*r.model.lonlat, when)
        layers = cloud_layers(clouds, r.grid, azimuth=az, elevation=el)
        cloud = _obscured(layers.cloud, layers.cirrus)
        return shot.result(S2_COLLECTION, None, item_id=item_id, when=when, cloud=cloud)
    render = r.model.render_s2(
        when=when, objects=shot.objects, clouds=clouds, seed=derive_seed(shot.seed, item_id)
    )
    folder = shot.root / S2_COLLECTION / item_id
    files = {}
    grid20 = r.grid.coarsened(2)
    for key, band in render.bands.items():
        path = folder / f"{key}.tif"
        grid = r.grid if band.shape == r.grid.shape else grid20
        nearest = key == "scl"
        write_cog(path, band, grid=grid, nodata=0, resampling="nearest" if nearest else "average")
        files[key] = path
    item = s2_item(
        item_id=item_id,
        when=when,
        grid=r.grid,
        platform=f"sentinel-2{'ab'[p.index % 2]}",
        cloud_cover=render.cloud_cover,
        sun=render.sun,
        files=files,
    )
    cloud = _obscured(render.clouds.cloud, render.clouds.cirrus)
    return shot.result(
        S2_COLLECTION, item, item_id=item_id, when=when, cloud=cloud, scl=render.bands["scl"]
    )


def _render_s1(shot: _Shot) -> _Result:
    r, p = shot.r, shot.p
    site = r.world.site
    when = _pass_time("sentinel-1", p.day, r.model.lonlat[0])
    item_id = _item_id("sentinel-1", site.id, p)
    if not shot.imagery:
        return shot.result(S1_COLLECTION, None, item_id=item_id, when=when)
    rng = rng_for(shot.seed, item_id, "conditions")
    sea_vv = float(np.clip(np.exp(rng.normal(math.log(0.01), 0.45)), 0.003, 0.04))
    wet = 0.25 if p.day.month >= 10 else 0.0
    moisture = float(np.clip(1.0 + wet * rng.random() + rng.normal(0.0, 0.05), 0.8, 1.4))
    bands = r.model.render_s1(
        when=when,
        objects=shot.objects,
        sea_vv=sea_vv,
        moisture=moisture,
        seed=derive_seed(shot.seed, item_id),
    )
    folder = shot.root / S1_COLLECTION / item_id
    files = {}
    for key in ("vv", "vh"):
        path = folder / f"{key}.tif"
        write_cog(path, bands[key], grid=r.grid, nodata=0)
        files[key] = path
    orbit = 21 if site.id in ("khmeimim", "tartus") else 1 + derive_seed(site.id) % 175
    item = s1_item(
        item_id=item_id,
        when=when,
        grid=r.grid,
        platform="sentinel-1a",
        orbit_state="descending",
        relative_orbit=orbit,
        files=files,
    )
    return shot.result(S1_COLLECTION, item, item_id=item_id, when=when)


def _render_highres(shot: _Shot) -> _Result:
    r, p = shot.r, shot.p
    when = _pass_time("highres", p.day, r.model.lonlat[0])
    item_id = _item_id("highres", r.world.site.id, p)
    if not shot.imagery:
        return shot.result(HR_COLLECTION, None, item_id=item_id, when=when)
    model = r.highres_model()
    image = model.render_highres(
        when=when, objects=shot.objects, seed=derive_seed(shot.seed, item_id)
    )
    path = shot.root / HR_COLLECTION / item_id / "visual.tif"
    write_cog(path, image, grid=model.grid, jpeg_quality=90, colorinterp=("red", "green", "blue"))
    sun = sun_position(*model.lonlat, when)
    item = highres_item(
        item_id=item_id,
        when=when,
        grid=model.grid,
        platform="simsat-vhr",
        constellation="simulated-vhr",
        sun=(round(sun[0], 2), round(sun[1], 2)),
        path=path,
    )
    return shot.result(HR_COLLECTION, item, item_id=item_id, when=when)


_RENDERERS = {"sentinel-2": _render_s2, "sentinel-1": _render_s1, "highres": _render_highres}


@functools.lru_cache(maxsize=2)
def _worlds(seed: int, n_sites: int) -> tuple[_World, ...]:
    """The sites of the scenario with their layouts and stories (cached per process)."""
    registry = load_registry("syria-2024")
    worlds = _syrian_worlds(registry, seed)
    taken = [w.site.point for w in worlds]
    worlds += _synthetic_worlds(n_sites - 2, seed, taken)
    return tuple(worlds)


@functools.lru_cache(maxsize=16)
def _site_render(seed: int, n_sites: int, index: int) -> _SiteRender:
    return _SiteRender.build(_worlds(seed, n_sites)[index])


@dataclass(frozen=True, kw_only=True)
class _Task:
    """A chunk of passes over one site, rendered in one go (possibly in a worker process)."""

    seed: int
    n_sites: int
    site: int
    """Index of the site in the scenario."""
    passes: tuple[_Pass, ...]
    root: Path
    """Folder of the catalogue (absolute)."""
    imagery: bool = True
    """Write imagery (False: truth only)."""


def _run_task(task: _Task, tick: Callable[[], None] | None = None) -> list[_Result]:
    r = _site_render(task.seed, task.n_sites, task.site)
    world = r.world
    out = []
    for p in task.passes:
        placed = world.state(p.day)
        rng = rng_for(task.seed, world.site.id, "looks", p.day.isoformat())
        objects = [_scene_object(world, o, rng) for o in placed]
        shot = _Shot(
            r=r,
            p=p,
            placed=placed,
            objects=objects,
            root=task.root,
            seed=task.seed,
            imagery=task.imagery,
        )
        out.append(_RENDERERS[p.sensor](shot))
        if tick is not None:
            tick()
    return out


def _tasks(
    worlds: Sequence[_World], seed: int, start: date, end: date, root: Path, imagery: bool
) -> list[_Task]:
    """Chunks of at most 6 passes per site; sub-metre passes (the slowest) each alone, first."""
    heavy: list[_Task] = []
    light: list[_Task] = []
    for i, w in enumerate(worlds):
        passes = _passes(start, end, highres=w.highres)
        hr = [(p,) for p in passes if p.sensor == "highres"]
        rest = [p for p in passes if p.sensor != "highres"]
        chunks = [tuple(rest[k : k + 6]) for k in range(0, len(rest), 6)]
        for group, chunk_list in ((heavy, hr), (light, chunks)):
            group += [
                _Task(
                    seed=seed,
                    n_sites=len(worlds),
                    site=i,
                    passes=chunk,
                    root=root,
                    imagery=imagery,
                )
                for chunk in chunk_list
            ]
    return heavy + light


def _render_all(
    tasks: Sequence[_Task], workers: int, progress: Callable[[int, int], None] | None
) -> list[_Result]:
    total = sum(len(t.passes) for t in tasks)
    done = 0

    def tick(n: int = 1) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    if workers <= 1 or len(tasks) <= 1:
        return [res for t in tasks for res in _run_task(t, tick)]
    results: dict[int, list[_Result]] = {}
    # fork (Linux) lets scripts call build_scenario without a __main__ guard and shares
    # the already built site worlds; elsewhere only spawn is safe.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    ctx = multiprocessing.get_context(method)
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_run_task, t): i for i, t in enumerate(tasks)}
        for fut in cf.as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            tick(len(tasks[i].passes))
    return [res for i in range(len(tasks)) for res in results[i]]


# --------------------------------------------------------------------------- ADS-B tracks

FIELD_ELEVATION_FT = 150.0
"""Khmeimim's elevation (ft), reported by aircraft on the ground."""
KT_PER_MS = 1.943844
"""Knots per metre per second."""
STATE_EVERY_S = 20
"""Nominal interval between two state vectors of one aircraft (s)."""


@dataclass(frozen=True, kw_only=True)
class _Path:
    """A trajectory sampled every second, in the site's design frame."""

    u: np.ndarray
    v: np.ndarray
    alt: np.ndarray
    """Altitude (ft)."""
    speed: np.ndarray
    """Ground speed (m/s)."""
    track: np.ndarray
    """Track (degrees clockwise from north)."""
    vrate: np.ndarray
    """Vertical rate (ft/min)."""
    ground: np.ndarray
    """On the ground."""

    def __len__(self) -> int:
        return int(self.u.size)

    @staticmethod
    def join(parts: Sequence[_Path]) -> _Path:
        names = ("u", "v", "alt", "speed", "track", "vrate", "ground")
        return _Path(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})

    def reversed(self) -> _Path:
        return _Path(
            u=self.u[::-1],
            v=self.v[::-1],
            alt=self.alt[::-1],
            speed=self.speed[::-1],
            track=(self.track[::-1] + 180.0) % 360.0,
            vrate=-self.vrate[::-1],
            ground=self.ground[::-1],
        )


def _taxi(points: Sequence[tuple[float, float]], speed: float) -> _Path:
    pts = np.asarray(points, float)
    seg = np.hypot(*np.diff(pts, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(along[-1] / speed))
    d = np.linspace(0.0, along[-1], n)
    u, v = np.interp(d, along, pts[:, 0]), np.interp(d, along, pts[:, 1])
    track = np.degrees(np.arctan2(np.gradient(u), np.gradient(v))) % 360.0
    return _Path(
        u=u,
        v=v,
        alt=np.full(n, FIELD_ELEVATION_FT),
        speed=np.full(n, speed),
        track=track,
        vrate=np.zeros(n),
        ground=np.ones(n, bool),
    )


def _hold(u: float, v: float, heading: float, seconds: int) -> _Path:
    return _Path(
        u=np.full(seconds, u),
        v=np.full(seconds, v),
        alt=np.full(seconds, FIELD_ELEVATION_FT),
        speed=np.zeros(seconds),
        track=np.full(seconds, heading),
        vrate=np.zeros(seconds),
        ground=np.ones(seconds, bool),
    )


def _roll(u: float, v: float, heading: float, v0: float, v1: float, accel: float) -> _Path:
    n = max(2, int(abs(v1 - v0) / accel))
    speed = np.linspace(v0, v1, n)
    dist = np.concatenate([[0.0], np.cumsum((speed[1:] + speed[:-1]) / 2.0)])
    h = math.radians(heading)
    return _Path(
        u=u + dist * math.sin(h),
        v=v + dist * math.cos(h),
        alt=np.full(n, FIELD_ELEVATION_FT),
        speed=speed,
        track=np.full(n, heading),
        vrate=np.zeros(n),
        ground=np.ones(n, bool),
    )


def _climb(
    u: float,
    v: float,
    heading: float,
    bearing: float,
    *,
    seconds: int,
    first_fpm: float,
    cruise_ft: float,
) -> _Path:
    """Climb out from ``(u, v)``: straight for a minute, then a turn towards ``bearing``."""
    i = np.arange(seconds)
    rate = np.where(i < 300, first_fpm, np.where(i < 600, 2000.0, 1500.0))
    climbed = FIELD_ELEVATION_FT + np.cumsum(rate / 60.0)
    rate = np.where(climbed - rate / 60.0 < cruise_ft, rate, 0.0)
    alt = np.minimum(climbed, cruise_ft)
    speed = np.minimum(225.0, 75.0 + 0.35 * (i + 1))
    diff = (bearing - heading + 540.0) % 360.0 - 180.0
    turn = np.clip(1.5 * (i - 59), 0.0, abs(diff)) * math.copysign(1.0, diff)
    track = (heading + turn) % 360.0
    h = np.radians(track)
    return _Path(
        u=u + np.cumsum(speed * np.sin(h)),
        v=v + np.cumsum(speed * np.cos(h)),
        alt=alt,
        speed=speed,
        track=track,
        vrate=rate,
        ground=np.zeros(seconds, bool),
    )


RUNWAY_U = -60.0
"""Design u of Khmeimim's runway centreline."""
TAXIWAY_U = 120.0
"""Design u of the parallel taxiway."""


def _departure_path(
    park: tuple[float, float], link_v: float, bearing: float, cruise_ft: float
) -> tuple[_Path, int]:
    """Taxi from ``park`` to the south end, roll north, climb out; returns the path and the
    index of the lift-off second."""
    taxi = _taxi([park, (TAXIWAY_U, link_v), (TAXIWAY_U, -1450.0), (RUNWAY_U, -1450.0)], 8.0)
    hold = _hold(RUNWAY_U, -1450.0, 0.0, 40)
    roll = _roll(RUNWAY_U, -1450.0, 0.0, 0.0, 75.0, 1.8)
    climb = _climb(
        float(roll.u[-1]),
        float(roll.v[-1]),
        0.0,
        bearing,
        seconds=25 * 60,
        first_fpm=2000.0,
        cruise_ft=cruise_ft,
    )
    path = _Path.join([taxi, hold, roll, climb])
    return path, len(taxi) + len(hold) + len(roll)


def _arrival_path(
    park: tuple[float, float], link_v: float, bearing: float, cruise_ft: float
) -> tuple[_Path, int]:
    """Approach from ``bearing``, land southbound, roll out, taxi to ``park``; returns the
    path and the index of the touchdown second."""
    approach = _climb(
        RUNWAY_U, 1000.0, 0.0, bearing, seconds=25 * 60, first_fpm=800.0, cruise_ft=cruise_ft
    ).reversed()
    roll = _roll(RUNWAY_U, 1000.0, 180.0, 70.0, 12.0, 2.0)
    taxi = _taxi(
        [
            (RUNWAY_U, float(roll.v[-1])),
            (RUNWAY_U, -200.0),
            (TAXIWAY_U, -200.0),
            (TAXIWAY_U, link_v),
            park,
        ],
        7.0,
    )
    return _Path.join([approach, roll, taxi]), len(approach)


def _overflight_path(
    offset_m: float, bearing: float, alt_ft: float, speed: float
) -> tuple[_Path, int]:
    n = 20 * 60
    t = np.arange(n) - n / 2.0
    b = math.radians(bearing)
    u = offset_m * math.cos(b) + speed * t * math.sin(b)
    v = -offset_m * math.sin(b) + speed * t * math.cos(b)
    return (
        _Path(
            u=u,
            v=v,
            alt=np.full(n, alt_ft),
            speed=np.full(n, speed),
            track=np.full(n, bearing % 360.0),
            vrate=np.zeros(n),
            ground=np.zeros(n, bool),
        ),
        n // 2,
    )


@dataclass(frozen=True, kw_only=True)
class _Flight:
    icao24: str
    callsign: str
    typecode: str
    kind: str
    """``departure``, ``arrival`` or ``overflight``."""
    moment: datetime
    """Lift-off, touchdown or closest approach."""
    path: _Path = field(repr=False)
    anchor: int
    """Index of ``moment`` in the path."""


def _heavy_schedule(seed: int) -> list[datetime]:
    """Heavy-transport departures from Khmeimim: about weekly, then >= 3 a day."""
    rng = rng_for(seed, "adsb", "heavy")
    out: list[datetime] = []
    week = SCENARIO_START
    while week <= WEEKLY_UNTIL:
        day = week + timedelta(days=int(rng.integers(0, 7)))
        if day <= WEEKLY_UNTIL:
            out.append(
                datetime.combine(
                    day, time(int(rng.integers(5, 19)), int(rng.integers(0, 60))), tzinfo=UTC
                )
            )
        week += timedelta(days=7)
    day = AIRLIFT_STARTS
    while day <= SCENARIO_END:
        n = 3 + int(rng.random() < 0.5) + int(rng.random() < 0.2)
        slots = np.sort(rng.choice(np.arange(3 * 60, 21 * 60, 25), n, replace=False))
        out += [
            datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(minutes=int(m)) for m in slots
        ]
        day += timedelta(days=1)
    return out


def _khmeimim_flights(seed: int) -> list[_Flight]:
    """Heavy transports (arrival, then departure) and a civil A320 at Khmeimim."""
    rng = rng_for(seed, "adsb", "flights")
    fleet: list[tuple[str, str]] = []
    used: set[str] = set()
    while len(fleet) < 26:
        code = f"{0x150000 + int(rng.integers(0, 0xFFFF)):06x}"
        if code not in used:
            used.add(code)
            fleet.append((code, "A124" if len(fleet) < 7 else "IL76"))
    free = {code: datetime(2024, 1, 1, tzinfo=UTC) for code, _ in fleet}
    stands = [(220.0 + 57.0, 737.0), (377.0, 737.0), (477.0, 737.0)]
    flights: list[_Flight] = []
    for lift in _heavy_schedule(seed):
        turnaround = timedelta(minutes=int(rng.integers(150, 540)))
        land = lift - turnaround
        want_an124 = rng.random() < 0.3
        candidates = [c for c in fleet if free[c[0]] <= land and (c[1] == "A124") == want_an124]
        candidates = candidates or [c for c in fleet if free[c[0]] <= land]
        code, typecode = candidates[int(rng.integers(len(candidates)))]
        free[code] = lift + timedelta(hours=30)
        park = stands[int(rng.integers(len(stands)))]
        bearing = float(rng.uniform(50.0, 75.0))
        cruise = float(rng.choice([30000.0, 32000.0, 34000.0]))
        path, anchor = _arrival_path(park, 737.0, bearing, cruise)
        flights.append(
            _Flight(
                icao24=code,
                callsign=f"RFF{int(rng.integers(1000, 9999))}",
                typecode=typecode,
                kind="arrival",
                moment=land,
                path=path,
                anchor=anchor,
            )
        )
        path, anchor = _departure_path(park, 737.0, bearing, cruise)
        flights.append(
            _Flight(
                icao24=code,
                callsign=f"RFF{int(rng.integers(1000, 9999))}",
                typecode=typecode,
                kind="departure",
                moment=lift,
                path=path,
                anchor=anchor,
            )
        )
    # a civil A320 twice a week until the airport closes, parked on the civil apron
    day = SCENARIO_START
    while day <= date(2024, 12, 7):
        if day.weekday() in (1, 4):
            land = datetime.combine(day, time(9, int(rng.integers(0, 40))), tzinfo=UTC)
            code = f"{0x778000 + int(rng.integers(0, 0x7FF)):06x}"
            number = int(rng.integers(100, 999))
            park = (-300.0, 265.0)
            path, anchor = _arrival_path(park, 265.0, float(rng.uniform(120.0, 160.0)), 28000.0)
            flights.append(
                _Flight(
                    icao24=code,
                    callsign=f"SYR{number}",
                    typecode="A320",
                    kind="arrival",
                    moment=land,
                    path=path,
                    anchor=anchor,
                )
            )
            path, anchor = _departure_path(park, 265.0, float(rng.uniform(120.0, 160.0)), 28000.0)
            flights.append(
                _Flight(
                    icao24=code,
                    callsign=f"SYR{number + 1}",
                    typecode="A320",
                    kind="departure",
                    moment=land + timedelta(minutes=75),
                    path=path,
                    anchor=anchor,
                )
            )
        day += timedelta(days=1)
    return flights


AIRLINES = (
    ("THY", "4bb", "A321"),
    ("QTR", "06a", "B77W"),
    ("UAE", "896", "B77W"),
    ("IAW", "728", "B738"),
    ("RJA", "740", "A320"),
    ("SVA", "710", "B789"),
    ("MEA", "748", "A333"),
)
"""(callsign prefix, ICAO address prefix, type) of airliners crossing the region."""


def _overflights(seed: int) -> list[_Flight]:
    rng = rng_for(seed, "adsb", "overflights")
    out = []
    day = SCENARIO_START
    while day <= SCENARIO_END:
        for _ in range(int(rng.integers(1, 4))):
            prefix, hexp, typecode = AIRLINES[int(rng.integers(len(AIRLINES)))]
            mid = datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(
                minutes=int(rng.integers(30, 23 * 60))
            )
            offset = (
                float(rng.uniform(-3000.0, 3000.0))
                if rng.random() < 0.25
                else float(rng.uniform(-90000.0, 90000.0))
            )
            path, anchor = _overflight_path(
                offset,
                float(rng.uniform(0.0, 360.0)),
                float(rng.choice([33000.0, 35000.0, 37000.0, 39000.0])),
                float(rng.uniform(215.0, 250.0)),
            )
            code = hexp + f"{int(rng.integers(0, 16 ** (6 - len(hexp)))):0{6 - len(hexp)}x}"
            out.append(
                _Flight(
                    icao24=code,
                    callsign=f"{prefix}{int(rng.integers(10, 999))}",
                    typecode=typecode,
                    kind="overflight",
                    moment=mid,
                    path=path,
                    anchor=anchor,
                )
            )
        day += timedelta(days=1)
    return out


def _state_rows(flight: _Flight, frame: _Frame, rng: np.random.Generator) -> list[list[str]]:
    n = len(flight.path)
    start = flight.moment - timedelta(seconds=flight.anchor)
    offsets = np.arange(int(rng.integers(0, STATE_EVERY_S)), n, STATE_EVERY_S)
    offsets = np.clip(offsets + rng.integers(-2, 3, offsets.size), 0, n - 1)
    offsets = np.unique(offsets)
    p = flight.path
    lon, lat = frame.lonlat_arrays(p.u[offsets], p.v[offsets])
    rows = []
    for k, i in enumerate(offsets):
        rows.append(
            [
                _iso(start + timedelta(seconds=int(i))),
                flight.icao24,
                flight.callsign,
                flight.typecode,
                f"{lat[k]:.5f}",
                f"{lon[k]:.5f}",
                str(int(round(p.alt[i] / 25.0) * 25)),
                str(int(round(p.speed[i] * KT_PER_MS))),
                str(int(round(p.track[i])) % 360),
                str(int(round(p.vrate[i] / 64.0) * 64)),
                "true" if p.ground[i] else "false",
            ]
        )
    return rows


TRACK_COLUMNS = COLUMNS
"""Columns of the ADS-B CSV (what :func:`basewatch.context.tracks.read_states` reads)."""


def _write_tracks(
    path: Path, site: Site, seed: int, start: date, end: date
) -> list[dict[str, Any]]:
    """Write the ADS-B state vectors; return the flights (for truth.json)."""
    frame = _Frame(*site.point)
    flights = [
        f for f in _khmeimim_flights(seed) + _overflights(seed) if start <= f.moment.date() <= end
    ]
    flights.sort(key=lambda f: (f.moment, f.icao24, f.kind))
    rows: list[list[str]] = []
    for f in flights:
        rows += _state_rows(f, frame, rng_for(seed, "adsb", "sampling", f.icao24, _iso(f.moment)))
    rows.sort(key=lambda r: (r[0], r[1]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRACK_COLUMNS)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    heavy = {"IL76", "A124"}
    return [
        {
            "icao24": f.icao24,
            "callsign": f.callsign,
            "typecode": f.typecode,
            "heavy": f.typecode in heavy,
            "kind": f.kind,
            "site": site.id if f.kind != "overflight" else "",
            "time": _iso(f.moment),
        }
        for f in flights
    ]


# --------------------------------------------------------------------------- build


def _check_dates(start: date, end: date) -> None:
    if not (SCENARIO_START <= start <= end <= SCENARIO_END):
        raise InputError(
            f"scenario period {start} .. {end} is invalid; give start <= end within "
            f"{SCENARIO_START} .. {SCENARIO_END}"
        )


def _registry(worlds: Sequence[_World], source: str) -> Registry:
    return Registry(tuple(w.site for w in worlds), source)


def _truth(
    worlds: Sequence[_World],
    rows: list[dict[str, Any]],
    site_rows: list[dict[str, Any]],
    flights: list[dict[str, Any]],
    *,
    seed: int,
    start: date,
    end: date,
) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: (r["time"], r["site"], r["collection"], r["zone"]))
    site_rows = sorted(site_rows, key=lambda r: (r["time"], r["site"], r["sensor"]))
    per_day: dict[str, int] = {}
    d = start
    while d <= end:
        per_day[d.isoformat()] = 0
        d += timedelta(days=1)
    for f in flights:
        if f["kind"] == "departure" and f["heavy"]:
            per_day[f["time"][:10]] += 1
    return {
        "scenario": "syria-2024",
        "seed": seed,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "sites": [
            {
                "id": w.site.id,
                "kind": w.site.kind,
                "zones": [z.id for z in w.site.zones],
                "events": list(w.events),
                "weather": {
                    k.isoformat(): v for k, v in sorted(w.weather.items()) if start <= k <= end
                },
            }
            for w in worlds
        ],
        "scenes": rows,
        "site_scenes": site_rows,
        "flights": flights,
        "heavy_departures_per_day": {"khmeimim": per_day},
    }


def _clear_previous(catalog_dir: Path) -> None:
    """Remove a catalogue an earlier build wrote there (and only such a one)."""
    marker = catalog_dir / "catalog.json"
    if not marker.is_file():
        return
    try:
        ours = json.loads(marker.read_text(encoding="utf-8")).get("id") == "syria-2024"
    except (OSError, json.JSONDecodeError):
        ours = False
    if ours:
        shutil.rmtree(catalog_dir)


def _collections(results: Sequence[_Result]) -> list[CollectionSpec]:
    titles = {
        S2_COLLECTION: (
            "Sentinel-2 L2A (simulated)",
            "Simulated Sentinel-2 L2A reflectance tiles.",
        ),
        S1_COLLECTION: ("Sentinel-1 GRD (simulated)", "Simulated Sentinel-1 IW GRD backscatter."),
        HR_COLLECTION: ("Sub-metre imagery (simulated)", "Simulated 0.5 m true-colour images."),
    }
    out = []
    for cid, (title, description) in titles.items():
        items = [pystac.Item.from_dict(r.item) for r in results if r.collection == cid]
        items.sort(key=lambda it: (it.datetime, it.id))
        out.append(CollectionSpec(id=cid, title=title, description=description, items=items))
    return out


def build_scenario(
    out_dir: Path,
    *,
    n_sites: int = 2,
    seed: int = 2024,
    progress: Callable[[int, int], None] | None = None,
    start: date = SCENARIO_START,
    end: date = SCENARIO_END,
    workers: int | None = None,
    imagery: bool = True,
) -> ScenarioPaths:
    """Simulate the ``syria-2024`` scenario into ``out_dir`` and return where it wrote it.

    Writes ``sites.geojson`` (Khmeimim, Tartus and ``n_sites - 2`` synthetic sites),
    ``catalog/`` (a static STAC catalogue of Sentinel-2, Sentinel-1 and sub-metre
    scenes, one item per site and pass), ``tracks/adsb-states.csv`` and ``truth.json``.
    ``start`` / ``end`` restrict the passes and flights to a shorter period (the story
    itself does not change). ``progress(done, total)`` is called as items are written.
    Scenes are rendered by ``workers`` processes (default: up to 4, one per core).
    With ``imagery=False`` only the registry, the tracks and ``truth.json`` are written
    (quick, to check a story; ``clear_fraction`` of Sentinel-2 rows is then null).
    The same arguments always give byte-identical files, whatever ``workers`` is.
    """
    if n_sites < 2:
        raise InputError(
            f"n_sites={n_sites}: the scenario has at least its 2 Syrian sites; give 2 or more"
        )
    if workers is not None and workers < 1:
        raise InputError(f"workers={workers}: give 1 or more worker processes")
    _check_dates(start, end)
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise InputError(f"--out {root} is a file; give a folder for the demo scenario")
    root.mkdir(parents=True, exist_ok=True)
    worlds = _worlds(seed, n_sites)
    paths = ScenarioPaths(
        root=root,
        sites=root / "sites.geojson",
        catalog=root / "catalog" / "catalog.json",
        tracks=root / "tracks" / "adsb-states.csv",
        truth=root / "truth.json",
    )
    save_registry(_registry(worlds, "syria-2024"), paths.sites)
    catalog_dir = paths.catalog.parent
    _clear_previous(catalog_dir)
    tasks = _tasks(worlds, seed, start, end, catalog_dir.resolve(), imagery)
    n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    results = _render_all(tasks, n_workers if imagery else 1, progress)
    if imagery:
        _write_scenes(catalog_dir, results)
    khmeimim = next(w.site for w in worlds if w.site.id == "khmeimim")
    flights = _write_tracks(paths.tracks, khmeimim, seed, start, end)
    rows = [row for r in results for row in r.truth]
    truth = _truth(
        worlds, rows, [r.site for r in results], flights, seed=seed, start=start, end=end
    )
    paths.truth.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return paths


def _write_scenes(catalog_dir: Path, results: Sequence[_Result]) -> None:
    write_catalog(
        catalog_dir,
        catalog_id="syria-2024",
        title="basewatch simulated scenario syria-2024",
        description=(
            "Simulated Sentinel-2 L2A, Sentinel-1 GRD and sub-metre scenes around the watched "
            "sites of the syria-2024 scenario (basewatch.scenario); not real imagery."
        ),
        collections=_collections(results),
    )

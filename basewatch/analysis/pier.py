"""A simulated naval pier seen by Sentinel-2 every few days, with static structures and known truth.

For measuring :mod:`basewatch.reference` with the real ship detector: the demo's renderer
(:class:`basewatch.testing.SceneModel`) draws one harbour corner in UTM 36N (near Tartus)
with a quay along the north edge, two piers reaching south, quay cranes (steel, 38 m high)
at the pier heads and two hulks moored for good (an old auxiliary and a landing ship that
never move). Warships come and go at the piers' berths (each pass its own random set), and
a frigate can be made to arrive on one day and leave on another. Each pass is a
:class:`~basewatch.imagery.chip.Chip` ready for :func:`basewatch.observe.observe`, with
the truth: the warships that come and go (hulks and cranes are not ships to count).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from pyproj import Transformer
from shapely.geometry import Polygon, box

from basewatch.imagery.chip import Chip
from basewatch.sites import Zone
from basewatch.testing import Feature, Grid, Layout, SceneModel, SceneObject, make_ship

__all__ = ["FRIGATE", "Pass", "PierSpec", "frigate_lonlat", "pier_passes", "pier_zone"]

CRS = "EPSG:32636"
CENTRE = (588_000.0, 3_862_000.0)
"""Centre of the simulated pier chip (UTM 36N, near Tartus)."""
SIZE_PX = 80
RES = 10.0
FRIGATE = ("frigate", 124.0, 15.0)
"""The long-moored frigate: class, length, beam (m)."""
VISITORS = (
    ("corvette", 100.0, 13.0),
    ("submarine", 74.0, 10.0),
    ("landing_ship", 112.0, 15.0),
    ("auxiliary", 90.0, 15.0),
)
"""Warships that come and go (class, length, beam)."""


@dataclass(frozen=True, kw_only=True)
class PierSpec:
    """One simulated pier series."""

    start: date = date(2024, 1, 2)
    """First pass."""
    days: int = 360
    """Length of the series (days)."""
    every: int = 5
    """Revisit (days)."""
    frigate: tuple[date, date] | None = None
    """The frigate is alongside from the first day up to the day before the second."""
    visitors: float = 0.35
    """Chance that a visiting warship is at each of the free berths on a pass."""
    statics: bool = True
    """Whether the cranes and hulks are there."""
    seed: int = 0
    """Seed of the layout, the visits and the rendering."""


@dataclass(frozen=True, kw_only=True)
class Pass:
    """One Sentinel-2 pass over the pier."""

    chip: Chip
    """The zone's chip (10 m, clear)."""
    truth: int
    """Warships in the zone that come and go (hulks not counted)."""
    frigate: bool
    """Whether the long-moored frigate is alongside."""
    ships: tuple[tuple[float, float], ...] = ()
    """Centres (lon, lat) of the warships that come and go."""
    statics: tuple[tuple[float, float], ...] = ()
    """Centres (lon, lat) of the hulks and cranes."""


def _grid() -> Grid:
    return Grid.around(*CENTRE, size_m=SIZE_PX * RES, res=RES, crs=CRS)


def _zone_utm() -> tuple[float, float, float, float]:
    left, top = _grid().left, _grid().top
    return (left + 60.0, top - 700.0, left + 740.0, top - 120.0)


def pier_zone(site_id: str = "pier-sim", zone_id: str = "piers") -> Zone:
    """The ship zone of the simulated pier (EPSG:4326)."""
    to_wgs = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    x0, y0, x1, y1 = _zone_utm()
    corners = [to_wgs.transform(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    geometry = Polygon(corners)
    return Zone(site_id=site_id, id=zone_id, kind="naval-pier", target="ship", geometry=geometry)


def frigate_lonlat(seed: int = 0) -> tuple[float, float]:
    """Where the long-moored frigate's centre is (lon, lat)."""
    _, piers, shore = _layout(seed, False)
    x, y = _berths(piers, shore)[FRIGATE_BERTH]
    to_wgs = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(x, y - FRIGATE[1] / 2)
    return float(lon), float(lat)


FRIGATE_BERTH = 1
"""The frigate's berth: the outer one on the west side of the first pier."""


def _layout(seed: int, statics: bool) -> tuple[Layout, list[float], float]:
    """The layout, the x of the piers' centre lines and the quay's south edge (y)."""
    grid = _grid()
    left, top = grid.left, grid.top
    side = SIZE_PX * RES
    shore = top - 150.0
    feats = [
        Feature(geometry=box(left, top - side, left + side, shore), material="harbour"),
        Feature(geometry=box(left, shore, left + side, top), material="concrete", tone=0.95),
        Feature(geometry=box(left, shore, left + side, shore + 30.0), material="pier"),
    ]
    piers = [left + 250.0, left + 550.0]
    for x in piers:
        feats.append(Feature(geometry=box(x - 9.0, shore - 450.0, x + 9.0, shore), material="pier"))
        if statics:  # a crane at the pier head, over the water
            head = shore - 450.0
            feats.append(
                Feature(
                    geometry=box(x - 8.0, head - 6.0, x + 8.0, head + 12.0),
                    material="steel",
                    height_m=38.0,
                )
            )
    return Layout(crs=CRS, features=tuple(feats), seed=seed), piers, shore


def _berths(piers: list[float], shore: float) -> list[tuple[float, float]]:
    """Berth centres (x, y of the ship's centre line top) along both sides of each pier."""
    out = []
    for x in piers:
        for side in (-1.0, 1.0):
            for k in range(2):
                out.append((x + side * 20.0, shore - 20.0 - 200.0 * k))
    return out


def pier_passes(spec: PierSpec) -> Iterator[Pass]:
    """The passes of ``spec``, oldest first (rendered one by one)."""
    layout, piers, shore = _layout(spec.seed, spec.statics)
    grid = _grid()
    model = SceneModel(layout, grid)
    zone_mask = grid.mask(box(*_zone_utm()))
    berths = _berths(piers, shore)
    frigate_berth = berths[FRIGATE_BERTH]
    hulk_rng = np.random.default_rng([spec.seed, 1])
    hulks = (
        [
            make_ship(
                "auxiliary", x=piers[1] + 20.0, y=shore - 75.0, heading_deg=0.0, rng=hulk_rng
            ),
            make_ship(
                "landing_ship", x=piers[1] - 20.0, y=shore - 300.0, heading_deg=180.0, rng=hulk_rng
            ),
        ]
        if spec.statics
        else []
    )
    taken = {berths[6], berths[5]} if spec.statics else set()  # the hulks' berths
    for i in range(0, spec.days, spec.every):
        day = spec.start + timedelta(days=i)
        rng = np.random.default_rng([spec.seed, 2, i])
        objects: list[SceneObject] = list(hulks)
        truth = 0
        statics = [(h.x, h.y) for h in hulks]
        if spec.statics:
            statics += [(x, shore - 447.0) for x in piers]  # the cranes
        frigate = spec.frigate is not None and spec.frigate[0] <= day < spec.frigate[1]
        if frigate:
            cls, length, beam = FRIGATE
            x, y = frigate_berth
            objects.append(
                make_ship(cls, x=x, y=y - length / 2, heading_deg=0.0, rng=rng, beam_m=beam)
            )
            truth += 1
        for berth in berths:
            if berth in taken or (frigate and berth == frigate_berth):
                continue
            if rng.random() < spec.visitors:
                cls, length, beam = VISITORS[int(rng.integers(len(VISITORS)))]
                x, y = berth
                objects.append(
                    make_ship(
                        cls,
                        x=x + float(rng.uniform(-1.5, 1.5)),
                        y=y - length / 2 - float(rng.uniform(0.0, 40.0)),
                        heading_deg=float(rng.choice([0.0, 180.0])),
                        rng=rng,
                        length_m=length,
                        beam_m=beam,
                    )
                )
                truth += 1
        when = datetime(day.year, day.month, day.day, 8, 20, tzinfo=UTC)
        render = model.render_s2(when=when, objects=objects, seed=int(rng.integers(1 << 30)))
        bands = {}
        for name, dn in render.bands.items():
            if name == "scl":
                continue
            layer = dn.astype(np.float32) * np.float32(1e-4)
            if layer.shape != grid.shape:  # swir16 at 20 m onto the 10 m grid
                layer = np.kron(layer, np.ones((2, 2), np.float32))[
                    : grid.shape[0], : grid.shape[1]
                ]
            bands[name] = layer
        chip = Chip(
            scene_id=f"S2-PIER-{day:%Y%m%d}",
            sensor="sentinel-2",
            time=when,
            bands=bands,
            transform=grid.transform,
            crs=CRS,
            resolution_m=RES,
            zone_mask=zone_mask,
            valid=np.ones(grid.shape, bool),
            meta={"collection": "simulated"},
        )
        to_wgs = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
        ships = [(o.x, o.y) for o in objects[len(hulks) :]]
        yield Pass(
            chip=chip,
            truth=truth,
            frigate=frigate,
            ships=tuple(to_wgs.transform(x, y) for x, y in ships),
            statics=tuple(to_wgs.transform(x, y) for x, y in statics),
        )

"""Seeded observation series with known truth, for the analysis tests and ``bench/analysis.py``.

The scenario generators follow the December 2024 case: Tartus piers seen by Sentinel-1 (every
6 days) and Sentinel-2 (every 5 days, a third of it cloudy); the Khmeimim main apron seen by
Sentinel-2 (two relative orbits, 2-3 days apart), empty on about one clear pass in five; the
S-400 position seen by Sentinel-1 (ascending and descending passes). Counts carry detector
noise: missed objects and false detections. :func:`level_series` makes generic count series
with or without a drop, for measuring false alarms, detection delay and dating error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
from shapely.geometry import Point, box

from basewatch.analysis.zones import Series
from basewatch.observe import Observation
from basewatch.sites import Site, Zone

__all__ = [
    "END",
    "SITES",
    "khmeimim_apron",
    "khmeimim_s400",
    "level_series",
    "observation",
    "passes",
    "scenario",
    "series_by_sensor",
    "tartus_piers",
]

END = date(2024, 12, 20)
"""Last day of the simulated scenario."""

_DETECTORS = {"sentinel-1": "sar-cfar", "sentinel-2": "s2-objects"}


def passes(start: date, step: int, hour: int, end: date = END) -> list[datetime]:
    """Pass times every ``step`` days from ``start`` to ``end`` at ``hour``:20 UTC."""
    t = datetime(start.year, start.month, start.day, hour, 20, tzinfo=UTC)
    out = []
    while t.date() <= end:
        out.append(t)
        t += timedelta(days=step)
    return out


def observation(
    site: str, zone: str, sensor: str, metric: str, t: datetime, value: float | None, clear: float
) -> Observation:
    """One simulated observation (flagged ``cloudy`` below 0.7 clear)."""
    return Observation(
        site_id=site,
        zone_id=zone,
        scene_id=f"{sensor}-{t:%Y%m%dT%H%M}",
        time=t,
        sensor=sensor,
        detector=_DETECTORS.get(sensor, "hr"),
        detector_version="1.0",
        metric=metric,
        value=value,
        clear_fraction=clear,
        flags=() if clear >= 0.7 else ("cloudy",),
    )


def tartus_piers(seed: int, *, drop: date | None = date(2024, 12, 2)) -> list[Observation]:
    """4-7 vessels until ``drop``, none after; S1 every 6 days, S2 every 5 (1/3 cloudy)."""
    rng = np.random.default_rng(seed)
    out = []
    for sensor, start, step, hour in (
        ("sentinel-1", date(2024, 6, 6), 6, 4),
        ("sentinel-2", date(2024, 6, 4), 5, 8),
    ):
        for t in passes(start, step, hour):
            true = int(rng.integers(4, 8)) if drop is None or t.date() <= drop else 0
            miss = 0.05 if sensor == "sentinel-1" else 0.1
            count = true - rng.binomial(true, miss) + rng.binomial(1, 0.05)
            if sensor == "sentinel-2" and rng.random() < 1 / 3:
                clear = float(rng.uniform(0.0, 0.5))
            else:
                clear = float(rng.uniform(0.85, 1.0)) if sensor == "sentinel-2" else 1.0
            value = None if clear < 0.3 else float(count)
            out.append(observation("tartus", "piers", sensor, "ship_count", t, value, clear))
    return out


def khmeimim_apron(seed: int, *, change: bool = True) -> list[Observation]:
    """12-20 aircraft, 0 on ~1 clear pass in 5; at most 5 from 2024-12-04 (S2 only)."""
    rng = np.random.default_rng(seed)
    times = sorted(passes(date(2024, 6, 3), 5, 8) + passes(date(2024, 6, 5), 5, 8))
    out = []
    for t in times:
        clear = float(rng.uniform(0.0, 0.5)) if rng.random() < 0.25 else float(rng.uniform(0.85, 1))
        if change and t.date() >= date(2024, 12, 4):
            count = int(rng.integers(0, 6))
        else:
            count = 0 if rng.random() < 0.2 else int(rng.integers(12, 21))
        value = None if clear < 0.2 else float(count)
        out.append(
            observation("khmeimim", "main-apron", "sentinel-2", "aircraft_count", t, value, clear)
        )
    return out


def khmeimim_s400(seed: int, *, change: bool = True) -> list[Observation]:
    """About 9 launchers and radars until 2024-12-10, none after (S1 asc + desc)."""
    rng = np.random.default_rng(seed)
    times = sorted(passes(date(2024, 6, 6), 6, 4) + passes(date(2024, 6, 9), 6, 15))
    out = []
    for t in times:
        true = 0 if change and t.date() > date(2024, 12, 10) else 9
        count = true - rng.binomial(true, 0.08) + rng.binomial(1, 0.05)
        out.append(
            observation(
                "khmeimim", "s400-position", "sentinel-1", "vehicle_count", t, float(count), 1.0
            )
        )
    return out


def scenario(seed: int, *, change: bool = True) -> list[Observation]:
    """All three zones of the demo scenario."""
    drop = date(2024, 12, 2) if change else None
    return (
        tartus_piers(seed, drop=drop)
        + khmeimim_apron(seed, change=change)
        + khmeimim_s400(seed, change=change)
    )


def _zone(site: str, zid: str, kind: str, target: str, x: float, y: float) -> Zone:
    return Zone(
        site_id=site, id=zid, kind=kind, target=target, geometry=box(x, y, x + 0.003, y + 0.003)
    )


SITES = [
    Site(
        id="khmeimim",
        name="Khmeimim Air Base",
        kind="airbase",
        geometry=Point(35.9486, 35.4011),
        zones=(
            _zone("khmeimim", "main-apron", "apron", "aircraft", 35.945, 35.405),
            _zone("khmeimim", "transport-apron", "apron", "aircraft", 35.952, 35.407),
            _zone("khmeimim", "s400-position", "air_defence_position", "vehicle", 35.94, 35.39),
        ),
    ),
    Site(
        id="tartus",
        name="Tartus naval facility",
        kind="naval_base",
        geometry=Point(35.8725, 34.9117),
        zones=(_zone("tartus", "piers", "pier", "ship", 35.87, 34.91),),
    ),
]
"""The two sites of the scenario (zones are small boxes near the real places)."""


def series_by_sensor(obs: Sequence[Observation], *, until: date | None = None) -> list[Series]:
    """One :class:`Series` per sensor, observations up to ``until`` (inclusive) only."""
    groups: dict[str, list[Observation]] = {}
    for o in obs:
        if until is None or o.time.date() <= until:
            groups.setdefault(o.sensor, []).append(o)
    return [
        Series(
            sensor=k,
            times=tuple(o.time for o in g),
            values=tuple(o.value for o in g),
            clear=tuple(o.clear_fraction for o in g),
        )
        for k, g in sorted(groups.items())
    ]


def level_series(
    seed: int,
    *,
    level: int,
    n: int = 60,
    step_days: int = 5,
    drop_index: int | None = None,
    drop_fraction: float = 0.5,
    empty_share: float = 0.0,
    cloudy_share: float = 0.0,
    miss: float = 0.08,
    false_rate: float = 0.05,
    start: date = date(2024, 6, 1),
) -> list[Observation]:
    """A single-sensor count series around ``level`` objects, with or without a drop.

    From observation ``drop_index`` on (when given) the true count is
    ``round(level * (1 - drop_fraction))``; the true change date lies between observations
    ``drop_index - 1`` and ``drop_index``. Before it the true count varies by +-20 % around
    ``level``, and is 0 on ``empty_share`` of the passes (a sometimes-empty zone). Each count
    loses objects with probability ``miss`` and gains a false detection at ``false_rate``;
    ``cloudy_share`` of the passes are cloudy (clear fraction below 0.5, value unknown).
    """
    rng = np.random.default_rng(seed)
    low = round(level * (1 - drop_fraction))
    spread = max(1, round(0.2 * level))
    out = []
    for i, t in enumerate(passes(start, step_days, 8, start + timedelta(days=step_days * (n - 1)))):
        if drop_index is not None and i >= drop_index:
            true = low
        elif rng.random() < empty_share:
            true = 0
        else:
            true = int(rng.integers(level - spread, level + spread + 1))
        count = true - rng.binomial(true, miss) + rng.binomial(1, false_rate)
        cloudy = rng.random() < cloudy_share
        clear = float(rng.uniform(0.0, 0.5)) if cloudy else float(rng.uniform(0.85, 1.0))
        value = None if cloudy else float(count)
        out.append(observation("sim", "zone", "sentinel-2", "count", t, value, clear))
    return out

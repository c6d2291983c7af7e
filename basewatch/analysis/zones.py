"""Changes of one zone: its series' change points merged into events dated by every sensor.

Each series (one sensor/detector of the zone) is searched on its own
(:func:`basewatch.analysis.changepoint.find_changes`) and, when the zone has several, the
series merged into one (:func:`_combined_series`) are searched too, so that a change seen
by two sensors with one image each still counts as persistent. Changes of the same
direction that lie within ``merge_days`` of each other are one event, with the p-value and
levels of its most significant series. The event is dated by the observations of *every*
series: the primary bracket is narrowed by other series' clear observations inside it,
each classified as old or new level (by its own bracket for a series with its own change,
else by the nearer of its own old level and that level scaled by the primary's ratio). A
sub-metre series outweighs a 10 m one: if a higher-resolution image after the change still
shows the old level, the event is not significant. Once dated with every series, the new
level must still have held for ``min_persist`` observations after ``after``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from basewatch.analysis.baseline import BaselineParams, as_clear, as_values, day_numbers
from basewatch.analysis.changepoint import Change, ChangeParams, find_changes
from basewatch.errors import InputError

SENSOR_WEIGHT: dict[str, float] = {"highres": 1.0, "sentinel-1": 0.8, "sentinel-2": 0.7}
"""Evidence weight of one sensor's counts: sub-metre counts are the strongest."""
DEFAULT_SENSOR_WEIGHT = 0.6
COMBINED = "combined"
"""Label of a zone's merged series (all sensors, scaled to one)."""


def sensor_weight(sensor: str) -> float:
    """Evidence weight of ``sensor`` (:data:`SENSOR_WEIGHT`, 0.6 for unknown sensors)."""
    return SENSOR_WEIGHT.get(sensor, DEFAULT_SENSOR_WEIGHT)


@dataclass(frozen=True, kw_only=True)
class Series:
    """One sensor/detector's observations of one zone (input of :func:`zone_changes`)."""

    sensor: str
    """``sentinel-2``, ``sentinel-1`` or ``highres``."""
    times: tuple[datetime, ...]
    """Acquisition times (any order)."""
    values: tuple[float | None, ...]
    """Counts, None when unusable."""
    clear: tuple[float, ...]
    """Clear fractions 0-1."""


@dataclass(frozen=True)
class _Clear:
    """Clear observations of one series in time order."""

    sensor: str
    days: np.ndarray
    values: np.ndarray
    times: list[datetime]
    obs_sensors: tuple[str, ...] = ()
    """Sensor of each observation (combined series only)."""


def _clear_series(s: Series, params: BaselineParams) -> _Clear:
    n = len(s.times)
    if len(s.values) != n or len(s.clear) != n:
        raise InputError(
            f"series {s.sensor!r} has {n} times, {len(s.values)} values and "
            f"{len(s.clear)} clear fractions; they must be parallel"
        )
    days = day_numbers(s.times)
    vals = as_values(s.values)
    keep = np.isfinite(vals) & (as_clear(s.clear, n) >= params.min_clear)
    order = [i for i in np.argsort(days, kind="stable") if keep[i]]
    return _Clear(s.sensor, days[order], vals[order], [s.times[i] for i in order])


def _cluster(items: list[tuple[int, Change]], merge_days: float) -> list[list[tuple[int, Change]]]:
    """Group per-series changes of one direction whose dates lie within ``merge_days``."""
    items = sorted(items, key=lambda it: (it[1].before, it[0]))
    clusters: list[list[tuple[int, Change]]] = []
    for si, ch in items:
        for cl in clusters:
            ref = cl[0][1]
            close = abs((ch.before - ref.before).total_seconds()) <= merge_days * 86400
            if ch.direction == ref.direction and close and all(s != si for s, _ in cl):
                cl.append((si, ch))
                break
        else:
            clusters.append([(si, ch)])
    return clusters


def _levels(
    series: _Clear, primary: Change, after_day: float, window: float
) -> tuple[float, float] | None:
    """Old and new level of a series without its own change, in its own scale: the median
    of its clear counts in the window before the event, scaled by the primary's ratio; the
    primary's own levels when the series has no count there (a sparse sub-metre series)."""
    sel = (series.days <= after_day) & (series.days >= after_day - window)
    if not np.any(sel):
        return primary.level_from, primary.level_to
    if primary.level_from <= 0:
        return None
    old = float(np.median(series.values[sel]))
    return old, old * primary.level_to / primary.level_from


def _is_at(value: float, target: float, other: float) -> bool:
    """True when ``value`` is strictly closer to ``target`` than to ``other``."""
    return abs(value - target) < abs(value - other)


def _classify(
    series: _Clear, i: int, own: Change | None, levels: tuple[float, float] | None
) -> str | None:
    """``old``, ``new`` or None (ambiguous) for observation ``i`` of ``series``.

    A series with its own change in the event uses its own bracket; another series uses
    the nearer of its old and new levels.
    """
    if own is not None:
        if series.times[i] <= own.after:
            return "old"
        return "new" if series.times[i] >= own.before else None
    if levels is None:
        return None
    old, new = levels
    v = float(series.values[i])
    if _is_at(v, new, old):
        return "new"
    return "old" if _is_at(v, old, new) else None


def _weight(si: int, ch: Change, clear: list[_Clear]) -> float:
    """Evidence weight of a series' change: its sensor's, or the best of a combined run's."""
    if clear[si].sensor == COMBINED:
        return max((sensor_weight(x) for x in ch.sensors), default=DEFAULT_SENSOR_WEIGHT)
    return sensor_weight(clear[si].sensor)


def _held_since(
    clear: list[_Clear],
    real: list[int],
    own: dict[int, Change],
    levels: dict[int, tuple[float, float] | None],
    after: datetime,
    next_start: float,
    direction: str,
) -> int:
    """Observations of the zone's real series after ``after`` (and before the next event)
    beyond each series' old level in ``direction``: how long the new level has held once
    the event is dated with every sensor. A series with its own change uses its old median;
    another its old level in its own scale (:func:`_levels`)."""
    a_day = day_numbers([after])[0]
    held = 0
    for si in real:
        s = clear[si]
        old = own[si].level_from if si in own else (levels[si] or (None, None))[0]
        if old is None:
            continue
        sel = s.values[(s.days > a_day) & (s.days < next_start)]
        held += int(np.count_nonzero(sel < old if direction == "down" else sel > old))
    return held


def _merge_cluster(
    cluster: list[tuple[int, Change]],
    clear: list[_Clear],
    next_start: float,
    params: ChangeParams,
) -> Change:
    """One event from the changes of several series (see the module docstring).

    ``clear`` holds the zone's real series, then possibly the combined series, which
    takes part in the choice of the primary change but not in the dating walk (its
    observations are the real series' observations).
    """
    sig = [it for it in cluster if it[1].significant]
    pool = sig or cluster
    psi, primary = min(pool, key=lambda it: (it[1].p_value, -_weight(it[0], it[1], clear), it[0]))
    w_primary = _weight(psi, primary, clear)
    own = dict(cluster)
    real = [si for si, s in enumerate(clear) if s.sensor != COMBINED]
    a_day, b_day = day_numbers([primary.after, primary.before])
    levels = {
        si: None if si in own else _levels(clear[si], primary, a_day, params.baseline.window_days)
        for si in real
    }
    inside = sorted(
        (d, si, i) for si in real for i, d in enumerate(clear[si].days) if a_day < d < b_day
    )
    after, before = primary.after, primary.before
    dated = set(primary.dated_with) if clear[psi].sensor == COMBINED else {clear[psi].sensor}
    after_sensors, before_sensors = set(dated), set(dated)
    for _, si, i in inside:
        label = _classify(clear[si], i, own.get(si), levels[si])
        if label == "new":
            before, before_sensors = clear[si].times[i], {clear[si].sensor}
            break
        if label == "old":
            after, after_sensors = clear[si].times[i], {clear[si].sensor}
    b_day = day_numbers([before])[0]
    n_after, contradiction = 0, None
    for si in real:
        s = clear[si]
        if si in own:
            n_after += own[si].n_after
            continue
        for i in map(int, np.flatnonzero((s.days >= b_day) & (s.days < next_start))):
            label = _classify(s, i, None, levels[si])
            n_after += int(label == "new")
            stronger = sensor_weight(s.sensor) > w_primary
            if label == "old" and stronger and contradiction is None:
                contradiction = f"{s.sensor} image of {s.times[i]:%Y-%m-%d} shows the old level"
    n_after = max([n_after] + [ch.n_after for si, ch in cluster if clear[si].sensor == COMBINED])
    held = _held_since(clear, real, own, levels, after, next_start, primary.direction)
    significant = bool(sig) and contradiction is None and held >= params.min_persist
    reason = primary.reason
    if contradiction is not None:
        reason = f"contradicted: {contradiction}"
    elif sig and held < params.min_persist:
        reason = (
            f"only {held} clear observation(s) beyond the old level after "
            f"{after:%Y-%m-%d}, the last image at the old level (need {params.min_persist})"
        )
    elif not sig and n_after >= params.min_persist and primary.reason.startswith("only"):
        reason = f"not significant yet (p = {primary.p_value:.3g})"
    sensors = {x for si, ch in pool for x in (ch.sensors if clear[si].sensor == COMBINED else
                                             (clear[si].sensor,))}  # fmt: skip
    return replace(
        primary,
        after=after,
        before=before,
        significant=significant,
        n_after=n_after,
        sensors=tuple(sorted(sensors)),
        dated_with=tuple(sorted(after_sensors | before_sensors)),
        reason=reason,
    )


def _combined_series(clear: list[_Clear], params: ChangeParams) -> _Clear | None:
    """All series of a zone merged in time order, each scaled to the busiest series.

    A series with at least ``min_history`` clear counts is scaled by the ratio of upper
    quartiles (busiest / its own) when that ratio is off 1 by more than 25 %, and left out
    when its upper quartile is 0 (it never sees the target); a sparser series (e.g. a few
    sub-metre images) counts the same objects and is taken as is. Scaled values are
    rounded to whole counts.
    """
    if len(clear) < 2:
        return None
    ref = max(clear, key=lambda c: (c.values.size, sensor_weight(c.sensor)))
    ref_q = float(np.quantile(ref.values, 0.75)) if ref.values.size else 0.0
    parts: list[tuple[float, float, datetime, str]] = []
    for c in clear:
        factor = 1.0
        if c is not ref and c.values.size >= params.baseline.min_history:
            q = float(np.quantile(c.values, 0.75))
            if q <= 0:
                continue
            factor = ref_q / q if ref_q > 0 else 1.0
            if abs(factor - 1.0) <= 0.25:
                factor = 1.0
        parts += [
            (float(d), float(np.round(v * factor)), t, c.sensor)
            for d, v, t in zip(c.days, c.values, c.times, strict=True)
        ]
    if len({p[3] for p in parts}) < 2:
        return None
    parts.sort(key=lambda p: (p[0], p[3]))
    return _Clear(
        COMBINED,
        np.array([p[0] for p in parts]),
        np.array([p[1] for p in parts]),
        [p[2] for p in parts],
        tuple(p[3] for p in parts),
    )


def _combined_changes(comb: _Clear, params: ChangeParams) -> list[Change]:
    """Changes of the combined series, labelled with the sensors that show them."""
    out = []
    for ch in find_changes(comb.times, list(comb.values), params=params, sensor=COMBINED):
        b = next(i for i, t in enumerate(comb.times) if t >= ch.before)
        a = max(i for i, t in enumerate(comb.times) if t <= ch.after)
        run = comb.obs_sensors[b : b + max(ch.n_after, 1)]
        out.append(
            replace(
                ch,
                sensors=tuple(sorted(set(run))),
                dated_with=tuple(sorted({comb.obs_sensors[a], comb.obs_sensors[b]})),
            )
        )
    return out


def zone_changes(series: Sequence[Series], *, params: ChangeParams | None = None) -> list[Change]:
    """Changes of one zone, merged over its series and dated with every series.

    Each series is searched on its own and, when the zone has several, the series merged
    into one (:func:`_combined_series`) are searched too, so that a change seen by two
    sensors with one image each still counts as persistent. See the module docstring for
    the merging and dating rules. The result is in time order; candidate (not
    significant) events are included with ``significant=False``.
    """
    params = params or ChangeParams()
    clear = [_clear_series(s, params.baseline) for s in series]
    items = [
        (si, ch)
        for si, s in enumerate(clear)
        for ch in find_changes(s.times, list(s.values), params=params, sensor=s.sensor)
    ]
    comb = _combined_series(clear, params)
    if comb is not None:
        items += [(len(clear), ch) for ch in _combined_changes(comb, params)]
        clear.append(comb)
    clusters = _cluster(items, params.merge_days)
    starts = [min(day_numbers([ch.after])[0] for _, ch in cl) for cl in clusters]
    events = []
    for k, cl in enumerate(clusters):
        next_start = starts[k + 1] if k + 1 < len(clusters) else math.inf
        events.append(_merge_cluster(cl, clear, next_start, params))
    return sorted(events, key=lambda c: (c.before, c.after, c.direction))

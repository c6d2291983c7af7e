"""Site posture: one judgement per site from its zones' changes and its airlift activity.

Each zone first gets a *status* (:func:`zone_status`) from its significant changes in the
last ``horizon_days``, comparing the level after the latest change with the level before
the earliest one:

* ``emptied``: the new level is about zero (``<= empty_level`` or ``<= empty_ratio`` x the
  old level, and below half the old level);
* ``dropped``: the new level is at most ``1 - min_drop`` x the old level;
* ``rose``: the new level is at least ``1 + min_drop`` x the old level;
* ``steady``: no significant change, the level came back, or it moved by less than
  ``min_change_abs`` objects;
* ``unknown``: no clear observation, no conclusive judgement (history too short), or no
  clear observation in the last ``stale_days``.

The site posture (:func:`site_posture`) follows, first rule that applies:

1. ``unknown`` when every zone is unknown (too little conclusive data);
2. ``withdrawn`` when every known zone is emptied and each has stayed about zero for at
   least ``withdrawn_min_obs`` clear observations;
3. ``withdrawing`` when some zone is emptied (but not yet rule 2), or heavy-transport
   departures are far above their baseline (:func:`airlift_surge`);
4. ``reduced`` when some zone dropped (partial sustained drop);
5. ``reinforcing`` when some zone rose and none dropped;
6. ``present`` otherwise.

Confidence is in [0, 1]. For rules 2-5 it combines the strength of each supporting zone,
``min(1, log10(1/p) / 4) x sensor weight x min(1, n_after / 3)`` (sub-metre 1.0,
Sentinel-1 0.8, Sentinel-2 0.7), and of an airlift surge, ``0.8 x min(1, log10(1/p) / 6)``,
as ``1 - prod(1 - strength)``, scaled by ``0.5 + 0.5 x`` the share of zones with conclusive
data. For ``present`` it is the share of known zones times their mean data sufficiency
(``min(1, conclusive observations / present_full_obs)``), lowered by 30 % while a drop is
suspected but not yet conclusive. ``unknown`` has confidence 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
from scipy import stats

from basewatch.analysis.baseline import as_utc, format_p
from basewatch.analysis.changepoint import Change
from basewatch.analysis.zones import sensor_weight
from basewatch.errors import InputError
from basewatch.sites import Site

POSTURES = ("present", "reduced", "withdrawing", "withdrawn", "reinforcing", "unknown")
UNITS = {"ship_count": "vessels", "aircraft_count": "aircraft", "vehicle_count": "vehicles"}


@dataclass(frozen=True, kw_only=True)
class PostureParams:
    """Thresholds of the zone statuses and site postures (see the module docstring)."""

    horizon_days: float = 365.0
    """Significant changes older than this many days before ``as_of`` are not used."""
    stale_days: float = 60.0
    """A zone whose latest clear observation is older than this is ``unknown``."""
    empty_level: float = 1.0
    """A new level at or below this count (and below half the old level) is about zero:
    one object left may be a false detection."""
    empty_ratio: float = 0.15
    """A new level at or below this share of the old level is about zero."""
    min_drop: float = 0.4
    """Relative drop (or rise) of the level for ``dropped`` (``rose``)."""
    min_change_abs: float = 2.0
    """Smallest change of the level, in objects, that changes a zone's status (0 -> 1 or
    1 -> 0 is within detector noise)."""
    withdrawn_min_obs: int = 3
    """Clear observations at about zero needed in every zone for ``withdrawn``."""
    present_full_obs: int = 12
    """Conclusive observations per zone for full confidence in ``present``."""
    alpha: float = 0.01
    """Significance level of the airlift test."""
    flight_window_days: int = 30
    """An airlift surge must last until at most this many days before ``as_of``."""
    flight_min_days: int = 2
    """Shortest airlift surge, in days."""
    flight_baseline_days: int = 14
    """Days of flight records needed before a surge to judge it."""
    flight_ratio: float = 3.0
    """A surge's departure rate must be at least this multiple of the rate before it."""
    flight_min_rate: float = 1.0
    """A surge's departure rate must be at least this many departures per day."""

    def __post_init__(self) -> None:
        names = ("horizon_days", "stale_days", "flight_ratio", "flight_min_rate", "min_change_abs")
        for name in names:
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise InputError(f"PostureParams.{name} must be a positive number, got {v!r}")
        for name in ("empty_ratio", "min_drop", "alpha"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not (0 < v < 1):
                raise InputError(f"PostureParams.{name} must be in (0, 1), got {v!r}")
        if not isinstance(self.empty_level, int | float) or self.empty_level < 0:
            raise InputError(f"PostureParams.empty_level must be >= 0, got {self.empty_level!r}")
        for name in (
            "withdrawn_min_obs",
            "present_full_obs",
            "flight_window_days",
            "flight_min_days",
            "flight_baseline_days",
        ):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise InputError(f"PostureParams.{name} must be an integer >= 1, got {v!r}")


@dataclass(frozen=True, kw_only=True)
class Latest:
    """The latest clear observation of a zone and its judgement."""

    time: datetime
    """Acquisition time."""
    sensor: str
    """Sensor of the observation."""
    value: float
    """Count."""
    expected: float | None
    """Baseline expectation."""
    p_value: float | None
    """Two-sided p-value against the baseline."""
    significant: bool
    """Significant against the baseline."""
    direction: str | None
    """``low`` or ``high`` against the baseline."""
    low_share: float | None
    """Share of the baseline history that was about empty."""


@dataclass(frozen=True, kw_only=True)
class ZoneResult:
    """Everything :func:`site_posture` needs to know about one zone (and metric)."""

    zone_id: str
    """Zone id."""
    metric: str
    """Counted metric, e.g. ``ship_count``."""
    name: str = ""
    """Human-readable zone name."""
    sensors: tuple[str, ...] = ()
    """Sensors that observed the zone."""
    changes: tuple[Change, ...] = ()
    """Dated changes (significant ones and candidates), in time order."""
    n_observations: int = 0
    """All observations (clear or not)."""
    n_clear: int = 0
    """Clear observations with a value."""
    n_conclusive: int = 0
    """Observations with a conclusive judgement."""
    last_clear: datetime | None = None
    """Time of the latest clear observation."""
    level: float | None = None
    """Recent typical count (median of the main series since its last change)."""
    latest: Latest | None = None
    """Latest clear observation."""
    reason: str = ""
    """Why the zone has no conclusive data, when it has none."""


@dataclass(frozen=True, kw_only=True)
class ZoneStatus:
    """A zone's status for the posture rules."""

    zone_id: str
    """Zone id."""
    status: str
    """``emptied``, ``dropped``, ``rose``, ``steady`` or ``unknown``."""
    sentence: str
    """Plain-language indicator."""
    strength: float = 0.0
    """Evidence strength of the status change in [0, 1] (0 for steady/unknown)."""
    persist: int = 0
    """Clear observations at the new level (for emptied/dropped/rose)."""
    suspect: bool = False
    """A change is suspected but not yet conclusive."""
    sufficiency: float = 0.0
    """Data sufficiency in [0, 1]: ``min(1, conclusive observations / present_full_obs)``."""


@dataclass(frozen=True, kw_only=True)
class Surge:
    """A period of heavy-transport departures far above the rate before it."""

    start: date
    """First day of the surge with a departure."""
    end: date
    """Last day of the surge with a departure."""
    rate: float
    """Departures per day during the surge."""
    baseline_rate: float
    """Departures per day before the surge."""
    p_value: float
    """Poisson rate test p-value, corrected for the search over periods."""
    significant: bool
    """True when significant and above ``flight_ratio`` and ``flight_min_rate``."""

    @property
    def sentence(self) -> str:
        """Indicator sentence."""
        return (
            f"heavy-transport departures: {self.rate:.1f}/day since {self.start:%Y-%m-%d} "
            f"against {self.baseline_rate:.2f}/day before ({format_p(self.p_value)})"
        )


@dataclass(frozen=True, kw_only=True)
class PostureResult:
    """Posture of one site with its confidence and the indicators behind it."""

    posture: str
    """One of :data:`POSTURES`."""
    confidence: float
    """Confidence in [0, 1]."""
    indicators: tuple[str, ...]
    """Plain sentences with dates and numbers, strongest evidence first."""
    zones: tuple[ZoneStatus, ...] = ()
    """Status of each zone."""
    surge: Surge | None = None
    """Airlift surge, when one was found."""
    details: dict[str, str] = field(default_factory=dict)
    """Free-form notes (e.g. the rule that decided the posture)."""


# --------------------------------------------------------------------------- helpers


def fmt_count(x: float | None) -> str:
    """A count for a sentence: ``6``, ``5.5`` or ``?``."""
    if x is None or not math.isfinite(x):
        return "?"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _unit(metric: str) -> str:
    return UNITS.get(metric, "objects")


def _label(zr: ZoneResult, all_zones: Sequence[ZoneResult]) -> str:
    twins = sum(1 for z in all_zones if z.zone_id == zr.zone_id)
    return zr.zone_id if twins <= 1 else f"{zr.zone_id} ({zr.metric})"


def _change_sentence(label: str, ch: Change, metric: str) -> str:
    sensors = ", ".join(ch.sensors) if ch.sensors else "one sensor"
    return (
        f"{label}: {fmt_count(ch.level_from)} -> {fmt_count(ch.level_to)} {_unit(metric)} "
        f"between {ch.after:%Y-%m-%d} and {ch.before:%Y-%m-%d} ({format_p(ch.p_value)}; "
        f"{ch.n_after} clear observation(s) at the new level; {sensors})"
    )


# --------------------------------------------------------------------------- zones


def zone_status(
    zr: ZoneResult,
    *,
    as_of: datetime,
    params: PostureParams | None = None,
    label: str | None = None,
) -> ZoneStatus:
    """Status of one zone at ``as_of`` (see the module docstring)."""
    params = params or PostureParams()
    label = label or zr.zone_id
    if zr.n_clear == 0 or zr.n_conclusive == 0 or zr.last_clear is None:
        why = zr.reason or "no conclusive observation"
        return ZoneStatus(zone_id=zr.zone_id, status="unknown", sentence=f"{label}: {why}")
    if as_of - zr.last_clear > timedelta(days=params.stale_days):
        return ZoneStatus(
            zone_id=zr.zone_id,
            status="unknown",
            sentence=f"{label}: no clear observation since {zr.last_clear:%Y-%m-%d}",
        )
    horizon = as_of - timedelta(days=params.horizon_days)
    events = [c for c in zr.changes if c.significant and c.before >= horizon]
    suspect = _suspect(zr, events)
    sufficiency = min(1.0, zr.n_conclusive / params.present_full_obs)
    if not events:
        return ZoneStatus(
            zone_id=zr.zone_id,
            status="steady",
            sentence=_steady_sentence(label, zr, suspect),
            suspect=suspect is not None,
            sufficiency=sufficiency,
        )
    base, last = events[0].level_from, events[-1]
    status = _classify_level(base, last.level_to, params)
    if status == "steady":
        unit = _unit(zr.metric)
        sentence = (
            f"{label}: about {fmt_count(last.level_to)} {unit} since {last.before:%Y-%m-%d} "
            f"(was {fmt_count(base)} until {events[0].after:%Y-%m-%d}; "
            f"{'back to the earlier level' if len(events) > 1 else 'too small a change to matter'})"
        )
        return ZoneStatus(
            zone_id=zr.zone_id, status="steady", sentence=sentence, sufficiency=sufficiency
        )
    sentence = "; ".join(_change_sentence(label, c, zr.metric) for c in events)
    strength = _strength(last)
    return ZoneStatus(
        zone_id=zr.zone_id,
        status=status,
        sentence=sentence,
        strength=strength,
        persist=last.n_after,
        sufficiency=sufficiency,
    )


def _classify_level(base: float, new: float, params: PostureParams) -> str:
    if abs(new - base) < params.min_change_abs:
        return "steady"
    if new < 0.5 * base and new <= max(params.empty_level, params.empty_ratio * base):
        return "emptied"
    if new <= (1.0 - params.min_drop) * base:
        return "dropped"
    if new >= (1.0 + params.min_drop) * base:
        return "rose"
    return "steady"


def _strength(ch: Change) -> float:
    p_part = min(1.0, math.log10(1.0 / max(ch.p_value, 1e-300)) / 4.0)
    weight = max((sensor_weight(s) for s in ch.sensors), default=0.6)
    return p_part * weight * min(1.0, ch.n_after / 3.0)


def _suspect(zr: ZoneResult, events: list[Change]) -> Change | None:
    """The latest candidate change after the latest significant one, if any."""
    last_sig = events[-1].before if events else None
    cands = [
        c for c in zr.changes if not c.significant and (last_sig is None or c.after >= last_sig)
    ]
    return cands[-1] if cands else None


def _steady_sentence(label: str, zr: ZoneResult, suspect: Change | None) -> str:
    unit = _unit(zr.metric)
    parts = [
        f"{label}: about {fmt_count(zr.level)} {unit} "
        f"({zr.n_clear} clear observations, latest {zr.last_clear:%Y-%m-%d})"
    ]
    if suspect is not None:
        word = "drop" if suspect.direction == "down" else "rise"
        parts.append(
            f"possible {word} to {fmt_count(suspect.level_to)} {unit} since "
            f"{suspect.before:%Y-%m-%d} ({suspect.n_after} clear observation(s)), "
            f"not conclusive: {suspect.reason}"
        )
    lt = zr.latest
    if (
        lt is not None
        and suspect is None
        and lt.direction == "low"
        and not lt.significant
        and lt.low_share
        and lt.expected is not None
        and lt.value < 0.5 * lt.expected
    ):
        parts.append(
            f"latest {lt.time:%Y-%m-%d}: {fmt_count(lt.value)} {unit}, within this zone's "
            f"usual range (about empty on {lt.low_share:.0%} of clear passes); not conclusive"
        )
    return "; ".join(parts)


# --------------------------------------------------------------------------- flights


def _daily_counts(
    records: Sequence[tuple[date, int]], end: date | None
) -> tuple[date, np.ndarray] | None:
    per_day: dict[date, int] = {}
    for k, rec in enumerate(records):
        try:
            day, count = rec
        except (TypeError, ValueError):
            raise InputError(
                f"flights record {k} is {rec!r}; expected a (date, heavy_departures) pair"
            ) from None
        if isinstance(day, datetime):
            day = as_utc(day).date()
        if (
            not isinstance(day, date)
            or isinstance(count, bool)
            or not isinstance(count, int | np.integer)
        ):
            raise InputError(f"flights record {k} is {rec!r}; expected (datetime.date, int >= 0)")
        if count < 0:
            raise InputError(f"flights record {k} has {count} departures; counts must be >= 0")
        if end is None or day <= end:
            per_day[day] = per_day.get(day, 0) + int(count)
    if not per_day:
        return None
    first = min(per_day)
    last = end if end is not None else max(per_day)
    counts = np.zeros((last - first).days + 1, dtype=float)
    for day, c in per_day.items():
        counts[(day - first).days] += c
    return first, counts


def airlift_surge(
    records: Sequence[tuple[date, int]],
    *,
    as_of: datetime | date | None = None,
    params: PostureParams | None = None,
) -> Surge | None:
    """The strongest recent surge of heavy-transport departures, or None.

    ``records`` are ``(date, heavy_departures)`` pairs; days missing between the first
    record and ``as_of`` (or the last record) count as zero departures. Every period
    ``[s, e)`` of at least ``flight_min_days`` days that ends within
    ``flight_window_days`` of the end and has ``flight_baseline_days`` days before it is
    tested with the conditional Poisson rate test (the period's share of all departures
    so far is binomial with its share of the days); the smallest p-value, multiplied by
    the number of periods tried, is returned with the rates.
    """
    params = params or PostureParams()
    end = as_utc(as_of).date() if as_of is not None else None
    daily = _daily_counts(records, end)
    if daily is None:
        return None
    first, counts = daily
    n = counts.size
    cs = np.concatenate([[0.0], np.cumsum(counts)])
    s_idx, e_idx = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    ok = (
        (s_idx >= params.flight_baseline_days)
        & (e_idx - s_idx >= params.flight_min_days)
        & (e_idx >= n - params.flight_window_days)
    )
    if not np.any(ok):
        return None
    s, e = s_idx[ok], e_idx[ok]
    x = cs[e] - cs[s]
    before = cs[s]
    share = (e - s) / e.astype(float)
    total = x + cs[s]
    p = np.where(total > 0, stats.binom.sf(x - 1, total, share), 1.0)
    k = int(np.lexsort((-(e - s), p))[0])
    p_adj = min(1.0, float(p[k]) * int(ok.sum()))
    rate = float(x[k] / (e[k] - s[k]))
    base_rate = float(before[k] / s[k])
    seg = counts[s[k] : e[k]]
    nz = np.flatnonzero(seg > 0)
    if nz.size == 0:
        return None
    start_day = first + timedelta(days=int(s[k] + nz[0]))
    end_day = first + timedelta(days=int(s[k] + nz[-1]))
    significant = (
        p_adj < params.alpha
        and rate >= params.flight_min_rate
        and rate >= params.flight_ratio * base_rate
    )
    return Surge(
        start=start_day,
        end=end_day,
        rate=rate,
        baseline_rate=base_rate,
        p_value=p_adj,
        significant=bool(significant),
    )


# --------------------------------------------------------------------------- sites


def site_posture(
    site: Site,
    zone_results: Sequence[ZoneResult],
    *,
    flights: Mapping[str, Sequence[tuple[date, int]]] | Sequence[tuple[date, int]] | None = None,
    as_of: datetime | date | None = None,
    params: PostureParams | None = None,
) -> PostureResult:
    """Posture of ``site`` from its zones and optional daily heavy departures.

    ``flights`` is either the site's ``(date, heavy_departures)`` records or a mapping
    from site id to such records. ``as_of`` defaults to the latest clear observation (or
    flight record). The rules are in the module docstring.
    """
    params = params or PostureParams()
    if isinstance(flights, Mapping):
        flights = flights.get(site.id)
    when = _resolve_as_of(zone_results, flights, as_of)
    statuses = tuple(
        zone_status(zr, as_of=when, params=params, label=_label(zr, zone_results))
        for zr in zone_results
    )
    surge = airlift_surge(flights, as_of=when, params=params) if flights else None
    if surge is not None and not surge.significant:
        surge = None
    known = [s for s in statuses if s.status != "unknown"]
    if not known and surge is None:
        why = "; ".join(s.sentence for s in statuses) or f"{site.id}: no zones to assess"
        return PostureResult(
            posture="unknown",
            confidence=0.0,
            indicators=(f"too little conclusive data: {why}",),
            zones=statuses,
            details={"rule": "no zone with conclusive data"},
        )
    by = {k: [s for s in known if s.status == k] for k in ("emptied", "dropped", "rose")}
    posture, rule = _decide(by, known, surge, params)
    confidence = _confidence(posture, by, known, statuses, surge, params)
    return PostureResult(
        posture=posture,
        confidence=round(confidence, 2),
        indicators=_indicators(posture, statuses, surge),
        zones=statuses,
        surge=surge,
        details={"rule": rule},
    )


def _resolve_as_of(
    zone_results: Sequence[ZoneResult],
    flights: Sequence[tuple[date, int]] | None,
    as_of: datetime | date | None,
) -> datetime:
    if as_of is not None:
        return as_utc(as_of, name="as_of")
    times = [zr.last_clear for zr in zone_results if zr.last_clear is not None]
    times += [as_utc(d) for d, _ in (flights or ())]
    return max(times) if times else as_utc(date(1970, 1, 1))


def _decide(
    by: dict[str, list[ZoneStatus]],
    known: list[ZoneStatus],
    surge: Surge | None,
    params: PostureParams,
) -> tuple[str, str]:
    emptied, dropped, rose = by["emptied"], by["dropped"], by["rose"]
    if emptied and len(emptied) == len(known):
        if all(s.persist >= params.withdrawn_min_obs for s in emptied):
            return "withdrawn", "every zone with conclusive data emptied and stayed empty"
        return "withdrawing", "every zone emptied, not yet for long"
    if emptied:
        return "withdrawing", "some zones emptied"
    if surge is not None:
        return "withdrawing", "heavy-transport departures far above their baseline"
    if dropped:
        return "reduced", "sustained partial drop"
    if rose:
        return "reinforcing", "sustained rise"
    return "present", "no significant sustained change"


def _confidence(
    posture: str,
    by: dict[str, list[ZoneStatus]],
    known: list[ZoneStatus],
    statuses: tuple[ZoneStatus, ...],
    surge: Surge | None,
    params: PostureParams,
) -> float:
    coverage = len(known) / len(statuses) if statuses else 0.0
    if posture == "present":
        sufficiency = float(np.mean([s.sufficiency for s in known])) if known else 0.0
        return coverage * sufficiency * (0.7 if any(s.suspect for s in known) else 1.0)
    supporting = by["rose"] if posture == "reinforcing" else by["emptied"] + by["dropped"]
    strengths = [s.strength for s in supporting]
    if surge is not None and posture in ("withdrawing", "withdrawn"):
        strengths.append(0.8 * min(1.0, math.log10(1.0 / max(surge.p_value, 1e-300)) / 6.0))
    miss = float(np.prod([1.0 - s for s in strengths])) if strengths else 1.0
    return (1.0 - miss) * (0.5 + 0.5 * coverage)


def _indicators(
    posture: str, statuses: tuple[ZoneStatus, ...], surge: Surge | None
) -> tuple[str, ...]:
    order = {"emptied": 0, "dropped": 1, "rose": 2, "steady": 3, "unknown": 4}
    ranked = sorted(statuses, key=lambda s: (order[s.status], -s.strength, s.zone_id))
    out = [s.sentence for s in ranked]
    if surge is not None:
        out.insert(1 if ranked and ranked[0].status != "steady" else 0, surge.sentence)
    return tuple(out)

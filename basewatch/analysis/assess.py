"""The whole judgement: observations in, the ``assessment.json`` dict of DESIGN.md out.

For every site: its observations are grouped by zone and metric, and each zone's series
(one per sensor and detector) are judged against their own baselines
(:func:`~basewatch.analysis.baseline.judge_series`); the zone's changes are found and
dated with every series (:func:`~basewatch.analysis.changepoint.zone_changes`); the site
posture follows (:func:`~basewatch.analysis.posture.site_posture`). The result is a plain
dict (JSON-ready) and depends only on the inputs: the same observations, sites, flights,
``as_of`` and ``generated`` give the same dict.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from basewatch.analysis.baseline import Judgement, as_utc, judge_series
from basewatch.analysis.changepoint import Change, ChangeParams
from basewatch.analysis.posture import (
    Latest,
    PostureParams,
    PostureResult,
    ZoneResult,
    site_posture,
)
from basewatch.analysis.zones import Series, sensor_weight, zone_changes
from basewatch.errors import InputError
from basewatch.observe import Observation
from basewatch.sites import Site

TARGET_METRIC = {"aircraft": "aircraft_count", "ship": "ship_count", "vehicle": "vehicle_count"}


@dataclass(frozen=True, kw_only=True)
class AssessParams:
    """All analysis parameters."""

    changes: ChangeParams = ChangeParams()
    """Baseline and change-point parameters (``changes.baseline`` holds the baseline)."""
    posture: PostureParams = PostureParams()
    """Zone-status and posture thresholds."""

    def __post_init__(self) -> None:
        if not isinstance(self.changes, ChangeParams):
            raise InputError(f"AssessParams.changes must be a ChangeParams, got {self.changes!r}")
        if not isinstance(self.posture, PostureParams):
            raise InputError(f"AssessParams.posture must be a PostureParams, got {self.posture!r}")


# --------------------------------------------------------------------------- inputs


def _sites(sites: Any) -> list[Site]:
    """Sites from a list of :class:`Site`, a mapping id -> Site, or a registry object."""
    if hasattr(sites, "sites") and not isinstance(sites, Site):
        sites = sites.sites
    if isinstance(sites, Mapping):
        sites = list(sites.values())
    if isinstance(sites, Site) or not isinstance(sites, Iterable):
        raise InputError(
            f"sites must be a list of Site objects (or a registry), got {type(sites).__name__}"
        )
    out = list(sites)
    for s in out:
        if not isinstance(s, Site):
            raise InputError(f"sites must hold Site objects, got {type(s).__name__}: {s!r}")
    return out


def _version_key(version: str) -> tuple[Any, ...]:
    """Natural sort key for detector versions (``1.10`` after ``1.9``)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", version))


def _check_observation(k: int, o: Observation) -> None:
    where = f"observation {k} (scene {o.scene_id!r}, zone {o.site_id}/{o.zone_id})"
    if o.value is not None and not (isinstance(o.value, int | float) and not o.value < 0):
        raise InputError(f"{where} has value {o.value!r}; use a count >= 0, or None if unusable")
    cf = o.clear_fraction
    if not isinstance(cf, int | float) or not (0.0 <= cf <= 1.0):
        raise InputError(f"{where} has clear_fraction {cf!r}; it must be in [0, 1]")


def _select(observations: Iterable[Observation], as_of: datetime | None) -> list[Observation]:
    """Observations up to ``as_of``, one per (site, zone, scene, detector, metric): the
    newest detector version, in a deterministic order."""
    best: dict[tuple[str, ...], tuple[datetime, Observation]] = {}
    for k, o in enumerate(observations):
        if not isinstance(o, Observation):
            raise InputError(
                f"observations[{k}] is a {type(o).__name__}; expected basewatch.observe.Observation"
            )
        t = as_utc(o.time, name=f"observations[{k}].time")
        _check_observation(k, o)
        if as_of is not None and t > as_of:
            continue
        key = (o.site_id, o.zone_id, o.scene_id, o.detector, o.metric, o.sensor)
        old = best.get(key)
        if old is None or _version_key(o.detector_version) > _version_key(old[1].detector_version):
            best[key] = (t, o)
    return [o for _, o in sorted(best.values(), key=lambda it: (it[0], it[1].scene_id))]


# --------------------------------------------------------------------------- one zone


@dataclass(frozen=True)
class _Judged:
    obs: Observation
    time: datetime
    judgement: Judgement


def _series_groups(obs: list[Observation]) -> dict[tuple[str, str], list[Observation]]:
    groups: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for o in obs:
        groups[(o.sensor, o.detector)].append(o)
    return dict(sorted(groups.items()))


def _judge_zone(
    groups: dict[tuple[str, str], list[Observation]],
    breaks: list[datetime],
    params: ChangeParams,
) -> list[_Judged]:
    judged: list[_Judged] = []
    for series in groups.values():
        times = [as_utc(o.time) for o in series]
        js = judge_series(
            times,
            [o.value for o in series],
            [o.clear_fraction for o in series],
            params=params.baseline,
            breaks=breaks,
        )
        judged += [_Judged(o, t, j) for o, t, j in zip(series, times, js, strict=True)]
    judged.sort(key=lambda j: (j.time, j.obs.sensor, j.obs.detector, j.obs.scene_id))
    return judged


def _is_clear(o: Observation, params: ChangeParams) -> bool:
    v = o.value
    ok = v is not None and bool(np.isfinite(v))
    return ok and o.clear_fraction >= params.baseline.min_clear


def _main_series(
    groups: dict[tuple[str, str], list[Observation]], params: ChangeParams
) -> list[Observation]:
    """The series that best describes the zone: enough clear history, strongest sensor."""

    def key(item: tuple[tuple[str, str], list[Observation]]) -> tuple[Any, ...]:
        (sensor, detector), obs = item
        n = sum(_is_clear(o, params) for o in obs)
        return (n >= params.baseline.min_history, sensor_weight(sensor), n, sensor, detector)

    return max(groups.items(), key=key)[1]


def _zone_result(
    zone_id: str,
    metric: str,
    name: str,
    obs: list[Observation],
    params: ChangeParams,
) -> tuple[ZoneResult, list[_Judged]]:
    groups = _series_groups(obs)
    series = [
        Series(
            sensor=sensor,
            times=tuple(as_utc(o.time) for o in g),
            values=tuple(o.value for o in g),
            clear=tuple(o.clear_fraction for o in g),
        )
        for (sensor, _), g in groups.items()
    ]
    changes = tuple(zone_changes(series, params=params))
    judged = _judge_zone(groups, [c.before for c in changes if c.significant], params)
    clear = [j for j in judged if _is_clear(j.obs, params)]
    n_conclusive = sum(j.judgement.conclusive for j in judged)
    latest = clear[-1] if clear else None
    level = _recent_level(_main_series(groups, params), changes, params) if clear else None
    return (
        ZoneResult(
            zone_id=zone_id,
            metric=metric,
            name=name,
            sensors=tuple(sorted({o.sensor for o in obs})),
            changes=changes,
            n_observations=len(obs),
            n_clear=len(clear),
            n_conclusive=n_conclusive,
            last_clear=latest.time if latest else None,
            level=level,
            latest=_latest(latest) if latest else None,
            reason=_no_data_reason(obs, clear, n_conclusive, params),
        ),
        judged,
    )


def _recent_level(
    obs: list[Observation], changes: tuple[Change, ...], params: ChangeParams
) -> float | None:
    sig = [c for c in changes if c.significant]
    vals = [
        (as_utc(o.time), float(o.value))  # type: ignore[arg-type]
        for o in obs
        if _is_clear(o, params)
    ]
    if not vals:
        return None
    last = max(t for t, _ in vals)
    since = sig[-1].before if sig else None
    window = params.baseline.window_days
    recent = [
        v
        for t, v in vals
        if (since is None or t >= since) and (last - t).total_seconds() <= window * 86400
    ]
    return float(np.median(recent)) if recent else float(np.median([v for _, v in vals]))


def _latest(j: _Judged) -> Latest:
    return Latest(
        time=j.time,
        sensor=j.obs.sensor,
        value=float(j.obs.value),  # type: ignore[arg-type]
        expected=j.judgement.expected,
        p_value=j.judgement.p_value,
        significant=j.judgement.significant,
        direction=j.judgement.direction,
        low_share=j.judgement.low_share,
    )


def _no_data_reason(
    obs: list[Observation], clear: list[_Judged], n_conclusive: int, params: ChangeParams
) -> str:
    bp = params.baseline
    if not obs:
        return "no observations"
    with_value = [o for o in obs if o.value is not None and np.isfinite(o.value)]
    if not with_value:
        flags = sorted({f for o in obs for f in o.flags})
        extra = f" (flags: {', '.join(flags)})" if flags else ""
        return f"no usable value in {len(obs)} observation(s){extra}"
    if not clear:
        best = max(o.clear_fraction for o in with_value)
        return f"no clear observation (best clear fraction {best:.2f} < {bp.min_clear:.2f})"
    if n_conclusive == 0:
        return (
            f"not conclusive: only {len(clear)} clear observation(s), a baseline needs "
            f"{bp.min_history} in {bp.window_days:g} days"
        )
    return ""


# --------------------------------------------------------------------------- JSON


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(x: float | None, digits: int = 3) -> float | int | None:
    if x is None or not np.isfinite(x):
        return None
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2**53 else round(x, digits)


def _p(p: float | None) -> float | None:
    return None if p is None else float(f"{p:.3g}")


def _obs_json(j: _Judged) -> dict[str, Any]:
    o, jd = j.obs, j.judgement
    return {
        "time": _iso(j.time),
        "sensor": o.sensor,
        "detector": o.detector,
        "scene_id": o.scene_id,
        "value": _num(o.value),
        "clear_fraction": _num(o.clear_fraction),
        "expected": None if jd.expected is None else round(jd.expected, 2),
        "usual": None if jd.usual is None else [_num(jd.usual[0]), _num(jd.usual[1])],
        "p_value": _p(jd.p_value),
        "significant": jd.significant,
        "conclusive": jd.conclusive,
        "reason": jd.reason,
        "flags": list(o.flags),
    }


def _change_json(c: Change) -> dict[str, Any]:
    return {
        "after": f"{c.after.astimezone(UTC):%Y-%m-%d}",
        "before": f"{c.before.astimezone(UTC):%Y-%m-%d}",
        "after_time": _iso(c.after),
        "before_time": _iso(c.before),
        "direction": c.direction,
        "from": _num(c.level_from, 1),
        "to": _num(c.level_to, 1),
        "significant": c.significant,
        "p_value": _p(c.p_value),
        "n_after": c.n_after,
        "sensors": list(c.sensors),
        "dated_with": list(c.dated_with),
        "reason": c.reason,
    }


def _zone_json(zr: ZoneResult, judged: list[_Judged], status: str, sentence: str) -> dict[str, Any]:
    return {
        "zone_id": zr.zone_id,
        "name": zr.name,
        "metric": zr.metric,
        "sensors": list(zr.sensors),
        "status": status,
        "summary": sentence,
        "conclusive": zr.n_conclusive > 0,
        "level": _num(zr.level, 1),
        "observations": [_obs_json(j) for j in judged],
        "changes": [_change_json(c) for c in zr.changes],
    }


# --------------------------------------------------------------------------- assess


def assess(
    observations: Iterable[Observation],
    sites: Sequence[Site] | Mapping[str, Site] | Any,
    *,
    flights: Mapping[str, Sequence[tuple[date, int]]] | None = None,
    as_of: datetime | date | None = None,
    generated: datetime | None = None,
    params: AssessParams | None = None,
    context: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Judge every site and return the ``assessment.json`` dict of DESIGN.md.

    ``context`` (site id -> members) adds context that does not change the posture: its
    ``indicators`` are appended to the site's indicators and its other members (e.g.
    ``corridor`` from :mod:`basewatch.context.corridor`, ``flights`` from
    :func:`basewatch.context.tracks.flight_activity`) are copied into the site's record.

    Only observations with ``time <= as_of`` are used (a plain date means the end of that
    day, UTC); observations of sites not in ``sites`` are ignored. Registry zones without
    observations are listed with status ``unknown``. ``generated`` is copied into the
    result (None when omitted), so the result depends on the inputs only.
    """
    params = params or AssessParams()
    if flights is not None and not isinstance(flights, Mapping):
        raise InputError(
            f"flights must map site ids to (date, heavy_departures) records, "
            f"got {type(flights).__name__}"
        )
    cutoff = as_utc(as_of, name="as_of") if as_of is not None else None
    site_list = _sites(sites)
    selected = _select(observations, cutoff)
    by_site: dict[str, list[Observation]] = defaultdict(list)
    for o in selected:
        by_site[o.site_id].append(o)
    used_times = [as_utc(o.time) for o in selected if o.site_id in {s.id for s in site_list}]
    when = cutoff or (max(used_times) if used_times else None)
    return {
        "generated": _iso(as_utc(generated)) if generated is not None else None,
        "as_of": _iso(when) if when is not None else None,
        "sites": [
            _assess_site(
                site, by_site.get(site.id, []), flights, when, params, (context or {}).get(site.id)
            )
            for site in site_list
        ],
    }


def _zone_keys(site: Site, obs: list[Observation]) -> list[tuple[str, str, str]]:
    """``(zone_id, metric, name)`` in registry order, then zones only seen in observations."""
    seen = sorted({(o.zone_id, o.metric) for o in obs})
    keys: list[tuple[str, str, str]] = []
    for z in site.zones:
        metrics = [m for zid, m in seen if zid == z.id]
        if not metrics:
            metrics = [TARGET_METRIC.get(z.target, "object_count")]
        keys += [(z.id, m, z.name) for m in metrics]
    known = {z.id for z in site.zones}
    keys += [(zid, m, "") for zid, m in seen if zid not in known]
    return keys


def _assess_site(
    site: Site,
    obs: list[Observation],
    flights: Mapping[str, Sequence[tuple[date, int]]] | None,
    when: datetime | None,
    params: AssessParams,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    results: list[tuple[ZoneResult, list[_Judged]]] = []
    for zone_id, metric, name in _zone_keys(site, obs):
        zobs = [o for o in obs if o.zone_id == zone_id and o.metric == metric]
        results.append(_zone_result(zone_id, metric, name, zobs, params.changes))
    site_flights = flights.get(site.id) if flights else None
    posture: PostureResult = site_posture(
        site,
        [zr for zr, _ in results],
        flights=site_flights,
        as_of=when,
        params=params.posture,
    )
    extra = dict(context or {})
    return {
        "site_id": site.id,
        "name": site.name,
        "kind": site.kind,
        "posture": posture.posture,
        "confidence": posture.confidence,
        "indicators": list(posture.indicators) + [str(i) for i in extra.pop("indicators", [])],
        "zones": [
            _zone_json(zr, judged, st.status, st.sentence)
            for (zr, judged), st in zip(results, posture.zones, strict=True)
        ],
        **extra,
    }

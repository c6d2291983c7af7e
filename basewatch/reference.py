"""A zone's own history as a reference: static structures apart from the ships that come and go.

The monitor sees the same pier dozens of times. Quay cranes, pier heads and hulks that the
ship detector takes for ships are there on every clear pass; warships come and go. For each
observation of a ship zone, the reference is the zone's earlier clear observations (same
sensor, detector and version) within :attr:`ReferenceParams.window_days`. A detection of the
observation is **static** when a detection of the same place and size (one-to-one, centre
within :attr:`ReferenceParams.match_m`, length and area alike) is found in nearly all
reference scenes (:attr:`ReferenceParams.static_share`) *and* in nearly all of the earliest
ones; on some of them (at most half) it may instead lie inside a larger detection, merged
with a ship moored alongside it. Static detections are kept in the observation (property
``static: true``) but not counted; every other detection is counted. A ship moored next to a
static structure either keeps its own detection (the structure matches the static one, not
the ship) or merges with it into a detection larger than the structure, which then differs
from the reference and counts as the ship.

Why a long-moored warship is never erased: a ship that arrives after the earliest reference
scenes is missing from them, so it is not static however long it stays (up to the window, a
year), and it counts until the day it leaves. Only something on (nearly) every clear pass of
the whole reference (at least :attr:`ReferenceParams.min_span_days` long, earliest scenes
included) is taken as part of the pier: a ship that has not moved since monitoring began, or
for a whole window, cannot be told from a hulk, and is counted as one.

With a short history (fewer than :attr:`ReferenceParams.min_scenes` clear earlier scenes, or
spanning less than :attr:`ReferenceParams.min_span_days`) nothing is suppressed and the
observation says so with the flag ``reference-short=K-scenes-D-days<N-scenes-M-days``.
Otherwise it carries ``reference=K`` (clear scenes used) and, when it suppressed something,
``static=S``.

The reference is derived from the stored detections alone (nothing else is stored): applying
it again, to the same observations, gives the same result, and it only looks back in time, so
an assessment ``as of`` a date sees the same counts it would have seen on that date.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from basewatch.errors import InputError
from basewatch.observe import Observation

if TYPE_CHECKING:
    from basewatch.store import Store

__all__ = [
    "REFERENCE_METRICS",
    "REFERENCE_SENSORS",
    "Footprint",
    "ReferenceParams",
    "apply_reference",
    "footprints",
    "raw_count",
    "refresh_references",
    "strip_reference",
]

REFERENCE_SENSORS = ("sentinel-2", "sentinel-1")
"""Sensors whose ship counts get a reference (one grid per sensor; sub-metre series mix
several resolutions and are left as they are)."""
REFERENCE_METRICS = ("ship_count",)
"""Metrics the reference applies to."""

_FLAG_PREFIXES = ("reference=", "reference-short=", "static=")
_PROPERTY_KEYS = ("static",)
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_320.0


@dataclass(frozen=True, kw_only=True)
class ReferenceParams:
    """How the per-zone reference is built and used."""

    window_days: float = 365.0
    """Earlier scenes older than this are not part of the reference (days)."""
    min_scenes: int = 12
    """Fewer clear earlier scenes than this: no suppression (``reference-short``)."""
    min_span_days: float = 120.0
    """Earlier clear scenes spanning less than this (first to last): no suppression either.
    A ship present on every pass for longer than this since monitoring began, without a break,
    cannot be told from a hulk; a ship arriving after the first scenes always can."""
    min_clear: float = 0.9
    """An earlier observation enters the reference when this share of the zone was clear."""
    static_share: float = 0.8
    """A detection is static when matched in at least this share of the reference scenes and
    of the earliest ones."""
    alike_share: float = 0.5
    """And matched one-to-one, alike, in at least this share of the reference scenes; in the
    others it may be inside a larger detection (merged with a ship alongside)."""
    early_scenes: int = 5
    """How many of the earliest reference scenes must also show it (at ``static_share``)."""
    match_m: float = 15.0
    """Largest distance between the centres of two detections of the same thing (m)."""
    length_tol: float = 0.25
    """Largest relative difference of length between two detections of the same thing."""
    length_slack_m: float = 20.0
    """Lengths closer than this always agree (two 10 m pixels)."""
    length_spread: float = 0.1
    """A static thing's matched lengths (this one and the reference's) have a standard
    deviation of at most this share of their median: it is one object seen again and again,
    whereas the ships that take turns at a busy berth differ in length."""
    area_ratio: float = 1.6
    """Largest ratio of footprint areas (each plus :attr:`area_slack_m2`) of the same thing; a
    ship alongside a static structure, merged with it, is larger than this."""
    area_slack_m2: float = 300.0
    """Added to both areas before the ratio (three 10 m pixels), so that small detections of a
    crane that vary by a pixel still agree."""

    def __post_init__(self) -> None:
        if self.min_scenes < 1:
            raise InputError(f"reference min_scenes {self.min_scenes}: give 1 or more scenes")
        if not 0.5 < self.static_share <= 1.0:
            raise InputError(
                f"reference static_share {self.static_share}: give a share above 0.5 and at "
                "most 1 (a thing in a minority of the scenes must never be static)"
            )
        for name in ("window_days", "match_m", "area_ratio"):
            if not getattr(self, name) > 0:
                raise InputError(f"reference {name} {getattr(self, name)}: give a positive number")


@dataclass(frozen=True)
class Footprint:
    """Where a detection is and how large, in metres on a local plane around the zone."""

    x: float
    """East of the zone's origin (m)."""
    y: float
    """North of the zone's origin (m)."""
    length_m: float
    """Length of the footprint's long side (m)."""
    area_m2: float
    """Footprint area (m²)."""


def _ring(feature: dict[str, Any]) -> list[tuple[float, float]] | None:
    geometry = feature.get("geometry") or {}
    if geometry.get("type") != "Polygon":
        return None
    coords = geometry.get("coordinates") or []
    if not coords or len(coords[0]) < 4:
        return None
    ring = [(float(p[0]), float(p[1])) for p in coords[0]]
    return ring[:-1] if ring[0] == ring[-1] else ring


def footprints(features: Sequence[dict[str, Any]], origin: tuple[float, float]) -> list[Footprint]:
    """The footprints of GeoJSON detection features (EPSG:4326 polygons) around ``origin``.

    ``origin`` is ``(lon, lat)``; an equirectangular plane is exact enough over a zone. A
    feature without a polygon gets a footprint far away, so it never matches anything.
    """
    lon0, lat0 = origin
    kx = _M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0))
    out: list[Footprint] = []
    for feature in features:
        ring = _ring(feature)
        if ring is None:
            out.append(Footprint(x=math.inf, y=math.inf, length_m=0.0, area_m2=0.0))
            continue
        xs = np.array([(lon - lon0) * kx for lon, _ in ring])
        ys = np.array([(lat - lat0) * _M_PER_DEG_LAT for _, lat in ring])
        area = 0.5 * abs(float(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))
        sides = np.hypot(np.diff(np.append(xs, xs[0])), np.diff(np.append(ys, ys[0])))
        props = feature.get("properties") or {}
        length = props.get("length_m")
        out.append(
            Footprint(
                x=float(xs.mean()),
                y=float(ys.mean()),
                length_m=float(length) if length else float(sides.max()),
                area_m2=area,
            )
        )
    return out


def _arrays(prints: Sequence[Footprint]) -> np.ndarray:
    """``(n, 4)`` array of x, y, length, area."""
    return np.array([(f.x, f.y, f.length_m, f.area_m2) for f in prints], float).reshape(-1, 4)


def _alike(a: np.ndarray, b: np.ndarray, params: ReferenceParams) -> np.ndarray:
    """``(len(a), len(b))``: distance where the two detections may be the same thing, else inf."""
    d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    la, lb = a[:, None, 2], b[None, :, 2]
    length_ok = np.abs(la - lb) <= np.maximum(
        params.length_tol * np.maximum(la, lb), params.length_slack_m
    )
    aa, ab = a[:, None, 3] + params.area_slack_m2, b[None, :, 3] + params.area_slack_m2
    area_ok = np.maximum(aa, ab) <= params.area_ratio * np.minimum(aa, ab)
    ok = (d <= params.match_m) & length_ok & area_ok
    return np.where(ok, d, np.inf)


def _matched(current: np.ndarray, earlier: np.ndarray, params: ReferenceParams) -> np.ndarray:
    """The length of each current detection's own counterpart in one earlier scene (one-to-one,
    closest pairs first), NaN where it has none."""
    length = np.full(len(current), np.nan)
    if not len(current) or not len(earlier):
        return length
    cost = _alike(current, earlier, params)
    pairs = np.argwhere(np.isfinite(cost))
    used: set[int] = set()
    for i, j in sorted(pairs.tolist(), key=lambda p: (cost[p[0], p[1]], p[0], p[1])):
        if np.isnan(length[i]) and j not in used:
            length[i] = earlier[j, 2]
            used.add(j)
    return length


def strip_reference(obs: Observation) -> Observation:
    """``obs`` as the detector stored it: reference flags and properties removed, the count
    being every detection again (cloudy observations, without a count, are unchanged)."""
    flags = tuple(f for f in obs.flags if not f.startswith(_FLAG_PREFIXES))
    features = [_without_marks(f) for f in obs.detections]
    value = obs.value if obs.value is None else float(len(features))
    return replace(obs, flags=flags, detections=features, value=value)


def raw_count(obs: Observation) -> float | None:
    """The detector's own count of ``obs`` (every detection, static ones included)."""
    return None if obs.value is None else float(len(obs.detections))


def _without_marks(feature: dict[str, Any]) -> dict[str, Any]:
    props = feature.get("properties")
    if not isinstance(props, dict) or not any(k in props for k in _PROPERTY_KEYS):
        return feature
    clean = {k: v for k, v in props.items() if k not in _PROPERTY_KEYS}
    return {**feature, "properties": clean}


def _applies(obs: Observation) -> bool:
    return obs.sensor in REFERENCE_SENSORS and obs.metric in REFERENCE_METRICS


def _origin(observations: Sequence[Observation]) -> tuple[float, float]:
    for obs in observations:
        for feature in obs.detections:
            ring = _ring(feature)
            if ring:
                return ring[0]
    return (0.0, 0.0)


def apply_reference(
    observations: Iterable[Observation], params: ReferenceParams | None = None
) -> list[Observation]:
    """Every observation with its zone's reference applied (see the module's description).

    Observations are grouped by site, zone, sensor, detector and version; only Sentinel-2 and
    Sentinel-1 ship counts are changed, others are returned as they are. The result is in the
    order of the input; applying it twice gives the same observations.
    """
    params = params or ReferenceParams()
    items = list(observations)
    out: list[Observation] = list(items)
    groups: dict[tuple[str, ...], list[int]] = {}
    for k, obs in enumerate(items):
        if _applies(obs):
            key = (obs.site_id, obs.zone_id, obs.sensor, obs.detector, obs.detector_version)
            groups.setdefault(key, []).append(k)
    for indices in groups.values():
        series = [strip_reference(items[k]) for k in indices]
        for k, judged in zip(indices, _apply_series(series, params), strict=True):
            out[k] = judged
    return out


def _apply_series(series: list[Observation], params: ReferenceParams) -> list[Observation]:
    """One zone's series (any order) with the reference applied to each observation."""
    origin = _origin(series)
    shapes = [_arrays(footprints(o.detections, origin)) for o in series]
    clear = sorted(
        (
            k
            for k, o in enumerate(series)
            if o.value is not None and o.clear_fraction >= params.min_clear
        ),
        key=lambda k: (series[k].time, series[k].scene_id),
    )
    out: list[Observation] = []
    window = timedelta(days=params.window_days)
    for k, obs in enumerate(series):
        if obs.value is None:
            out.append(obs)
            continue
        ref = [j for j in clear if obs.time - window <= series[j].time < obs.time]
        span = (series[ref[-1]].time - series[ref[0]].time).days if ref else 0
        if len(ref) < params.min_scenes or span < params.min_span_days:
            need = f"{params.min_scenes}-scenes-{params.min_span_days:g}-days"
            flag = f"reference-short={len(ref)}-scenes-{span}-days<{need}"
            out.append(replace(obs, flags=(*obs.flags, flag)))
            continue
        static = _static(shapes[k], [shapes[j] for j in ref], params)
        features = [
            {**f, "properties": {**(f.get("properties") or {}), "static": True}} if s else f
            for f, s in zip(obs.detections, static, strict=True)
        ]
        flags = [*obs.flags, f"reference={len(ref)}"]
        n_static = int(static.sum())
        if n_static:
            flags.append(f"static={n_static}")
        out.append(
            replace(
                obs,
                value=float(len(features) - n_static),
                detections=features,
                flags=tuple(flags),
            )
        )
    return out


def _static(
    current: np.ndarray, reference: list[np.ndarray], params: ReferenceParams
) -> np.ndarray:
    """Which current detections are static against the reference scenes (oldest first)."""
    if not len(current):
        return np.zeros(0, bool)
    lengths = np.array([_matched(current, scene, params) for scene in reference])  # (scenes, dets)
    alike = np.isfinite(lengths)
    seen = alike | np.array([_covered(current, scene) for scene in reference])
    early = seen[: max(1, min(params.early_scenes, len(reference)))]
    static = (
        (alike.mean(axis=0) >= params.alike_share)
        & (seen.mean(axis=0) >= params.static_share)
        & (early.mean(axis=0) >= params.static_share)
    )
    for i in np.flatnonzero(static):  # the same thing every time, not a berth's many ships
        ls = np.append(lengths[alike[:, i], i], current[i, 2])
        static[i] = bool(np.std(ls) <= params.length_spread * np.median(ls))
    return static


def _covered(current: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Which current detections lie inside a larger detection of one earlier scene (the same
    structure merged there with a ship moored alongside it)."""
    if not len(current) or not len(earlier):
        return np.zeros(len(current), bool)
    d = np.hypot(
        current[:, None, 0] - earlier[None, :, 0], current[:, None, 1] - earlier[None, :, 1]
    )
    larger = earlier[None, :, 3] > current[:, None, 3]
    return np.any(larger & (d <= 0.5 * earlier[None, :, 2]), axis=1)


def refresh_references(
    store: Store, zones: Iterable[tuple[str, str]], params: ReferenceParams | None = None
) -> int:
    """Apply the reference to the stored observations of each ``(site_id, zone_id)``.

    Reads each zone's observations, applies :func:`apply_reference` and writes back those it
    changed (one transaction per zone); returns how many observations changed. Idempotent:
    a second call changes nothing, and a run killed before it is completed by the next one.
    """
    changed = 0
    for site_id, zone_id in zones:
        stored = store.observations(site_id=site_id, zone_id=zone_id)
        judged = apply_reference(stored, params)
        new = [j for s, j in zip(stored, judged, strict=True) if _normal(j) != _normal(s)]
        if new:
            changed += store.write_observations(new)
    return changed


def _normal(obs: Observation) -> Observation:
    """``obs`` with its flags as the store keeps them (sorted, once each)."""
    return replace(obs, flags=tuple(sorted(set(obs.flags))))

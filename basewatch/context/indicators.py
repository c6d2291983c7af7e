"""Context indicators for ``assessment.json``: flights that matter and land corridors.

:func:`flight_context` reads ADS-B states once and gives both the daily heavy-transport
departures the posture rules use and, per airfield site, the ``flights`` member
(:func:`basewatch.context.tracks.flight_activity`) with one indicator sentence.
:func:`corridor_context` gives the ``corridor`` member
(:meth:`basewatch.context.corridor.Corridor.to_json`) and its sentence for every site that
has an anchor. Neither changes a posture; they are evidence beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from basewatch.sites import Site

__all__ = ["corridor_context", "flight_context", "flight_sentence", "merge_context"]

Context = dict[str, dict[str, Any]]


def flight_sentence(activity: Mapping[str, Any]) -> str:
    """One line: heavy-transport and military departures, then routine traffic as numbers."""
    dep = activity.get("departures", {})
    heavy = activity.get("heavy_departures", {})
    military = activity.get("military_departures", {})
    span = f"{activity.get('first_day')} to {activity.get('last_day')}"
    n_heavy = sum(heavy.values())
    parts = [
        f"ADS-B {span}: {n_heavy} heavy-transport departure{'s' * (n_heavy != 1)}"
        + (f" ({', '.join(f'{k} {v}' for k, v in heavy.items())})" if heavy else "")
    ]
    n_mil = sum(military.values())
    if n_mil:
        towards = ", ".join(f"{k} {v}" for k, v in military.items())
        parts.append(f"{n_mil} military departure{'s' * (n_mil != 1)} (towards {towards})")
    else:
        parts.append("no military departure")
    parts.append(
        f"routine traffic {dep.get('civil', 0)} civil and {dep.get('unknown', 0)} unidentified "
        "departures"
    )
    return "; ".join(parts)


def flight_context(
    path: str | Path,
    sites: Sequence[Site],
    *,
    aircraft_db: str | Path | None = None,
    as_of: datetime | date | None = None,
) -> tuple[dict[str, list[tuple[date, int]]], Context]:
    """``(daily heavy departures per airbase, context per airbase)`` from an ADS-B file.

    Events after ``as_of`` are ignored. Aircraft are classified with ``aircraft_db``
    (OpenSky layout) when given, else from the states
    (:func:`basewatch.context.tracks.classify_events`).
    """
    import pandas as pd

    from basewatch.context import tracks as tr
    from basewatch.context.aircraft_types import read_aircraft_db

    airfields = [s for s in sites if s.kind == "airbase"]
    db = read_aircraft_db(aircraft_db) if aircraft_db else None
    events = tr.classify_events(
        tr.airfield_events(tr.split_flights(tr.read_states(Path(path))), airfields), db
    )
    if as_of is not None:
        limit = pd.Timestamp(as_of)
        limit = limit.tz_localize("UTC") if limit.tzinfo is None else limit.tz_convert("UTC")
        if isinstance(as_of, date) and not isinstance(as_of, datetime):
            limit = limit + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        events = [e for e in events if pd.Timestamp(e.time) <= limit]
    flights = {s.id: tr.daily_departures(events, site_id=s.id) for s in airfields}
    context: Context = {}
    for s in airfields:
        activity = tr.flight_activity(events, site_id=s.id)
        if activity["first_day"] is None:
            continue
        context[s.id] = {"flights": activity, "indicators": [flight_sentence(activity)]}
    return flights, context


def corridor_context(
    sites: Sequence[Site],
    *,
    areas: Sequence[str | Path],
    anchor: str | None = None,
    allies: str | Sequence[str] | None = None,
    roads: str | Path | None = None,
    as_of: datetime | date | None = None,
) -> Context:
    """The ``corridor`` member and its sentence for every site with an anchor.

    ``areas`` are control-area files or bundled names; ``anchor``/``allies`` override the
    registry properties for every site; ``roads`` (a file or bundled name) switches to the
    road network. Only situations up to ``as_of`` are used.
    """
    from basewatch.context.corridor import corridors, load_control_areas, parse_allies, read_roads

    control = load_control_areas(list(areas))
    lines = read_roads(roads) if roads else None
    until = as_of.date().isoformat() if isinstance(as_of, datetime) else None
    if until is None and isinstance(as_of, date):
        until = as_of.isoformat()
    results = corridors(
        list(sites),
        control,
        anchor=anchor,
        allies=parse_allies(allies) if allies is not None else None,
        roads=lines,
        until=until,
        skip_without_anchor=anchor is None,
    )
    return {c.site_id: {"corridor": c.to_json(), "indicators": [c.sentence()]} for c in results}


def merge_context(*contexts: Mapping[str, Mapping[str, Any]]) -> Context:
    """Merge per-site contexts: members side by side, indicators concatenated in order."""
    out: Context = {}
    for context in contexts:
        for site_id, members in context.items():
            target = out.setdefault(site_id, {"indicators": []})
            for key, value in members.items():
                if key == "indicators":
                    target["indicators"] = [*target["indicators"], *value]
                else:
                    target[key] = value
    return out

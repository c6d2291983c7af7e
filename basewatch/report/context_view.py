"""Display values of a site's context in the report: flights that matter and the land corridor.

Both read what ``assessment.json`` holds (the site's ``flights`` and ``corridor`` members,
written by :mod:`basewatch.context.indicators`); nothing is judged again here. Flight
entries of the evidence ledger (``basewatch tracks import --db``) are summarised the same
way: routine civil traffic is a number, heavy transports and military callsigns are listed;
the full list stays in the API and ``basewatch evidence list --kind flight``.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from basewatch.context.aircraft_types import TYPE_CLASSES, classify

__all__ = ["corridor_view", "flight_view", "split_flight_evidence"]

NOTABLE_SHOWN = 25
"""Notable flights listed per site (the latest ones); the rest are counted."""

_CLAIM = re.compile(
    r"^(?P<callsign>\S+) \((?P<type>[^,]*), icao24 (?P<icao>[0-9a-f]{6})\) "
    r"(?P<kind>departed from|arrived at)"
)
_CLASS_COLOURS = {
    "heavy transport": "#c0392b",
    "military": "#d35400",
    "civil": "#95a5a6",
    "unknown": "#d5dbdb",
}


def split_flight_evidence(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """``(other rows, flight rows)`` of a site's evidence rows (``kind == "flight"``)."""
    flights = [r for r in rows if str(r.get("kind")) == "flight"]
    return [r for r in rows if str(r.get("kind")) != "flight"], flights


def _ledger_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Counts per class and the notable ledger flights (claims parsed, aircraft classified)."""
    if not rows:
        return None
    counts: Counter[str] = Counter()
    notable = []
    for row in rows:
        match = _CLAIM.match(str(row.get("claim") or ""))
        if match is None:
            counts["unknown"] += 1
            continue
        typecode = match["type"] if match["type"] != "type unknown" else ""
        callsign = match["callsign"] if match["callsign"] != match["icao"] else ""
        c = classify(match["icao"], callsign=callsign, typecode=typecode)
        counts[c.type_class] += 1
        if c.heavy or c.military:
            notable.append({**row, "type_class": c.type_class})
    return {
        "total": len(rows),
        "classes": [(k, counts.get(k, 0)) for k in TYPE_CLASSES],
        "notable": notable[-NOTABLE_SHOWN:],
        "notable_total": len(notable),
    }


def flight_view(
    activity: Mapping[str, Any] | None,
    ledger: Sequence[Mapping[str, Any]] = (),
    *,
    salt: str,
) -> dict[str, Any] | None:
    """What the report's flights block shows for one site; None when there is nothing.

    ``activity`` is the site's ``flights`` member of ``assessment.json``
    (:func:`basewatch.context.tracks.flight_activity`); ``ledger`` its flight evidence rows.
    """
    ledger_view = _ledger_summary(ledger)
    if not isinstance(activity, Mapping) or not activity.get("first_day"):
        return {"ledger": ledger_view} if ledger_view else None
    dep = activity.get("departures") or {}
    arr = activity.get("arrivals") or {}
    classes = [
        {"name": k, "departures": int(dep.get(k, 0)), "arrivals": int(arr.get(k, 0))}
        for k in TYPE_CLASSES
    ]
    notable = list(activity.get("notable") or [])[-NOTABLE_SHOWN:]
    return {
        "span": f"{activity.get('first_day')} to {activity.get('last_day')}",
        "classes": classes,
        "heavy": list((activity.get("heavy_departures") or {}).items()),
        "military": list((activity.get("military_departures") or {}).items()),
        "notable": notable,
        "notable_total": int(activity.get("notable_total") or len(notable)),
        "chart": _classes_svg(activity.get("days") or [], salt=salt),
        "ledger": ledger_view,
    }


def _classes_svg(days: Sequence[Mapping[str, Any]], *, salt: str) -> Markup | None:
    """Flights per day, stacked by type class, as an inline ``<svg>``; None without days."""
    from datetime import date

    parsed = []
    for d in days:
        try:
            parsed.append((date.fromisoformat(str(d["day"])), d))
        except (KeyError, ValueError):
            continue
    if not parsed:
        return None
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from basewatch.report.html import _inline_svg

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 10}):
        fig = Figure(figsize=(10.0, 2.6), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        x = date2num([d for d, _ in parsed])
        bottom = [0] * len(parsed)
        for cls in TYPE_CLASSES:
            values = [int(rec.get(cls, 0)) for _, rec in parsed]
            if not any(values):
                continue
            ax.bar(x, values, bottom=bottom, width=0.9, color=_CLASS_COLOURS[cls], label=cls)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        locator = AutoDateLocator(minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("flights / day")
        ax.grid(True, axis="y", color="#dddddd", lw=0.6)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="upper left", frameon=False, ncols=4)
        buffer = io.StringIO()
        fig.savefig(
            buffer,
            format="svg",
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
    return Markup(_inline_svg(buffer.getvalue()))


def corridor_view(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the report's land-corridor block shows (the site's ``corridor`` member)."""
    if not isinstance(record, Mapping) or not record.get("links"):
        return None
    rows = []
    for link in record["links"]:
        if not isinstance(link, Mapping):
            continue
        chokes = [
            f"{c.get('name')}"
            + (f" ({c['front_km']:.0f} km from the front)" if c.get("front_km") is not None else "")
            for c in link.get("chokepoints") or []
            if isinstance(c, Mapping)
        ]
        km = link.get("length_km")
        rows.append(
            {
                "date": link.get("date") or "—",
                "linked": bool(link.get("linked")),
                "km": f"{km:.0f}" if isinstance(km, int | float) else "—",
                "chokepoints": ", ".join(chokes) or ("none" if link.get("linked") else "—"),
                "reason": str(link.get("reason") or ""),
                "lost": ", ".join(str(x) for x in link.get("lost") or []),
            }
        )
    return {
        "anchor": str(record.get("anchor") or ""),
        "friendly": ", ".join(str(x) for x in record.get("friendly") or []),
        "method": "road network" if record.get("method") == "roads" else "cost-distance grid",
        "linked": bool(record.get("linked")),
        "cut_after": record.get("cut_after"),
        "cut_before": record.get("cut_before"),
        "sentence": str(record.get("sentence") or ""),
        "rows": rows,
    }

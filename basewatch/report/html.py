"""Render an assessment as one self-contained HTML page (inline CSS and scripts, no network).

The page is built from ``assessment.json`` (DESIGN.md) extended with per-observation
fields, and shows every number as the assessment gives it (one formatting function per
concept: counts, p-values, changes). Every string from the assessment or the registry is
untrusted: the Jinja2 template escapes it, and chart and map data travel as JSON inside
``<script type="application/json">`` (``tojson`` escapes ``<``, ``>`` and ``&``) and
reach the page through ``textContent``. Also renders the dashboard's overview and zone
timeline pages.
"""

from __future__ import annotations

import io
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
from markupsafe import Markup

from basewatch.errors import InputError
from basewatch.outputs import cannot_write

if TYPE_CHECKING:
    from basewatch.sites import Site

__all__ = [
    "POSTURES",
    "is_simulated",
    "render_overview",
    "render_report",
    "render_timeline",
    "write_report",
]

POSTURES = ("present", "reduced", "withdrawing", "withdrawn", "reinforcing", "unknown")
"""Site postures known to the report; others are shown as given with a neutral badge."""

HTML_SUFFIXES = (".html", ".htm")
"""File suffixes :func:`write_report` writes."""

TOP_INDICATORS = 3
"""Indicators shown per site in the summary table."""

CLEAR_FRACTION_CONCLUSIVE = 0.5
"""Clear fraction below which an observation without a ``conclusive`` key is not conclusive."""

_SENSOR_STYLE = {
    "sentinel-1": ("#1f77b4", "o"),
    "sentinel-2": ("#2ca02c", "s"),
    "highres": ("#9467bd", "^"),
}
_OTHER_STYLES = (("#8c564b", "D"), ("#e377c2", "v"), ("#17becf", "P"), ("#7f7f7f", "X"))
_SIGNIFICANT_COLOUR = "#c0392b"
_CHANGE_COLOUR = "#f39c12"
_EXPECTED_COLOUR = "#555555"


@dataclass(frozen=True, kw_only=True)
class _Point:
    """One observation ready to plot."""

    time: datetime
    """Acquisition time (UTC)."""
    sensor: str
    """Sensor name as given."""
    value: float | None
    """Observed value, None when the chip was unusable."""
    expected: float | None
    """Expected level from the zone's baseline."""
    conclusive: bool
    """Whether the observation can support a judgement (clear enough)."""
    significant: bool
    """Whether it departs significantly from the expected level."""
    detector: str = ""
    """Detector name (a series is one sensor and detector)."""
    clear: float | None = None
    """Clear fraction of the zone in the image (0-1)."""
    usual: tuple[float, float] | None = None
    """Counts that would not have been significant against the baseline (the band)."""


# --------------------------------------------------------------------------- public API


def render_report(
    assessment: Mapping[str, Any],
    *,
    sites: Sequence[Site] | None = None,
    title: str = "basewatch report",
    evidence: Sequence[Mapping[str, Any]] | None = None,
    flights: Mapping[str, Sequence[tuple[date, int]]] | None = None,
    simulated: bool = False,
    home_url: str | None = None,
    site_maps: Mapping[str, Mapping[str, Any]] | None = None,
    static_url: str = "/static",
    chips: Mapping[str, Mapping[str, Sequence[Mapping[str, str]]]] | None = None,
    survey: Mapping[str, Any] | None = None,
    inline_assets: bool = True,
) -> str:
    """Render ``assessment`` as a complete, self-contained HTML page.

    ``sites`` (registry :class:`~basewatch.sites.Site` objects) add names, kinds,
    operators, coordinates and sources to the sections of the sites they match; registry
    sites without an assessment are listed as such. The page has a summary table, one
    section per site with its indicators and, per zone, its status and judgement, a
    zoomable time-series chart (vendored uPlot) and a table of changes, a "method and
    limits" section and the generation and as-of times. It loads nothing from the network.

    ``evidence`` (store evidence entries: ``site_id, time, source, url, claim, kind`` and
    the grade)
    adds an evidence table to each site; ``flights`` (site id -> ``(day, heavy
    departures)`` records, as from :mod:`basewatch.context.tracks`) a chart of flight activity per
    day. ``simulated`` (or ``assessment["imagery"] == "simulated"``, which the demo
    sets) puts a notice at the top saying that the imagery is simulated. ``home_url`` adds
    a link back to the dashboard's overview. ``site_maps`` (site id -> the data of
    :func:`basewatch.report.maps.site_map`: GeoJSON layers and georeferenced image
    overlays) adds a Leaflet map per site; with ``inline_assets`` the vendored Leaflet
    JavaScript and CSS are copied into the page (the offline report), otherwise they are
    loaded from ``static_url`` (the dashboard). ``chips`` (site -> zone -> ``[{"caption",
    "uri"}]``, ``uri`` a ``data:`` PNG) adds image chips to each zone (before/after a
    change, detections outlined). ``survey`` (:func:`basewatch.context.survey.survey_stats` or
    :func:`~basewatch.context.survey.compare_stats`) adds the survey statistics of the registry.

    Raises :class:`~basewatch.errors.InputError` when ``assessment`` is not a mapping
    with a ``sites`` list.
    """
    site_dicts = _assessment_sites(assessment)
    registry = {s.id: s for s in sites or ()}
    views = [
        _site_view(i, raw, registry.get(str(raw.get("site_id", ""))))
        for i, raw in enumerate(site_dicts)
    ]
    for view, raw in zip(views, site_dicts, strict=True):
        from basewatch.report.context_view import (
            corridor_view,
            flight_view,
            split_flight_evidence,
        )

        view["evidence"], flight_rows = split_flight_evidence(
            _evidence_rows(evidence, view["site_id"])
        )
        view["flight_view"] = flight_view(
            raw.get("flights"), flight_rows, salt=f"{view['site_id']}/flight-classes"
        )
        view["corridor"] = corridor_view(raw.get("corridor"))
        view["map_data"] = (site_maps or {}).get(view["site_id"])
        view["map_front"], view["exposure"] = _exposure_rows(view["map_data"])
        for zone in view["zones"]:
            zone["chips"] = list((chips or {}).get(view["site_id"], {}).get(zone["zone_id"], []))
        view["flights_svg"] = _flights_svg(
            (flights or {}).get(view["site_id"]), salt=f"{view['site_id']}/flights"
        )
    assessed = {v["site_id"] for v in views}
    unassessed = [s.name or s.id for s in sites or () if s.id not in assessed]
    any_map = any(v["map_data"] for v in views)
    any_chart = any(z["chart"] for v in views for z in v["zones"])
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title,
        generated=_format_time(assessment.get("generated")) or _format_time(datetime.now(UTC)),
        as_of=_format_time(assessment.get("as_of")),
        sites=views,
        unassessed=unassessed,
        postures=POSTURES,
        clear_threshold=CLEAR_FRACTION_CONCLUSIVE,
        simulated=simulated or is_simulated(assessment),
        home_url=home_url,
        any_map=any_map,
        any_front=any(v["map_front"] for v in views),
        static_url=static_url,
        leaflet=_leaflet_assets() if any_map and inline_assets else None,
        any_chart=any_chart,
        scripts=_script_assets() if inline_assets else None,
        survey=_survey_view(survey),
    )


def is_simulated(assessment: Mapping[str, Any]) -> bool:
    """Whether ``assessment`` says explicitly that its imagery is simulated.

    The demo marks its assessments with ``"imagery": "simulated"``; nothing is guessed
    from site names or scene ids.
    """
    return isinstance(assessment, Mapping) and assessment.get("imagery") == "simulated"


def render_overview(
    sites: Sequence[Mapping[str, Any]],
    *,
    generated: Any = None,
    simulated: bool = False,
    title: str = "basewatch dashboard",
    map_data: Mapping[str, Any] | None = None,
    static_url: str = "/static",
) -> str:
    """The dashboard's overview page: one row per site (``id, name, kind, operator,
    country, lon, lat, zones, posture, confidence, href``) with its posture badge.

    ``map_data`` (a GeoJSON FeatureCollection of site points and zone polygons whose
    properties carry ``role``, ``id``, ``name``, ``posture`` and ``href``) adds a Leaflet
    map, loaded from ``static_url`` (the vendored copy served by ``basewatch serve``),
    without any tiles: sites coloured by posture with a legend, over the shipped regional
    context layer (land, borders, places; :mod:`basewatch.report.basemap`).
    """
    rows = [
        {
            **site,
            "posture_class": site.get("posture") if site.get("posture") in POSTURES else "unknown",
            "confidence_text": _format_fraction(site.get("confidence")),
            "location": _format_location(site.get("lon"), site.get("lat")),
        }
        for site in sites
    ]
    return (
        _environment()
        .get_template("dashboard.html.j2")
        .render(
            title=title,
            sites=rows,
            generated=_format_time(generated),
            simulated=simulated,
            map_data=_with_context(map_data),
            static_url=static_url,
        )
    )


def render_timeline(
    site: Site,
    zone_id: str,
    observations: Sequence[Any],
    *,
    assessed_zone: Mapping[str, Any] | None = None,
    chip_url: Any = None,
    date: str | None = None,
    sensor: str | None = None,
    compare: str | None = None,
    simulated: bool = False,
    static_url: str = "/static",
) -> str:
    """The dashboard's zone timeline: every stored observation of one zone, one at a time.

    ``observations`` are the zone's stored :class:`~basewatch.observe.Observation` records
    (any order); ``assessed_zone`` the zone's entry in the latest assessment, whose
    per-observation judgement (expected level, usual range, p-value, significance) is shown
    beside each count, matched by scene, sensor and detector. ``chip_url(obs)`` gives the
    URL of an observation's chip PNG (boxes: its detections). ``date`` (``YYYY-MM-DD`` or an
    ISO time) selects the first observation of that day, ``sensor`` restricts the stepping
    to one sensor and ``compare`` (a date) shows a second observation of the same sensor
    beside it; a date without an observation selects the nearest one and says so.
    """
    judged: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for raw in _as_list((assessed_zone or {}).get("observations")):
        if isinstance(raw, Mapping):
            key = (str(raw.get("scene_id")), str(raw.get("sensor")), str(raw.get("detector")))
            judged[key] = raw
    metric = str((assessed_zone or {}).get("metric") or "")
    rows = []
    for obs in sorted(observations, key=lambda o: (o.time, o.sensor, o.scene_id)):
        metric = metric or obs.metric
        raw = judged.get((obs.scene_id, obs.sensor, obs.detector), {})
        rows.append(
            {
                "scene_id": obs.scene_id,
                "iso": f"{obs.time.astimezone(UTC):%Y-%m-%dT%H:%M}",
                "date": f"{obs.time.astimezone(UTC):%Y-%m-%d}",
                "when": _format_time(obs.time),
                "sensor": obs.sensor,
                "clear_text": _format_fraction(obs.clear_fraction),
                "count_text": _count_text(obs.value) if obs.value is not None else "no count",
                "n_detections": len(obs.detections),
                "detector_text": f"{obs.detector} {obs.detector_version}".strip(),
                "judgement": _observation_judgement(obs, raw),
                "significant": bool(raw.get("significant")),
                "png": chip_url(obs) if chip_url else "",
            }
        )
    notice = ""
    selected = 0
    sensors = sorted({r["sensor"] for r in rows})
    if sensor and sensor not in sensors:
        notice = f"sensor {sensor!r} has no observation of this zone; sensors: {', '.join(sensors)}"
        sensor = None
    pool = [i for i, r in enumerate(rows) if not sensor or r["sensor"] == sensor]
    if rows and date:
        selected, missing = _nearest(rows, pool, date)
        if missing:
            notice = missing
    elif pool:
        selected = pool[-1]
    compared = None
    if rows and compare:
        same = [i for i, r in enumerate(rows) if r["sensor"] == rows[selected]["sensor"]]
        compared, missing = _nearest(rows, same, compare)
        if missing:
            notice = (notice + " " if notice else "") + missing
        if compared == selected:
            compared = None
    metric_label = (metric or "count").replace("_", " ")
    return (
        _environment()
        .get_template("timeline.html.j2")
        .render(
            title=f"basewatch: {site.name or site.id} / {zone_id}",
            site_name=site.name or site.id,
            site_url=f"/sites/{_quote(site.id)}",
            zone_id=zone_id,
            zone_name=next((z.name for z in site.zones if z.id == zone_id), ""),
            metric_label=metric_label,
            observations=rows,
            sensors=sensors,
            sensor=sensor or "",
            selected=selected,
            compared=compared,
            notice=notice,
            simulated=simulated,
            static_url=static_url,
            state={
                "zone_id": zone_id,
                "observations": rows,
                "selected": selected,
                "compared": compared,
                "sensor": sensor or "",
            },
        )
    )


def _quote(text: str) -> str:
    """``text`` quoted for one URL path segment."""
    from urllib.parse import quote

    return quote(text, safe="")


def _observation_judgement(obs: Any, raw: Mapping[str, Any]) -> str:
    """What the assessment said of one observation (from its fields), or why there is none."""
    if obs.value is None:
        return "no count: " + (", ".join(obs.flags) or "not observed")
    if not raw:
        return "not in the latest assessment"
    parts = []
    if raw.get("expected") is not None:
        parts.append(f"expected {_count_text(raw.get('expected'))}")
    usual = _range(raw.get("usual"))
    if usual is not None:
        parts.append(f"usual {_count_text(usual[0])}–{_count_text(usual[1])}")
    if raw.get("p_value") is not None:
        parts.append(_p_text(raw.get("p_value")))
    verdict = "significant" if raw.get("significant") else str(raw.get("reason") or "")
    if raw.get("conclusive") is False:
        verdict = "not conclusive" + (f" ({raw.get('reason')})" if raw.get("reason") else "")
    return "; ".join([p for p in [verdict, ", ".join(parts)] if p])


def _nearest(rows: list[dict[str, Any]], pool: list[int], when: str) -> tuple[int, str]:
    """Index in ``pool`` of the first observation on ``when``'s day (or at that minute), else
    the nearest one, with a notice saying so ('' when found)."""
    moment = _parse_time(when)
    if moment is None:
        return (pool[-1] if pool else 0), f"date {when!r} is not a date (YYYY-MM-DD); latest shown"
    if not pool:
        return 0, ""
    exact = [i for i in pool if rows[i]["iso"] == f"{moment:%Y-%m-%dT%H:%M}"]
    same_day = [i for i in pool if rows[i]["date"] == f"{moment:%Y-%m-%d}"]
    if exact or same_day:
        return (exact or same_day)[0], ""
    best = min(pool, key=lambda i: abs((_parse_time(rows[i]["iso"]) or moment) - moment))
    return best, f"no observation on {moment:%Y-%m-%d}; the nearest is {rows[best]['when']}"


OVERVIEW_MARGIN = 2.0
"""The overview map's context reaches this share of its sites' extent beyond it (wide maps)."""


def _with_context(map_data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The overview map's data with the regional context layer around its features."""
    if not map_data or not map_data.get("features"):
        return None
    if "context" in map_data:
        return dict(map_data)
    from basewatch.report.maps import context_layer

    features = list(map_data["features"])
    return {**map_data, "context": context_layer(features, margin=OVERVIEW_MARGIN)}


def write_report(
    assessment: Mapping[str, Any],
    out: Path,
    *,
    sites: Sequence[Site] | None = None,
    title: str = "basewatch report",
    evidence: Sequence[Mapping[str, Any]] | None = None,
    flights: Mapping[str, Sequence[tuple[date, int]]] | None = None,
    simulated: bool = False,
    chips: Mapping[str, Mapping[str, Sequence[Mapping[str, str]]]] | None = None,
    site_maps: Mapping[str, Mapping[str, Any]] | None = None,
    survey: Mapping[str, Any] | None = None,
) -> Path:
    """Render ``assessment`` and write it to ``out`` (``.html``/``.htm``); return ``out``.

    The file is written atomically (a temporary file renamed into place); missing parent
    folders are created. A ``.pdf`` path raises :class:`~basewatch.errors.InputError`
    (write the HTML, then :func:`basewatch.report.pdf.html_to_pdf`), and so does a path
    that cannot be written. Other arguments as in :func:`render_report`.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        raise InputError(
            f"report path {str(out)!r}: the report itself is HTML; name it .html and "
            "ask for the PDF with --pdf FILE (basewatch.report.html_to_pdf)"
        )
    if suffix not in HTML_SUFFIXES:
        raise InputError(
            f"report path {str(out)!r} has suffix {suffix or '(none)'!r}; "
            "name the report file with .html"
        )
    page = render_report(
        assessment,
        sites=sites,
        title=title,
        evidence=evidence,
        flights=flights,
        simulated=simulated,
        chips=chips,
        site_maps=site_maps,
        survey=survey,
        inline_assets=True,
    )
    try:
        _write_atomically(out, page)
    except OSError as err:
        raise cannot_write(Path(out), err) from err
    return out


def _write_atomically(out: Path, text: str) -> None:
    """Write ``text`` to a temporary file next to ``out`` and rename it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is meant to be shared
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- views

LEAFLET_IMAGES = re.compile(r"url\((images/[A-Za-z0-9_.-]+\.png)\)")
"""Image references in the vendored ``leaflet.css``."""


@lru_cache(maxsize=1)
def _leaflet_assets() -> dict[str, Markup]:
    """The vendored Leaflet JavaScript and CSS (its images as ``data:`` URIs) for inlining."""
    import base64
    from importlib import resources

    root = resources.files("basewatch") / "web" / "static" / "leaflet"
    css = (root / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        png = (root / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode('ascii')})"

    script = (root / "leaflet.js").read_text(encoding="utf-8")
    if "</script" in script.lower():
        raise RuntimeError("the vendored leaflet.js cannot be inlined (it contains '</script')")
    return {"css": Markup(LEAFLET_IMAGES.sub(inline, css)), "js": Markup(script)}


@lru_cache(maxsize=1)
def _script_assets() -> dict[str, Markup]:
    """The vendored uPlot and basewatch's chart and map scripts, for inlining in the report."""
    from importlib import resources

    root = resources.files("basewatch") / "web" / "static"
    out = {
        "uplot_css": (root / "uplot" / "uPlot.min.css").read_text(encoding="utf-8"),
        "uplot_js": (root / "uplot" / "uPlot.iife.min.js").read_text(encoding="utf-8"),
        "chart_js": (root / "bwchart.js").read_text(encoding="utf-8"),
        "map_js": (root / "bwmap.js").read_text(encoding="utf-8"),
    }
    for name, text in out.items():
        if "</script" in text.lower() or "</style" in text.lower():
            raise RuntimeError(f"the vendored {name} cannot be inlined (it closes its element)")
    return {name: Markup(text) for name, text in out.items()}


def _exposure_rows(map_data: Mapping[str, Any] | None) -> tuple[bool, list[dict[str, str]]]:
    """Whether a site map shows fronts, and its distance to each front with what reaches it."""
    if not map_data:
        return False, []
    features = [
        f.get("properties") or {}
        for f in _as_list((map_data.get("features") or {}).get("features"))
        if isinstance(f, Mapping)
    ]
    rows = [
        {
            "date": str(p.get("date") or "—"),
            "km": f"{float(p['distance_km']):.1f} km",
            "weapons": ", ".join(str(w) for w in _as_list(p.get("in_range"))) or "none",
        }
        for p in features
        if p.get("role") == "distance" and _as_float(p.get("distance_km")) is not None
    ]
    return any(p.get("role") == "front" for p in features), sorted(rows, key=lambda r: r["date"])


def _survey_view(stats: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Rows of the survey statistics (with the change against an earlier survey, if any)."""
    if not stats:
        return None
    change = stats.get("change") or {}

    def delta(section: str, key: str) -> str:
        value = (change.get(section) or {}).get(key)
        return "" if value is None else f"{int(value):+d}"

    operators = dict(stats.get("by_operator") or {})
    for gone in change.get("by_operator") or {}:
        operators.setdefault(gone, 0)
    kinds = dict(stats.get("by_kind") or {})
    for gone in change.get("by_kind") or {}:
        kinds.setdefault(gone, 0)
    nested = stats.get("by_operator_kind") or {}
    return {
        "total": int(stats.get("total") or 0),
        "total_change": f"{int(change['total']):+d}" if "total" in change else "",
        "compared": bool(change),
        "operators": [
            {
                "name": str(op),
                "count": int(n),
                "change": delta("by_operator", op),
                "kinds": ", ".join(
                    f"{str(k).replace('_', ' ')} {m}" for k, m in (nested.get(op) or {}).items()
                ),
            }
            for op, n in operators.items()
        ],
        "kinds": [
            {"name": str(k).replace("_", " "), "count": int(n), "change": delta("by_kind", k)}
            for k, n in kinds.items()
        ],
    }


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """The Jinja2 environment: package templates, autoescape on, strict undefined."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("basewatch.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _assessment_sites(assessment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The assessment's site entries, checked to be mappings."""
    if not isinstance(assessment, Mapping):
        raise InputError(
            f"assessment must be a dict (assessment.json), got {type(assessment).__name__}; "
            "load it with json.load"
        )
    raw_sites = assessment.get("sites", [])
    if not isinstance(raw_sites, list) or not all(isinstance(s, Mapping) for s in raw_sites):
        raise InputError(
            "assessment['sites'] must be a list of site objects; "
            "check the file is an assessment.json written by 'basewatch assess'"
        )
    return raw_sites


def _site_view(index: int, raw: Mapping[str, Any], site: Site | None) -> dict[str, Any]:
    """Template data for one assessed site."""
    site_id = str(raw.get("site_id") or (site.id if site else f"site-{index + 1}"))
    posture = str(raw.get("posture") or "unknown")
    indicators = [str(i) for i in _as_list(raw.get("indicators"))]
    zones = [
        _zone_view(site_id, z, site) for z in _as_list(raw.get("zones")) if isinstance(z, Mapping)
    ]
    return {
        "site_id": site_id,
        "anchor": f"site-{index + 1}-{_slug(site_id)}",
        "name": str(raw.get("name") or (site.name if site else "") or site_id),
        "posture": posture,
        "posture_class": posture if posture in POSTURES else "unknown",
        "confidence": _format_fraction(raw.get("confidence")),
        "indicators": indicators,
        "top_indicators": indicators[:TOP_INDICATORS],
        "more_indicators": max(0, len(indicators) - TOP_INDICATORS),
        "meta": _site_meta(site),
        "sources": [str(s) for s in _as_list(site.properties.get("sources"))] if site else [],
        "zones": zones,
        "latest": _format_time(max((z["latest"] for z in zones if z["latest"]), default=None)),
    }


def _site_meta(site: Site | None) -> list[tuple[str, str]]:
    """(label, value) pairs describing a registry site."""
    if site is None:
        return []
    lon, lat = site.point
    pairs = [
        ("kind", site.kind.replace("_", " ")),
        ("operator", site.operator),
        ("country", site.country),
        ("location", _format_location(lon, lat)),
    ]
    return [(label, value) for label, value in pairs if value]


def _zone_view(site_id: str, raw: Mapping[str, Any], site: Site | None) -> dict[str, Any]:
    """Template data for one zone: judgement, chart data, change rows and counts.

    Every number shown comes from the zone's ``assessment.json`` fields through one function
    per concept: :func:`_count_text` for counts, :func:`_p_text` for p-values (the
    function the indicator sentences use), :func:`_change_row` for a change (the header's
    headline and the table rows are the same dicts).
    """
    zone_id = str(raw.get("zone_id") or "zone")
    metric = str(raw.get("metric") or "value")
    points = _points(raw.get("observations"))
    status = str(raw.get("status") or "")
    changes = [
        _change_row(c, metric=metric, zone_status=status)
        for c in _as_list(raw.get("changes"))
        if isinstance(c, Mapping)
    ]
    usable = [p for p in points if p.value is not None]
    significant_changes = [c for c in changes if c["is_significant"]]
    return {
        "zone_id": zone_id,
        "anchor": _slug(zone_id),
        "name": _zone_name(site, zone_id) or str(raw.get("name") or ""),
        "metric": metric,
        "metric_label": metric.replace("_", " "),
        "status": status or "unknown",
        "summary": str(raw.get("summary") or ""),
        "chart": _chart_data(points, raw.get("changes"), metric=metric),
        "changes": changes,
        "n_changes": len(changes),
        "n_significant_changes": len(significant_changes),
        "headline": significant_changes[-1] if significant_changes else None,
        "agreement": _sensor_agreement(points),
        "n_observations": sum(isinstance(o, Mapping) for o in _as_list(raw.get("observations"))),
        "n_usable": len(usable),
        "n_conclusive": sum(p.conclusive for p in usable),
        "n_outside": sum(p.significant for p in usable),
        "latest": max((p.time for p in usable), default=None),
        "latest_text": _format_time(max((p.time for p in usable), default=None)),
        "latest_value": _count_text(max(usable, key=lambda p: p.time).value) if usable else "",
    }


def _zone_name(site: Site | None, zone_id: str) -> str:
    """The registry name of a zone, '' when unknown."""
    if site is None:
        return ""
    for zone in site.zones:
        if zone.id == zone_id:
            return zone.name
    return ""


def _count_text(value: Any) -> str:
    """A count as the indicator sentences write it (``13``, ``5.5``); '—' when missing."""
    from basewatch.analysis.posture import fmt_count

    number = _as_float(value)
    return "—" if number is None else fmt_count(number)


def _p_text(value: Any) -> str:
    """A p-value as the indicator sentences write it (``p = 0.005``, ``p < 0.001``)."""
    from basewatch.analysis.baseline import format_p

    return format_p(_as_float(value))


UNITS = {"ship_count": "vessels", "aircraft_count": "aircraft", "vehicle_count": "vehicles"}
"""Unit of each metric in sentences (as in the indicators)."""

STATUS_COUNTS = ("dropped", "emptied", "rose")
"""Zone statuses that a zone's significant changes drive (see basewatch.analysis.posture)."""


def _change_row(
    raw: Mapping[str, Any], *, metric: str = "value", zone_status: str = ""
) -> dict[str, Any]:
    """Display strings of one change bracket, from its assessment fields only.

    ``effect`` says what the change does to the zone's status, read from the zone's
    ``status``: a significant change of a zone judged ``steady`` did not change it
    (too small, or back to the earlier level: the zone's summary says which).
    """
    direction = str(raw.get("direction") or "")
    arrow = {"down": "↓", "up": "↑"}.get(direction, "")
    significant = bool(raw.get("significant"))
    p = _p_text(raw.get("p_value")) if raw.get("p_value") is not None else ""
    if not significant:
        effect = "not significant: does not change the zone's status"
    elif zone_status in STATUS_COUNTS:
        effect = f"zone {zone_status}"
    elif zone_status:
        effect = f"zone still {zone_status}: see its judgement"
    else:
        effect = ""
    after = _format_time(raw.get("after"), date_only=True) or "—"
    before = _format_time(raw.get("before"), date_only=True) or "—"
    level_from, level_to = _count_text(raw.get("from")), _count_text(raw.get("to"))
    unit = UNITS.get(metric, "objects")
    return {
        "after": after,
        "before": before,
        "direction": f"{arrow} {direction}".strip() or "—",
        "from": level_from,
        "to": level_to,
        "levels": f"{level_from} -> {level_to}",
        "p": p or "—",
        "is_significant": significant,
        "significant": ("yes" if significant else "no") if "significant" in raw else "—",
        "effect": effect,
        "sensors": ", ".join(str(s) for s in _as_list(raw.get("dated_with") or raw.get("sensors"))),
        "sentence": f"{level_from} -> {level_to} {unit} between {after} and {before}"
        + (f" ({p})" if p else ""),
    }


SENSOR_PAIR_HOURS = 36.0
"""Observations of two sensors this close in time are compared with each other."""
SENSOR_PAIRS_MIN = 5
"""Fewest same-time pairs needed to say two sensors disagree systematically."""
SENSOR_SHARE_MIN = 0.75
"""Share of pairs that must differ in the same direction to call it systematic."""


def _sensor_agreement(points: list[_Point]) -> list[dict[str, Any]]:
    """Pairs of sensors whose conclusive counts of the zone differ systematically.

    Each conclusive observation of sensor B is paired with the nearest conclusive one of
    sensor A within :data:`SENSOR_PAIR_HOURS`; a pair of sensors is reported when there
    are at least :data:`SENSOR_PAIRS_MIN` pairs, the median difference is at least one
    object and at least :data:`SENSOR_SHARE_MIN` of the pairs differ in its direction.
    A description of the counts, not a judgement: the assessment judges each sensor's
    series against its own history.
    """
    by_sensor: dict[str, list[_Point]] = {}
    for p in points:
        if p.conclusive and p.value is not None:
            by_sensor.setdefault(p.sensor, []).append(p)
    names = sorted(by_sensor)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diffs = []
            for pb in by_sensor[b]:
                near = min(by_sensor[a], key=lambda pa: abs((pa.time - pb.time).total_seconds()))
                if abs((near.time - pb.time).total_seconds()) <= SENSOR_PAIR_HOURS * 3600:
                    diffs.append(float(pb.value or 0.0) - float(near.value or 0.0))
            if len(diffs) < SENSOR_PAIRS_MIN:
                continue
            median = float(np.median(diffs))
            same = sum(1 for d in diffs if d * median > 0) / len(diffs)
            if abs(median) < 1.0 or same < SENSOR_SHARE_MIN:
                continue
            lower, higher = (b, a) if median < 0 else (a, b)
            out.append(
                {
                    "lower": lower,
                    "higher": higher,
                    "median": abs(median),
                    "pairs": len(diffs),
                    "share": same,
                    "text": f"{lower} counts run {_count_text(abs(median))} below {higher} "
                    f"(median difference of {len(diffs)} observations less than "
                    f"{SENSOR_PAIR_HOURS:g} h apart; lower in {round(100 * same)} % of them). "
                    "Compare levels within one sensor: the assessment judges each sensor "
                    "against its own history.",
                }
            )
    return out


def _points(raw_observations: Any) -> list[_Point]:
    """Observations with a parseable time, sorted by time."""
    points = []
    for raw in _as_list(raw_observations):
        if not isinstance(raw, Mapping):
            continue
        time = _parse_time(raw.get("time"))
        if time is None:
            continue
        value = _as_float(raw.get("value"))
        clear = _as_float(raw.get("clear_fraction"))
        conclusive = raw.get("conclusive")
        if conclusive is None:
            conclusive = clear is None or clear >= CLEAR_FRACTION_CONCLUSIVE
        points.append(
            _Point(
                time=time,
                sensor=str(raw.get("sensor") or "unknown"),
                value=value,
                expected=_as_float(raw.get("expected")),
                conclusive=bool(conclusive) and value is not None,
                significant=bool(raw.get("significant")) and value is not None,
                detector=str(raw.get("detector") or ""),
                clear=clear,
                usual=_range(raw.get("usual")),
            )
        )
    return sorted(points, key=lambda p: p.time)


def _range(raw: Any) -> tuple[float, float] | None:
    """``[low, high]`` as two floats, None when absent or malformed."""
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        return None
    low, high = _as_float(raw[0]), _as_float(raw[1])
    return None if low is None or high is None else (low, high)


def _evidence_rows(
    evidence: Sequence[Mapping[str, Any]] | None, site_id: str
) -> list[dict[str, Any]]:
    """Display values of the evidence entries about ``site_id``, oldest first."""
    keyed: list[tuple[datetime, dict[str, Any]]] = []
    for entry in evidence or ():
        if not isinstance(entry, Mapping) or str(entry.get("site_id")) != site_id:
            continue
        url = str(entry.get("url") or "")
        row = {
            "time": _format_time(entry.get("time")) or "—",
            "source": str(entry.get("source") or ""),
            "kind": str(entry.get("kind") or ""),
            "claim": str(entry.get("claim") or ""),
            "grade": _grade(entry),
            "url": url,
            "linkable": url.startswith(("https://", "http://")),
        }
        keyed.append((_parse_time(entry.get("time")) or datetime.min.replace(tzinfo=UTC), row))
    keyed.sort(key=lambda pair: pair[0])
    return [row for _, row in keyed]


def _grade(entry: Mapping[str, Any]) -> str:
    """The admiralty grade of an evidence entry (``grade``, or ``reliability`` +
    ``credibility`` as the store gives them); '' when ungraded."""
    if entry.get("grade"):
        return str(entry["grade"])
    return f"{entry.get('reliability') or ''}{entry.get('credibility') or ''}"


def _format_location(lon: Any, lat: Any) -> str:
    """``35.4011° N, 35.9486° E``; '' when unknown."""
    x, y = _as_float(lon), _as_float(lat)
    if x is None or y is None:
        return ""
    return f"{abs(y):.4f}° {'N' if y >= 0 else 'S'}, {abs(x):.4f}° {'E' if x >= 0 else 'W'}"


# --------------------------------------------------------------------------- chart


def _flights_svg(records: Sequence[tuple[date, int]] | None, *, salt: str) -> Markup | None:
    """Heavy-transport departures per day as an inline ``<svg>`` bar chart (None if none)."""
    days = sorted((d, int(n)) for d, n in records or () if isinstance(d, date))
    if not days:
        return None
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9}):
        fig = Figure(figsize=(7.6, 2.2), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        when = _x([datetime(d.year, d.month, d.day, 12, tzinfo=UTC) for d, _ in days])
        ax.bar(when, [n for _, n in days], width=0.8, color="#34495e", label="departures")
        locator = AutoDateLocator(minticks=3, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("departures / day")
        ax.grid(True, axis="y", color="#dddddd", lw=0.6)
        ax.spines[["top", "right"]].set_visible(False)
        buffer = io.StringIO()
        fig.savefig(
            buffer,
            format="svg",
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
    return Markup(_inline_svg(buffer.getvalue()))


FOCUS_MARGIN_DAYS = 21.0
"""The focus panel of a chart shows the latest change bracket with this many days each side."""


def _epoch(moment: datetime) -> float:
    """Seconds since 1970 (the x values of the vendored uPlot charts)."""
    return round(moment.timestamp(), 1)


def _chart_data(points: list[_Point], raw_changes: Any, *, metric: str) -> dict[str, Any] | None:
    """The zone's time series as data for the vendored uPlot chart (None without values).

    ``x`` holds every observation time (epoch seconds); each series is aligned on it with
    ``null`` where it has no observation: per sensor its conclusive values (``filled``)
    and its other values (hollow), the observations ringed as significant, and the
    baseline's expected level and ``usual`` band of the main series (the values the
    assessment gives, nothing recomputed). ``changes`` are the brackets with their labels;
    ``focus`` the x range of the latest change with :data:`FOCUS_MARGIN_DAYS` each side
    (None without a change).
    """
    usable = [p for p in points if p.value is not None]
    if not usable:
        return None
    times = sorted({p.time for p in points})
    index = {t: i for i, t in enumerate(times)}
    n = len(times)

    def column(selected: Sequence[_Point], value: Any = None) -> list[float | None]:
        out: list[float | None] = [None] * n
        for p in selected:
            out[index[p.time]] = value(p) if value else p.value
        return out

    series: list[dict[str, Any]] = []
    sensors = sorted({p.sensor for p in usable})
    others = iter(_OTHER_STYLES * (len(sensors) // len(_OTHER_STYLES) + 1))
    for sensor in sensors:
        colour, _marker = _SENSOR_STYLE.get(sensor) or next(others)
        mine = [p for p in usable if p.sensor == sensor]
        series.append(
            {
                "label": sensor,
                "kind": "sensor",
                "colour": colour,
                "values": column([p for p in mine if p.conclusive]),
            }
        )
        hollow = [p for p in mine if not p.conclusive]
        if hollow:
            series.append(
                {
                    "label": f"{sensor} (not conclusive)",
                    "kind": "hollow",
                    "colour": colour,
                    "values": column(hollow),
                }
            )
    marked = [p for p in usable if p.significant]
    if marked:
        series.append(
            {
                "label": "significant",
                "kind": "significant",
                "colour": _SIGNIFICANT_COLOUR,
                "values": column(marked),
            }
        )
    main = _main_series(points)
    band = [p for p in main if p.usual is not None and p.expected is not None]
    if band:
        series.append(
            {
                "label": f"usual range ({main[0].sensor})",
                "kind": "band-high",
                "colour": "#95a5a6",
                "values": column(band, lambda p: p.usual[1]),
            }
        )
        series.append(
            {
                "label": "usual range low",
                "kind": "band-low",
                "colour": "#95a5a6",
                "values": column(band, lambda p: p.usual[0]),
            }
        )
    expected = [p for p in main if p.expected is not None]
    if expected:
        series.append(
            {
                "label": f"expected ({main[0].sensor})",
                "kind": "expected",
                "colour": _EXPECTED_COLOUR,
                "values": column(expected, lambda p: p.expected),
            }
        )
    changes = []
    for raw in _as_list(raw_changes):
        if not isinstance(raw, Mapping):
            continue
        after = _parse_time(raw.get("after_time") or raw.get("after"))
        before = _parse_time(raw.get("before_time") or raw.get("before"))
        if after is None and before is None:
            continue
        row = _change_row(raw, metric=metric)
        changes.append(
            {
                "after": _epoch(after or before),  # type: ignore[arg-type]
                "before": _epoch(before or after),  # type: ignore[arg-type]
                "label": f"{row['levels']}" + (f", {row['p']}" if row["p"] != "—" else ""),
                "significant": row["is_significant"],
            }
        )
    focus = None
    if changes:
        last = max(changes, key=lambda c: c["after"])
        margin = FOCUS_MARGIN_DAYS * 86400
        lo = max(_epoch(times[0]), last["after"] - margin)
        hi = min(_epoch(times[-1]), last["before"] + margin)
        if hi > lo and (lo > _epoch(times[0]) or hi < _epoch(times[-1])):
            focus = [lo, hi]
    return {
        "metric": metric.replace("_", " "),
        "x": [_epoch(t) for t in times],
        "series": series,
        "changes": changes,
        "focus": focus,
        "integer": all(float(p.value or 0).is_integer() for p in usable),
    }


def _main_series(points: list[_Point]) -> list[_Point]:
    """The observations of the series (sensor, detector) with most conclusive values."""
    groups: dict[tuple[str, str], list[_Point]] = {}
    for point in points:
        groups.setdefault((point.sensor, point.detector), []).append(point)
    if not groups:
        return []
    return max(
        groups.values(),
        key=lambda g: (sum(p.conclusive for p in g), len(g), g[0].sensor, g[0].detector),
    )


def _baseline_band(series: list[_Point]) -> list[tuple[datetime, float, float, float]]:
    """``(time, expected, low, high)`` of the baseline behind each observation of ``series``.

    ``[low, high]`` is the observation's ``usual`` range in the assessment: the counts that
    would *not* have been significant, the band a count must leave to be ringed as
    significant, computed by the same judgement (and parameters) as the rings.
    Observations without it (a history shorter than ``min_history``, or an assessment
    written before observations carried ``usual``) get no band.
    """
    return [
        (p.time, p.expected, p.usual[0], p.usual[1])
        for p in series
        if p.usual is not None and p.expected is not None
    ]


def _x(times: Sequence[datetime | None]) -> np.ndarray:
    """Matplotlib date numbers for UTC datetimes."""
    from matplotlib.dates import date2num

    return np.atleast_1d(np.asarray(date2num(list(times)), dtype=float))


def _y(values: Sequence[float | None]) -> np.ndarray:
    """Values as a float array (None as NaN)."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _inline_svg(document: str) -> str:
    """Strip the XML declaration, DOCTYPE and comments so the SVG can sit inside HTML."""
    start = document.find("<svg")
    if start < 0:
        raise RuntimeError("matplotlib produced no <svg> element")
    body = re.sub(r"<!--.*?-->", "", document[start:], flags=re.DOTALL)
    return re.sub(r"\n\s*\n", "\n", body).strip()


def _plain(text: str) -> str:
    """Text for a matplotlib label, with ``$`` escaped so it is never parsed as math."""
    return text.replace("$", r"\$")


# --------------------------------------------------------------------------- formatting


def _as_list(value: Any) -> list[Any]:
    """A list from a list/tuple, [] for anything else (missing keys, None)."""
    return list(value) if isinstance(value, list | tuple) else []


def _as_float(value: Any) -> float | None:
    """A finite float, or None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _parse_time(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from an ISO string, date or datetime; None if invalid."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _format_time(value: Any, *, date_only: bool = False) -> str:
    """``2024-12-03 08:20 UTC`` (or ``2024-12-03``); the input as text when unparseable."""
    moment = _parse_time(value)
    if moment is None:
        return str(value) if isinstance(value, str) else ""
    is_midnight = (moment.hour, moment.minute, moment.second) == (0, 0, 0)
    if date_only and (is_midnight or (isinstance(value, str) and len(value.strip()) <= 10)):
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _format_number(value: Any) -> str:
    """A count without a trailing .0, other numbers to 2 decimals, '—' when missing."""
    number = _as_float(value)
    if number is None:
        return "—"
    return str(int(number)) if number.is_integer() else f"{number:.2f}"


def _format_fraction(value: Any) -> str:
    """A 0-1 fraction as a whole percentage, '—' when missing."""
    number = _as_float(value)
    return "—" if number is None else f"{round(100 * number)} %"


def _yes_no(value: Any) -> str:
    """'yes' / 'no' / '—' for a boolean-ish value."""
    return "—" if value is None else ("yes" if value else "no")


def _slug(text: str) -> str:
    """An HTML id fragment: letters, digits, '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"

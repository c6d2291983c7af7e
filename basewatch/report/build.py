"""The ``basewatch report`` step: store (or assessment file) in, HTML (and PDF) out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from basewatch.errors import InputError, SiteNotFoundError

__all__ = ["BuiltReport", "build_report"]


@dataclass(frozen=True, kw_only=True)
class BuiltReport:
    """What :func:`build_report` wrote."""

    html: Path
    """The self-contained HTML report."""
    pdf: Path | None = None
    """The PDF print of it, when asked for."""
    sites: tuple[str, ...] = ()
    """Ids of the sites in the report."""


def build_report(
    *,
    out: str | Path,
    db: str = "sqlite:///basewatch.db",
    assessment: str | Path | None = None,
    pdf: str | Path | None = None,
    site_ids: Sequence[str] = (),
    tracks: str | Path | None = None,
    simulated: bool = False,
    chromium: str | None = None,
    chips: bool = True,
    fronts: Sequence[str | Path] = (),
    weapons: str | Path | None = None,
    hostile: Sequence[str] = (),
    survey: str | Path | None = None,
    survey_compare: str | Path | None = None,
    aircraft_db: str | Path | None = None,
) -> BuiltReport:
    """Write the HTML report of the store ``db`` to ``out`` (and print it to ``pdf``).

    The assessment is the file ``assessment`` or else the latest one stored in ``db`` (made
    with :func:`basewatch.pipeline.assess` when there is none yet). ``site_ids`` keeps only
    those sites (unknown ids raise :class:`~basewatch.errors.SiteNotFoundError`);
    ``tracks`` (ADS-B state vectors) adds flight activity per day; the evidence ledger
    of the store is always included. ``simulated`` marks the imagery as simulated (the
    assessment's ``"imagery": "simulated"`` does the same). With ``chips`` each zone shows
    a before/after pair of clear image chips with the detections outlined, read again
    from the stored scenes (a scene that cannot be read is left out with a note), and
    each site a map (vendored Leaflet, inlined) of its zones and the detections over the
    latest clear image of each zone.

    ``fronts`` (GeoJSON front lines or control areas, one file per date, read with
    :func:`basewatch.context.threat.load_front`, or the name of a bundled front such as
    ``syria-2024-12-07``; ``hostile`` picks the controllers of areas) add
    the fronts, the distance to them and the range rings of the ``weapons`` catalogue
    (default: the bundled one) to each map. The survey statistics are those of the
    store's registry, or of the registry ``survey`` (a file or bundled name), compared with
    the earlier registry ``survey_compare`` when given.

    With ``tracks``, an airbase whose assessment has no ``flights`` member gets one from
    the tracks (aircraft classified with ``aircraft_db``, OpenSky layout, when given), so the
    report summarises flights by type class instead of listing them.
    """
    from basewatch.context.threat import check_hostile, load_front, load_weapons
    from basewatch.report.html import write_report
    from basewatch.report.pdf import find_chromium, html_to_pdf
    from basewatch.store import open_store, require_contents

    if pdf is not None:
        if Path(pdf).suffix.lower() != ".pdf":
            raise InputError(f"--pdf {str(pdf)!r}: name the PDF file with .pdf")
        find_chromium(chromium)  # fail before any work when Chromium is missing
    from basewatch.report.maps import resolve_front

    loaded_fronts = [load_front(resolve_front(f), hostile=list(hostile)) for f in fronts]
    check_hostile(loaded_fronts, hostile)
    arsenal = load_weapons(weapons) if loaded_fronts else ()
    store = open_store(db, create=False)  # a mistyped --db is an error, never a new store
    try:
        sites = store.sites()
        all_sites = list(sites)
        payload = _read_assessment(Path(assessment)) if assessment else store.latest_assessment()
        evidence = store.evidence()
        if payload is None:  # judging now needs observations: never a report of nothing
            require_contents(store, "observations", command="report")
            from basewatch.pipeline import assess

            payload = assess(db=db)
        if site_ids:
            payload, sites = _select(payload, sites, site_ids, db)
        pictures = _before_after(store, payload, sites) if chips else {}
        maps = _site_maps(store, payload, sites, loaded_fronts, arsenal, images=chips)
        stats = _survey(all_sites, survey, survey_compare)
    finally:
        store.close()
    flights = None
    if tracks:
        from basewatch.context.indicators import flight_context

        flights, flight_ctx = flight_context(tracks, list(sites), aircraft_db=aircraft_db)
        payload = {
            **payload,
            "sites": [
                {**s, "flights": flight_ctx[s["site_id"]]["flights"]}
                if isinstance(s, dict) and "flights" not in s and s.get("site_id") in flight_ctx
                else s
                for s in payload.get("sites", [])
            ],
        }
    html = write_report(
        payload,
        Path(out),
        sites=sites,
        evidence=evidence,
        flights=flights,
        simulated=simulated,
        chips=pictures,
        site_maps=maps,
        survey=stats,
    )
    printed = html_to_pdf(html, Path(pdf), chromium=chromium) if pdf is not None else None
    ids = tuple(str(s.get("site_id")) for s in payload.get("sites", []) if isinstance(s, dict))
    return BuiltReport(html=html, pdf=printed, sites=ids)


def _read_assessment(path: Path) -> dict[str, Any]:
    """An ``assessment.json`` file."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{path}: cannot read the assessment ({exc}); run 'basewatch assess'"
        ) from exc
    if not isinstance(payload, dict):
        what = f"a JSON {type(payload).__name__}"
    elif payload.get("type") in ("FeatureCollection", "Feature"):
        what = "a GeoJSON file, e.g. a sites registry"
    elif not isinstance(payload.get("sites"), list):
        keys = ", ".join(sorted(map(str, payload))[:6]) or "none"
        what = f'no "sites" list; its keys: {keys}'
    elif not payload["sites"]:
        what = "its sites list is empty"
    else:
        bad = next(
            (
                k
                for k, s in enumerate(payload["sites"])
                if not isinstance(s, dict)
                or not isinstance(s.get("site_id"), str)
                or not isinstance(s.get("posture"), str)
            ),
            None,
        )
        if bad is None:
            return payload
        what = f"sites[{bad}] lacks a site_id or a posture"
    raise InputError(
        f"{path}: not an assessment.json ({what}); an assessment holds "
        '{"sites": [{"site_id": ..., "posture": ..., "confidence": ..., "zones": [...]}, ...]} '
        "as written by 'basewatch assess --db URL --out assessment.json'"
    )


def _select(
    payload: dict[str, Any], sites: list[Any], site_ids: Sequence[str], db: str
) -> tuple[dict[str, Any], list[Any]]:
    """The assessment and registry restricted to ``site_ids``."""
    from basewatch.sites import resolve_ids

    site_ids = resolve_ids(site_ids, sites)  # a name or alias gives its site's id
    assessed = {str(s.get("site_id")) for s in payload.get("sites", []) if isinstance(s, dict)}
    known = assessed | {s.id for s in sites}
    missing = [i for i in site_ids if i not in known]
    if missing:
        raise SiteNotFoundError(
            f"--site {', '.join(missing)}: not in the store {db} nor its assessment; "
            f"known sites: {', '.join(sorted(known)) or 'none'}"
        )
    wanted = set(site_ids)
    kept = [
        s for s in payload.get("sites", []) if isinstance(s, dict) and s.get("site_id") in wanted
    ]
    return {**payload, "sites": kept}, [s for s in sites if s.id in wanted]


def _site_maps(
    store: Any,
    payload: dict[str, Any],
    sites: list[Any],
    fronts: Sequence[Any],
    weapons: Sequence[Any],
    *,
    images: bool,
) -> dict[str, dict[str, Any]]:
    """Site id -> map data (zones, detections, fronts, rings, latest clear images)."""
    from basewatch.report.chips import chip_overlay
    from basewatch.report.maps import site_map

    scenes = {r.id: r for r in store.scenes()}
    postures = {
        str(s.get("site_id")): str(s.get("posture") or "unknown")
        for s in payload.get("sites", [])
        if isinstance(s, dict)
    }

    def read(zone: Any, obs: Any) -> Any:
        record = scenes.get(obs.scene_id)
        if record is None:
            from basewatch.errors import ImageryError

            raise ImageryError(f"scene {obs.scene_id} is not in the store")
        return chip_overlay(record, zone)

    return {
        site.id: site_map(
            site,
            store.observations(site_id=site.id),
            read_overlay=read if images else None,
            posture=postures.get(site.id, "unknown"),
            fronts=fronts,
            weapons=weapons,
        )
        for site in sites
    }


def _survey(
    stored: list[Any], survey: str | Path | None, earlier: str | Path | None
) -> dict[str, Any] | None:
    """Survey statistics of the registry ``survey`` (else the stored sites), maybe compared."""
    from basewatch.context.survey import compare_stats, survey_stats
    from basewatch.sites import load_registry

    current = load_registry(str(survey)).sites if survey is not None else stored
    if not current:
        return None
    if earlier is not None:
        return compare_stats(current, load_registry(str(earlier)).sites)
    return survey_stats(current)


CHIP_MIN_CLEAR = 0.9
"""An image shown as a before/after chip must be at least this clear over its zone."""


SENSOR_DETAIL = {"highres": 0, "sentinel-2": 1, "sentinel-1": 2}
"""Sensors by detail (finest first): the tie-break when two sensors bracket a change equally."""


def _before_after(
    store: Any, payload: dict[str, Any], sites: list[Any]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Site -> zone -> two pictures of the same sensor around the zone's latest change.

    The pictures are chosen among the zone's observations in the assessment (at least
    :data:`CHIP_MIN_CLEAR` clear, with a value) by :func:`_pick_pair`; each caption gives
    the sensor, the time, the count *as the assessment has it* and the detector with its
    version, and the boxes drawn are that stored observation's detections (the ones
    counted). Without a change they are the first and the latest clear image of the
    best-observed sensor.
    """
    from basewatch.errors import ImageryError
    from basewatch.report.chips import chip_png, data_uri
    from basewatch.report.html import _count_text, _parse_time

    scenes = {r.id: r for r in store.scenes()}
    zones_of = {
        (str(s.get("site_id")), str(z.get("zone_id"))): z
        for s in payload.get("sites", [])
        if isinstance(s, dict)
        for z in s.get("zones", [])
        if isinstance(z, dict)
    }
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for site in sites:
        for zone in site.zones:
            raw = zones_of.get((site.id, zone.id))
            if raw is None:
                continue
            stored = {
                (o.scene_id, o.sensor, o.detector): o
                for o in store.observations(site_id=site.id, zone_id=zone.id)
            }
            candidates = []
            for o in raw.get("observations") or []:
                if not isinstance(o, dict) or o.get("value") is None:
                    continue
                moment = _parse_time(o.get("time"))
                clear = o.get("clear_fraction")
                if moment is None or not isinstance(clear, int | float) or clear < CHIP_MIN_CLEAR:
                    continue
                if o.get("scene_id") not in scenes:
                    continue
                candidates.append({**o, "_time": moment})
            chosen, note = _pick_pair(candidates, raw.get("changes") or [])
            metric = str(raw.get("metric") or "count").replace("_", " ")
            pictures = []
            for label, obs in chosen:
                record = stored.get((obs["scene_id"], obs["sensor"], obs.get("detector")))
                detections = list(record.detections) if record is not None else []
                version = f" {record.detector_version}" if record is not None else ""
                count = _count_text(obs["value"])
                caption = (
                    f"{label}: {obs['_time']:%Y-%m-%d %H:%M} UTC · {obs['sensor']} · "
                    f"{metric} {count} · detector {obs.get('detector') or '?'}{version}"
                )
                if record is None or len(detections) != obs["value"]:
                    caption += f" ({len(detections)} detection boxes stored for this count)"
                picture = {
                    "caption": caption,
                    "uri": "",
                    "scene_id": obs["scene_id"],
                    "sensor": obs["sensor"],
                    "count": count,
                    "boxes": len(detections),
                    "note": note,
                }
                try:
                    image = chip_png(scenes[obs["scene_id"]], zone, detections)
                except ImageryError as exc:
                    picture["caption"] = f"{caption} (image unavailable: {exc})"
                else:
                    picture["uri"] = data_uri(image.png)
                pictures.append(picture)
            if pictures:
                out.setdefault(site.id, {})[zone.id] = pictures
    return out


def _pick_pair(
    observations: list[dict[str, Any]], changes: list[Any]
) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """The (label, observation) pictures to show and a note on the choice.

    Around the latest significant change (else the latest change): for each sensor, its
    last observation at or before the change's ``after`` time and its first at or after
    ``before``; the sensor whose two counts are nearest the change's levels wins (ties: the
    two images closest in time, then the finer sensor). Without a bracketing pair: the first
    and latest image of the sensor with the most of them. ``observations`` carry a parsed
    ``_time``.
    """
    from basewatch.report.html import _parse_time

    if not observations:
        return [], ""
    by_sensor: dict[str, list[dict[str, Any]]] = {}
    for o in sorted(observations, key=lambda o: o["_time"]):
        by_sensor.setdefault(str(o.get("sensor")), []).append(o)
    brackets = [
        c
        for c in changes
        if isinstance(c, dict) and _parse_time(c.get("after_time") or c.get("after")) is not None
    ]
    significant = [c for c in brackets if c.get("significant")]
    if significant or brackets:
        change = max(
            significant or brackets,
            key=lambda c: _parse_time(c.get("after_time") or c.get("after")) or datetime.min,
        )
        after = _parse_time(change.get("after_time") or change.get("after"))
        before = _parse_time(change.get("before_time") or change.get("before")) or after
        assert after is not None and before is not None  # filtered above
        pairs = []
        for sensor, mine in by_sensor.items():
            old = [o for o in mine if o["_time"] <= after]
            new = [o for o in mine if o["_time"] >= before]
            if old and new:
                misfit = _misfit(old[-1], change.get("from")) + _misfit(new[0], change.get("to"))
                gap = (new[0]["_time"] - old[-1]["_time"]).total_seconds()
                pairs.append((misfit, gap, SENSOR_DETAIL.get(sensor, 9), sensor, old[-1], new[0]))
        if pairs:
            _, _, _, sensor, old_obs, new_obs = min(pairs, key=lambda p: p[:4])
            dated = [str(s) for s in change.get("dated_with") or change.get("sensors") or []]
            others = [s for s in dated if s != sensor]
            note = (
                f"Both chips are {sensor}: its last image at the old level and its first at "
                f"the new one around the change of {change.get('after')} – {change.get('before')}."
            )
            if others:
                note += (
                    f" The change is dated with {', '.join(dated)}; its levels combine them, "
                    f"so {sensor}'s own counts can differ from them."
                )
            return [("before", old_obs), ("after", new_obs)], note
    sensor, mine = max(by_sensor.items(), key=lambda kv: (len(kv[1]), -SENSOR_DETAIL.get(kv[0], 9)))
    if len(mine) == 1:
        return [("only clear image", mine[0])], f"The only clear {sensor} image of the zone."
    return (
        [("first clear image", mine[0]), ("latest clear image", mine[-1])],
        f"Both chips are {sensor}, the sensor with most clear images of the zone.",
    )


def _misfit(observation: dict[str, Any], level: Any) -> float:
    """How far an observation's count is from a change level (0 without a level)."""
    try:
        return abs(float(observation["value"]) - float(level))
    except (TypeError, ValueError):
        return 0.0

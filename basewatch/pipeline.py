"""End-to-end steps (monitor, assess, report, demo) over paths and URLs, for CLI and API."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basewatch.monitor import MonitorParams, MonitorSummary, Progress, parse_day, run_monitor

if TYPE_CHECKING:
    from basewatch.errors import InputError
    from basewatch.imagery.catalog import Scene
    from basewatch.sites import Registry

DEFAULT_DB = "sqlite:///basewatch.db"
"""Store used when none is given."""


def _when(value: str | datetime | None, *, end_of_day: bool = False) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_day(value, end_of_day=end_of_day)


def monitor(
    sites: str | Path,
    catalog: str | Path,
    *,
    db: str = DEFAULT_DB,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    site_ids: list[str] | None = None,
    collections: tuple[str, ...] = (),
    max_cloud: float | None = None,
    workers: int = 1,
    sensor: str | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    scheduler: str | None = None,
    notify: Callable[[str], None] | None = None,
    io_threads: int = 2,
) -> MonitorSummary:
    """Observe every zone of the registry ``sites`` on every scene of ``catalog`` into ``db``.

    Defaults: a static or folder catalogue is searched over its own span (first to last
    scene); a STAC API from one year before ``end`` to ``end``, ``end`` now. Sites without
    zones, a reversed window and a search that finds nothing are errors (the last one says
    what the catalogue covers), raised before the store is touched. ``notify`` receives
    one line each for the window searched, the scenes found and a store created by this run.
    Files of a folder catalogue that cannot be read are counted as failed (with the
    reason) and the run goes on. Chips already stored are
    skipped, failed ones tried again, so an interrupted run can simply be restarted.
    ``sensor`` names the sensor of a folder of GeoTIFFs; ``cache_dir`` caches every loaded
    chip there (by default only chips of remote scenes are cached); ``use_cache=False``
    bypasses the chip cache. ``workers > 1`` observes the chips on a local Dask cluster,
    ``scheduler`` (``tcp://host:port``) on an existing one. ``io_threads`` scenes are read
    at the same time ahead of the detectors in each process (more for high-latency links).
    """
    from basewatch.errors import InputError
    from basewatch.imagery.catalog import (
        CachedCatalog,
        nothing_found,
        open_catalog,
        search_window,
        window_note,
    )
    from basewatch.imagery.load import LoadParams
    from basewatch.monitor import plan
    from basewatch.sites import load_registry, require_zones
    from basewatch.store import open_store

    say = notify or (lambda _line: None)
    if workers < 1:
        raise InputError(f"--workers {workers}: give 1 or more worker processes")
    registry = load_registry(sites).select(site_ids)
    require_zones(registry)
    source = open_catalog(catalog, sensor=sensor)
    start_t, end_t = search_window(source, _when(start), _when(end, end_of_day=True))
    params = MonitorParams(
        start=start_t,
        end=end_t,
        collections=tuple(collections),
        max_cloud=max_cloud,
        workers=workers,
        scheduler=scheduler,
        load=LoadParams(
            cache_dir=Path(cache_dir) if cache_dir else None,
            use_cache=use_cache,
            io_threads=io_threads,
        ),
    )
    searched = CachedCatalog(source)
    n_sites = len(registry)
    say(
        f"searching {source.name} from {start_t:%Y-%m-%d} to {end_t:%Y-%m-%d}"
        f"{window_note(source, start, end)} for {n_sites} site{'s' * (n_sites != 1)}"
    )
    scenes, tasks = plan(registry, searched, params)
    failures = list(getattr(source, "failures", []))
    if not scenes:
        sites_text = ", ".join(s.id for s in registry.sites[:5]) + (", ..." if n_sites > 5 else "")
        error = nothing_found(
            source,
            start=start_t,
            end=end_t,
            where=f"the zones of {sites_text}",
            collections=collections,
            max_cloud=max_cloud,
        )
        if failures:
            raise type(error)(f"{error} ({len(failures)} unreadable file(s), e.g. {failures[0]})")
        raise error
    say(f"found {len(scenes)} scene{'s' * (len(scenes) != 1)}: {len(tasks)} zone x scene chips")
    if not tasks:
        raise no_chips_error(registry, scenes)
    store = open_store(db)
    if store.created:
        say(f"created a new store at {store.url}")
    try:
        summary = run_monitor(registry, searched, store, params, progress=progress)
    finally:
        store.close()
    if failures:
        summary = replace(
            summary,
            failed=summary.failed + len(failures),
            failures=tuple(failures) + summary.failures,
        )
    return summary


def no_chips_error(registry: Registry, scenes: Sequence[Scene]) -> InputError:
    """Why scenes were found but no zone can be observed on them: no detector for the zones'
    targets on the scenes' sensors, or no scene covering a whole zone."""
    from basewatch.errors import InputError
    from basewatch.observe import DETECTOR_PLAN, counted_targets, observable

    targets = sorted({z.target for z in registry.zones()})
    sensors = sorted({s.sensor for s in scenes})
    found = f"{len(scenes)} scene{'s' * (len(scenes) != 1)} ({', '.join(sensors)})"
    if not any(observable(t, s) for t in targets for s in sensors):
        pairs = ", ".join(f"{t} in {s}" for t, s in sorted(DETECTOR_PLAN))
        fix = (
            f"give each zone a 'target' property ({', '.join(counted_targets())})"
            if "any" in targets
            else "search a collection whose sensor counts them (--collection)"
        )
        return InputError(
            f"nothing to observe on the {found}: the zones' targets are {', '.join(targets)}, "
            f"and basewatch counts {pairs}; {fix}"
        )
    return InputError(
        f"nothing to observe: none of the {found} covers a whole zone; check that the "
        "zones lie inside the scenes' footprints (lon/lat order) or search other scenes"
    )


def assess(
    *,
    db: str = DEFAULT_DB,
    site_ids: list[str] | None = None,
    as_of: str | datetime | None = None,
    tracks: str | Path | None = None,
    out: str | Path | None = None,
    generated: datetime | None = None,
    imagery: str | None = None,
    aircraft_db: str | Path | None = None,
    areas: Sequence[str | Path] = (),
    anchor: str | None = None,
    allies: str | None = None,
    roads: str | Path | None = None,
) -> dict[str, Any]:
    """Judge every site stored in ``db`` and return (and optionally write) ``assessment.json``.

    ``aircraft_db`` (OpenSky ``aircraftDatabase.csv`` layout) classifies the aircraft of
    ``tracks``; each airbase gets a ``flights`` member (heavy transports, military
    departures by direction, routine traffic as numbers). ``areas`` (control-area files or
    bundled names) give each site with an ``anchor`` (registry property, or ``anchor`` for
    all) a ``corridor`` member: its land link per date, the cut and the chokepoints
    (``allies``, ``roads`` as in ``basewatch corridor``).

    A store that does not exist, or holds no sites, is an error
    (:class:`~basewatch.errors.StoreError`) naming ``db`` and what to run first.
    ``as_of`` uses only observations made up to that date; ``tracks`` is an ADS-B state
    vector file whose heavy-transport departures count as an indicator; ``imagery`` (e.g.
    ``"simulated"``) is recorded in the assessment so every output can say so.
    """
    from basewatch.analysis import assess as assess_observations
    from basewatch.store import open_store, require_contents

    if out is not None:
        _check_assessment_path(Path(out), [tracks, aircraft_db, roads, *areas])
    as_of_t = _when(as_of, end_of_day=True)
    store = open_store(db, create=False)  # a mistyped --db must not judge an empty store
    try:
        require_contents(store, "sites", command="assess")
        sites = store.sites()
        if site_ids:
            from basewatch.sites import resolve_ids

            site_ids = resolve_ids(site_ids, sites)  # a name or alias gives its site's id
            known = {s.id for s in sites}
            _check_ids(site_ids, known, db)
            sites = [s for s in sites if s.id in site_ids]
        observations = [
            o for o in store.observations(until=as_of_t) if o.site_id in {s.id for s in sites}
        ]
        from basewatch.context.indicators import corridor_context, flight_context, merge_context

        flights, flight_ctx = (
            flight_context(tracks, sites, aircraft_db=aircraft_db, as_of=as_of_t)
            if tracks
            else (None, {})
        )
        corridor_ctx = (
            corridor_context(
                sites, areas=areas, anchor=anchor, allies=allies, roads=roads, as_of=as_of_t
            )
            if areas
            else {}
        )
        payload = assess_observations(
            observations,
            sites,
            flights=flights,
            as_of=as_of_t,
            generated=generated or datetime.now(UTC).replace(microsecond=0),
            context=merge_context(flight_ctx, corridor_ctx),
        )
        if imagery is not None:
            payload["imagery"] = imagery
        store.save_assessment(payload, as_of=as_of_t)
    finally:
        store.close()
    if out is not None:
        _write_json(Path(out), payload)
    return payload


def _check_ids(site_ids: list[str], known: set[str], db: str) -> None:
    from basewatch.errors import SiteNotFoundError

    missing = [s for s in site_ids if s not in known]
    if missing:
        raise SiteNotFoundError(
            f"{db}: no site {', '.join(missing)} in the store; run 'basewatch monitor' for it "
            f"first (stored sites: {', '.join(sorted(known)) or 'none'})"
        )


def _check_assessment_path(out: Path, inputs: Sequence[str | Path | None]) -> None:
    """Refuse an assessment path that is not ``.json`` (``--out store.db`` replaced the
    store) or that is one of the run's input files (``--out tracks.json``)."""
    from basewatch.errors import InputError
    from basewatch.outputs import refuse_overwriting

    if out.suffix.lower() != ".json":
        raise InputError(
            f"assessment path {str(out)!r} has suffix {out.suffix or '(none)'!r}; name the "
            "assessment file with .json"
        )
    refuse_overwriting([out], inputs)


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    from basewatch.outputs import cannot_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise cannot_write(path, exc) from exc


def report(
    *,
    out: str | Path,
    db: str | None = None,
    assessment: str | Path | None = None,
    pdf: str | Path | None = None,
    site_ids: tuple[str, ...] = (),
    tracks: str | Path | None = None,
    simulated: bool = False,
    fronts: tuple[str | Path, ...] = (),
) -> Path:
    """Write the HTML report (and optionally a PDF) from ``assessment`` or the store's latest.

    When ``db`` holds no assessment yet, one is made first. ``fronts`` (GeoJSON front
    lines, one file per date) add fronts and weapon range rings to the site maps. See
    :func:`basewatch.report.build_report` for what the page holds.
    """
    from basewatch.report import build_report

    built = build_report(
        out=out,
        db=db or DEFAULT_DB,
        assessment=assessment,
        pdf=pdf,
        site_ids=site_ids,
        tracks=tracks,
        simulated=simulated,
        fronts=fronts,
    )
    return built.html


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    """Where the demo wrote its outputs."""

    root: Path
    """Output folder."""
    sites: Path
    """The scenario's registry."""
    catalog: Path
    """The scenario's static STAC catalogue."""
    db: Path | None = None
    """The SQLite store (None with ``build_only``)."""
    assessment: Path | None = None
    """``assessment.json``."""
    report: Path | None = None
    """``report.html``."""
    summary: MonitorSummary | None = None
    """What the monitor did."""


DEMO_FRONTS = ("syria-2024-11-26.geojson", "syria-2024-12-07.geojson")
"""The demo's front lines (approximate, hand-drawn; bundled in ``basewatch/data/fronts``)."""


def demo_fronts() -> tuple[Path, ...]:
    """Paths of the bundled front lines the demo report draws (see their ``source``)."""
    from importlib import resources

    folder = resources.files("basewatch") / "data" / "fronts"
    return tuple(Path(str(folder / name)) for name in DEMO_FRONTS)


DEMO_AREAS, DEMO_ROADS = ("syria-2024",), "syria-2024"
"""The demo's control areas and main highways (approximate, hand-drawn; bundled in
``basewatch/data/fronts/areas`` and ``roads``): the corridor of Khmeimim and Tartus."""

DEMO_START, DEMO_END = "2024-06-01", "2024-12-20"
DEMO_GENERATED = datetime(2024, 12, 21, tzinfo=UTC)
"""The demo's assessments carry a fixed generation time, so their files are reproducible."""


def run_demo(
    out: str | Path = "demo-output",
    *,
    build_only: bool = False,
    n_sites: int = 2,
    workers: int = 1,
    progress: Progress | None = None,
    build_progress: Progress | None = None,
) -> DemoResult:
    """Build the simulated ``syria-2024`` scenario into ``out`` and run the whole pipeline on it."""
    from basewatch.errors import InputError

    if n_sites < 2:
        raise InputError(
            f"--sites {n_sites}: the demo has at least its 2 Syrian sites; give N >= 2"
        )
    from basewatch.scenario import build_scenario

    root = Path(out)
    paths = build_scenario(root, n_sites=n_sites, progress=build_progress)
    if build_only:
        return DemoResult(root=root, sites=paths.sites, catalog=paths.catalog)
    db_path = root / "basewatch.db"
    db = f"sqlite:///{db_path}"
    summary = monitor(
        paths.sites,
        paths.catalog,
        db=db,
        start=DEMO_START,
        end=DEMO_END,
        workers=workers,
        progress=progress,
    )
    assessment_path = root / "assessment.json"
    assess(
        db=db,
        tracks=paths.tracks,
        out=assessment_path,
        generated=DEMO_GENERATED,
        imagery="simulated",
        areas=DEMO_AREAS,
        roads=DEMO_ROADS,
    )
    report_path = report(
        out=root / "report.html", db=db, tracks=paths.tracks, simulated=True, fronts=demo_fronts()
    )
    return DemoResult(
        root=root,
        sites=paths.sites,
        catalog=paths.catalog,
        db=db_path,
        assessment=assessment_path,
        report=report_path,
        summary=summary,
    )

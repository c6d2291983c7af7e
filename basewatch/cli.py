"""The ``basewatch`` command line: parses arguments, calls library functions, prints results."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from basewatch import __version__
from basewatch.context.evidence import KINDS as EVIDENCE_KINDS
from basewatch.errors import BasewatchError

if TYPE_CHECKING:
    from basewatch.imagery.catalog import Scene
    from basewatch.sites import Site, Zone

DB_HELP = "Store URL (sqlite:///path or postgresql+psycopg://...); default sqlite:///basewatch.db."

FROM_OPTION = click.option(
    "--from",
    "start",
    help="First day, YYYY-MM-DD (default: a static or folder catalogue's first scene, "
    "else a year before --to).",
)
"""``--from`` of the commands that search a catalogue (one definition, one help text)."""
TO_OPTION = click.option(
    "--to",
    "end",
    help="Last day, YYYY-MM-DD (default: a static or folder catalogue's last scene, else today).",
)
"""``--to`` of ``scenes search`` and ``monitor``."""


def _n(count: int, singular: str, plural: str | None = None) -> str:
    """``1 site``, ``2 sites`` (``plural`` for irregular nouns)."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _warn(message: str) -> None:
    """One warning line on stderr."""
    click.echo(f"basewatch: warning: {message}", err=True)


def _note(message: str) -> None:
    """One line of information on stderr (what was searched, a store created...)."""
    click.echo(f"basewatch: {message}", err=True)


def _created(store: Any) -> None:
    """Say so when ``store`` was created by this command."""
    if getattr(store, "created", False):
        _note(f"created a new store at {store.url}")


@contextmanager
def _writing_store(db: str) -> Iterator[Any]:
    """The store at ``db`` for a command that writes into it, created when missing (said on
    stderr). When the command fails after all (an unknown site...), a SQLite file this call
    created is removed again: a failed write leaves no empty store behind."""
    from sqlalchemy.engine import make_url

    from basewatch.store import open_store

    store = open_store(db)
    url = make_url(store.url)
    path = None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database))
    try:
        yield store
    except BaseException:
        store.close()
        if store.created and path is not None and not str(path).startswith("file:"):
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
        raise
    finally:
        store.close()
    _created(store)


def _warn_without_zones(reg: Any) -> None:
    """Warn about the sites of ``reg`` that have no zones (monitor would refuse them)."""
    from basewatch.sites import NO_ZONES_FIX

    bare = reg.without_zones()
    if bare:
        shown = ", ".join(bare[:10]) + (f" (and {len(bare) - 10} more)" if len(bare) > 10 else "")
        _warn(
            f"{reg.source}: {_n(len(bare), 'site')} without zones will not be watched "
            f"(monitor refuses them): {shown}; {NO_ZONES_FIX}"
        )


def _warn_uncounted(reg: Any) -> None:
    """Warn about the zones of ``reg`` whose target no detector counts (monitor skips them)."""
    from basewatch.observe import counted_targets

    counted = counted_targets()
    idle = [f"{z.site_id}/{z.id}" for z in reg.zones() if z.target not in counted]
    if idle:
        shown = ", ".join(idle[:10]) + (f" (and {len(idle) - 10} more)" if len(idle) > 10 else "")
        _warn(
            f"{reg.source}: {_n(len(idle), 'zone')} with target 'any' will not be counted "
            f"(no detector counts 'any'; monitor skips them): {shown}; give each zone a "
            f"'target' property: {', '.join(counted)}"
        )


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr, fed by ``callback(done, total)``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="basewatch")
def cli() -> None:
    """Watch military installations through open satellite imagery and open sources."""


# ------------------------------------------------------------------------------ sites


@cli.group()
def sites() -> None:
    """Read, check and convert site registries (GeoJSON, GeoPackage, CSV)."""


@sites.command("list")
@click.argument("registry", default="syria-2024")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def sites_list(registry: str, fmt: str) -> None:
    """List the sites of REGISTRY (a file or a bundled name; default syria-2024)."""
    from basewatch.sites import load_registry

    reg = load_registry(registry)
    if fmt == "json":
        rows = [
            {
                "id": s.id,
                "name": s.name,
                "kind": s.kind,
                "operator": s.operator,
                "country": s.country,
                "lon": s.point[0],
                "lat": s.point[1],
                "zones": [z.id for z in s.zones],
            }
            for s in reg
        ]
        click.echo(json.dumps(rows, indent=1))
        return
    click.echo(f"{'id':<20} {'kind':<12} {'op':<4} {'lon':>9} {'lat':>9}  zones  name")
    for s in reg:
        lon, lat = s.point
        click.echo(
            f"{s.id:<20} {s.kind:<12} {s.operator:<4} {lon:>9.4f} {lat:>9.4f}  "
            f"{len(s.zones):>5}  {s.name}"
        )


@sites.command("show")
@click.argument("registry")
@click.argument("site_id")
def sites_show(registry: str, site_id: str) -> None:
    """Show SITE_ID of REGISTRY with its zones and sources."""
    from basewatch.sites import load_registry

    site = load_registry(registry).site(site_id)
    lon, lat = site.point
    click.echo(f"{site.id}: {site.name}")
    if site_id != site.id:
        click.echo(f"  ({site_id!r} is one of its names)")
    if site.aliases:
        click.echo(f"  also called: {', '.join(site.aliases)}")
    click.echo(
        f"  kind {site.kind}, operator {site.operator or '?'}, country {site.country or '?'}"
    )
    click.echo(f"  at {lat:.4f} N, {lon:.4f} E")
    for src in site.properties.get("sources", []):
        click.echo(f"  source: {src}")
    if not site.zones:
        click.echo("  no zones: nothing here is counted until zones are declared")
    for z in site.zones:
        click.echo(
            f"  zone {z.id}: {z.kind}, counts {z.target}" + (f" ({z.name})" if z.name else "")
        )
        for src in z.properties.get("sources", []):
            click.echo(f"    source: {src}")


@sites.command("validate")
@click.argument("files", nargs=-1, required=True)
def sites_validate(files: tuple[str, ...]) -> None:
    """Check registry FILES; print one line per file, exit 1 if any is invalid."""
    from basewatch.sites import load_registry

    bad = 0
    for f in files:
        try:
            reg = load_registry(f)
        except BasewatchError as exc:
            click.echo(f"invalid: {exc}", err=True)
            bad += 1
            continue
        click.echo(f"ok: {f}: {_n(len(reg), 'site')}, {_n(len(reg.zones()), 'zone')}")
        _warn_without_zones(reg)
        _warn_uncounted(reg)
    if bad:
        sys.exit(1)


@sites.command("import")
@click.argument("source")
@click.option("--out", type=click.Path(path_type=Path), help="Write the registry here (GeoJSON).")
@click.option("--db", help="Also store the sites in this database. " + DB_HELP)
@click.option(
    "--default-zone-radius",
    "radius_m",
    type=click.FloatRange(min=0, min_open=True),
    help="Give every site without zones one zone 'default': a circle of this radius (metres) "
    "around a point site, the outline of a polygon site.",
)
@click.option(
    "--zone-kind",
    default="other",
    show_default=True,
    help="Kind of the default zones (apron, pier, anchorage, air_defence_position, "
    "vehicle_park, other).",
)
@click.option(
    "--zone-target",
    default="any",
    show_default=True,
    help="What the default zones count (aircraft, ship, vehicle, any).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="With --db: store the sites as given even where that deletes stored zones or "
    "moves a stored site by more than 1 km.",
)
def sites_import(
    source: str,
    out: Path | None,
    db: str | None,
    radius_m: float | None,
    zone_kind: str,
    zone_target: str,
    replace: bool,
) -> None:
    """Validate SOURCE (GeoJSON, GeoPackage or CSV); write it as GeoJSON and/or store it."""
    from basewatch.errors import InputError
    from basewatch.sites import load_registry, save_registry, stored_conflicts, with_default_zones

    if out is None and db is None:
        raise InputError(
            "sites import: say where to put the sites: --out FILE.geojson and/or --db URL"
        )
    reg = load_registry(source)
    if radius_m is not None:
        bare = len(reg.without_zones())
        reg = with_default_zones(reg, radius_m=radius_m, kind=zone_kind, target=zone_target)
        _note(f"gave {_n(bare, 'site')} without zones a {radius_m:g} m '{zone_kind}' zone")
    _warn_without_zones(reg)
    _warn_uncounted(reg)
    counts = f"{_n(len(reg), 'site')}, {_n(len(reg.zones()), 'zone')}"
    if out is not None:
        save_registry(reg, out)
        click.echo(f"wrote {out}: {counts}")
    if db is not None:
        with _writing_store(db) as store:
            conflicts = stored_conflicts(store.sites(), reg.sites)
            if conflicts and not replace:
                raise InputError(
                    f"sites import {source} --db {db}: " + "; ".join(conflicts) + ", and their "
                    "stored observations would lose their zone or place; nothing was stored. "
                    "Give the sites with all their zones where they are stored, or --replace "
                    "to store them as given"
                )
            for line in conflicts:
                _warn(f"--replace: {line}")
            store.upsert_sites(reg.sites)
        click.echo(f"stored {counts} in {db}")


@sites.command("export")
@click.argument("registry")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Output file; the suffix picks the format: .geojson, .gpkg or .csv.",
)
def sites_export(registry: str, out: Path) -> None:
    """Write REGISTRY (a file or bundled name) as GeoJSON, GeoPackage or CSV."""
    from basewatch.sites import load_registry, save_registry

    reg = load_registry(registry)
    save_registry(reg, out)
    click.echo(f"wrote {out}: {_n(len(reg), 'site')}, {_n(len(reg.zones()), 'zone')}")


# ------------------------------------------------------------------------------ scenes


@cli.group()
def scenes() -> None:
    """Find imagery in STAC catalogues."""


@scenes.command("search")
@click.option("--sites", "registry", default="syria-2024", show_default=True, help="Registry.")
@click.option("--site", "site_id", required=True, help="Site id.")
@click.option("--zone", "zone_id", help="Only scenes covering this zone.")
@FROM_OPTION
@TO_OPTION
@click.option("--collection", "collections", multiple=True, help="Collection id (repeatable).")
@click.option(
    "--max-cloud",
    type=click.FloatRange(0, 100),
    help="Max scene cloud cover (percent, 0-100, Sentinel-2).",
)
@click.option(
    "--catalog",
    required=True,
    help="earth-search, planetary-computer, a STAC API URL, a catalog.json path/URL, "
    "or a folder of GeoTIFF/COG files.",
)
@click.option(
    "--sensor",
    type=click.Choice(["sentinel-2", "sentinel-1", "highres"]),
    help="Sensor of the files of a GeoTIFF folder --catalog (default: from the band count).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def scenes_search(
    registry: str,
    site_id: str,
    zone_id: str | None,
    start: str | None,
    end: str | None,
    collections: tuple[str, ...],
    max_cloud: float | None,
    catalog: str,
    sensor: str | None,
    fmt: str,
) -> None:
    """List the scenes monitor would read for a site (exits 1 when there are none)."""
    from basewatch.imagery.catalog import nothing_found, open_catalog, search_window, window_note
    from basewatch.monitor import parse_day, zones_bounds
    from basewatch.observe import observable
    from basewatch.sites import load_registry

    site = load_registry(registry).site(site_id)
    zones = [site.zone(zone_id)] if zone_id else list(site.zones)
    bbox = zones_bounds(zones) if zones else site.geometry.bounds
    source = open_catalog(catalog, sensor=sensor)
    first, last = search_window(
        source,
        parse_day(start) if start else None,
        parse_day(end, end_of_day=True) if end else None,
    )
    _note(
        f"searching {source.name} from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
        f"{window_note(source, start, end)} for {site.id}"
        + (f"/{zone_id}" if zone_id else f" ({_n(len(zones), 'zone')})")
    )
    found = source.search(
        bbox=bbox, start=first, end=last, collections=collections or None, max_cloud=max_cloud
    )
    for failure in getattr(source, "failures", []):
        _warn(f"skipped {failure}")
    if not found:
        where = f"{site.id}/{zone_id}" if zone_id else site.id
        raise nothing_found(
            source,
            start=first,
            end=last,
            where=where,
            collections=collections,
            max_cloud=max_cloud,
        )
    rows: list[dict[str, Any]] = [
        {
            "id": s.id,
            "collection": s.collection,
            "sensor": s.sensor,
            "time": s.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "cloud_cover": s.cloud_cover,
            "zones": [
                z.id
                for z in zones
                if observable(z.target, s.sensor) and s.covers(z.geometry.bounds)
            ],
        }
        for s in found
    ]
    if not any(r["zones"] for r in rows):  # monitor would read none of them
        raise _nothing_to_observe(site, zones, found)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        cloud = "" if r["cloud_cover"] is None else f"{r['cloud_cover']:5.1f}%"
        click.echo(
            f"{r['time']}  {r['sensor']:<11} {cloud:>6}  {r['id']}  [{', '.join(r['zones'])}]"
        )
    click.echo(f"{_n(len(rows), 'scene')}", err=True)


def _nothing_to_observe(site: Site, zones: list[Zone], found: list[Scene]) -> BasewatchError:
    """Why ``monitor`` would read none of the scenes ``found`` for ``zones`` of ``site``."""
    from dataclasses import replace

    from basewatch.errors import InputError
    from basewatch.pipeline import no_chips_error
    from basewatch.sites import Registry

    if not zones:
        return InputError(
            f"site {site.id} has no zones, so monitor reads none of the {_n(len(found), 'scene')} "
            "found; give it zones (sites import --default-zone-radius M)"
        )
    return no_chips_error(Registry(sites=(replace(site, zones=tuple(zones)),)), found)


# ------------------------------------------------------------------------------ pipeline


@cli.command()
@click.option("--sites", "registry", required=True, help="Registry file or bundled name.")
@click.option(
    "--catalog",
    required=True,
    help="earth-search, planetary-computer, a STAC API URL, a catalog.json path/URL, "
    "or a folder of GeoTIFF/COG files.",
)
@click.option(
    "--sensor",
    type=click.Choice(["sentinel-2", "sentinel-1", "highres"]),
    help="Sensor of the files of a GeoTIFF folder --catalog (default: from the band count).",
)
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@FROM_OPTION
@TO_OPTION
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable).")
@click.option("--collection", "collections", multiple=True, help="Collection id (repeatable).")
@click.option(
    "--max-cloud",
    type=click.FloatRange(0, 100),
    help="Skip Sentinel-2 scenes cloudier than this (percent, 0-100).",
)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes; more than 1 starts a local Dask cluster on 127.0.0.1.",
)
@click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    help="Run on this existing Dask scheduler's workers instead of a local cluster.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Cache every loaded chip here (default: remote chips in ~/.cache/basewatch).",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the chip cache.")
@click.option(
    "--io-threads",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Scenes read at once ahead of the detectors, per worker (8+ for distant object stores).",
)
def monitor(
    registry: str,
    catalog: str,
    db: str,
    start: str | None,
    end: str | None,
    site_ids: tuple[str, ...],
    collections: tuple[str, ...],
    max_cloud: float | None,
    workers: int,
    scheduler: str | None,
    sensor: str | None,
    cache_dir: Path | None,
    no_cache: bool,
    io_threads: int,
) -> None:
    """Observe every zone on every scene into the store (resumable: rerun to continue)."""
    from basewatch.pipeline import monitor as run

    with _progress("chips") as progress:
        summary = run(
            registry,
            catalog,
            db=db,
            start=start,
            end=end,
            site_ids=list(site_ids),
            collections=collections,
            max_cloud=max_cloud,
            workers=workers,
            sensor=sensor,
            cache_dir=cache_dir,
            use_cache=not no_cache,
            progress=progress,
            scheduler=scheduler,
            notify=_note,
            io_threads=io_threads,
        )
    _print_summary(summary)


def _print_summary(summary: Any) -> None:
    click.echo(
        f"{_n(summary.scenes, 'scene')}, {_n(summary.tasks, 'chip')}: {summary.observed} "
        f"observed, {summary.skipped} already stored, {summary.failed} failed"
    )
    for line in summary.failures[:20]:
        click.echo(f"failed: {line}", err=True)
    if summary.failed > 20:
        click.echo(f"... and {summary.failed - 20} more failures (rerun to retry)", err=True)
    if summary.failed and not summary.observed and not summary.skipped:
        from basewatch.errors import ImageryError

        raise ImageryError(
            f"every chip failed ({summary.failed}), nothing was observed: see the failures "
            "above; fix what they name (an unreachable server, unreadable images, the "
            "catalogue) and rerun"
        )


@cli.command()
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="assessment.json path.")
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable).")
@click.option("--as-of", "as_of", help="Use only what was known on this day (YYYY-MM-DD).")
@click.option("--tracks", type=click.Path(path_type=Path), help="ADS-B state vectors (CSV/JSON).")
@click.option(
    "--aircraft-db",
    "aircraft_db",
    type=click.Path(path_type=Path),
    help="Aircraft database (OpenSky aircraftDatabase.csv layout) classifying the --tracks.",
)
@click.option(
    "--areas",
    multiple=True,
    help="Control areas (GeoJSON or bundled name, repeatable): adds each anchored site's "
    "land corridor (see basewatch corridor).",
)
@click.option("--anchor", help="Anchor LON,LAT or place for every site (default: 'anchor').")
@click.option("--allies", help="Allied actors, comma-separated (default: 'allies').")
@click.option("--roads", help="Road network for the corridor (file or bundled name).")
def assess(
    db: str,
    out: Path,
    site_ids: tuple[str, ...],
    as_of: str | None,
    tracks: Path | None,
    aircraft_db: Path | None,
    areas: tuple[str, ...],
    anchor: str | None,
    allies: str | None,
    roads: str | None,
) -> None:
    """Judge every stored site (posture, changes, indicators) into assessment.json."""
    from basewatch.pipeline import assess as run

    corridor = {"--anchor": anchor, "--allies": allies, "--roads": roads}
    _require_partner(corridor, "--areas", areas, "the control areas of the land corridor")
    _require_partner(
        {"--aircraft-db": aircraft_db}, "--tracks", tracks, "the flights it classifies"
    )

    _check_observed(db, site_ids, as_of)
    payload = run(
        db=db,
        site_ids=list(site_ids),
        as_of=as_of,
        tracks=tracks,
        out=out,
        aircraft_db=aircraft_db,
        areas=areas,
        anchor=anchor,
        allies=allies,
        roads=roads,
    )
    for s in payload.get("sites", []):
        click.echo(f"{s['site_id']}: {s['posture']} (confidence {s['confidence']:.2f})")
        if s.get("corridor"):
            click.echo(f"  {s['corridor']['sentence']}")
    _warn_unobserved(payload, db)
    click.echo(f"wrote {out}")


def _check_observed(db: str, site_ids: tuple[str, ...], as_of: str | None) -> None:
    """Before anything is written: refuse an assess that would judge nothing (a store without
    observations, an ``--as-of`` before every observation of the chosen sites), naming the
    dates the store holds; warn when ``--as-of`` lies after the last observation by more
    than the posture's staleness window (every zone would be 'unknown' for want of a recent
    observation)."""
    from datetime import timedelta

    from basewatch.analysis.posture import PostureParams
    from basewatch.errors import InputError
    from basewatch.monitor import parse_day
    from basewatch.sites import resolve_ids
    from basewatch.store import open_store, require_contents

    cutoff = parse_day(as_of, end_of_day=True) if as_of is not None else None
    store = open_store(db, create=False)
    try:
        require_contents(store, "sites", command="assess")
        require_contents(store, "observations", command="assess")
        ids: list[str] = []
        if site_ids:
            sites = store.sites()
            try:
                ids = resolve_ids(list(site_ids), sites)
            except BasewatchError:
                ids = []
            if not ids or set(ids) - {s.id for s in sites}:
                return  # the assessment itself names the unknown site
        span = store.observation_span(ids)
    finally:
        store.close()
    which = f"observation of {', '.join(ids)}" if ids else "site has an observation"
    if span is None:
        raise InputError(
            f"assess: the store {db} holds no observation of {', '.join(ids)}; run 'basewatch "
            f"monitor --sites REGISTRY --catalog CATALOG --db {db}' for it first"
        )
    first, last = span
    held = f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
    if cutoff is not None and cutoff < first:
        raise InputError(
            f"assess --as-of {as_of}: no {which} up to that day in {db} "
            f"(it holds observations from {held}); give --as-of {first:%Y-%m-%d} or later"
        )
    stale = PostureParams().stale_days
    if cutoff is not None and cutoff - last > timedelta(days=stale):
        _warn(
            f"--as-of {as_of} is {(cutoff - last).days} days after the last observation in "
            f"{db} ({last:%Y-%m-%d}); a zone without a clear observation in the {stale:g} days "
            "before --as-of is 'unknown'; run 'basewatch monitor' for later scenes or give an "
            "earlier --as-of"
        )


def _warn_unobserved(payload: dict[str, Any], db: str) -> None:
    """Warn about the sites of an assessment without a single observation: their 'unknown'
    is no finding, the store simply holds nothing about them (yet)."""
    bare = [
        s["site_id"]
        for s in payload.get("sites", [])
        if not any(z.get("observations") for z in s.get("zones", []))
    ]
    if bare:
        when = f" up to {payload['as_of']}" if payload.get("as_of") else ""
        _warn(
            f"{_n(len(bare), 'site')} without any observation in {db}{when} "
            f"({', '.join(bare)}): 'unknown' means not observed; run 'basewatch monitor "
            f"--sites REGISTRY --catalog CATALOG --db {db}' to observe them"
        )


def _require_partner(given: dict[str, Any], partner: str, partner_value: Any, role: str) -> None:
    """Refuse options that act only together with ``partner`` when it is missing (they would
    be ignored without a word); ``role`` says what the partner gives them."""
    from basewatch.errors import InputError

    named = [name for name, value in given.items() if value]
    if named and not partner_value:
        them = "it" if len(named) == 1 else "them"
        raise InputError(
            f"{' and '.join(named)} {'acts' if len(named) == 1 else 'act'} only with {partner} "
            f"({role}); add {partner} or leave {them} out"
        )


def _front_options(func: Callable[..., None]) -> Callable[..., None]:
    """Options shared by ``report`` and ``serve``: front lines, hostile controllers, weapons."""
    options = [
        click.option(
            "--front",
            "fronts",
            multiple=True,
            type=click.Path(path_type=Path),
            help="GeoJSON front lines / control areas, or a bundled front's name such as "
            "syria-2024-12-07 (repeatable, one per date): maps show distances and range rings.",
        ),
        click.option("--hostile", multiple=True, help="Controller whose areas count as hostile."),
        click.option(
            "--weapons", type=click.Path(path_type=Path), help="Weapons catalogue (YAML)."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option(
    "--assessment",
    type=click.Path(path_type=Path),
    help="Report this assessment.json instead of the store's latest.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="report.html path.")
@click.option(
    "--pdf",
    type=click.Path(path_type=Path),
    help="Also print the report to this PDF file (needs Chromium).",
)
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable).")
@click.option(
    "--tracks",
    type=click.Path(path_type=Path),
    help="ADS-B state vectors (CSV/JSON): adds flight activity per day.",
)
@click.option(
    "--aircraft-db",
    "aircraft_db",
    type=click.Path(path_type=Path),
    help="Aircraft database (OpenSky aircraftDatabase.csv layout) classifying the --tracks.",
)
@_front_options
@click.option("--survey", help="Registry for the survey statistics (default: the stored sites).")
@click.option("--survey-compare", help="Earlier registry to compare the survey with.")
def report(
    db: str,
    assessment: Path | None,
    out: Path,
    pdf: Path | None,
    site_ids: tuple[str, ...],
    tracks: Path | None,
    aircraft_db: Path | None,
    fronts: tuple[Path, ...],
    hostile: tuple[str, ...],
    weapons: Path | None,
    survey: str | None,
    survey_compare: str | None,
) -> None:
    """Write the HTML report (opens offline), optionally printed to PDF."""
    from basewatch.report import build_report

    _require_partner(
        {"--aircraft-db": aircraft_db}, "--tracks", tracks, "the flights it classifies"
    )
    _require_partner(
        {"--hostile": hostile, "--weapons": weapons}, "--front", fronts, "the front they measure"
    )

    built = build_report(
        out=out,
        db=db,
        assessment=assessment,
        pdf=pdf,
        site_ids=site_ids,
        tracks=tracks,
        fronts=fronts,
        hostile=hostile,
        weapons=weapons,
        survey=survey,
        survey_compare=survey_compare,
        aircraft_db=aircraft_db,
    )
    click.echo(f"wrote {built.html}")
    if built.pdf is not None:
        click.echo(f"wrote {built.pdf}")


@cli.group()
def export() -> None:
    """Export stored results."""


@export.command("observations")
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "geojson"]),
    help="Output format (default: from the --out suffix, else csv).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="File (default: stdout); .csv, .json or .geojson.",
)
def export_observations_cmd(db: str, fmt: str | None, out: Path | None) -> None:
    """Export observations, sorted and without wall-clock columns (byte-comparable)."""
    from basewatch.store import export_observations, open_store, require_contents

    fmt = _export_format(fmt, out)
    store = open_store(db, create=False)
    try:
        require_contents(store, "observations", command="export observations")
        text = export_observations(store, fmt)
    finally:
        store.close()
    if out is None:
        click.echo(text, nl=False)
    else:
        _write_text(out, text)
        click.echo(f"wrote {out}", err=True)


def _export_format(fmt: str | None, out: Path | None) -> str:
    """The export format: ``fmt``, else the one ``out``'s suffix names, else csv; a suffix
    that names another format than ``fmt`` is an error (a .json file holding CSV)."""
    from basewatch.errors import InputError

    suffix = out.suffix.lower().lstrip(".") if out is not None else ""
    named = suffix if suffix in ("csv", "json", "geojson") else None
    if fmt is not None and named is not None and named != fmt:
        raise InputError(
            f"--out {out} with --format {fmt}: the file would be named .{named} but hold "
            f"{fmt}; name it .{fmt} or leave out --format"
        )
    return fmt or named or "csv"


def _write_text(out: Path, text: str) -> None:
    """Write ``text`` to ``out``, naming a missing folder or a folder given as the file."""
    from basewatch.errors import InputError

    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name inside it")
    if not out.parent.exists():
        raise InputError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    out.write_text(text, encoding="utf-8")


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Output folder.",
)
@click.option("--build-only", is_flag=True, help="Only build the scenario (imagery, catalogue).")
@click.option(
    "--sites",
    "n_sites",
    type=int,
    default=2,
    show_default=True,
    help="Number of sites (>= 2; extra ones are synthetic, for scale tests).",
)
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
def demo(out: Path, build_only: bool, n_sites: int, workers: int) -> None:
    """Build the simulated syria-2024 scenario and run monitor, assess and report on it."""
    from basewatch.pipeline import run_demo

    with _progress("building scenes") as build, _progress("observing chips") as observe:
        result = run_demo(
            out,
            build_only=build_only,
            n_sites=n_sites,
            workers=workers,
            progress=observe,
            build_progress=build,
        )
    click.echo(f"scenario: {result.sites} and {result.catalog}")
    if result.summary is not None:
        _print_summary(result.summary)
    if result.report is not None:
        click.echo(f"assessment: {result.assessment}")
        click.echo(f"report: {result.report}")
    if result.assessment is not None:
        payload = json.loads(Path(result.assessment).read_text(encoding="utf-8"))
        for s in payload.get("sites", []):
            changes = [
                f"{z['zone_id']} {c['direction']} {c['from']}->{c['to']} "
                f"between {c['after']} and {c['before']}"
                for z in s.get("zones", [])
                for c in z.get("changes", [])
                if c.get("significant")
            ]
            click.echo(
                f"verdict: {s['site_id']}: {s['posture']} (confidence {s['confidence']:.2f})"
                + (f"; {'; '.join(changes)}" if changes else "")
            )


# ------------------------------------------------------------------------------ context
# (exposure, tracks, evidence, sites stats)


@cli.command()
@click.option("--sites", "registry", required=True, help="Registry file or bundled name.")
@click.option(
    "--front",
    "fronts",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="GeoJSON of control areas or front lines, or a bundled front's name such as "
    "syria-2024-12-07 (repeatable: one per date).",
)
@click.option("--weapons", type=click.Path(path_type=Path), help="Weapons YAML (default: bundled).")
@click.option("--hostile", multiple=True, help="Only areas of this controller (repeatable).")
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "geojson"]), default="table")
def exposure(
    registry: str,
    fronts: tuple[Path, ...],
    weapons: Path | None,
    hostile: tuple[str, ...],
    site_ids: tuple[str, ...],
    fmt: str,
) -> None:
    """Geodesic distance of each site to the front and the weapons that reach it."""
    from basewatch.context.threat import (
        check_hostile,
        exposure_geojson,
        exposure_over_time,
        load_front,
        load_weapons,
    )
    from basewatch.report.maps import resolve_front
    from basewatch.sites import load_registry

    reg = load_registry(registry).select(list(site_ids))
    catalogue = load_weapons(weapons)
    loaded = [load_front(resolve_front(f), hostile=list(hostile)) for f in fronts]
    check_hostile(loaded, hostile)
    rows = exposure_over_time(list(reg), loaded, catalogue)
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in rows], indent=1))
    elif fmt == "geojson":
        click.echo(json.dumps(exposure_geojson(rows, catalogue)))
    else:
        click.echo(f"{'front_date':<12} {'site':<16} {'km':>8}  {'controller':<12} in range")
        for r in rows:
            reach = ", ".join(r.in_range) or "-"
            click.echo(
                f"{r.front_date or '-':<12} {r.site_id:<16} {r.distance_km:>8.2f}  "
                f"{r.controller or '-':<12} {reach}"
            )


@cli.command()
@click.option("--sites", "registry", required=True, help="Registry file or bundled name.")
@click.option(
    "--areas",
    "areas",
    multiple=True,
    required=True,
    help="GeoJSON control areas (polygons with actor and date; points with place) or a "
    "bundled name such as syria-2024 (repeatable).",
)
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable).")
@click.option(
    "--anchor",
    help="Where supplies come from: LON,LAT or a place of the areas file (default: each "
    "site's 'anchor' property).",
)
@click.option(
    "--allies",
    help="Actors allied to the sites' operator, comma-separated (default: each site's "
    "'allies' property).",
)
@click.option(
    "--roads",
    help="Road network (GeoPackage, shapefile, GeoJSON, .osm.pbf, or a bundled name such as "
    "syria-2024); default: a cost-distance path over the control areas.",
)
@click.option("--roads-layer", help="Layer of the road file (default: the first; OSM: lines).")
@click.option("--cell-km", type=float, default=2.0, show_default=True, help="Grid cell size.")
@click.option(
    "--choke-radius-km",
    type=float,
    default=15.0,
    show_default=True,
    help="Radius of the area lost with a place when testing chokepoints.",
)
@click.option("--until", help="Only situations up to this date (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "geojson"]), default="table")
def corridor(
    registry: str,
    areas: tuple[str, ...],
    site_ids: tuple[str, ...],
    anchor: str | None,
    allies: str | None,
    roads: str | None,
    roads_layer: str | None,
    cell_km: float,
    choke_radius_km: float,
    until: str | None,
    fmt: str,
) -> None:
    """Whether each site is linked by land to its anchor through friendly areas, per date:
    path length, the date the link was cut, and the chokepoints."""
    from basewatch.context.corridor import (
        corridors,
        load_control_areas,
        parse_allies,
        read_roads,
    )
    from basewatch.context.threat import situation_date
    from basewatch.errors import InputError
    from basewatch.sites import load_registry

    reg = load_registry(registry)
    chosen = list(reg.select(list(site_ids))) if site_ids else list(reg)
    control = load_control_areas(list(areas))
    day, dated = situation_date(until, "--until"), [d for d in control.dates if d]
    if day and dated and day < min(dated):
        raise InputError(
            f"--until {day} lies before the first situation of the areas ({min(dated)}); "
            "give a later day or leave --until out"
        )
    lines = read_roads(roads, layer=roads_layer) if roads else None
    results = corridors(
        chosen,
        control,
        anchor=anchor,
        allies=parse_allies(allies) if allies is not None else None,
        roads=lines,
        until=until,
        cell_km=cell_km,
        choke_radius_km=choke_radius_km,
        skip_without_anchor=not site_ids,
    )
    if not results:
        raise InputError(
            f"{registry}: no site has an 'anchor' property; pass --anchor LON,LAT (or a place "
            "name of the areas file) or --site ID with an anchor"
        )
    left = sorted({s.id for s in chosen} - {r.site_id for r in results})
    if left:
        _note(f"skipped {', '.join(left)}: no 'anchor' property (give --anchor to include them)")
    if fmt == "json":
        click.echo(json.dumps([r.to_json() for r in results], indent=1))
        return
    if fmt == "geojson":
        features = [f for r in results for f in r.geojson()["features"]]
        click.echo(json.dumps({"type": "FeatureCollection", "features": features}))
        return
    click.echo(f"{'date':<11} {'site':<14} {'anchor':<12} {'link':<5} {'km':>6}  chokepoints")
    for r in results:
        for link in r.links:
            chokes = ", ".join(c.label() for c in link.chokepoints[:3])
            if len(link.chokepoints) > 3:
                chokes += f" (+{len(link.chokepoints) - 3})"
            km = f"{link.length_km:6.0f}" if link.length_km is not None else f"{'-':>6}"
            click.echo(
                f"{link.date or '-':<11} {r.site_id:<14} {r.anchor:<12} "
                f"{'yes' if link.linked else 'CUT':<5} {km}  {chokes or link.reason or '-'}"
            )
        click.echo(f"{r.site_id}: {r.sentence()}")


@cli.group()
def tracks() -> None:
    """ADS-B flight tracks: flights, departures and arrivals at watched airfields."""


def _track_options(func: Callable[..., None]) -> Callable[..., None]:
    """Options shared by ``tracks import`` and ``tracks events``."""
    options = [
        click.option(
            "--tracks",
            "files",
            multiple=True,
            required=True,
            type=click.Path(path_type=Path),
            help="ADS-B state vectors: CSV, JSON or JSON.gz (repeatable).",
        ),
        click.option("--sites", "registry", required=True, help="Registry file or bundled name."),
        click.option(
            "--site", "site_ids", multiple=True, help="Only this site (default: see --kinds)."
        ),
        click.option(
            "--kinds",
            default="airbase",
            show_default=True,
            help="Site kinds to look at when no --site is given (comma-separated, e.g. "
            "airbase,other).",
        ),
        click.option(
            "--types",
            "types_csv",
            type=click.Path(path_type=Path),
            help="CSV icao24,type,registration naming the aircraft.",
        ),
        click.option(
            "--aircraft-db",
            "aircraft_db",
            type=click.Path(path_type=Path),
            help="Aircraft database in OpenSky's aircraftDatabase.csv layout (icao24 -> "
            "typecode, operator): classifies heavy transports and military aircraft.",
        ),
        click.option("--radius-km", type=float, default=8.0, show_default=True, help="Geofence."),
        click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _track_events(
    files: tuple[Path, ...],
    registry: str,
    site_ids: tuple[str, ...],
    types_csv: Path | None,
    radius_km: float,
    *,
    kinds: str = "airbase",
    aircraft_db: Path | None = None,
) -> tuple[list[Any], list[Any], dict[str, Any], dict[str, Any] | None]:
    """Read the files (warnings on stderr), split flights, find events at the watched sites
    (saying on stderr which were skipped and why), classify the aircraft."""
    import warnings

    import pandas as pd

    from basewatch.context.aircraft_types import read_aircraft_db
    from basewatch.context.tracks import (
        airfield_events,
        classify_events,
        read_aircraft_types,
        read_states,
        split_flights,
        watched_sites,
        with_types,
    )
    from basewatch.errors import InputError
    from basewatch.sites import load_registry

    reg = load_registry(registry)
    chosen = watched_sites(list(reg), site_ids=site_ids, kinds=kinds.split(","))
    skipped = "; ".join(f"{sid} ({why})" for sid, why in chosen.skipped)
    if not chosen.sites:
        raise InputError(
            f"{registry}: no site to look at ({chosen.rule}); skipped: {skipped or 'none'}; "
            "pass --site ID or --kinds with the kinds of your airfields (e.g. airbase,other)"
        )
    watched = list(chosen.sites)
    _note(
        f"looking at {', '.join(s.id for s in watched)} ({chosen.rule})"
        + (f"; skipped {skipped}; use --site ID or --kinds to add them" if skipped else "")
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        states = pd.concat([read_states(f) for f in files], ignore_index=True)
    for w in caught:
        click.echo(f"basewatch: warning: {w.message}", err=True)
    flights = split_flights(states.drop_duplicates(ignore_index=True))
    types = read_aircraft_types(types_csv) if types_csv else {}
    db = read_aircraft_db(aircraft_db) if aircraft_db else None
    events = with_types(airfield_events(flights, watched, radius_km=radius_km), types)
    events = classify_events(events, db)
    if not events:
        _note(
            f"no departure or arrival at {', '.join(s.id for s in watched)} within "
            f"{radius_km:g} km in {_n(len(flights), 'flight')}"
            + (f" (skipped {skipped})" if skipped else "")
        )
    return flights, events, types, db


@tracks.command("events")
@_track_options
@click.option("--counts", is_flag=True, help="Daily counts per site and type instead of events.")
def tracks_events(
    files: tuple[Path, ...],
    registry: str,
    site_ids: tuple[str, ...],
    kinds: str,
    types_csv: Path | None,
    aircraft_db: Path | None,
    radius_km: float,
    fmt: str,
    counts: bool,
) -> None:
    """Departures and arrivals at airfield sites (or daily counts with --counts).

    Exits with status 1 when no event is found (stderr says which sites were looked at).
    """
    from basewatch.context.tracks import daily_counts, event_record

    _, events, types, _ = _track_events(
        files, registry, site_ids, types_csv, radius_km, kinds=kinds, aircraft_db=aircraft_db
    )
    if not events:
        sys.exit(1)
    if counts:
        rows = daily_counts(events)
        if fmt == "json":
            click.echo(json.dumps(rows, indent=1))
            return
        click.echo(f"{'site':<14} {'day':<11} {'type':<7} {'dep':>4} {'arr':>4}")
        for c in rows:
            click.echo(
                f"{c['site_id']:<14} {c['day']:<11} {c['typecode'] or '?':<7} "
                f"{c['departures']:>4} {c['arrivals']:>4}"
            )
        return
    records = [event_record(e, types) for e in events]
    if fmt == "json":
        click.echo(json.dumps(records, indent=1))
        return
    click.echo(
        f"{'time':<21} {'site':<14} {'event':<10} {'icao24':<7} {'callsign':<9} "
        f"{'type':<6} {'class':<16} {'mil':<4} {'state':<5} dir"
    )
    for r in records:
        click.echo(
            f"{r['time']:<21} {r['site_id']:<14} {r['event']:<10} {r['icao24']:<7} "
            f"{r['callsign'] or '-':<9} {r['typecode'] or '?':<6} {r['type_class']:<16} "
            f"{'yes' if r['military'] else '-':<4} {r['state'] or '?':<5} {r['direction'] or '?'}"
        )


@tracks.command("import")
@_track_options
@click.option("--db", help="Record each event in the evidence ledger of this store. " + DB_HELP)
def tracks_import(
    files: tuple[Path, ...],
    registry: str,
    site_ids: tuple[str, ...],
    kinds: str,
    types_csv: Path | None,
    aircraft_db: Path | None,
    radius_km: float,
    fmt: str,
    db: str | None,
) -> None:
    """Read tracks, list flights with their events; with --db, add events as evidence."""
    from basewatch.context.tracks import flight_summaries

    flights, events, types, aircraft = _track_events(
        files, registry, site_ids, types_csv, radius_km, kinds=kinds, aircraft_db=aircraft_db
    )
    rows = flight_summaries(flights, events, types, aircraft)
    stored = new = 0
    if db:
        from basewatch.context.evidence import add_flight_events, check_sites
        from basewatch.errors import InputError

        with _writing_store(db) as store:
            if not store.sites():
                raise InputError(
                    f"--db {db} holds no sites, and flight events are filed under stored "
                    f"sites: store them first with 'basewatch sites import {registry} --db {db}'"
                )
            check_sites(store, {e.site_id for e in events})  # the dashboard shows stored sites
            before = len(store.evidence())
            stored = add_flight_events(store, events, source=", ".join(f.name for f in files))
            new = len(store.evidence()) - before
    if fmt == "json":
        summary = {"flights": rows, "events": len(events), "stored": stored, "new": new}
        click.echo(json.dumps(summary, indent=1))
        return
    click.echo(
        f"{'icao24':<7} {'callsign':<9} {'type':<6} {'class':<16} {'start':<21} {'end':<21} events"
    )
    for r in rows:
        click.echo(
            f"{r['icao24']:<7} {r['callsign'] or '-':<9} {r['typecode'] or '?':<6} "
            f"{r['type_class']:<16} {r['start']:<21} {r['end']:<21} {' '.join(r['events']) or '-'}"
        )
    filed = f", {stored} stored ({new} new, {stored - new} already in the ledger)" if db else ""
    click.echo(f"{len(rows)} flights, {len(events)} events{filed}")


@cli.group()
def evidence() -> None:
    """The evidence ledger: graded, cited claims about sites."""


def _known_sites(registry: str | None) -> list[str] | None:
    """Site ids of REGISTRY, or None when no registry is given."""
    if registry is None:
        return None
    from basewatch.sites import load_registry

    return [s.id for s in load_registry(registry)]


@evidence.command("add")
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option("--site", "site_id", required=True, help="Site id.")
@click.option("--time", "when", required=True, help="When (ISO 8601, e.g. 2024-12-03T08:20Z).")
@click.option("--source", required=True, help="Source name (outlet, account, agency).")
@click.option("--url", default="", help="Where to read it.")
@click.option("--kind", required=True, type=click.Choice(EVIDENCE_KINDS))
@click.option("--claim", required=True, help="What the source says.")
@click.option("--grade", default="F6", show_default=True, help="Admiralty grade A-F + 1-6.")
@click.option(
    "--sites",
    "registry",
    help="Check the site exists in this registry (default: among the store's sites).",
)
def evidence_add(
    db: str,
    site_id: str,
    when: str,
    source: str,
    url: str,
    kind: str,
    claim: str,
    grade: str,
    registry: str | None,
) -> None:
    """Add one graded claim to the ledger; print its id."""
    from basewatch.context.evidence import add_entries, make_entry

    entry = make_entry(
        site_id=site_id, time=when, source=source, url=url, kind=kind, claim=claim, grade=grade
    )
    with _writing_store(db) as store:
        (entry_id,) = add_entries(store, [entry], known_sites=_known_sites(registry))
    click.echo(entry_id)


@evidence.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option(
    "--sites",
    "registry",
    help="Check every site exists in this registry (default: among the store's sites).",
)
def evidence_import(file: Path, db: str, registry: str | None) -> None:
    """Add the entries of FILE (CSV or JSON list) to the ledger."""
    from basewatch.context.evidence import add_entries, read_entries

    entries = read_entries(file)
    with _writing_store(db) as store:
        ids = add_entries(store, entries, known_sites=_known_sites(registry))
    click.echo(f"{_n(len(ids), 'entry', 'entries')} in {file} ({len(set(ids))} distinct)")


@evidence.command("list")
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option("--site", "site_id", help="Only this site.")
@click.option("--kind", type=click.Choice(EVIDENCE_KINDS), help="Only this kind.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def evidence_list(db: str, site_id: str | None, kind: str | None, fmt: str) -> None:
    """List ledger entries by site and time."""
    from basewatch.context.evidence import list_entries
    from basewatch.errors import InputError
    from basewatch.store import open_store, require_contents

    with open_store(db, create=False) as store:
        require_contents(store, "evidence", command="evidence list")
        rows = list_entries(store, site_id=site_id, kind=kind)
        if not rows:
            sites = sorted({r["site_id"] for r in list_entries(store)})
    if not rows:
        filters = (f"site {site_id!r}" if site_id else "", f"kind {kind!r}" if kind else "")
        wanted = " and ".join(f for f in filters if f)
        raise InputError(
            f"evidence list: no entries for {wanted} in {db}; sites with entries: "
            f"{', '.join(sites)}"
        )
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1, ensure_ascii=False))
        return
    for r in rows:
        click.echo(
            f"{r['id']:>4} {r['time']} {r['site_id']:<12} {r['kind']:<8} {r['grade']} "
            f"{r['source']}: {r['claim']}" + (f" <{r['url']}>" if r["url"] else "")
        )


@sites.command("stats")
@click.option("--registry", required=True, help="Registry file or bundled name.")
@click.option("--compare", "earlier", help="An earlier registry: also show the change.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def sites_stats(registry: str, earlier: str | None, fmt: str) -> None:
    """Count sites by operator and kind (survey statistics), optionally against EARLIER."""
    from basewatch.context.survey import compare_stats, survey_stats
    from basewatch.sites import load_registry

    current = load_registry(registry)
    stats = compare_stats(current, load_registry(earlier)) if earlier else survey_stats(current)
    if fmt == "json":
        click.echo(json.dumps(stats, indent=1))
        return
    change = stats.get("change", {})

    def delta(section: str, key: str | None = None) -> str:
        if not change:
            return ""
        value = change[section] if key is None else change[section].get(key, 0)
        return f" ({value:+d})"

    click.echo(f"total: {stats['total']}{delta('total')}")
    click.echo("by operator:")
    for op, n in stats["by_operator"].items():
        kinds = ", ".join(f"{k} {m}" for k, m in stats["by_operator_kind"][op].items())
        click.echo(f"  {op:<10} {n:>5}{delta('by_operator', op)}  [{kinds}]")
    gone = [op for op in change.get("by_operator", {}) if op not in stats["by_operator"]]
    for op in gone:
        click.echo(f"  {op:<10} {0:>5}{delta('by_operator', op)}")
    click.echo("by kind:")
    for kind, n in stats["by_kind"].items():
        click.echo(f"  {kind:<12} {n:>5}{delta('by_kind', kind)}")


@cli.command()
@click.option("--sites", "registry", required=True, help="Registry file or bundled name.")
@click.option("--catalog", required=True, help="STAC API name or URL, or a catalog.json path/URL.")
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@FROM_OPTION
@click.option("--to", "end", help="Last day and assessment date, YYYY-MM-DD (default: today).")
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable).")
@click.option("--webhook", help="Also POST each alert as JSON to this http(s) URL.")
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=10.0,
    show_default=True,
    help="Webhook timeout in seconds.",
)
def watch(
    registry: str,
    catalog: str,
    db: str,
    start: str | None,
    end: str | None,
    site_ids: tuple[str, ...],
    webhook: str | None,
    timeout_s: float,
) -> None:
    """Observe new scenes and print each newly significant change once (JSON lines)."""
    from basewatch.alerts import WebhookError
    from basewatch.alerts import watch as run

    with _progress("chips") as progress:
        result = run(
            registry,
            catalog,
            db=db,
            start=start,
            end=end,
            site_ids=list(site_ids),
            webhook=webhook,
            timeout_s=timeout_s,
            progress=progress,
            notify=_note,
        )
    for alert in result.new:
        click.echo(json.dumps(alert, ensure_ascii=False))
    s = result.summary
    click.echo(
        f"{s.observed} chips observed, {len(result.new)} new alert(s)"
        + (f", {result.delivered} sent to the webhook" if webhook else ""),
        err=True,
    )
    if result.webhook_error:
        raise WebhookError(f"{result.webhook_error} ({result.pending} alert(s) pending)")
    if result.pending and not webhook:
        click.echo(
            f"{result.pending} alert(s) still wait for a webhook: pass --webhook URL", err=True
        )


# ------------------------------------------------------------------------------ serve


@cli.command()
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="TCP port.")
@_front_options
def serve(
    db: str,
    host: str,
    port: int,
    fronts: tuple[Path, ...],
    hostile: tuple[str, ...],
    weapons: Path | None,
) -> None:
    """Serve the dashboard and JSON API (writes need BASEWATCH_TOKEN; extra [web])."""
    from basewatch.errors import InputError

    try:
        from basewatch.web import serve as run
    except ImportError as exc:
        raise InputError(
            f"basewatch serve needs FastAPI and uvicorn ({exc.name} is missing): "
            "pip install 'basewatch[web]'"
        ) from exc
    if not 0 < port < 65536:
        raise InputError(f"--port {port}: give a TCP port between 1 and 65535")
    _require_partner(
        {"--hostile": hostile, "--weapons": weapons}, "--front", fronts, "the front they measure"
    )
    import os

    from basewatch.errors import StoreError
    from basewatch.store import open_store, require_contents
    from basewatch.web.app import TOKEN_ENV

    with open_store(db, create=False) as store:
        try:
            require_contents(store, "sites", command="serve")
        except StoreError as exc:
            if not os.environ.get(TOKEN_ENV):
                raise
            _warn(f"{exc} (or POST a registry to /api/sites)")
    _check_port(host, port)

    def ready() -> None:
        click.echo(f"serving {db} on http://{host}:{port}/ (API docs: /docs)", err=True)

    run(db, host=host, port=port, fronts=fronts, hostile=hostile, weapons=weapons, ready=ready)


def _check_port(host: str, port: int) -> None:
    """Fail with one line when ``host:port`` cannot be listened on (in use, not an address)."""
    import errno
    import socket

    from basewatch.errors import InputError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise InputError(
            f"--host {host}: not an address of this machine ({exc.strerror or exc}); "
            "give e.g. 127.0.0.1 or 0.0.0.0"
        ) from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InputError(
                    f"--host {host}: not an address of this machine ({exc.strerror}); give "
                    "one of its addresses, e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (all)"
                ) from exc
            raise InputError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); another program "
                "(perhaps another basewatch serve) uses the port: pick another --port or "
                "stop it"
            ) from exc


# ------------------------------------------------------------------------------ detect


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--sensor",
    type=click.Choice(["s1", "sar", "s2", "highres"]),
    required=True,
    help="s1: sigma0 GeoTIFF (VV[, VH]); sar: any amplitude image (PNG too); "
    "s2: band folder, multi-band GeoTIFF or STAC item JSON; highres: sub-metre RGB.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="One image: the .geojson file, or a folder; several: a folder (made if missing).",
)
@click.option("--gsd", type=float, default=None, help="Pixel size in metres (default: georef).")
@click.option(
    "--model", type=click.Path(path_type=Path), default=None, help="Weights file (highres only)."
)
@click.option(
    "--scale", type=float, default=None, help="Multiply stored values (e.g. 1.5259e-5 = 1/65535)."
)
@click.option(
    "--coastline",
    is_flag=True,
    help="Radar: leave out land 200 m inland of the GSHHG coastline (extra [coast]).",
)
def detect(
    images: tuple[Path, ...],
    sensor: str,
    out: Path,
    gsd: float | None,
    model: Path | None,
    scale: float | None,
    coastline: bool,
) -> None:
    """Detect ships (or sub-metre objects) in images; write detections GeoJSON per image."""
    from basewatch.detect.run import DetectResult, run_detect

    done: list[Path] = []

    def written(path: Path, result: DetectResult) -> None:
        note = f" ({result.reason})" if result.reason else ""
        click.echo(f"{result.source}: {len(result.detections)} detection(s) -> {path}{note}")
        done.append(path)

    try:
        run_detect(
            images,
            sensor=sensor,
            out=out,
            gsd_m=gsd,
            model=model,
            scale=scale,
            coastline=coastline,
            written=written,
        )
    except BasewatchError:
        if done:  # say what is already written before the error line
            _note(f"stopped after {len(done)} of {len(images)} images (their files are written)")
        raise


@cli.group()
def train() -> None:
    """Train basewatch's own detectors (needs the [train] extra: PyTorch CPU)."""


@train.command("aircraft")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Airbus layout folder (images/ + annotations.csv) or a COCO .json file.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model file (.onnx).")
@click.option("--epochs", type=int, default=40, show_default=True, help="Epochs (--steps each).")
@click.option(
    "--val-images",
    multiple=True,
    help="Image file name held out of training and scored after it (repeatable).",
)
@click.option("--gsd", type=float, default=0.5, show_default=True, help="Image GSD in metres.")
@click.option("--steps", type=int, default=25, show_default=True, help="Batches per epoch.")
@click.option("--batch", type=int, default=12, show_default=True, help="Crops per batch.")
@click.option(
    "--simulated",
    type=int,
    default=0,
    show_default=True,
    help="Add this many simulated airfield images (the demo's look) to training.",
)
def train_aircraft(
    data: Path,
    out: Path,
    epochs: int,
    val_images: tuple[str, ...],
    gsd: float,
    steps: int,
    batch: int,
    simulated: int,
) -> None:
    """Train the aircraft detector from scratch on labelled images; export ONNX."""
    from basewatch.train.run import train_aircraft as run

    report = run(
        data,
        out,
        epochs=epochs,
        val_images=val_images,
        gsd_m=gsd,
        steps_per_epoch=steps,
        batch=batch,
        simulated=simulated,
        progress=lambda n, loss: click.echo(f"epoch {n}/{epochs} loss {loss:.3f}", err=True),
    )
    click.echo(
        f"trained on {report.train_images} images + {report.simulated_images} simulated "
        f"({report.train_boxes} aircraft) in {report.seconds:.0f} s -> {report.out}"
    )
    if report.validation:
        v = report.validation
        click.echo(
            f"held-out: precision {v['precision']:.3f} recall {v['recall']:.3f} "
            f"F1 {v['f1']:.3f} median count error {100 * v['median_count_error']:.1f} %"
        )


# ------------------------------------------------------------------ evidence extract (text)


@evidence.command("extract")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--sites", "registry", required=True, help="Registry file or bundled name.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--add", "add", is_flag=True, help="Also file the claims in the ledger (--db).")
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option("--grade", default="F6", show_default=True, help="Admiralty grade for --add.")
def evidence_extract(
    files: tuple[Path, ...], registry: str, fmt: str, add: bool, db: str, grade: str
) -> None:
    """Read articles and posts (text, Markdown, HTML); list one entry per claim about a site.

    A text without a date of its own gives its claims with a warning (exit 0); unreadable
    files are reported (exit 1), and so is finding no claim at all.
    """
    from basewatch.context.textev import extract_files, ledger_entries, undated
    from basewatch.errors import InputError
    from basewatch.sites import load_registry

    given = click.get_current_context().get_parameter_source
    unused = [f"--{name}" for name in ("db", "grade") if given(name) == ParameterSource.COMMANDLINE]
    if unused and not add:
        raise InputError(
            f"{' and '.join(unused)} without --add: extract only lists the claims; add --add "
            "to file them in the ledger"
        )
    sites = load_registry(registry)
    result = extract_files(files, sites)
    for problem in result.problems:
        click.echo(f"basewatch: {problem.message}", err=True)
    for warning in result.warnings:
        click.echo(f"basewatch: warning: {warning.message}", err=True)
    stored = 0
    if add and result.claims:
        left_out = undated(result.claims)
        if left_out:
            click.echo(
                f"basewatch: warning: {_n(len(left_out), 'claim')} without any date "
                "(no event date and no publication date) not filed in the ledger",
                err=True,
            )
        from basewatch.context.evidence import add_entries

        entries = ledger_entries(result.claims, grade=grade)  # a bad grade fails here
        with _writing_store(db) as store:
            ids = add_entries(store, entries, known_sites=[s.id for s in sites])
        stored = len(set(ids))
    if fmt == "json":
        click.echo(json.dumps([c.record() for c in result.claims], indent=1, ensure_ascii=False))
    else:
        for c in result.claims:
            counts = ", ".join(f"{q.count} {q.what}" for q in c.quantities) or "-"
            event = c.event_date.isoformat() if c.event_date else "-"
            published = c.published.isoformat() if c.published else "unknown   "
            estimate = (
                f" (event estimated {c.event_date_estimate.isoformat()})"
                if c.event_date_estimate
                else ""
            )
            click.echo(f"{c.site_id:<10} {published} {event:<10} {c.kind:<8} {counts}{estimate}")
            click.echo(f"    {c.claim}" + (f" <{c.source_url}>" if c.source_url else ""))
    read = len(files) - len(result.problems)
    click.echo(
        f"{_n(len(result.claims), 'claim')} from {read} of {_n(len(files), 'file')}"
        + (f", {stored} distinct entries in {db}" if add else ""),
        err=True,
    )
    if result.problems:
        raise InputError(f"{len(result.problems)} of {len(files)} files could not be read (above)")
    if not result.claims:
        raise InputError(
            f"no claims about the sites of {registry} in {_n(len(files), 'file')}: no sentence "
            "names a site by its name or an alias (add aliases to the registry) and says "
            "something about it"
        )


# ------------------------------------------------------------------ train ships (Sentinel-2)


@train.command("ships")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="sen2ships layout: coco_annotations.json + one band folder per port.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model file (.onnx).")
@click.option("--ports", default=None, help="Comma-separated port folders to train on (all).")
@click.option("--epochs", type=int, default=None, help="Epochs (default: the shipped 100).")
@click.option("--steps", type=int, default=None, help="Batches per epoch (default 20).")
@click.option("--batch", type=int, default=None, help="Crops per batch (default 12).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--simulated", type=int, default=None, help="Simulated harbours added (default: the shipped 6)."
)
@click.option(
    "--detector",
    type=click.Choice(["two-stage", "cnn"]),
    default="two-stage",
    show_default=True,
    help="two-stage: candidates scored by gradient-boosted trees (shipped); cnn: heatmap "
    "network (--epochs/--steps/--batch apply to it only).",
)
def train_ships(
    data: Path,
    out: Path,
    ports: str | None,
    epochs: int | None,
    steps: int | None,
    batch: int | None,
    seed: int,
    simulated: int | None,
    detector: str,
) -> None:
    """Train the Sentinel-2 ship detector on labelled ports; export ONNX."""
    from basewatch.errors import InputError
    from basewatch.train.run import train_ships as run

    chosen = [p.strip() for p in (ports or "").split(",") if p.strip()]
    if ports is not None and not chosen:  # '--ports ""' trained on every port
        raise InputError(
            f"--ports {ports!r} names no port folder; give e.g. --ports athens,casablanca "
            "or leave --ports out to train on all"
        )
    report = run(
        data,
        out,
        ports=chosen,
        epochs=epochs,
        steps_per_epoch=steps,
        batch=batch,
        seed=seed,
        simulated=simulated,
        progress=lambda n, loss: click.echo(f"epoch {n} loss {loss:.3f}", err=True),
        detector=detector,
        log=lambda line: click.echo(line, err=True),
    )
    click.echo(
        f"trained on {', '.join(report.ports)} ({report.ships} ships) + {report.simulated} "
        f"simulated harbours in {report.seconds:.0f} s -> {report.out}"
    )
    if report.threshold is not None:
        inner = (
            "n/a"
            if report.inner_f1 is None or report.inner_f1 != report.inner_f1
            else (f"{report.inner_f1:.3f}")
        )
        click.echo(
            f"score threshold {report.threshold:.2f} chosen on the training ports "
            f"(pooled F1 {inner}, each port scored by trees fitted without it)"
        )


@contextmanager
def _plain_warnings() -> Iterator[None]:
    """Show basewatch's logged warnings and Python warnings (GDAL/rasterio ones too) as one
    ``basewatch: warning: ...`` line each on stderr, without source paths."""
    import logging
    import warnings

    class _Echo(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            _warn(" ".join(record.getMessage().split()))

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        _warn(f"{category.__name__}: {' '.join(str(message).split())}")

    logger = logging.getLogger("basewatch")
    handler = _Echo(logging.WARNING)
    logger.addHandler(handler)
    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
        logger.removeHandler(handler)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning basewatch errors into one line on stderr."""
    try:
        with _plain_warnings():
            cli.main(args=argv, prog_name="basewatch", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("basewatch: interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BasewatchError as exc:
        click.echo(f"basewatch: error: {' '.join(str(exc).split())}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("basewatch: interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:  # disk full, permission denied, missing folder
        name = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"basewatch: error: {name}{exc.strerror or exc}", err=True)
        sys.exit(1)

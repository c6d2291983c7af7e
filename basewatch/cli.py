"""The ``basewatch`` command line: parses arguments, calls library functions, prints results."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from basewatch import __version__
from basewatch.errors import BasewatchError

DB_HELP = "Store URL (sqlite:///path or postgresql+psycopg://...); default sqlite:///basewatch.db."


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
    click.echo(
        f"  kind {site.kind}, operator {site.operator or '?'}, country {site.country or '?'}"
    )
    click.echo(f"  at {lat:.4f} N, {lon:.4f} E")
    for src in site.properties.get("sources", []):
        click.echo(f"  source: {src}")
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
        click.echo(f"ok: {f}: {len(reg)} sites, {len(reg.zones())} zones")
    if bad:
        sys.exit(1)


@sites.command("import")
@click.argument("source")
@click.option("--out", type=click.Path(path_type=Path), help="Write the registry here (GeoJSON).")
@click.option("--db", help="Also store the sites in this database. " + DB_HELP)
def sites_import(source: str, out: Path | None, db: str | None) -> None:
    """Validate SOURCE (GeoJSON, GeoPackage or CSV); write it as GeoJSON and/or store it."""
    from basewatch.errors import InputError
    from basewatch.sites import load_registry, save_registry

    if out is None and db is None:
        raise InputError(
            "sites import: say where to put the sites: --out FILE.geojson and/or --db URL"
        )
    reg = load_registry(source)
    if out is not None:
        save_registry(reg, out)
        click.echo(f"wrote {out}: {len(reg)} sites, {len(reg.zones())} zones")
    if db is not None:
        from basewatch.store import open_store

        store = open_store(db)
        try:
            store.upsert_sites(reg.sites)
        finally:
            store.close()
        click.echo(f"stored {len(reg)} sites in {db}")


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
    click.echo(f"wrote {out}: {len(reg)} sites, {len(reg.zones())} zones")


# ------------------------------------------------------------------------------ scenes


@cli.group()
def scenes() -> None:
    """Find imagery in STAC catalogues."""


@scenes.command("search")
@click.option("--sites", "registry", default="syria-2024", show_default=True, help="Registry.")
@click.option("--site", "site_id", required=True, help="Site id.")
@click.option("--zone", "zone_id", help="Only scenes covering this zone.")
@click.option("--from", "start", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Last day, YYYY-MM-DD.")
@click.option("--collection", "collections", multiple=True, help="Collection id (repeatable).")
@click.option("--max-cloud", type=float, help="Max scene cloud cover (percent, Sentinel-2).")
@click.option(
    "--catalog",
    required=True,
    help="earth-search, planetary-computer, a STAC API URL or a catalog.json path/URL.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def scenes_search(
    registry: str,
    site_id: str,
    zone_id: str | None,
    start: str,
    end: str,
    collections: tuple[str, ...],
    max_cloud: float | None,
    catalog: str,
    fmt: str,
) -> None:
    """List the scenes monitor would read for a site."""
    from basewatch.imagery.catalog import open_catalog
    from basewatch.monitor import parse_day
    from basewatch.observe import observable
    from basewatch.sites import load_registry

    site = load_registry(registry).site(site_id)
    zones = [site.zone(zone_id)] if zone_id else list(site.zones)
    bounds = [z.geometry.bounds for z in zones] or [site.geometry.bounds]
    bbox = (
        min(b[0] for b in bounds),
        min(b[1] for b in bounds),
        max(b[2] for b in bounds),
        max(b[3] for b in bounds),
    )
    found = open_catalog(catalog).search(
        bbox=bbox,
        start=parse_day(start),
        end=parse_day(end, end_of_day=True),
        collections=collections or None,
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
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    for r in rows:
        cloud = "" if r["cloud_cover"] is None else f"{r['cloud_cover']:5.1f}%"
        click.echo(
            f"{r['time']}  {r['sensor']:<11} {cloud:>6}  {r['id']}  [{', '.join(r['zones'])}]"
        )
    click.echo(f"{len(rows)} scenes", err=True)


# ------------------------------------------------------------------------------ pipeline


@cli.command()
@click.option("--sites", "registry", required=True, help="Registry file or bundled name.")
@click.option(
    "--catalog",
    required=True,
    help="earth-search, planetary-computer, a STAC API URL or a catalog.json path/URL.",
)
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option("--from", "start", help="First day, YYYY-MM-DD (default: a year before --to).")
@click.option("--to", "end", help="Last day, YYYY-MM-DD (default: today).")
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable).")
@click.option("--collection", "collections", multiple=True, help="Collection id (repeatable).")
@click.option("--max-cloud", type=float, help="Skip Sentinel-2 scenes cloudier than this (%).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
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
            progress=progress,
        )
    _print_summary(summary)


def _print_summary(summary: Any) -> None:
    click.echo(
        f"{summary.scenes} scenes, {summary.tasks} chips: {summary.observed} observed, "
        f"{summary.skipped} already stored, {summary.failed} failed"
    )
    for line in summary.failures[:20]:
        click.echo(f"failed: {line}", err=True)
    if summary.failed > 20:
        click.echo(f"... and {summary.failed - 20} more failures (rerun to retry)", err=True)


@cli.command()
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="assessment.json path.")
@click.option("--site", "site_ids", multiple=True, help="Only this site (repeatable).")
@click.option("--as-of", "as_of", help="Use only what was known on this day (YYYY-MM-DD).")
@click.option("--tracks", type=click.Path(path_type=Path), help="ADS-B state vectors (CSV/JSON).")
def assess(
    db: str, out: Path, site_ids: tuple[str, ...], as_of: str | None, tracks: Path | None
) -> None:
    """Judge every stored site (posture, changes, indicators) into assessment.json."""
    from basewatch.pipeline import assess as run

    payload = run(db=db, site_ids=list(site_ids), as_of=as_of, tracks=tracks, out=out)
    for s in payload.get("sites", []):
        click.echo(f"{s['site_id']}: {s['posture']} (confidence {s['confidence']:.2f})")
    click.echo(f"wrote {out}")


@cli.command()
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option(
    "--assessment",
    type=click.Path(path_type=Path),
    help="Report this assessment.json instead of the store's latest.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="report.html path.")
def report(db: str, assessment: Path | None, out: Path) -> None:
    """Write the HTML report (opens offline)."""
    from basewatch.pipeline import report as run

    click.echo(f"wrote {run(out=out, db=db, assessment=assessment)}")


@cli.group()
def export() -> None:
    """Export stored results."""


@export.command("observations")
@click.option("--db", default="sqlite:///basewatch.db", show_default=True, help=DB_HELP)
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "geojson"]), default="csv")
@click.option("--out", type=click.Path(path_type=Path), help="File (default: stdout).")
def export_observations_cmd(db: str, fmt: str, out: Path | None) -> None:
    """Export observations, sorted and without wall-clock columns (byte-comparable)."""
    from basewatch.store import export_observations, open_store

    store = open_store(db)
    try:
        text = export_observations(store, fmt)
    finally:
        store.close()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


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


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning basewatch errors into one line on stderr."""
    try:
        cli.main(args=argv, prog_name="basewatch", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("basewatch: interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BasewatchError as exc:
        click.echo(f"basewatch: error: {exc}", err=True)
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

"""The pipeline: load, observe and store every zone x scene chip; resumable, optionally parallel."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from basewatch.errors import BasewatchError
from basewatch.imagery.catalog import Catalog, Scene
from basewatch.imagery.load import LoadParams, load_chip
from basewatch.observe import Observation, detector_identity, observable, observe
from basewatch.sites import Registry, Zone
from basewatch.store import SceneRecord, Store

Progress = Callable[[int, int], None]
"""Callback ``progress(done, total)``."""


@dataclass(frozen=True, kw_only=True)
class MonitorParams:
    """What the monitor searches and how it runs."""

    start: datetime
    """First acquisition time considered (UTC)."""
    end: datetime
    """Last acquisition time considered (UTC)."""
    collections: tuple[str, ...] = ()
    """Collections to search; empty means the catalogue's defaults (all for static ones)."""
    max_cloud: float | None = None
    """Skip Sentinel-2 scenes whose scene-wide cloud cover exceeds this percentage."""
    workers: int = 1
    """Processes that load and observe chips (1 = in this process)."""
    load: LoadParams = LoadParams()
    """Window and resolution settings for chip loading."""


@dataclass(frozen=True, kw_only=True)
class ChipTask:
    """One unit of work: a zone seen on a scene."""

    zone: Zone
    """The zone to observe."""
    scene: Scene
    """The scene to read it from."""

    @property
    def key(self) -> tuple[str, str, str]:
        """``(site_id, zone_id, scene_id)``."""
        return (self.zone.site_id, self.zone.id, self.scene.id)


@dataclass(frozen=True, kw_only=True)
class MonitorSummary:
    """What a monitor run did."""

    scenes: int
    """Scenes found for the registry's sites."""
    tasks: int
    """Zone x scene chips planned."""
    skipped: int
    """Chips already stored by an earlier run."""
    observed: int
    """Chips observed in this run."""
    failed: int
    """Chips that failed (recorded in the store, tried again next run)."""
    failures: tuple[str, ...] = ()
    """One line per failure: chip and reason."""


def zones_bounds(zones: Sequence[Zone]) -> tuple[float, float, float, float]:
    """The lon/lat bounds (west, south, east, north) covering every zone in ``zones``."""
    bounds = [z.geometry.bounds for z in zones]
    return (
        min(b[0] for b in bounds),
        min(b[1] for b in bounds),
        max(b[2] for b in bounds),
        max(b[3] for b in bounds),
    )


def plan(
    registry: Registry, catalog: Catalog, params: MonitorParams
) -> tuple[list[Scene], list[ChipTask]]:
    """Search scenes per site and list the chips to observe, in a stable order."""
    scenes: dict[str, Scene] = {}
    tasks: list[ChipTask] = []
    for site in registry.sites:
        if not site.zones:
            continue
        found = catalog.search(
            bbox=zones_bounds(site.zones),
            start=params.start,
            end=params.end,
            collections=params.collections or None,
            max_cloud=params.max_cloud,
        )
        for scene in found:
            scenes[scene.id] = scene
            for zone in site.zones:
                if observable(zone.target, scene.sensor) and scene.covers(zone.geometry.bounds):
                    tasks.append(ChipTask(zone=zone, scene=scene))
    tasks.sort(key=lambda t: (t.zone.site_id, t.zone.id, t.scene.time, t.scene.id))
    return sorted(scenes.values(), key=lambda s: (s.time, s.id)), tasks


def observe_task(task: ChipTask, load: LoadParams) -> Observation:
    """Load and observe one chip (runs in a worker process when ``workers > 1``)."""
    chip = load_chip(task.scene, task.zone, params=load)
    return observe(chip, task.zone)


def _reason(exc: Exception) -> str:
    """A one-line reason for a failed chip; unexpected errors keep their type for bug reports."""
    if isinstance(exc, BasewatchError):
        return str(exc)
    return f"internal error ({type(exc).__name__}: {exc}); please report it"


def _results(
    tasks: list[ChipTask], params: MonitorParams
) -> Iterator[tuple[ChipTask, Observation | None, str]]:
    if params.workers <= 1:
        for task in tasks:
            try:
                yield task, observe_task(task, params.load), ""
            except Exception as exc:  # one bad chip must not stop the run: record and go on
                yield task, None, _reason(exc)
        return
    with cf.ProcessPoolExecutor(max_workers=params.workers) as pool:
        futures = {pool.submit(observe_task, t, params.load): t for t in tasks}
        for future in cf.as_completed(futures):
            task = futures[future]
            try:
                yield task, future.result(), ""
            except Exception as exc:  # one bad chip must not stop the run: record and go on
                yield task, None, _reason(exc)


def run_monitor(
    registry: Registry,
    catalog: Catalog,
    store: Store,
    params: MonitorParams,
    *,
    progress: Progress | None = None,
) -> MonitorSummary:
    """Observe every zone on every scene not yet stored; record failures to retry next run."""
    scenes, tasks = plan(registry, catalog, params)
    store.upsert_sites(registry.sites)
    for scene in scenes:
        store.upsert_scene(
            SceneRecord(
                id=scene.id,
                collection=scene.collection,
                sensor=scene.sensor,
                time=scene.time,
                href=scene.href,
                cloud_cover=scene.cloud_cover,
                bbox=scene.bbox,
            )
        )
    done = store.done_keys()
    todo = []
    for task in tasks:
        name, version = detector_identity(task.zone.target, task.scene.sensor)
        if (*task.key, name, version) not in done:
            todo.append(task)
    failures: list[str] = []
    observed = 0
    if progress:
        progress(0, len(todo))
    for i, (task, obs, error) in enumerate(_results(todo, params), start=1):
        site_id, zone_id, scene_id = task.key
        if obs is None:
            failures.append(f"{site_id}/{zone_id} on {scene_id}: {error}")
            store.record_chip_status(
                site_id=site_id, zone_id=zone_id, scene_id=scene_id, status="failed", message=error
            )
        else:
            store.write_observation(obs)
            store.record_chip_status(
                site_id=site_id, zone_id=zone_id, scene_id=scene_id, status="done"
            )
            observed += 1
        if progress:
            progress(i, len(todo))
    return MonitorSummary(
        scenes=len(scenes),
        tasks=len(tasks),
        skipped=len(tasks) - len(todo),
        observed=observed,
        failed=len(failures),
        failures=tuple(failures),
    )


def parse_day(text: str, *, end_of_day: bool = False) -> datetime:
    """Parse ``YYYY-MM-DD`` (or an ISO time) as UTC; ``end_of_day`` gives 23:59:59 for a date."""
    from basewatch.errors import InputError

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"{text!r}: not a date; write it as YYYY-MM-DD") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if end_of_day and len(text) == 10:
        value = value.replace(hour=23, minute=59, second=59)
    return value.astimezone(UTC)

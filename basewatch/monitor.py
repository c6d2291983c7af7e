"""The pipeline: load, observe and store every zone x scene chip; resumable, optionally parallel.

With one worker the chips are observed in this process. With more (or with the address of an
existing scheduler) they are observed on a Dask cluster: a local one on 127.0.0.1 (one process
per worker, one thread each, no dashboard) or the given one. Chips are submitted in a bounded
window and each result is written to the store as it arrives, so memory does not grow with the
number of chips. Every write is idempotent and keyed, so the stored observations do not depend
on the worker count or on the order results arrive in, and a killed run simply resumes.

Chips are observed site by site and scene by scene: the zones of one site on one scene are
read together (each asset opened once), and reading threads run ahead of the detectors in
every process that observes (``LoadParams.io_threads``). A cluster starts in a thread while
the catalogue is searched, and :attr:`MonitorSummary.timings` gives the run's time budget.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from basewatch.errors import BasewatchError, InputError
from basewatch.imagery.catalog import Catalog, Scene
from basewatch.imagery.chip import Chip
from basewatch.imagery.load import LoadParams, load_chip, load_chips
from basewatch.observe import (
    Observation,
    detector_identity,
    observable,
    observe,
    set_detector_threads,
)
from basewatch.observe import detector_threads as current_detector_threads
from basewatch.reference import refresh_references
from basewatch.sites import Registry, Zone

if TYPE_CHECKING:
    from distributed import Client, Future

    from basewatch.store import ChipOutcome, Store

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
    """Processes that load and observe chips: 1 = in this process, more = a local Dask cluster."""
    scheduler: str | None = None
    """Address of an existing Dask scheduler (``tcp://host:port``) to run on instead."""
    connect_timeout_s: float = 10.0
    """How long to wait for ``scheduler`` to answer before giving up."""
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
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds of the run's phases: ``search`` (catalogue searches), ``planning`` (the
    rest of planning: chips, scenes stored, what is done), ``start-up`` (cluster start and
    worker warm-up not hidden behind planning), ``observing`` (first chip handed out to last
    one stored, ``writing`` included), ``writing`` (store writes of the chips' outcomes, in
    this process), ``writing CPU`` (the CPU seconds of those writes, in this thread: less
    than ``writing`` when other threads or processes hold the GIL or the cores) and
    ``shut-down`` (closing the cluster)."""


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
    """Load and observe one chip."""
    chip = load_chip(task.scene, task.zone, params=load)
    return observe(chip, task.zone)


ChipResult = tuple[Observation | None, str]
"""``(observation, "")`` for an observed chip, ``(None, reason)`` for a failed one."""


def observe_chip(task: ChipTask, load: LoadParams) -> ChipResult:
    """Observe one chip, turning any failure into a reason (runs on a Dask worker too)."""
    try:
        return observe_task(task, load), ""
    except Exception as exc:  # one bad chip must not stop the run: record and go on
        return None, _reason(exc)


def _reason(exc: BaseException) -> str:
    """A one-line reason for a failed chip; unexpected errors keep their type for bug reports."""
    if isinstance(exc, BasewatchError):
        return str(exc)
    return f"internal error ({type(exc).__name__}: {exc}); please report it"


TaskResult = tuple[ChipTask, Observation | None, str]
"""``(task, observation or None, failure reason)``."""
Results = Callable[[Sequence[ChipTask]], Iterator[TaskResult]]
"""Observes chips and yields their outcomes as they finish."""


def observe_chips(
    tasks: Sequence[ChipTask], load: LoadParams, detector_threads: int | None = None
) -> list[ChipResult]:
    """Observe a few chips in one go (one Dask task, so scheduling costs little per chip).

    The results are in the order of ``tasks``. Consecutive chips of one site and scene are
    read together (each asset opened once for all of them), and up to ``2 *
    load.io_threads`` such groups are read by threads ahead of the detectors.
    ``detector_threads`` (when given) sets the detectors' onnxruntime threads of this
    process first (:func:`basewatch.observe.set_detector_threads`; a Dask worker gets 1).
    """
    if detector_threads is not None and detector_threads != current_detector_threads():
        set_detector_threads(detector_threads)
    return [result for _, result in _pipeline(tasks, load)]


def group_key(task: ChipTask) -> tuple[str, str]:
    """``(site_id, scene_id)``: the chips read together (one open dataset per asset)."""
    return (task.zone.site_id, task.scene.id)


def by_group(tasks: Sequence[ChipTask]) -> list[ChipTask]:
    """``tasks`` reordered so that the chips of one site and scene follow each other."""
    return sorted(tasks, key=lambda t: (t.zone.site_id, t.scene.time, t.scene.id, t.zone.id))


def _groups(tasks: Sequence[ChipTask]) -> Iterator[list[ChipTask]]:
    """Runs of consecutive tasks with the same :func:`group_key` (order kept)."""
    for _, run in itertools.groupby(tasks, key=group_key):
        yield list(run)


Loaded = Chip | BaseException


def _load_group(group: list[ChipTask], load: LoadParams) -> list[Loaded]:
    """The chips of one site and scene, or each zone's error (runs in a reading thread)."""
    try:
        return list(load_chips(group[0].scene, [t.zone for t in group], params=load))
    except Exception as exc:  # one bad scene must not stop the run: record and go on
        return [exc] * len(group)


def _observe_loaded(task: ChipTask, loaded: Loaded) -> ChipResult:
    if isinstance(loaded, BaseException):
        return None, _reason(loaded)
    try:
        return observe(loaded, task.zone), ""
    except Exception as exc:  # one bad chip must not stop the run: record and go on
        return None, _reason(exc)


def _pipeline(tasks: Sequence[ChipTask], load: LoadParams) -> Iterator[tuple[ChipTask, ChipResult]]:
    """Observe ``tasks`` in order while threads read the next site-scene groups.

    Reading (GDAL: network waits, decompression, warping; the GIL released) overlaps with
    the detectors in this thread. At most ``2 * load.io_threads`` groups are read ahead,
    so memory stays bounded.
    """
    threads = max(1, load.io_threads)
    groups = _groups(tasks)
    with ThreadPoolExecutor(threads, thread_name_prefix="basewatch-read") as pool:
        ahead: deque[tuple[list[ChipTask], ThreadFuture[list[Loaded]]]] = deque()
        for group in itertools.islice(groups, 2 * threads):
            ahead.append((group, pool.submit(_load_group, group, load)))
        while ahead:
            group, future = ahead.popleft()
            following = next(groups, None)
            if following is not None:
                ahead.append((following, pool.submit(_load_group, following, load)))
            for task, loaded in zip(group, future.result(), strict=True):
                yield task, _observe_loaded(task, loaded)


WORKER_DETECTOR_THREADS = 1
"""onnxruntime intra-op threads of the detectors in each Dask worker thread: one, so that a
worker thread uses one core (onnxruntime's default, a spinning thread per core in every
worker process, oversubscribes the machine)."""


def warm_up() -> None:
    """Import the loader and every detector and load the Sentinel-2 ship network with
    :data:`WORKER_DETECTOR_THREADS` threads (run once on each worker before the chips)."""
    from basewatch.detect import aircraft, highres, optical, sar, ships_s2  # noqa: F401
    from basewatch.imagery import load  # noqa: F401

    set_detector_threads(WORKER_DETECTOR_THREADS)
    ships_s2.load_model(threads=WORKER_DETECTOR_THREADS)


def _in_process(tasks: Sequence[ChipTask], load: LoadParams) -> Iterator[TaskResult]:
    """Observe ``tasks`` in this process; unless set (:func:`set_detector_threads`), the
    detectors get :func:`in_process_detector_threads` for the run."""
    before = current_detector_threads()
    set_detector_threads(before or in_process_detector_threads(load.io_threads))
    try:
        for task, (obs, error) in _pipeline(tasks, load):
            yield task, obs, error
    finally:
        set_detector_threads(before)


def in_process_detector_threads(io_threads: int) -> int:
    """onnxruntime threads of the detectors when chips are observed in this process: the cores
    that the ``io_threads`` reading threads leave, at least one.

    onnxruntime's default (a thread per core, spinning between operators) takes the cores
    the reading threads need: on 2 cores the 36-site run of ``bench/scale.py`` took 19.8 s
    with it (29 s of CPU) and 17.0 s with one detector thread (22 s of CPU).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - max(io_threads, 0))


MAX_CHIPS_PER_TASK = 16
"""Chips observed by one Dask task at most (a chip takes tens of milliseconds of CPU; the
scheduler and the client spend a few milliseconds on each task, 8 chips a task cost ~1 ms of
CPU a chip more than 16 in bench/scale.py)."""
FLUSH_CHIPS = 32
"""Chip outcomes written to the store in one transaction, at most (and at most a twentieth
of the run, so a small run still stores its results as it goes)."""
FLUSH_SECONDS = 2.0
"""Outcomes waiting longer than this are written even when the batch is not full."""


def window_size(threads: int) -> int:
    """Dask tasks kept in flight on a cluster of ``threads`` threads: enough to keep all busy."""
    return 2 * max(threads, 1) + 2


def chips_per_task(chips: int, threads: int) -> int:
    """Chips per Dask task: up to :data:`MAX_CHIPS_PER_TASK`, at least 4 tasks per thread."""
    return max(1, min(MAX_CHIPS_PER_TASK, chips // (4 * max(threads, 1))))


def task_batches(tasks: Sequence[ChipTask], size: int) -> Iterator[list[ChipTask]]:
    """``tasks`` in order, cut into Dask tasks of about ``size`` chips between site-scene groups.

    A group (:func:`group_key`) is not split between two Dask tasks (split, its assets
    would be opened and its shared tiles read and decoded once in each): whole groups are
    added while the batch stays within ``size`` chips. Only a group of more than ``size``
    chips is cut, into batches of ``size``; no batch holds more than ``size`` chips.
    """
    size = max(size, 1)
    batch: list[ChipTask] = []
    for group in _groups(tasks):
        if batch and len(batch) + len(group) > size:
            yield batch
            batch = []
        while len(group) > size:
            yield group[:size]
            group = group[size:]
        batch.extend(group)
    if batch:
        yield batch


def stream_chips(
    client: Client, tasks: Sequence[ChipTask], load: LoadParams, *, window: int, batch: int = 1
) -> Iterator[TaskResult]:
    """Observe ``tasks`` on ``client``'s cluster as they finish, ``batch`` chips per Dask task.

    At most ``window`` tasks are in flight; each task's results are yielded (in completion
    order) and released at once, so neither the client nor the cluster ever holds more than
    ``window * batch`` observations.
    """
    from distributed import as_completed

    waiting = task_batches(tasks, batch)
    submitted: dict[object, list[ChipTask]] = {}

    def submit(chips: list[ChipTask]) -> Future:
        future = client.submit(observe_chips, chips, load, WORKER_DETECTOR_THREADS, pure=False)
        submitted[future.key] = chips
        return future

    first = [submit(chips) for chips in itertools.islice(waiting, window)]
    running = as_completed(first, loop=client.loop)
    for future in running:
        chips = submitted.pop(future.key)
        try:
            results: list[ChipResult] = future.result()
        except Exception as exc:  # a worker died on these chips, or their results were lost
            results = [(None, _reason(exc))] * len(chips)
        future.release()
        for task, (obs, error) in zip(chips, results, strict=True):
            yield task, obs, error
        following = next(waiting, None)
        if following is not None:
            running.add(submit(following))


@contextmanager
def dask_client(params: MonitorParams) -> Iterator[Client]:
    """A client of ``params.scheduler``, or of a local cluster of ``params.workers`` processes.

    The local cluster listens on 127.0.0.1 only, runs one single-threaded process per worker
    and no dashboard; it is shut down when the block ends.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise InputError(
            "--workers/--scheduler: running on a Dask cluster needs dask.distributed; "
            "install it with pip install 'basewatch[dask]' or use --workers 1"
        ) from exc
    if params.scheduler is not None:
        with _connect(Client, params.scheduler, params.connect_timeout_s) as client:
            yield client
        return
    import dask

    with (
        dask.config.set(LOCAL_CLUSTER_CONFIG),  # CPU per chip as in one process
        LocalCluster(
            n_workers=params.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=None,
            # the HTTP server every Dask scheduler runs (health, metrics) on a free port, not
            # on 8787: a second monitor running beside this one would warn that it is taken
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.CRITICAL,  # workers losing a closing scheduler
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1,
        "MKL_NUM_THREADS": 1,
        "OPENBLAS_NUM_THREADS": 1,
    },
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "200ms",
}
"""Dask configuration of the local cluster, so that a chip costs about the CPU it costs in one
process (bench/scale.py, 36 sites: 23-27 ms a chip with Dask's defaults, 19 ms so, 21 ms in
one process): the statistical profiler (a stack sample every 10 ms) is off; the workers keep
one thread for numpy's and OpenMP's pools but not Dask's ``MALLOC_TRIM_THRESHOLD_=65536``
(a fixed trim threshold also fixes glibc's mmap threshold at 128 kB, so every image array
is mapped, zeroed and unmapped again: page faults on every chip); memory is checked every
second, not every 100 ms, and the event loops tick every 200 ms, not 20 (an idle 2-worker
cluster: 0.056 -> 0.025 cores)."""


def _connect(client_class: type[Client], address: str, timeout_s: float) -> Client:
    try:
        return client_class(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise InputError(
            f"--scheduler {address}: no Dask scheduler answered within {timeout_s:g} s ({exc}); "
            "check the address (tcp://HOST:PORT of 'dask scheduler') and that its workers run, "
            "or use --workers N for a local cluster"
        ) from exc


class _ClusterStart:
    """Starts the Dask cluster (or connects to the scheduler) in a thread, so that its
    start-up and the workers' warm-up overlap with the planning; closed by :meth:`close`."""

    def __init__(self, params: MonitorParams) -> None:
        self.params = params
        self._stack = ExitStack()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="basewatch-cluster")
        self._future = self._pool.submit(self._start)

    def _start(self) -> Client:
        client = self._stack.enter_context(dask_client(self.params))
        _warm_up_workers(client, self.params)
        return client

    def client(self) -> Client:
        """The started client (waits for it; raises what the start raised)."""
        return self._future.result()

    def close(self) -> None:
        """Shut the cluster down (or disconnect), whether or not it was used."""
        self._future.exception()  # wait for the start to end either way
        self._pool.shutdown()
        self._stack.close()


def _wants_cluster(params: MonitorParams) -> bool:
    return params.scheduler is not None or params.workers > 1


def _cluster_results(client: Client, params: MonitorParams) -> Results:
    """How chips are observed on ``client``'s cluster."""
    threads = sum(client.nthreads().values()) or params.workers
    window = window_size(threads)

    def results(tasks: Sequence[ChipTask]) -> Iterator[TaskResult]:
        batch = chips_per_task(len(tasks), threads)
        return stream_chips(client, tasks, params.load, window=window, batch=batch)

    return results


def _warm_up_workers(client: Client, params: MonitorParams) -> None:
    """Import basewatch on every worker now, so a worker that lacks it is named at once."""
    try:
        client.run(warm_up)
    except Exception as exc:  # ImportError or anything else raised on a worker
        where = f"--scheduler {params.scheduler}" if params.scheduler else "the local cluster"
        raise InputError(
            f"the Dask workers of {where} cannot load basewatch ({type(exc).__name__}: {exc}); "
            "install the same basewatch version on every worker"
        ) from exc


def _check_params(params: MonitorParams) -> None:
    if params.workers < 1:
        raise InputError(f"--workers {params.workers}: give 1 or more worker processes")
    if params.scheduler is not None and params.workers > 1:
        raise InputError(
            f"--workers {params.workers} with --scheduler {params.scheduler}: the scheduler's "
            "workers do the work; give either --workers N (a local cluster) or --scheduler"
        )


def _store_scenes(store: Store, registry: Registry, scenes: Sequence[Scene]) -> None:
    from basewatch.sites import stored_conflicts
    from basewatch.store import SceneRecord  # the store is not imported on Dask workers

    for line in stored_conflicts(store.sites(), registry.sites):  # the registry's edit wins
        what = "their observations stay, without a zone" if "zones (" in line else "as edited"
        logging.getLogger(__name__).warning(
            "%s (%s); if that was not meant, monitor with the registry the store was made with",
            line.replace("it would", "this registry will"),
            what,
        )
    store.upsert_sites(registry.sites)
    store.upsert_scenes(  # one transaction (one a scene took 21 s for 1,838 scenes, loaded)
        SceneRecord(
            id=scene.id,
            collection=scene.collection,
            sensor=scene.sensor,
            time=scene.time,
            href=scene.href,
            cloud_cover=scene.cloud_cover,
            bbox=scene.bbox,
        )
        for scene in scenes
    )


def ship_zones(tasks: Sequence[ChipTask]) -> list[tuple[str, str]]:
    """``(site_id, zone_id)`` of the ship zones among ``tasks``, once each, sorted."""
    return sorted({(t.zone.site_id, t.zone.id) for t in tasks if t.zone.target == "ship"})


def _todo(store: Store, tasks: Sequence[ChipTask]) -> list[ChipTask]:
    """The tasks whose observation is not stored yet (failed ones included: they are retried).

    A chip whose observation is stored but whose status still says ``failed`` (a run killed
    between the two writes) is marked ``done``.
    """
    done = store.done_keys()
    todo, stored = [], set()
    for task in tasks:
        name, version = detector_identity(task.zone.target, task.scene.sensor)
        if (*task.key, name, version) in done:
            stored.add(task.key)
        else:
            todo.append(task)
    for site_id, zone_id, scene_id, _ in store.failed_chips():
        if (site_id, zone_id, scene_id) in stored:
            store.record_chip_status(
                site_id=site_id, zone_id=zone_id, scene_id=scene_id, status="done"
            )
    return todo


def _outcome(task: ChipTask, obs: Observation | None, error: str) -> ChipOutcome:
    """One chip's outcome: ``done`` with its observation, or ``failed`` with the error."""
    from basewatch.store import ChipOutcome

    site_id, zone_id, scene_id = task.key
    if obs is None:
        return ChipOutcome(
            site_id=site_id, zone_id=zone_id, scene_id=scene_id, status="failed", message=error
        )
    note = f"no count: {', '.join(obs.flags)}" if obs.value is None else ""
    return ChipOutcome(
        site_id=site_id,
        zone_id=zone_id,
        scene_id=scene_id,
        status="done",
        message=note,
        observation=obs,
    )


def run_monitor(
    registry: Registry,
    catalog: Catalog,
    store: Store,
    params: MonitorParams,
    *,
    progress: Progress | None = None,
) -> MonitorSummary:
    """Observe every zone on every scene not yet stored; record failures to retry next run.

    Results are written as they arrive (in any order), up to :data:`FLUSH_CHIPS` chips or
    :data:`FLUSH_SECONDS` at a time (one by one in a run of fewer than 40 chips), each batch
    in one transaction that holds the observations with their statuses. The stored
    observations are the same whatever ``params.workers`` is, and a run killed at any point
    can simply be started again: it skips what is stored and observes the rest (at most one
    unwritten batch again). Last, the ship counts of every planned ship zone get the zone's
    own history as a reference (:mod:`basewatch.reference`: static structures not counted;
    ``timings["reference"]``), which is idempotent too.
    """
    _check_params(params)
    t0 = time.perf_counter()
    starting = _ClusterStart(params) if _wants_cluster(params) else None
    timings = {"search": 0.0, "planning": 0.0, "start-up": 0.0, "observing": 0.0}
    timings.update({"writing": 0.0, "writing CPU": 0.0, "shut-down": 0.0})
    failures: list[str] = []
    observed = 0
    try:
        timed = _TimedCatalog(catalog)
        scenes, tasks = plan(registry, timed, params)
        _store_scenes(store, registry, scenes)
        todo = by_group(_todo(store, tasks))
        timings["search"] = timed.seconds
        timings["planning"] = time.perf_counter() - t0 - timed.seconds
        t1 = time.perf_counter()
        if starting is not None and todo:
            results = _cluster_results(starting.client(), params)
        else:
            results = partial(_in_process, load=params.load)
        t2 = time.perf_counter()
        timings["start-up"] = t2 - t1
        pending: list[ChipOutcome] = []
        flushed = time.monotonic()
        batch_size = min(FLUSH_CHIPS, max(1, len(todo) // 20))

        def write(batch: list[ChipOutcome]) -> None:
            w0, c0 = time.perf_counter(), time.thread_time()
            store.record_chips(batch)
            timings["writing"] += time.perf_counter() - w0
            timings["writing CPU"] += time.thread_time() - c0

        if progress:
            progress(0, len(todo))
        try:
            for i, (task, obs, error) in enumerate(results(todo), start=1):
                pending.append(_outcome(task, obs, error))
                if obs is None:
                    failures.append(f"{'/'.join(task.key[:2])} on {task.key[2]}: {error}")
                else:
                    observed += 1
                if len(pending) >= batch_size or time.monotonic() - flushed >= FLUSH_SECONDS:
                    batch, pending = pending, []
                    write(batch)
                    flushed = time.monotonic()
                if progress:
                    progress(i, len(todo))
        finally:
            if pending:
                write(pending)
        timings["observing"] = time.perf_counter() - t2
        t4 = time.perf_counter()
        refresh_references(store, ship_zones(tasks))
        timings["reference"] = time.perf_counter() - t4
    finally:
        if starting is not None:
            t3 = time.perf_counter()
            starting.close()
            timings["shut-down"] = time.perf_counter() - t3
    return MonitorSummary(
        scenes=len(scenes),
        tasks=len(tasks),
        skipped=len(tasks) - len(todo),
        observed=observed,
        failed=len(failures),
        failures=tuple(failures),
        timings=timings,
    )


class _TimedCatalog:
    """A catalogue that adds up the wall seconds its searches take."""

    def __init__(self, inner: Catalog) -> None:
        self.inner, self.name, self.seconds = inner, inner.name, 0.0

    def search(self, **kwargs: Any) -> list[Scene]:
        """``inner.search(**kwargs)``, timed."""
        t = time.perf_counter()
        try:
            return self.inner.search(**kwargs)
        finally:
            self.seconds += time.perf_counter() - t


def parse_day(text: str, *, end_of_day: bool = False) -> datetime:
    """Parse ``YYYY-MM-DD`` (or an ISO time) as UTC; ``end_of_day`` gives 23:59:59 for a date."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"{text!r}: not a date; write it as YYYY-MM-DD") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if end_of_day and len(text) == 10:
        value = value.replace(hour=23, minute=59, second=59)
    return value.astimezone(UTC)

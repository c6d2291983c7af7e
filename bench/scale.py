"""Scale: (zone, scene) chips per second with 1 and 2 workers, peak memory, and what a year of
Sentinel-1 and Sentinel-2 for 1,000 sites would cost on a cluster of M workers.

The scenario is `basewatch demo --build-only --sites 12` (built once into a temporary folder,
or into --keep DIR and reused from there). Each worker count runs `run_monitor` into a fresh
SQLite store in a child process, so peak memory is measured per run: the parent samples the
child's whole process tree (Dask workers included) with psutil. Chips per second count only
the observing phase (from the first chip handed out to the last one stored); the cluster
start-up is reported apart.

The 1-worker run also times every chip in order (wall seconds, and bytes read through the
read() calls of the process), per sensor, and the store writes alone, which give the cost per
chip behind the estimate.

Each run prints the time budget of the whole run (search, planning, cluster start-up not hidden
behind planning, observing, store writes in wall and CPU seconds, shut-down), the CPU seconds
of the whole process tree per chip (the figure that does not depend on what else runs on the
machine; wall-clock speed-ups do) and the machine's load average.

Several --sites (e.g. 12 36 100) run one after the other and end with a table of peak memory
against the fewest sites. --build-from/--build-to build a shorter scenario (memory depends on
the sites and the chips in flight, not on the number of dates; a month of 100 sites builds in
~3 min of CPU, the whole June-December scenario in ~20).

Usage: nice -n 10 python bench/scale.py [--sites 12 [36 100]] [--keep DIR] [--workers 1 2]
       [--from 2024-08-01 --to 2024-12-31] [--build-from 2024-11-01 --build-to 2024-11-30]
       [--io-threads 2] [--detector-threads N] [--repeat 3]
Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil

from basewatch.pipeline import DEMO_END, DEMO_START

S2_PER_YEAR = 146
"""Sentinel-2 acquisitions of one site per year: 5-day revisit, doubled by orbit overlap at
35 deg N (planning assumption)."""
S1_PER_YEAR = 122
"""Sentinel-1 acquisitions of one site per year: 6-day repeat (S1A + S1C), ascending and
descending (planning assumption)."""
REAL_BYTES_PER_ASSET = 1.8e6
"""Bytes read per asset per site and scene: a site's zones share their reads (load_chips), so
a site whose zones lie on the same tiles reads them once (bench/load.py: <= 1.2x the
compressed tiles the site touches)."""
LATENCY_S, REQUESTS_PER_ASSET, READERS_PER_WORKER = 0.1, 3, 8
"""A distant object store: 100 ms per request, ~3 requests per asset and site-scene (header,
tiles), 8 reading threads per worker (`--io-threads 8`, bench/netbound.py)."""
"""Bytes read per asset per chip from a real 10980 x 10980 COG with 1024 px tiles, measured by
bench/load.py (3 range requests)."""
REAL_READ_S_PER_ASSET = 1 / 59
"""Seconds to fetch and decode one asset's window from such a COG: 59 chips/s cold in one
process over loopback HTTP (bench/load.py)."""
NETWORK_BYTES_PER_S = 125e6
"""Aggregate download rate assumed for the cluster (1 Gbit/s)."""
SITES, CLUSTER_SIZES = 1000, (1, 8, 32, 128)


# ---------------------------------------------------------------------------- child: one run


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _read_chars() -> int:
    return int(psutil.Process().io_counters().read_chars)


def _tree_cpu_s() -> float:
    """CPU seconds of this process and its live descendants (the Dask workers)."""
    total = 0.0
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def run_child(
    scenario: Path,
    db: Path,
    workers: int,
    start: str,
    end: str,
    io_threads: int,
    detector_threads: int | None = None,
) -> dict[str, Any]:
    """Monitor the scenario into ``db`` with ``workers``; timings of the observing phase.

    ``detector_threads`` sets the onnxruntime threads of this process's detectors (None:
    what ``monitor`` uses; they matter for the in-process run, Dask workers get 1).
    """
    from basewatch.imagery.catalog import open_catalog
    from basewatch.imagery.load import LoadParams
    from basewatch.monitor import (
        MonitorParams,
        by_group,
        in_process_detector_threads,
        parse_day,
        plan,
        run_monitor,
    )
    from basewatch.observe import detector_threads as current_threads
    from basewatch.observe import set_detector_threads
    from basewatch.sites import load_registry
    from basewatch.store import open_store

    if detector_threads is not None:
        set_detector_threads(detector_threads)
    cpu_start = _cpu_s()

    registry = load_registry(scenario / "sites.geojson")
    catalog = open_catalog(scenario / "catalog" / "catalog.json")
    params = MonitorParams(
        start=parse_day(start),
        end=parse_day(end, end_of_day=True),
        workers=workers,
        load=LoadParams(use_cache=False, io_threads=io_threads),
    )
    _, planned = plan(registry, catalog, params)
    tasks = by_group(planned)  # the order chips are observed in
    marks: list[tuple[float, float, int]] = []
    tree_cpu: list[float] = []

    def progress(done: int, total: int) -> None:
        marks.append((time.perf_counter(), _cpu_s(), _read_chars()))
        if done in (0, total):
            tree_cpu.append(_tree_cpu_s())

    t0 = time.perf_counter()
    with open_store(f"sqlite:///{db}") as store:
        summary = run_monitor(registry, catalog, store, params, progress=progress)
    t1 = time.perf_counter()
    result: dict[str, Any] = {
        "workers": workers,
        # what this process's detectors ran with (the in-process run sets its own for the run)
        "detector_threads": current_threads()
        or (in_process_detector_threads(io_threads) if workers == 1 else 0),
        "run_cpu_s": _cpu_s() - cpu_start,  # this process and its reaped Dask workers
        "chips": summary.observed,
        "failed": summary.failed,
        "total_s": t1 - t0,
        "timings": summary.timings,
        "observe_s": marks[-1][0] - marks[0][0],
        "main_cpu_s": marks[-1][1] - marks[0][1],
        "tree_cpu_s": tree_cpu[-1] - tree_cpu[0],
        "maxrss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "maxrss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }
    if workers == 1:  # chips come back in group order: each interval is about one chip
        # (reading runs ahead in threads, so a chip's interval holds the wait for its pixels)
        result["per_sensor"] = _per_sensor(tasks, marks)
        result["db_s_per_chip"], result["db_cpu_s_per_chip"] = _store_cost(db)
        result["zones"] = [[z.target for z in s.zones] for s in registry.sites]
    return result


def _per_sensor(tasks: list[Any], marks: list[tuple[float, float, int]]) -> dict[str, Any]:
    seconds: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    read: dict[str, list[int]] = defaultdict(list)
    assets: dict[str, int] = {}
    for task, before, after in zip(tasks, marks, marks[1:], strict=False):
        sensor = task.scene.sensor
        seconds[sensor].append(after[0] - before[0])
        cpu[sensor].append(after[1] - before[1])
        read[sensor].append(after[2] - before[2])
        assets[sensor] = len(task.scene.assets)
    return {
        s: {
            "chips": len(seconds[s]),
            "s_per_chip": statistics.fmean(seconds[s]),
            "cpu_s_per_chip": statistics.fmean(cpu[s]),
            "bytes_per_chip": statistics.fmean(read[s]),
            "assets": assets[s],
        }
        for s in sorted(seconds)
    }


def _store_cost(db: Path) -> tuple[float, float]:
    """Wall and CPU seconds per chip to write the run's observations and statuses afresh,
    in batches as ``monitor`` writes them."""
    from basewatch.monitor import FLUSH_CHIPS
    from basewatch.store import ChipOutcome, open_store

    with open_store(f"sqlite:///{db}") as store:
        observations = store.observations()
    outcomes = [
        ChipOutcome(
            site_id=o.site_id, zone_id=o.zone_id, scene_id=o.scene_id, status="done", observation=o
        )
        for o in observations
    ]
    fresh = db.with_name("store-cost.db")
    with open_store(f"sqlite:///{fresh}") as store:
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(outcomes), FLUSH_CHIPS):
            store.record_chips(outcomes[i : i + FLUSH_CHIPS])
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = max(len(observations), 1)
    return elapsed / n, cpu / n


# ---------------------------------------------------------------------------- parent


class TreeSampler:
    """Samples a process tree every ``interval`` s: peak total RSS, I/O and CPU per process."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_rss = 0
        self.read_chars: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                continue
            rss = 0
            for proc in tree:
                try:
                    rss += proc.memory_info().rss
                    self.read_chars[proc.pid] = proc.io_counters().read_chars
                except psutil.Error:
                    continue
            self.peak_rss = max(self.peak_rss, rss)


def measure(
    scenario: Path, workers: int, tmp: Path, args: argparse.Namespace, rep: int = 0
) -> dict[str, Any]:
    """Run one child (into a fresh store: ``w{workers}.db``, ``-r{rep}`` after the first
    repetition) and add what the parent saw of its process tree."""
    suffix = f"-r{rep}" if rep else ""
    out = tmp / f"run-{workers}{suffix}.json"
    db = tmp / f"w{workers}{suffix}.db"
    command = [sys.executable, __file__, "--child", str(scenario), str(db)]
    command += ["--workers", str(workers), "--json", str(out), "--from", args.start]
    command += ["--to", args.end, "--io-threads", str(args.io_threads)]
    if args.detector_threads is not None:
        command += ["--detector-threads", str(args.detector_threads)]
    load_before = _load()
    process = subprocess.Popen(command)
    with TreeSampler(process.pid) as sampler:
        process.wait()
    if process.returncode:
        raise SystemExit(f"the {workers}-worker run failed (exit {process.returncode})")
    result: dict[str, Any] = json.loads(out.read_text())
    result["load"] = f"{load_before} before, {_load()} after"
    result["peak_tree_rss_mb"] = sampler.peak_rss / 1e6
    result["tree_read_mb"] = sum(sampler.read_chars.values()) / 1e6
    return result


def _chips_per_site_year(zones: list[list[str]]) -> tuple[float, float]:
    """Sentinel-1 and Sentinel-2 chips per site per year, for this registry's mix of zones."""
    s1, s2 = _zones_per_site(zones)
    return s1 * S1_PER_YEAR, s2 * S2_PER_YEAR


def _zones_per_site(zones: list[list[str]]) -> tuple[float, float]:
    """Zones per site observed by Sentinel-1 and by Sentinel-2 (chips per site and scene)."""
    from basewatch.observe import observable

    all_zones = [t for site in zones for t in site]
    s1 = sum(observable(t, "sentinel-1") for t in all_zones) / len(zones)
    s2 = sum(observable(t, "sentinel-2") for t in all_zones) / len(zones)
    return s1, s2


def estimate(one: dict[str, Any], two: dict[str, Any] | None) -> list[str]:
    """Lines of the 1,000-site estimate from the measured costs per chip.

    CPU per real chip = the measured observing CPU + the decode of every asset's COG tiles
    (bench/load.py); on a cluster it grows by the Dask overhead measured here (CPU per chip of
    all processes with 2 workers against 1). The serial part is the one process that writes
    the store: the larger of its CPU per chip with 2 workers and the store writes alone.
    """
    s1_chips, s2_chips = _chips_per_site_year(one["zones"])
    s1_group, s2_group = _zones_per_site(one["zones"])
    group = {"sentinel-1": max(s1_group, 1.0), "sentinel-2": max(s2_group, 1.0)}
    per = one["per_sensor"]
    counts = {"sentinel-1": SITES * s1_chips, "sentinel-2": SITES * s2_chips}
    chips = sum(counts.values())
    # a site's zones share the reads and decodes of a scene: per chip, 1/(zones per site)
    cpu_s = sum(
        n * (per[s]["cpu_s_per_chip"] + per[s]["assets"] * REAL_READ_S_PER_ASSET / group[s])
        for s, n in counts.items()
    )
    real_bytes = sum(
        n * per[s]["assets"] * REAL_BYTES_PER_ASSET / group[s] for s, n in counts.items()
    )
    requests = sum(n * per[s]["assets"] * REQUESTS_PER_ASSET / group[s] for s, n in counts.items())
    overhead = 1.0
    serial_s = one["db_s_per_chip"]
    if two is not None:
        overhead = max((two["tree_cpu_s"] / two["chips"]) / (one["tree_cpu_s"] / one["chips"]), 1)
        serial_s = max(serial_s, two["main_cpu_s"] / two["chips"])
    net_h = real_bytes / NETWORK_BYTES_PER_S / 3600
    serial_h = chips * serial_s / 3600
    lines = [
        f"1,000 sites x 1 year: {counts['sentinel-1']:,.0f} Sentinel-1 + "
        f"{counts['sentinel-2']:,.0f} Sentinel-2 chips = {chips:,.0f} chips "
        f"(S1 {S1_PER_YEAR}, S2 {S2_PER_YEAR} passes a year; this registry's mix of zones)",
        f"CPU {cpu_s / 3600:,.1f} core-hours in one process (x{overhead:.2f} on Dask); "
        f"{real_bytes / 1e12:,.2f} TB read from real COGs; "
        f"store writer {serial_s * 1e3:.1f} ms/chip = {serial_h:,.2f} h",
        f"{'M workers':>10} {'CPU h':>8} {'latency h':>10} {'network h':>10} {'store h':>8}"
        "  limited by",
    ]
    for m in CLUSTER_SIZES:
        cpu_h = cpu_s / 3600 * (overhead if m > 1 else 1.0) / m
        latency_h = requests * LATENCY_S / (m * READERS_PER_WORKER) / 3600
        hours = {"CPU": cpu_h, "latency": latency_h, "bytes read": net_h, "database": serial_h}
        limit = max(hours, key=lambda k: hours[k])
        lines.append(
            f"{m:>10} {cpu_h:>8.1f} {latency_h:>10.2f} {net_h:>10.1f} {serial_h:>8.2f}  {limit} "
            f"(~{hours[limit]:.1f} h)"
        )
    lines.append(
        f"(network: {NETWORK_BYTES_PER_S * 8 / 1e9:.0f} Gbit/s for the whole cluster; "
        f"{REAL_BYTES_PER_ASSET / 1e6:.1f} MB and {REAL_READ_S_PER_ASSET * 1e3:.0f} ms per asset "
        f"and site-scene, shared by {s1_group:.1f} (S1) / {s2_group:.1f} (S2) zones per site; "
        f"latency {LATENCY_S * 1e3:.0f} ms x {REQUESTS_PER_ASSET} requests per asset, "
        f"{READERS_PER_WORKER} readers per worker; "
        "per chip from bench/load.py; store: one SQLite writer)"
    )
    return lines


def _same(tmp: Path, runs: dict[int, dict[str, Any]]) -> str:
    """Whether every run's `export observations` (CSV) gives the same bytes; else the first
    differing line (a detector edited between the runs shows up here)."""
    from basewatch.store import export_observations, open_store

    exports = {}
    for workers in runs:
        with open_store(f"sqlite:///{tmp / f'w{workers}.db'}") as store:
            exports[workers] = export_observations(store, "csv").splitlines()
    first = exports[min(exports)]
    for workers, lines in exports.items():
        if lines != first:
            diff = next((a, b) for a, b in zip(first, lines, strict=False) if a != b)
            return f"no ({workers} workers differ first at: {diff[0]!r} vs {diff[1]!r})"
    return "yes"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def report(runs: dict[int, dict[str, Any]], load_before: str, load_after: str) -> None:
    """Print the figures of every run, the speed-up and the estimate."""
    print(f"machine: {load_before} before, {load_after} after")
    for workers, r in sorted(runs.items()):
        rate = r["chips"] / r["observe_s"]
        print(
            f"{workers} worker(s): {r['chips']} chips ({r['failed']} failed) in "
            f"{r['observe_s']:.1f} s observing = {rate:.1f} chips/s; "
            f"{r['total_s'] - r['observe_s']:.1f} s planning + start-up; "
            f"peak memory {r['peak_tree_rss_mb']:.0f} MB (process tree, summed), "
            f"largest process {max(r['maxrss_self_kb'], r['maxrss_children_kb']) / 1e3:.0f} MB; "
            f"CPU {r['tree_cpu_s'] / r['chips'] * 1e3:.1f} ms/chip observing "
            f"(main process {r['main_cpu_s'] / r['chips'] * 1e3:.1f}), "
            f"{r['run_cpu_s'] / r['chips'] * 1e3:.1f} ms/chip whole run "
            f"({r['run_cpu_s']:.1f} s of CPU, process tree); "
            f"detector threads {r['detector_threads'] or 'default'} in the main process; "
            f"{r['load']}"
        )
        budget = ", ".join(f"{k} {v:.2f}" for k, v in r["timings"].items())
        print(f"  whole run {r['total_s']:.1f} s: {budget} s")
    if 1 not in runs:
        return
    one = runs[1]
    for sensor, p in one["per_sensor"].items():
        print(
            f"  {sensor:<11} {p['chips']:>4} chips: {p['s_per_chip'] * 1e3:6.1f} ms/chip wall, "
            f"{p['cpu_s_per_chip'] * 1e3:6.1f} ms CPU, {p['bytes_per_chip'] / 1e6:5.2f} MB read "
            f"({p['assets']} assets)"
        )
    print(
        f"  store writes alone: {one['db_s_per_chip'] * 1e3:.1f} ms/chip wall, "
        f"{one['db_cpu_s_per_chip'] * 1e3:.1f} ms CPU (SQLite)"
    )
    if 2 in runs:
        two = runs[2]
        speedup = (two["chips"] / two["observe_s"]) / (one["chips"] / one["observe_s"])
        # what 2 idle cores would give: the workers share the cluster's CPU, the main process
        # (store writes, scheduling) runs beside them
        cpu_bound = 2 * (one["tree_cpu_s"] / one["chips"]) / (two["tree_cpu_s"] / two["chips"])
        whole = one["total_s"] / two["total_s"]
        run_cpu = (two["run_cpu_s"] / two["chips"]) / (one["run_cpu_s"] / one["chips"])
        print(
            f"whole-run speed-up with 2 workers: {whole:.2f} (target >= 1.5; wall clock: valid "
            f"only on an idle machine, see the load averages); observing phase "
            f"{speedup:.2f}; {min(cpu_bound, 2.0):.2f} from CPU per chip (1 worker vs all "
            f"processes of 2); whole-run CPU per chip with 2 workers x{run_cpu:.2f} of 1"
        )
    for line in estimate(one, runs.get(2)):
        print(line)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose whole-run time is the median (the lower one of an even count)."""
    ordered = sorted(runs, key=lambda r: r["total_s"])
    return ordered[(len(ordered) - 1) // 2]


def repeat_line(repeats: dict[int, list[dict[str, Any]]]) -> str:
    """Whole-run seconds of every repetition and the speed-up of the medians."""
    parts = []
    for workers, runs in sorted(repeats.items()):
        times = " ".join(f"{r['total_s']:.1f}" for r in runs)
        parts.append(f"{workers} worker(s) {times} s")
    line = f"whole-run times of {len(next(iter(repeats.values())))} alternating repetitions: "
    line += "; ".join(parts)
    if 1 in repeats and 2 in repeats:
        one = statistics.median(r["total_s"] for r in repeats[1])
        two = statistics.median(r["total_s"] for r in repeats[2])
        pairs = " ".join(
            f"{a['total_s'] / b['total_s']:.2f}"
            for a, b in zip(repeats[1], repeats[2], strict=True)
        )
        line += f"; speed-up of the medians {one / two:.2f} (pair by pair: {pairs})"
    return line


def build(scenario: Path, sites: int, args: argparse.Namespace) -> None:
    """Build the ``sites``-site scenario into ``scenario`` unless it is there already."""
    from datetime import date

    from basewatch.scenario import SCENARIO_END, SCENARIO_START, build_scenario

    if (scenario / "catalog" / "catalog.json").exists():
        return
    start = date.fromisoformat(args.build_from) if args.build_from else SCENARIO_START
    end = date.fromisoformat(args.build_to) if args.build_to else SCENARIO_END
    t0, c0 = time.perf_counter(), _cpu_s()
    build_scenario(scenario, n_sites=sites, start=start, end=end, workers=args.build_workers)
    print(
        f"built the {sites}-site scenario ({start} to {end}) in {time.perf_counter() - t0:.0f} s "
        f"({_cpu_s() - c0:.0f} s of CPU; {_load()})",
        flush=True,
    )


def memory_table(by_sites: dict[int, dict[int, dict[str, Any]]]) -> None:
    """Peak memory of the process tree per site count and worker count, against the fewest."""
    fewest = min(by_sites)
    print("peak memory of the process tree (summed RSS), MB, and ratio to the fewest sites:")
    for sites, runs in sorted(by_sites.items()):
        cells = []
        for workers, r in sorted(runs.items()):
            base = by_sites[fewest].get(workers, r)["peak_tree_rss_mb"]
            cells.append(
                f"{workers} worker(s) {r['peak_tree_rss_mb']:.0f} MB "
                f"(x{r['peak_tree_rss_mb'] / base:.2f}; {r['chips']} chips)"
            )
        print(f"  {sites:>4} sites: " + "; ".join(cells))


def main() -> None:
    """Build (or reuse) each scenario, run each worker count, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[12])
    parser.add_argument(
        "--keep", type=Path, help="Build the scenarios here once (DIR/sites-N) and reuse them."
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--child", nargs=2, type=Path, metavar=("SCENARIO", "DB"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--from", dest="start", default=DEMO_START)
    parser.add_argument("--to", dest="end", default=DEMO_END)
    parser.add_argument("--build-from", help="First day of the scenario built (default: all).")
    parser.add_argument("--build-to", help="Last day of the scenario built (default: all).")
    parser.add_argument(
        "--build-workers", type=int, help="Processes that render the scenario (default: 4)."
    )
    parser.add_argument("--io-threads", type=int, default=2)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="Run the worker counts this many times, alternating; report the median runs.",
    )
    parser.add_argument(
        "--detector-threads",
        type=int,
        help="onnxruntime threads of the in-process detectors (default: monitor's).",
    )
    args = parser.parse_args()
    if args.child:
        result = run_child(
            args.child[0],
            args.child[1],
            args.workers[0],
            args.start,
            args.end,
            args.io_threads,
            args.detector_threads,
        )
        args.json.write_text(json.dumps(result))
        return
    by_sites: dict[int, dict[int, dict[str, Any]]] = {}
    for sites in args.sites:
        with tempfile.TemporaryDirectory(prefix="basewatch-scale-") as tmp:
            scenario = Path(tmp) / "scenario"
            if args.keep:  # DIR itself when it holds one scenario already (earlier runs)
                one = (args.keep / "catalog" / "catalog.json").exists()
                scenario = args.keep if one else args.keep / f"sites-{sites}"
            build(scenario, sites, args)
            load_before = _load()
            repeats: dict[int, list[dict[str, Any]]] = {w: [] for w in args.workers}
            for rep in range(max(args.repeat, 1)):  # alternate, so drifts hit every count
                for w in args.workers:
                    repeats[w].append(measure(scenario, w, Path(tmp), args, rep))
            runs = {w: _median_run(r) for w, r in repeats.items()}
            print(f"== {sites} sites, {args.start} to {args.end}")
            report(runs, load_before, _load())
            if args.repeat > 1:
                print(repeat_line(repeats))
            print(f"observations byte-identical across worker counts: {_same(Path(tmp), runs)}")
            by_sites[sites] = runs
    if len(by_sites) > 1:
        memory_table(by_sites)


if __name__ == "__main__":
    main()

"""Network-bound monitor: chips per second over a slow link, against the bound the link allows.

The demo scenario (2 sites, a short period; built once into a temporary folder, or into
--keep DIR and reused) is served by a loopback HTTP server that answers every request after a
set latency (100 ms by default: an object store across the internet) and sends all bodies
through one shared link of a set bandwidth. `run_monitor` then observes every chip from those
URLs with 1, 2, 4 and 8 reading threads (`LoadParams.io_threads`, one process), each run into
a fresh store with cold GDAL caches (a fresh query string per run).

The bound for T threads is the smallest of: latency (each thread waits one latency per
request: T / (requests per chip x latency) chips/s), bandwidth (link / bytes per chip) and CPU
(the cores / CPU seconds per chip). Figures printed, nothing asserted.

Usage: nice -n 10 python bench/netbound.py [--latency-ms 100] [--mbit 200] [--threads 1 2 4 8]
       [--keep DIR] [--workers-too]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from basewatch.imagery.catalog import Catalog, Scene, open_catalog
from basewatch.imagery.load import LoadParams
from basewatch.imagery.testing import ServerStats, _Handler, _serve
from basewatch.monitor import MonitorParams, run_monitor
from basewatch.scenario import build_scenario
from basewatch.sites import load_registry
from basewatch.store import export_observations, open_store

START, END = date(2024, 10, 16), date(2024, 12, 14)
"""The period observed (both Syrian sites: Sentinel-1, Sentinel-2 and sub-metre passes)."""


class Link:
    """One shared link of ``bytes_per_s``: every body goes through it in 64 kB pieces."""

    def __init__(self, bytes_per_s: float) -> None:
        self.rate = bytes_per_s
        self.free_at = 0.0
        self.lock = threading.Lock()

    def send(self, write: Any, body: bytes) -> None:
        """Write ``body`` no faster than the link allows (shared by all connections)."""
        for i in range(0, len(body), 65536):
            piece = body[i : i + 65536]
            with self.lock:
                start = max(time.monotonic(), self.free_at)
                self.free_at = start + len(piece) / self.rate
                until = self.free_at
            delay = until - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            write(piece)


class SlowHandler(_Handler):
    """The loopback file server, answering after ``latency_s`` through ``link``."""

    latency_s: float
    link: Link
    heads: list[int]

    def do_GET(self) -> None:  # noqa: N802 - http.server API (HEAD comes through here too)
        """Wait one latency, then answer as the plain server does."""
        if self.command == "HEAD":
            with self.stats.lock:
                self.heads.append(1)
        time.sleep(self.latency_s)
        super().do_GET()

    def _send(
        self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.link.send(self.wfile.write, body)
            with self.stats.lock:
                self.stats.bytes_sent += len(body)


@contextmanager
def serve_slow(
    root: Path, latency_s: float, bytes_per_s: float
) -> Iterator[tuple[str, ServerStats, list[int]]]:
    """Serve ``root`` with the latency and the bandwidth cap; yields (url, stats, heads)."""
    heads: list[int] = []
    with _serve(
        SlowHandler,
        root=root.resolve(),
        items=[],
        stac=False,
        latency_s=latency_s,
        link=Link(bytes_per_s),
        heads=heads,
    ) as (url, stats, _):
        yield url, stats, heads


class RemoteCatalog:
    """The scenario's catalogue with every asset href moved onto the server (``?run=TAG``)."""

    def __init__(self, inner: Catalog, root: Path, url: str, tag: str) -> None:
        self.inner, self.root, self.url, self.tag = inner, root.resolve(), url, tag
        self.name = f"{url} (served {root})"

    def _remote(self, href: str) -> str:
        rel = Path(href).resolve().relative_to(self.root).as_posix()
        return f"{self.url}/{rel}?run={self.tag}"

    def search(self, **kwargs: Any) -> list[Scene]:
        """The inner catalogue's scenes, their assets on the server."""
        return [
            dataclasses.replace(s, assets={k: self._remote(v) for k, v in s.assets.items()})
            for s in self.inner.search(**kwargs)
        ]


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def run_once(
    root: Path, url: str, stats: ServerStats, heads: list[int], *, threads: int, workers: int
) -> dict[str, Any]:
    """One monitor run from the server into a fresh store; its figures and export."""
    registry = load_registry(root / "sites.geojson")
    tag = f"t{threads}w{workers}-{time.monotonic_ns()}"
    catalog = RemoteCatalog(open_catalog(root / "catalog" / "catalog.json"), root, url, tag)
    params = MonitorParams(
        start=datetime(START.year, START.month, START.day, tzinfo=UTC),
        end=datetime(END.year, END.month, END.day, 23, 59, 59, tzinfo=UTC),
        workers=workers,
        load=LoadParams(use_cache=False, io_threads=threads),
    )
    db = root / f"netbound-{tag}.db"
    requests0, bytes0, heads0, cpu0 = stats.requests, stats.bytes_sent, len(heads), _cpu_s()
    with open_store(f"sqlite:///{db}") as store:
        summary = run_monitor(registry, catalog, store, params)
        export = export_observations(store, "csv")
    db.unlink()
    return {
        "threads": threads,
        "workers": workers,
        "chips": summary.observed,
        "failed": summary.failed,
        "failures": summary.failures[:3],
        "observe_s": summary.timings["observing"],
        "requests": stats.requests - requests0,
        "heads": len(heads) - heads0,
        "bytes": stats.bytes_sent - bytes0,
        "cpu_s": _cpu_s() - cpu0,
        "export": export,
    }


def _bound(run: dict[str, Any], latency_s: float, bytes_per_s: float, cpu: float) -> float:
    chips = max(run["chips"], 1)
    concurrency = run["threads"] * run["workers"]
    by_latency = concurrency / (run["requests"] / chips * latency_s)
    by_bandwidth = bytes_per_s / max(run["bytes"] / chips, 1)
    by_cpu = (os.cpu_count() or 1) / max(cpu, 1e-6)
    return min(by_latency, by_bandwidth, by_cpu)


def report(runs: Sequence[dict[str, Any]], latency_s: float, bytes_per_s: float) -> None:
    """Print each run against its bound, and 8 threads against 1."""
    one = runs[0]
    cpu = one["cpu_s"] / max(one["chips"], 1)  # the 1-thread run: CPU per chip, all in-process
    print(
        f"{'workers x threads':>17} {'chips':>6} {'s':>7} {'chips/s':>8} {'bound':>7} "
        f"{'of bound':>8} {'req/chip':>8} {'kB/chip':>8} {'speed-up':>8} {'CPU used':>8}"
    )
    base = one["chips"] / one["observe_s"]
    for r in runs:
        rate = r["chips"] / r["observe_s"]
        bound = _bound(r, latency_s, bytes_per_s, cpu)
        print(
            f"{r['workers']:>7} x {r['threads']:<7} {r['chips']:>6} {r['observe_s']:>7.1f} "
            f"{rate:>8.2f} {bound:>7.2f} {rate / bound:>8.0%} "
            f"{r['requests'] / max(r['chips'], 1):>8.1f} "
            f"{r['bytes'] / max(r['chips'], 1) / 1e3:>8.0f} "
            f"{rate / base:>8.2f} {r['cpu_s'] / r['observe_s']:>8.2f}"
        )
        if r["failed"]:
            print(f"   {r['failed']} failed, e.g. {r['failures']}")
    best = max(runs, key=lambda r: r["threads"] * r["workers"])
    print(
        f"{best['workers'] * best['threads']} readers vs 1: "
        f"{(best['chips'] / best['observe_s']) / base:.2f}x (target >= 6); "
        f"CPU {cpu * 1e3:.0f} ms/chip (1 reader); HEAD requests in the 1-reader run: "
        f"{one['heads']}"
    )
    same = all(r["export"] == one["export"] for r in runs)
    print(f"observations byte-identical across runs: {'yes' if same else 'NO'}")
    print(
        "(CPU used: cores this process got while observing; on a shared machine the CPU left "
        "over by other jobs, not the link, can be the limit)"
    )
    for r in runs:
        pairs = zip(one["export"].splitlines(), r["export"].splitlines(), strict=False)
        for a, b in pairs:
            if a != b:
                print(f"  {r['workers']} x {r['threads']} differs first at:\n  {a}\n  {b}")
                break


def main() -> None:
    """Build (or reuse) the scenario, serve it slowly, run each reader count, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--mbit", type=float, default=200.0, help="Link bandwidth, Mbit/s.")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--workers-too", action="store_true", help="Add 2 Dask workers x 4.")
    parser.add_argument("--keep", type=Path, help="Build the scenario here once and reuse it.")
    args = parser.parse_args()
    latency_s, bytes_per_s = args.latency_ms / 1e3, args.mbit * 1e6 / 8
    with tempfile.TemporaryDirectory(prefix="basewatch-netbound-") as tmp:
        root = args.keep or Path(tmp) / "scenario"
        if not (root / "catalog" / "catalog.json").exists():
            t0 = time.perf_counter()
            build_scenario(root, n_sites=2, start=START, end=END, workers=1)
            print(f"built the scenario in {time.perf_counter() - t0:.0f} s")
        one, five, fifteen = os.getloadavg()
        print(
            f"link: {args.latency_ms:.0f} ms per request, {args.mbit:.0f} Mbit/s shared; "
            f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"
        )
        runs = []
        with serve_slow(root, latency_s, bytes_per_s) as (url, stats, heads):
            for threads in args.threads:
                runs.append(run_once(root, url, stats, heads, threads=threads, workers=1))
            if args.workers_too:
                runs.append(run_once(root, url, stats, heads, threads=4, workers=2))
        report(runs, latency_s, bytes_per_s)
        one, five, fifteen = os.getloadavg()
        print(f"load average after: {one:.2f} {five:.2f} {fifteen:.2f}")


if __name__ == "__main__":
    main()

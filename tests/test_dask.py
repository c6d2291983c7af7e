"""monitor on Dask: a local cluster or an existing scheduler gives the same observations."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed", reason="the Dask tests need the [dask] extra")

from distributed import Client, LocalCluster  # noqa: E402

from basewatch.errors import InputError  # noqa: E402
from basewatch.imagery.catalog import open_catalog  # noqa: E402
from basewatch.imagery.load import LoadParams  # noqa: E402
from basewatch.monitor import (  # noqa: E402
    MonitorParams,
    chips_per_task,
    dask_client,
    parse_day,
    plan,
    stream_chips,
    window_size,
)
from basewatch.pipeline import monitor  # noqa: E402
from basewatch.scenario import ScenarioPaths, build_scenario  # noqa: E402
from basewatch.sites import load_registry  # noqa: E402
from basewatch.store import export_observations, open_store  # noqa: E402

START, END = date(2024, 11, 25), date(2024, 12, 10)
RUN = {"start": START.isoformat(), "end": END.isoformat()}
FORMATS = ("csv", "json", "geojson")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioPaths:
    root = tmp_path_factory.mktemp("dask")
    return build_scenario(root, n_sites=3, start=START, end=END, workers=1)


def _exports(db: str) -> dict[str, str]:
    with open_store(db) as store:
        return {fmt: export_observations(store, fmt) for fmt in FORMATS}


@pytest.fixture(scope="module")
def in_process(scenario: ScenarioPaths, tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    """One worker, no cluster: the reference."""
    db = f"sqlite:///{tmp_path_factory.mktemp('one') / 'one.db'}"
    summary = monitor(scenario.sites, scenario.catalog, db=db, workers=1, **RUN)
    return {"summary": summary, "exports": _exports(db)}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A cluster of two single-threaded worker processes on loopback, as a user would start."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as running:
        yield running


def test_two_workers_store_byte_identical_observations(
    scenario: ScenarioPaths,
    in_process: dict,  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'two.db'}"
    calls: list[tuple[int, int]] = []
    summary = monitor(
        scenario.sites,
        scenario.catalog,
        db=db,
        workers=2,
        progress=lambda done, total: calls.append((done, total)),
        **RUN,
    )
    reference = in_process["summary"]
    assert summary.failed == 0, summary.failures
    assert summary.observed == reference.observed == summary.tasks >= 20
    assert _exports(db) == in_process["exports"]
    total = summary.tasks
    assert calls == [(done, total) for done in range(total + 1)]


def test_monitor_runs_on_an_existing_scheduler(
    scenario: ScenarioPaths,
    in_process: dict,  # type: ignore[type-arg]
    cluster: LocalCluster,
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'scheduler.db'}"
    args = ["monitor", "--sites", str(scenario.sites), "--catalog", str(scenario.catalog)]
    args += ["--db", db, "--from", RUN["start"], "--to", RUN["end"]]
    args += ["--scheduler", cluster.scheduler_address]
    done = subprocess.run(
        [sys.executable, "-m", "basewatch", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert " 0 failed" in done.stdout
    assert "observe_chips" in cluster.scheduler.task_prefixes  # the chips ran on this cluster
    assert _exports(db) == in_process["exports"]


def test_chips_are_streamed_in_a_bounded_window(
    scenario: ScenarioPaths, cluster: LocalCluster
) -> None:
    registry = load_registry(scenario.sites)
    params = MonitorParams(
        start=parse_day(RUN["start"]), end=parse_day(RUN["end"], end_of_day=True)
    )
    _, tasks = plan(registry, open_catalog(scenario.catalog), params)
    window, batch = window_size(2), 2
    assert len(tasks) > window * batch
    in_flight: list[int] = []  # chips submitted and not yet handed back, at each submit
    counts = {"submitted": 0, "returned": 0}

    with Client(cluster, set_as_default=False) as client:
        submit = client.submit

        def counting_submit(func: Any, chips: list[Any], *args: Any, **kwargs: Any) -> Any:
            counts["submitted"] += len(chips)
            in_flight.append(counts["submitted"] - counts["returned"])
            return submit(func, chips, *args, **kwargs)

        client.submit = counting_submit  # type: ignore[method-assign]
        keys = []
        for task, obs, error in stream_chips(
            client, tasks, LoadParams(), window=window, batch=batch
        ):
            counts["returned"] += 1
            assert obs is not None, error
            keys.append(task.key)
    assert sorted(keys) == sorted(t.key for t in tasks)
    assert max(in_flight) == window * batch
    assert len(in_flight) == -(-len(tasks) // batch)  # one Dask task per batch


def test_two_local_clusters_side_by_side_do_not_warn(recwarn: pytest.WarningsRecorder) -> None:
    """Two monitors with --workers at once (e.g. disjoint --site sets into one PostgreSQL
    store): the second one's scheduler must not find Dask's fixed HTTP port 8787 taken."""
    params = MonitorParams(start=parse_day(RUN["start"]), end=parse_day(RUN["end"]), workers=2)
    with dask_client(params) as first, dask_client(params) as second:
        assert first.scheduler_info()["address"] != second.scheduler_info()["address"]
    taken = [w for w in recwarn if "already in use" in str(w.message)]
    assert not taken, [str(w.message) for w in taken]


def test_chips_per_task_keep_every_thread_busy() -> None:
    assert chips_per_task(10, 2) == 1
    assert chips_per_task(40, 2) == 5
    assert chips_per_task(100_000, 64) == 16


def test_failed_chips_come_back_from_the_workers_as_in_process(
    scenario: ScenarioPaths, cluster: LocalCluster, tmp_path: Path
) -> None:
    asset = sorted((scenario.catalog.parent / "sentinel-2-l2a").rglob("*.tif"))[0]
    hidden = asset.with_suffix(".hidden")
    asset.rename(hidden)
    try:
        one = monitor(scenario.sites, scenario.catalog, db=f"sqlite:///{tmp_path / '1.db'}", **RUN)
        on_cluster = monitor(
            scenario.sites,
            scenario.catalog,
            db=f"sqlite:///{tmp_path / 'c.db'}",
            scheduler=cluster.scheduler_address,
            **RUN,
        )
    finally:
        hidden.rename(asset)
    assert one.failed >= 1
    assert sorted(on_cluster.failures) == sorted(one.failures)
    assert all(asset.parent.name in line and asset.name in line for line in one.failures)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    params = MonitorParams(
        start=parse_day("2024-12-01"),
        end=parse_day("2024-12-02"),
        scheduler=address,
        connect_timeout_s=0.5,
    )
    with (
        pytest.raises(InputError, match="no Dask scheduler answered") as error,
        dask_client(params),
    ):
        pass
    assert address in str(error.value) and "--workers N" in str(error.value)


def test_workers_and_scheduler_together_are_refused(
    scenario: ScenarioPaths, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="either --workers N"):
        monitor(
            scenario.sites,
            scenario.catalog,
            db=f"sqlite:///{tmp_path / 'x.db'}",
            workers=2,
            scheduler="tcp://127.0.0.1:8786",
            **RUN,
        )

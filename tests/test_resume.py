"""`basewatch monitor` killed with SIGKILL and started again ends as an uninterrupted run."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from importlib.util import find_spec
from pathlib import Path

import pytest

from basewatch.pipeline import monitor
from basewatch.scenario import ScenarioPaths, build_scenario
from basewatch.store import export_observations, open_store

START, END = date(2024, 11, 25), date(2024, 12, 10)
"""Three sites over two weeks: about two dozen chips, a few seconds of work."""
RUN = {"start": START.isoformat(), "end": END.isoformat()}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioPaths:
    root = tmp_path_factory.mktemp("resume")
    return build_scenario(root, n_sites=3, start=START, end=END, workers=1)


def _monitor_args(scenario: ScenarioPaths, db: Path, workers: int) -> list[str]:
    return [
        "monitor",
        "--sites",
        str(scenario.sites),
        "--catalog",
        str(scenario.catalog),
        "--db",
        f"sqlite:///{db}",
        "--from",
        START.isoformat(),
        "--to",
        END.isoformat(),
        "--workers",
        str(workers),
    ]


def _basewatch(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "basewatch", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )


def _export(db: Path) -> str:
    """``basewatch export observations --format json`` of ``db``."""
    args = ["export", "observations", "--db", f"sqlite:///{db}", "--format", "json"]
    return _basewatch(args).stdout


@pytest.fixture(scope="module")
def reference(scenario: ScenarioPaths, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run."""
    db = tmp_path_factory.mktemp("reference") / "reference.db"
    monitor(scenario.sites, scenario.catalog, db=f"sqlite:///{db}", **RUN)
    return db


@pytest.fixture(scope="module")
def reference_export(reference: Path) -> str:
    return _export(reference)


def _stored(db: Path) -> int:
    """How many observations ``db`` holds now (0 before the schema exists)."""
    if not db.exists():
        return 0
    connection = sqlite3.connect(db, timeout=30)
    try:
        return int(connection.execute("SELECT count(*) FROM observations").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not created yet
        return 0
    finally:
        connection.close()


def _run_and_kill(args: list[str], db: Path, *, at_least: int) -> tuple[bool, int]:
    """Start monitor, SIGKILL it (and its Dask workers) once ``db`` holds ``at_least`` rows.

    Returns whether it was still running when killed, and how many rows it left.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "basewatch", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while process.poll() is None and time.monotonic() < deadline:
            if _stored(db) >= at_least:
                break
            time.sleep(0.005)
        running = process.poll() is None
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        # the workers of the killed run die with it, like on a machine losing power
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return running, _stored(db)


def _keys(db: Path) -> tuple[int, int]:
    """``(rows, distinct keys)`` of the observations table."""
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute("SELECT count(*) FROM observations").fetchone()[0]
        keys = connection.execute(
            "SELECT count(*) FROM (SELECT DISTINCT site_id, zone_id, scene_id, detector, "
            "detector_version FROM observations)"
        ).fetchone()[0]
    finally:
        connection.close()
    return int(rows), int(keys)


NO_DASK = pytest.mark.skipif(
    find_spec("distributed") is None, reason="2 workers need the [dask] extra (distributed)"
)


@pytest.mark.parametrize(
    ("workers", "kill_at"), [(1, (0.0, 0.4)), pytest.param(2, (0.4,), marks=NO_DASK)]
)
def test_killed_runs_resume_to_the_uninterrupted_result(
    scenario: ScenarioPaths,
    reference: Path,
    reference_export: str,
    tmp_path: Path,
    workers: int,
    kill_at: tuple[float, ...],
) -> None:
    """Kill once these fractions of the observations are stored (0: the first), then finish."""
    total = _stored(reference)
    assert total >= 20
    db = tmp_path / "killed.db"
    args = _monitor_args(scenario, db, workers)
    left = [0]
    for at_least in (max(1, int(total * f)) for f in kill_at):
        running, stored = _run_and_kill(args, db, at_least=at_least)
        assert running, "the run finished before it could be killed"
        assert max(at_least, left[-1]) <= stored < total
        left.append(stored)

    done = _basewatch(args).stdout
    assert f"{total - left[-1]} observed, {left[-1]} already stored, 0 failed" in done
    assert _keys(db) == (total, total)
    assert _export(db) == reference_export
    with open_store(f"sqlite:///{db}") as store:
        assert store.failed_chips() == []


def _first_asset(scenario: ScenarioPaths, collection: str) -> Path:
    return sorted((scenario.catalog.parent / collection).rglob("*.tif"))[0]


def test_failed_chips_are_tried_again(
    scenario: ScenarioPaths, reference: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'retry.db'}"
    asset = _first_asset(scenario, "sentinel-1-grd")
    hidden = asset.with_suffix(".hidden")
    asset.rename(hidden)
    try:
        first = monitor(scenario.sites, scenario.catalog, db=db, **RUN)
    finally:
        hidden.rename(asset)
    assert first.failed >= 1
    assert all(asset.parent.name in line for line in first.failures)
    with open_store(db) as store:
        failed = store.failed_chips()
    assert [scene for _, _, scene, _ in failed] == [asset.parent.name] * first.failed
    assert all(str(asset.name) in message for *_, message in failed)

    second = monitor(scenario.sites, scenario.catalog, db=db, **RUN)
    assert (second.observed, second.failed) == (first.failed, 0)
    with open_store(db) as store, open_store(f"sqlite:///{reference}") as ref:
        assert store.failed_chips() == []
        assert export_observations(store, "csv") == export_observations(ref, "csv")


def test_a_stored_chip_left_marked_failed_is_marked_done(
    scenario: ScenarioPaths, tmp_path: Path
) -> None:
    """A run killed between writing an observation and its status leaves a stale status."""
    db = f"sqlite:///{tmp_path / 'stale.db'}"
    first = monitor(scenario.sites, scenario.catalog, db=db, **RUN)
    with open_store(db) as store:
        obs = store.observations()[0]
        store.record_chip_status(
            site_id=obs.site_id,
            zone_id=obs.zone_id,
            scene_id=obs.scene_id,
            status="failed",
            message="read timed out",
        )
        assert len(store.failed_chips()) == 1
    second = monitor(scenario.sites, scenario.catalog, db=db, **RUN)
    assert (second.observed, second.skipped) == (0, first.tasks)
    with open_store(db) as store:
        assert store.failed_chips() == []

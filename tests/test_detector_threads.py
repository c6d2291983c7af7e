"""onnxruntime threads of the detectors: one per Dask worker thread, same detections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from basewatch.detect import ships_s2
from basewatch.detect.run import read_s2
from basewatch.errors import InputError
from basewatch.monitor import WORKER_DETECTOR_THREADS, warm_up
from basewatch.observe import detector_threads, set_detector_threads

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "s2_ships_sen2ships_ports"


@pytest.fixture(autouse=True)
def _default_threads() -> Iterator[None]:
    """Each test starts and ends with onnxruntime's default threads in this process."""
    set_detector_threads(0)
    yield
    set_detector_threads(0)


def test_a_worker_warm_up_gives_the_ship_network_one_thread() -> None:
    assert detector_threads() == 0
    warm_up()  # what every Dask worker runs before its first chip
    assert detector_threads() == WORKER_DETECTOR_THREADS == 1
    session, _ = ships_s2.load_model(threads=detector_threads())
    assert session.get_session_options().intra_op_num_threads == 1


def test_negative_threads_are_refused_with_the_fix() -> None:
    with pytest.raises(InputError, match="give 0"):
        set_detector_threads(-1)
    assert detector_threads() == 0


def test_one_thread_finds_the_same_ships_as_the_default_in_piraeus() -> None:
    """Observations must not depend on the worker count: one thread (Dask workers) and the
    default (the in-process run) give identical detections on a real Sentinel-2 port."""
    if not (DATA / "athens").exists():
        pytest.skip(f"sen2ships subset not found at {DATA} (shared data folder absent)")
    raster = read_s2(DATA / "athens", 1 / 65535)
    r0, r1, c0, c1 = 540, 780, 340, 940  # Perama nest, Piraeus container quays and piers
    crop = {b: v[r0:r1, c0:c1] for b, v in raster.bands.items()}
    valid = raster.valid[r0:r1, c0:c1]
    px = float(raster.pixel_size_m or 10.0)
    default = ships_s2.detect_ships_s2(crop, pixel_size_m=px, valid=valid, threads=0)
    one = ships_s2.detect_ships_s2(crop, pixel_size_m=px, valid=valid, threads=1)
    assert len(default) >= 10
    assert one == default


def test_in_process_run_gives_the_detectors_the_cores_the_readers_leave(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The in-process monitor sets the detectors' threads for its run (cores left by the
    reading threads, at least one) and restores them; a value set by the user is kept."""
    from basewatch import monitor
    from basewatch.imagery.load import LoadParams

    monkeypatch.setattr(monitor.os, "sched_getaffinity", lambda _: set(range(2)), raising=False)
    assert monitor.in_process_detector_threads(2) == 1
    monkeypatch.setattr(monitor.os, "sched_getaffinity", lambda _: set(range(16)), raising=False)
    assert monitor.in_process_detector_threads(2) == 14
    seen: list[int] = []
    monkeypatch.setattr(
        monitor, "_pipeline", lambda tasks, load: iter(seen.append(detector_threads()) or [])
    )
    list(monitor._in_process([], LoadParams(io_threads=4)))
    assert detector_threads() == 0  # onnxruntime's default again after the run
    set_detector_threads(3)
    list(monitor._in_process([], LoadParams(io_threads=4)))
    assert seen == [12, 3] and detector_threads() == 3

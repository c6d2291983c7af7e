"""Faults and bad input: a flaky loopback server (5xx, dropped connections, time-outs) and
broken scenes (truncated COG, empty file, wrong or unexpected CRS, no data, 100 % cloud).

The monitor run always finishes; each bad chip gets its own status and a clear message,
failures are retried by the next run, and every other chip is observed exactly as in a
clean run.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import calculate_default_transform, reproject
from sqlalchemy import text

from basewatch.imagery.catalog import open_catalog
from basewatch.imagery.load import LoadParams
from basewatch.imagery.net import NetworkParams
from basewatch.imagery.testing import Faults, serve_directory
from basewatch.monitor import MonitorParams, MonitorSummary, parse_day, run_monitor
from basewatch.scenario import ScenarioPaths
from basewatch.sites import load_registry
from basewatch.store import export_observations, open_store

NET = NetworkParams(retries=1, backoff_s=0.01, timeout_s=1.0)
"""One quick retry and a 1 s timeout, so that hanging requests fail fast."""
PARAMS = MonitorParams(
    start=parse_day("2024-12-01"),
    end=parse_day("2024-12-08", end_of_day=True),
    load=LoadParams(net=NET),
)
"""The week of the small scenario."""
REFUSED = "S1A_IW_GRDH_tartus_20241203"
"""The scene whose images a faulty server refuses in the network tests."""


@pytest.fixture(autouse=True)
def _no_chip_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASEWATCH_NO_CACHE", "1")


def _monitor(scenario: ScenarioPaths, root: Path | str, db: str) -> MonitorSummary:
    """Run the monitor over the scenario's catalogue under ``root`` (a folder or a URL)."""
    catalog = open_catalog(f"{root}/catalog/catalog.json", net=NET)
    with open_store(db) as store:
        return run_monitor(load_registry(scenario.sites), catalog, store, PARAMS)


def _rows(db: str) -> dict[str, list[str]]:
    """Exported CSV rows (as text) by scene id."""
    with open_store(db) as store:
        exported = export_observations(store, "csv")
    rows: dict[str, list[str]] = {}
    for row in csv.DictReader(io.StringIO(exported)):
        rows.setdefault(row["scene_id"], []).append(",".join(row.values()))
    return rows


def _export(db: str) -> str:
    with open_store(db) as store:
        return export_observations(store, "csv")


def _statuses(db: str) -> dict[str, set[tuple[str, str]]]:
    """``scene_id -> {(status, message)}`` over the scene's chips."""
    with open_store(db) as store, store._engine.connect() as conn:
        query = text("SELECT scene_id, status, message FROM chip_status")
        out: dict[str, set[tuple[str, str]]] = {}
        for scene_id, status, message in conn.execute(query):
            out.setdefault(scene_id, set()).add((status, message))
        return out


@pytest.fixture(scope="module")
def clean(small_scenario: ScenarioPaths, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A clean run of the monitor over the scenario on disk: its database URL."""
    db = f"sqlite:///{tmp_path_factory.mktemp('clean') / 'clean.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BASEWATCH_NO_CACHE", "1")
        summary = _monitor(small_scenario, small_scenario.root, db)
    assert summary.failed == 0 and summary.observed == summary.tasks > 5
    return db


# -- network faults ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["status", "drop", "hang"])
def test_refused_scene_fails_alone_and_the_next_run_catches_up(
    small_scenario: ScenarioPaths, clean: str, tmp_path: Path, kind: str
) -> None:
    db = f"sqlite:///{tmp_path / 'flaky.db'}"
    faults = Faults(kind=kind, fail_all=True, only=f"{REFUSED}/v", hang_s=2.5)
    with serve_directory(small_scenario.root, faults=faults) as (url, stats, _):
        first = _monitor(small_scenario, url, db)
    assert stats.failed > 0
    assert first.tasks == first.observed + first.failed and first.failed >= 1
    statuses = _statuses(db)
    failed = {scene for scene, s in statuses.items() if any(st == "failed" for st, _ in s)}
    assert failed == {REFUSED}
    ((_, message),) = statuses[REFUSED]
    assert REFUSED in message and ".tif" in message and "cannot" in message
    clean_rows = _rows(clean)
    assert _rows(db) == {k: v for k, v in clean_rows.items() if k != REFUSED}
    # the next run (a healthy server, on a new port as a new process would see it) retries
    with serve_directory(small_scenario.root) as (url, _, _):
        second = _monitor(small_scenario, url, db)
    assert (second.observed, second.failed, second.skipped) == (
        first.failed,
        0,
        first.observed,
    )
    assert _export(db) == _export(clean)
    assert {st for s in _statuses(db).values() for st, _ in s} == {"done"}


@pytest.mark.parametrize("kind", ["status", "drop"])
def test_server_failing_every_third_request_gives_the_clean_observations(
    small_scenario: ScenarioPaths, clean: str, tmp_path: Path, kind: str
) -> None:
    db = f"sqlite:///{tmp_path / 'flaky.db'}"
    with serve_directory(small_scenario.root, faults=Faults(kind=kind, fail_every=3)) as (
        url,
        stats,
        _,
    ):
        first = _monitor(small_scenario, url, db)
    assert stats.failed >= stats.requests // 3 - 1 > 0
    with open_store(db) as store:
        recorded = store.failed_chips()
    assert len(recorded) == first.failed  # whatever failed despite the retries is recorded
    with serve_directory(small_scenario.root) as (url, _, _):
        second = _monitor(small_scenario, url, db)
    assert second.failed == 0 and second.observed == first.failed
    assert _export(db) == _export(clean)


# -- bad scenes --------------------------------------------------------------------------------


def _asset(root: Path, scene: str, name: str) -> Path:
    return next((root / "catalog").glob(f"*/{scene}/{name}.tif"))


def _update(path: Path, **changes: object) -> None:
    """Change a COG in place: ``data`` (a function of the array) and/or ``crs``."""
    with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        if "crs" in changes:
            ds.crs = changes["crs"]
        if "data" in changes:
            ds.write(changes["data"](ds.read()))  # type: ignore[operator]


def _to_wgs84(path: Path) -> None:
    """Rewrite a grid-referenced image in EPSG:4326 (same pixels, another CRS)."""
    with rasterio.open(path) as src:
        crs = "EPSG:4326"
        transform, width, height = calculate_default_transform(
            src.crs, crs, src.width, src.height, *src.bounds
        )
        out = np.zeros((src.count, height, width), src.dtypes[0])
        reproject(
            src.read(),
            out,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=transform,
            dst_crs=crs,
            resampling=rasterio.enums.Resampling.nearest,
        )
        profile = {**src.profile, "crs": crs, "transform": transform}
    profile.update(width=width, height=height, tiled=False, driver="GTiff")
    for key in ("blockxsize", "blockysize"):
        profile.pop(key, None)
    path.unlink()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(out)


BROKEN = {
    "S2A_khmeimim_20241201_L2A": "truncated COG",
    "S2A_tartus_20241201_L2A": "empty file",
    "S2B_khmeimim_20241206_L2A": "wrong CRS",
}
"""Scenes made unreadable, and how."""


def _break_scenes(root: Path) -> None:
    red = _asset(root, "S2A_khmeimim_20241201_L2A", "red")
    red.write_bytes(red.read_bytes()[: red.stat().st_size * 6 // 10])
    _asset(root, "S2A_tartus_20241201_L2A", "nir").write_bytes(b"")
    for band in ("blue", "green", "red", "nir", "swir16", "scl"):  # UTM 36N labelled 37N
        _update(_asset(root, "S2B_khmeimim_20241206_L2A", band), crs="EPSG:32637")
    _update(_asset(root, "S2B_tartus_20241206_L2A", "scl"), data=lambda a: np.full_like(a, 9))
    for band in ("vv", "vh"):  # an image of nodata
        _update(_asset(root, "S1A_IW_GRDH_khmeimim_20241203", band), data=np.zeros_like)
    _to_wgs84(_asset(root, "VHR_khmeimim_20241203", "visual"))


def test_bad_scenes_get_their_own_status_and_nothing_else_changes(
    small_scenario: ScenarioPaths, clean: str, tmp_path: Path
) -> None:
    root = tmp_path / "scenario"
    shutil.copytree(small_scenario.root, root)
    _break_scenes(root)
    db = f"sqlite:///{tmp_path / 'bad.db'}"
    first = _monitor(small_scenario, root, db)
    clean_rows = _rows(clean)
    broken_chips = sum(len(clean_rows[s]) for s in BROKEN)
    assert first.failed == broken_chips and first.observed == first.tasks - broken_chips
    statuses = _statuses(db)
    messages = {scene: next(iter(s))[1] for scene, s in statuses.items()}
    failed = {scene for scene, s in statuses.items() if any(st == "failed" for st, _ in s)}
    assert failed == set(BROKEN)
    assert "red.tif" in messages["S2A_khmeimim_20241201_L2A"]
    assert "truncated" in messages["S2A_khmeimim_20241201_L2A"]
    assert "nir.tif" in messages["S2A_tartus_20241201_L2A"]
    assert "not recognized" in messages["S2A_tartus_20241201_L2A"]
    assert "EPSG:32637" in messages["S2B_khmeimim_20241206_L2A"]
    assert "CRS" in messages["S2B_khmeimim_20241206_L2A"]
    rows = _rows(db)
    cloudy = rows["S2B_tartus_20241206_L2A"]
    assert len(cloudy) == 1 and cloudy[0].endswith(",,0.0,0,cloudy")
    no_data = rows["S1A_IW_GRDH_khmeimim_20241203"]
    assert no_data and all(",,0.0,0," in r and r.endswith("no-data") for r in no_data)
    assert statuses["S2B_tartus_20241206_L2A"] == {("done", "no count: cloudy")}
    assert ("done", "no count: no-data") in statuses["S1A_IW_GRDH_khmeimim_20241203"]
    # an image in EPSG:4326 (not UTM) is warped like any other: observed, counts close to the
    # clean run's (resampled twice at 0.5 m, a small vehicle may be lost or split)
    vhr, vhr_clean = rows["VHR_khmeimim_20241203"], clean_rows["VHR_khmeimim_20241203"]
    assert len(vhr) == len(vhr_clean)
    pairs = zip(vhr, vhr_clean, strict=True)
    counts = [(float(a.split(",")[8]), float(b.split(",")[8])) for a, b in pairs]
    assert all(abs(a - b) <= 2 for a, b in counts)
    assert any(a > 0 for a, _ in counts)
    untouched = (
        set(clean_rows)
        - set(BROKEN)
        - {
            "S2B_tartus_20241206_L2A",
            "S1A_IW_GRDH_khmeimim_20241203",
            "VHR_khmeimim_20241203",
        }
    )
    assert untouched and all(rows[s] == clean_rows[s] for s in untouched)
    # the files are repaired: the next run retries the failed chips, and only them
    for scene in BROKEN:
        folder = next((root / "catalog").glob(f"*/{scene}"))
        shutil.rmtree(folder)
        shutil.copytree(next((small_scenario.root / "catalog").glob(f"*/{scene}")), folder)
    second = _monitor(small_scenario, root, db)
    assert (second.observed, second.failed) == (broken_chips, 0)
    rows = _rows(db)
    assert all(rows[s] == clean_rows[s] for s in BROKEN)

"""Catalogues and COGs over loopback HTTP: a static catalogue and a STAC API that the tests
serve themselves, network faults (retries, unreachable servers, failing scenes)."""

from __future__ import annotations

import json
import socket
from datetime import date
from pathlib import Path

import pystac
import pytest

from basewatch.errors import CatalogError
from basewatch.imagery.catalog import ApiCatalog, StaticCatalog, open_catalog
from basewatch.imagery.load import LoadParams
from basewatch.imagery.net import NetworkParams
from basewatch.imagery.testing import Faults, serve_directory, serve_stac_api
from basewatch.monitor import MonitorParams, parse_day, run_monitor
from basewatch.scenario import ScenarioPaths, build_scenario
from basewatch.sites import load_registry
from basewatch.store import export_observations, open_store

FAST = NetworkParams(retries=4, backoff_s=0.01, timeout_s=5.0)
"""Retries with a tiny backoff so that fault tests stay fast."""


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioPaths:
    root = tmp_path_factory.mktemp("scenario")
    return build_scenario(root, start=date(2024, 11, 15), end=date(2024, 12, 20))


@pytest.fixture(autouse=True)
def _no_chip_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASEWATCH_NO_CACHE", "1")
    for name in ("BASEWATCH_SENSOR", "BASEWATCH_CACHE_DIR"):  # restored after the test
        monkeypatch.setenv(name, "")


def _cli(*args: str) -> None:
    from basewatch.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        assert exc.code in (0, None), f"basewatch {' '.join(args)} exited {exc.code}"


def _export(db: str) -> str:
    store = open_store(db)
    try:
        return export_observations(store, "csv")
    finally:
        store.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli_monitor_export(scenario: ScenarioPaths, catalog: str, folder: Path, name: str) -> bytes:
    """``basewatch monitor`` then ``basewatch export observations``: the CSV's bytes."""
    db = f"sqlite:///{folder / name}.db"
    run = ("--sites", str(scenario.sites), "--catalog", catalog, "--db", db)
    _cli("monitor", *run, "--from", "2024-11-15", "--to", "2024-12-20", "--no-cache")
    out = folder / f"{name}.csv"
    _cli("export", "observations", "--db", db, "--format", "csv", "--out", str(out))
    return out.read_bytes()


@pytest.fixture(scope="module")
def disk_export(scenario: ScenarioPaths, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BASEWATCH_NO_CACHE", "1")
        return _cli_monitor_export(
            scenario, str(scenario.catalog), tmp_path_factory.mktemp("disk"), "disk"
        )


def test_static_catalogue_over_http_gives_the_observations_of_disk(
    scenario: ScenarioPaths, disk_export: bytes, tmp_path: Path
) -> None:
    with serve_directory(scenario.root) as (url, stats, _):
        catalog = f"{url}/catalog/catalog.json"
        over_http = _cli_monitor_export(scenario, catalog, tmp_path, "http")
    assert over_http == disk_export
    assert disk_export.count(b"\n") > 20
    tif = [p for p in stats.paths if p.endswith(".tif")]
    assert tif, "the COGs were not read over HTTP"
    whole = sum(p.stat().st_size for p in scenario.catalog.parent.rglob("*.tif"))
    assert stats.bytes_sent < whole  # windows and headers, not every whole file


def _items_with_urls(scenario: ScenarioPaths, base: str) -> list[dict[str, object]]:
    """The demo catalogue's items, with asset hrefs pointing at the file server."""
    root = pystac.Catalog.from_file(str(scenario.catalog))
    items = []
    for item in root.get_items(recursive=True):
        d = item.to_dict(include_self_link=False, transform_hrefs=False)
        for key, asset in item.assets.items():
            local = Path(asset.get_absolute_href() or "")
            rel = local.relative_to(scenario.root).as_posix()
            d["assets"][key]["href"] = f"{base}/{rel}"
        d["links"] = []
        items.append(d)
    return items


def test_stac_api_search_through_pystac_client(
    scenario: ScenarioPaths, disk_export: bytes, tmp_path: Path
) -> None:
    with serve_directory(scenario.root) as (files, _, _):
        items = _items_with_urls(scenario, files)
        with serve_stac_api(items) as (api, stats, _):
            catalog = open_catalog(api)
            assert isinstance(catalog, ApiCatalog)
            site = load_registry(scenario.sites).site("tartus")
            found = catalog.search(
                bbox=site.geometry.bounds,
                start=parse_day("2024-11-20"),
                end=parse_day("2024-12-05", end_of_day=True),
                collections=["sentinel-1-grd"],
            )
            assert any("/search" in p for p in stats.paths)
            assert found and all(s.sensor == "sentinel-1" for s in found)
            assert all("tartus" in s.id for s in found)
            assert all(s.assets["vv"].startswith(files) for s in found)
            expected = sorted(
                i["id"]
                for i in items
                if i["collection"] == "sentinel-1-grd"
                and "tartus" in str(i["id"])
                and "2024-11-20" <= str(i["properties"]["datetime"])[:10] <= "2024-12-05"  # type: ignore[index]
            )
            assert sorted(s.id for s in found) == expected
            api_obs = _cli_monitor_export(scenario, api, tmp_path, "api")
    assert api_obs == disk_export


def test_unreachable_catalogue_is_a_catalog_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    net = NetworkParams(retries=1, backoff_s=0.01, timeout_s=2.0)
    for spec in (url, f"{url}/catalog.json"):
        with pytest.raises(CatalogError, match=f"127.0.0.1:{url.rsplit(':', 1)[1]}"):
            open_catalog(spec, net=net).search(
                bbox=(35.0, 35.0, 36.0, 36.0),
                start=parse_day("2024-11-01"),
                end=parse_day("2024-12-01"),
            )


def test_stac_requests_retry_429_and_5xx(scenario: ScenarioPaths) -> None:
    with serve_directory(scenario.root, faults=Faults(fail_every=2, status=429)) as (url, st, _):
        catalog = StaticCatalog(f"{url}/catalog/catalog.json", net=FAST)
        found = catalog.search(
            bbox=(-180, -90, 180, 90), start=parse_day("2024-01-01"), end=parse_day("2025-01-01")
        )
    assert st.failed > 0 and len(found) == len(list(scenario.catalog.parent.rglob("*_*.json")))
    with serve_directory(scenario.root) as (files, _, _):
        items = _items_with_urls(scenario, files)
    with serve_stac_api(items, faults=Faults(fail_every=2, status=502)) as (api, st, _):
        found = ApiCatalog(api, net=FAST).search(
            bbox=(-180, -90, 180, 90), start=parse_day("2024-01-01"), end=parse_day("2025-01-01")
        )
    assert st.failed > 0 and len(found) == len(items)


def _tartus_params() -> MonitorParams:
    return MonitorParams(
        start=parse_day("2024-11-15"),
        end=parse_day("2024-11-30", end_of_day=True),
        load=LoadParams(net=FAST),
    )


def test_scene_behind_a_half_failing_server_still_loads(
    scenario: ScenarioPaths, tmp_path: Path
) -> None:
    registry = load_registry(scenario.sites).select(["tartus"])
    disk_db = f"sqlite:///{tmp_path / 'disk.db'}"
    run_monitor(registry, open_catalog(scenario.catalog), open_store(disk_db), _tartus_params())
    with serve_directory(scenario.root, faults=Faults(fail_every=2)) as (url, stats, _):
        db = f"sqlite:///{tmp_path / 'flaky.db'}"
        catalog = open_catalog(f"{url}/catalog/catalog.json", net=FAST)
        summary = run_monitor(registry, catalog, open_store(db), _tartus_params())
    assert stats.failed >= stats.requests // 2 - 1
    assert any(p.endswith(".tif") for p in stats.paths)
    assert summary.failed == 0 and summary.observed > 0
    assert _export(db) == _export(disk_db)


def test_scene_that_always_fails_is_recorded_and_retried_next_run(
    scenario: ScenarioPaths, tmp_path: Path
) -> None:
    registry = load_registry(scenario.sites).select(["tartus"])
    db = f"sqlite:///{tmp_path / 'run.db'}"
    params = _tartus_params()
    with serve_directory(scenario.root, faults=Faults(fail_all=True, only=".tif")) as (url, _, _):
        catalog = open_catalog(f"{url}/catalog/catalog.json", net=FAST)
        first = run_monitor(registry, catalog, open_store(db), params)
    assert first.observed == 0 and first.failed == first.tasks > 0
    assert all(".tif" in line and "cannot" in line for line in first.failures)
    assert _export(db).count("\n") <= 1  # header only: nothing observed
    store = open_store(db)
    try:
        failed = store.failed_chips()
    finally:
        store.close()
    assert len(failed) == first.tasks
    assert all(".tif" in message for *_, message in failed)
    # Next run, the server is healthy again (a new process would see the same URLs afresh;
    # here a new port stands in for that, as GDAL caches what it read in this process).
    with serve_directory(scenario.root) as (url, _, _):
        catalog = open_catalog(f"{url}/catalog/catalog.json", net=FAST)
        second = run_monitor(registry, catalog, open_store(db), params)
    assert second.failed == 0 and second.observed == first.tasks
    assert json.dumps(second.failures) == "[]"

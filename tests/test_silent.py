"""No silent wrong answers (issue 17): every command does what was meant or says why not.

The "silent success" audit runs every read command against a missing store, an empty store
and a mistyped site id and checks a non-zero exit with one line naming the input. Then one
test per item of the issue, with the exact commands (in process, through ``main``, so the
exit codes are the real ones).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from _cli import bw, error_line
from affine import Affine
from pyproj import Geod, Transformer
from shapely.geometry import box, mapping

from basewatch.cli import main
from basewatch.errors import StoreError
from basewatch.scenario import ScenarioPaths
from basewatch.sites import load_registry
from basewatch.store import open_store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def filled(
    small_scenario: ScenarioPaths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A store filled by monitor over the one-week scenario, with one evidence entry."""
    from basewatch import pipeline

    db = f"sqlite:///{tmp_path_factory.mktemp('silent') / 'filled.db'}"
    pipeline.monitor(small_scenario.sites, small_scenario.catalog, db=db)
    main(
        [
            "evidence", "add", "--db", db, "--site", "tartus", "--time", "2024-12-03",
            "--source", "test", "--kind", "post", "--claim", "four vessels at the pier",
            "--sites", "syria-2024",
        ]
    )  # fmt: skip
    yield db


# ------------------------------------------------------------- 1. read commands, no store

READ_COMMANDS = [
    ["assess", "--out", "{tmp}/a.json"],
    ["report", "--out", "{tmp}/r.html"],
    ["export", "observations"],
    ["evidence", "list"],
    ["serve", "--port", "8000"],
    ["watch", "--sites", "{sites}", "--catalog", "{catalog}"],
]


def _fill(arg: str, tmp: Path, scenario: ScenarioPaths) -> str:
    """``arg`` with ``{tmp}``, ``{sites}`` and ``{catalog}`` filled in."""
    return arg.format(tmp=tmp, sites=scenario.sites, catalog=scenario.catalog)


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_commands_on_a_missing_store_say_so_and_create_nothing(
    command: list[str],
    tmp_path: Path,
    small_scenario: ScenarioPaths,
    capsys: pytest.CaptureFixture[str],
) -> None:
    typo = tmp_path / "typo.db"
    args = [_fill(a, tmp_path, small_scenario) for a in command] + ["--db", f"sqlite:///{typo}"]
    code, out, err = bw(capsys, *args)
    assert code == 1
    line = error_line(err)
    assert f"sqlite:///{typo}" in line and "does not exist" in line
    assert "basewatch monitor" in line  # the fix
    assert not typo.exists()
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "r.html").exists()
    assert "serving" not in err and out == ""


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_commands_on_an_empty_store_say_it_is_empty(
    command: list[str],
    tmp_path: Path,
    small_scenario: ScenarioPaths,
    capsys: pytest.CaptureFixture[str],
) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(empty).close()
    args = [_fill(a, tmp_path, small_scenario) for a in command] + ["--db", empty]
    code, _, err = bw(capsys, *args)
    assert code == 1
    line = error_line(err)
    assert empty in line and "is empty" in line
    assert "basewatch monitor" in line or "basewatch evidence add" in line


def test_a_store_of_sites_only_is_not_exported_or_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'sites.db'}"
    code, out, err = bw(capsys, "sites", "import", "syria-2024", "--db", db)
    assert code == 0 and "stored 2 sites, 4 zones" in out
    assert f"created a new store at {db}" in err
    code, _, err = bw(capsys, "sites", "import", "syria-2024", "--db", db)
    assert code == 0 and "created" not in err  # said the first time only
    code, _, err = bw(capsys, "export", "observations", "--db", db)
    assert code == 1 and "holds no observations (only 2 sites)" in error_line(err)
    code, _, err = bw(capsys, "evidence", "list", "--db", db)
    assert code == 1 and "holds no evidence entries" in error_line(err)


def test_evidence_add_creates_the_store_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    args = [
        "evidence", "add", "--db", db, "--site", "tartus", "--time", "2024-12-03",
        "--source", "test", "--kind", "post", "--claim", "empty pier", "--sites", "syria-2024",
    ]  # fmt: skip
    code, out, err = bw(capsys, *args)
    assert code == 0 and out.strip() == "1"
    assert f"created a new store at {db}" in err
    code, out, _ = bw(capsys, "evidence", "list", "--db", db)
    assert code == 0 and "empty pier" in out


def test_a_failed_write_leaves_no_new_store_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A creating command that then fails (unknown site) removes the store it created, so a
    later read command says 'does not exist', not 'is empty'."""
    db = tmp_path / "ledger.db"
    entry = [
        "evidence", "add", "--db", f"sqlite:///{db}", "--time", "2024-12-03",
        "--source", "test", "--kind", "post", "--claim", "empty pier",
    ]  # fmt: skip
    code, out, err = bw(capsys, *entry, "--site", "nowhere", "--sites", "syria-2024")
    assert code == 1 and out == "" and "'nowhere'" in error_line(err)
    assert "created" not in err and not db.exists()
    code, _, err = bw(capsys, *entry, "--site", "tartus")  # no registry, no stored sites
    assert code == 1 and "has no sites to check evidence against" in error_line(err)
    assert not db.exists()
    code, _, err = bw(capsys, "evidence", "list", "--db", f"sqlite:///{db}")
    assert code == 1 and "does not exist" in error_line(err)
    # an existing store is never removed: the same mistake on a store of sites
    code, _, _ = bw(capsys, "sites", "import", "syria-2024", "--db", f"sqlite:///{db}")
    assert code == 0 and db.exists()
    code, _, err = bw(capsys, *entry, "--site", "nowhere")
    assert code == 1 and "'nowhere'" in error_line(err) and db.exists()
    code, out, _ = bw(capsys, *entry, "--site", "tartus")
    assert code == 0 and out.strip() == "1"


def test_postgresql_without_basewatch_tables_is_a_missing_store(
    postgis_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="no basewatch tables"):
        open_store(postgis_url, create=False)
    code, _, err = bw(capsys, "assess", "--db", postgis_url, "--out", str(tmp_path / "a.json"))
    assert code == 1 and "no basewatch store at postgresql" in error_line(err)
    with open_store(postgis_url) as store:
        assert store.created
    with open_store(postgis_url, create=False) as store:  # now it exists
        assert not store.created


# ------------------------------------------------------------- mistyped site ids


def test_every_command_names_a_mistyped_site(
    filled: str,
    small_scenario: ScenarioPaths,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sites, catalog = str(small_scenario.sites), str(small_scenario.catalog)
    commands = [
        ["sites", "show", "syria-2024", "nowhere"],
        ["scenes", "search", "--sites", sites, "--site", "nowhere", "--catalog", catalog],
        ["monitor", "--sites", sites, "--catalog", catalog, "--db", filled, "--site", "nowhere"],
        ["watch", "--sites", sites, "--catalog", catalog, "--db", filled, "--site", "nowhere"],
        ["assess", "--db", filled, "--out", str(tmp_path / "a.json"), "--site", "nowhere"],
        ["report", "--db", filled, "--out", str(tmp_path / "r.html"), "--site", "nowhere"],
        ["evidence", "list", "--db", filled, "--site", "nowhere"],
        ["exposure", "--sites", "syria-2024", "--front", "syria-2024-12-07", "--site", "nowhere"],
    ]
    for args in commands:
        code, _, err = bw(capsys, *args)
        assert code == 1, args
        assert "nowhere" in error_line(err), args
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "r.html").exists()


def test_read_commands_work_on_a_filled_store(
    filled: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = bw(capsys, "assess", "--db", filled, "--out", str(tmp_path / "a.json"))
    assert code == 0 and "tartus:" in out
    code, out, _ = bw(capsys, "export", "observations", "--db", filled)
    assert code == 0 and out.count("\n") > 1
    code, out, _ = bw(capsys, "evidence", "list", "--db", filled, "--site", "tartus")
    assert code == 0 and "four vessels" in out


def test_assess_says_which_sites_were_never_observed(
    filled: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store of sites only (``sites import``), or an --as-of before every observation,
    would judge every site 'unknown': an error naming the store and the fix (it used to be a
    warning and exit 0); nothing is written."""
    db = f"sqlite:///{tmp_path / 'sites.db'}"
    assert bw(capsys, "sites", "import", "syria-2024", "--db", db)[0] == 0
    code, out, err = bw(capsys, "assess", "--db", db, "--out", str(tmp_path / "a.json"))
    assert code == 1 and out == ""
    assert (
        f"assess: the store {db} holds no observations (only 2 sites); run 'basewatch monitor "
        f"--sites REGISTRY --catalog CATALOG --db {db}' first" in error_line(err)
    )
    code, _, err = bw(
        capsys, "assess", "--db", filled, "--out", str(tmp_path / "b.json"), "--as-of", "2024-11-30"
    )  # before the first scene
    assert code == 1 and "--as-of 2024-11-30: no site has an observation" in error_line(err)
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()
    code, _, err = bw(capsys, "assess", "--db", filled, "--out", str(tmp_path / "c.json"))
    assert code == 0 and "without any observation" not in err


# ------------------------------------------------------------- 2. searches say what they searched


def test_monitor_without_dates_searches_the_catalogue_span(
    small_scenario: ScenarioPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "m.db"
    code, out, err = bw(
        capsys,
        "monitor", "--sites", str(small_scenario.sites), "--catalog",
        str(small_scenario.catalog), "--db", f"sqlite:///{db}",
    )  # fmt: skip
    assert code == 0, err
    assert (
        f"searching {small_scenario.catalog} from 2024-12-01 to 2024-12-06 "
        "(default: the catalogue's own span) for 2 sites" in err
    )
    assert "found 7 scenes: 11 zone x scene chips" in err
    assert f"created a new store at sqlite:///{db}" in err
    assert out.startswith("7 scenes, 11 chips: 11 observed")


def test_monitor_finding_nothing_fails_and_leaves_no_store(
    small_scenario: ScenarioPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "m.db"
    code, _, err = bw(
        capsys,
        "monitor", "--sites", "syria-2024", "--catalog", str(small_scenario.catalog),
        "--db", f"sqlite:///{db}", "--from", "2023-01-01", "--to", "2023-02-01",
    )  # fmt: skip
    assert code == 1
    line = error_line(err)
    assert "no scenes for the zones of khmeimim, tartus from 2023-01-01 to 2023-02-01" in line
    assert "the catalogue holds 7 scenes from 2024-12-01 to 2024-12-06" in line
    assert not db.exists()
    code, _, err = bw(
        capsys,
        "monitor", "--sites", "syria-2024", "--catalog", str(small_scenario.catalog),
        "--db", f"sqlite:///{db}", "--collection", "sentinel-2",
    )  # fmt: skip
    line = error_line(err)  # a misspelt collection: name the catalogue's own
    assert code == 1 and "has no collection sentinel-2: its collections are " in line
    assert "sentinel-2-l2a" in line and not db.exists()


def test_scenes_search_prints_its_window_and_fails_on_nothing(
    small_scenario: ScenarioPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = str(small_scenario.catalog)
    code, out, err = bw(capsys, "scenes", "search", "--site", "tartus", "--catalog", catalog)
    assert code == 0
    assert f"searching {catalog} from 2024-12-01 to 2024-12-06" in err
    assert err.rstrip().endswith("3 scenes") and len(out.splitlines()) == 3
    code, out, err = bw(
        capsys, "scenes", "search", "--site", "tartus", "--catalog", catalog,
        "--from", "2025-01-01", "--to", "2025-02-01",
    )  # fmt: skip
    assert code == 1 and out == ""
    assert "no scenes for tartus" in error_line(err) and "holds 7 scenes" in err


# ------------------------------------------------------------- 3. sites without zones


def test_sites_without_zones_warned_refused_and_given_default_zones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_scenario: ScenarioPaths
) -> None:
    points = REPO / "docs" / "examples" / "points.csv"
    code, out, err = bw(capsys, "sites", "validate", str(points))
    assert code == 0 and "ok:" in out and "2 sites, 0 zones" in out
    assert "2 sites without zones will not be watched" in err
    assert "example-airfield, example-radar" in err and "--default-zone-radius" in err
    code, _, err = bw(
        capsys, "monitor", "--sites", str(points), "--catalog", str(small_scenario.catalog),
        "--db", f"sqlite:///{tmp_path / 'x.db'}",
    )  # fmt: skip
    assert code == 1 and "2 sites have no zones" in error_line(err)
    assert "example-airfield, example-radar" in err and not (tmp_path / "x.db").exists()
    out_file = tmp_path / "pts.geojson"
    code, out, err = bw(
        capsys, "sites", "import", str(points), "--default-zone-radius", "500",
        "--zone-kind", "apron", "--zone-target", "aircraft", "--out", str(out_file),
    )  # fmt: skip
    assert code == 0 and "2 sites, 2 zones" in out and "warning" not in err
    reg = load_registry(out_file)
    geod = Geod(ellps="WGS84")
    for site in reg:
        (zone,) = site.zones
        assert (zone.id, zone.kind, zone.target) == ("default", "apron", "aircraft")
        lon, lat = site.point
        xs, ys = zone.geometry.exterior.coords.xy
        dist = [geod.inv(lon, lat, x, y)[2] for x, y in zip(xs, ys, strict=True)]
        assert min(dist) == pytest.approx(500, abs=0.5) and max(dist) < 500.5
    code, _, err = bw(capsys, "sites", "import", str(points), "--out", str(out_file),
                      "--default-zone-radius", "500", "--zone-kind", "runway")  # fmt: skip
    assert code == 1 and "--zone-kind 'runway'" in error_line(err)


def test_the_readme_zone_example_validates_with_zones(capsys: pytest.CaptureFixture[str]) -> None:
    example = REPO / "docs" / "examples" / "zones.geojson"
    code, out, err = bw(capsys, "sites", "validate", str(example))
    assert code == 0 and "1 site, 2 zones" in out and err == ""
    assert "docs/examples/zones.geojson" in (REPO / "README.md").read_text(encoding="utf-8")


# ------------------------------------------------------------- 5. a bad file in a folder


def _folder_catalogue(root: Path) -> Path:
    """A folder with one Sentinel-1 GeoTIFF and a JPEG renamed .tif, and a registry."""
    root.mkdir(parents=True, exist_ok=True)
    x0, y0 = 770_000.0, 3_925_000.0  # EPSG:32636
    rng = np.random.default_rng(3)
    data = rng.gamma(4.5, 0.08 / 4.5, (2, 200, 200)).astype(np.float32)
    with rasterio.open(
        root / "s1_20241203.tif", "w", driver="GTiff", height=200, width=200, count=2,
        dtype="float32", crs="EPSG:32636", transform=Affine(10, 0, x0, 0, -10, y0),
    ) as dst:  # fmt: skip
        dst.write(data)
    from PIL import Image

    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(root / "photo_20241204.tif", "JPEG")
    to_wgs = Transformer.from_crs("EPSG:32636", "EPSG:4326", always_xy=True)
    w, s = to_wgs.transform(x0 + 500, y0 - 1500)
    e, n = to_wgs.transform(x0 + 1500, y0 - 500)
    zone = box(w, s, e, n)
    registry = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": mapping(zone.centroid),
                "properties": {"id": "port", "name": "Port", "kind": "naval_base"},
            },
            {
                "type": "Feature",
                "geometry": mapping(zone),
                "properties": {"site": "port", "id": "pier", "kind": "pier", "target": "ship"},
            },
        ],
    }
    sites = root.parent / "sites.geojson"
    sites.write_text(json.dumps(registry))
    return sites


def test_a_bad_file_in_a_folder_is_failed_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sites = _folder_catalogue(tmp_path / "images")
    code, out, err = bw(
        capsys, "monitor", "--sites", str(sites), "--catalog", str(tmp_path / "images"),
        "--db", f"sqlite:///{tmp_path / 'f.db'}",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("1 scene, 1 chip: 1 observed, 0 already stored, 1 failed")
    assert "failed: " in err and "photo_20241204.tif: no georeference" in err
    # rasterio's warning became a basewatch warning naming the file, without source paths
    assert "basewatch: warning:" in err and "photo_20241204.tif: Dataset has no geotransform" in err
    assert "site-packages" not in err and "Traceback" not in err


def test_a_run_whose_every_chip_fails_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only unreadable images: '0 observed, 1 failed' used to exit 0, like a quiet success."""
    sites = _folder_catalogue(tmp_path / "images")
    good = tmp_path / "images" / "s1_20241203.tif"
    whole = good.read_bytes()
    good.write_bytes(whole[: len(whole) // 3])  # truncated: catalogued, fails when read
    (tmp_path / "images" / "photo_20241204.tif").unlink()
    code, out, err = bw(
        capsys, "monitor", "--sites", str(sites), "--catalog", str(tmp_path / "images"),
        "--db", f"sqlite:///{tmp_path / 'f.db'}", "--no-cache",
    )  # fmt: skip
    assert code == 1, out + err
    assert out.startswith("1 scene, 1 chip: 0 observed, 0 already stored, 1 failed")
    assert "every chip failed (1), nothing was observed" in error_line(err)


def _jpeg_as_tif(path: Path) -> None:
    """A photo saved as JPEG under a .tif name: opens in GDAL, but has no georeference."""
    from PIL import Image

    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(path, "JPEG")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_file_read_by_the_loader_is_named_without_rasterio_warnings(
    workers: int, small_scenario: ScenarioPaths, tmp_path: Path
) -> None:
    """A catalogue item whose asset is not georeferenced: the chip fails naming the file, and
    rasterio's NotGeoreferencedWarning (raised in the loader's reading threads, in Dask
    workers too) is not printed raw. The CLI's real stderr, in a subprocess."""
    catalog = tmp_path / "catalog"
    shutil.copytree(small_scenario.catalog.parent, catalog, copy_function=os.symlink)
    bad = sorted(catalog.glob("sentinel-1-grd/*_tartus_*/vv.tif"))[0]
    bad.unlink()
    _jpeg_as_tif(bad)
    proc = subprocess.run(
        [
            sys.executable, "-m", "basewatch", "monitor", "--sites", str(small_scenario.sites),
            "--catalog", str(catalog / "catalog.json"), "--site", "tartus",
            "--db", f"sqlite:///{tmp_path / 'b.db'}", "--workers", str(workers), "--no-cache",
        ],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(":")[1].strip().endswith(", 1 failed"), proc.stdout
    assert f"{bad}: the image has no georeference" in proc.stderr
    assert "NotGeoreferencedWarning" not in proc.stderr, proc.stderr
    assert "site-packages" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_truncated_asset_fails_its_chip_with_gdals_reason(
    small_scenario: ScenarioPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not rasterio's 'Read failed. See previous exception for details.': GDAL's own reason."""
    catalog = tmp_path / "catalog"
    shutil.copytree(small_scenario.catalog.parent, catalog, copy_function=os.symlink)
    bad = sorted(catalog.glob("sentinel-1-grd/*_tartus_*/vv.tif"))[0]
    whole = bad.read_bytes()
    bad.unlink()
    bad.write_bytes(whole[: len(whole) // 3])
    code, out, err = bw(
        capsys, "monitor", "--sites", str(small_scenario.sites), "--site", "tartus",
        "--catalog", str(catalog / "catalog.json"), "--db", f"sqlite:///{tmp_path / 't.db'}",
        "--no-cache",
    )  # fmt: skip
    assert code == 0 and out.split(":")[1].strip().endswith(", 1 failed"), out + err
    (line,) = [ln for ln in err.splitlines() if ln.startswith("failed: ")]
    assert f"{bad}: cannot read the image (" in line and "truncated" in line
    assert "previous exception" not in line and "IReadBlock failed" in line, line


def test_gdal_warnings_name_the_file_the_thread_reads(caplog: pytest.LogCaptureFixture) -> None:
    """GDAL's warnings reach Python as rasterio log records, in whichever thread reads: each
    is logged again as a basewatch warning naming that thread's file."""
    from basewatch.imagery.load import reading

    gdal = logging.getLogger("rasterio._env")
    barrier = threading.Barrier(2)

    def read(href: str) -> None:
        with reading(href):
            barrier.wait()  # both threads inside reading() at once
            gdal.warning("CPLE_AppDefined in %s-block: TIFFReadDirectory: odd tag", href[-5])
            barrier.wait()

    with caplog.at_level(logging.WARNING, logger="basewatch"):
        threads = [threading.Thread(target=read, args=(h,)) for h in ("/x/a.tif", "/x/b.tif")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gdal.warning("CPLE_AppDefined: outside any read")
    ours = sorted(r.getMessage() for r in caplog.records if r.name == "basewatch.imagery.load")
    assert ours == [
        "/x/a.tif: GDAL: CPLE_AppDefined in a-block: TIFFReadDirectory: odd tag",
        "/x/b.tif: GDAL: CPLE_AppDefined in b-block: TIFFReadDirectory: odd tag",
        "GDAL: CPLE_AppDefined: outside any read",
    ]


def test_real_sentinel_hub_export_gives_no_gdal_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sen2ships' exports make GDAL warn three times a file about their GeoTIFF keys (datum
    code 1, EPSG:4326 spelt otherwise) with unchanged coordinates: detect prints no warning
    (other GDAL warnings still do: the test above)."""
    athens = Path(__file__).resolve().parents[2] / "shared/data/s2_ships_sen2ships_ports/athens"
    if not athens.is_dir():
        pytest.skip(f"shared sen2ships ports not found in {athens}")
    out = tmp_path / "athens.geojson"
    assert main(["detect", str(athens), "--sensor", "s2", "--out", str(out)]) in (0, None)
    err = capsys.readouterr().err
    assert "GDAL" not in err and "warning" not in err, err
    assert json.loads(out.read_text())["basewatch"]["count"] > 0


def test_zone_masks_are_rasterized_one_thread_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """rasterio.features.rasterize silences its own NotGeoreferencedWarning with
    warnings.catch_warnings (not thread-safe): run by two reading threads at once, the
    warning leaked from Dask workers. The loader holds a lock around it."""
    import rasterio.features

    from basewatch.imagery import load

    real = rasterio.features.rasterize
    inside, most = [0], [0]
    guard = threading.Lock()

    def rasterize(*args: object, **kwargs: object) -> np.ndarray:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.02)  # long enough for the other threads to arrive
        with guard:
            inside[0] -= 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rasterio.features, "rasterize", rasterize)
    transform = Affine(10, 0, 770_000, 0, -10, 3_925_000)
    zone = box(770_100, 3_924_500, 770_600, 3_924_900)
    masks: list[np.ndarray] = []
    threads = [
        threading.Thread(target=lambda: masks.append(load._rasterize(zone, transform, 80, 60)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
    assert len(masks) == 4 and all(m.sum() == 50 * 40 for m in masks)
    assert masks[0][10:50, 10:60].all() and not masks[0][:10].any()


# ------------------------------------------------------------- 6. reversed window


def test_reversed_window_is_an_error(
    small_scenario: ScenarioPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = bw(
        capsys, "scenes", "search", "--site", "tartus", "--catalog", str(small_scenario.catalog),
        "--from", "2024-12-15", "--to", "2024-11-01",
    )  # fmt: skip
    assert code == 1 and out == ""
    assert "--from 2024-12-15 is after --to 2024-11-01" in error_line(err)


# ------------------------------------------------------------- 7. unreachable catalogue


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens there once closed


@pytest.mark.parametrize("path", ["catalog.json", "stac"])
def test_unreachable_catalogue_is_one_short_line(
    path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/{path}"
    code, _, err = bw(
        capsys, "scenes", "search", "--site", "tartus", "--catalog", url,
        "--from", "2024-12-01", "--to", "2024-12-05",
    )  # fmt: skip
    assert code == 1
    line = error_line(err)
    assert url in line and "(connection refused)" in line
    assert "urllib3" not in line and "HTTPConnectionPool" not in line and len(line) < 300


# ------------------------------------------------------------- 8. exposure with a bundled front


def test_exposure_takes_a_bundled_front_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = bw(
        capsys, "exposure", "--sites", "syria-2024", "--front", "syria-2024-12-07",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)
    assert {r["site_id"] for r in rows} == {"khmeimim", "tartus"}
    assert {r["front_date"] for r in rows} == {"2024-12-07"}


# ------------------------------------------------------------- 10. the small items


def test_empty_csv_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, text in (("empty.csv", ""), ("header.csv", "id,name,lon,lat\n")):
        path = tmp_path / name
        path.write_text(text)
        code, out, err = bw(capsys, "sites", "validate", str(path))
        assert code == 1 and out == ""
        assert name in err and ("is empty" in err or "no rows" in err)


@pytest.mark.parametrize(
    "text",
    [
        "id;name;kind;longitude;latitude\nkhm;Khmeimim;airbase;35,9486;35,4011\n",
        "id,name,kind,lng,lat\nkhm,Khmeimim,airbase,35.9486,35.4011\n",
        "id\tname\tkind\tLong\tLat\nkhm\tKhmeimim\tairbase\t35.9486\t35.4011\n",
        "id|name|kind|x|y\nkhm|Khmeimim|airbase|35.9486|35.4011\n",
    ],
)
def test_csv_separators_and_coordinate_names(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "points.csv"
    path.write_text(text)
    (site,) = load_registry(path)
    assert (site.id, site.kind, site.point) == ("khm", "airbase", (35.9486, 35.4011))
    code, out, _ = bw(capsys, "sites", "validate", str(path))
    assert code == 0 and "1 site, 0 zones" in out  # singular


def test_sites_show_resolves_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("hmeimim", "Latakia air base", "HUMAYMIM"):
        code, out, _ = bw(capsys, "sites", "show", "syria-2024", name)
        assert code == 0 and out.startswith("khmeimim: Khmeimim Air Base")
    code, out, _ = bw(capsys, "sites", "show", "syria-2024", "tartous")
    assert code == 0 and out.startswith("tartus:")


def test_assess_and_report_resolve_a_site_alias(
    filled: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "a.json"
    code, out, _ = bw(capsys, "assess", "--db", filled, "--site", "hmeimim", "--out", str(out_json))
    assert code == 0 and out.startswith("khmeimim: ")
    assert [s["site_id"] for s in json.loads(out_json.read_text())["sites"]] == ["khmeimim"]
    html = tmp_path / "r.html"
    code, _, _ = bw(
        capsys, "report", "--db", filled, "--site", "Latakia air base", "--out", str(html)
    )
    assert code == 0 and "Khmeimim" in html.read_text() and "Tartus" not in html.read_text()
    code, _, err = bw(capsys, "assess", "--db", filled, "--site", "nowhere", "--out", str(out_json))
    assert code == 1 and "no site nowhere in the store" in error_line(err)


@pytest.mark.parametrize("value", ["-5", "101"])
def test_max_cloud_out_of_range_is_refused(
    value: str, small_scenario: ScenarioPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["scenes", "search", "--site", "tartus"], ["monitor", "--sites", "syria-2024"]):
        code, _, err = bw(
            capsys, *command, "--catalog", str(small_scenario.catalog), "--max-cloud", value
        )
        assert code == 2 and "--max-cloud" in err and "0<=x<=100" in err


def test_plurals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "post.txt"
    text.write_text(
        "date 2024-12-03\n\nTartus naval base this morning: 4 vessels alongside the pier.\n"
    )
    code, _, err = bw(capsys, "evidence", "extract", str(text), "--sites", "syria-2024")
    assert code == 0 and "1 claim from 1 of 1 file" in err, err
    one = tmp_path / "one.geojson"
    code, out, _ = bw(capsys, "sites", "export", str(REPO / "docs/examples/zones.geojson"),
                      "--out", str(one))  # fmt: skip
    assert code == 0 and "1 site, 2 zones" in out


def test_demo_prints_the_verdict_per_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from basewatch import pipeline

    assessment = tmp_path / "assessment.json"
    payload = {
        "sites": [
            {
                "site_id": "tartus",
                "posture": "withdrawn",
                "confidence": 0.93,
                "zones": [
                    {
                        "zone_id": "piers",
                        "changes": [
                            {"after": "2024-12-01", "before": "2024-12-03", "direction": "down",
                             "from": 6, "to": 0, "significant": True}
                        ],
                    }
                ],
            },
            {"site_id": "khmeimim", "posture": "reduced", "confidence": 0.7, "zones": []},
        ]
    }  # fmt: skip
    assessment.write_text(json.dumps(payload))

    def fake_demo(out: Path, **_: object) -> pipeline.DemoResult:
        return pipeline.DemoResult(
            root=tmp_path, sites=tmp_path / "s", catalog=tmp_path / "c",
            assessment=assessment, report=tmp_path / "report.html",
        )  # fmt: skip

    monkeypatch.setattr(pipeline, "run_demo", fake_demo)
    code, out, _ = bw(capsys, "demo", "--out", str(tmp_path))
    assert code == 0
    assert (
        "verdict: tartus: withdrawn (confidence 0.93); piers down 6->0 between 2024-12-01 "
        "and 2024-12-03" in out
    )
    assert "verdict: khmeimim: reduced (confidence 0.70)" in out


def test_serve_on_a_busy_port_fails_before_serving(
    filled: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("uvicorn", reason="serve needs the [web] extra")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = bw(capsys, "serve", "--db", filled, "--port", str(port))
    assert code == 1
    assert f"127.0.0.1:{port}" in error_line(err) and "in use" in err
    assert "serving" not in err


def test_a_database_without_basewatch_tables_is_a_missing_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The PostgreSQL rule ('missing' = no basewatch tables), on a SQLite file that exists."""
    import sqlite3

    path = tmp_path / "other.db"
    sqlite3.connect(path).close()  # an empty database file
    assert path.exists()
    with pytest.raises(StoreError, match="no basewatch tables"):
        open_store(f"sqlite:///{path}", create=False)
    code, _, err = bw(capsys, "export", "observations", "--db", f"sqlite:///{path}")
    assert code == 1 and "the database holds no basewatch tables" in error_line(err)
    with open_store(f"sqlite:///{path}") as store:  # a creating command may use it
        assert store.created


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        (
            "Failed to establish a new connection: [Errno 111] Connection refused",
            "connection refused",
        ),
        ("[Errno -2] Name or service not known", "host name not found (DNS)"),
        ("[Errno -3] Temporary failure in name resolution", "host name not found (DNS)"),
        (
            "ConnectTimeoutError: Connection to x timed out. (connect timeout=5)",
            "connection timed out",
        ),
        ("Read timed out. (read timeout=30)", "no answer in time (read timed out)"),
    ],
)
def test_network_causes_are_short(message: str, cause: str) -> None:
    from basewatch.imagery.net import network_cause

    wrapped = RuntimeError(
        f"HTTPConnectionPool(host='h', port=1): Max retries exceeded ({message})"
    )
    assert network_cause(wrapped) == cause
    assert len(network_cause(RuntimeError("x" * 500))) <= 160

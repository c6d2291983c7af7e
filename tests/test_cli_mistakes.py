"""User mistakes that used to give a plausible empty answer with exit 0 (the mistake probe).

Each command is run in process through ``main``, so the exit codes are the real ones: a
file that is not an assessment, a store without observations, an ``--as-of`` outside the
stored dates, a misspelt ``--hostile``/``--allies``, an anchor given LAT,LON and an unknown
bundled front must each fail (or warn) with one line naming the input and the fix.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _cli import bw, error_line

from basewatch.observe import Observation
from basewatch.sites import load_registry
from basewatch.store import open_store

FIRST = datetime(2024, 11, 1, 10, tzinfo=UTC)
"""First synthetic observation; then one every 2 days, 20 in all (last 2024-12-09)."""


@pytest.fixture
def sites_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A store of the bundled sites only (``sites import``), no observation."""
    db = f"sqlite:///{tmp_path / 'sites.db'}"
    assert bw(capsys, "sites", "import", "syria-2024", "--db", db)[0] == 0
    return db


@pytest.fixture
def observed_db(sites_db: str) -> str:
    """``sites_db`` with 20 clear observations of Tartus's piers (khmeimim never observed)."""
    zone = load_registry("syria-2024").select(["tartus"]).sites[0].zones[0].id
    obs = [
        Observation(
            site_id="tartus",
            zone_id=zone,
            scene_id=f"scene-{i}",
            time=FIRST + timedelta(days=2 * i),
            sensor="sentinel-1",
            detector="sar",
            detector_version="1",
            metric="ship_count",
            value=5.0,
            clear_fraction=1.0,
        )  # fmt: skip
        for i in range(20)
    ]
    with open_store(sites_db, create=False) as store:
        store.write_observations(obs)
    return sites_db


# ------------------------------------------------------------- 1. report


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("x.json", {"x": 1}, 'no "sites" list'),
        ("empty.json", {"sites": []}, "sites list is empty"),
        (
            "sites.geojson",
            {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}]},
            "GeoJSON",
        ),
        ("records.json", {"sites": [{"id": "tartus"}]}, "sites[0] lacks a site_id or a posture"),
    ],
)
def test_report_refuses_a_file_that_is_not_an_assessment(
    name: str,
    content: object,
    why: str,
    sites_db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / name
    path.write_text(json.dumps(content), encoding="utf-8")
    out = tmp_path / "r.html"
    code, _, err = bw(
        capsys, "report", "--db", sites_db, "--assessment", str(path), "--out", str(out)
    )
    assert code == 1
    line = error_line(err)
    assert str(path) in line and "not an assessment.json" in line and why in line
    assert '"site_id"' in line and "basewatch assess" in line  # what it must hold, the fix
    assert not out.exists()


def test_report_on_a_store_without_observations_says_to_monitor(
    sites_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    code, _, err = bw(capsys, "report", "--db", sites_db, "--out", str(out))
    assert code == 1
    line = error_line(err)
    assert sites_db in line and "holds no observations" in line and "basewatch monitor" in line
    assert not out.exists()


# ------------------------------------------------------------- 2. assess --as-of


def test_assess_on_a_store_of_sites_only_fails_and_writes_nothing(
    sites_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "a.json"
    code, stdout, err = bw(capsys, "assess", "--db", sites_db, "--out", str(out))
    assert code == 1 and stdout == ""
    line = error_line(err)
    assert sites_db in line and "holds no observations" in line and "basewatch monitor" in line
    assert not out.exists()
    with open_store(sites_db, create=False) as store:
        assert store.latest_assessment() is None  # nothing for report to pick up


def test_assess_as_of_before_every_observation_fails_naming_the_stored_dates(
    observed_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "a.json"
    code, stdout, err = bw(
        capsys, "assess", "--db", observed_db, "--out", str(out), "--as-of", "2010-01-01"
    )
    assert code == 1 and stdout == ""
    line = error_line(err)
    assert "--as-of 2010-01-01" in line and observed_db in line
    assert "from 2024-11-01 to 2024-12-09" in line
    assert not out.exists()
    with open_store(observed_db, create=False) as store:
        assert store.latest_assessment() is None


def test_assess_as_of_long_after_the_last_observation_warns(
    observed_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "a.json"
    code, stdout, err = bw(
        capsys, "assess", "--db", observed_db, "--out", str(out), "--as-of", "2025-03-01"
    )
    assert code == 0 and "tartus: unknown" in stdout
    assert "warning: --as-of 2025-03-01 is" in err and "(2024-12-09)" in err
    # within the staleness window: no warning; khmeimim (never observed) stays a
    # single-site unknown with its own warning, exit 0
    code, stdout, err = bw(
        capsys, "assess", "--db", observed_db, "--out", str(out), "--as-of", "2024-12-20"
    )
    assert code == 0 and "tartus: present" in stdout and "khmeimim: unknown" in stdout
    assert "after the last observation" not in err
    assert "1 site without any observation" in err and "(khmeimim)" in err


# ------------------------------------------------------------- 3. --hostile


def test_exposure_rejects_a_hostile_controller_not_in_the_front(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = bw(
        capsys, "exposure", "--sites", "syria-2024", "--front", "syria-2024-12-07",
        "--hostile", "NOSUCH",
    )  # fmt: skip
    assert code == 1 and out == ""
    line = error_line(err)
    assert "--hostile NOSUCH" in line and "controllers there: HTS" in line
    code, out, _ = bw(
        capsys, "exposure", "--sites", "syria-2024", "--front", "syria-2024-12-07",
        "--hostile", "HTS",
    )  # fmt: skip
    assert code == 0 and "khmeimim" in out


def test_report_rejects_a_hostile_controller_not_in_the_front(
    observed_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    code, _, err = bw(
        capsys, "report", "--db", observed_db, "--out", str(out),
        "--front", "syria-2024-12-07", "--hostile", "NOSUCH",
    )  # fmt: skip
    assert code == 1
    assert "controllers there: HTS" in error_line(err)
    assert not out.exists()


# ------------------------------------------------------------- 4. corridor


def test_corridor_rejects_unknown_allies_listing_the_actors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = bw(
        capsys, "corridor", "--sites", "syria-2024", "--areas", "syria-2024", "--allies", "NOSUCH"
    )
    assert code == 1 and out == ""
    line = error_line(err)
    assert "--allies NOSUCH" in line and "SY-GOV" in line and "HTS" in line


def test_corridor_anchor_given_lat_lon_suggests_the_swapped_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = bw(
        capsys, "corridor", "--sites", "syria-2024", "--areas", "syria-2024",
        "--anchor", "33.5,36.3",
    )  # fmt: skip
    assert code == 1 and out == ""
    line = error_line(err)
    assert "outside every control area" in line and "did you mean --anchor 36.3,33.5" in line
    code, _, err = bw(
        capsys, "corridor", "--sites", "syria-2024", "--areas", "syria-2024", "--anchor", "10,10"
    )
    line = error_line(err)
    assert "outside every control area" in line and "did you mean" not in line
    assert "Damascus" in line  # the places it could name instead


# ------------------------------------------------------------- 5. bundled front names


def test_an_unknown_bundled_front_lists_the_bundled_names(
    observed_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = bw(capsys, "exposure", "--sites", "syria-2024", "--front", "syria-2024-12-08")
    assert code == 1
    line = error_line(err)
    assert "'syria-2024-12-08'" in line and "Errno" not in line
    assert "syria-2024-11-26, syria-2024-12-07" in line
    code, _, err = bw(
        capsys, "report", "--db", observed_db, "--out", str(tmp_path / "r.html"),
        "--front", "syria-2024-12-08",
    )  # fmt: skip
    assert code == 1 and "syria-2024-11-26, syria-2024-12-07" in error_line(err)


def test_serve_rejects_a_hostile_controller_not_in_the_front(
    observed_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard's maps take fronts too: a misspelt --hostile stops before the server
    starts (uvicorn never runs)."""
    import uvicorn

    from basewatch.errors import InputError
    from basewatch.web.app import serve

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    with pytest.raises(InputError, match="--hostile NOSUCH.*controllers there: HTS"):
        serve(observed_db, fronts=["syria-2024-12-07"], hostile=["NOSUCH"])
    assert started == []
    serve(observed_db, fronts=["syria-2024-12-07"], hostile=["HTS"])
    assert len(started) == 1


def test_serve_names_a_host_that_is_not_this_machines_and_a_port_in_use(
    observed_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An address of another machine was blamed on the port being in use."""
    import socket

    code, _, err = bw(capsys, "serve", "--db", observed_db, "--host", "192.0.2.1", "--port", "8765")
    assert code == 1
    line = error_line(err)
    assert "--host 192.0.2.1: not an address of this machine" in line and "port" not in line
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        code, _, err = bw(capsys, "serve", "--db", observed_db, "--port", port)
    assert code == 1 and "uses the port: pick another --port" in error_line(err)


# ------------------------------------------------------------- sites import / validate / monitor


def _csv_site(tmp_path: Path, lon: float, lat: float) -> Path:
    path = tmp_path / "tartus.csv"
    path.write_text(f"id,name,kind,lon,lat\ntartus,Tartus,naval_base,{lon},{lat}\n")
    return path


def test_sites_import_refuses_to_drop_stored_zones_or_move_a_site(
    observed_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A registry of points (no zones) or with lon/lat swapped, imported into a store with
    observations, deleted the zones or moved the site silently (export then wrote null
    geometries); now refused, nothing stored, unless --replace."""
    stored = load_registry("syria-2024").select(["tartus"]).sites[0]
    point = stored.geometry.centroid
    points = _csv_site(tmp_path, point.x, point.y)
    code, _, err = bw(capsys, "sites", "import", str(points), "--db", observed_db)
    assert code == 1
    line = error_line(err)
    assert "site 'tartus': it would delete its stored zones (" in line and "--replace" in line
    swapped = _csv_site(tmp_path, point.y, point.x)
    code, _, err = bw(capsys, "sites", "import", str(swapped), "--db", observed_db)
    assert code == 1 and "it would move from (35.8" in error_line(err)
    with open_store(observed_db, create=False) as store:
        after = {s.id: s for s in store.sites()}["tartus"]
    assert [z.id for z in after.zones] == [z.id for z in stored.zones]
    assert after.geometry.equals_exact(stored.geometry, 1e-9)
    code, out, err = bw(capsys, "sites", "import", str(swapped), "--db", observed_db, "--replace")
    assert code == 0 and "--replace: site 'tartus': it would delete" in err


def test_zones_without_target_are_named_and_monitor_refuses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Zones without 'target' (read as 'any') validated 'ok' and monitor then observed
    0 chips with exit 0."""
    from basewatch.scenario import build_scenario

    scenario = tmp_path / "scenario"
    build_scenario(scenario, n_sites=2, start=FIRST.date(), end=FIRST.date() + timedelta(days=6))
    collection = json.loads((scenario / "sites.geojson").read_text())
    for feature in collection["features"]:
        feature["properties"].pop("target", None)
    untargeted = tmp_path / "untargeted.geojson"
    untargeted.write_text(json.dumps(collection))
    code, out, err = bw(capsys, "sites", "validate", str(untargeted))
    assert code == 0 and "with target 'any' will not be counted" in err
    db = tmp_path / "m.db"
    catalog = str(scenario / "catalog" / "catalog.json")
    code, _, err = bw(
        capsys,
        "monitor",
        "--sites",
        str(untargeted),
        "--catalog",
        catalog,
        "--db",
        f"sqlite:///{db}",
    )
    assert code == 1
    line = error_line(err)
    assert "nothing to observe on the" in line and "give each zone a 'target' property" in line
    assert not db.exists()
    # scenes search listed the scenes with no zone ("[]") and exit 0
    site = json.loads((scenario / "sites.geojson").read_text())["features"][0]["properties"]
    site_id = site.get("site_id") or site["id"]
    code, out, err = bw(
        capsys, "scenes", "search", "--sites", str(untargeted), "--site", site_id,
        "--catalog", catalog,
    )  # fmt: skip
    assert code == 1 and out == ""
    assert "give each zone a 'target' property" in error_line(err)
    code, out, _ = bw(
        capsys, "scenes", "search", "--sites", str(scenario / "sites.geojson"), "--site", site_id,
        "--catalog", catalog,
    )  # fmt: skip
    assert code == 0 and out.count("[") == len(out.splitlines()) > 0


def test_export_takes_its_format_from_the_file_name(
    observed_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--out obs.json`` wrote CSV into a .json file; a missing folder was a bare OSError."""
    out = tmp_path / "obs.json"
    assert bw(capsys, "export", "observations", "--db", observed_db, "--out", str(out))[0] == 0
    assert len(json.loads(out.read_text())) == 20
    code, _, err = bw(capsys, "export", "observations", "--db", observed_db, "--format", "csv",
                      "--out", str(tmp_path / "obs.geojson"))  # fmt: skip
    assert code == 1 and "would be named .geojson but hold csv" in error_line(err)
    code, _, err = bw(capsys, "export", "observations", "--db", observed_db,
                      "--out", str(tmp_path / "nowhere" / "obs.csv"))  # fmt: skip
    assert code == 1 and "does not exist; create it first" in error_line(err)


def test_evidence_extract_with_db_but_without_add_says_nothing_is_filed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--db`` without ``--add`` was ignored: the analyst believed the claims were filed."""
    text = tmp_path / "post.txt"
    text.write_text("Published 5 December 2024. Two frigates left Tartus on 3 December.\n")
    db = tmp_path / "ledger.db"
    code, _, err = bw(capsys, "evidence", "extract", str(text), "--sites", "syria-2024",
                      "--db", f"sqlite:///{db}")  # fmt: skip
    assert code == 1 and "--db without --add" in error_line(err) and not db.exists()
    code, out, _ = bw(capsys, "evidence", "extract", str(text), "--sites", "syria-2024")
    assert code == 0 and "tartus" in out


def test_csv_headers_in_capitals_and_other_separators_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ID,Name,...`` headers gave 'missing id'; a ';' evidence file 'row 2: no site'."""
    registry = tmp_path / "upper.csv"
    registry.write_text("ID,Name,Kind,Lon,Lat\nkhm,Khmeimim,airbase,35.9486,35.4011\n")
    code, out, _ = bw(capsys, "sites", "validate", str(registry))
    assert code == 0 and out.startswith(f"ok: {registry}: 1 site")
    db = f"sqlite:///{tmp_path / 'ev.db'}"
    assert bw(capsys, "sites", "import", "syria-2024", "--db", db)[0] == 0
    semi = tmp_path / "semi.csv"
    semi.write_text("Site_ID;Time;Source;URL;Kind;Claim;Grade\ntartus;2024-12-13;Reuters;;article;"
                    "Piers empty, two frigates gone;B2\n")  # fmt: skip
    code, out, _ = bw(capsys, "evidence", "import", str(semi), "--db", db)
    assert code == 0 and out.startswith("1 entry")
    other = tmp_path / "other.csv"
    other.write_text("Site,Date,Source,Claim\ntartus,2024-12-13,Reuters,Piers empty\n")
    code, _, err = bw(capsys, "evidence", "import", str(other), "--db", db)
    line = error_line(err)
    assert code == 1 and "has no time column (its columns: site, date, source, claim)" in line


def test_folders_and_gzipped_json_given_as_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip

    code, _, err = bw(capsys, "sites", "export", "syria-2024", "--out", str(tmp_path))
    assert code == 1 and "is a folder; give a file name in it" in error_line(err)
    code, _, err = bw(capsys, "tracks", "events", "--tracks", str(tmp_path), "--sites",
                      "syria-2024")  # fmt: skip
    assert code == 1 and "is a folder" in error_line(err)
    states = tmp_path / "states.json"  # gzipped, named .json
    rows = '[{"timestamp": 1733032800, "icao24": "abc", "latitude": 35.4, "longitude": 35.9}]'
    states.write_bytes(gzip.compress(rows.encode()))
    code, _, err = bw(capsys, "tracks", "events", "--tracks", str(states), "--sites",
                      "syria-2024")  # fmt: skip
    assert "cannot read" not in err and "codec" not in err  # read: then judged on its states


# ------------------------------------------------------------- outputs over inputs


def test_assess_never_writes_over_its_store_or_inputs(
    observed_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``assess --out s2.db`` replaced the SQLite store with JSON; ``--out tracks.csv``
    replaced the ADS-B file."""
    store_file = Path(observed_db.removeprefix("sqlite:///"))
    before = store_file.read_bytes()
    code, _, err = bw(capsys, "assess", "--db", observed_db, "--out", str(store_file))
    assert code == 1 and "name the assessment file with .json" in error_line(err)
    tracks = tmp_path / "tracks.json"
    tracks.write_text('{"time": 1733000000, "states": []}')
    code, _, err = bw(
        capsys, "assess", "--db", observed_db, "--tracks", str(tracks), "--out", str(tracks)
    )
    assert code == 1 and f"--out {tracks} is the input {tracks}" in error_line(err)
    assert store_file.read_bytes() == before and tracks.read_text().startswith('{"time"')


def test_detect_never_writes_over_its_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``detect victim.png --out victim.png`` replaced the image with GeoJSON (exit 0), and
    ``--out BANDS/B02.tif`` a band of the Sentinel-2 folder it read."""
    import numpy as np
    from PIL import Image

    image = tmp_path / "chip.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(image)
    before = image.read_bytes()
    code, _, err = bw(capsys, "detect", str(image), "--sensor", "sar", "--gsd", "2",
                      "--out", str(image))  # fmt: skip
    assert code == 1 and "name the file .geojson" in error_line(err)
    named = tmp_path / "chip.json"
    named.write_text("{}")  # e.g. a STAC item JSON given as the input
    code, _, err = bw(capsys, "detect", str(named), "--sensor", "s2", "--out", str(named))
    assert code == 1 and f"is the input {named}" in error_line(err)
    bands = tmp_path / "bands"
    bands.mkdir()
    code, _, err = bw(capsys, "detect", str(bands), "--sensor", "s2",
                      "--out", str(bands / "dets.geojson"))  # fmt: skip
    assert code == 1 and f"lies inside the input folder {bands}" in error_line(err)
    assert image.read_bytes() == before and named.read_text() == "{}"
    assert list(bands.iterdir()) == []


# ------------------------------------------------------------- corridor and front dates

AREAS = Path(__file__).parents[1] / "basewatch" / "data" / "fronts" / "areas" / "syria-2024.geojson"
FRONT = Path(__file__).parents[1] / "basewatch" / "data" / "fronts" / "syria-2024-12-07.geojson"


def test_corridor_refuses_dates_and_grids_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--until 12/07/2024 (compared as text: 'no control areas', exit 0), an --until before
    every situation, a 0.01 km grid (a 24.6 GiB MemoryError traceback), a 1000 km grid
    (every date 'CUT'), and an areas file dated 2024-13-45 (sorted as the latest situation)."""
    base = ["corridor", "--sites", "syria-2024", "--areas", "syria-2024", "--site", "tartus"]
    for extra, wanted in (
        (["--until", "12/07/2024"], "--until has date '12/07/2024'; write YYYY-MM-DD"),
        (["--until", "2020-01-01"], "lies before the first situation of the areas (2024-11-26)"),
        (["--cell-km", "0.01"], "cells; give --cell-km 0.3 or more"),
        (["--cell-km", "1000"], "cells over 25 km close the narrow passes"),
    ):
        code, out, err = bw(capsys, *base, *extra)
        assert code == 1 and out == "" and wanted in error_line(err), (extra, err)
    areas = json.loads(AREAS.read_text())
    dated = [f for f in areas["features"] if (f.get("properties") or {}).get("date")]
    dated[0]["properties"]["date"] = "2024-13-45"
    bad = tmp_path / "areas.geojson"
    bad.write_text(json.dumps(areas))
    code, _, err = bw(capsys, "corridor", "--sites", "syria-2024", "--areas", str(bad))
    assert code == 1 and "has date '2024-13-45'; write YYYY-MM-DD" in error_line(err)


def test_front_files_with_dates_that_are_not_days_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A front dated 07/12/2024 was printed as its date and lost its place as the latest."""
    front = json.loads(FRONT.read_text())
    front["date"] = "07/12/2024"
    for feature in front["features"]:
        (feature.get("properties") or {}).pop("date", None)
    bad = tmp_path / "front.geojson"
    bad.write_text(json.dumps(front))
    code, out, err = bw(capsys, "exposure", "--sites", "syria-2024", "--front", str(bad))
    assert code == 1 and out == ""
    assert "has date '07/12/2024'; write YYYY-MM-DD" in error_line(err)


# ------------------------------------------------------------- options without their partner


def test_options_without_their_partner_are_refused(
    observed_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--anchor/--roads without --areas, --aircraft-db without --tracks, --weapons/--hostile
    without --front were ignored without a word (exit 0); '--ports ""' trained on all ports."""
    out = str(tmp_path / "a.json")
    html = str(tmp_path / "r.html")
    cases = (
        (["assess", "--db", observed_db, "--out", out, "--anchor", "36.3,33.5"],
         "--anchor acts only with --areas"),
        (["assess", "--db", observed_db, "--out", out, "--roads", "syria-2024", "--allies", "X"],
         "--allies and --roads act only with --areas"),
        (["assess", "--db", observed_db, "--out", out, "--aircraft-db", "db.csv"],
         "--aircraft-db acts only with --tracks"),
        (["report", "--db", observed_db, "--out", html, "--aircraft-db", "db.csv"],
         "--aircraft-db acts only with --tracks"),
        (["report", "--db", observed_db, "--out", html, "--weapons", "w.yaml"],
         "--weapons acts only with --front"),
        (["serve", "--db", observed_db, "--hostile", "HTS"], "--hostile acts only with --front"),
        (["train", "ships", "--data", str(tmp_path), "--out", str(tmp_path / "m.onnx"),
          "--ports", ""], "names no port folder"),
    )  # fmt: skip
    for args, wanted in cases:
        code, stdout, err = bw(capsys, *args)
        assert code == 1 and stdout == "" and wanted in error_line(err), (args, err)
    assert not Path(out).exists() and not Path(html).exists()


def test_a_colour_image_is_not_taken_for_radar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--sensor sar averaged the bands of any 3-band image: a Pléiades JPEG gave 'no water in
    the image', a Sentinel-2 GeoTIFF 57 'ships' (exit 0). A grey image stored as RGB (as
    HRSID ships its chips), also after JPEG, is still read."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 60, (96, 96)).astype(np.uint8)
    grey[40:46, 30:60] = 250  # a bright hull on dark water
    colour = np.dstack([grey, np.clip(grey.astype(int) + 40, 0, 255), 255 - grey]).astype(np.uint8)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    Image.fromarray(np.dstack([grey] * 3)).save(tmp_path / "grey.jpg", quality=80)
    code, _, err = bw(capsys, "detect", str(tmp_path / "colour.png"), "--sensor", "sar",
                      "--gsd", "2", "--out", str(tmp_path / "c.geojson"))  # fmt: skip
    assert code == 1 and "differ as a colour image's do" in error_line(err)
    assert "--sensor highres" in error_line(err)
    code, out, _ = bw(capsys, "detect", str(tmp_path / "grey.jpg"), "--sensor", "sar",
                      "--gsd", "2", "--out", str(tmp_path / "g.geojson"))  # fmt: skip
    assert code == 0 and "detection(s)" in out


def test_blank_images_a_mistaken_gsd_and_a_wrong_crs_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An all-zero image gave '0 detection(s)' with a 'greyscale' warning; --gsd 0.01 (a
    1.3 m image) only a warning; a UTM grid labelled EPSG:4326 'gsd must be a positive
    number of metres, got nan'."""
    import numpy as np
    import rasterio
    from PIL import Image
    from rasterio.transform import from_origin

    blank = tmp_path / "zeros.png"
    Image.fromarray(np.zeros((128, 128, 3), np.uint8)).save(blank)
    out = str(tmp_path / "d.geojson")
    code, stdout, _ = bw(capsys, "detect", str(blank), "--sensor", "highres", "--gsd", "0.5",
                         "--out", out)  # fmt: skip
    assert code == 0 and "0 detection(s)" in stdout and "the image is blank" in stdout
    rgb = np.random.default_rng(1).integers(0, 255, (3, 128, 128)).astype(np.uint8)
    Image.fromarray(np.moveaxis(rgb, 0, 2)).save(tmp_path / "rgb.png")
    code, _, err = bw(capsys, "detect", str(tmp_path / "rgb.png"), "--sensor", "highres",
                      "--gsd", "0.01", "--out", out)  # fmt: skip
    assert code == 1 and "the image covers 1.3 x 1.3 m, too little" in error_line(err)
    wrong = tmp_path / "wrong_crs.tif"
    profile = {"driver": "GTiff", "width": 128, "height": 128, "count": 3, "dtype": "uint8",
               "crs": "EPSG:4326", "transform": from_origin(500000, 3900000, 0.5, 0.5)}  # fmt: skip
    with rasterio.open(wrong, "w", **profile) as dst:
        dst.write(rgb)
    code, _, err = bw(capsys, "detect", str(wrong), "--sensor", "highres", "--out", out)
    line = error_line(err)
    assert code == 1 and "wrong_crs.tif" in line and "does not fit its CRS EPSG:4326" in line


def test_front_files_with_nan_coordinates_or_places_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A NaN vertex printed a raw numpy RuntimeWarning and distances as if nothing were wrong;
    a control-areas file (places as Points) said only 'feature 17 is a Point'."""
    front = json.loads(FRONT.read_text())
    line = next(f for f in front["features"] if f["geometry"]["type"] == "LineString")
    line["geometry"]["coordinates"][1] = [float("nan"), 35.0]
    bad = tmp_path / "nan.geojson"
    bad.write_text(json.dumps(front))  # Python writes NaN, as some tools do
    code, out, err = bw(capsys, "exposure", "--sites", "syria-2024", "--front", str(bad))
    assert code == 1 and out == "" and "is not a number (NaN)" in error_line(err)
    code, _, err = bw(capsys, "exposure", "--sites", "syria-2024", "--front", str(AREAS))
    assert code == 1 and "is a named place" in error_line(err) and "corridor" in error_line(err)


def test_detect_names_folders_duplicate_bands_and_what_it_wrote_before_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder given to --sensor sar 'cannot be read as an image ... give a GeoTIFF'; two
    B04 files in a band folder: one taken silently; a bad image after good ones stopped the
    run without saying that the good ones' files were written."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "chips"
    folder.mkdir()
    grey = np.random.default_rng(2).integers(0, 60, (64, 64)).astype(np.uint8)
    Image.fromarray(grey).save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    code, _, err = bw(capsys, "detect", str(folder), "--sensor", "sar", "--gsd", "2",
                      "--out", str(out))  # fmt: skip
    assert code == 1 and f"{folder} is a folder; give the image files in it" in error_line(err)
    code, stdout, err = bw(capsys, "detect", str(folder / "a.png"), str(folder / "b.png"),
                           "--sensor", "sar", "--gsd", "2", "--out", str(out))  # fmt: skip
    assert code == 1 and "a.png: 0 detection(s)" in stdout and (out / "a.geojson").exists()
    assert "stopped after 1 of 2 images (their files are written)" in err
    assert "b.png" in error_line(err)
    bands = tmp_path / "bands"
    bands.mkdir()
    for name in ("T36_B04.tif", "T36_B04_copy.tif"):
        (bands / name).write_bytes(b"")
    code, _, err = bw(capsys, "detect", str(bands), "--sensor", "s2",
                      "--out", str(tmp_path / "s2.geojson"))  # fmt: skip
    assert code == 1 and "two files for band red (T36_B04.tif, T36_B04_copy.tif)" in error_line(err)


def test_an_output_under_a_file_names_that_file(
    observed_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'--out sites.geojson/a.json' said 'cannot write (File exists)'."""
    blocker = tmp_path / "sites.geojson"
    blocker.write_text("{}")
    for args in (
        ["assess", "--db", observed_db, "--out", str(blocker / "a.json")],
        ["report", "--db", observed_db, "--out", str(blocker / "r.html")],
    ):
        code, _, err = bw(capsys, *args)
        assert code == 1 and f"{blocker} is a file, not a folder" in error_line(err), err
    assert blocker.read_text() == "{}"


def test_monitor_says_when_its_registry_drops_stored_zones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A monitor run with a registry lacking a stored zone replaced the stored zones without a
    word (the zone's observations then exported without geometry)."""
    from basewatch.scenario import build_scenario

    scenario = tmp_path / "scenario"
    build_scenario(scenario, n_sites=2, start=FIRST.date(), end=FIRST.date() + timedelta(days=4))
    db = f"sqlite:///{tmp_path / 'm.db'}"
    catalog = str(scenario / "catalog" / "catalog.json")
    sites = str(scenario / "sites.geojson")
    code, _, err = bw(capsys, "monitor", "--sites", sites, "--catalog", catalog, "--db", db)
    assert code == 0 and "will delete" not in err
    collection = json.loads((scenario / "sites.geojson").read_text())
    zones = [f for f in collection["features"] if "site" in (f.get("properties") or {})]
    dropped = zones[0]["properties"]
    collection["features"].remove(zones[0])
    fewer = tmp_path / "fewer.geojson"
    fewer.write_text(json.dumps(collection))
    code, _, err = bw(capsys, "monitor", "--sites", str(fewer), "--catalog", catalog, "--db", db)
    assert code == 0
    assert f"site {dropped['site']!r}: this registry will delete its stored zones" in err
    assert dropped["id"] in err and "their observations stay, without a zone" in err


def test_a_pdf_path_that_cannot_be_written_is_named_not_chromium(tmp_path: Path) -> None:
    """'report --pdf /proc/x.pdf' blamed Chromium ('check that it runs headless')."""
    from basewatch.errors import InputError
    from basewatch.report.pdf import html_to_pdf

    html = tmp_path / "r.html"
    html.write_text("<html><body>report</body></html>")
    with pytest.raises(InputError, match=r"r\.html is a file, not a folder"):
        html_to_pdf(html, html / "r.pdf", chromium="/nonexistent/chromium")


def test_a_garbage_annotations_csv_is_named_as_such(tmp_path: Path) -> None:
    """'train aircraft' on a CSV without the Airbus columns said no labelled image exists."""
    from basewatch.errors import InputError
    from basewatch.train.labels import load_labels

    (tmp_path / "images").mkdir()
    (tmp_path / "annotations.csv").write_text("name,polygon\n")  # a header, no rows it knows
    with pytest.raises(InputError, match=r"no aircraft polygon in it \(columns: name, polygon\)"):
        load_labels(tmp_path)
    (tmp_path / "annotations.csv").write_text("hello world\nthis is junk\n")
    with pytest.raises(InputError, match=r"line 2: cannot read the row"):
        load_labels(tmp_path)

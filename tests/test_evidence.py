"""Tests for basewatch.context.evidence: graded entries, import, storage, migrations 0003 and
0005, CLI, the one schema across CLI, API, store and report."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from basewatch.cli import main
from basewatch.context.evidence import (
    FIELDS,
    add_entries,
    add_flight_events,
    list_entries,
    make_entry,
    parse_grade,
    read_entries,
)
from basewatch.context.tracks import FlightEvent
from basewatch.errors import InputError
from basewatch.store import open_store


def _entry(**overrides: str) -> dict[str, str]:
    base = {
        "site_id": "khmeimim",
        "time": "2024-12-14T09:30:00Z",
        "source": "Maxar Technologies via Reuters",
        "url": "https://example.org/khmeimim-an124",
        "kind": "imagery",
        "claim": "An-124 with nose open on the apron; Ka-52 being dismantled",
        "grade": "B2",
    }
    base.update(overrides)
    return base


def test_parse_grade() -> None:
    assert parse_grade("B2") == ("B", "2")
    assert parse_grade(" f 6 ") == ("F", "6")
    for bad in ("G1", "A7", "2B", "A", "A12"):
        with pytest.raises(InputError, match="admiralty grade"):
            parse_grade(bad)


def test_make_entry_normalises_and_validates() -> None:
    entry = make_entry(**_entry(time="2024-12-14T12:30:00+03:00", kind="Imagery"))
    assert entry.time == datetime(2024, 12, 14, 9, 30, tzinfo=UTC)
    assert (entry.kind, entry.grade) == ("imagery", "B2")
    naive = make_entry(**_entry(time="2024-12-14"))
    assert naive.time == datetime(2024, 12, 14, tzinfo=UTC)
    with pytest.raises(InputError, match="kind is 'tweet'"):
        make_entry(**_entry(kind="tweet"))
    with pytest.raises(InputError, match="time is 'yesterday'"):
        make_entry(**_entry(time="yesterday"))
    with pytest.raises(InputError, match="no claim"):
        make_entry(**_entry(claim="  "))
    with pytest.raises(InputError, match="time 2030-12-03 is in the future"):
        make_entry(**_entry(time="2030-12-03"))
    with pytest.raises(InputError, match="time 0024-12-03T00:00:00.00:00 is before 1900"):
        make_entry(**_entry(time="0024-12-03"))  # the year typed short
    with pytest.raises(InputError, match="url 'notaurl' is not a web address.*https://"):
        make_entry(**_entry(url="notaurl"))
    assert make_entry(**_entry(url=" https://example.org/x ")).url == "https://example.org/x"
    assert make_entry(**_entry(url="t.me/rybar/6543")).url == "t.me/rybar/6543"
    for bad in ("javascript:alert('x.y')", "file:///etc/passwd", "see the article"):
        with pytest.raises(InputError, match="not a web address"):
            make_entry(**_entry(url=bad))


def test_store_round_trip_and_regrade(tmp_path: Path) -> None:
    with open_store(tmp_path / "bw.db") as store:
        first = make_entry(**_entry())
        post = make_entry(
            **_entry(kind="post", source="@MT_Anderson", claim="Il-76 left for Russia", grade="C3")
        )
        ids = add_entries(store, [first, post], known_sites=["khmeimim", "tartus"])
        assert len(set(ids)) == 2
        # same entry again keeps its id; a new grade replaces the old one
        again = add_entries(store, [make_entry(**_entry(grade="A1"))], known_sites=["khmeimim"])
        assert again == [ids[0]]
        rows = list_entries(store)
        assert [(r["kind"], r["grade"]) for r in rows] == [("imagery", "A1"), ("post", "C3")]
        assert rows[0]["time"] == "2024-12-14T09:30:00Z"
        assert list_entries(store, kind="post")[0]["claim"] == "Il-76 left for Russia"
        # the store's own call grades F6 ("cannot be judged") and files kind "other"
        old = store.add_evidence(
            site_id="tartus",
            time=datetime(2024, 12, 2, tzinfo=UTC),
            source="s",
            url="",
            claim="t",
        )
        assert store.evidence(site_id="tartus")[0]["id"] == old
        assert store.evidence(site_id="tartus")[0]["reliability"] == "F"
        assert store.evidence(site_id="tartus")[0]["kind"] == "other"
        with pytest.raises(InputError, match="not in the registry"):
            add_entries(store, [make_entry(**_entry(site_id="hmeimim"))], known_sites=["khmeimim"])


def test_migration_grades_existing_rows(tmp_path: Path) -> None:
    """A 0002 database with evidence upgrades to the grade columns, old rows graded F6."""
    from alembic import command

    from basewatch.store import _alembic_config, schema_head

    db = tmp_path / "old.db"
    config = _alembic_config()
    config.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    command.upgrade(config, "0002")
    with sqlite3.connect(db) as con:
        con.execute(
            "INSERT INTO evidence (site_id, time, source, url, text, kind, digest) "
            "VALUES ('tartus', '2024-12-02 00:00:00.000000', 'src', '', 'ships gone', 'post', 'd')"
        )
    with open_store(db) as store:
        assert store.schema_version() == schema_head()
        (row,) = list_entries(store)
        assert (row["claim"], row["grade"]) == ("ships gone", "F6")


def test_read_entries_csv_and_json(tmp_path: Path) -> None:
    csv_path = tmp_path / "ledger.csv"
    csv_path.write_text(
        "site,time,source,url,kind,text,reliability,credibility\n"
        "tartus,2024-12-02,Planet Labs,https://example.org/p,imagery,Piers empty,A,2\n"
        "khmeimim,2024-12-10,TASS,,official,Base stays,B,4\n"
    )
    entries = read_entries(csv_path)
    assert [(e.site_id, e.kind, e.grade) for e in entries] == [
        ("tartus", "imagery", "A2"),
        ("khmeimim", "official", "B4"),
    ]
    json_path = tmp_path / "ledger.json"
    json_path.write_text(json.dumps([_entry(), _entry(kind="rumour")]))
    with pytest.raises(InputError, match=r"ledger.json', record 1: kind is 'rumour'"):
        read_entries(json_path)
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("site_id,time,source,kind,claim,grade\nk,2024-12-01,s,post,c,Z9\n")
    with pytest.raises(InputError, match=r"bad.csv', row 2: grade is 'Z9'"):
        read_entries(bad_csv)


def test_flight_events_become_evidence(tmp_path: Path) -> None:
    event = FlightEvent(
        site_id="khmeimim",
        time=datetime(2024, 12, 14, 6, 0, tzinfo=UTC),
        kind="departure",
        icao24="15b0a1",
        callsign="RFF7086",
        typecode="IL76",
        heavy=True,
    )
    with open_store(tmp_path / "bw.db") as store:
        assert add_flight_events(store, [event, event], source="states.csv") == 2
        (row,) = list_entries(store, kind="flight")
    assert row["claim"] == "RFF7086 (IL76, icao24 15b0a1) departed from khmeimim"
    assert row["grade"] == "C2" and row["source"] == "ADS-B (states.csv)"


def test_cli_add_import_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'bw.db'}"
    main(
        [
            "evidence", "add", "--db", db, "--site", "khmeimim", "--time", "2024-12-14",
            "--source", "Reuters", "--kind", "article", "--claim", "Aircraft leaving",
            "--grade", "b2", "--sites", "syria-2024",
        ]
    )  # fmt: skip
    assert capsys.readouterr().out.strip() == "1"
    path = tmp_path / "more.json"
    path.write_text(json.dumps([_entry(site_id="tartus"), _entry(site_id="tartus")]))
    main(["evidence", "import", str(path), "--db", db, "--sites", "syria-2024"])
    assert "2 entries" in capsys.readouterr().out
    main(["evidence", "list", "--db", db, "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert [(r["site_id"], r["kind"], r["grade"]) for r in rows] == [
        ("khmeimim", "article", "B2"),
        ("tartus", "imagery", "B2"),
    ]
    with pytest.raises(SystemExit) as info:
        args = ["--source", "s", "--kind", "post", "--claim", "c", "--sites", "syria-2024"]
        main(["evidence", "add", "--db", db, "--site", "x", "--time", "2024-12-14", *args])
    assert info.value.code == 1
    assert "not in the registry" in capsys.readouterr().err


# ----------------------------------------------------------------------- one schema (issue 17)


def test_one_kind_vocabulary_and_legacy_kinds() -> None:
    from basewatch.context.evidence import KINDS, LEGACY_KINDS, normalise_kind

    assert KINDS == ("imagery", "flight", "post", "article", "official", "video", "other")
    assert set(LEGACY_KINDS.values()) <= set(KINDS)
    assert normalise_kind("Post") == ("post", None)
    kind, notice = normalise_kind("image")
    assert kind == "imagery" and notice is not None and "deprecated" in notice
    assert make_entry(**_entry(kind="track")).kind == "flight"
    with pytest.raises(InputError, match="kind is 'rumour'; use one of imagery, flight"):
        normalise_kind("rumour")


def test_add_checks_sites_against_the_store(tmp_path: Path) -> None:
    from basewatch.sites import load_registry

    with open_store(tmp_path / "bw.db") as store:
        entry = make_entry(**_entry())
        with pytest.raises(InputError, match="has no sites to check evidence against.*--sites"):
            add_entries(store, [entry])
        assert list_entries(store) == []
        store.upsert_sites(load_registry("syria-2024"))
        with pytest.raises(InputError, match="site 'nowhere', which is not in the store"):
            add_entries(store, [make_entry(**_entry(site_id="nowhere"))])
        assert len(add_entries(store, [entry])) == 1


def test_cli_add_without_sites_refuses_unknown_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'bw.db'}"
    args = ["--time", "2024-12-14", "--source", "s", "--kind", "post", "--claim", "c"]
    with pytest.raises(SystemExit) as info:
        main(["evidence", "add", "--db", db, "--site", "nowhere", *args])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "has no sites to check evidence against" in err and "--sites" in err
    main(["sites", "import", "syria-2024", "--db", db, "--out", str(tmp_path / "s.geojson")])
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["evidence", "add", "--db", db, "--site", "nowhere", *args])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "'nowhere', which is not in the store" in err and "khmeimim" in err
    main(["evidence", "add", "--db", db, "--site", "tartus", *args])
    assert capsys.readouterr().out.strip() == "1"


def test_migration_0005_renames_text_and_maps_old_kinds(tmp_path: Path) -> None:
    """A store at 0004 (the old ``text`` column, old API kinds) upgrades without losing rows."""
    from alembic import command

    from basewatch.store import _alembic_config, evidence_digest, schema_head

    db = tmp_path / "old.db"
    config = _alembic_config()
    config.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    command.upgrade(config, "0004")
    when = datetime(2024, 12, 2, tzinfo=UTC)
    old_rows = [  # (kind, text, grade): what the old API and CLI stored
        ("image", "Piers empty", "B2"),
        ("track", "RFF7086 departed", "C2"),
        ("text", "Ships leaving", "F6"),
        ("post", "Two corvettes left", "C3"),
        ("rumour", "Submarine seen", "E5"),
    ]
    with sqlite3.connect(db) as con:
        cols = [c[1] for c in con.execute("PRAGMA table_info(evidence)")]
        assert "text" in cols and "claim" not in cols  # the old shape
        for i, (kind, text, grade) in enumerate(old_rows):
            digest = evidence_digest("tartus", when, "src", "", text, kind)
            con.execute(
                "INSERT INTO evidence (site_id, time, source, url, text, kind, digest, "
                "reliability, credibility) VALUES ('tartus', ?, 'src', '', ?, ?, ?, ?, ?)",
                (f"2024-12-02 00:00:0{i}.000000", text, kind, digest, grade[0], grade[1]),
            )
    with open_store(db) as store:
        assert store.schema_version() == schema_head()
        rows = list_entries(store)
        assert [(r["kind"], r["claim"], r["grade"]) for r in rows] == [
            ("imagery", "Piers empty", "B2"),
            ("flight", "RFF7086 departed", "C2"),
            ("other", "Ships leaving", "F6"),
            ("post", "Two corvettes left", "C3"),
            ("other", "Submarine seen [kind: rumour]", "E5"),
        ]
        # re-keyed: the same entry added again under its new kind keeps its id
        first = store.evidence()[0]
        same = store.add_evidence(
            site_id="tartus",
            time=first["time"],
            source="src",
            url="",
            claim="Piers empty",
            kind="imagery",
            reliability="B",
            credibility="2",
        )
        assert same == first["id"] and len(store.evidence()) == 5


def test_api_reads_the_deprecated_text_and_kinds(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the API needs the [web] extra (fastapi)")
    pytest.importorskip("httpx", reason="fastapi.testclient needs httpx (dev extra)")
    from fastapi.testclient import TestClient

    from basewatch.sites import load_registry
    from basewatch.web import create_app

    db = f"sqlite:///{tmp_path / 'api.db'}"
    with open_store(db) as store:
        store.upsert_sites(load_registry("syria-2024"))
    auth = {"Authorization": "Bearer t0ken"}
    body = {
        "site_id": "tartus",
        "time": "2024-12-03T10:00:00Z",
        "source": "Maxar via press",
        "url": "https://example.org/piers",
        "claim": "Piers empty",
        "kind": "imagery",
        "grade": "b2",
    }
    with TestClient(create_app(db, token="t0ken")) as client:
        new = client.post("/api/evidence", json=body, headers=auth)
        assert new.status_code == 201 and "deprecated" not in new.json()
        assert new.json()["grade"] == "B2"
        old = {**{k: v for k, v in body.items() if k != "claim"}, "text": "Gone", "kind": "image"}
        response = client.post("/api/evidence", json=old, headers=auth)
        assert response.status_code == 201
        notices = " ".join(response.json()["deprecated"])
        assert "'text' is deprecated" in notices and "'image' is deprecated" in notices
        rows = client.get("/api/sites/tartus/evidence").json()
        unknown = client.post("/api/evidence", json={**body, "site_id": "nowhere"}, headers=auth)
        both = client.post("/api/evidence", json={**body, "text": "x"}, headers=auth)
    assert [set(r) for r in rows] == [set(FIELDS)] * 2
    assert [(r["claim"], r["kind"], r["grade"]) for r in rows] == [
        ("Piers empty", "imagery", "B2"),
        ("Gone", "imagery", "B2"),
    ]
    assert unknown.status_code == 404 and "nowhere" in unknown.json()["detail"]
    assert both.status_code == 422 and "'claim' only" in both.text


def test_report_shows_claim_and_grade(tmp_path: Path) -> None:
    from basewatch.report import render_report

    entry = make_entry(**_entry())
    with open_store(tmp_path / "bw.db") as store:
        add_entries(store, [entry], known_sites=["khmeimim"])
        page = render_report({"sites": [{"site_id": "khmeimim"}]}, evidence=store.evidence())
    table = page.split('<table class="evidence">')[1].split("</table>")[0]
    assert "<th>Grade</th>" in table and "<td>B2</td>" in table
    assert "Ka-52 being dismantled" in table


def test_a_clock_time_without_zone_is_read_as_utc_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A local time typed without its offset was stored as UTC silently."""
    with caplog.at_level("WARNING"):
        entry = make_entry(**_entry(time="2024-12-13 08:00"))
        day = make_entry(**_entry(time="2024-12-13"))  # a day alone: no warning
    assert entry.time == datetime(2024, 12, 13, 8, tzinfo=UTC)
    assert day.time == datetime(2024, 12, 13, tzinfo=UTC)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "time '2024-12-13 08:00' has no time zone" in said[0]

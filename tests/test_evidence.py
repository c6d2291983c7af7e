"""Tests for basewatch.evidence: graded entries, import, storage, migration 0003, CLI."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from basewatch.cli import main
from basewatch.errors import InputError
from basewatch.evidence import (
    add_entries,
    add_flight_events,
    list_entries,
    make_entry,
    parse_grade,
    read_entries,
)
from basewatch.store import open_store
from basewatch.tracks import FlightEvent


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


def test_store_round_trip_and_regrade(tmp_path: Path) -> None:
    with open_store(tmp_path / "bw.db") as store:
        first = make_entry(**_entry())
        post = make_entry(
            **_entry(kind="post", source="@MT_Anderson", claim="Il-76 left for Russia", grade="C3")
        )
        ids = add_entries(store, [first, post], known_sites=["khmeimim", "tartus"])
        assert len(set(ids)) == 2
        # same entry again keeps its id; a new grade replaces the old one
        assert add_entries(store, [make_entry(**_entry(grade="A1"))]) == [ids[0]]
        rows = list_entries(store)
        assert [(r["kind"], r["grade"]) for r in rows] == [("imagery", "A1"), ("post", "C3")]
        assert rows[0]["time"] == "2024-12-14T09:30:00Z"
        assert list_entries(store, kind="post")[0]["claim"] == "Il-76 left for Russia"
        # the old keyword-only call still works and is graded F6 ("cannot be judged")
        old = store.add_evidence(
            site_id="tartus",
            time=datetime(2024, 12, 2, tzinfo=UTC),
            source="s",
            url="",
            text="t",
        )
        assert store.evidence(site_id="tartus")[0]["id"] == old
        assert store.evidence(site_id="tartus")[0]["reliability"] == "F"
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

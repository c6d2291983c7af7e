"""Tests of basewatch.alerts and ``basewatch watch``: each significant change reported once.

The simulated scenario is built once for the module over 2024-11-15..2024-12-20 (Tartus
flotilla leaves on 2 December, the S-400 position is emptied after 10 December). Webhooks
are a loopback HTTP server started by the test.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from basewatch.alerts import (
    WebhookError,
    alerts_from_assessment,
    check_webhook_url,
    new_alerts,
    post_webhook,
    watch,
)
from basewatch.cli import main
from basewatch.errors import InputError, StoreError
from basewatch.scenario import ScenarioPaths, build_scenario
from basewatch.store import Base, _alembic_config, open_store, store_counts

START, END = date(2024, 11, 15), date(2024, 12, 20)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioPaths:
    return build_scenario(tmp_path_factory.mktemp("scenario"), start=START, end=END)


class Hook:
    """A loopback webhook: records the JSON bodies it accepts; answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                if hook.status == 200:
                    hook.received.append(json.loads(body))
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def _new_store(scenario: ScenarioPaths, tmp_path: Path) -> str:
    """A store made as a user makes one before watching: ``basewatch sites import --db``."""
    db = f"sqlite:///{tmp_path / 'w.db'}"
    main(["sites", "import", str(scenario.sites), "--db", db])
    return db


def _watch(scenario: ScenarioPaths, db: str, to: str, **kw: Any):  # type: ignore[no-untyped-def]
    return watch(scenario.sites, scenario.catalog, db=db, start=START.isoformat(), end=to, **kw)


def _by_zone(alerts: Any) -> dict[str, dict[str, Any]]:
    return {a["zone_id"]: a for a in alerts}


# ------------------------------------------------------------------------ end to end


def test_watch_reports_each_change_once_and_posts_it(
    scenario: ScenarioPaths, tmp_path: Path, hook: Hook
) -> None:
    db = _new_store(scenario, tmp_path)
    before = _watch(scenario, db, "2024-11-30", webhook=hook.url)
    assert before.summary.observed > 0
    assert before.new == () and hook.received == []

    after = _watch(scenario, db, "2024-12-20", webhook=hook.url)
    assert after.summary.observed > 0  # only the new scenes are observed
    alerts = _by_zone(after.new)
    assert set(alerts) == {"piers", "s400-position"}
    piers, s400 = alerts["piers"], alerts["s400-position"]
    assert piers["site_id"] == "tartus" and piers["direction"] == "down"
    assert piers["after"] <= "2024-12-02" <= piers["before"]
    assert piers["from"] > piers["to"] == 0 and piers["p_value"] < 0.05
    assert s400["after"] <= "2024-12-10" <= s400["before"]
    assert set(piers) == {
        "site_id",
        "zone_id",
        "after",
        "before",
        "direction",
        "from",
        "to",
        "p_value",
        "posture",
    }
    assert hook.received == list(after.new)
    assert (after.delivered, after.pending, after.webhook_error) == (2, 0, None)

    again = _watch(scenario, db, "2024-12-20", webhook=hook.url)
    assert again.summary.observed == 0
    assert again.new == () and again.delivered == 0
    assert len(hook.received) == 2
    with open_store(db) as store:
        assert [s.alert for s in store.alerts()] == list(after.new)
        assert all(s.delivered_at is not None for s in store.alerts())


def test_watch_alerts_only_for_the_sites_of_its_registry(
    scenario: ScenarioPaths, tmp_path: Path
) -> None:
    """A watch with a registry of one site printed the changes of every stored site."""
    from basewatch import pipeline
    from basewatch.sites import load_registry, save_registry

    db = _new_store(scenario, tmp_path)
    pipeline.monitor(scenario.sites, scenario.catalog, db=db, start=START.isoformat(),
                     end="2024-12-20")  # fmt: skip
    tartus_only = save_registry(
        load_registry(scenario.sites).select(["tartus"]), tmp_path / "tartus.geojson"
    )
    result = watch(tartus_only, scenario.catalog, db=db, start=START.isoformat(), end="2024-12-20")
    assert {(a["site_id"], a["zone_id"]) for a in result.new} == {("tartus", "piers")}


def test_failed_webhook_keeps_the_alert_and_retries_it_next_run(
    scenario: ScenarioPaths, tmp_path: Path, hook: Hook
) -> None:
    db = _new_store(scenario, tmp_path)
    hook.status = 500
    first = _watch(scenario, db, "2024-12-20", webhook=hook.url)
    assert len(first.new) == 2
    assert first.webhook_error is not None and hook.url in first.webhook_error
    assert "500" in first.webhook_error
    assert (first.delivered, first.pending) == (0, 2)
    assert hook.attempts == 1  # stops at the first failure
    assert hook.received == []

    hook.status = 200
    second = _watch(scenario, db, "2024-12-20", webhook=hook.url)
    assert second.new == ()  # not reported again on stdout...
    assert (second.delivered, second.pending, second.webhook_error) == (2, 0, None)
    assert hook.received == list(first.new)  # ...but delivered now

    third = _watch(scenario, db, "2024-12-20", webhook=hook.url)
    assert (third.new, third.delivered) == ((), 0)
    assert len(hook.received) == 2


def test_cli_watch_prints_json_lines_and_names_a_failing_webhook(
    scenario: ScenarioPaths, tmp_path: Path, hook: Hook
) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    made = subprocess.run(
        [sys.executable, "-m", "basewatch", "sites", "import", str(scenario.sites), "--db", db],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0 and f"created a new store at {db}" in made.stderr
    hook.status = 503
    args = [
        sys.executable,
        "-m",
        "basewatch",
        "watch",
        "--sites",
        str(scenario.sites),
        "--catalog",
        str(scenario.catalog),
        "--db",
        db,
        "--from",
        START.isoformat(),
        "--to",
        "2024-12-20",
    ]
    proc = subprocess.run([*args, "--webhook", hook.url], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {a["zone_id"] for a in lines} == {"piers", "s400-position"}
    assert hook.url in proc.stderr and "Traceback" not in proc.stderr
    assert "2 alert(s) pending" in proc.stderr

    hook.status = 200
    proc = subprocess.run([*args, "--webhook", hook.url], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == ""
    assert hook.received == lines


# ------------------------------------------------------------------------ pieces


def _payload(*changes: dict[str, Any], posture: str = "withdrawing") -> dict[str, Any]:
    return {
        "sites": [
            {
                "site_id": "tartus",
                "posture": posture,
                "zones": [{"zone_id": "piers", "changes": list(changes)}],
            }
        ]
    }


def _change(after: str, before: str, frm: float, to: float, sig: bool = True) -> dict[str, Any]:
    direction = "down" if to < frm else "up"
    return {
        "after": after,
        "before": before,
        "direction": direction,
        "from": frm,
        "to": to,
        "significant": sig,
        "p_value": 0.001,
    }


def test_alerts_from_assessment_keeps_significant_changes_that_matter() -> None:
    payload = _payload(
        _change("2024-12-01", "2024-12-03", 6, 0),
        _change("2024-11-01", "2024-11-05", 6, 2, sig=False),
        _change("2024-09-07", "2024-09-12", 0, 1),  # one object more: not worth an alert
    )
    (alert,) = alerts_from_assessment(payload)
    assert alert == {
        "site_id": "tartus",
        "zone_id": "piers",
        "after": "2024-12-01",
        "before": "2024-12-03",
        "direction": "down",
        "from": 6,
        "to": 0,
        "p_value": 0.001,
        "posture": "withdrawing",
    }


def test_new_alerts_match_overlapping_brackets_of_the_same_zone_and_direction() -> None:
    (known,) = alerts_from_assessment(_payload(_change("2024-12-01", "2024-12-05", 6, 0)))
    narrowed = alerts_from_assessment(_payload(_change("2024-12-02", "2024-12-03", 6, 0)))
    assert new_alerts(narrowed, [known]) == []
    later = alerts_from_assessment(_payload(_change("2024-12-10", "2024-12-12", 6, 0)))
    assert new_alerts(later, [known]) == later
    back_up = alerts_from_assessment(_payload(_change("2024-12-01", "2024-12-05", 0, 6)))
    assert new_alerts(back_up, [known]) == back_up
    assert new_alerts(later + later, []) == later  # duplicates within one run


def test_webhook_errors_name_the_url(hook: Hook) -> None:
    with pytest.raises(InputError, match="ftp://x"):
        check_webhook_url("ftp://x")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    with pytest.raises(WebhookError, match=url):
        post_webhook(url, {"site_id": "tartus", "zone_id": "piers"}, timeout_s=2)
    hook.status = 404
    with pytest.raises(WebhookError, match=r"404.*pending|pending.*404") as err:
        post_webhook(hook.url, {"site_id": "tartus", "zone_id": "piers"})
    assert hook.url in str(err.value)
    assert isinstance(err.value, OSError)


def test_bad_watch_inputs_raise_input_error(scenario: ScenarioPaths, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    with pytest.raises(InputError, match="--webhook"):
        _watch(scenario, db, "2024-12-20", webhook="localhost:8000")
    with pytest.raises(InputError, match="timeout"):
        _watch(scenario, db, "2024-12-20", timeout_s=0)


def test_watch_never_creates_a_store(scenario: ScenarioPaths, tmp_path: Path) -> None:
    """A mistyped --db is an error naming it and the fix, not a new store watched from zero."""
    typo = tmp_path / "typo.db"
    with pytest.raises(StoreError, match="does not exist") as err:
        _watch(scenario, f"sqlite:///{typo}", "2024-12-20")
    assert f"sqlite:///{typo}" in str(err.value) and "basewatch monitor" in str(err.value)
    assert not typo.exists()
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(empty).close()
    with pytest.raises(StoreError, match="is empty") as err:
        _watch(scenario, empty, "2024-12-20")
    assert empty in str(err.value) and "basewatch monitor" in str(err.value)
    with open_store(empty) as store:  # nothing was observed into it
        assert store_counts(store)["observations"] == 0


def test_store_alerts_round_trip_and_pending_state(tmp_path: Path) -> None:
    alert = {
        "site_id": "tartus",
        "zone_id": "piers",
        "after": "2024-12-01",
        "before": "2024-12-03",
        "direction": "down",
        "from": 6,
        "to": 0,
    }
    with open_store(tmp_path / "a.db") as store:
        quiet = store.add_alert(alert)
        owed = store.add_alert({**alert, "zone_id": "anchorage"}, webhook_url="http://h/x")
        assert [s.id for s in store.alerts()] == [quiet, owed]
        assert list(store.alerts()[0].alert) == list(alert)  # field order kept
        assert [s.id for s in store.alerts(pending=True)] == [owed]
        store.mark_alert_delivered(owed, url="http://h/y")
        assert store.alerts(pending=True) == []
        assert store.alerts(site_id="other") == []
        with pytest.raises(InputError, match="before"):
            store.add_alert({k: v for k, v in alert.items() if k != "before"})


def test_migration_0002_adds_alerts_to_a_0001_store_as_the_model_says(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
    with engine.begin() as conn:
        assert "alerts" not in inspect(conn).get_table_names()
        command.upgrade(_alembic_config(conn), "0002")
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert [d for d in diffs if "alerts" in repr(d)] == []
    with open_store(path) as store:  # and on to the newest revision
        store.add_alert(
            {"site_id": "s", "zone_id": "z", "direction": "up", "after": "a", "before": "b"}
        )
        assert len(store.alerts()) == 1

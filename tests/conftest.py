"""Shared fixtures: a throw-away PostgreSQL + PostGIS server (see tests/_postgres.py) and a
one-week demo scenario."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from _postgres import PostgresServer, PostgresUnavailable, start_server

from basewatch.scenario import ScenarioPaths, build_scenario


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL 15 + PostGIS server for the whole session, stopped at the end.

    Skips (with the reason and how to install) when the binaries or PostGIS are missing.
    """
    try:
        server = start_server()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgis_url(postgres_server: PostgresServer) -> str:
    """URL of a new, empty database with the postgis extension (one per test)."""
    return postgres_server.new_database()


SMALL_START = date(2024, 12, 1)
"""First day of :func:`small_scenario` (the week of the Russian withdrawal from Syria)."""
SMALL_END = date(2024, 12, 8)
"""Last day of :func:`small_scenario`."""


@pytest.fixture(scope="session")
def small_scenario(tmp_path_factory: pytest.TempPathFactory) -> ScenarioPaths:
    """The demo scenario (Khmeimim and Tartus) over one week, built once per session."""
    root = tmp_path_factory.mktemp("small-scenario")
    return build_scenario(root, start=SMALL_START, end=SMALL_END, workers=1)

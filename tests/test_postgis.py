"""The store on PostgreSQL + PostGIS (a server the tests start themselves, see conftest.py):
same results as SQLite, real geometry columns with GiST indexes, spatial queries, migration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from _postgres import PostgresServer
from alembic import command
from conftest import SMALL_END, SMALL_START
from shapely.geometry import box
from sqlalchemy import create_engine, func, select, text

from basewatch.scenario import ScenarioPaths
from basewatch.sites import Site, Zone
from basewatch.store import ZoneRow, _alembic_config, open_store, schema_head

GEOMETRY_TABLES = ("detections", "sites", "zones")


@pytest.fixture(autouse=True)
def _no_chip_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASEWATCH_NO_CACHE", "1")


def _cli(*args: str) -> None:
    from basewatch.cli import main

    try:
        main(list(args))
    except SystemExit as exc:
        assert exc.code in (0, None), f"basewatch {' '.join(args)} exited {exc.code}"


def _monitor_and_export(scenario: ScenarioPaths, db: str, out: Path) -> dict[str, bytes]:
    """``basewatch monitor`` into ``db``, then every ``export observations`` format's bytes."""
    run = ("--sites", str(scenario.sites), "--catalog", str(scenario.catalog), "--db", db)
    _cli("monitor", *run, "--from", f"{SMALL_START}", "--to", f"{SMALL_END}", "--no-cache")
    exports = {}
    for fmt in ("csv", "json", "geojson"):
        path = out / f"observations.{fmt}"
        _cli("export", "observations", "--db", db, "--format", fmt, "--out", str(path))
        exports[fmt] = path.read_bytes()
    return exports


def _sql(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]
    finally:
        engine.dispose()


def test_demo_monitor_gives_byte_identical_exports_on_sqlite_and_postgis(
    small_scenario: ScenarioPaths, postgis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "lite").mkdir()
    (tmp_path / "pg").mkdir()
    lite = _monitor_and_export(
        small_scenario, f"sqlite:///{tmp_path / 'lite.db'}", tmp_path / "lite"
    )
    pg = _monitor_and_export(small_scenario, postgis_url, tmp_path / "pg")
    assert pg == lite
    rows = lite["csv"].decode().splitlines()
    assert len(rows) > 10 and {r.split(",")[0] for r in rows[1:]} == {"khmeimim", "tartus"}
    assert any(json.loads(lite["json"])[i]["detections"] for i in range(len(rows) - 1))
    # the detections really are PostGIS geometries in EPSG:4326, inside their zones
    inside = _sql(
        postgis_url,
        "SELECT count(*), count(*) FILTER (WHERE ST_Intersects(d.geometry, ST_Buffer(z.geometry,"
        " 0.001))), min(ST_SRID(d.geometry)) FROM detections d JOIN observations o"
        " ON o.id = d.observation_id JOIN zones z ON z.site_id = o.site_id AND z.id = o.zone_id",
    )
    n, near, srid = inside[0]
    assert isinstance(n, int) and n > 0 and near == n and srid == 4326


def test_geometry_columns_are_postgis_with_gist_indexes(postgis_url: str) -> None:
    open_store(postgis_url).close()
    columns = _sql(
        postgis_url,
        "SELECT f_table_name, type, srid FROM geometry_columns"
        " WHERE f_geometry_column = 'geometry' ORDER BY f_table_name",
    )
    assert columns == [(t, "GEOMETRY", 4326) for t in GEOMETRY_TABLES]
    indexes = _sql(
        postgis_url,
        "SELECT tablename, indexdef FROM pg_indexes WHERE indexname LIKE '%_geometry'"
        " ORDER BY tablename",
    )
    assert [t for t, _ in indexes] == list(GEOMETRY_TABLES)
    assert all("USING gist (geometry)" in d for _, d in indexes)


def _grid_sites(n: int) -> list[Site]:
    """``n`` x ``n`` sites on a 0.1 degree grid near Latakia, each with one 0.01 degree zone."""
    sites = []
    for i in range(n):
        for j in range(n):
            lon, lat = 35.5 + 0.1 * i, 35.0 + 0.1 * j
            site_id = f"s{i:02d}{j:02d}"
            zone = Zone(
                site_id=site_id,
                id="apron",
                kind="apron",
                target="aircraft",
                geometry=box(lon, lat, lon + 0.01, lat + 0.01),
            )
            sites.append(
                Site(
                    id=site_id,
                    name=site_id,
                    kind="airbase",
                    geometry=shapely.Point(lon, lat),
                    operator="RU",
                    country="SY",
                    zones=(zone,),
                )
            )
    return sites


@pytest.mark.parametrize(
    "bbox",
    [(35.55, 35.15, 35.82, 35.33), (35.0, 34.0, 36.0, 36.0), (35.505, 35.005, 35.506, 35.006)],
)
def test_zones_in_a_bbox_through_st_intersects_match_sqlite(
    postgis_url: str, tmp_path: Path, bbox: tuple[float, float, float, float]
) -> None:
    sites = _grid_sites(8)
    found = []
    for url in (postgis_url, f"sqlite:///{tmp_path / 'lite.db'}"):
        with open_store(url) as store:
            store.upsert_sites(sites)
            found.append(store.zones_intersecting(bbox))
    area = box(*bbox)
    expected = sorted((s.id, "apron") for s in sites if s.zones[0].geometry.intersects(area))
    assert found[0] == found[1] == expected and expected
    # the same query in SQL: PostGIS evaluates ST_Intersects on the geometry column
    envelope = func.ST_MakeEnvelope(*bbox, 4326)
    query = select(ZoneRow.site_id).where(func.ST_Intersects(ZoneRow.geometry, envelope))
    engine = create_engine(postgis_url)
    with engine.connect() as conn:
        assert sorted(conn.scalars(query)) == [s for s, _ in expected]
    engine.dispose()


def test_planner_can_use_the_gist_index(postgis_url: str) -> None:
    with open_store(postgis_url) as store:
        store.upsert_sites(_grid_sites(8))
    engine = create_engine(postgis_url)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = conn.execute(
            text(
                "EXPLAIN SELECT id FROM zones WHERE"
                " ST_Intersects(geometry, ST_MakeEnvelope(35.5, 35.0, 35.6, 35.1, 4326))"
            )
        ).scalars()
        assert "ix_zones_geometry" in "\n".join(plan)
    engine.dispose()


def test_unchanged_sites_are_not_rewritten_on_postgis(postgis_url: str) -> None:
    sites = _grid_sites(2)
    xmin = "SELECT id, xmin::text FROM sites ORDER BY id"
    with open_store(postgis_url) as store:
        store.upsert_sites(sites)
        before = _sql(postgis_url, xmin)
        store.upsert_sites(sites)  # geometry read back from PostGIS equals the written text
        assert _sql(postgis_url, xmin) == before
        assert [
            s.zones[0].geometry.equals_exact(z.zones[0].geometry, 0)
            for s, z in zip(sites, store.sites(), strict=True)
        ] == [True] * 4


def test_migration_converts_existing_geojson_text(postgis_url: str) -> None:
    engine = create_engine(postgis_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0003")
        geometry = json.dumps({"type": "Point", "coordinates": [35.9486, 35.4011]})
        conn.execute(
            text(
                "INSERT INTO sites VALUES ('khmeimim', 'Khmeimim', 'airbase', 'RU', 'SY', :g, '{}')"
            ),
            {"g": geometry},
        )
        assert conn.scalar(text("SELECT pg_typeof(geometry)::text FROM sites")) == "text"
    engine.dispose()
    with open_store(postgis_url) as store:
        assert store.schema_version() == schema_head()
        assert store.sites()[0].geometry.equals_exact(shapely.Point(35.9486, 35.4011), 0)
    assert _sql(postgis_url, "SELECT ST_AsText(geometry), ST_SRID(geometry) FROM sites") == [
        ("POINT(35.9486 35.4011)", 4326)
    ]


def test_postgis_extension_is_created_in_a_plain_database(
    postgres_server: PostgresServer,
) -> None:
    postgres_server.execute("postgres", "CREATE DATABASE plain")  # from template1: no PostGIS
    url = postgres_server.url("plain")
    with open_store(url) as store:
        store.upsert_sites(_grid_sites(1))
        assert store.zones_intersecting((35.0, 34.0, 36.0, 36.0)) == [("s0000", "apron")]
    assert _sql(url, "SELECT extname FROM pg_extension WHERE extname = 'postgis'") == [("postgis",)]


def test_bad_detection_geometry_is_an_input_error(postgis_url: str) -> None:
    from datetime import UTC, datetime

    from basewatch.errors import InputError
    from basewatch.observe import Observation

    obs = Observation(
        site_id="khmeimim",
        zone_id="main-apron",
        scene_id="S2B_x",
        time=datetime(2024, 12, 1, 8, tzinfo=UTC),
        sensor="sentinel-2",
        detector="optical",
        detector_version="1",
        metric="aircraft_count",
        value=1.0,
        clear_fraction=1.0,
        detections=[{"type": "Feature", "geometry": {"type": "Polygon"}, "properties": {}}],
    )
    with open_store(postgis_url) as store, pytest.raises(InputError, match="detection 0"):
        store.write_observation(obs)

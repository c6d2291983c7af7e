"""Tests of basewatch.store: migrations, idempotent writes, deterministic exports, errors."""

from __future__ import annotations

import csv
import io
import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from shapely.geometry import Point, Polygon, box
from sqlalchemy import create_engine, func, inspect, select, text

import basewatch.store as store_module
from basewatch.errors import InputError, StoreError
from basewatch.observe import Observation
from basewatch.sites import Site, Zone
from basewatch.store import (
    DEFAULT_URL,
    EXPORT_COLUMNS,
    Base,
    ChipOutcome,
    ChipStatusRow,
    DetectionRow,
    ObservationRow,
    SceneRecord,
    Store,
    export_observations,
    include_in_schema,
    open_store,
    schema_head,
)

TABLES = {
    "alembic_version",
    "sites",
    "zones",
    "scenes",
    "observations",
    "detections",
    "chip_status",
    "evidence",
    "assessments",
    "alerts",
}
FORMATS = ("csv", "json", "geojson")

APRON = Polygon([(35.952, 35.403), (35.958, 35.403), (35.958, 35.405), (35.952, 35.405)])
PIERS = Polygon([(35.8705, 34.9135), (35.8745, 34.9135), (35.8745, 34.9165), (35.8705, 34.9165)])


def make_sites() -> list[Site]:
    """Khmeimim (one apron) and Tartus (one pier zone), as in the bundled registry."""
    khmeimim = Site(
        id="khmeimim",
        name="Khmeimim Air Base",
        kind="airbase",
        geometry=Point(35.9486, 35.4011),
        operator="RU",
        country="SY",
        zones=(
            Zone(
                site_id="khmeimim",
                id="main-apron",
                kind="apron",
                target="aircraft",
                geometry=APRON,
                name="Main apron",
            ),
        ),
        properties={"sources": ["https://en.wikipedia.org/wiki/Khmeimim_Air_Base"]},
    )
    tartus = Site(
        id="tartus",
        name="Tartus naval facility",
        kind="naval_base",
        geometry=Point(35.8725, 34.915),
        operator="RU",
        country="SY",
        zones=(
            Zone(
                site_id="tartus",
                id="piers",
                kind="pier",
                target="ship",
                geometry=PIERS,
                properties={"note": "floating piers"},
            ),
        ),
    )
    return [khmeimim, tartus]


def ship_feature(rng: np.random.Generator, centre: tuple[float, float]) -> dict[str, Any]:
    """A ship detection as a GeoJSON Feature (footprint, bbox_px, score, class, length_m)."""
    lon, lat = centre
    footprint = box(lon - 0.0006, lat - 0.00008, lon + 0.0006, lat + 0.00008)
    col, row = (int(v) for v in rng.integers(0, 40, size=2))
    return {
        "type": "Feature",
        "geometry": json.loads(shapely.to_geojson(footprint)),
        "properties": {
            "bbox_px": [col, row, 13, 3],
            "score": float(rng.uniform(0.5, 1.0)),
            "class": "ship",
            "length_m": float(rng.uniform(60.0, 135.0)),
        },
    }


def make_observations(seed: int = 0) -> list[Observation]:
    """Realistic observations for both sites over Nov-Dec 2024 from two sensors/detectors."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 11, 20, 3, 50, tzinfo=UTC)
    out: list[Observation] = []
    for day in range(0, 20, 2):
        t = start + timedelta(days=day, minutes=int(rng.integers(0, 30)))
        ships = int(rng.integers(0, 5)) if day >= 12 else int(rng.integers(4, 8))
        out.append(
            Observation(
                site_id="tartus",
                zone_id="piers",
                scene_id=f"S1A_IW_GRDH_{t:%Y%m%dT%H%M%S}",
                time=t,
                sensor="sentinel-1",
                detector="sar-cfar",
                detector_version="1.0",
                metric="ship_count",
                value=float(ships),
                clear_fraction=1.0,
                detections=[ship_feature(rng, (35.872, 34.915)) for _ in range(ships)],
            )
        )
        t2 = t + timedelta(hours=4, seconds=int(rng.integers(0, 3600)))
        cloudy = bool(rng.random() < 0.3)
        out.append(
            Observation(
                site_id="khmeimim",
                zone_id="main-apron",
                scene_id=f"S2B_36SYE_{t2:%Y%m%d}_0_L2A",
                time=t2,
                sensor="sentinel-2",
                detector="s2-apron",
                detector_version="0.3",
                metric="aircraft_count",
                value=None if cloudy else float(rng.integers(3, 12)) / 3.0,
                clear_fraction=float(rng.uniform(0.0, 0.4) if cloudy else rng.uniform(0.8, 1.0)),
                flags=("cloudy",) if cloudy else (),
            )
        )
    return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store in a SQLite file with the two sites."""
    s = open_store(f"sqlite:///{tmp_path / 'bw.db'}")
    s.upsert_sites(make_sites())
    yield s
    s.close()


def count(store: Store, table: type[Base]) -> int:
    """Number of rows of a model's table."""
    with store._engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def exports(store: Store) -> dict[str, str]:
    """All three exports."""
    return {fmt: export_observations(store, fmt) for fmt in FORMATS}


# -- schema and migrations --------------------------------------------------------------------


def test_migrations_create_schema_and_record_version(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "folder" / "basewatch.db"
    with open_store(str(db)) as store:  # bare path: folder and file are created
        assert store.url == f"sqlite:///{db}"
        assert store.schema_version() == schema_head()
    assert db.is_file()
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == TABLES
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [(schema_head(),)]
        context = MigrationContext.configure(
            conn, opts={"include_object": include_in_schema(conn.dialect.name)}
        )
        assert compare_metadata(context, Base.metadata) == []
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        uniques = inspect(conn).get_unique_constraints("observations")
    engine.dispose()
    assert [u["column_names"] for u in uniques] == [
        ["site_id", "zone_id", "scene_id", "detector", "detector_version"]
    ]


def test_reopen_keeps_data_and_pragmas(store: Store, tmp_path: Path) -> None:
    store.write_observations(make_observations())
    store.close()
    with open_store(tmp_path / "bw.db") as again:
        assert again.schema_version() == schema_head()
        assert len(again.observations()) == 20
        with again._engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000


def test_in_memory_store_works() -> None:
    with open_store("sqlite://") as store:
        store.upsert_sites(make_sites())
        assert store.write_observations(make_observations()) == 20
        assert len(store.done_keys()) == 20


def test_default_url_is_sqlite_file() -> None:
    assert DEFAULT_URL == "sqlite:///basewatch.db"


# -- idempotent writes ------------------------------------------------------------------------


def test_writing_twice_changes_nothing(store: Store) -> None:
    observations = make_observations()
    n_detections = sum(len(o.detections) for o in observations)
    assert n_detections > 0
    assert store.write_observations(observations) == 20
    first = exports(store)
    counts = (count(store, ObservationRow), count(store, DetectionRow))
    assert counts == (20, n_detections)

    assert store.write_observations(observations) == 0
    assert all(store.write_observation(o) is False for o in observations[:3])
    assert (count(store, ObservationRow), count(store, DetectionRow)) == counts
    assert exports(store) == first


def test_changed_value_replaces_row_and_detections(store: Store) -> None:
    observations = make_observations()
    store.write_observations(observations)
    target = next(o for o in observations if len(o.detections) >= 2)
    before_ids = set(store.done_keys())
    n_before = count(store, DetectionRow)

    changed = replace(target, value=1.0, detections=target.detections[:1], flags=("partial",))
    assert store.write_observation(changed) is True
    assert store.write_observation(changed) is False
    assert store.done_keys() == before_ids
    assert count(store, ObservationRow) == 20
    assert count(store, DetectionRow) == n_before - len(target.detections) + 1
    stored = store.observations(site_id=target.site_id)
    (got,) = [o for o in stored if o.scene_id == target.scene_id]
    assert got == changed


def _mixed_batch(store: Store) -> list[Observation]:
    """Store 12 observations, then write one batch of 4 unchanged, 4 changed (fewer, more or
    no detections) and 8 new ones; return what the store must then hold."""
    observations = make_observations(seed=5)
    first, later = observations[:12], observations[12:]
    assert store.write_observations(first) == 12
    changed = [
        replace(first[4], value=0.0, detections=[]),
        replace(first[5], value=1.0, detections=first[5].detections[:1]),
        replace(first[6], flags=("partial",)),
        replace(first[7], detections=[*first[7].detections, *first[8].detections]),
    ]
    assert store.write_observations([*first[:4], *changed, *later]) == 12
    assert store.write_observations([*first[:4], *changed, *later]) == 0
    return sorted([*first[:4], *changed, *first[8:], *later], key=_stored_order)


def _stored_order(o: Observation) -> tuple[Any, ...]:
    return (o.site_id, o.zone_id, o.time, o.sensor, o.detector)


def test_one_batch_inserts_replaces_and_skips_with_chunked_lookups(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_LOOKUP_CHUNK", 3)  # several lookup queries a batch
    expected = _mixed_batch(store)
    assert store.observations() == expected
    assert count(store, ObservationRow) == 20
    assert count(store, DetectionRow) == sum(len(o.detections) for o in expected)


def test_observations_round_trip_exactly(store: Store) -> None:
    observations = make_observations(seed=3)
    store.write_observations(reversed(observations))
    got = store.observations()
    assert got == sorted(observations, key=lambda o: (o.site_id, o.zone_id, o.time))


def test_batch_is_one_transaction(store: Store) -> None:
    observations = make_observations()
    naive = replace(observations[5], time=observations[5].time.replace(tzinfo=None))
    with pytest.raises(InputError, match="time zone"):
        store.write_observations([*observations[:5], naive, *observations[6:]])
    assert count(store, ObservationRow) == 0


def test_numpy_values_in_detections_are_stored(store: Store) -> None:
    obs = make_observations()[0]
    feature = {
        "type": "Feature",
        "geometry": None,
        "properties": {"bbox_px": [np.int64(3), 4, 5, 6], "score": np.float32(0.75)},
    }
    stored = replace(obs, detections=[feature], value=1.0)
    assert store.write_observation(stored) is True
    assert store.write_observation(stored) is False
    (got,) = store.observations()
    assert got.detections[0]["properties"] == {"bbox_px": [3, 4, 5, 6], "score": 0.75}


# -- queries ----------------------------------------------------------------------------------


def test_done_keys_and_has_observation(store: Store) -> None:
    observations = make_observations()
    store.write_observations(observations[:4])
    keys = store.done_keys()
    assert keys == {
        (o.site_id, o.zone_id, o.scene_id, o.detector, o.detector_version) for o in observations[:4]
    }
    first, later = observations[0], observations[4]
    assert store.has_observation(
        site_id=first.site_id,
        zone_id=first.zone_id,
        scene_id=first.scene_id,
        detector=first.detector,
        detector_version=first.detector_version,
    )
    assert not store.has_observation(
        site_id=first.site_id,
        zone_id=first.zone_id,
        scene_id=first.scene_id,
        detector=first.detector,
        detector_version="2.0",
    )
    assert not store.has_observation(
        site_id=later.site_id,
        zone_id=later.zone_id,
        scene_id=later.scene_id,
        detector=later.detector,
        detector_version=later.detector_version,
    )


def test_observation_span(store: Store) -> None:
    assert store.observation_span() is None
    observations = make_observations()
    store.write_observations(observations)
    times = sorted(o.time for o in observations)
    assert store.observation_span() == (times[0], times[-1])
    tartus = sorted(o.time for o in observations if o.site_id == "tartus")
    assert store.observation_span(["tartus"]) == (tartus[0], tartus[-1])
    assert store.observation_span(["nowhere"]) is None


def test_observation_filters(store: Store) -> None:
    observations = make_observations()
    store.write_observations(observations)
    tartus = store.observations(site_id="tartus")
    assert {o.site_id for o in tartus} == {"tartus"} and len(tartus) == 10
    assert store.observations(site_id="tartus", zone_id="main-apron") == []
    until = datetime(2024, 12, 1, tzinfo=UTC)
    early = store.observations(until=until)
    assert early and all(o.time <= until for o in early)
    assert len(early) == sum(o.time <= until for o in observations)
    # until in another time zone means the same instant
    same = store.observations(until=until.astimezone(timezone(timedelta(hours=3))))
    assert same == early


def test_timezone_round_trip(store: Store) -> None:
    damascus = timezone(timedelta(hours=3))
    local = datetime(2024, 12, 8, 6, 15, 30, 250000, tzinfo=damascus)
    obs = replace(make_observations()[0], time=local)
    store.write_observation(obs)
    (got,) = store.observations()
    assert got.time == local
    assert got.time.tzinfo is UTC
    assert got.time == datetime(2024, 12, 8, 3, 15, 30, 250000, tzinfo=UTC)
    assert '"2024-12-08T03:15:30.250000Z"' in export_observations(store, "json")
    # the same instant in UTC is the same observation
    assert store.write_observation(replace(obs, time=got.time)) is False


def test_scene_upsert_round_trip(store: Store) -> None:
    scene = SceneRecord(
        id="S1A_IW_GRDH_20241203T034512",
        collection="sentinel-1-grd",
        sensor="sentinel-1",
        time=datetime(2024, 12, 3, 6, 45, 12, tzinfo=timezone(timedelta(hours=3))),
        href="https://example.invalid/items/S1A",
        cloud_cover=None,
        bbox=(35.1, 34.2, 36.9, 35.8),
    )
    store.upsert_scene(scene)
    store.upsert_scene(replace(scene, href="/data/S1A.json"))
    (got,) = store.scenes()
    assert got == replace(scene, href="/data/S1A.json")
    assert got.time.tzinfo is UTC


def test_scenes_upsert_in_bulk_inserts_updates_and_keeps_the_last_of_an_id(store: Store) -> None:
    """Many scenes at once (more than one lookup query's 500 ids): new ones inserted, stored
    ones updated, and of two records with one id the later is kept."""
    base = SceneRecord(
        id="S2A_0000",
        collection="sentinel-2-l2a",
        sensor="sentinel-2",
        time=datetime(2024, 12, 1, 8, 20, tzinfo=UTC),
        href="/data/0.json",
        cloud_cover=10.0,
        bbox=(35.1, 34.2, 36.9, 35.8),
    )
    first = [replace(base, id=f"S2A_{i:04d}", href=f"/data/{i}.json") for i in range(700)]
    store.upsert_scenes(first)
    again = [replace(r, cloud_cover=50.0) for r in first[600:]]  # stored: updated
    new = [replace(base, id=f"S2B_{i:04d}") for i in range(3)]
    store.upsert_scenes([*again, *new, replace(new[0], href="/data/later.json")])
    got = {r.id: r for r in store.scenes()}
    assert len(got) == 703
    assert got["S2A_0599"].cloud_cover == 10.0 and got["S2A_0600"].cloud_cover == 50.0
    assert got["S2B_0000"].href == "/data/later.json" and got["S2B_0001"] == new[1]


def test_sites_upsert_replaces_zones(store: Store) -> None:
    stored = {s.id: s for s in store.sites()}
    assert set(stored) == {"khmeimim", "tartus"}
    assert stored["khmeimim"].zones[0].geometry.equals(APRON)
    assert stored["tartus"].zones[0].properties == {"note": "floating piers"}
    tartus = make_sites()[1]
    anchorage = Zone(
        site_id="tartus",
        id="anchorage",
        kind="anchorage",
        target="ship",
        geometry=PIERS.buffer(0.01),
    )
    store.upsert_sites([replace(tartus, name="Tartus", zones=(anchorage,))])
    again = {s.id: s for s in store.sites()}
    assert again["tartus"].name == "Tartus"
    assert [z.id for z in again["tartus"].zones] == ["anchorage"]
    assert [z.id for z in again["khmeimim"].zones] == ["main-apron"]


def test_chip_status_failed_then_done(store: Store) -> None:
    store.record_chip_status(
        site_id="tartus", zone_id="piers", scene_id="S1A_x", status="failed", message="HTTP 503"
    )
    store.record_chip_status(site_id="tartus", zone_id="piers", scene_id="S1A_y", status="skipped")
    assert store.failed_chips() == [("tartus", "piers", "S1A_x", "HTTP 503")]
    store.record_chip_status(site_id="tartus", zone_id="piers", scene_id="S1A_x", status="done")
    assert store.failed_chips() == []
    with pytest.raises(InputError, match="'ok'"):
        store.record_chip_status(site_id="tartus", zone_id="piers", scene_id="S1A_x", status="ok")


def test_chips_are_recorded_with_their_observations_in_one_transaction(store: Store) -> None:
    """A batch of chip outcomes stores observations and statuses together, or nothing."""
    observations = make_observations()[:3]

    def done(obs: Observation, **kw: Any) -> ChipOutcome:
        return ChipOutcome(site_id=obs.site_id, zone_id=obs.zone_id, scene_id=obs.scene_id,
                           status="done", observation=obs, **kw)  # fmt: skip

    failed = ChipOutcome(
        site_id="tartus", zone_id="piers", scene_id="S1A_z", status="failed", message="HTTP 503"
    )
    naive = replace(observations[2], time=observations[2].time.replace(tzinfo=None))
    with pytest.raises(InputError, match="time zone"):
        store.record_chips([done(observations[0]), failed, done(naive)])
    assert count(store, ObservationRow) == 0
    assert store.failed_chips() == []
    assert store.record_chips([*(done(o) for o in observations), failed]) == 3
    assert count(store, ObservationRow) == 3
    assert store.failed_chips() == [("tartus", "piers", "S1A_z", "HTTP 503")]
    assert store.record_chips([done(observations[0], message="no count: cloudy")]) == 0
    with pytest.raises(InputError, match="'ok'"):
        store.record_chips([replace(failed, status="ok")])


def test_chip_statuses_of_a_batch_are_looked_up_in_chunks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statuses already stored are updated (never duplicated) when a batch spans several
    lookup queries."""
    monkeypatch.setattr(store_module, "_LOOKUP_CHUNK", 2)

    def chip(scene: str, status: str, message: str = "") -> ChipOutcome:
        return ChipOutcome(site_id="tartus", zone_id="piers", scene_id=scene, status=status,
                           message=message)  # fmt: skip

    store.record_chips([chip(f"S1A_{i}", "failed", "HTTP 503") for i in range(7)])
    assert len(store.failed_chips()) == 7
    store.record_chips([chip(f"S1A_{i}", "done") for i in range(0, 7, 2)])
    assert store.failed_chips() == [("tartus", "piers", f"S1A_{i}", "HTTP 503") for i in (1, 3, 5)]
    assert count(store, ChipStatusRow) == 7


def test_evidence_is_idempotent(store: Store) -> None:
    when = datetime(2024, 12, 14, 10, 0, tzinfo=UTC)
    args: dict[str, Any] = {
        "site_id": "khmeimim",
        "time": when,
        "source": "Maxar via Reuters",
        "url": "https://example.invalid/a",
        "claim": "An-124 on the apron",
    }
    first = store.add_evidence(**args)
    assert store.add_evidence(**args) == first
    second = store.add_evidence(**{**args, "time": when - timedelta(days=1), "kind": "imagery"})
    assert second != first
    other = store.add_evidence(**{**args, "site_id": "tartus"})
    entries = store.evidence(site_id="khmeimim")
    assert [e["id"] for e in entries] == [second, first]  # sorted by time
    assert entries[0]["kind"] == "imagery" and entries[0]["time"].tzinfo is UTC
    assert [e["id"] for e in store.evidence()] == [second, first, other]


def test_assessments(store: Store) -> None:
    assert store.latest_assessment() is None
    old = {
        "generated": "2024-12-01T00:00:00Z",
        "sites": [{"site_id": "tartus", "posture": "present"}],
    }
    new = {
        "generated": "2024-12-10T00:00:00Z",
        "sites": [{"site_id": "tartus", "posture": "withdrawing"}],
    }
    store.save_assessment(old, as_of=datetime(2024, 12, 1, tzinfo=UTC))
    store.save_assessment(new, as_of=datetime(2024, 12, 10, tzinfo=UTC))
    assert store.latest_assessment() == new
    store.save_assessment(old, as_of=datetime(2024, 12, 1, tzinfo=UTC))  # same as_of replaces
    assert store.latest_assessment() == old
    with store._engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assessments")).scalar() == 2


# -- export -----------------------------------------------------------------------------------


def _order(keys: list[tuple[str, ...]]) -> None:
    assert keys == sorted(keys)
    assert len({k[0] for k in keys}) == 2


def test_export_is_deterministic_across_insertion_order(tmp_path: Path) -> None:
    observations = make_observations(seed=7)
    shuffled = list(observations)
    np.random.default_rng(1).shuffle(shuffled)
    outputs = []
    for name, batch in (("a", observations), ("b", shuffled)):
        with open_store(tmp_path / f"{name}.db") as s:
            s.upsert_sites(make_sites())
            s.record_chip_status(site_id="x", zone_id="y", scene_id=name, status="done")
            for o in batch:  # one transaction per observation: different ids and times
                s.write_observation(o)
            outputs.append(exports(s))
    assert outputs[0] == outputs[1]
    assert all(outputs[0][fmt] for fmt in FORMATS)


def test_csv_export_columns_order_and_floats(store: Store) -> None:
    observations = make_observations()
    store.write_observations(reversed(observations))
    out = export_observations(store, "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == ",".join(EXPORT_COLUMNS)
    assert len(rows) == 20
    _order([(r["site_id"], r["zone_id"], r["time"], r["sensor"], r["detector"]) for r in rows])
    for row in rows:
        assert row["time"].endswith("Z")
        if row["value"]:
            decimals = row["value"].split(".")[1]
            assert len(decimals) <= 6
    thirds = [r for r in rows if r["value"].endswith("333333") or r["value"].endswith("666667")]
    assert thirds, "expected counts of n/3 formatted with 6 decimals"
    cloudy = [r for r in rows if r["flags"] == "cloudy"]
    assert cloudy and all(r["value"] == "" for r in cloudy)
    tartus = [r for r in rows if r["site_id"] == "tartus"]
    assert [int(r["n_detections"]) for r in tartus] == [
        len(o.detections) for o in sorted(observations[::2], key=lambda o: o.time)
    ]
    assert "id" not in rows[0] and "created" not in out


def test_json_export_records_and_detections(store: Store) -> None:
    store.write_observations(make_observations())
    records = json.loads(export_observations(store, "json"))
    assert [list(r)[:-1] for r in records] == [list(EXPORT_COLUMNS)] * 20
    _order([(r["site_id"], r["zone_id"], r["time"], r["sensor"], r["detector"]) for r in records])
    with_detections = [r for r in records if r["detections"]]
    assert with_detections
    props = with_detections[0]["detections"][0]["properties"]
    assert props["class"] == "ship" and len(props["bbox_px"]) == 4
    assert props["score"] == round(props["score"], 6)
    assert all(r["n_detections"] == len(r["detections"]) for r in records)


def test_geojson_export_points_at_zone_centroids(store: Store) -> None:
    extra = replace(make_observations()[0], site_id="unknown-site", scene_id="S1A_other")
    store.write_observations([*make_observations(), extra])
    collection = json.loads(export_observations(store, "geojson"))
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert len(features) == 21
    props = [f["properties"] for f in features]
    keys = [(p["site_id"], p["zone_id"], p["time"], p["sensor"], p["detector"]) for p in props]
    assert keys == sorted(keys)
    by_site = {f["properties"]["site_id"]: f["geometry"] for f in features}
    assert by_site["tartus"]["coordinates"] == pytest.approx([PIERS.centroid.x, PIERS.centroid.y])
    assert by_site["khmeimim"]["coordinates"] == pytest.approx([APRON.centroid.x, APRON.centroid.y])
    assert by_site["unknown-site"] is None


def test_export_rejects_unknown_format(store: Store) -> None:
    with pytest.raises(InputError, match="parquet"):
        export_observations(store, "parquet")


# -- errors -----------------------------------------------------------------------------------


def test_corrupt_file_is_a_store_error_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "garbage.db"
    garbage = np.random.default_rng(0).integers(0, 256, size=8192, dtype=np.uint8).tobytes()
    db.write_bytes(garbage)
    with pytest.raises(StoreError, match="not a database") as info:
        open_store(db)
    assert str(db) in str(info.value) and "Fix" in str(info.value)
    assert db.read_bytes() == garbage


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("nosuchdb://host/db", "unknown database kind"),
        ("sqlite:///{tmp}/afile.txt/sub/x.db", "cannot create folder"),
        ("sqlite:///{tmp}", "is a folder"),
        ("://nowhere", "not a database URL"),
        ("postgresql://watcher@localhost:notaport/db", "not a database URL"),
        ("sqlite+nodriver:///{tmp}/x.db", "Fix"),
    ],
)
def test_bad_urls_are_store_errors(tmp_path: Path, url: str, match: str) -> None:
    (tmp_path / "afile.txt").write_text("not a folder")
    with pytest.raises(StoreError, match=match):
        open_store(url.format(tmp=tmp_path))


def test_unreachable_server_is_a_store_error() -> None:
    """A loopback server that drops every connection stands in for an unreachable database."""
    pytest.importorskip("psycopg")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.05)
    port = server.getsockname()[1]
    stop = threading.Event()

    def drop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=drop, daemon=True)
    thread.start()
    url = f"postgresql+psycopg://watcher:secret@127.0.0.1:{port}/basewatch?connect_timeout=5"
    try:
        with pytest.raises(StoreError, match=f"127.0.0.1:{port}") as info:
            open_store(url)
        assert "secret" not in str(info.value)
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    open_store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(StoreError, match="newer basewatch") as info:
        open_store(db)
    assert "0099" in str(info.value) and "upgrade basewatch" in str(info.value)


def test_foreign_database_is_refused_and_kept(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    conn.close()
    with pytest.raises(StoreError, match="not a basewatch database"):
        open_store(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("invoices",)]
    conn.close()


def test_locked_database_fails_whole_batch_and_keeps_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("basewatch.store.SQLITE_BUSY_TIMEOUT_S", 0.2)
    db = tmp_path / "locked.db"
    observations = make_observations()
    with open_store(db) as store:
        store.write_observations(observations[:10])
        before = exports(store)
        blocker = sqlite3.connect(db, isolation_level=None)  # another process's writer
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match="locked") as info:
                store.write_observations(observations[10:])
            assert str(db) in str(info.value)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert exports(store) == before
        assert store.write_observations(observations) == 10


def test_naive_datetimes_are_rejected(store: Store) -> None:
    with pytest.raises(InputError, match="time zone"):
        store.observations(until=datetime(2024, 12, 1))
    with pytest.raises(InputError, match="time zone"):
        store.add_evidence(
            site_id="tartus", time=datetime(2024, 12, 1), source="s", url="u", claim="t"
        )


def test_postgres_matches_sqlite(tmp_path: Path, postgis_url: str) -> None:
    """Same writes on PostgreSQL (PostGIS, started by the fixture) and SQLite: same results."""
    observations = make_observations(seed=11)
    outputs = []
    for target in (postgis_url, tmp_path / "lite.db"):
        with open_store(target) as s:
            s.upsert_sites(make_sites())
            assert s.write_observations(observations) == 20
            assert s.write_observations(reversed(observations)) == 0
            changed = replace(
                observations[3], value=99.0, detections=observations[3].detections[:1]
            )
            assert s.write_observation(changed)
            outputs.append((exports(s), s.observations(), s.sites(), s.done_keys()))
            with s._engine.connect() as conn:
                context = MigrationContext.configure(
                    conn, opts={"include_object": include_in_schema(conn.dialect.name)}
                )
                assert compare_metadata(context, Base.metadata) == []
    assert outputs[0] == outputs[1]
    assert [z.geometry for s in outputs[0][2] for z in s.zones] == [APRON, PIERS]


def test_postgres_batches_like_sqlite(
    tmp_path: Path, postgis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batched insert (ids returned in order), update and delete hold on PostgreSQL."""
    monkeypatch.setattr(store_module, "_LOOKUP_CHUNK", 3)
    with open_store(tmp_path / "lite.db") as lite:
        expected = _mixed_batch(lite)
        assert lite.observations() == expected
    with open_store(postgis_url) as pg:
        with pg._engine.begin() as conn:  # the database is shared with the test above
            conn.execute(text("DELETE FROM detections"))
            conn.execute(text("DELETE FROM observations"))
        assert _mixed_batch(pg) == expected
        assert pg.observations() == expected


def test_detection_geometry_is_stored_canonical(store: Store) -> None:
    obs = make_observations(seed=3)[0]
    ring = [[35, 34], [35.001, 34], [35.001, 34.001], [35, 34]]  # ints, as a user might write
    feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}}
    store.write_observation(replace(obs, detections=[{**feature, "properties": {"score": 1}}]))
    (stored,) = store.observations(site_id=obs.site_id, zone_id=obs.zone_id)[:1]
    geometry = stored.detections[0]["geometry"]
    assert geometry["type"] == "Polygon"
    assert geometry["coordinates"][0][0] == [35.0, 34.0]
    assert all(isinstance(v, float) for point in geometry["coordinates"][0] for v in point)


@pytest.mark.parametrize(
    "geometry",
    [{"type": "Polygon"}, {"type": "Blob", "coordinates": [1, 2]}, "POINT (1 2)", [1, 2]],
)
def test_bad_detection_geometry_is_rejected_and_nothing_written(
    store: Store, geometry: object
) -> None:
    good, bad = make_observations(seed=4)[:2]
    feature = {"type": "Feature", "geometry": geometry, "properties": {}}
    with pytest.raises(InputError, match="geometry is"):
        store.write_observations([good, replace(bad, detections=[feature])])
    assert store.observations() == []


def test_zones_intersecting_on_sqlite(store: Store) -> None:
    store.upsert_sites(make_sites())
    assert store.zones_intersecting(APRON.buffer(0.001).bounds) == [("khmeimim", "main-apron")]
    assert store.zones_intersecting((35.0, 34.0, 36.5, 36.0)) == [
        ("khmeimim", "main-apron"),
        ("tartus", "piers"),
    ]
    assert store.zones_intersecting((0.0, 0.0, 1.0, 1.0)) == []
    for bbox in [(1.0, 0.0, 0.0, 1.0), (0.0, 0.0, float("nan"), 1.0), (0.0, 1.0), "0,0,1,1"]:
        with pytest.raises(InputError, match="bbox"):
            store.zones_intersecting(bbox)  # type: ignore[arg-type]


def test_postgis_tables_are_not_foreign(tmp_path: Path) -> None:
    """A fresh PostGIS database already holds spatial_ref_sys: open_store must accept it."""
    db = tmp_path / "postgis-like.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE spatial_ref_sys (srid INTEGER PRIMARY KEY)")
    with open_store(str(db)) as store:
        assert store.schema_version() == schema_head()

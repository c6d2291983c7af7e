"""The basewatch store: SQLAlchemy models, Alembic-managed schema, idempotent writes, exports.

A store is a SQLite file by default (``sqlite:///basewatch.db``) or any SQLAlchemy URL
(PostgreSQL for teams). :func:`open_store` creates the file if needed and upgrades the schema
to the newest Alembic revision shipped in ``basewatch/migrations``.

Design rules:

- One schema for SQLite and PostgreSQL. Geometry columns (sites, zones, detections) are
  :class:`GeoJSONGeometry`: GeoJSON text on SQLite, PostGIS ``geometry(GEOMETRY, 4326)``
  with a GiST index on PostgreSQL (values cross the wire as EWKB, so coordinates come back
  bit for bit). Python code always sees canonical GeoJSON text, so both give the same results.
- Times are stored in UTC and always read back timezone-aware (``tzinfo=UTC``).
- An observation is identified by ``(site_id, zone_id, scene_id, detector,
  detector_version)``. Writing it again with the same content changes nothing; writing it
  with different content replaces the row and its detections in the same transaction.
- Every public method runs in one transaction: on error nothing is half written and
  database errors surface as :class:`~basewatch.errors.StoreError`.
- :func:`export_observations` is deterministic: the same stored observations give the same
  bytes whatever the insertion order, database ids or wall-clock time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import shapely
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    URL,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
    sessionmaker,
)
from sqlalchemy.pool import StaticPool

from basewatch.errors import BasewatchError, InputError, StoreError
from basewatch.observe import Observation
from basewatch.sites import Site, Zone

__all__ = [
    "CHIP_STATUSES",
    "DEFAULT_URL",
    "ChipOutcome",
    "EXPORT_FORMATS",
    "SceneRecord",
    "Store",
    "StoredAlert",
    "evidence_digest",
    "export_observations",
    "open_store",
]

DEFAULT_URL = "sqlite:///basewatch.db"
"""Where the store lives when no URL is given: ``basewatch.db`` in the working folder."""
CHIP_STATUSES = ("done", "failed", "skipped")
"""Allowed values of :meth:`Store.record_chip_status` ``status``."""
EXPORT_FORMATS = ("csv", "json", "geojson")
"""Formats of :func:`export_observations`."""
EXPORT_COLUMNS = (
    "site_id",
    "zone_id",
    "time",
    "sensor",
    "scene_id",
    "detector",
    "detector_version",
    "metric",
    "value",
    "clear_fraction",
    "n_detections",
    "flags",
)
"""Columns of the CSV export (and the fields of every JSON/GeoJSON record), in order."""
FLOAT_DECIMALS = 6
"""Exports round floats to this many decimals (0.1 m for lon/lat degrees)."""
SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite connection waits for another process's write lock before failing."""
MIGRATIONS = "basewatch:migrations"
"""Alembic ``script_location`` of the migrations shipped inside the package."""

_BEGIN_OPTION = "basewatch_sqlite_begin"

ObservationKey = tuple[str, str, str, str, str]
_KEY_NAMES = ("site_id", "zone_id", "scene_id", "detector", "detector_version")


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware DateTime stored in UTC on every dialect; read back with ``tzinfo=UTC``.

    SQLite has no time zones: values are stored as naive UTC text, which also sorts correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (naive UTC on SQLite); naive input is taken as UTC."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return a timezone-aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


POSTGIS_TABLES = frozenset({"spatial_ref_sys"})
"""Tables the PostGIS extension creates in the public schema (not basewatch's, not foreign)."""


def _canonical_geojson(geometry: Any) -> str:
    """Canonical GeoJSON text of a shapely geometry or GeoJSON geometry mapping.

    Equal geometries give equal text (sorted keys, float coordinates), which is what every
    dialect stores and returns.
    """
    geom = geometry if isinstance(geometry, BaseGeometry) else shape(geometry)
    return _dumps(mapping(geom))


class GeoJSONGeometry(TypeDecorator[str]):
    """A geometry in EPSG:4326, seen from Python as canonical GeoJSON text.

    SQLite (which cannot load SpatiaLite here) stores the text; PostgreSQL stores a PostGIS
    ``geometry(GEOMETRY, 4326)`` (GeoAlchemy2), written and read as EWKB so that coordinates
    survive exactly. Spatial indexes are declared next to the tables (GiST, PostgreSQL only).
    """

    impl = Text
    cache_ok = True
    spatial_index = False
    """Read by GeoAlchemy2's DDL events: our indexes are declared explicitly."""

    def load_dialect_impl(self, dialect: Dialect | None) -> Any:
        """PostGIS geometry on PostgreSQL, text elsewhere (GeoAlchemy2 probes with None)."""
        if getattr(dialect, "name", None) == "postgresql":
            from geoalchemy2 import Geometry

            return Geometry("GEOMETRY", srid=4326, spatial_index=False)
        return Text()

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        """GeoJSON text on SQLite; an EWKB element with SRID 4326 on PostgreSQL."""
        if value is None or dialect.name != "postgresql":
            return value
        from geoalchemy2.shape import from_shape

        return from_shape(shape(json.loads(value)), srid=4326, extended=True)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """The stored GeoJSON text (SQLite) or the canonical GeoJSON of the PostGIS value."""
        if value is None or dialect.name != "postgresql":
            return value
        from geoalchemy2.shape import to_shape

        return _canonical_geojson(to_shape(value))


def _gist_index(table: str) -> Index:
    """A GiST index on ``table.geometry``, created on PostgreSQL only."""
    return Index(f"ix_{table}_geometry", "geometry", postgresql_using="gist").ddl_if(
        dialect="postgresql"
    )


def include_in_schema(dialect_name: str) -> Any:
    """An Alembic ``include_object`` hook comparing only what exists on ``dialect_name``.

    Skips the PostGIS extension's own tables and indexes declared for another dialect
    (the GiST indexes exist on PostgreSQL only).
    """

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and name in POSTGIS_TABLES:
            return False
        if type_ == "index":
            declared = compare_to if reflected else obj
            condition = getattr(declared, "_ddl_if", None)
            if condition is not None and condition.dialect not in (None, dialect_name):
                return False
        return True

    return include


class Base(DeclarativeBase):
    """Declarative base of the basewatch tables (constraint names are explicit everywhere)."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class SiteRow(Base):
    """A watched site (registry feature without a ``site`` property)."""

    __tablename__ = "sites"
    __table_args__ = (_gist_index("sites"),)

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String)
    operator: Mapped[str] = mapped_column(String)
    country: Mapped[str] = mapped_column(String)
    geometry: Mapped[str] = mapped_column(GeoJSONGeometry)
    properties: Mapped[str] = mapped_column(Text)

    zones: Mapped[list[ZoneRow]] = relationship(
        back_populates="site",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ZoneRow.id",
        lazy="selectin",
    )


class ZoneRow(Base):
    """A zone of a site where objects are counted."""

    __tablename__ = "zones"
    __table_args__ = (_gist_index("zones"),)

    site_id: Mapped[str] = mapped_column(
        String, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String)
    target: Mapped[str] = mapped_column(String)
    geometry: Mapped[str] = mapped_column(GeoJSONGeometry)
    properties: Mapped[str] = mapped_column(Text)

    site: Mapped[SiteRow] = relationship(back_populates="zones")


class SceneRow(Base):
    """A scene (STAC item) seen by the pipeline."""

    __tablename__ = "scenes"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    collection: Mapped[str] = mapped_column(String)
    sensor: Mapped[str] = mapped_column(String)
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    href: Mapped[str] = mapped_column(Text)
    cloud_cover: Mapped[float | None] = mapped_column(Float)
    west: Mapped[float] = mapped_column(Float)
    south: Mapped[float] = mapped_column(Float)
    east: Mapped[float] = mapped_column(Float)
    north: Mapped[float] = mapped_column(Float)


class ObservationRow(Base):
    """What one detector saw in one zone on one scene.

    Observations deliberately carry no foreign keys to sites, zones or scenes: the pipeline
    may store an observation before (or without) the registry and scene rows.
    """

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint(
            "site_id",
            "zone_id",
            "scene_id",
            "detector",
            "detector_version",
            name="uq_observations_key",
        ),
        Index("ix_observations_site_zone_time", "site_id", "zone_id", "time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(String)
    zone_id: Mapped[str] = mapped_column(String)
    scene_id: Mapped[str] = mapped_column(String)
    detector: Mapped[str] = mapped_column(String)
    detector_version: Mapped[str] = mapped_column(String)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    sensor: Mapped[str] = mapped_column(String)
    metric: Mapped[str] = mapped_column(String)
    value: Mapped[float | None] = mapped_column(Float)
    clear_fraction: Mapped[float] = mapped_column(Float)
    flags: Mapped[str] = mapped_column(Text)
    n_detections: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))

    detections: Mapped[list[DetectionRow]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="DetectionRow.seq",
        lazy="raise",
    )


class DetectionRow(Base):
    """One detected object of an observation (a GeoJSON Feature, split into columns).

    ``properties`` holds the feature's complete properties (the source of truth when the
    feature is rebuilt); ``score``, ``cls``, ``length_m`` and ``bbox_px`` copy the common
    ones into columns for queries.
    """

    __tablename__ = "detections"
    __table_args__ = (
        ForeignKeyConstraint(
            ["observation_id"],
            ["observations.id"],
            ondelete="CASCADE",
            name="fk_detections_observation_id_observations",
        ),
        UniqueConstraint("observation_id", "seq", name="uq_detections_observation_id_seq"),
        _gist_index("detections"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    observation_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    feature_id: Mapped[str | None] = mapped_column(String)
    geometry: Mapped[str | None] = mapped_column(GeoJSONGeometry)
    bbox_px: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    cls: Mapped[str | None] = mapped_column(String)
    length_m: Mapped[float | None] = mapped_column(Float)
    properties: Mapped[str] = mapped_column(Text)


class ChipStatusRow(Base):
    """Outcome of processing one zone x scene chip (``done``, ``failed`` or ``skipped``)."""

    __tablename__ = "chip_status"

    site_id: Mapped[str] = mapped_column(String, primary_key=True)
    zone_id: Mapped[str] = mapped_column(String, primary_key=True)
    scene_id: Mapped[str] = mapped_column(String, primary_key=True)
    status: Mapped[str] = mapped_column(String, index=True)
    message: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvidenceRow(Base):
    """One entry of the evidence ledger (a post, article or image about a site).

    ``claim`` is what the source says (the column was ``text`` before revision 0005);
    ``kind`` is one of ``basewatch.context.evidence.KINDS``.
    """

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(String, index=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String)
    url: Mapped[str] = mapped_column(Text)
    claim: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    reliability: Mapped[str] = mapped_column(String(1), default="F", server_default="F")
    credibility: Mapped[str] = mapped_column(String(1), default="6", server_default="6")


class AssessmentRow(Base):
    """A saved ``assessment.json`` payload, one per ``as_of`` time."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, unique=True)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[str] = mapped_column(Text)


class AlertRow(Base):
    """A significant change reported by ``basewatch watch`` (reported once, kept forever).

    ``webhook_url`` is set when the alert must also be POSTed to a webhook; it is pending
    until ``delivered_at`` is set.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(String, index=True)
    zone_id: Mapped[str] = mapped_column(String)
    direction: Mapped[str] = mapped_column(String)
    after: Mapped[str] = mapped_column(String)
    before: Mapped[str] = mapped_column(String)
    payload: Mapped[str] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --------------------------------------------------------------------------------------
# Records and pure helpers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StoredAlert:
    """An alert kept in the store (see :meth:`Store.add_alert`)."""

    id: int
    """Database id."""
    alert: dict[str, Any]
    """The alert as reported (``site_id``, ``zone_id``, ``after``, ``before``, ...)."""
    reported_at: datetime
    """When it was first reported (UTC)."""
    webhook_url: str | None
    """Webhook it must be POSTed to, None when none was asked for."""
    delivered_at: datetime | None
    """When the webhook accepted it; None while pending (or without webhook)."""

    @property
    def pending(self) -> bool:
        """True while a webhook delivery is still owed."""
        return self.webhook_url is not None and self.delivered_at is None


@dataclass(frozen=True, kw_only=True)
class SceneRecord:
    """A scene (STAC item) seen by the pipeline."""

    id: str
    """STAC item id."""
    collection: str
    """STAC collection id, e.g. ``sentinel-2-l2a``."""
    sensor: str
    """``sentinel-2``, ``sentinel-1`` or ``highres``."""
    time: datetime
    """Acquisition time, timezone-aware (stored and read back in UTC)."""
    href: str
    """Where the item can be fetched again (self link or local path)."""
    cloud_cover: float | None
    """Scene cloud cover in percent (``eo:cloud_cover``), None when unknown (radar)."""
    bbox: tuple[float, float, float, float]
    """``(west, south, east, north)`` in EPSG:4326."""


@dataclass(frozen=True, kw_only=True)
class ChipOutcome:
    """What became of one zone x scene chip: its status and, when observed, the observation."""

    site_id: str
    """Site of the chip."""
    zone_id: str
    """Zone of the chip."""
    scene_id: str
    """Scene of the chip."""
    status: str
    """One of :data:`CHIP_STATUSES`."""
    message: str = ""
    """Why it failed, or a note (``no count: cloudy``)."""
    observation: Observation | None = None
    """The observation to store with the status (None when the chip failed or was skipped)."""


def _json_default(value: Any) -> Any:
    """Make numpy scalars/arrays, geometries and datetimes JSON-serialisable."""
    if hasattr(value, "__geo_interface__"):
        return value.__geo_interface__
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    for attr in ("tolist", "item"):  # numpy arrays and scalars
        if hasattr(value, attr):
            return getattr(value, attr)()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(value: Any) -> str:
    """Canonical compact JSON (sorted keys): equal values give equal text."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def _iso(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix (microseconds only when present)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def evidence_digest(
    site_id: str, time: datetime, source: str, url: str, claim: str, kind: str
) -> str:
    """The identity of an evidence entry (SHA-256 hex): equal entries, equal digests.

    The grade is not part of it (a new grade updates the entry). Migration 0005 uses it to
    re-key entries whose kind it renamed.
    """
    text = _dumps([site_id, _iso(time), source, url, claim, kind])
    return hashlib.sha256(text.encode()).hexdigest()


def _require_utc(value: Any, what: str) -> datetime:
    """``value`` in UTC; InputError unless it is a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise InputError(f"{what} is {value!r}; expected a timezone-aware datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"{what} is {value.isoformat()} without a time zone; "
            "pass a timezone-aware datetime, e.g. datetime(..., tzinfo=UTC)"
        )
    return value.astimezone(UTC)


def _opt_float(value: Any) -> float | None:
    """``float(value)`` for finite real numbers, None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _geometry_text(geometry: Any, what: str) -> str:
    """GeoJSON text of a shapely geometry."""
    if geometry is None or not hasattr(geometry, "__geo_interface__"):
        raise InputError(f"{what} is {geometry!r}; expected a shapely geometry in EPSG:4326")
    return _dumps(mapping(geometry))


def _bbox(bbox: Any) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` as finite floats; InputError otherwise."""
    is_list = isinstance(bbox, Sequence) and not isinstance(bbox, str) and len(bbox) == 4
    numbers = [v for v in map(_opt_float, bbox if is_list else ()) if v is not None]
    if len(numbers) != 4 or numbers[0] > numbers[2] or numbers[1] > numbers[3]:
        raise InputError(f"bbox is {bbox!r}; expected (west, south, east, north) in degrees")
    return numbers[0], numbers[1], numbers[2], numbers[3]


def _detection_geometry(geometry: Any, what: str) -> str | None:
    """Canonical GeoJSON text of a detection's geometry (None stays None)."""
    if geometry is None:
        return None
    try:
        return _canonical_geojson(geometry)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.ShapelyError) as exc:
        raise InputError(
            f"{what} geometry is {geometry!r}; expected a GeoJSON geometry dict "
            f"(lon/lat, EPSG:4326) or None ({exc})"
        ) from exc


def _stable_float(value: float) -> float:
    """Round for export; ``-0.0`` becomes ``0.0``."""
    rounded = round(float(value), FLOAT_DECIMALS)
    return rounded + 0.0 if rounded != 0 else 0.0


def _rounded(value: Any) -> Any:
    """Round every float inside a JSON-like value and sort dict keys (recursively)."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return _stable_float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _rounded(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, Sequence):
        return [_rounded(v) for v in value]
    return _rounded(json.loads(_dumps(value)))


def _obs_sort_key(obs: Observation) -> tuple[str, str, datetime, str, str, str, str]:
    """Sort order of observations: site, zone, time, sensor, detector (then version, scene)."""
    return (
        obs.site_id,
        obs.zone_id,
        obs.time,
        obs.sensor,
        obs.detector,
        obs.detector_version,
        obs.scene_id,
    )


@dataclass(frozen=True, kw_only=True)
class _PreparedObservation:
    """An observation validated and flattened into column values."""

    key: ObservationKey
    columns: dict[str, Any]
    detections: list[dict[str, Any]]


def _detection_columns(feature: Any, seq: int, what: str) -> dict[str, Any]:
    """Split one GeoJSON Feature dict into :class:`DetectionRow` column values."""
    if not isinstance(feature, Mapping):
        raise InputError(
            f"{what} detection {seq} is a {type(feature).__name__}; "
            "expected a GeoJSON Feature dict with 'geometry' and 'properties'"
        )
    properties = feature.get("properties") or {}
    if not isinstance(properties, Mapping):
        raise InputError(f"{what} detection {seq} has properties {properties!r}; expected a dict")
    geometry = feature.get("geometry")
    bbox = properties.get("bbox_px")
    cls = properties.get("class")
    feature_id = feature.get("id")
    return {
        "seq": seq,
        "feature_id": None if feature_id is None else str(feature_id),
        "geometry": _detection_geometry(geometry, f"{what} detection {seq}"),
        "bbox_px": None if bbox is None else _dumps(bbox),
        "score": _opt_float(properties.get("score")),
        "cls": None if cls is None else str(cls),
        "length_m": _opt_float(properties.get("length_m")),
        "properties": _dumps(properties),
    }


def _prepare(obs: Observation) -> _PreparedObservation:
    """Validate ``obs`` and compute its column values and content hash.

    Flags are stored sorted and deduplicated; a NaN value is stored as None (unusable chip).
    """
    if not isinstance(obs, Observation):
        raise InputError(f"cannot store {obs!r}; expected a basewatch.observe.Observation")
    key: ObservationKey = (
        obs.site_id,
        obs.zone_id,
        obs.scene_id,
        obs.detector,
        obs.detector_version,
    )
    what = "observation " + "/".join(map(str, key))
    for name, part in zip(_KEY_NAMES, key, strict=True):
        if not isinstance(part, str) or not part:
            raise InputError(f"{what}: {name} is {part!r}; expected a non-empty string")
    time = _require_utc(obs.time, f"{what} time")
    value = None if obs.value is None else float(obs.value)
    if value is not None and math.isnan(value):
        value = None
    if value is not None and math.isinf(value):
        raise InputError(f"{what}: value is {value}; expected a finite number or None")
    clear = _opt_float(obs.clear_fraction)
    if clear is None:
        raise InputError(
            f"{what}: clear_fraction is {obs.clear_fraction!r}; expected a number in 0-1"
        )
    flags = sorted({str(f) for f in obs.flags})
    detections = [_detection_columns(f, i, what) for i, f in enumerate(obs.detections)]
    content = {
        "time": _iso(time),
        "sensor": obs.sensor,
        "metric": obs.metric,
        "value": value,
        "clear_fraction": clear,
        "flags": flags,
        "detections": [(d["feature_id"], d["geometry"], d["properties"]) for d in detections],
    }
    columns = {
        "time": time,
        "sensor": obs.sensor,
        "metric": obs.metric,
        "value": value,
        "clear_fraction": clear,
        "flags": _dumps(flags),
        "n_detections": len(detections),
        "content_hash": hashlib.sha256(_dumps(content).encode()).hexdigest(),
    }
    return _PreparedObservation(key=key, columns=columns, detections=detections)


def _feature(row: DetectionRow) -> dict[str, Any]:
    """Rebuild the GeoJSON Feature dict of a detection row."""
    feature: dict[str, Any] = {"type": "Feature"}
    if row.feature_id is not None:
        feature["id"] = row.feature_id
    feature["geometry"] = None if row.geometry is None else json.loads(row.geometry)
    feature["properties"] = json.loads(row.properties)
    return feature


def _observation(row: ObservationRow) -> Observation:
    """Rebuild an :class:`Observation` (with its detections) from a row."""
    return Observation(
        site_id=row.site_id,
        zone_id=row.zone_id,
        scene_id=row.scene_id,
        time=row.time,
        sensor=row.sensor,
        detector=row.detector,
        detector_version=row.detector_version,
        metric=row.metric,
        value=row.value,
        clear_fraction=row.clear_fraction,
        detections=[_feature(d) for d in row.detections],
        flags=tuple(json.loads(row.flags)),
    )


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def _database_error(url: str, action: str, exc: BaseException) -> StoreError:
    """A StoreError naming the URL, what failed and how to fix it."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = detail[0] if detail else type(exc).__name__
    lowered = reason.lower()
    if "not a database" in lowered or "malformed" in lowered:
        fix = "pass another database URL, or move this file away so a new store is created"
    elif "locked" in lowered or "busy" in lowered:
        fix = "another process holds the write lock; retry when it has finished"
    elif "readonly" in lowered or "read-only" in lowered or "permission" in lowered:
        fix = "make the database file and its folder writable, or pass another URL"
    elif "unable to open" in lowered:
        fix = "check that the folder exists and is writable and that the path is a file"
    elif "postgis" in lowered or "extension" in lowered:
        fix = (
            "install PostGIS on the database server (Debian: postgresql-15-postgis-3) and "
            "let a superuser run CREATE EXTENSION postgis in this database"
        )
    else:
        fix = "check that the database is reachable and that the URL is right"
    return StoreError(f"cannot {action} in store {url}: {reason}. Fix: {fix}")


@contextmanager
def _database_errors(url: str, action: str) -> Iterator[None]:
    """Turn SQLAlchemy/DB-API errors into :class:`StoreError`; let basewatch errors through."""
    try:
        yield
    except BasewatchError:
        raise
    except (SQLAlchemyError, sqlite3.Error, CommandError) as exc:
        raise _database_error(url, action, exc) from exc


# --------------------------------------------------------------------------------------
# Store
# --------------------------------------------------------------------------------------


class Store:
    """A basewatch database. Open with :func:`open_store`; close with :meth:`close`.

    Usable as a context manager (``with open_store(url) as store: ...``).
    """

    url: str
    """The database URL (password hidden), e.g. ``sqlite:////data/basewatch.db``."""
    created: bool = False
    """Whether :func:`open_store` created the basewatch schema in an empty database."""

    def __init__(self, engine: Engine, url: str) -> None:
        """Wrap an engine whose schema is already at the newest revision (see open_store)."""
        self.url = url
        self._engine = engine
        self._read = sessionmaker(engine, expire_on_commit=False)
        writer = engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        self._write = sessionmaker(writer, expire_on_commit=False)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @contextmanager
    def _session(self, action: str, *, write: bool = False) -> Iterator[Session]:
        """One transaction; committed on success, rolled back on any error."""
        maker = self._write if write else self._read
        with _database_errors(self.url, action), maker() as session, session.begin():
            yield session

    # -- schema ---------------------------------------------------------------------------

    def schema_version(self) -> str:
        """The Alembic revision the database is at, e.g. ``"0001"``."""
        with _database_errors(self.url, "read the schema version"), self._engine.connect() as c:
            revision = MigrationContext.configure(c).get_current_revision()
        return revision or ""

    # -- sites and scenes -------------------------------------------------------------------

    def upsert_sites(self, sites: Iterable[Site]) -> None:
        """Insert or update sites and their zones (a site's stored zones become exactly its zones).

        Unchanged rows are not rewritten. Zones are stored by id; :meth:`sites` returns them
        sorted by id.
        """
        rows = [_site_columns(site) for site in sites]
        with self._session("store sites", write=True) as session:
            for site_columns, zone_columns in rows:
                _upsert_site(session, site_columns, zone_columns)

    def sites(self) -> list[Site]:
        """All stored sites with their zones, sorted by site id (zones by zone id)."""
        with self._session("read sites") as session:
            rows = session.scalars(select(SiteRow).order_by(SiteRow.id)).all()
            return [_site(row) for row in rows]

    def zones_intersecting(self, bbox: tuple[float, float, float, float]) -> list[tuple[str, str]]:
        """``(site_id, zone_id)`` of the stored zones intersecting ``bbox``, sorted.

        ``bbox`` is ``(west, south, east, north)`` in EPSG:4326. PostgreSQL answers with
        PostGIS ``ST_Intersects`` (using the GiST index); SQLite tests each zone with shapely.
        """
        west, south, east, north = _bbox(bbox)
        area = shapely.box(west, south, east, north)
        query = select(ZoneRow.site_id, ZoneRow.id, ZoneRow.geometry)
        with self._session("find zones in a bbox") as session:
            if self._engine.dialect.name == "postgresql":
                envelope = func.ST_MakeEnvelope(west, south, east, north, 4326)
                query = query.where(func.ST_Intersects(ZoneRow.geometry, envelope))
            rows = session.execute(query).all()
        found = [(a, b) for a, b, geometry in rows if shape(json.loads(geometry)).intersects(area)]
        return sorted(found)

    def upsert_scene(self, scene: SceneRecord) -> None:
        """Insert or update a scene record."""
        columns = _scene_columns(scene)
        with self._session("store a scene", write=True) as session:
            row = session.get(SceneRow, scene.id)
            if row is None:
                session.add(SceneRow(**columns))
            else:
                _assign(row, columns)

    def upsert_scenes(self, scenes: Iterable[SceneRecord]) -> None:
        """Insert or update scene records, all in one transaction."""
        latest = {scene.id: _scene_columns(scene) for scene in scenes}  # the last one wins
        ids = list(latest)
        with self._session("store scenes", write=True) as session:
            stored: dict[str, SceneRow] = {}
            for i in range(0, len(ids), 500):  # one query per 500 ids, not a lookup each
                chunk = select(SceneRow).where(SceneRow.id.in_(ids[i : i + 500]))
                stored.update((row.id, row) for row in session.scalars(chunk))
            for scene_id, columns in latest.items():
                row = stored.get(scene_id)
                if row is None:
                    session.add(SceneRow(**columns))
                else:
                    _assign(row, columns)

    def scenes(self) -> list[SceneRecord]:
        """All stored scenes, sorted by time then id."""
        with self._session("read scenes") as session:
            rows = session.scalars(select(SceneRow)).all()
            records = [_scene(row) for row in rows]
        return sorted(records, key=lambda r: (r.time, r.id))

    # -- observations -----------------------------------------------------------------------

    def write_observation(self, obs: Observation) -> bool:
        """Store one observation; True if inserted or changed, False if already identical."""
        return self.write_observations([obs]) == 1

    def write_observations(self, obs: Iterable[Observation]) -> int:
        """Store observations in one transaction; return how many rows were inserted or changed.

        All observations are validated before anything is written; on any error nothing of
        the batch is stored. Within a batch, the last observation with a given key wins.
        """
        prepared: dict[ObservationKey, _PreparedObservation] = {}
        for o in obs:
            p = _prepare(o)
            prepared[p.key] = p
        if not prepared:
            return 0
        with self._session("store observations", write=True) as session:
            return _write_prepared(session, list(prepared.values()))

    def has_observation(
        self, *, site_id: str, zone_id: str, scene_id: str, detector: str, detector_version: str
    ) -> bool:
        """Whether the observation with this key is stored."""
        key = (site_id, zone_id, scene_id, detector, detector_version)
        with self._session("look up an observation") as session:
            return session.scalar(select(ObservationRow.id).where(*_key_filter(key))) is not None

    def done_keys(self) -> set[ObservationKey]:
        """Keys ``(site, zone, scene, detector, version)`` of every stored observation."""
        columns = (
            ObservationRow.site_id,
            ObservationRow.zone_id,
            ObservationRow.scene_id,
            ObservationRow.detector,
            ObservationRow.detector_version,
        )
        with self._session("read observation keys") as session:
            return {(a, b, c, d, e) for a, b, c, d, e in session.execute(select(*columns))}

    def observation_span(
        self, site_ids: Sequence[str] | None = None
    ) -> tuple[datetime, datetime] | None:
        """Time of the first and the last stored observation (of ``site_ids`` when given),
        or None when there is none."""
        query = select(func.min(ObservationRow.time), func.max(ObservationRow.time))
        if site_ids:
            query = query.where(ObservationRow.site_id.in_(list(site_ids)))
        with self._session("read the observation dates") as session:
            first, last = session.execute(query).one()
        return None if first is None else (first, last)

    def observations(
        self,
        *,
        site_id: str | None = None,
        zone_id: str | None = None,
        until: datetime | None = None,
    ) -> list[Observation]:
        """Stored observations (with detections), sorted by site, zone, time, sensor, detector.

        ``until`` keeps observations at or before that time (timezone-aware).
        """
        query = select(ObservationRow).options(selectinload(ObservationRow.detections))
        if site_id is not None:
            query = query.where(ObservationRow.site_id == site_id)
        if zone_id is not None:
            query = query.where(ObservationRow.zone_id == zone_id)
        if until is not None:
            query = query.where(ObservationRow.time <= _require_utc(until, "until"))
        with self._session("read observations") as session:
            result = [_observation(row) for row in session.scalars(query)]
        return sorted(result, key=_obs_sort_key)

    # -- chip status ----------------------------------------------------------------------

    def record_chip_status(
        self, *, site_id: str, zone_id: str, scene_id: str, status: str, message: str = ""
    ) -> None:
        """Record the outcome of one zone x scene chip: ``done``, ``failed`` or ``skipped``."""
        chip = ChipOutcome(
            site_id=site_id, zone_id=zone_id, scene_id=scene_id, status=status, message=message
        )
        self.record_chips([chip])

    def record_chips(self, outcomes: Iterable[ChipOutcome]) -> int:
        """Store chips' observations and statuses in one transaction; return how many
        observation rows were inserted or changed.

        Everything is validated first; on any error nothing of the batch is stored, so a
        status never says ``done`` without its observation. Within a batch, the last
        outcome of a chip wins.
        """
        statuses: dict[tuple[str, str, str], ChipOutcome] = {}
        prepared: dict[ObservationKey, _PreparedObservation] = {}
        for out in outcomes:
            if out.status not in CHIP_STATUSES:
                raise InputError(
                    f"chip status for {out.site_id}/{out.zone_id}/{out.scene_id} is "
                    f"{out.status!r}; use one of {', '.join(CHIP_STATUSES)}"
                )
            statuses[(out.site_id, out.zone_id, out.scene_id)] = out
            if out.observation is not None:
                p = _prepare(out.observation)
                prepared[p.key] = p
        if not statuses:
            return 0
        with self._session("record chips", write=True) as session:
            changed = _write_prepared(session, list(prepared.values()))
            now = datetime.now(UTC)
            stored = _stored_statuses(session, list(statuses))
            for key, out in statuses.items():
                row = stored.get(key)
                if row is None:
                    session.add(
                        ChipStatusRow(
                            site_id=out.site_id,
                            zone_id=out.zone_id,
                            scene_id=out.scene_id,
                            status=out.status,
                            message=out.message,
                            updated_at=now,
                        )
                    )
                elif (row.status, row.message) != (out.status, out.message):
                    _assign(row, {"status": out.status, "message": out.message, "updated_at": now})
            return changed

    def failed_chips(self) -> list[tuple[str, str, str, str]]:
        """Chips whose latest status is ``failed``: ``(site, zone, scene, message)``, sorted."""
        query = select(
            ChipStatusRow.site_id,
            ChipStatusRow.zone_id,
            ChipStatusRow.scene_id,
            ChipStatusRow.message,
        ).where(ChipStatusRow.status == "failed")
        with self._session("read chip statuses") as session:
            return sorted((a, b, c, d) for a, b, c, d in session.execute(query))

    # -- evidence and assessments -----------------------------------------------------------

    def add_evidence(
        self,
        *,
        site_id: str,
        time: datetime,
        source: str,
        url: str,
        claim: str,
        kind: str = "other",
        reliability: str = "F",
        credibility: str = "6",
    ) -> int:
        """Add an evidence entry and return its id; the same entry added again keeps its id.

        ``claim`` is what the source says, ``kind`` one of ``basewatch.context.evidence.KINDS``
        (validated by ``basewatch.context.evidence``, not here). ``reliability`` (A-F) and
        ``credibility`` (1-6) are the admiralty grade; the defaults ``F``/``6`` mean
        "cannot be judged". Adding the same entry again with another grade updates the grade.
        """
        when = _require_utc(time, f"evidence time for {site_id}")
        digest = evidence_digest(site_id, when, source, url, claim, kind)
        with self._session("add evidence", write=True) as session:
            existing = session.scalar(select(EvidenceRow).where(EvidenceRow.digest == digest))
            if existing is not None:
                existing.reliability, existing.credibility = reliability, str(credibility)
                return existing.id
            row = EvidenceRow(
                site_id=site_id,
                time=when,
                source=source,
                url=url,
                claim=claim,
                kind=kind,
                digest=digest,
                reliability=reliability,
                credibility=str(credibility),
            )
            session.add(row)
            session.flush()
            return row.id

    def evidence_grade(
        self, *, site_id: str, time: datetime, source: str, url: str, claim: str, kind: str
    ) -> str | None:
        """The stored grade (e.g. ``B2``) of this entry, or None when it is not stored."""
        when = _require_utc(time, f"evidence time for {site_id}")
        digest = evidence_digest(site_id, when, source, url, claim, kind)
        with self._session("read evidence") as session:
            row = session.scalar(select(EvidenceRow).where(EvidenceRow.digest == digest))
            return None if row is None else f"{row.reliability}{row.credibility}"

    def evidence(self, *, site_id: str | None = None) -> list[dict[str, Any]]:
        """Evidence entries by site, time, id.

        Keys: ``id, site_id, time, source, url, claim, kind, reliability, credibility``.

        ``time`` is a timezone-aware UTC datetime.
        """
        query = select(EvidenceRow)
        if site_id is not None:
            query = query.where(EvidenceRow.site_id == site_id)
        with self._session("read evidence") as session:
            rows = session.scalars(query).all()
        rows = sorted(rows, key=lambda r: (r.site_id, r.time, r.id))
        return [
            {
                "id": r.id,
                "site_id": r.site_id,
                "time": r.time,
                "source": r.source,
                "url": r.url,
                "claim": r.claim,
                "kind": r.kind,
                "reliability": r.reliability,
                "credibility": r.credibility,
            }
            for r in rows
        ]

    def save_assessment(self, payload: dict[str, Any], *, as_of: datetime | None = None) -> None:
        """Save an ``assessment.json`` dict; one per ``as_of`` (default: now), newest replaces.

        :meth:`latest_assessment` returns the most recently saved payload.
        """
        if not isinstance(payload, dict):
            raise InputError(f"assessment payload is a {type(payload).__name__}; expected a dict")
        now = datetime.now(UTC)
        when = now if as_of is None else _require_utc(as_of, "assessment as_of")
        text = json.dumps(payload, ensure_ascii=False, default=_json_default)
        with self._session("save an assessment", write=True) as session:
            session.execute(delete(AssessmentRow).where(AssessmentRow.as_of == when))
            session.add(AssessmentRow(as_of=when, saved_at=now, payload=text))

    def latest_assessment(self) -> dict[str, Any] | None:
        """The most recently saved assessment payload, or None."""
        query = select(AssessmentRow.payload).order_by(AssessmentRow.id.desc()).limit(1)
        with self._session("read the latest assessment") as session:
            text = session.scalar(query)
        return None if text is None else dict(json.loads(text))

    # -- alerts -----------------------------------------------------------------------------

    def add_alert(self, alert: Mapping[str, Any], *, webhook_url: str | None = None) -> int:
        """Keep a reported alert and return its id; ``webhook_url`` makes its delivery pending.

        ``alert`` needs ``site_id``, ``zone_id``, ``direction``, ``after`` and ``before``
        (``YYYY-MM-DD``); the whole mapping is stored as JSON.
        """
        needed = ("site_id", "zone_id", "direction", "after", "before")
        missing = [k for k in needed if k not in alert]
        if missing:
            raise InputError(f"alert {dict(alert)!r} lacks {', '.join(missing)}; add them")
        row = AlertRow(
            site_id=str(alert["site_id"]),
            zone_id=str(alert["zone_id"]),
            direction=str(alert["direction"]),
            after=str(alert["after"]),
            before=str(alert["before"]),
            payload=json.dumps(dict(alert), ensure_ascii=False, default=_json_default),
            reported_at=datetime.now(UTC),
            webhook_url=webhook_url,
            delivered_at=None,
        )
        with self._session("store an alert", write=True) as session:
            session.add(row)
            session.flush()
            return row.id

    def alerts(self, *, site_id: str | None = None, pending: bool = False) -> list[StoredAlert]:
        """Stored alerts in the order reported; ``pending`` keeps those owed to a webhook."""
        query = select(AlertRow).order_by(AlertRow.id)
        if site_id is not None:
            query = query.where(AlertRow.site_id == site_id)
        if pending:
            query = query.where(AlertRow.webhook_url.is_not(None), AlertRow.delivered_at.is_(None))
        with self._session("read alerts") as session:
            return [
                StoredAlert(
                    id=r.id,
                    alert=dict(json.loads(r.payload)),
                    reported_at=r.reported_at,
                    webhook_url=r.webhook_url,
                    delivered_at=r.delivered_at,
                )
                for r in session.scalars(query)
            ]

    def mark_alert_delivered(self, alert_id: int, *, url: str) -> None:
        """Record that the webhook at ``url`` accepted alert ``alert_id``."""
        with self._session("mark an alert delivered", write=True) as session:
            row = session.get(AlertRow, alert_id)
            if row is None:
                raise InputError(f"alert {alert_id}: no such alert in the store")
            _assign(row, {"webhook_url": url, "delivered_at": datetime.now(UTC)})

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()


def _assign(row: Base, columns: Mapping[str, Any]) -> None:
    """Set attributes that differ (the ORM then updates only those columns)."""
    for name, value in columns.items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def _key_filter(key: ObservationKey) -> list[Any]:
    """WHERE clauses selecting the observation with ``key``."""
    return [
        ObservationRow.site_id == key[0],
        ObservationRow.zone_id == key[1],
        ObservationRow.scene_id == key[2],
        ObservationRow.detector == key[3],
        ObservationRow.detector_version == key[4],
    ]


_LOOKUP_CHUNK = 500
"""Keys looked up with one query (bound parameters stay well under every driver's limit)."""


def _stored_observations(
    session: Session, keys: Sequence[ObservationKey]
) -> dict[ObservationKey, tuple[int, str]]:
    """``key -> (id, content hash)`` of the stored observations among ``keys``.

    One query per :data:`_LOOKUP_CHUNK` keys, selecting by site, zone and scene (the unique
    index's leading columns) and keeping the exact keys.
    """
    wanted = set(keys)
    found: dict[ObservationKey, tuple[int, str]] = {}
    ordered = sorted(wanted)
    columns = [getattr(ObservationRow, name) for name in _KEY_NAMES]
    for i in range(0, len(ordered), _LOOKUP_CHUNK):
        chunk = ordered[i : i + _LOOKUP_CHUNK]
        query = select(ObservationRow.id, ObservationRow.content_hash, *columns).where(
            ObservationRow.site_id.in_({k[0] for k in chunk}),
            ObservationRow.zone_id.in_({k[1] for k in chunk}),
            ObservationRow.scene_id.in_({k[2] for k in chunk}),
        )
        for row_id, content_hash, *key in session.execute(query):
            k = (key[0], key[1], key[2], key[3], key[4])
            if k in wanted:
                found[k] = (row_id, content_hash)
    return found


def _stored_statuses(
    session: Session, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], ChipStatusRow]:
    """The stored chip-status rows among ``keys`` (site, zone, scene), one query per 500."""
    wanted = set(keys)
    found: dict[tuple[str, str, str], ChipStatusRow] = {}
    ordered = sorted(wanted)
    for i in range(0, len(ordered), _LOOKUP_CHUNK):
        chunk = ordered[i : i + _LOOKUP_CHUNK]
        query = select(ChipStatusRow).where(
            ChipStatusRow.site_id.in_({k[0] for k in chunk}),
            ChipStatusRow.zone_id.in_({k[1] for k in chunk}),
            ChipStatusRow.scene_id.in_({k[2] for k in chunk}),
        )
        for row in session.scalars(query):
            key = (row.site_id, row.zone_id, row.scene_id)
            if key in wanted:
                found[key] = row
    return found


def _write_prepared(session: Session, batch: Sequence[_PreparedObservation]) -> int:
    """Insert, replace or skip observations (distinct keys); how many rows changed.

    A handful of statements per batch whatever its size: one lookup per 500 keys, one
    multi-row insert of the new observations (ids returned in order), one update of the
    changed ones by id, one delete of their old detections and one insert of all detections.
    """
    if not batch:
        return 0
    stored = _stored_observations(session, [p.key for p in batch])
    new = [p for p in batch if p.key not in stored]
    replaced = [
        (stored[p.key][0], p)
        for p in batch
        if p.key in stored and stored[p.key][1] != p.columns["content_hash"]
    ]
    ids: list[int] = []
    if new:
        rows = [{**dict(zip(_KEY_NAMES, p.key, strict=True)), **p.columns} for p in new]
        returning = insert(ObservationRow).returning(
            ObservationRow.id, sort_by_parameter_order=True
        )
        ids = list(session.scalars(returning, rows))
    if replaced:
        session.execute(update(ObservationRow), [{"id": i, **p.columns} for i, p in replaced])
        old = [i for i, _ in replaced]
        for i in range(0, len(old), _LOOKUP_CHUNK):
            chunk = old[i : i + _LOOKUP_CHUNK]
            session.execute(delete(DetectionRow).where(DetectionRow.observation_id.in_(chunk)))
    detections = [
        {**d, "observation_id": observation_id}
        for observation_id, p in [*zip(ids, new, strict=True), *replaced]
        for d in p.detections
    ]
    if detections:
        session.execute(insert(DetectionRow), detections)
    return len(new) + len(replaced)


def _site_columns(site: Site) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Column values of a site and of its zones (by zone id)."""
    if not isinstance(site, Site):
        raise InputError(f"cannot store {site!r} as a site; expected a basewatch.sites.Site")
    site_columns = {
        "id": site.id,
        "name": site.name,
        "kind": site.kind,
        "operator": site.operator,
        "country": site.country,
        "geometry": _geometry_text(site.geometry, f"site {site.id!r} geometry"),
        "properties": _dumps(site.properties),
    }
    zones = {
        zone.id: {
            "id": zone.id,
            "name": zone.name,
            "kind": zone.kind,
            "target": zone.target,
            "geometry": _geometry_text(zone.geometry, f"zone {zone.key!r} geometry"),
            "properties": _dumps(zone.properties),
        }
        for zone in site.zones
    }
    return site_columns, zones


def _upsert_site(
    session: Session, site_columns: dict[str, Any], zones: dict[str, dict[str, Any]]
) -> None:
    """Insert or update one site and make its stored zones match ``zones``."""
    row = session.get(SiteRow, site_columns["id"])
    if row is None:
        row = SiteRow(**site_columns)
        session.add(row)
    else:
        _assign(row, site_columns)
    stored = {zone.id: zone for zone in row.zones}
    for zone_id, columns in zones.items():
        if zone_id in stored:
            _assign(stored[zone_id], columns)
        else:
            row.zones.append(ZoneRow(**columns))
    for zone_id, zone in stored.items():
        if zone_id not in zones:
            row.zones.remove(zone)


def _site(row: SiteRow) -> Site:
    """Rebuild a :class:`Site` (with zones) from its rows."""
    zones = tuple(
        Zone(
            site_id=row.id,
            id=z.id,
            kind=z.kind,
            target=z.target,
            geometry=shape(json.loads(z.geometry)),
            name=z.name,
            properties=json.loads(z.properties),
        )
        for z in row.zones
    )
    return Site(
        id=row.id,
        name=row.name,
        kind=row.kind,
        geometry=shape(json.loads(row.geometry)),
        operator=row.operator,
        country=row.country,
        zones=zones,
        properties=json.loads(row.properties),
    )


def _scene_columns(scene: SceneRecord) -> dict[str, Any]:
    """Validated column values of a scene record."""
    if not isinstance(scene, SceneRecord):
        raise InputError(f"cannot store {scene!r} as a scene; expected a SceneRecord")
    bbox = tuple(scene.bbox)
    if len(bbox) != 4 or any(_opt_float(v) is None for v in bbox):
        raise InputError(
            f"scene {scene.id!r} bbox is {scene.bbox!r}; expected (west, south, east, north)"
        )
    west, south, east, north = (float(v) for v in bbox)
    return {
        "id": scene.id,
        "collection": scene.collection,
        "sensor": scene.sensor,
        "time": _require_utc(scene.time, f"scene {scene.id!r} time"),
        "href": scene.href,
        "cloud_cover": _opt_float(scene.cloud_cover),
        "west": west,
        "south": south,
        "east": east,
        "north": north,
    }


def _scene(row: SceneRow) -> SceneRecord:
    """Rebuild a :class:`SceneRecord` from its row."""
    return SceneRecord(
        id=row.id,
        collection=row.collection,
        sensor=row.sensor,
        time=row.time,
        href=row.href,
        cloud_cover=row.cloud_cover,
        bbox=(row.west, row.south, row.east, row.north),
    )


# --------------------------------------------------------------------------------------
# Opening, migrating
# --------------------------------------------------------------------------------------


def _alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration for the migrations shipped in the package (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _parse_url(url: str | os.PathLike[str]) -> URL:
    """A SQLAlchemy URL from a URL string or a bare file path (taken as SQLite)."""
    text = os.fspath(url)
    if not isinstance(text, str) or not text.strip():
        raise StoreError(
            f"store URL is {url!r}; pass a database URL such as {DEFAULT_URL} "
            "or a path to a .db file"
        )
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text).expanduser()))
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(
            f"cannot open store {text!r}: not a database URL ({exc}). "
            f"Fix: use e.g. {DEFAULT_URL} or postgresql+psycopg://user@host/dbname"
        ) from exc
    if (
        parsed.drivername == "postgresql"
        and find_spec("psycopg2") is None
        and find_spec("psycopg") is not None
    ):
        parsed = parsed.set(drivername="postgresql+psycopg")  # what [postgres] installs
    return parsed


def _is_memory(url: URL) -> bool:
    """Whether ``url`` is an in-memory SQLite database."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _prepare_sqlite_file(url: URL, shown: str) -> None:
    """Create the parent folder of a SQLite file; refuse a folder in place of the file."""
    if _is_memory(url) or url.database is None or url.database.startswith("file:"):
        return
    path = Path(url.database)
    if path.is_dir():
        raise StoreError(
            f"cannot open store {shown}: {path} is a folder. Fix: give a file path, "
            f"e.g. sqlite:///{path / 'basewatch.db'}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot open store {shown}: cannot create folder {path.parent} ({exc}). "
            "Fix: choose a path in a writable folder"
        ) from exc


def _configure_sqlite(engine: Engine) -> None:
    """WAL journal, foreign keys, busy timeout and real BEGIN/COMMIT transactions on SQLite."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives the process being killed (only a power loss
            # can drop the last ones); no fsync per commit (15 -> 2 ms a chip, loaded disk)
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


def _create_engine(url: URL, shown: str) -> Engine:
    """An engine for ``url`` (SQLite tuned by :func:`_configure_sqlite`)."""
    kwargs: dict[str, Any] = {}
    is_sqlite = url.get_backend_name() == "sqlite"
    if _is_memory(url):
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif is_sqlite:
        kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    try:
        engine = create_engine(url, **kwargs)
    except NoSuchModuleError as exc:
        raise StoreError(
            f"cannot open store {shown}: unknown database kind {url.drivername!r}. "
            f"Fix: use e.g. {DEFAULT_URL} or postgresql+psycopg://user@host/dbname"
        ) from exc
    except ImportError as exc:
        raise StoreError(
            f"cannot open store {shown}: the database driver is not installed ({exc}). "
            "Fix: pip install 'basewatch[postgres]' and use a postgresql+psycopg:// URL"
        ) from exc
    except (ArgumentError, TypeError, ValueError) as exc:
        raise StoreError(f"cannot open store {shown}: {exc}. Fix: correct the URL") from exc
    if is_sqlite:
        _configure_sqlite(engine)
    return engine


def _check_revisions(
    current: tuple[str, ...], tables: list[str], script: ScriptDirectory, shown: str
) -> None:
    """Refuse databases newer than this code and non-basewatch databases."""
    for revision in current:
        try:
            known = script.get_revision(revision)
        except CommandError:
            known = None
        if known is None:
            raise StoreError(
                f"store {shown} has schema revision {revision!r}, which this basewatch does not "
                f"know (newest known: {script.get_current_head()!r}): the database was written "
                "by a newer basewatch. Fix: upgrade basewatch, or pass another database URL"
            )
    foreign = sorted(set(tables) - {"alembic_version"} - POSTGIS_TABLES)
    if not current and foreign:
        raise StoreError(
            f"store {shown} already holds tables ({', '.join(foreign[:5])}) but no basewatch "
            "schema version: it is not a basewatch database. Fix: pass another database URL"
        )


def schema_head() -> str:
    """The newest schema revision basewatch ships (what ``open_store`` migrates to)."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    return str(head)


CREATE_HINT = (
    "create it with 'basewatch monitor --sites REGISTRY --catalog CATALOG --db {url}' "
    "(or 'basewatch sites import REGISTRY --db {url}')"
)
"""How to create a store, shown by the errors of commands that only read one."""


def _missing(shown: str, why: str) -> StoreError:
    return StoreError(
        f"no basewatch store at {shown}: {why}. Fix: check --db (a typo?), or "
        + CREATE_HINT.format(url=shown)
    )


def _require_sqlite_file(url: URL, shown: str) -> None:
    """Refuse a SQLite URL whose file does not exist (instead of creating an empty store)."""
    if _is_memory(url) or url.database is None or url.database.startswith("file:"):
        return
    path = Path(url.database)
    if path.is_dir():
        raise StoreError(
            f"cannot open store {shown}: {path} is a folder. Fix: give the store's file, "
            f"e.g. sqlite:///{path / 'basewatch.db'}"
        )
    if not path.is_file():
        raise _missing(shown, f"the file {path.resolve()} does not exist")


def _migrate(engine: Engine, shown: str, *, create: bool = True) -> bool:
    """Upgrade the schema to the newest revision in one transaction (no-op when current).

    Returns whether the schema was created from nothing. With ``create=False`` a database
    without the basewatch schema is refused instead (:class:`StoreError`).
    """
    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    with _database_errors(shown, "open the database"), engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
        tables = inspect(connection).get_table_names()
    _check_revisions(tuple(current), tables, script, shown)
    if not current and not create:
        raise _missing(shown, "the database holds no basewatch tables")
    if tuple(current) == (head,):
        return False
    writer = engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
    with _database_errors(shown, "upgrade the schema"), writer.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")
    return not current


def open_store(url: str | os.PathLike[str] = DEFAULT_URL, *, create: bool = True) -> Store:
    """Open (and create or upgrade) the store at ``url``.

    ``url`` is a SQLAlchemy URL (``sqlite:///basewatch.db``, ``postgresql+psycopg://...``)
    or a bare file path, taken as a SQLite file. For SQLite the parent folder is created.
    The schema is upgraded to the newest revision shipped with this code.

    With ``create=False`` (what commands that only read use) a store that does not exist
    is an error, never created: a SQLite file that is missing, or a database (PostgreSQL)
    without basewatch tables. :attr:`Store.created` tells whether this call created it.

    Raises:
        StoreError: the URL is invalid or unreachable, the file is not a database, the
            database belongs to another application or was written by a newer basewatch,
            or (``create=False``) there is no store at ``url``.
    """
    parsed = _parse_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        if create:
            _prepare_sqlite_file(parsed, shown)
        else:
            _require_sqlite_file(parsed, shown)
    engine = _create_engine(parsed, shown)
    try:
        created = _migrate(engine, shown, create=create)
    except BaseException:
        engine.dispose()
        raise
    store = Store(engine, shown)
    store.created = created
    return store


def store_counts(store: Store) -> dict[str, int]:
    """Rows per kind of content: ``sites``, ``observations``, ``evidence``, ``assessments``."""
    tables = {
        "sites": SiteRow,
        "observations": ObservationRow,
        "evidence": EvidenceRow,
        "assessments": AssessmentRow,
    }
    with store._session("count its contents") as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(row)) or 0)
            for name, row in tables.items()
        }


def require_contents(store: Store, what: str, *, command: str) -> None:
    """Raise :class:`StoreError` when ``store`` holds no ``what`` (``sites``, ``observations``
    or ``evidence``), saying it is empty and what to run: ``command`` must not succeed on
    nothing."""
    counts = store_counts(store)
    if counts.get(what, 0):
        return
    url = store.url
    if what == "evidence":
        fix = (
            f"add entries with 'basewatch evidence add --db {url} ...' or "
            f"'basewatch evidence import FILE --db {url}'"
        )
    else:
        fix = f"run 'basewatch monitor --sites REGISTRY --catalog CATALOG --db {url}' first"
    nouns = {
        "sites": ("site", "sites"),
        "observations": ("observation", "observations"),
        "evidence": ("evidence entry", "evidence entries"),
        "assessments": ("assessment", "assessments"),
    }
    held = ", ".join(f"{n} {nouns[k][n != 1]}" for k, n in counts.items() if n)
    if not held:
        raise StoreError(f"{command}: the store {url} is empty; {fix}")
    raise StoreError(f"{command}: the store {url} holds no {nouns[what][1]} (only {held}); {fix}")


# --------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------


def _export_record(obs: Observation) -> dict[str, Any]:
    """The export fields of one observation (stable floats, ISO UTC time, flags as a list)."""
    return {
        "site_id": obs.site_id,
        "zone_id": obs.zone_id,
        "time": _iso(obs.time),
        "sensor": obs.sensor,
        "scene_id": obs.scene_id,
        "detector": obs.detector,
        "detector_version": obs.detector_version,
        "metric": obs.metric,
        "value": None if obs.value is None else _stable_float(obs.value),
        "clear_fraction": _stable_float(obs.clear_fraction),
        "n_detections": len(obs.detections),
        "flags": list(obs.flags),
    }


def _export_csv(observations: list[Observation]) -> str:
    """CSV with :data:`EXPORT_COLUMNS`; empty cell for a missing value, flags joined by ``;``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for obs in observations:
        record = _export_record(obs)
        record["value"] = "" if record["value"] is None else repr(record["value"])
        record["clear_fraction"] = repr(record["clear_fraction"])
        record["flags"] = ";".join(record["flags"])
        writer.writerow([record[c] for c in EXPORT_COLUMNS])
    return buffer.getvalue()


def _export_json(observations: list[Observation]) -> str:
    """A JSON list of export records, each with its detections (GeoJSON Features)."""
    records = [
        {**_export_record(o), "detections": [_rounded(d) for d in o.detections]}
        for o in observations
    ]
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


def _centroids(store: Store) -> dict[tuple[str, str], list[float]]:
    """``(site, zone) -> [lon, lat]`` of each stored zone's centroid, rounded."""
    centroids: dict[tuple[str, str], list[float]] = {}
    for site in store.sites():
        for zone in site.zones:
            point = shapely.centroid(zone.geometry)
            centroids[(site.id, zone.id)] = [_stable_float(point.x), _stable_float(point.y)]
    return centroids


def _export_geojson(store: Store, observations: list[Observation]) -> str:
    """A FeatureCollection with one Point Feature per observation at its zone's centroid.

    The geometry is null when the zone is not in the store. Detection footprints are in the
    JSON export.
    """
    centroids = _centroids(store)
    features = []
    for obs in observations:
        point = centroids.get((obs.site_id, obs.zone_id))
        geometry = None if point is None else {"type": "Point", "coordinates": point}
        features.append(
            {"type": "Feature", "geometry": geometry, "properties": _export_record(obs)}
        )
    collection = {"type": "FeatureCollection", "features": features}
    return json.dumps(collection, indent=2, ensure_ascii=False) + "\n"


def export_observations(store: Store, fmt: str) -> str:
    """Export every stored observation as ``csv``, ``json`` or ``geojson`` text.

    The output is deterministic (same stored content, same bytes): records are sorted by
    site, zone, time, sensor, detector (then detector version, scene); times are ISO 8601
    UTC with ``Z``; floats are rounded to :data:`FLOAT_DECIMALS` decimals; there are no
    database ids or wall-clock fields.

    - ``csv``: header :data:`EXPORT_COLUMNS`; ``value`` empty when unknown; flags joined
      with ``;``.
    - ``json``: a list of records with the same fields (flags as a list) plus
      ``detections`` (GeoJSON Feature dicts, keys sorted).
    - ``geojson``: a FeatureCollection with **one Point Feature per observation**, placed
      at the zone's centroid (null geometry if the zone is not stored), properties as in
      the CSV (flags as a list).
    """
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"export format is {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    observations = store.observations()
    if fmt == "csv":
        return _export_csv(observations)
    if fmt == "json":
        return _export_json(observations)
    return _export_geojson(store, observations)

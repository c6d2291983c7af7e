"""PostGIS geometry: sites, zones and detections get geometry(GEOMETRY, 4326) + GiST indexes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 00:00:00

On PostgreSQL the GeoJSON text columns become PostGIS geometries (GeoAlchemy2 type, SRID
4326, converted in place with ``ST_GeomFromGeoJSON``) with a GiST index each; the
``postgis`` extension is created if missing. SQLite keeps GeoJSON text (it cannot load
SpatiaLite here): nothing changes there.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("sites", "zones", "detections")
"""Tables whose ``geometry`` column becomes a PostGIS geometry."""


def _postgresql() -> bool:
    """Whether the migration runs on PostgreSQL."""
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    """Convert the geometry columns to PostGIS geometries and index them (PostgreSQL only)."""
    if not _postgresql():
        return
    from geoalchemy2 import Geometry

    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for table in TABLES:
        op.alter_column(
            table,
            "geometry",
            type_=Geometry("GEOMETRY", srid=4326, spatial_index=False),
            existing_type=sa.Text(),
            postgresql_using="ST_SetSRID(ST_GeomFromGeoJSON(geometry), 4326)",
        )
        op.create_index(f"ix_{table}_geometry", table, ["geometry"], postgresql_using="gist")


def downgrade() -> None:
    """Back to GeoJSON text (PostgreSQL only; the extension is left installed)."""
    if not _postgresql():
        return
    for table in TABLES:
        op.drop_index(f"ix_{table}_geometry", table_name=table)
        op.alter_column(
            table,
            "geometry",
            type_=sa.Text(),
            postgresql_using="ST_AsGeoJSON(geometry, 17)",
        )

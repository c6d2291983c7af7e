"""Initial schema: sites, zones, scenes, observations, detections, chip status, evidence,
assessments.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Geometry is GeoJSON text and times are timezone-aware DateTime (naive UTC text on SQLite),
so the schema is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    """A timezone-aware DateTime column type."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the first schema."""
    op.create_table(
        "sites",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("operator", sa.String(), nullable=False),
        sa.Column("country", sa.String(), nullable=False),
        sa.Column("geometry", sa.Text(), nullable=False),
        sa.Column("properties", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
    )
    op.create_table(
        "zones",
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("geometry", sa.Text(), nullable=False),
        sa.Column("properties", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_zones_site_id_sites", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("site_id", "id", name="pk_zones"),
    )
    op.create_table(
        "scenes",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("collection", sa.String(), nullable=False),
        sa.Column("sensor", sa.String(), nullable=False),
        sa.Column("time", _utc(), nullable=False),
        sa.Column("href", sa.Text(), nullable=False),
        sa.Column("cloud_cover", sa.Float(), nullable=True),
        sa.Column("west", sa.Float(), nullable=False),
        sa.Column("south", sa.Float(), nullable=False),
        sa.Column("east", sa.Float(), nullable=False),
        sa.Column("north", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scenes"),
    )
    op.create_index("ix_scenes_time", "scenes", ["time"])
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("zone_id", sa.String(), nullable=False),
        sa.Column("scene_id", sa.String(), nullable=False),
        sa.Column("detector", sa.String(), nullable=False),
        sa.Column("detector_version", sa.String(), nullable=False),
        sa.Column("time", _utc(), nullable=False),
        sa.Column("sensor", sa.String(), nullable=False),
        sa.Column("metric", sa.String(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("clear_fraction", sa.Float(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("n_detections", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_observations"),
        sa.UniqueConstraint(
            "site_id",
            "zone_id",
            "scene_id",
            "detector",
            "detector_version",
            name="uq_observations_key",
        ),
    )
    op.create_index(
        "ix_observations_site_zone_time", "observations", ["site_id", "zone_id", "time"]
    )
    op.create_table(
        "detections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("feature_id", sa.String(), nullable=True),
        sa.Column("geometry", sa.Text(), nullable=True),
        sa.Column("bbox_px", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("cls", sa.String(), nullable=True),
        sa.Column("length_m", sa.Float(), nullable=True),
        sa.Column("properties", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["observations.id"],
            name="fk_detections_observation_id_observations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_detections"),
        sa.UniqueConstraint("observation_id", "seq", name="uq_detections_observation_id_seq"),
    )
    op.create_table(
        "chip_status",
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("zone_id", sa.String(), nullable=False),
        sa.Column("scene_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "zone_id", "scene_id", name="pk_chip_status"),
    )
    op.create_index("ix_chip_status_status", "chip_status", ["status"])
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(), nullable=False),
        sa.Column("time", _utc(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_evidence"),
        sa.UniqueConstraint("digest", name="uq_evidence_digest"),
    )
    op.create_index("ix_evidence_site_id", "evidence", ["site_id"])
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", _utc(), nullable=False),
        sa.Column("saved_at", _utc(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_assessments"),
        sa.UniqueConstraint("as_of", name="uq_assessments_as_of"),
    )


def downgrade() -> None:
    """Drop every table of the first schema."""
    op.drop_table("assessments")
    op.drop_index("ix_evidence_site_id", table_name="evidence")
    op.drop_table("evidence")
    op.drop_index("ix_chip_status_status", table_name="chip_status")
    op.drop_table("chip_status")
    op.drop_table("detections")
    op.drop_index("ix_observations_site_zone_time", table_name="observations")
    op.drop_table("observations")
    op.drop_index("ix_scenes_time", table_name="scenes")
    op.drop_table("scenes")
    op.drop_table("zones")
    op.drop_table("sites")

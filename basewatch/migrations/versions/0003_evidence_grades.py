"""Evidence grades: admiralty source reliability (A-F) and information credibility (1-6).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03 00:00:00

Existing entries get ``F`` (reliability cannot be judged) and ``6`` (truth cannot be
judged), the admiralty code's "not graded".
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the reliability and credibility columns to the evidence table."""
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(
            sa.Column("reliability", sa.String(length=1), nullable=False, server_default="F")
        )
        batch.add_column(
            sa.Column("credibility", sa.String(length=1), nullable=False, server_default="6")
        )


def downgrade() -> None:
    """Drop the grade columns."""
    with op.batch_alter_table("evidence") as batch:
        batch.drop_column("credibility")
        batch.drop_column("reliability")

"""One evidence schema: the ``text`` column becomes ``claim``; kinds of the old API are renamed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 00:00:00

``evidence add``, ``evidence extract`` and the ledger called what the source says ``claim``;
the store and ``POST /api/evidence`` called it ``text``. The column is renamed (its values
are kept as they are). Kinds of the old API vocabulary become those of
``basewatch.context.evidence.KINDS``: ``image`` -> ``imagery``, ``track`` -> ``flight``, ``text``
-> ``other``; a kind in neither vocabulary becomes ``other`` and its old name is kept at
the end of the claim (``[kind: rumour]``), so nothing stored is lost. Entries whose kind
changed get the digest of their new content, so adding the same entry again still finds
them (when that digest is already taken by an equal entry, the old digest is kept and
both rows stay).

Downgrade renames the column back; kinds keep their new names.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from basewatch.store import UTCDateTime, evidence_digest

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("imagery", "flight", "post", "article", "official", "video", "other")
"""The kind vocabulary as of this revision."""
RENAMED = {"image": "imagery", "track": "flight", "text": "other"}
"""Kinds of the old ``POST /api/evidence`` vocabulary and their new names."""


def _table(claim_column: str) -> sa.TableClause:
    """The evidence columns this revision reads and writes."""
    return sa.table(
        "evidence",
        sa.column("id", sa.Integer()),
        sa.column("site_id", sa.String()),
        sa.column("time", UTCDateTime()),
        sa.column("source", sa.String()),
        sa.column("url", sa.Text()),
        sa.column(claim_column, sa.Text()),
        sa.column("kind", sa.String()),
        sa.column("digest", sa.String()),
    )


def upgrade() -> None:
    """Rename ``text`` to ``claim`` and map the old kinds (re-keying the renamed entries)."""
    with op.batch_alter_table("evidence") as batch:
        batch.alter_column("text", new_column_name="claim", existing_type=sa.Text())
    evidence = _table("claim")
    bind = op.get_bind()
    rows = bind.execute(sa.select(evidence).order_by(evidence.c.id)).mappings().all()
    taken = {row["digest"] for row in rows}
    for row in rows:
        kind = str(row["kind"] or "").strip().lower()
        claim = row["claim"]
        if kind in RENAMED:
            new_kind = RENAMED[kind]
        elif kind in KINDS:
            new_kind = kind
        else:
            new_kind = "other"
            claim = f"{claim} [kind: {row['kind']}]"
        if (new_kind, claim) == (row["kind"], row["claim"]):
            continue
        digest = evidence_digest(
            row["site_id"], row["time"], row["source"], row["url"], claim, new_kind
        )
        if digest in taken:  # an equal entry already exists: keep both rows, old key
            digest = row["digest"]
        taken.add(digest)
        bind.execute(
            sa.update(evidence)
            .where(evidence.c.id == row["id"])
            .values(kind=new_kind, claim=claim, digest=digest)
        )


def downgrade() -> None:
    """Rename ``claim`` back to ``text`` (kinds keep their new names)."""
    with op.batch_alter_table("evidence") as batch:
        batch.alter_column("claim", new_column_name="text", existing_type=sa.Text())

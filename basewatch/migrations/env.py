"""Alembic environment of the basewatch store.

``open_store`` passes an open connection (already in a transaction) through
``config.attributes["connection"]``; otherwise ``sqlalchemy.url`` from the config is used.
SQLite gets batch mode ("move and copy") so later revisions can alter tables portably.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from basewatch.store import Base, UTCDateTime, include_in_schema

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render basewatch's UTCDateTime as a plain timezone-aware DateTime in new revisions."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(dialect_name: str, **kwargs: Any) -> None:
    """Configure the migration context with the basewatch options."""
    context.configure(
        target_metadata=target_metadata,
        render_item=_render_item,
        compare_type=True,
        include_object=include_in_schema(dialect_name),
        **kwargs,
    )


def _run(connection: Connection) -> None:
    """Run the migrations on ``connection``."""
    name = connection.dialect.name
    _configure(name, connection=connection, render_as_batch=name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade --sql``)."""
    url = config.get_main_option("sqlalchemy.url") or ""
    _configure(sa.make_url(url).get_backend_name(), url=url, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the connection given by open_store, or one made from sqlalchemy.url."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=sa.NullPool)
    with engine.begin() as new_connection:
        _run(new_connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

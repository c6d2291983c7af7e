"""Alembic migrations of the basewatch store (``script_location = "basewatch:migrations"``).

:func:`basewatch.store.open_store` runs them programmatically; no ``alembic.ini`` is needed.
To write a new revision against a scratch database::

    from alembic import command
    from basewatch.store import _alembic_config
    cfg = _alembic_config()
    cfg.set_main_option("sqlalchemy.url", "sqlite:///scratch.db")
    command.revision(cfg, "what changed", autogenerate=True, rev_id="0002")
"""

"""The basewatch dashboard and JSON API (FastAPI; install the ``[web]`` extra).

>>> from basewatch.web import create_app
>>> app = create_app("sqlite:///basewatch.db", token="secret")  # doctest: +SKIP

FastAPI and uvicorn are imported only when the app is built or served, so importing
``basewatch`` and ``basewatch --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from basewatch.web.app import create_app, serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    """Load the FastAPI application module lazily."""
    if name in __all__:
        from basewatch.web import app

        return getattr(app, name)
    raise AttributeError(f"module 'basewatch.web' has no attribute {name!r}")

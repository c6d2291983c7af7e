"""basewatch: watch military installations through open satellite imagery and open sources.

The public API is small and imported lazily so that ``import basewatch`` stays fast::

    import basewatch
    registry = basewatch.load_registry("syria-2024")
    summary = basewatch.monitor("syria-2024", "demo-output/catalog/catalog.json",
                                db="sqlite:///demo.db")
    assessment = basewatch.assess(db="sqlite:///demo.db")
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_registry": "basewatch.sites",
    "save_registry": "basewatch.sites",
    "Site": "basewatch.sites",
    "Zone": "basewatch.sites",
    "Registry": "basewatch.sites",
    "open_catalog": "basewatch.imagery.catalog",
    "load_chip": "basewatch.imagery.load",
    "observe": "basewatch.observe",
    "Observation": "basewatch.observe",
    "open_store": "basewatch.store",
    "monitor": "basewatch.pipeline",
    "assess": "basewatch.pipeline",
    "report": "basewatch.pipeline",
    "run_demo": "basewatch.pipeline",
    "BasewatchError": "basewatch.errors",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'basewatch' has no attribute {name!r}")

"""Imagery: find scenes in STAC catalogues and load each zone's pixels as a :class:`Chip`."""

from basewatch.imagery.catalog import Scene, open_catalog
from basewatch.imagery.chip import Chip
from basewatch.imagery.load import load_chip

__all__ = ["Chip", "Scene", "load_chip", "open_catalog"]

"""Context around the imagery: land corridors, aircraft types (more modules move here).

* :mod:`basewatch.context.corridor` — whether a site is still linked by land to its anchor
  place through areas its operator and allies hold, the path, and the chokepoints.
* :mod:`basewatch.context.aircraft_types` — heavy transports, military or civil, from an
  aircraft database, callsign prefixes and ICAO address blocks.

Submodules are imported on demand so that ``import basewatch.context`` stays light.
"""

from __future__ import annotations

__all__ = ["aircraft_types", "corridor"]

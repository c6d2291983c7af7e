"""Context around the imagery: what analysts weighed beside the counts.

* :mod:`basewatch.context.threat` — front lines, weapon ranges, geodesic exposure of sites.
* :mod:`basewatch.context.corridor` — whether a site is still linked by land to its anchor
  place through areas its operator and allies hold, the path, and the chokepoints.
* :mod:`basewatch.context.tracks` — ADS-B states, flights, departures and arrivals at sites.
* :mod:`basewatch.context.aircraft_types` — heavy transports, military or civil, from an
  aircraft database, callsign prefixes and ICAO address blocks.
* :mod:`basewatch.context.indicators` — flight and corridor indicator sentences.
* :mod:`basewatch.context.evidence` — the evidence ledger: graded, cited claims about sites.
* :mod:`basewatch.context.textev` — claims read from articles and posts.
* :mod:`basewatch.context.survey` — statistics of a facility survey and its comparison.

Submodules are imported on demand so that ``import basewatch.context`` stays light.
"""

from __future__ import annotations

__all__ = [
    "aircraft_types",
    "corridor",
    "evidence",
    "indicators",
    "survey",
    "textev",
    "threat",
    "tracks",
]

"""The regional context layer of the maps: land, coastlines, borders and main places, offline.

Read from ``basewatch/data/basemap`` (Natural Earth 1:50m countries as TopoJSON, from the
npm package ``world-atlas``; places of 50,000 people or more from the SimpleMaps World
Cities Database; sources and licences in ``SOURCE.md`` there). Nothing is downloaded.

>>> layer = context_features((35.0, 34.0, 37.0, 36.0))   # doctest: +SKIP
>>> {f["properties"]["role"] for f in layer}              # doctest: +SKIP
{'land', 'place'}
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from shapely.geometry import MultiPolygon, Polygon, box, mapping
from shapely.geometry.base import BaseGeometry

__all__ = ["ATTRIBUTION", "context_bounds", "context_features", "countries", "places"]

ATTRIBUTION = "Natural Earth 1:50m (public domain) via world-atlas; places © SimpleMaps (CC BY 4.0)"
"""Credit line of the context layer for the maps."""

MAX_PLACES = 14
"""Largest places labelled on one map."""
WIDE = 2.2
"""A context box is at least this many times as wide (in degrees) as it is high."""
SIMPLIFY_DEG = 0.002
"""Tolerance (degrees) of the simplified country outlines sent to a map (~200 m)."""


def _data(name: str) -> bytes:
    """Bytes of a gzipped file of ``basewatch/data/basemap``."""
    raw = (resources.files("basewatch") / "data" / "basemap" / name).read_bytes()
    return gzip.decompress(raw)


@lru_cache(maxsize=1)
def countries() -> tuple[tuple[str, BaseGeometry], ...]:
    """``(name, polygon)`` of every country of the shipped Natural Earth 1:50m TopoJSON."""
    topo = json.loads(_data("countries-50m.json.gz"))
    scale = topo.get("transform", {}).get("scale", [1.0, 1.0])
    translate = topo.get("transform", {}).get("translate", [0.0, 0.0])
    arcs = []
    for arc in topo["arcs"]:  # delta-encoded, quantized positions
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * scale[0] + translate[0], y * scale[1] + translate[1]))
        arcs.append(points)

    def ring(indices: Sequence[int]) -> list[tuple[float, float]]:
        coords: list[tuple[float, float]] = []
        for i in indices:
            part = arcs[i] if i >= 0 else arcs[~i][::-1]
            coords.extend(part if not coords else part[1:])
        return coords

    def polygon(rings: Sequence[Sequence[int]]) -> Polygon:
        shell, *holes = (ring(r) for r in rings)
        return Polygon(shell, holes)

    out = []
    for geometry in topo["objects"]["countries"]["geometries"]:
        name = str((geometry.get("properties") or {}).get("name") or "")
        if geometry.get("type") == "Polygon":
            shape: BaseGeometry = polygon(geometry["arcs"])
        elif geometry.get("type") == "MultiPolygon":
            shape = MultiPolygon([polygon(p) for p in geometry["arcs"]])
        else:
            continue
        out.append((name, shape if shape.is_valid else shape.buffer(0)))
    return tuple(out)


@lru_cache(maxsize=1)
def places() -> tuple[tuple[str, float, float, int, str], ...]:
    """``(name, lon, lat, population, country)`` of the shipped places, largest first."""
    text = _data("places.csv.gz").decode("utf-8")
    rows = csv.DictReader(io.StringIO(text))
    return tuple(
        (r["name"], float(r["lon"]), float(r["lat"]), int(r["population"]), r["country"])
        for r in rows
    )


def context_bounds(
    geometries: Sequence[BaseGeometry], *, margin: float = 0.25, min_half_deg: float = 0.35
) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` around ``geometries``, widened by ``margin`` (a share)
    and to at least ``min_half_deg`` degrees each side of the centre, and at least
    :data:`WIDE` times as wide as high (maps are wider than high)."""
    west = min(g.bounds[0] for g in geometries)
    south = min(g.bounds[1] for g in geometries)
    east = max(g.bounds[2] for g in geometries)
    north = max(g.bounds[3] for g in geometries)
    cx, cy = (west + east) / 2, (south + north) / 2
    half_y = max((north - south) / 2 * (1 + margin), min_half_deg)
    half_x = max((east - west) / 2 * (1 + margin), min_half_deg, WIDE * half_y)
    return (cx - half_x, cy - half_y, cx + half_x, cy + half_y)


def context_features(
    bounds: tuple[float, float, float, float], *, max_places: int = MAX_PLACES
) -> list[dict[str, Any]]:
    """GeoJSON features of the context inside ``bounds`` (west, south, east, north).

    Land: one feature per country (``role`` ``land``, ``name``), clipped to the bounds and
    simplified; its outline is the coastline and the borders. Places: the ``max_places``
    most populous inside the bounds (``role`` ``place``, ``name``, ``population``).
    """
    frame = box(*bounds)
    features: list[dict[str, Any]] = []
    for name, shape in countries():
        if not shape.intersects(frame):
            continue
        clipped = shape.intersection(frame).simplify(SIMPLIFY_DEG, preserve_topology=True)
        if clipped.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": mapping(clipped),
                "properties": {"role": "land", "id": f"land-{name}", "name": name},
            }
        )
    west, south, east, north = bounds
    inside = [p for p in places() if west <= p[1] <= east and south <= p[2] <= north]
    for name, lon, lat, population, country in inside[:max_places]:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "role": "place",
                    "id": f"place-{name}",
                    "name": name,
                    "population": population,
                    "country": country,
                },
            }
        )
    return features

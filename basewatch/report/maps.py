"""Site maps for the report and the dashboard: GeoJSON layers and georeferenced chip overlays.

A site map shows, on Leaflet without any basemap tiles, the site point, its zones, the
detections of the latest clear image of each zone drawn over that image (warped onto
Leaflet's Web Mercator grid, see :func:`basewatch.report.chips.render_overlay`), and,
when front lines are given, each front, the geodesic line from the site to its nearest
point and the range rings of the catalogue's weapons around the site
(:mod:`basewatch.context.threat`). The same data drives the offline report (overlays as
``data:`` URIs) and the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shapely.geometry import mapping

from basewatch.errors import ImageryError

if TYPE_CHECKING:
    from basewatch.context.threat import Front, Weapon
    from basewatch.report.chips import ChipImage
    from basewatch.sites import Site, Zone

__all__ = [
    "MAP_MIN_CLEAR",
    "bundled_fronts",
    "front_layers",
    "latest_clear",
    "resolve_front",
    "site_map",
]

MAP_MIN_CLEAR = 0.9
"""An image drawn under a site map must be at least this clear over its zone."""

OverlayReader = Callable[["Zone", Any], "ChipImage"]
"""Reads the map overlay of a zone from one stored observation's scene."""


def bundled_fronts() -> dict[str, Path]:
    """Name -> path of the front files shipped in ``basewatch/data/fronts`` (demo lines)."""
    from importlib import resources

    folder = Path(str(resources.files("basewatch") / "data" / "fronts"))
    return {p.stem: p for p in sorted(folder.glob("*.geojson"))}


def resolve_front(spec: str | Path) -> Path:
    """A front file: an existing path, else a bundled front's name (``syria-2024-12-07``)."""
    from basewatch.context.corridor import bundled_hint
    from basewatch.errors import InputError

    path = Path(spec)
    if path.exists():
        return path
    bundled = bundled_fronts()
    if str(spec) in bundled:
        return bundled[str(spec)]
    raise InputError(
        f"front {str(spec)!r} is neither a file nor a bundled front; {bundled_hint(bundled)}"
    )


def latest_clear(
    observations: Iterable[Any], *, min_clear: float = MAP_MIN_CLEAR
) -> dict[str, Any]:
    """Zone id -> its latest observation with a value and at least ``min_clear`` clear."""
    latest: dict[str, Any] = {}
    for obs in sorted(observations, key=lambda o: o.time):
        if obs.value is not None and obs.clear_fraction >= min_clear:
            latest[obs.zone_id] = obs
    return latest


def _feature(geometry: Any, **properties: Any) -> dict[str, Any]:
    """A GeoJSON feature from a shapely geometry or a GeoJSON geometry mapping."""
    geo = geometry if isinstance(geometry, Mapping) else mapping(geometry)
    return {"type": "Feature", "geometry": dict(geo), "properties": properties}


def _site_features(site: Site, posture: str) -> list[dict[str, Any]]:
    """The site point and its zone polygons."""
    features = [
        _feature(zone.geometry, role="zone", id=zone.id, name=zone.name or zone.id, site=site.id)
        for zone in site.zones
    ]
    lon, lat = site.point
    point = {"type": "Point", "coordinates": [lon, lat]}
    features.append(
        _feature(point, role="site", id=site.id, name=site.name or site.id, posture=posture)
    )
    return features


def _detection_features(zone_id: str, obs: Any) -> list[dict[str, Any]]:
    """The detections of one observation that carry a geographic footprint."""
    out = []
    for i, det in enumerate(obs.detections):
        geometry = det.get("geometry") if isinstance(det, Mapping) else None
        if not isinstance(geometry, Mapping) or not geometry.get("coordinates"):
            continue
        props = det.get("properties") or {}
        label = str(props.get("cls") or "object")
        out.append(
            _feature(
                geometry,
                role="detection",
                id=f"{zone_id}/{obs.scene_id}/{i}",
                name=f"{label} ({obs.sensor}, {obs.time:%Y-%m-%d})",
                zone=zone_id,
                score=props.get("score"),
            )
        )
    return out


def front_layers(
    site: Site, fronts: Sequence[Front], weapons: Sequence[Weapon]
) -> list[dict[str, Any]]:
    """Front lines/areas (every date), the distance lines and the latest front's range rings.

    Features carry ``role`` ``front`` (with ``date``, ``latest``), ``distance`` (with
    ``distance_km``) or ``ring`` (with ``weapon``, ``range_km``, ``in_range``).
    """
    if not fronts:
        return []
    from basewatch.context.threat import exposure_geojson, exposure_over_time

    ordered = sorted(fronts, key=lambda f: f.date)
    features = [
        _feature(
            feature.geometry,
            role="front",
            id=f"front-{front.date}-{feature.index}",
            name=f"front {front.date or '(undated)'}"
            + (f", {feature.controller}" if feature.controller else ""),
            date=front.date,
            latest=front is ordered[-1],
        )
        for front in ordered
        for feature in front.features
    ]
    for layer in exposure_geojson(exposure_over_time([site], ordered, weapons), weapons)[
        "features"
    ]:
        props = layer["properties"]
        if props["layer"] == "distance":
            km = float(props["distance_km"])
            name = f"{km:.1f} km to the front of {props['front_date'] or '(undated)'}"
            features.append(
                _feature(
                    layer["geometry"],
                    role="distance",
                    id=f"distance-{props['front_date']}",
                    name=name,
                    distance_km=km,
                    in_range=list(props["in_range"]),
                    date=props["front_date"],
                    latest=props["front_date"] == ordered[-1].date,
                )
            )
        else:
            reach = "reaches" if props["in_range"] else "does not reach"
            features.append(
                _feature(
                    layer["geometry"],
                    role="ring",
                    id=f"ring-{props['weapon']}",
                    name=f"{props['weapon']}: {props['range_km']:g} km ({reach} from the front)",
                    label=f"{props['weapon']} {props['range_km']:g} km",
                    weapon=props["weapon"],
                    range_km=props["range_km"],
                    in_range=bool(props["in_range"]),
                )
            )
    return features


def context_layer(features: Sequence[Mapping[str, Any]], *, margin: float = 0.25) -> dict[str, Any]:
    """The regional context (land, coastline, borders, main places) around ``features``.

    A FeatureCollection of :func:`basewatch.report.basemap.context_features` over the box
    around every feature (site, zones, fronts, distance lines, range rings), with the
    ``attribution`` of the shipped data. ``margin`` widens the box (a share of its size).
    """
    from shapely.geometry import shape

    from basewatch.report.basemap import ATTRIBUTION, context_bounds, context_features

    shapes = []
    for feature in features:
        role = (feature.get("properties") or {}).get("role")
        if role in {"site", "zone", "distance", "ring", "front"} and feature.get("geometry"):
            shapes.append(shape(feature["geometry"]))
    if not shapes:
        return {"type": "FeatureCollection", "features": [], "attribution": ATTRIBUTION}
    return {
        "type": "FeatureCollection",
        "features": context_features(context_bounds(shapes, margin=margin)),
        "attribution": ATTRIBUTION,
    }


def site_map(
    site: Site,
    observations: Iterable[Any],
    *,
    read_overlay: OverlayReader | None = None,
    overlay_uri: Callable[[ChipImage], str] | None = None,
    posture: str = "unknown",
    fronts: Sequence[Front] = (),
    weapons: Sequence[Weapon] = (),
) -> dict[str, Any]:
    """Data of one site's map: ``{"features": FeatureCollection, "overlays": [...]}``.

    ``observations`` are the site's stored observations; the latest clear one of each zone
    gives the image under that zone (read with ``read_overlay``, whose PNG becomes the
    overlay's ``uri`` through ``overlay_uri``, a ``data:`` URI by default) and the
    detections drawn on it. An image that cannot be read is left out with a ``note``.
    Each overlay is ``{"zone_id", "scene_id", "time", "sensor", "uri", "bounds"}`` with
    ``bounds`` ``[west, south, east, north]`` (EPSG:4326); ``fronts`` lists the date and
    file of each front drawn.
    """
    from basewatch.report.chips import data_uri

    to_uri = overlay_uri or (lambda image: data_uri(image.png))
    features = _site_features(site, posture)
    overlays: list[dict[str, Any]] = []
    notes: list[str] = []
    zones = {z.id: z for z in site.zones}
    for zone_id, obs in sorted(latest_clear(observations).items()):
        if zone_id not in zones:
            continue
        features += _detection_features(zone_id, obs)
        if read_overlay is None:
            continue
        try:
            image = read_overlay(zones[zone_id], obs)
        except ImageryError as exc:
            notes.append(f"zone {zone_id}: image unavailable ({exc})")
            continue
        overlays.append(
            {
                "zone_id": zone_id,
                "scene_id": obs.scene_id,
                "time": f"{obs.time:%Y-%m-%d %H:%M} UTC",
                "sensor": obs.sensor,
                "uri": to_uri(image),
                "bounds": [round(float(b), 7) for b in image.bounds],
            }
        )
    features += front_layers(site, fronts, weapons)
    return {
        "features": {"type": "FeatureCollection", "features": features},
        "context": context_layer(features),
        "overlays": overlays,
        "notes": notes,
        "fronts": [
            {"date": f.date, "file": Path(f.source).name if f.source else ""}
            for f in sorted(fronts, key=lambda f: f.date)
        ],
    }

"""One table of band-name aliases across providers, mapped to basewatch's canonical names."""

from __future__ import annotations

from collections.abc import Mapping

CANONICAL_ALIASES: dict[str, tuple[str, ...]] = {
    "coastal": ("coastal", "B01", "B1"),
    "blue": ("blue", "B02", "B2"),
    "green": ("green", "B03", "B3"),
    "red": ("red", "B04", "B4"),
    "rededge1": ("rededge1", "B05", "B5"),
    "rededge2": ("rededge2", "B06", "B6"),
    "rededge3": ("rededge3", "B07", "B7"),
    "nir": ("nir", "B08", "B8"),
    "nir08": ("nir08", "B8A"),
    "nir09": ("nir09", "B09", "B9"),
    "swir16": ("swir16", "B11"),
    "swir22": ("swir22", "B12"),
    "scl": ("scl", "SCL"),
    "vv": ("vv", "VV"),
    "vh": ("vh", "VH"),
    "hh": ("hh", "HH"),
    "hv": ("hv", "HV"),
    "visual": ("visual", "TCI", "rgb", "image"),
}
"""Canonical band name -> asset keys used by Earth Search v1/v0, Planetary Computer and others."""

_ALIAS_TO_CANONICAL = {a.lower(): c for c, aliases in CANONICAL_ALIASES.items() for a in aliases}

SENSOR_BANDS: dict[str, tuple[str, ...]] = {
    "sentinel-2": ("blue", "green", "red", "nir", "swir16", "scl"),
    "sentinel-1": ("vv", "vh"),
    "highres": ("visual",),
}
"""Bands basewatch loads for each sensor (the first ones are required, see REQUIRED_BANDS)."""

REQUIRED_BANDS: dict[str, tuple[str, ...]] = {
    "sentinel-2": ("blue", "green", "red", "nir"),
    "sentinel-1": ("vv",),
    "highres": ("visual",),
}
"""Bands without which a scene of that sensor cannot be used."""


def canonical_band(asset_key: str) -> str | None:
    """The canonical name of a provider's asset key (``B02`` -> ``blue``), or None if unknown."""
    return _ALIAS_TO_CANONICAL.get(asset_key.lower())


def map_assets(asset_keys: Mapping[str, object] | list[str]) -> dict[str, str]:
    """Map canonical band names to the provider's asset keys present in ``asset_keys``.

    When a provider offers several keys for one band (e.g. ``nir`` and ``B08``), the first
    one in :data:`CANONICAL_ALIASES` order wins.
    """
    keys = list(asset_keys)
    lowered = {k.lower(): k for k in keys}
    out: dict[str, str] = {}
    for canonical, aliases in CANONICAL_ALIASES.items():
        for alias in aliases:
            if alias.lower() in lowered:
                out[canonical] = lowered[alias.lower()]
                break
    return out

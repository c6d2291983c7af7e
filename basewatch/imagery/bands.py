"""One table of band-name aliases across providers, mapped to basewatch's canonical names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

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


# --------------------------------------------------------------------------------------------
# Sentinel-2 scale: recognising reflectance stored otherwise than x 10000
# --------------------------------------------------------------------------------------------

SENTINEL_HUB_RAW_SCALE = 1.0 / 65535.0
"""Reflectance per digital number of Sentinel Hub "Raw" UINT16 exports (reflectance x 65535)."""
MAX_PLAUSIBLE_REFLECTANCE = 1.2
"""The brightest 1 % of a band above this cannot be surface reflectance (L2A clouds and snow
seldom exceed 1.0): the values are scaled otherwise."""
MAX_WATER_NIR = 0.15
"""Near-infrared reflectance that the darkest water pixels (NDWI > 0.3) stay below; far above
0.1 the water is not dark, so the values are scaled or offset otherwise."""
_RAW_NAME = re.compile(r"(_Raw|\(Raw\))\.tiff?$", re.IGNORECASE)
_REFLECTANCE_BANDS = ("blue", "green", "red", "nir", "swir16")


def is_sentinel_hub_raw(name: str) -> bool:
    """Whether a file name is a Sentinel Hub "Raw" export (``..._B04_Raw.tiff``,
    ``..._B04_(Raw).tiff``), whose UINT16 values are reflectance x 65535."""
    return _RAW_NAME.search(name) is not None


def implausible_reflectance(bands: Mapping[str, np.ndarray]) -> str | None:
    """Why Sentinel-2 values (already scaled to reflectance) cannot be reflectance, or None.

    Two tests that hold for any clear or cloudy L2A scene read with the right scale: the
    brightest 1 % of each band is at most :data:`MAX_PLAUSIBLE_REFLECTANCE`, and where the
    image has open water (NDWI > 0.3 on at least 1 % of the pixels) its darkest twentieth is
    below :data:`MAX_WATER_NIR` in the near infrared. Pixels that are zero or not finite
    (no data) are left out.
    """
    for name in _REFLECTANCE_BANDS:
        arr = bands.get(name)
        if arr is None:
            continue
        values = arr[np.isfinite(arr) & (arr > 0)]
        if values.size < 100 or not _percentile_may_exceed(values, 99, MAX_PLAUSIBLE_REFLECTANCE):
            continue
        top = float(np.percentile(values, 99))
        if top > MAX_PLAUSIBLE_REFLECTANCE:
            return f"the brightest 1 % of {name} reads {top:.2f} (reflectance is at most ~1)"
    green, nir = bands.get("green"), bands.get("nir")
    if green is not None and nir is not None and green.shape == nir.shape:
        ok = np.isfinite(green) & np.isfinite(nir) & (green > 0) & (nir > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            water = ok & ((green - nir) / (green + nir) > 0.3)
        if water.sum() >= max(100, 0.01 * ok.sum()) and _percentile_may_exceed(
            nir[water], 5, MAX_WATER_NIR
        ):
            dark = float(np.percentile(nir[water], 5))
            if dark > MAX_WATER_NIR:
                return f"open water reads {dark:.2f} in the near infrared (clear water < 0.05)"
    return None


def _percentile_may_exceed(values: np.ndarray, q: float, limit: float) -> bool:
    """False when ``np.percentile(values, q)`` (linear interpolation) is surely <= ``limit``:
    it lies between the sorted values at ``floor(i)`` and ``floor(i) + 1`` (i = q% of n - 1),
    so it can exceed ``limit`` only when at least ``n - floor(i) - 1`` values do. A count is
    far cheaper than the partial sort the percentile needs, and most chips are plausible."""
    n = values.size
    return int(np.count_nonzero(values > limit)) >= n - int(q / 100 * (n - 1)) - 1


def suggest_scale(bands: Mapping[str, np.ndarray], applied: float) -> float | None:
    """The scale that makes implausible values plausible: x 65535 (Sentinel Hub) when that
    fits, else None. ``bands`` were scaled with ``applied``."""
    factor = SENTINEL_HUB_RAW_SCALE / applied
    rescaled = {k: v * factor for k, v in bands.items() if k in _REFLECTANCE_BANDS}
    if implausible_reflectance(rescaled) is None:
        return SENTINEL_HUB_RAW_SCALE
    return None


def check_s2_reflectance(
    bands: Mapping[str, np.ndarray], *, source: str, applied: float | None
) -> None:
    """Stop with :class:`~basewatch.errors.ImageryError` naming ``source`` and the ``--scale``
    to give when Sentinel-2 values, scaled by ``applied`` (None: the file's own scale), are
    not plausible as reflectance (see :func:`implausible_reflectance`)."""
    from basewatch.errors import ImageryError

    why = implausible_reflectance(bands)
    if why is None:
        return
    scale = suggest_scale(bands, applied) if applied else None
    how = f"x {applied:g}" if applied else "with the file's scale"
    if scale is not None:
        fix = (
            f"give --scale {scale:.5g} if it is a Sentinel Hub UINT16 export (reflectance "
            "x 65535), or the scale the data use"
        )
    else:
        fix = "give the scale the data use with --scale (reflectance per stored value)"
    raise ImageryError(f"{source}: values read {how} are not reflectance: {why}; {fix}")


def s2_file_scale(path: Path, indexes: Mapping[str, int]) -> tuple[float, str | None]:
    """Reflectance per stored value of an integer Sentinel-2 file, and the problem if its
    values are not plausible as reflectance with it (None when they are).

    The file's own scale tag when it has one; 1/65535 for a Sentinel Hub "Raw" export (by
    its name); else 1e-4, checked on a decimated read (at most 256 x 256 pixels) of the
    bands named in ``indexes`` (canonical band -> 1-based band index)."""
    import rasterio

    with rasterio.open(path) as src:
        tags = [float(s) for s in (src.scales or ())]
        own = {tags[i - 1] for b, i in indexes.items() if b != "scl" and 0 < i <= len(tags)}
        if len(own) == 1 and next(iter(own)) != 1.0:
            return next(iter(own)), None
        if is_sentinel_hub_raw(path.name):
            return SENTINEL_HUB_RAW_SCALE, None
        step = max(1, -(-max(src.width, src.height) // 256))
        shape = (max(1, src.height // step), max(1, src.width // step))
        sample = {
            b: src.read(i, out_shape=shape).astype(np.float64) * 1e-4
            for b, i in indexes.items()
            if b in _REFLECTANCE_BANDS
        }
    why = implausible_reflectance(sample)
    if why is None:
        return 1e-4, None
    hint = suggest_scale(sample, 1e-4)
    fix = (
        f"if it is a Sentinel Hub UINT16 export (reflectance x 65535), set its scale "
        f"(gdal_edit.py -scale {hint:.5g}) or name it *_Raw.tif"
        if hint is not None
        else "set the file's scale tag to the reflectance per stored value (gdal_edit.py -scale)"
    )
    return 1e-4, f"{path}: values read as reflectance x 10000 are not reflectance: {why}; {fix}"

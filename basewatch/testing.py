"""Seeded synthetic Earth-observation data: scenes, Cloud-Optimised GeoTIFFs, STAC catalogues.

This is the scene simulator behind ``basewatch demo`` and the test-suite. It renders a
static *layout* (land cover, runways, piers, buildings; shapely polygons in a projected
CRS) plus movable *objects* (aircraft, ships, vehicles) into physically plausible pixels:

* Sentinel-2 L2A-like surface reflectance (``blue``, ``green``, ``red``, ``nir`` at 10 m,
  ``swir16`` and the scene classification ``scl`` at 20 m; uint16 reflectance x 10000),
  with seasonal vegetation, clouds, thin cirrus and cloud shadows;
* Sentinel-1 GRD/RTC-like linear backscatter (``vv``, ``vh``, float32 at 10 m) with
  gamma-distributed speckle;
* sub-metre RGB (uint8 at 0.5 m).

Objects are drawn at their real footprint on a fine sub-grid, area-averaged to the pixel
(partial-pixel mixing), blurred by a Gaussian point-spread function and given sensor
noise. Values follow the physical conventions shared with the detectors (see the
project brief): nothing here is tuned to a particular detector, and no count is ever
written into metadata.

Everything is deterministic: every random draw comes from a generator seeded by the
caller (see :func:`derive_seed`), and the writers put no wall-clock time anywhere, so a
given seed gives byte-identical files.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
import rasterio.features
from affine import Affine
from pyproj import Transformer
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension
from pystac.extensions.sar import FrequencyBand, Polarization, SarExtension
from pystac.extensions.sat import OrbitState, SatExtension
from pystac.extensions.view import ViewExtension
from rasterio.enums import ColorInterp
from scipy import ndimage, sparse
from shapely import affinity
from shapely.geometry import Polygon, box, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from basewatch.errors import InputError

__all__ = [
    "AIRCRAFT_TYPES",
    "MATERIALS",
    "S2_BANDS",
    "SHIP_TYPES",
    "VEHICLE_TYPES",
    "AssetFile",
    "CloudLayers",
    "CloudSpec",
    "CollectionSpec",
    "Feature",
    "Grid",
    "Layout",
    "Material",
    "ProgressFn",
    "S2Render",
    "SceneModel",
    "SceneObject",
    "cloud_layers",
    "derive_seed",
    "highres_item",
    "make_aircraft",
    "make_ship",
    "make_vehicle",
    "object_parts",
    "rng_for",
    "s1_item",
    "s2_item",
    "shadow_vector",
    "sun_position",
    "utm_crs_for",
    "write_catalog",
    "write_cog",
]

S2_BANDS = ("blue", "green", "red", "nir", "swir16")
"""Sentinel-2 reflectance bands the simulator renders (Earth Search v1 asset keys)."""

S2_BAND_INFO: dict[str, tuple[str, float, float, int]] = {
    "blue": ("B02", 0.490, 0.098, 10),
    "green": ("B03", 0.560, 0.045, 10),
    "red": ("B04", 0.665, 0.038, 10),
    "nir": ("B08", 0.842, 0.145, 10),
    "swir16": ("B11", 1.610, 0.143, 20),
}
"""Band -> (ESA band name, centre wavelength um, FWHM um, native resolution m)."""

SCL_NO_DATA, SCL_SATURATED, SCL_DARK, SCL_CLOUD_SHADOW = 0, 1, 2, 3
SCL_VEGETATION, SCL_NOT_VEGETATED, SCL_WATER, SCL_UNCLASSIFIED = 4, 5, 6, 7
SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_THIN_CIRRUS, SCL_SNOW = 8, 9, 10, 11

S2_NOISE = 0.004
"""Standard deviation of Sentinel-2 sensor noise, in reflectance."""
S2_PSF_SIGMA_PX = 0.5
"""Gaussian point-spread function of the 10 m bands, in pixels."""
S1_ENL = 4.5
"""Equivalent number of looks of the simulated GRD speckle."""
S1_PSF_SIGMA_PX = 0.6
"""Gaussian impulse response of the simulated radar, in 10 m pixels."""
SHADOW_DIFFUSE = 0.35
"""Share of the illumination left in a shadow (diffuse sky light)."""


# --------------------------------------------------------------------------- seeds


def derive_seed(*parts: int | float | str) -> int:
    """Return a 63-bit seed derived deterministically from ``parts`` (numbers or strings)."""
    h = hashlib.blake2b(digest_size=8)
    for part in parts:
        h.update(str(part).encode("utf-8"))
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "little") >> 1


def rng_for(*parts: int | float | str) -> np.random.Generator:
    """Return a numpy generator seeded by :func:`derive_seed` of ``parts``."""
    return np.random.default_rng(derive_seed(*parts))


# --------------------------------------------------------------------------- grids


def utm_crs_for(lon: float, lat: float) -> str:
    """Return the WGS84 UTM CRS (``EPSG:326zz`` / ``EPSG:327zz``) containing ``(lon, lat)``."""
    if not (-180.0 <= lon <= 180.0 and -80.0 <= lat <= 84.0):
        raise InputError(
            f"position ({lon}, {lat}) is outside the UTM domain; "
            "give longitude in [-180, 180] and latitude in [-80, 84]"
        )
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


@dataclass(frozen=True, kw_only=True)
class Grid:
    """A north-up pixel grid in a projected CRS."""

    crs: str
    """CRS of the grid, e.g. ``EPSG:32636``."""
    left: float
    """X of the left edge of the first column (metres)."""
    top: float
    """Y of the top edge of the first row (metres)."""
    res: float
    """Pixel size in metres (square pixels)."""
    width: int
    """Number of columns."""
    height: int
    """Number of rows."""

    def __post_init__(self) -> None:
        if self.res <= 0 or self.width <= 0 or self.height <= 0:
            raise InputError(
                f"grid res={self.res}, width={self.width}, height={self.height} is empty; "
                "give a positive resolution and size"
            )

    @classmethod
    def around(
        cls, x: float, y: float, *, size_m: float, res: float, crs: str, align: float = 20.0
    ) -> Grid:
        """Square grid of side ``size_m`` around ``(x, y)``.

        The left and top edges are snapped down to multiples of ``align``, so grids of
        nearby points line up pixel for pixel.
        """
        left = math.floor((x - size_m / 2.0) / align) * align
        top = math.floor((y + size_m / 2.0) / align) * align
        n = int(round(size_m / res))
        return cls(crs=crs, left=left, top=top, res=res, width=n, height=n)

    @classmethod
    def covering(cls, bounds: tuple[float, float, float, float], *, res: float, crs: str) -> Grid:
        """Smallest grid of pixel size ``res`` (edges on multiples of it) covering ``bounds``."""
        minx, miny, maxx, maxy = bounds
        left = math.floor(minx / res) * res
        top = math.ceil(maxy / res) * res
        width = int(math.ceil((maxx - left) / res))
        height = int(math.ceil((top - miny) / res))
        return cls(crs=crs, left=left, top=top, res=res, width=width, height=height)

    @property
    def transform(self) -> Affine:
        """Affine transform pixel (col, row) -> (x, y)."""
        return Affine(self.res, 0.0, self.left, 0.0, -self.res, self.top)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` in the grid CRS."""
        return (
            self.left,
            self.top - self.height * self.res,
            self.left + self.width * self.res,
            self.top,
        )

    def refined(self, factor: int) -> Grid:
        """The same extent with pixels ``factor`` times smaller."""
        return Grid(
            crs=self.crs,
            left=self.left,
            top=self.top,
            res=self.res / factor,
            width=self.width * factor,
            height=self.height * factor,
        )

    def coarsened(self, factor: int) -> Grid:
        """The same origin with pixels ``factor`` times larger (partial edge pixels dropped)."""
        return Grid(
            crs=self.crs,
            left=self.left,
            top=self.top,
            res=self.res * factor,
            width=self.width // factor,
            height=self.height // factor,
        )

    def window(self, row0: int, col0: int, height: int, width: int) -> Grid:
        """Sub-grid starting at pixel ``(row0, col0)``."""
        return Grid(
            crs=self.crs,
            left=self.left + col0 * self.res,
            top=self.top - row0 * self.res,
            res=self.res,
            width=width,
            height=height,
        )

    def mask(self, geometry: BaseGeometry) -> np.ndarray:
        """Boolean array, True where the pixel centre is inside ``geometry`` (grid CRS)."""
        return rasterio.features.geometry_mask(
            [mapping(geometry)], out_shape=self.shape, transform=self.transform, invert=True
        )

    def lonlat_centre(self) -> tuple[float, float]:
        """``(lon, lat)`` of the grid centre."""
        minx, miny, maxx, maxy = self.bounds
        tr = _transformer(self.crs, "EPSG:4326")
        lon, lat = tr.transform((minx + maxx) / 2.0, (miny + maxy) / 2.0)
        return (float(lon), float(lat))

    def footprint_lonlat(self) -> Polygon:
        """Outline of the grid in EPSG:4326 (corners and edge midpoints, 7 decimals)."""
        minx, miny, maxx, maxy = self.bounds
        xs = [minx, (minx + maxx) / 2, maxx, maxx, maxx, (minx + maxx) / 2, minx, minx]
        ys = [miny, miny, miny, (miny + maxy) / 2, maxy, maxy, maxy, (miny + maxy) / 2]
        lon, lat = _transformer(self.crs, "EPSG:4326").transform(xs, ys)
        return Polygon([(round(a, 7), round(b, 7)) for a, b in zip(lon, lat, strict=True)])


_TRANSFORMERS: dict[tuple[str, str], Transformer] = {}


def _transformer(src: str, dst: str) -> Transformer:
    key = (src, dst)
    if key not in _TRANSFORMERS:
        _TRANSFORMERS[key] = Transformer.from_crs(src, dst, always_xy=True)
    return _TRANSFORMERS[key]


def _block_mean(a: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks of the last two axes (sizes must divide)."""
    if factor == 1:
        return a
    *lead, h, w = a.shape
    return a.reshape(*lead, h // factor, factor, w // factor, factor).mean(axis=(-3, -1))


# --------------------------------------------------------------------------- sun


def sun_position(lon: float, lat: float, when: datetime) -> tuple[float, float]:
    """Solar ``(azimuth, elevation)`` in degrees (azimuth clockwise from north).

    NOAA general solar position formulas; accurate to a fraction of a degree, plenty
    for shadows. ``when`` must be timezone-aware (UTC).
    """
    if when.tzinfo is None:
        raise InputError(f"time {when!r} has no timezone; pass an aware UTC datetime")
    doy = when.timetuple().tm_yday
    offset = when.utcoffset() or timedelta(0)
    hour = when.hour + when.minute / 60.0 + when.second / 3600.0 - offset.total_seconds() / 3600.0
    g = 2.0 * math.pi / 365.0 * (doy - 1 + (hour - 12.0) / 24.0)
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    eqtime = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    true_solar_min = hour * 60.0 + eqtime + 4.0 * lon
    ha = math.radians(true_solar_min / 4.0 - 180.0)
    phi = math.radians(lat)
    cos_zen = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(ha)
    zen = math.acos(max(-1.0, min(1.0, cos_zen)))
    az = math.degrees(
        math.atan2(math.sin(ha), math.cos(ha) * math.sin(phi) - math.tan(decl) * math.cos(phi))
    )
    return ((az + 180.0) % 360.0, 90.0 - math.degrees(zen))


def shadow_vector(azimuth: float, elevation: float) -> tuple[float, float]:
    """Ground offset ``(dx, dy)`` of the shadow of a point 1 m above ground (grid axes)."""
    length = 1.0 / math.tan(math.radians(max(elevation, 3.0)))
    away = math.radians(azimuth + 180.0)
    return (length * math.sin(away), length * math.cos(away))


# --------------------------------------------------------------------------- materials


@dataclass(frozen=True, kw_only=True)
class Material:
    """Optical, radar and visual properties of a surface."""

    s2: tuple[float, float, float, float, float]
    """Surface reflectance in blue, green, red, nir, swir16."""
    s1: tuple[float, float]
    """Mean linear backscatter (vv, vh); for water the value at a 'normal' wind."""
    rgb: tuple[int, int, int]
    """Colour in sub-metre true-colour imagery (0-255)."""
    texture: float = 0.03
    """Relative standard deviation of the surface's spatial texture."""
    water: str = ""
    """``sea`` or ``harbour`` for water surfaces (backscatter follows the wind), else ''."""


MATERIALS: dict[str, Material] = {
    "sea": Material(
        s2=(0.06, 0.05, 0.03, 0.02, 0.01),
        s1=(0.01, 0.002),
        rgb=(28, 58, 78),
        texture=0.02,
        water="sea",
    ),
    "harbour": Material(
        s2=(0.065, 0.062, 0.042, 0.024, 0.012),
        s1=(0.0035, 0.0008),
        rgb=(38, 64, 70),
        texture=0.02,
        water="harbour",
    ),
    "land": Material(
        s2=(0.07, 0.09, 0.11, 0.25, 0.28), s1=(0.08, 0.015), rgb=(122, 112, 88), texture=0.07
    ),
    "soil": Material(
        s2=(0.10, 0.13, 0.17, 0.24, 0.32), s1=(0.06, 0.012), rgb=(150, 128, 100), texture=0.06
    ),
    "crop": Material(
        s2=(0.03, 0.06, 0.04, 0.38, 0.19), s1=(0.12, 0.03), rgb=(62, 96, 46), texture=0.08
    ),
    "orchard": Material(
        s2=(0.05, 0.07, 0.07, 0.28, 0.22), s1=(0.15, 0.035), rgb=(78, 92, 60), texture=0.09
    ),
    "grass": Material(
        s2=(0.08, 0.10, 0.13, 0.24, 0.30), s1=(0.06, 0.012), rgb=(142, 134, 98), texture=0.05
    ),
    "concrete": Material(
        s2=(0.20, 0.20, 0.20, 0.22, 0.25), s1=(0.025, 0.004), rgb=(166, 165, 160), texture=0.03
    ),
    "asphalt": Material(
        s2=(0.07, 0.08, 0.09, 0.11, 0.13), s1=(0.02, 0.003), rgb=(74, 74, 76), texture=0.04
    ),
    "paint": Material(
        s2=(0.45, 0.45, 0.45, 0.45, 0.40), s1=(0.025, 0.004), rgb=(235, 235, 230), texture=0.02
    ),
    "gravel": Material(
        s2=(0.15, 0.17, 0.20, 0.26, 0.32), s1=(0.07, 0.014), rgb=(158, 148, 128), texture=0.05
    ),
    "berm": Material(
        s2=(0.11, 0.13, 0.16, 0.24, 0.31), s1=(0.12, 0.022), rgb=(138, 120, 96), texture=0.06
    ),
    "sand": Material(
        s2=(0.17, 0.20, 0.24, 0.29, 0.36), s1=(0.05, 0.008), rgb=(204, 188, 152), texture=0.03
    ),
    "roof_light": Material(
        s2=(0.26, 0.27, 0.28, 0.30, 0.34), s1=(0.5, 0.08), rgb=(196, 192, 186), texture=0.04
    ),
    "roof_dark": Material(
        s2=(0.10, 0.10, 0.11, 0.13, 0.16), s1=(0.4, 0.06), rgb=(96, 92, 90), texture=0.04
    ),
    "roof_red": Material(
        s2=(0.10, 0.12, 0.20, 0.25, 0.30), s1=(0.45, 0.07), rgb=(166, 96, 76), texture=0.05
    ),
    "greenhouse": Material(
        s2=(0.30, 0.32, 0.33, 0.36, 0.35), s1=(0.2, 0.03), rgb=(214, 218, 220), texture=0.05
    ),
    "urban": Material(
        s2=(0.13, 0.14, 0.15, 0.20, 0.24), s1=(0.4, 0.07), rgb=(150, 144, 138), texture=0.10
    ),
    "breakwater": Material(
        s2=(0.18, 0.18, 0.18, 0.20, 0.22), s1=(0.35, 0.06), rgb=(172, 168, 160), texture=0.08
    ),
    "pier": Material(
        s2=(0.19, 0.19, 0.19, 0.21, 0.24), s1=(0.05, 0.008), rgb=(160, 160, 155), texture=0.03
    ),
    "steel": Material(
        s2=(0.24, 0.22, 0.16, 0.24, 0.26), s1=(6.0, 1.0), rgb=(196, 170, 60), texture=0.05
    ),
    "shelter": Material(
        s2=(0.22, 0.22, 0.22, 0.24, 0.27), s1=(0.6, 0.1), rgb=(176, 172, 164), texture=0.03
    ),
    "containers": Material(
        s2=(0.15, 0.15, 0.17, 0.20, 0.22), s1=(0.8, 0.15), rgb=(150, 112, 100), texture=0.15
    ),
    "tank_roof": Material(
        s2=(0.32, 0.33, 0.34, 0.36, 0.38), s1=(0.3, 0.05), rgb=(222, 222, 218), texture=0.02
    ),
}
"""Surface materials by name (reflectances follow the shared physical conventions)."""

VEGETATION = MATERIALS["crop"]
"""Green-vegetation end member mixed into features that carry a phenology."""

_WATER_KINDS = ("sea", "harbour")
_HARBOUR_WIND_FACTOR = 0.35
"""Sheltered harbour water backscatters this share of open sea at the same wind."""


@dataclass(frozen=True, kw_only=True)
class Feature:
    """A static surface patch of the layout (painted in order: later features cover earlier)."""

    geometry: BaseGeometry
    """Polygon(s) in the layout CRS."""
    material: str
    """Key of :data:`MATERIALS`."""
    tone: float = 1.0
    """Brightness multiplier (parcel-to-parcel variation)."""
    vegetation: tuple[float, float, float] | None = None
    """Phenology ``(mean cover, seasonal amplitude, day of year of the peak)``, or None."""
    height_m: float = 0.0
    """Height above ground; features taller than 0 cast shadows."""

    def __post_init__(self) -> None:
        if self.material not in MATERIALS:
            raise InputError(
                f"feature material {self.material!r} is unknown; use one of {sorted(MATERIALS)}"
            )


@dataclass(frozen=True, kw_only=True)
class Layout:
    """The static world around a site, in one projected CRS."""

    crs: str
    """Projected CRS of every geometry, e.g. ``EPSG:32636``."""
    background: str = "land"
    """Material where no feature is painted."""
    features: tuple[Feature, ...] = ()
    """Features in painting order."""
    seed: int = 0
    """Seed of the static texture."""


# --------------------------------------------------------------------------- objects

AIRCRAFT_TYPES: dict[str, dict[str, float]] = {
    "fighter": {
        "length": 22.0,
        "span": 14.0,
        "fuselage": 3.0,
        "root": 0.42,
        "tip": 0.12,
        "sweep": 42.0,
        "wing_at": 0.05,
        "tail_span": 0.55,
        "tail_chord": 0.13,
        "height": 2.5,
    },
    "il76": {
        "length": 47.0,
        "span": 50.0,
        "fuselage": 6.8,
        "root": 0.26,
        "tip": 0.09,
        "sweep": 25.0,
        "wing_at": 0.08,
        "tail_span": 0.35,
        "tail_chord": 0.10,
        "height": 6.0,
    },
    "an124": {
        "length": 69.0,
        "span": 73.0,
        "fuselage": 7.3,
        "root": 0.25,
        "tip": 0.08,
        "sweep": 32.0,
        "wing_at": 0.10,
        "tail_span": 0.36,
        "tail_chord": 0.09,
        "height": 8.0,
    },
    "airliner": {
        "length": 37.6,
        "span": 35.8,
        "fuselage": 4.0,
        "root": 0.19,
        "tip": 0.06,
        "sweep": 25.0,
        "wing_at": 0.08,
        "tail_span": 0.34,
        "tail_chord": 0.09,
        "height": 4.0,
    },
}
"""Plan-view geometry of aircraft classes (lengths in m; chords relative to the length)."""

SHIP_TYPES: dict[str, dict[str, float]] = {
    "frigate": {"length": 135.0, "beam": 16.0, "height": 6.0, "top_height": 18.0},
    "submarine": {"length": 74.0, "beam": 10.0, "height": 2.5, "top_height": 7.0},
    "landing_ship": {"length": 112.0, "beam": 15.0, "height": 6.0, "top_height": 14.0},
    "corvette": {"length": 100.0, "beam": 13.0, "height": 5.0, "top_height": 15.0},
    "auxiliary": {"length": 75.0, "beam": 14.0, "height": 5.0, "top_height": 12.0},
    "merchant": {"length": 160.0, "beam": 25.0, "height": 9.0, "top_height": 22.0},
    "tug": {"length": 28.0, "beam": 9.0, "height": 3.0, "top_height": 7.0},
}
"""Default size of ship classes (m); the factory accepts other lengths."""

VEHICLE_TYPES: dict[str, dict[str, float]] = {
    "launcher": {"length": 12.0, "width": 3.0, "height": 3.6},
    "radar": {"length": 10.0, "width": 4.0, "height": 3.8},
    "truck": {"length": 8.0, "width": 2.5, "height": 3.0},
}
"""Size of vehicle classes (m)."""


@dataclass(frozen=True, kw_only=True)
class SceneObject:
    """A movable object (aircraft, ship, vehicle) and how every sensor sees it."""

    cls: str
    """Class, e.g. ``fighter``, ``il76``, ``frigate``, ``launcher``."""
    kind: str
    """``aircraft``, ``ship`` or ``vehicle``."""
    x: float
    """Centre X in the layout CRS (m)."""
    y: float
    """Centre Y in the layout CRS (m)."""
    heading_deg: float
    """Direction of the nose / bow, degrees clockwise from grid north."""
    length_m: float
    """Overall length (m)."""
    width_m: float
    """Overall width: wing span for aircraft, beam for ships (m)."""
    height_m: float
    """Height of the main body above ground or water (shadow length)."""
    top_height_m: float = 0.0
    """Height of the superstructure / top part, when it has one."""
    s2: tuple[float, float, float, float, float]
    """Reflectance of the body in blue, green, red, nir, swir16."""
    s2_top: tuple[float, float, float, float, float] | None = None
    """Reflectance of the superstructure, when it has one."""
    vv: float
    """Radar backscatter (vv, linear) averaged over the footprint."""
    vh_ratio: float = 0.2
    """vh / vv of the object."""
    rgb: tuple[int, int, int]
    """Colour of the body in sub-metre imagery."""
    rgb_top: tuple[int, int, int] | None = None
    """Colour of the superstructure in sub-metre imagery."""

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (class, kind, centre, heading, size)."""
        return {
            "class": self.cls,
            "kind": self.kind,
            "x": round(self.x, 2),
            "y": round(self.y, 2),
            "heading_deg": round(self.heading_deg % 360.0, 1),
            "length_m": round(self.length_m, 1),
            "width_m": round(self.width_m, 1),
        }


def _place(shape: BaseGeometry, x: float, y: float, heading_deg: float) -> BaseGeometry:
    """Rotate a shape drawn nose-up (+y) about the origin to ``heading_deg`` and move it."""
    rotated = affinity.rotate(shape, -heading_deg, origin=(0.0, 0.0))
    return affinity.translate(rotated, x, y)


def _aircraft_shape(cls: str, length: float, span: float) -> Polygon:
    p = AIRCRAFT_TYPES.get(cls, AIRCRAFT_TYPES["airliner"])
    half_l, half_s = length / 2.0, span / 2.0
    fw = p["fuselage"] * length / p["length"] / 2.0
    fuselage = Polygon(
        [
            (0.0, half_l),
            (fw, half_l - 2.5 * fw),
            (fw, -half_l + 3 * fw),
            (0.3 * fw, -half_l),
            (-0.3 * fw, -half_l),
            (-fw, -half_l + 3 * fw),
            (-fw, half_l - 2.5 * fw),
        ]
    )
    root = p["root"] * length
    tip = p["tip"] * length
    le_root = p["wing_at"] * length
    le_tip = le_root - (half_s - fw) * math.tan(math.radians(p["sweep"]))
    wing = Polygon(
        [
            (-half_s, le_tip),
            (0.0, le_root),
            (half_s, le_tip),
            (half_s, le_tip - tip),
            (0.0, le_root - root),
            (-half_s, le_tip - tip),
        ]
    )
    ts = p["tail_span"] * span / 2.0
    tc = p["tail_chord"] * length
    tail_le = -half_l + 1.6 * tc
    tail = Polygon(
        [
            (-ts, tail_le - 0.6 * tc),
            (0.0, tail_le),
            (ts, tail_le - 0.6 * tc),
            (ts, tail_le - 1.4 * tc),
            (-ts, tail_le - 1.4 * tc),
        ]
    )
    shape = unary_union([fuselage, wing, tail])
    minx, miny, maxx, maxy = shape.bounds  # stretch exactly to the nominal length and span
    shape = affinity.scale(shape, span / (maxx - minx), length / (maxy - miny), origin=(0, 0))
    return affinity.translate(shape, 0.0, -(shape.bounds[1] + shape.bounds[3]) / 2.0)


def _ship_shapes(cls: str, length: float, beam: float) -> tuple[Polygon, Polygon | None]:
    hl, hb = length / 2.0, beam / 2.0
    if cls == "submarine":
        n = 24
        pts = []
        for i in range(n + 1):
            t = math.pi * i / n
            pts.append((hb * math.sin(t) ** 0.7, hl * math.cos(t)))
        pts += [(-px, py) for px, py in reversed(pts[1:-1])]
        body = Polygon(pts)
        top = box(-0.22 * beam, 0.02 * length, 0.22 * beam, 0.16 * length)
        return body, top
    bow = 0.22 * length if cls != "tug" else 0.3 * length
    body = Polygon(
        [
            (0.0, hl),
            (hb * 0.55, hl - bow * 0.45),
            (hb, hl - bow),
            (hb, -hl + 0.04 * length),
            (hb * 0.85, -hl),
            (-hb * 0.85, -hl),
            (-hb, -hl + 0.04 * length),
            (-hb, hl - bow),
            (-hb * 0.55, hl - bow * 0.45),
        ]
    )
    if cls == "merchant":
        top = box(-hb * 0.95, -hl + 0.05 * length, hb * 0.95, -hl + 0.14 * length)
    elif cls == "auxiliary":
        top = box(-hb * 0.7, -hl + 0.12 * length, hb * 0.7, -hl + 0.35 * length)
    elif cls == "landing_ship":
        top = box(-hb * 0.65, -hl + 0.15 * length, hb * 0.65, -hl + 0.45 * length)
    else:
        top = box(-hb * 0.6, -0.12 * length, hb * 0.6, 0.16 * length)
    return body, top


def _vehicle_shapes(cls: str, length: float, width: float) -> tuple[Polygon, Polygon | None]:
    hl, hw = length / 2.0, width / 2.0
    body = box(-hw, -hl, hw, hl)
    if cls == "launcher":
        top = box(-hw * 0.8, -hl + 0.2, hw * 0.8, hl * 0.35)  # canister block over the rear
    elif cls == "radar":
        top = box(-hw * 0.9, -hl * 0.6, hw * 0.9, hl * 0.2)  # antenna array
    else:
        top = box(-hw * 0.9, hl * 0.45, hw * 0.9, hl)  # cab
    return body, top


def object_parts(obj: SceneObject) -> tuple[BaseGeometry, BaseGeometry | None]:
    """Footprint of ``obj`` and of its superstructure (or None), in the layout CRS."""
    top: BaseGeometry | None
    if obj.kind == "aircraft":
        body: BaseGeometry = _aircraft_shape(obj.cls, obj.length_m, obj.width_m)
        top = None
    elif obj.kind == "ship":
        body, top = _ship_shapes(obj.cls, obj.length_m, obj.width_m)
    else:
        body, top = _vehicle_shapes(obj.cls, obj.length_m, obj.width_m)
    placed_top = None if top is None else _place(top, obj.x, obj.y, obj.heading_deg)
    return _place(body, obj.x, obj.y, obj.heading_deg), placed_top


def _grey(level: float) -> tuple[float, float, float, float, float]:
    return (level, level, level, level + 0.02, level * 0.9 + 0.03)


def make_aircraft(
    cls: str,
    *,
    x: float,
    y: float,
    heading_deg: float,
    rng: np.random.Generator,
    ground: str = "concrete",
) -> SceneObject:
    """An aircraft of class ``cls`` (see :data:`AIRCRAFT_TYPES`) parked on ``ground``.

    The airframe is grey: its reflectance differs from the ground by 0.08-0.25, brighter
    three times in four; radar backscatter 0.8-3 over the footprint.
    """
    if cls not in AIRCRAFT_TYPES:
        raise InputError(f"aircraft class {cls!r} is unknown; use one of {sorted(AIRCRAFT_TYPES)}")
    p = AIRCRAFT_TYPES[cls]
    base = float(np.mean(MATERIALS[ground].s2[:3]))
    brighter = rng.random() < 0.75
    delta = float(rng.uniform(0.08, 0.25)) if brighter else -float(rng.uniform(0.08, 0.13))
    level = max(0.05, base + delta)
    grey = int(np.clip(level / 0.45 * 255.0 * 0.85 + rng.normal(0, 6), 40, 235))
    return SceneObject(
        cls=cls,
        kind="aircraft",
        x=x,
        y=y,
        heading_deg=heading_deg % 360.0,
        length_m=p["length"],
        width_m=p["span"],
        height_m=p["height"],
        s2=_grey(level),
        vv=float(rng.uniform(0.8, 3.0)),
        vh_ratio=0.15,
        rgb=(grey, grey, min(255, grey + 4)),
    )


def make_ship(
    cls: str,
    *,
    x: float,
    y: float,
    heading_deg: float,
    rng: np.random.Generator,
    length_m: float | None = None,
    beam_m: float | None = None,
) -> SceneObject:
    """A ship of class ``cls`` (see :data:`SHIP_TYPES`), optionally with its own size.

    Hull reflectance 0.10-0.20 in the visible and 0.12-0.25 in nir, superstructure
    brighter; radar backscatter 1-10 over the footprint (larger ships brighter).
    """
    if cls not in SHIP_TYPES:
        raise InputError(f"ship class {cls!r} is unknown; use one of {sorted(SHIP_TYPES)}")
    p = SHIP_TYPES[cls]
    length = float(length_m if length_m is not None else p["length"])
    beam = float(beam_m if beam_m is not None else p["beam"])
    vis = float(rng.uniform(0.10, 0.13) if cls == "submarine" else rng.uniform(0.11, 0.20))
    nir = float(np.clip(vis + rng.uniform(0.01, 0.06), 0.12, 0.25))
    hull = (vis * 1.02, vis, vis * 0.97, nir, nir * 0.9)
    top_level = float(rng.uniform(0.26, 0.36))
    top = (top_level, top_level, top_level * 0.98, top_level + 0.02, top_level * 0.9)
    size = min(1.0, length / 160.0)
    vv = float(np.exp(rng.uniform(math.log(1.0), math.log(2.0 + 8.0 * size))))
    hull_grey = int(np.clip(vis * 700, 50, 150))
    top_grey = int(np.clip(top_level * 620, 150, 235))
    return SceneObject(
        cls=cls,
        kind="ship",
        x=x,
        y=y,
        heading_deg=heading_deg % 360.0,
        length_m=length,
        width_m=beam,
        height_m=p["height"],
        top_height_m=p["top_height"],
        s2=hull,
        s2_top=top,
        vv=vv,
        vh_ratio=0.2,
        rgb=(hull_grey, hull_grey + 4, hull_grey + 8),
        rgb_top=(top_grey, top_grey, top_grey - 4),
    )


def make_vehicle(
    cls: str, *, x: float, y: float, heading_deg: float, rng: np.random.Generator
) -> SceneObject:
    """A military vehicle of class ``cls`` (see :data:`VEHICLE_TYPES`), olive drab.

    Bright point target in radar: backscatter 10-30 over a ~36 m^2 footprint, i.e. 1-5 in
    the one to three 10 m pixels it lights.
    """
    if cls not in VEHICLE_TYPES:
        raise InputError(f"vehicle class {cls!r} is unknown; use one of {sorted(VEHICLE_TYPES)}")
    p = VEHICLE_TYPES[cls]
    k = float(rng.uniform(0.9, 1.1))
    return SceneObject(
        cls=cls,
        kind="vehicle",
        x=x,
        y=y,
        heading_deg=heading_deg % 360.0,
        length_m=p["length"],
        width_m=p["width"],
        height_m=p["height"],
        top_height_m=p["height"] + 0.5,
        s2=(0.07 * k, 0.085 * k, 0.075 * k, 0.24 * k, 0.20 * k),
        s2_top=(0.08 * k, 0.095 * k, 0.08 * k, 0.26 * k, 0.21 * k),
        vv=float(np.exp(rng.uniform(math.log(10.0), math.log(30.0)))),
        vh_ratio=0.2,
        rgb=(80, 90, 60),
        rgb_top=(92, 102, 70),
    )


# --------------------------------------------------------------------------- clouds


@dataclass(frozen=True, kw_only=True)
class CloudSpec:
    """Clouds over one scene."""

    cover: float
    """Share of the scene under (cumulus) cloud, 0-1; 1 is overcast."""
    cirrus: float = 0.0
    """Peak opacity of thin cirrus streaks (0-0.5)."""
    scale_m: float = 900.0
    """Typical size of cloud blobs (m)."""
    height_m: float = 1500.0
    """Cloud height above ground (m); sets the shadow offset."""
    brightness: float = 1.0
    """Multiplier of cloud-top reflectance (0.8-1.15)."""
    seed: int = 0
    """Seed of the cloud pattern."""

    def __post_init__(self) -> None:
        if not (0.0 <= self.cover <= 1.0 and 0.0 <= self.cirrus <= 1.0):
            raise InputError(
                f"cloud cover={self.cover}, cirrus={self.cirrus} out of range; "
                "give values in [0, 1]"
            )


@dataclass(frozen=True, kw_only=True)
class CloudLayers:
    """Cloud fields on a scene's grid (0-1 each)."""

    cloud: np.ndarray
    """Opacity of cumulus cloud."""
    cirrus: np.ndarray
    """Opacity of thin cirrus."""
    shadow: np.ndarray
    """Depth of cloud shadow on the ground."""


def _smooth_noise(
    shape: tuple[int, ...], sigma: Sequence[float] | float, rng: np.random.Generator
) -> np.ndarray:
    noise = ndimage.gaussian_filter(
        rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap"
    )
    return (noise - noise.mean()) / (noise.std() + 1e-12)


def _linear_weights(coords: np.ndarray, n: int) -> sparse.csr_matrix:
    """Sparse matrix that linearly interpolates samples ``0..n-1`` at ``coords`` (clamped)."""
    c = np.clip(coords, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(c).astype(np.int64), n - 2) if n > 1 else np.zeros(c.size, np.int64)
    w1 = c - i0 if n > 1 else np.zeros(c.size)
    rows = np.repeat(np.arange(c.size), 2)
    cols = np.column_stack([i0, np.minimum(i0 + 1, n - 1)]).ravel()
    vals = np.column_stack([1.0 - w1, w1]).ravel()
    return sparse.csr_matrix((vals, (rows, cols)), shape=(c.size, n))


def cloud_layers(
    spec: CloudSpec | None, grid: Grid, *, azimuth: float, elevation: float
) -> CloudLayers:
    """Cumulus, cirrus and cloud-shadow fields of ``spec`` on ``grid`` for the given sun.

    The pattern is built on a coarse padded domain (so shadows of clouds just outside
    the scene fall inside it) and interpolated to the grid.
    """
    if spec is None or (spec.cover <= 0.0 and spec.cirrus <= 0.0):
        zero = np.zeros(grid.shape, np.float32)
        return CloudLayers(cloud=zero, cirrus=zero.copy(), shadow=zero.copy())
    rng = np.random.default_rng(spec.seed)
    dx, dy = shadow_vector(azimuth, elevation)
    sx, sy = dx * spec.height_m, dy * spec.height_m
    cell = 40.0
    minx, miny, maxx, maxy = grid.bounds
    pad = max(abs(sx), abs(sy)) + 600.0
    nx = int(math.ceil((maxx - minx + 2 * pad) / cell))
    ny = int(math.ceil((maxy - miny + 2 * pad) / cell))
    s = max(spec.scale_m / cell / 2.5, 1.0)
    field = (
        _smooth_noise((ny, nx), s, rng)
        + 0.5 * _smooth_noise((ny, nx), s / 2.0, rng)
        + 0.25 * _smooth_noise((ny, nx), max(s / 4.0, 0.7), rng)
    )
    field /= field.std()
    cols = (np.arange(grid.width) + 0.5) * grid.res + minx
    rows = maxy - (np.arange(grid.height) + 0.5) * grid.res

    def sample(a: np.ndarray, offx: float, offy: float) -> np.ndarray:
        wx = _linear_weights((cols - offx - (minx - pad)) / cell - 0.5, a.shape[1])
        wy = _linear_weights(((maxy + pad) - (rows - offy)) / cell - 0.5, a.shape[0])
        return np.asarray(wx @ (wy @ a).T).T.astype(np.float32)

    inside = sample(field, 0.0, 0.0)
    if spec.cover >= 0.999:
        cloud_c = np.clip(0.92 + 0.08 * field, 0.7, 1.0).astype(np.float32)
    elif spec.cover <= 0.0:
        cloud_c = np.zeros_like(field)
    else:
        thr = float(np.quantile(inside, 1.0 - spec.cover))
        cloud_c = (np.clip((field - thr) / 0.7, 0.0, 1.0) ** 0.6).astype(np.float32)
    cloud = sample(cloud_c, 0.0, 0.0)
    shadow = sample(cloud_c, sx, sy) * (1.0 - cloud)
    if spec.cirrus > 0.0:
        angle = float(rng.uniform(0, 180))
        streak = _smooth_noise((ny, nx), (s * 0.4, s * 2.5), rng)
        streak = ndimage.rotate(streak, angle, reshape=False, mode="wrap", order=1)
        cirrus_c = spec.cirrus * np.clip(0.55 + 0.45 * streak, 0.0, 1.0)
        cirrus = sample(cirrus_c.astype(np.float32), 0.0, 0.0)
    else:
        cirrus = np.zeros(grid.shape, np.float32)
    return CloudLayers(cloud=cloud, cirrus=cirrus, shadow=shadow.astype(np.float32))


# --------------------------------------------------------------------------- rendering

_C_S2 = slice(0, 5)
"""Columns of the static maps: reflectance of the bare material (5 bands)."""
_C_S2VEG = slice(5, 20)
"""Phenology coefficients of the reflectance (5 bands x 3 harmonics)."""
_C_S1 = slice(20, 22)
"""Mean backscatter of land surfaces (vv, vh)."""
_C_S1VEG = slice(22, 28)
"""Phenology coefficients of the backscatter (2 polarisations x 3 harmonics)."""
_C_SEA = 28
"""Share of open sea."""
_C_HARBOUR = 29
"""Share of sheltered harbour water."""
_C_TEXTURE = 30
"""Relative texture amplitude."""
_NCOLS = 31


def _phenology(when: datetime) -> np.ndarray:
    w = 2.0 * math.pi * when.timetuple().tm_yday / 365.25
    return np.array([1.0, math.cos(w), math.sin(w)], np.float32)


def _feature_table(layout: Layout) -> np.ndarray:
    """Per-feature attributes (row 0 = background), columns ``_C_*``."""
    rows = (
        [Feature(geometry=Polygon(), material=layout.background)]
        if layout.background in MATERIALS
        else []
    )
    if not rows:
        raise InputError(
            f"layout background {layout.background!r} is unknown; use one of {sorted(MATERIALS)}"
        )
    feats = rows + list(layout.features)
    table = np.zeros((len(feats), _NCOLS), np.float64)
    veg_s2 = np.array(VEGETATION.s2)
    veg_s1 = np.array(VEGETATION.s1)
    for i, f in enumerate(feats):
        m = MATERIALS[f.material]
        s2 = np.array(m.s2) * f.tone
        table[i, _C_S2] = s2
        if m.water:
            table[i, _C_SEA if m.water == "sea" else _C_HARBOUR] = 1.0
        else:
            table[i, _C_S1] = np.array(m.s1) * f.tone
        if f.vegetation is not None and not m.water:
            base, amp, peak = f.vegetation
            w = 2.0 * math.pi * peak / 365.25
            coeffs = np.array([base, amp * math.cos(w), amp * math.sin(w)])
            table[i, _C_S2VEG] = (np.outer((veg_s2 - np.array(m.s2)) * f.tone, coeffs)).ravel()
            table[i, _C_S1VEG] = (np.outer((veg_s1 - np.array(m.s1)) * f.tone, coeffs)).ravel()
        table[i, _C_TEXTURE] = m.texture
    return table


def _feature_index(layout: Layout, grid: Grid) -> np.ndarray:
    shapes = [
        (mapping(f.geometry), i + 1)
        for i, f in enumerate(layout.features)
        if not f.geometry.is_empty
    ]
    if not shapes:
        return np.zeros(grid.shape, np.int32)
    return rasterio.features.rasterize(
        shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="int32"
    )


def _tall_pixels(index: np.ndarray, heights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows, columns and heights of the pixels whose visible feature stands above ground."""
    if not (heights > 0).any():
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32)
    h = heights[index]
    rows, cols = np.nonzero(h > 0)
    return rows, cols, h[rows, cols]


@dataclass(frozen=True, kw_only=True)
class S2Render:
    """One rendered Sentinel-2 scene."""

    bands: dict[str, np.ndarray]
    """Asset key -> array: uint16 reflectance x 10000 (blue..nir 10 m, swir16 20 m), scl uint8."""
    clouds: CloudLayers
    """Cloud fields at 10 m (ground truth)."""
    cloud_cover: float
    """Percentage of the scene's SCL pixels classed cloud (8, 9) or thin cirrus (10)."""
    sun: tuple[float, float]
    """Solar ``(azimuth, elevation)`` in degrees."""


@dataclass(frozen=True, kw_only=True)
class _Layers:
    rows: slice
    cols: slice
    body: np.ndarray
    top: np.ndarray
    shadow: np.ndarray


class SceneModel:
    """A :class:`Layout` on one grid, with its static maps cached, ready to render scenes.

    For grids of 2 m pixels or more (Sentinel-1/2) the layout is rasterised on a
    sub-grid and area-averaged (land-cover mixing inside pixels); finer grids (sub-metre
    imagery) are rasterised directly.
    """

    def __init__(self, layout: Layout, grid: Grid, *, supersample: int | None = None) -> None:
        if layout.crs != grid.crs:
            raise InputError(
                f"layout CRS {layout.crs} differs from grid CRS {grid.crs}; "
                "build both in the same projected CRS"
            )
        self.layout = layout
        self.grid = grid
        self.lonlat = grid.lonlat_centre()
        self._table = _feature_table(layout)
        heights = np.array([0.0] + [f.height_m for f in layout.features], np.float32)
        self._shadow_cache: dict[tuple[int, int], np.ndarray] = {}
        rng = rng_for("texture", layout.seed, grid.left, grid.top, grid.res)
        if grid.res >= 2.0:
            self.sub = supersample or max(1, int(round(grid.res / 2.0)))
            fine = grid.refined(self.sub)
            idx = _feature_index(layout, fine)
            self._tall_px = _tall_pixels(idx, heights)
            h, w = grid.shape
            block = (np.arange(h * self.sub) // self.sub)[:, None] * w + (
                np.arange(w * self.sub) // self.sub
            )[None, :]
            weights = sparse.csr_matrix(
                (np.ones(idx.size, np.float32), (block.ravel(), idx.ravel())),
                shape=(h * w, self._table.shape[0]),
            )
            maps = np.asarray(weights @ self._table) / float(self.sub * self.sub)
            self._maps = maps.T.reshape(_NCOLS, h, w).astype(np.float32)
            self._index: np.ndarray | None = None
            self._noise = (
                0.75 * _smooth_noise(grid.shape, 0.7, rng)
                + 0.66 * _smooth_noise(grid.shape, 3.0, rng)
            ).astype(np.float32)
        else:
            self.sub = 1
            self._index = _feature_index(layout, grid)
            self._tall_px = _tall_pixels(self._index, heights)
            self._maps = np.zeros((0,), np.float32)
            small = (max(grid.height // 16, 4), max(grid.width // 16, 4))
            coarse = _smooth_noise(small, 1.5, rng)
            zoom = (grid.height / small[0], grid.width / small[1])
            self._noise = (
                0.6 * ndimage.zoom(coarse, zoom, order=1)[: grid.height, : grid.width]
                + 0.8 * rng.standard_normal(grid.shape, dtype=np.float32)
            ).astype(np.float32)

    # ----- static maps

    @property
    def water_fraction(self) -> np.ndarray:
        """Share of each pixel covered by water (sea or harbour)."""
        return self._maps[_C_SEA] + self._maps[_C_HARBOUR]

    def s2_surface(self, when: datetime) -> np.ndarray:
        """Surface reflectance (5, h, w) on ``when``: land cover, phenology, texture."""
        phi = _phenology(when)
        veg = self._maps[_C_S2VEG].reshape(5, 3, *self.grid.shape)
        refl = self._maps[_C_S2] + np.tensordot(phi, veg, axes=([0], [1]))
        tex = 1.0 + self._maps[_C_TEXTURE] * self._noise
        return (refl * tex[None]).astype(np.float32)

    def s1_surface(self, when: datetime, *, sea_vv: float, moisture: float) -> np.ndarray:
        """Mean backscatter (2, h, w) (vv, vh) on ``when`` for a sea state and soil moisture."""
        phi = _phenology(when)
        veg = self._maps[_C_S1VEG].reshape(2, 3, *self.grid.shape)
        land = self._maps[_C_S1] + np.tensordot(phi, veg, axes=([0], [1]))
        land *= moisture * (1.0 + 1.5 * self._maps[_C_TEXTURE] * self._noise)[None]
        water_vv = (
            self._maps[_C_SEA] * sea_vv + self._maps[_C_HARBOUR] * sea_vv * _HARBOUR_WIND_FACTOR
        )
        out = np.empty((2, *self.grid.shape), np.float32)
        out[0] = land[0] + water_vv
        out[1] = land[1] + water_vv * 0.2
        return np.maximum(out, 1e-5)

    def static_shadow(self, azimuth: float, elevation: float) -> np.ndarray:
        """Share of each pixel in the shadow of tall layout features for this sun.

        Each tall feature's visible pixels (on the fine sub-grid) are swept away from the
        sun up to ``height / tan(elevation)``, so shadows stay attached to their feature.
        """
        dx, dy = shadow_vector(azimuth, elevation)
        key = (int(round(dx * 20)), int(round(dy * 20)))
        if key in self._shadow_cache:
            return self._shadow_cache[key]
        rows, cols, heights = self._tall_px
        if rows.size == 0:
            out = np.zeros(self.grid.shape, np.float32)
        else:
            qx, qy = key[0] / 20.0, key[1] / 20.0
            fine_res = self.grid.res / self.sub
            shape = (self.grid.height * self.sub, self.grid.width * self.sub)
            length_px = float(heights.max()) * math.hypot(qx, qy) / fine_res
            steps = int(min(48, max(1, math.ceil(length_px / 2.0))))
            shade = np.zeros(shape, bool)
            for k in range(1, steps + 1):
                reach = heights * (k / steps / fine_res)
                r = rows - np.rint(qy * reach).astype(np.int64)
                c = cols + np.rint(qx * reach).astype(np.int64)
                ok = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
                shade[r[ok], c[ok]] = True
            shade[rows, cols] = False
            out = _block_mean(shade.astype(np.float32), self.sub)
        self._shadow_cache[key] = out
        return out

    # ----- objects

    def _object_layers(
        self, obj: SceneObject, vec: tuple[float, float] | None, sub: int
    ) -> _Layers | None:
        body, top = object_parts(obj)
        shadows = []
        if vec is not None:
            shadows.append(affinity.translate(body, vec[0] * obj.height_m, vec[1] * obj.height_m))
            if top is not None and obj.top_height_m > 0:
                th = obj.top_height_m
                shadows.append(affinity.translate(top, vec[0] * th, vec[1] * th))
        parts = [body, *shadows]
        minx, miny, maxx, maxy = unary_union(parts).bounds
        g = self.grid
        c0 = max(int(math.floor((minx - g.left) / g.res)) - 1, 0)
        c1 = min(int(math.ceil((maxx - g.left) / g.res)) + 1, g.width)
        r0 = max(int(math.floor((g.top - maxy) / g.res)) - 1, 0)
        r1 = min(int(math.ceil((g.top - miny) / g.res)) + 1, g.height)
        if c1 <= c0 or r1 <= r0:
            return None
        win = g.window(r0, c0, r1 - r0, c1 - c0).refined(sub)
        shapes: list[tuple[Any, int]] = [(mapping(s), 3) for s in shadows]
        shapes.append((mapping(body), 1))
        if top is not None:
            shapes.append((mapping(top), 2))
        raster = rasterio.features.rasterize(
            shapes, out_shape=win.shape, transform=win.transform, fill=0, dtype="uint8"
        )
        return _Layers(
            rows=slice(r0, r1),
            cols=slice(c0, c1),
            body=_block_mean((raster == 1).astype(np.float32), sub),
            top=_block_mean((raster == 2).astype(np.float32), sub),
            shadow=_block_mean((raster == 3).astype(np.float32), sub),
        )

    # ----- sensors

    def render_s2(
        self,
        *,
        when: datetime,
        objects: Sequence[SceneObject] = (),
        clouds: CloudSpec | None = None,
        seed: int = 0,
    ) -> S2Render:
        """Render a Sentinel-2 L2A-like scene (see :class:`S2Render`)."""
        self._require_coarse("render_s2")
        rng = np.random.default_rng(seed)
        az, el = sun_position(*self.lonlat, when)
        refl = self.s2_surface(when)
        refl *= (1.0 - (1.0 - SHADOW_DIFFUSE) * self.static_shadow(az, el))[None]
        vec = shadow_vector(az, el)
        sub = max(1, int(round(self.grid.res)))
        for obj in objects:
            lay = self._object_layers(obj, vec, sub)
            if lay is None:
                continue
            win = refl[:, lay.rows, lay.cols]
            body_only = np.clip(lay.body, 0, 1)
            ground = 1.0 - body_only - lay.top - lay.shadow * (1.0 - SHADOW_DIFFUSE)
            top_refl = obj.s2_top if obj.s2_top is not None else obj.s2
            refl[:, lay.rows, lay.cols] = (
                win * ground[None]
                + np.asarray(obj.s2, np.float32)[:, None, None] * body_only[None]
                + np.asarray(top_refl, np.float32)[:, None, None] * lay.top[None]
            )
        gain = 1.0 + rng.normal(0.0, 0.012)
        haze = np.array([0.006, 0.004, 0.002, 0.0, 0.0], np.float32) * float(rng.random())
        refl = refl * gain + haze[:, None, None]
        for b in range(5):
            refl[b] = ndimage.gaussian_filter(refl[b], S2_PSF_SIGMA_PX, mode="nearest")
        surface20 = _block_mean(refl, 2)
        layers = cloud_layers(clouds, self.grid, azimuth=az, elevation=el)
        refl = _apply_clouds(refl, layers, clouds)
        refl += rng.normal(0.0, S2_NOISE, refl.shape).astype(np.float32)
        swir = ndimage.gaussian_filter(refl[4], 0.8, mode="nearest")
        swir20 = _block_mean(swir, 2)
        lay20 = CloudLayers(
            cloud=_block_mean(layers.cloud, 2),
            cirrus=_block_mean(layers.cirrus, 2),
            shadow=_block_mean(layers.shadow, 2),
        )
        scl = _scene_classification(surface20, _block_mean(self.water_fraction, 2), lay20, rng)
        bands = {name: _to_dn(refl[i]) for i, name in enumerate(S2_BANDS[:4])}
        bands["swir16"] = _to_dn(swir20)
        bands["scl"] = scl
        cloudy = np.isin(scl, (SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH, SCL_THIN_CIRRUS))
        return S2Render(
            bands=bands,
            clouds=layers,
            cloud_cover=round(float(cloudy.mean()) * 100.0, 2),
            sun=(round(az, 2), round(el, 2)),
        )

    def render_s1(
        self,
        *,
        when: datetime,
        objects: Sequence[SceneObject] = (),
        sea_vv: float = 0.01,
        moisture: float = 1.0,
        seed: int = 0,
    ) -> dict[str, np.ndarray]:
        """Render a Sentinel-1 IW GRD-like scene: ``{"vv": float32, "vh": float32}`` (linear)."""
        self._require_coarse("render_s1")
        rng = np.random.default_rng(seed)
        clutter = self.s1_surface(when, sea_vv=sea_vv, moisture=moisture)
        targets = np.zeros_like(clutter)
        sub = max(1, int(round(self.grid.res)))
        for obj in objects:
            lay = self._object_layers(obj, None, sub)
            if lay is None:
                continue
            cover = np.clip(lay.body + lay.top, 0.0, 1.0)
            hot = np.exp(rng.normal(0.0, 0.5, cover.shape)).astype(np.float32)
            strength = obj.vv * (lay.body + 1.8 * lay.top) * hot
            clutter[:, lay.rows, lay.cols] *= (1.0 - cover)[None]
            targets[0, lay.rows, lay.cols] += strength
            targets[1, lay.rows, lay.cols] += strength * obj.vh_ratio
        out: dict[str, np.ndarray] = {}
        floor = (0.0015, 0.0008)
        for i, name in enumerate(("vv", "vh")):
            c = ndimage.gaussian_filter(clutter[i], S1_PSF_SIGMA_PX, mode="nearest")
            t = ndimage.gaussian_filter(targets[i], S1_PSF_SIGMA_PX, mode="nearest")
            speckle = rng.standard_gamma(S1_ENL, c.shape, dtype=np.float32) / S1_ENL
            steady = rng.standard_gamma(12.0, c.shape, dtype=np.float32) / 12.0
            noise = floor[i] / S1_ENL * rng.standard_gamma(S1_ENL, c.shape, dtype=np.float32)
            out[name] = (c * speckle + t * steady + noise).astype(np.float32)
        return out

    def render_highres(
        self, *, when: datetime, objects: Sequence[SceneObject] = (), seed: int = 0
    ) -> np.ndarray:
        """Render a sub-metre true-colour image: uint8 array (3, h, w) (red, green, blue)."""
        if self._index is None:
            raise InputError(
                f"render_highres needs a sub-metre grid, got res={self.grid.res} m; "
                "build the SceneModel on a grid finer than 2 m"
            )
        rng = np.random.default_rng(seed)
        az, el = sun_position(*self.lonlat, when)
        table = self._rgb_table(when)
        tex_amp = np.array(
            [MATERIALS[self.layout.background].texture]
            + [MATERIALS[f.material].texture for f in self.layout.features],
            np.float32,
        )
        tex = np.take(1.5 * tex_amp, self._index)
        tex *= self._noise
        tex += 1.0
        shadow = self.static_shadow(az, el)
        if shadow.any():
            tex *= 1.0 - (1.0 - SHADOW_DIFFUSE) * shadow
        img = np.empty((3, *self.grid.shape), np.float32)
        for b in range(3):
            np.take(table[:, b], self._index, out=img[b])
            img[b] *= tex
        del tex
        vec = shadow_vector(az, el)
        for obj in objects:
            lay = self._object_layers(obj, vec, 2)
            if lay is None:
                continue
            win = img[:, lay.rows, lay.cols]
            ground = 1.0 - lay.body - lay.top - lay.shadow * (1.0 - SHADOW_DIFFUSE)
            top_rgb = obj.rgb_top if obj.rgb_top is not None else obj.rgb
            img[:, lay.rows, lay.cols] = (
                win * ground[None]
                + np.asarray(obj.rgb, np.float32)[:, None, None] * lay.body[None]
                + np.asarray(top_rgb, np.float32)[:, None, None] * lay.top[None]
            )
        out = np.empty(img.shape, np.uint8)
        band = np.empty(self.grid.shape, np.float32)
        for b in range(3):
            ndimage.gaussian_filter(img[b], 0.6, output=band, mode="nearest")
            noise = rng.standard_normal(self.grid.shape, dtype=np.float32)
            noise *= 2.5
            band += noise
            np.rint(band, out=band)
            np.clip(band, 1, 255, out=band)
            out[b] = band
        return out

    def _rgb_table(self, when: datetime) -> np.ndarray:
        phi = _phenology(when)
        veg = np.array(VEGETATION.rgb, np.float64)
        feats = [
            Feature(geometry=Polygon(), material=self.layout.background),
            *self.layout.features,
        ]
        table = np.empty((len(feats), 3), np.float32)
        for i, f in enumerate(feats):
            rgb = np.array(MATERIALS[f.material].rgb, np.float64)
            if f.vegetation is not None:
                base, amp, peak = f.vegetation
                w = 2.0 * math.pi * peak / 365.25
                v = base + amp * (math.cos(w) * phi[1] + math.sin(w) * phi[2])
                rgb = rgb * (1 - v) + veg * v
            table[i] = rgb * f.tone
        return table

    def _require_coarse(self, what: str) -> None:
        if self._index is not None:
            raise InputError(
                f"{what} needs a grid of 2 m pixels or more, got res={self.grid.res} m; "
                "build the SceneModel on a 10 m grid"
            )


def _apply_clouds(refl: np.ndarray, layers: CloudLayers, spec: CloudSpec | None) -> np.ndarray:
    if spec is None:
        return refl
    bright = spec.brightness
    cloud_top = np.array([0.62, 0.60, 0.60, 0.62, 0.45], np.float32) * bright
    cirrus_top = np.array([0.34, 0.33, 0.33, 0.33, 0.22], np.float32)
    shadow = 1.0 - 0.7 * layers.shadow
    out = refl * shadow[None]
    out = out * (1.0 - layers.cirrus)[None] + cirrus_top[:, None, None] * layers.cirrus[None]
    thick = (0.78 + 0.22 * layers.cloud)[None] * cloud_top[:, None, None]
    return out * (1.0 - layers.cloud)[None] + thick * layers.cloud[None]


def _scene_classification(
    surface: np.ndarray, water: np.ndarray, clouds: CloudLayers, rng: np.random.Generator
) -> np.ndarray:
    """Sen2Cor-like SCL from the cloud-free surface and the cloud fields (20 m)."""
    blue, green, red, nir, _swir = surface
    ndvi = (nir - red) / (nir + red + 1e-6)
    scl = np.full(blue.shape, SCL_NOT_VEGETATED, np.uint8)
    scl[ndvi > 0.4] = SCL_VEGETATION
    scl[((blue + green + red) / 3.0 < 0.035) & (water < 0.5)] = SCL_DARK
    scl[(water >= 0.5) & (nir < 0.09)] = SCL_WATER
    jitter = 0.04 * _smooth_noise(blue.shape, 1.0, rng)  # fuzzy class edges

    def flagged(layer: np.ndarray, threshold: float) -> np.ndarray:
        return (layer > 0.02) & (layer + jitter > threshold)

    scl[flagged(clouds.shadow, 0.35)] = SCL_CLOUD_SHADOW
    scl[flagged(clouds.cirrus, 0.08)] = SCL_THIN_CIRRUS
    scl[flagged(clouds.cloud, 0.25)] = SCL_CLOUD_MEDIUM
    scl[flagged(clouds.cloud, 0.6)] = SCL_CLOUD_HIGH
    scl[rng.random(blue.shape) < 0.002] = SCL_UNCLASSIFIED
    return scl


def _to_dn(refl: np.ndarray) -> np.ndarray:
    """Reflectance -> uint16 DN (x 10000), 0 kept for nodata."""
    return np.clip(np.rint(refl * 10000.0), 1, 65535).astype(np.uint16)


# --------------------------------------------------------------------------- COGs


def write_cog(
    path: Path,
    data: np.ndarray,
    *,
    grid: Grid,
    nodata: float | None = None,
    resampling: str = "average",
    colorinterp: Sequence[str] | None = None,
    jpeg_quality: int | None = None,
) -> None:
    """Write ``data`` ((h, w) or (bands, h, w)) as a Cloud-Optimised GeoTIFF on ``grid``.

    Deflate compression with a predictor (or, with ``jpeg_quality``, lossy JPEG as
    providers use for 8-bit true-colour products), internal tiles (128 px, or 256 px for
    large rasters) and overviews (``resampling``: ``average`` for values, ``nearest`` for
    classes). GDAL writes no timestamp, so the same array gives the same bytes.
    """
    arr = data[None] if data.ndim == 2 else data
    if arr.shape[1:] != grid.shape:
        raise InputError(
            f"array shape {arr.shape[1:]} for {path} does not match grid shape {grid.shape}; "
            "render on the same grid you write"
        )
    if jpeg_quality is not None and (arr.dtype != np.uint8 or nodata is not None):
        raise InputError(
            f"JPEG compression of {path} needs uint8 data without nodata (got {arr.dtype}, "
            f"nodata={nodata}); use deflate (jpeg_quality=None) for other rasters"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    block = 128 if max(grid.shape) <= 1024 else 256
    options: dict[str, Any]
    if jpeg_quality is not None:
        options = {"compress": "jpeg", "quality": int(jpeg_quality)}
    else:
        predictor = 3 if np.issubdtype(arr.dtype, np.floating) else 2
        options = {"compress": "deflate", "predictor": predictor}
    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=grid.width,
        height=grid.height,
        count=arr.shape[0],
        dtype=arr.dtype.name,
        crs=grid.crs,
        transform=grid.transform,
        nodata=nodata,
        blocksize=block,
        overview_resampling=resampling,
        overviews="auto",
        **options,
    ) as dst:
        dst.write(arr)
        if colorinterp is not None:
            dst.colorinterp = [ColorInterp[c] for c in colorinterp]


# --------------------------------------------------------------------------- STAC


@dataclass(frozen=True, kw_only=True)
class AssetFile:
    """A COG on disk and what a STAC asset says about it."""

    key: str
    """Asset key, e.g. ``red``."""
    path: Path
    """Absolute path of the COG."""
    grid: Grid
    """Grid of the raster."""
    data_type: str
    """``uint8``, ``uint16`` or ``float32``."""
    nodata: float | None = None
    """Nodata value, if any."""
    title: str = ""
    """Human-readable title."""
    bands: tuple[dict[str, Any], ...] = ()
    """eo:bands entries (name, common_name, center_wavelength, full_width_half_max)."""
    scale: float | None = None
    """raster:bands scale (e.g. 0.0001 for reflectance)."""
    roles: tuple[str, ...] = ("data",)
    """Asset roles."""


def _transform_list(grid: Grid) -> list[float]:
    t = grid.transform
    return [t.a, t.b, t.c, t.d, t.e, t.f]


def _make_item(
    *,
    item_id: str,
    when: datetime,
    grid: Grid,
    properties: Mapping[str, Any],
    assets: Sequence[AssetFile],
) -> pystac.Item:
    footprint = grid.footprint_lonlat()
    bbox = [round(v, 7) for v in footprint.bounds]
    item = pystac.Item(
        id=item_id,
        geometry=mapping(footprint),
        bbox=bbox,
        datetime=when,
        properties=dict(properties),
    )
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code = grid.crs
    EOExtension.add_to(item)
    RasterExtension.add_to(item)
    for spec in assets:
        asset = pystac.Asset(
            href=str(spec.path),
            media_type=pystac.MediaType.COG,
            roles=list(spec.roles),
            title=spec.title or None,
        )
        item.add_asset(spec.key, asset)
        aproj = ProjectionExtension.ext(asset)
        aproj.shape = [spec.grid.height, spec.grid.width]
        aproj.transform = _transform_list(spec.grid)
        if spec.bands:
            EOExtension.ext(asset).bands = [Band.create(**b) for b in spec.bands]
        rb = RasterBand.create(
            nodata=spec.nodata,
            data_type=DataType(spec.data_type),
            spatial_resolution=spec.grid.res,
            scale=spec.scale,
            offset=0.0 if spec.scale is not None else None,
        )
        n = max(1, len(spec.bands))
        RasterExtension.ext(asset).bands = [rb] * n
    return item


def s2_item(
    *,
    item_id: str,
    when: datetime,
    grid: Grid,
    platform: str,
    cloud_cover: float,
    sun: tuple[float, float],
    files: Mapping[str, Path],
    extra: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """STAC item of a Sentinel-2 L2A scene with Earth Search v1 asset keys.

    ``grid`` is the 10 m grid; ``files`` maps ``blue, green, red, nir, swir16, scl`` to COGs.
    """
    grid20 = grid.coarsened(2)
    assets: list[AssetFile] = []
    for key in (*S2_BANDS, "scl"):
        if key not in files:
            raise InputError(f"Sentinel-2 item {item_id} lacks asset {key!r}; write all bands")
        if key == "scl":
            assets.append(
                AssetFile(
                    key=key,
                    path=files[key],
                    grid=grid20,
                    data_type="uint8",
                    nodata=0,
                    title="Scene classification map (SCL)",
                )
            )
            continue
        esa, wl, fwhm, res = S2_BAND_INFO[key]
        assets.append(
            AssetFile(
                key=key,
                path=files[key],
                grid=grid if res == 10 else grid20,
                data_type="uint16",
                nodata=0,
                title=f"{key.capitalize()} ({esa}) - {res}m",
                bands=(
                    {
                        "name": esa,
                        "common_name": key,
                        "center_wavelength": wl,
                        "full_width_half_max": fwhm,
                    },
                ),
                scale=0.0001,
                roles=("data", "reflectance"),
            )
        )
    props: dict[str, Any] = {
        "platform": platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "gsd": 10,
        "eo:cloud_cover": cloud_cover,
        "view:sun_azimuth": sun[0],
        "view:sun_elevation": sun[1],
        "s2:processing_baseline": "05.10",
    }
    props.update(extra or {})
    item = _make_item(item_id=item_id, when=when, grid=grid, properties=props, assets=assets)
    ViewExtension.add_to(item)
    return item


def s1_item(
    *,
    item_id: str,
    when: datetime,
    grid: Grid,
    platform: str,
    orbit_state: str,
    relative_orbit: int,
    files: Mapping[str, Path],
    extra: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """STAC item of a Sentinel-1 IW GRD scene (``vv``, ``vh`` linear backscatter on ``grid``).

    The rasters are terrain-corrected onto a map grid, so the item says
    ``basewatch:georeferencing: grid`` (real GRD products are georeferenced by GCPs).
    """
    assets = [
        AssetFile(
            key=k,
            path=files[k],
            grid=grid,
            data_type="float32",
            nodata=0,
            title=f"{k.upper()}: {k[0].upper()}-transmit {k[1].upper()}-receive (linear)",
        )
        for k in ("vv", "vh")
    ]
    props: dict[str, Any] = {
        "platform": platform,
        "constellation": "sentinel-1",
        "instruments": ["c-sar"],
        "gsd": 10,
        "basewatch:georeferencing": "grid",
    }
    props.update(extra or {})
    item = _make_item(item_id=item_id, when=when, grid=grid, properties=props, assets=assets)
    SarExtension.ext(item, add_if_missing=True).apply(
        instrument_mode="IW",
        frequency_band=FrequencyBand.C,
        polarizations=[Polarization.VV, Polarization.VH],
        product_type="GRD",
        center_frequency=5.405,
    )
    SatExtension.ext(item, add_if_missing=True).apply(
        orbit_state=OrbitState(orbit_state), relative_orbit=relative_orbit
    )
    EOExtension.remove_from(item)
    return item


def highres_item(
    *,
    item_id: str,
    when: datetime,
    grid: Grid,
    platform: str,
    constellation: str,
    sun: tuple[float, float],
    path: Path,
    extra: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """STAC item of a sub-metre true-colour image (asset ``visual``, 3-band uint8)."""
    bands = (
        {"name": "red", "common_name": "red"},
        {"name": "green", "common_name": "green"},
        {"name": "blue", "common_name": "blue"},
    )
    assets = [
        AssetFile(
            key="visual",
            path=path,
            grid=grid,
            data_type="uint8",
            nodata=0,
            title="True colour image",
            bands=bands,
            roles=("visual", "data"),
        )
    ]
    props: dict[str, Any] = {
        "platform": platform,
        "constellation": constellation,
        "gsd": grid.res,
        "eo:cloud_cover": 0.0,
        "view:sun_azimuth": sun[0],
        "view:sun_elevation": sun[1],
    }
    props.update(extra or {})
    item = _make_item(item_id=item_id, when=when, grid=grid, properties=props, assets=assets)
    ViewExtension.add_to(item)
    return item


@dataclass(frozen=True, kw_only=True)
class CollectionSpec:
    """A collection to write: id, description and its items."""

    id: str
    """Collection id, e.g. ``sentinel-2-l2a``."""
    title: str
    """Human-readable title."""
    description: str
    """Description."""
    items: Sequence[pystac.Item] = field(default_factory=tuple)
    """Items, in the order they are written."""


def write_catalog(
    root: Path,
    *,
    catalog_id: str,
    description: str,
    collections: Sequence[CollectionSpec],
    title: str = "",
) -> Path:
    """Write a self-contained static STAC catalogue at ``root``; return ``catalog.json``.

    Items are laid out as ``<collection>/<item>/<item>.json``; asset hrefs (absolute
    paths on input) are made relative, so the folder can be moved or served as is.
    """
    catalog = pystac.Catalog(id=catalog_id, description=description, title=title or None)
    for spec in collections:
        if not spec.items:
            continue
        bboxes = np.array([it.bbox for it in spec.items])
        times = sorted(it.datetime for it in spec.items if it.datetime is not None)
        extent = pystac.Extent(
            pystac.SpatialExtent(
                [
                    [
                        float(bboxes[:, 0].min()),
                        float(bboxes[:, 1].min()),
                        float(bboxes[:, 2].max()),
                        float(bboxes[:, 3].max()),
                    ]
                ]
            ),
            pystac.TemporalExtent([[times[0], times[-1]]]),
        )
        coll = pystac.Collection(
            id=spec.id,
            description=spec.description,
            extent=extent,
            title=spec.title,
            license="CC0-1.0",
        )
        coll.add_items(spec.items)
        catalog.add_child(coll)
    catalog.normalize_hrefs(str(root))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


ProgressFn = Callable[[int, int], None]
"""Callback ``progress(done, total)`` used by builders of simulated data."""

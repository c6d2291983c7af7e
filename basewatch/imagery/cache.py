"""On-disk cache of loaded chips, so that a rerun reads nothing it already has.

A chip is stored as one ``.npz`` file named by a hash of what determines its pixels: the
item id, the asset hrefs (without query strings, so re-signed Planetary Computer URLs
still hit), the band scales, the zone geometry and the target grid (CRS, transform, size).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from affine import Affine
from shapely.geometry.base import BaseGeometry

CACHE_VERSION = 2
"""Bumped whenever the loader's output for the same inputs changes.

2: 16-bit and float sub-metre visual assets are stretched per file
(``aircraft.asset_stretch``) instead of divided by 65535.
"""


def default_cache_dir() -> Path:
    """``$BASEWATCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/basewatch``, else ``~/.cache/basewatch``."""
    explicit = os.environ.get("BASEWATCH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "basewatch"


def _strip_query(href: str) -> str:
    parts = urlsplit(href)
    if parts.scheme in ("http", "https"):
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return href


def chip_key(
    *,
    scene_id: str,
    assets: dict[str, str],
    scales: dict[str, tuple[float, float]],
    geometry: BaseGeometry,
    crs: str,
    transform: Affine,
    width: int,
    height: int,
) -> str:
    """A stable hex digest of everything that determines a chip's pixels."""
    payload = {
        "v": CACHE_VERSION,
        "scene": scene_id,
        "assets": {k: _strip_query(v) for k, v in sorted(assets.items())},
        "scales": {k: list(v) for k, v in sorted(scales.items())},
        "zone": geometry.wkb_hex,
        "grid": [crs, list(transform)[:6], width, height],
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _path(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / f"{key}.npz"


def read_cached(
    cache_dir: Path, key: str
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray] | None:
    """``(bands, valid, zone_mask)`` stored under ``key``, or None (absent or unreadable)."""
    path = _path(cache_dir, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            bands = {k[5:]: npz[k] for k in npz.files if k.startswith("band:")}
            return bands, npz["valid"].astype(bool), npz["zone_mask"].astype(bool)
    except (OSError, ValueError, KeyError):  # a truncated or foreign file: read the image again
        return None


def write_cached(
    cache_dir: Path,
    key: str,
    bands: dict[str, np.ndarray],
    valid: np.ndarray,
    zone_mask: np.ndarray,
) -> None:
    """Store a chip under ``key`` atomically (write to a temporary file, then rename).

    A cache that cannot be written (read-only disk, disk full) is silently skipped: the
    chip was loaded, only the next run will read it again.
    """
    path = _path(cache_dir, key)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    arrays: dict[str, Any] = {f"band:{k}": v for k, v in bands.items()}
    arrays["valid"], arrays["zone_mask"] = valid, zone_mask
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)

"""Ships in Sentinel-2 images with the project's own trained detector (ONNX Runtime only).

The model (``basewatch/models/ships_s2.onnx``, trained by :mod:`basewatch.train.ships`) is
the shared CenterNet-style network (:mod:`basewatch.detect.centernet`) run at 10 m on the
blue, green, red, near-infrared and (when present) SWIR 1.6 um reflectances (0-1 floats).
The shipped 1.0.0 network needs blue, green, red and nir; an image that lacks one of them
runs the shipped two-stage detector (:data:`PARTIAL_MODEL`) instead. A network trained with band
dropout (``basewatch train ships --detector cnn``, metadata ``missing_value``) takes a
missing band as :data:`MISSING` (-1) and works from the others, and so does the two-stage
detector (``--detector two-stage``, :func:`_two_stage`); both need at least one of
:data:`MIN_BANDS`. Its normalisation is inside the ONNX graph and fixed
(log reflectance, local contrast, NDWI/MNDWI, band availability), so it does not depend on
the scene's mix of land and water and works the same on a whole port and on a small pipeline
chip. Its heatmap has one cell per 10 m pixel, so ships moored side by side 20-30 m apart
keep their own peaks.

Around the network: unusable pixels are filled with the scene's median, the image is
resampled to the model's 10 m when its pixels differ (e.g. 7.9 m EPSG:3857 pixels at
Piraeus), tiled, decoded, and detections are kept only when their centre is a usable pixel
within :data:`NEAR_WATER_M` of water (moored ships are land for a water index; ships far
inland are not ships).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from basewatch.detect import Detection
from basewatch.detect._common import check_mask, check_pixel_size
from basewatch.detect.centernet import (
    ModelInfo,
    TileSpec,
    centre_inside,
    open_model,
    resample,
    run_tiled,
    to_detection,
)
from basewatch.errors import InputError

NAME = "s2-ships-cnn"
"""Detector name recorded with every observation."""
VERSION = "1.0.0"
"""Detector version; part of an observation's identity."""

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "ships_s2.onnx"
"""The model shipped in the package (1.0.0: the CNN trained on the Athens, Cartagena and
Casablanca sen2ships ports, 4 bands; MIT + Copernicus)."""
PARTIAL_MODEL = Path(__file__).resolve().parents[1] / "models" / "ships_s2_partial.onnx"
"""The shipped detector for images that lack a band the CNN needs (Sentinel Hub exports of
some bands only): the two-stage detector (candidates + verifier trees) trained by
``basewatch train ships`` on all seven sen2ships ports; it works from any of
:data:`MIN_BANDS`."""
PARTIAL_NAME = "s2-ships-two-stage"
"""Detector name recorded when :data:`PARTIAL_MODEL` runs."""
PARTIAL_VERSION = "1.0.0"
"""Version of :data:`PARTIAL_MODEL`."""
CNN_BANDS = ("blue", "green", "red", "nir")
"""Bands the shipped CNN needs; without one of them :data:`PARTIAL_MODEL` runs instead."""

BANDS = ("blue", "green", "red", "nir", "swir16")
"""Input bands of the network, in order (reflectance 0-1; any may be missing)."""
MISSING = -1.0
"""Value of a missing band in the network input (the graph masks it out)."""
MIN_BANDS = ("blue", "green", "red", "nir")
"""At least one of these must be present (SWIR alone is not enough)."""
MODEL_GSD_M = 10.0
"""Ground sample distance the network is trained and run at (metres per pixel)."""
STRIDE = 1
"""Network input pixels per heatmap cell side."""
SCORE_THRESHOLD = 0.3
"""Default minimum centre score (fixed before any held-out measurement)."""
NEAR_WATER_M = 200.0
"""Detections whose centre is farther than this from water are dropped (inland)."""
NMS_IOU = 0.5
"""Ships side by side have overlapping axis-aligned boxes: a looser NMS than for aircraft."""
ACROSS_M = 20.0
"""Two-stage model: default distance (m) within which a weaker candidate is the same ship
(the trained model stores its own, ``nms_iou`` of its :class:`ModelInfo`)."""
TRAINER = "basewatch train ships"
"""The command that writes ship models."""
GSD_RANGE_M = (5.0, 20.0)
"""Pixel sizes the model accepts; outside this a 10 m model sees something else."""
TILES = TileSpec(size=512, overlap=64, batch=1, flip=False)
"""Tiles of 5.12 km with 640 m overlap (more than the longest ship), no mirrored copies."""

DEFAULTS = ModelInfo(
    gsd_m=MODEL_GSD_M,
    stride=STRIDE,
    score_threshold=SCORE_THRESHOLD,
    version=VERSION,
    kind="ships-s2-centernet",
    bands=BANDS,
)
"""What a ship model without metadata is taken to be."""


def load_model(model: Path | str | None = None, *, threads: int = 0) -> tuple[Any, ModelInfo]:
    """Open a Sentinel-2 ship ONNX model (default: the shipped one) and read its metadata.

    ``threads`` sets onnxruntime's intra-op threads (0: its default; 1 for one core).
    """
    session, info = _load(model, threads)
    return session, info


def identity(bands: Iterable[str]) -> tuple[str, str]:
    """``(name, version)`` of the shipped detector that runs on an image with ``bands``: the
    CNN when it has all of :data:`CNN_BANDS`, else the two-stage :data:`PARTIAL_MODEL`."""
    have = set(bands)
    if all(b in have for b in CNN_BANDS):
        return NAME, VERSION
    return PARTIAL_NAME, PARTIAL_VERSION


def accepts_missing(session: Any) -> bool:
    """Whether a model takes missing bands (the two-stage verifier, or a network trained with
    band dropout, metadata ``missing_value``); older 4-band networks need every band."""
    meta = session.get_modelmeta().custom_metadata_map
    return "missing_value" in meta or meta.get("basewatch_model") == VERIFIER_KIND


VERIFIER_KIND = "ships-s2-verifier"
"""``basewatch_model`` of a two-stage model (candidates + verifier trees)."""


def is_verifier(info: ModelInfo) -> bool:
    """Whether a loaded model is the two-stage detector's verifier."""
    return info.kind == VERIFIER_KIND


def _load(model: Path | str | None, threads: int) -> tuple[Any, ModelInfo]:
    """Open and check a ship model."""
    from basewatch.detect.centernet import _session

    path = Path(model) if model is not None else DEFAULT_MODEL
    if path.is_file():
        session = _session(str(path.resolve()), path.stat().st_mtime, threads, TRAINER)
        meta = session.get_modelmeta().custom_metadata_map
        if meta.get("basewatch_model") == VERIFIER_KIND:
            from basewatch.detect.s2_candidates import FEATURES

            if meta.get("features", "") != ",".join(FEATURES):
                raise InputError(
                    f"model {path} was trained on other candidate features than this basewatch "
                    "computes; retrain it with `basewatch train ships`"
                )
            return session, ModelInfo(
                gsd_m=MODEL_GSD_M,
                stride=STRIDE,
                score_threshold=float(meta.get("score_threshold", 0.5)),
                version=str(meta.get("version", VERSION)),
                kind=VERIFIER_KIND,
                bands=BANDS,
                nms_iou=float(meta.get("across_m", ACROSS_M)),
            )
    session, info = open_model(
        path,
        what="Sentinel-2 ship",
        trainer=TRAINER,
        shipped=model is None,
        defaults=DEFAULTS,
        threads=threads,
    )
    if info.kind and info.kind != DEFAULTS.kind:
        raise InputError(
            f"model {path} is a {info.kind!r} model, not a Sentinel-2 ship model; pass a file "
            "written by `basewatch train ships`"
        )
    return session, info


def network_input(
    bands: Mapping[str, np.ndarray], order: tuple[str, ...], valid: np.ndarray
) -> np.ndarray:
    """``(rows, cols, len(order))`` float32 reflectance with unusable pixels filled.

    Unusable pixels (``valid`` False or not finite) take the median of the usable ones, so
    no-data edges and cloud holes do not look like objects; bands absent from ``bands`` are
    :data:`MISSING` everywhere.
    """
    out = np.empty((*valid.shape, len(order)), np.float32)
    for i, name in enumerate(order):
        if name not in bands:
            out[:, :, i] = MISSING
            continue
        band = np.asarray(bands[name], dtype=np.float32)
        ok = valid & np.isfinite(band)
        fill = float(np.median(band[ok])) if ok.any() else 0.0
        out[:, :, i] = np.where(ok, band, fill)
    return out


def water_any(bands: Mapping[str, np.ndarray], ok: np.ndarray) -> np.ndarray:
    """Water from whatever bands are present.

    NDWI (green, nir) or MNDWI (green, swir16) through
    :func:`basewatch.detect.optical.water_mask`; without green, the dark mode of nir (else
    swir16, else the darkest visible band): pixels below Otsu's threshold of its log
    reflectance. Only used to drop detections far inland.
    """
    from skimage.filters import threshold_otsu

    from basewatch.detect.optical import water_mask

    if "green" in bands and ("nir" in bands or "swir16" in bands):
        use = {k: bands[k] for k in ("green", "nir", "swir16") if k in bands}
        if "nir" not in use:  # MNDWI only: optical.water_mask wants a nir key
            use["nir"] = use["swir16"]
        return water_mask(use, valid=ok)
    for name in ("nir", "swir16", "red", "green", "blue"):
        if name in bands:
            band = np.asarray(bands[name], dtype=np.float64)
            good = ok & np.isfinite(band) & (band > 0)
            if good.sum() < 16:
                return np.zeros(ok.shape, bool)
            logs = np.log(np.where(good, band, 1.0))
            cut = float(threshold_otsu(logs[good]))
            return good & (logs < cut)
    return np.zeros(ok.shape, bool)


def detect_ships_s2(
    bands: Mapping[str, np.ndarray],
    *,
    pixel_size_m: float,
    valid: np.ndarray | None = None,
    water: np.ndarray | None = None,
    model: Path | str | None = None,
    threshold: float | None = None,
    threads: int = 0,
) -> list[Detection]:
    """Ships in a Sentinel-2 image, as :class:`Detection` objects (class ``ship``).

    Args:
        bands: reflectance arrays (0-1) on one grid keyed ``blue``, ``green``, ``red``,
            ``nir`` and optionally ``swir16``; bands may be missing (at least one of
            :data:`MIN_BANDS`) when the model was trained for it (the shipped one is).
        pixel_size_m: pixel size in metres (5-20 m).
        valid: True where pixels are usable; None: all finite pixels.
        water: water mask; None: :func:`water_any` of ``bands``.
        model: an ONNX file from ``basewatch train ships`` (default: the shipped CNN, or
            :data:`PARTIAL_MODEL` when a band the CNN needs is missing; :func:`identity`
            names the one that runs).
        threshold: minimum score (default: the model's).
        threads: onnxruntime intra-op threads (0: its default).

    Returns:
        Detections in the input's pixels, sorted by row then column.
    """
    if not isinstance(bands, Mapping):
        raise InputError(
            f"bands must be a mapping of band name -> 2-D array, got {type(bands).__name__}; "
            "pass {'blue': ..., 'green': ..., 'red': ..., 'nir': ...}"
        )
    if model is None and identity(bands)[0] == PARTIAL_NAME:
        model = PARTIAL_MODEL
    session, info = load_model(model, threads=threads)
    order = info.bands or BANDS
    present = [b for b in order if b in bands]
    missing = [b for b in order if b not in bands]
    if not any(b in bands for b in MIN_BANDS):
        raise InputError(
            f"bands {', '.join(MIN_BANDS)} all missing (got {', '.join(sorted(bands)) or 'none'});"
            " the Sentinel-2 ship model needs at least one of them (nir best)"
        )
    if missing and not accepts_missing(session):
        raise InputError(
            f"bands {', '.join(missing)} missing for the Sentinel-2 ship model "
            f"(got {', '.join(sorted(bands)) or 'none'}); pass {', '.join(order)}"
        )
    shape = np.asarray(bands[present[0]]).shape
    if len(shape) != 2 or any(np.asarray(bands[b]).shape != shape for b in present):
        raise InputError(f"bands must be 2-D arrays of one shape, got {present[0]} {shape}")
    px = check_pixel_size(pixel_size_m)
    lo, hi = GSD_RANGE_M
    if not lo <= px <= hi:
        raise InputError(
            f"pixel_size_m={px} m is outside {lo}-{hi} m, the range of the 10 m Sentinel-2 "
            "ship model; give the image's real pixel size"
        )
    finite = np.all([np.isfinite(np.asarray(bands[b])) for b in present], axis=0)
    ok = finite if valid is None else check_mask(valid, name="valid", shape=shape) & finite
    if ok.sum() < 16 or min(shape) < 8:
        return []
    if water is None:
        water = water_any({b: bands[b] for b in present}, ok)
    water = check_mask(water, name="water", shape=shape) & ok
    if not water.any():
        return []
    if is_verifier(info):
        return _two_stage(session, info, bands, present, px, ok, water, threshold)
    factor = info.gsd_m / px
    net_input = resample(network_input(bands, order, ok), factor)
    boxes = run_tiled(
        session,
        np.ascontiguousarray(net_input.transpose(2, 0, 1)),
        stride=info.stride,
        threshold=info.score_threshold if threshold is None else float(threshold),
        tiles=TILES,
        peak_window=info.peak_window,
        nms_iou=NMS_IOU,
    )
    near = ndimage.distance_transform_edt(~water) * px <= NEAR_WATER_M
    keep = ok & near
    dets = (to_detection(b, factor=factor, gsd_m=px, cls="ship") for b in boxes)
    found = [d for d in dets if centre_inside(d, keep)]
    return sorted(found, key=lambda d: (d.centroid_px[1], d.centroid_px[0]))


def _two_stage(
    session: Any,
    info: ModelInfo,
    bands: Mapping[str, np.ndarray],
    present: list[str],
    px: float,
    ok: np.ndarray,
    water: np.ndarray,
    threshold: float | None,
) -> list[Detection]:
    """Candidates (:mod:`basewatch.detect.s2_candidates`) scored by the verifier trees."""
    from basewatch.detect.s2_candidates import extract, suppress

    use = {b: np.asarray(bands[b], np.float32) for b in present}
    cand = extract(use, pixel_size_m=px, ok=ok, water=water)
    if len(cand.rows) == 0:
        return []
    (scores,) = session.run(None, {"features": cand.features.astype(np.float32)})
    scores = np.asarray(scores, np.float64).reshape(-1)
    cut = info.score_threshold if threshold is None else float(threshold)
    kept = suppress(
        cand.rows,
        cand.cols,
        cand.geometry,
        scores,
        threshold=cut,
        across_m=info.nms_iou,
        pixel_size_m=px,
    )
    found = []
    for i in kept:
        row, col = float(cand.rows[i]), float(cand.cols[i])
        length, width, heading, area = (float(v) for v in cand.geometry[i])
        length = min(max(length, px), 400.0)
        width = min(max(width, px), max(length, px))
        half = max(1, int(round(length / px / 2)))
        c0, r0 = max(0, int(col) - half), max(0, int(row) - half)
        found.append(
            Detection(
                bbox_px=(c0, r0, 2 * half + 1, 2 * half + 1),
                score=round(float(scores[i]), 4),
                cls="ship",
                centroid_px=(round(col, 3), round(row, 3)),
                length_m=round(length, 2),
                width_m=round(width, 2),
                heading_deg=round(heading, 2) if area > 0 else None,
                area_px=int(area),
            )
        )
    return sorted(found, key=lambda d: (d.centroid_px[1], d.centroid_px[0]))

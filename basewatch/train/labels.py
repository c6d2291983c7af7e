"""Labelled images for training and evaluation: Airbus layout and COCO JSON (numpy only)."""

from __future__ import annotations

import ast
import csv
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basewatch.errors import ImageryError, InputError

AIRCRAFT_CLASSES = ("airplane", "truncated_airplane", "aircraft", "plane")
"""Label classes (case-insensitive) taken as aircraft; other classes are ignored."""


@dataclass(frozen=True, kw_only=True)
class LabelledImage:
    """One image and its aircraft boxes."""

    name: str
    """Image file name (the id used by the label file)."""
    path: Path
    """Where the image file is."""
    boxes: np.ndarray
    """``(n, 4)`` float32 boxes ``(x0, y0, x1, y1)`` in image pixels."""
    gsd_m: float
    """Ground sample distance of the image (m)."""
    pixels: np.ndarray | None = None
    """The pixels, for images made in memory (simulated); ``None``: read ``path``."""

    def read(self) -> np.ndarray:
        """The image pixels, ``(rows, cols, 3)`` uint8."""
        return self.pixels if self.pixels is not None else read_rgb(self.path)


def read_rgb(path: Path) -> np.ndarray:
    """An image file as ``(rows, cols, 3)`` uint8 (via rasterio; no georeference needed)."""
    from basewatch.detect.aircraft import to_rgb8

    return to_rgb8(read_image(path).pixels, name=str(path))


@dataclass(frozen=True, kw_only=True)
class ImageFile:
    """An image read from disk, with whatever georeference it carries."""

    pixels: np.ndarray
    """``(rows, cols, bands)`` pixel values as stored."""
    gsd_m: float | None
    """Ground sample distance from the file's transform, when it has a projected CRS."""
    crs: str | None
    """CRS of the file (``None``: not georeferenced: results are pixel positions only)."""
    transform: tuple[float, ...] | None
    """Affine transform (GDAL order a, b, c, d, e, f), when georeferenced."""


def read_image(path: Path | str) -> ImageFile:
    """Read a JPEG/PNG/GeoTIFF with rasterio; raise :class:`ImageryError` if unreadable.

    Images without a CRS (plain JPEG/PNG) have ``crs=None``: detections are in pixels only and
    the caller must give ``--gsd``.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"image {p} does not exist; check the path")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(p) as src:
                pixels = src.read().transpose(1, 2, 0)
                crs = src.crs
                transform = src.transform
    except (RasterioError, OSError, ValueError) as exc:
        raise ImageryError(
            f"image {p} cannot be decoded ({str(exc).splitlines()[0][:160]}); "
            "the file is corrupt or truncated: download or export it again"
        ) from None
    if crs is None:
        return ImageFile(pixels=pixels, gsd_m=None, crs=None, transform=None)
    gsd = None
    if crs.is_projected:
        gsd = float(math.sqrt(abs(transform.a * transform.e - transform.b * transform.d)))
    return ImageFile(pixels=pixels, gsd_m=gsd, crs=crs.to_string(), transform=tuple(transform)[:6])


def load_labels(data: Path | str, *, gsd_m: float = 0.5) -> list[LabelledImage]:
    """Labelled images from ``data``: a folder in the Airbus layout or a COCO JSON file.

    Airbus layout: ``DIR/images/*.jpg`` (or images directly in ``DIR``) and
    ``DIR/annotations.csv`` with columns ``image_id, geometry, class`` where ``geometry`` is a
    pixel polygon ``[(x, y), ...]``. COCO: a ``.json`` file (or a folder holding exactly one
    ``*.json``) with ``images``, ``annotations`` (``bbox`` = x, y, w, h) and ``categories``;
    images are looked up next to the JSON or in its ``images/`` folder. Only images whose
    file exists are returned (an Airbus label file may cover more images than are present).
    """
    if not (math.isfinite(gsd_m) and 0.05 <= gsd_m <= 5.0):
        raise InputError(
            f"--gsd {gsd_m:g}: the labelled images' pixel size must be 0.05-5 m (the Airbus "
            "Pleiades airports are 0.5 m); give their ground sample distance in metres"
        )
    root = Path(data)
    if root.is_file() and root.suffix.lower() == ".json":
        return _load_coco(root, gsd_m)
    if not root.is_dir():
        raise InputError(
            f"training data {root} is neither a folder nor a COCO .json file; give a folder "
            "with images/*.jpg and annotations.csv (Airbus layout) or a COCO .json"
        )
    if (root / "annotations.csv").is_file():
        return _load_airbus(root, gsd_m)
    jsons = sorted(root.glob("*.json"))
    if len(jsons) == 1:
        return _load_coco(jsons[0], gsd_m)
    raise InputError(
        f"training data {root} has no annotations.csv (Airbus layout) and not exactly one "
        f"COCO .json file (found {len(jsons)}); see basewatch/models/MODEL_CARD.md"
    )


def _image_dir(root: Path) -> Path:
    return root / "images" if (root / "images").is_dir() else root


def _load_airbus(root: Path, gsd_m: float) -> list[LabelledImage]:
    images = _image_dir(root)
    boxes: dict[str, list[list[float]]] = {}
    with (root / "annotations.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        for line, row in enumerate(reader, start=2):
            try:
                name, cls = row["image_id"], row.get("class", "Airplane")
                points = np.asarray(ast.literal_eval(row["geometry"]), dtype=np.float32)
            except (KeyError, ValueError, SyntaxError) as exc:
                raise InputError(
                    f"{root / 'annotations.csv'} line {line}: cannot read the row ({exc}); "
                    "expected columns image_id, geometry (pixel polygon), class"
                ) from None
            if cls.lower() not in AIRCRAFT_CLASSES or points.ndim != 2:
                continue
            x0, y0 = points.min(axis=0)
            x1, y1 = points.max(axis=0)
            boxes.setdefault(name, []).append([x0, y0, x1, y1])
    out = [
        LabelledImage(name=name, path=images / name, boxes=_as_boxes(b), gsd_m=gsd_m)
        for name, b in sorted(boxes.items())
        if (images / name).is_file()
    ]
    if not boxes:
        raise InputError(
            f"{root / 'annotations.csv'}: no aircraft polygon in it (columns: "
            f"{', '.join(reader.fieldnames or []) or 'none'}); expected columns image_id, "
            "geometry (pixel polygon), class (Airplane)"
        )
    if not out:
        raise InputError(f"{root}: no labelled image of annotations.csv exists in {images}")
    return out


def _load_coco(path: Path, gsd_m: float) -> list[LabelledImage]:
    try:
        doc = json.loads(path.read_text())
        cats = {c["id"]: str(c["name"]).lower() for c in doc["categories"]}
        files = {im["id"]: im["file_name"] for im in doc["images"]}
        anns = doc["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"{path} is not a COCO detection file ({exc}); it needs images, annotations "
            "(with bbox) and categories"
        ) from None
    wanted = {cid for cid, n in cats.items() if n in AIRCRAFT_CLASSES} or set(cats)
    if len(wanted) == len(cats) and len(cats) > 1:
        warnings.warn(f"{path}: no aircraft category by name; using all {len(cats)}", stacklevel=2)
    boxes: dict[int, list[list[float]]] = {iid: [] for iid in files}
    for a in anns:
        if a.get("category_id") in wanted and a.get("image_id") in boxes:
            x, y, w, h = (float(v) for v in a["bbox"])
            boxes[a["image_id"]].append([x, y, x + w, y + h])
    out = []
    for iid, name in sorted(files.items(), key=lambda kv: kv[1]):
        for folder in (path.parent / "images", path.parent):
            if (folder / name).is_file():
                out.append(
                    LabelledImage(
                        name=name, path=folder / name, boxes=_as_boxes(boxes[iid]), gsd_m=gsd_m
                    )
                )
                break
    if not out:
        raise ImageryError(f"{path}: none of its images exist next to it or in images/")
    return out


def _as_boxes(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float32).reshape(-1, 4)

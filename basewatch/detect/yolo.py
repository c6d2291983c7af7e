"""Run YOLO-family ONNX detectors that users bring (Ultralytics export layout).

Supported outputs (the first output of the graph):

* axis-aligned ``detect`` models: ``[1, 4 + nc, N]``, rows ``cx, cy, w, h`` in network
  pixels then one score per class;
* oriented ``obb`` models (e.g. DOTA-trained): ``[1, 4 + nc + 1, N]``, the last row being the
  box angle in radians.

Class names come from the model's ONNX metadata (``names``, as Ultralytics writes it) or
from a names file (one name per line, a JSON list/dict, or a YAML file with ``names:``).
Large images are cut into tiles of the network's input size with overlap, each tile is
letterbox-free (padded at the right/bottom with grey 114), and class-wise NMS merges the tiles.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from basewatch.detect import Detection
from basewatch.detect.aircraft import box_iou, resample, tile_origins, to_rgb8
from basewatch.errors import InputError

NAME = "yolo-onnx"
"""Detector name recorded with observations made with a user's YOLO model."""

CLASS_MAP = {
    "aircraft": ("plane", "airplane", "aeroplane", "aircraft", "helicopter", "jet", "fighter"),
    "ship": ("ship", "boat", "vessel", "warship", "submarine", "harbor-ship"),
    "vehicle": ("vehicle", "small-vehicle", "large-vehicle", "car", "truck", "tank", "launcher"),
}
"""basewatch class -> model class names (lower case, ``_``/space read as ``-``) that map to it."""


@dataclass(frozen=True, kw_only=True)
class YoloModel:
    """An opened YOLO ONNX model."""

    session: Any
    """The onnxruntime session."""
    names: tuple[str, ...]
    """Class names, index = class id."""
    oriented: bool
    """Whether the model predicts oriented boxes (an extra angle row)."""
    input_size: tuple[int, int]
    """Network input ``(rows, cols)``."""


def basewatch_class(name: str) -> str:
    """The basewatch class (``aircraft``, ``ship``, ``vehicle`` or ``object``) of a model class."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    for cls, names in CLASS_MAP.items():
        if key in names:
            return cls
    return "object"


def read_names(path: Path | str) -> tuple[str, ...]:
    """Class names from a ``.txt`` (one per line), ``.json`` or ``.yaml``/``.yml`` file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise InputError(f"names file {p} cannot be read ({exc}); check the path") from None
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        doc = yaml.safe_load(text)
        return _names_from(doc.get("names") if isinstance(doc, dict) else doc, str(p))
    if p.suffix.lower() == ".json":
        return _names_from(json.loads(text), str(p))
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _names_from(value: object, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        text = value
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            try:
                value = json.loads(text)
            except ValueError:
                raise InputError(
                    f"class names in {source} cannot be parsed: {text[:80]!r}"
                ) from None
    if isinstance(value, dict):
        return tuple(str(value[k]) for k in sorted(value, key=int))
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    raise InputError(f"class names in {source} must be a list or an {{id: name}} mapping")


def load_yolo(model: Path | str, names: Path | str | None = None) -> YoloModel:
    """Open a YOLO ONNX export and work out its class names, box type and input size."""
    import onnxruntime as ort

    p = Path(model)
    if not p.is_file():
        raise InputError(f"YOLO model {p} does not exist; pass an ONNX export (yolo export)")
    try:
        session = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise InputError(f"YOLO model {p} cannot be loaded by onnxruntime ({exc})") from None
    meta = session.get_modelmeta().custom_metadata_map
    if names is not None:
        class_names = read_names(names)
    elif "names" in meta:
        class_names = _names_from(meta["names"], f"{p} metadata")
    else:
        raise InputError(
            f"YOLO model {p} has no class names in its metadata; pass a names file "
            "(one class per line, in class-id order)"
        )
    rows = session.get_outputs()[0].shape[1]
    nc = len(class_names)
    if not isinstance(rows, int) or rows not in (4 + nc, 5 + nc):
        raise InputError(
            f"YOLO model {p} outputs {session.get_outputs()[0].shape}, which fits neither "
            f"[1, 4+{nc}, N] (detect) nor [1, 5+{nc}, N] (obb) for {nc} class names; "
            "check the names file"
        )
    shape = session.get_inputs()[0].shape
    size = _input_size(shape, meta)
    return YoloModel(session=session, names=class_names, oriented=rows == 5 + nc, input_size=size)


def _input_size(shape: list[Any], meta: dict[str, str]) -> tuple[int, int]:
    if isinstance(shape[2], int) and isinstance(shape[3], int):
        return int(shape[2]), int(shape[3])
    if "imgsz" in meta:
        value = ast.literal_eval(meta["imgsz"])
        if isinstance(value, int):
            return value, value
        return int(value[0]), int(value[1])
    return 640, 640


def decode(
    output: np.ndarray, *, nc: int, oriented: bool, conf: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw output ``(4 + nc [+1], N)`` as boxes, class ids and angles.

    Returns ``(k, 5)`` rows ``(x0, y0, x1, y1, score)`` of the axis-aligned extent (for
    oriented boxes: of the rotated rectangle), ``(k,)`` class ids and ``(k, 3)`` rows
    ``(w, h, angle_rad)`` of the box as predicted.
    """
    scores = output[4 : 4 + nc]
    cls = np.argmax(scores, axis=0)
    best = scores[cls, np.arange(scores.shape[1])]
    keep = best >= conf
    cx, cy, w, h = output[:4, keep]
    angle = output[4 + nc, keep] if oriented else np.zeros_like(cx)
    c, s = np.abs(np.cos(angle)), np.abs(np.sin(angle))
    ew, eh = w * c + h * s, w * s + h * c
    boxes = np.stack([cx - ew / 2, cy - eh / 2, cx + ew / 2, cy + eh / 2, best[keep]], axis=1)
    return boxes.astype(np.float32), cls[keep], np.stack([w, h, angle], axis=1)


def _nms_indices(boxes: np.ndarray, iou: float) -> list[int]:
    order = list(np.argsort(-boxes[:, 4], kind="stable"))
    kept: list[int] = []
    while order:
        i = order.pop(0)
        kept.append(i)
        if order:
            ious = box_iou(boxes[i], boxes[order])
            order = [j for j, v in zip(order, ious, strict=True) if v <= iou]
    return kept


def detect_yolo(
    image: np.ndarray,
    model: Path | str | YoloModel,
    *,
    names: Path | str | None = None,
    gsd_m: float | None = None,
    model_gsd_m: float | None = None,
    conf: float = 0.25,
    iou: float = 0.45,
    overlap: int = 128,
) -> list[Detection]:
    """Detections of a YOLO ONNX model over a whole image, in the image's pixels.

    When both ``gsd_m`` (the image's) and ``model_gsd_m`` (the training data's) are given,
    the image is resampled to the model's GSD first. ``Detection.cls`` is the basewatch class
    (:func:`basewatch_class` of the model's class name).
    """
    yolo = model if isinstance(model, YoloModel) else load_yolo(model, names)
    rgb = to_rgb8(image)
    factor = 1.0
    if gsd_m is not None and model_gsd_m is not None:
        factor = float(model_gsd_m) / float(gsd_m)
    net = resample(rgb, factor) / 255.0 if factor != 1.0 else rgb.astype(np.float32) / 255.0
    th, tw = yolo.input_size
    overlap = min(overlap, min(th, tw) // 2)
    rows, cols = net.shape[:2]
    pad = np.full((max(rows, th), max(cols, tw), 3), 114 / 255, dtype=np.float32)
    pad[:rows, :cols] = net
    boxes, classes, geoms = [], [], []
    input_name = yolo.session.get_inputs()[0].name
    for y in tile_origins(pad.shape[0], th, overlap):
        for x in tile_origins(pad.shape[1], tw, overlap):
            tile = pad[y : y + th, x : x + tw].transpose(2, 0, 1)[None]
            out = yolo.session.run(None, {input_name: np.ascontiguousarray(tile)})[0][0]
            b, c, g = decode(out, nc=len(yolo.names), oriented=yolo.oriented, conf=conf)
            b[:, [0, 2]] += x
            b[:, [1, 3]] += y
            boxes.append(b)
            classes.append(c)
            geoms.append(g)
    all_boxes = np.concatenate(boxes)
    all_cls = np.concatenate(classes)
    all_geom = np.concatenate(geoms)
    dets: list[Detection] = []
    for k in np.unique(all_cls):
        idx = np.nonzero(all_cls == k)[0]
        for i in _nms_indices(all_boxes[idx], iou):
            j = idx[i]
            dets.append(_detection(all_boxes[j], all_geom[j], yolo.names[int(k)], factor, gsd_m))
    return [d for d in dets if d.centroid_px[0] < rgb.shape[1] and d.centroid_px[1] < rgb.shape[0]]


def _detection(
    box: np.ndarray, geom: np.ndarray, name: str, factor: float, gsd_m: float | None
) -> Detection:
    x0, y0, x1, y1 = (float(v) * factor for v in box[:4])
    w, h, angle = float(geom[0]) * factor, float(geom[1]) * factor, float(geom[2])
    length_px, width_px = max(w, h), min(w, h)
    # heading of the long side, clockwise from north (image up), in [0, 180)
    heading = (math.degrees(angle) + (90.0 if w >= h else 0.0)) % 180.0
    return Detection(
        bbox_px=(
            int(round(max(x0, 0.0))),
            int(round(max(y0, 0.0))),
            max(1, int(round(x1 - x0))),
            max(1, int(round(y1 - y0))),
        ),
        score=float(np.clip(box[4], 0.0, 1.0)),
        cls=basewatch_class(name),
        centroid_px=((x0 + x1) / 2, (y0 + y1) / 2),
        length_m=length_px * gsd_m if gsd_m else None,
        width_m=width_px * gsd_m if gsd_m else None,
        heading_deg=heading if angle != 0.0 or w != h else None,
        area_px=int(round(w * h)),
    )


def is_yolo_model(model: Path | str) -> bool:
    """Whether ``model`` is an ONNX file with a YOLO-layout output ``[1, rows, N]``.

    Lets a command take either a basewatch aircraft model or a YOLO export as ``--model``.
    """
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception:  # onnxruntime raises its own untyped errors; not a model at all
        return False
    outputs = session.get_outputs()
    return outputs[0].name != "heatmap" and len(outputs[0].shape) == 3

"""Train the verifier of the two-stage Sentinel-2 ship detector and export it to ONNX.

Stage one (:mod:`basewatch.detect.s2_candidates`, nothing fitted) proposes candidates with
high recall; this module fits stage two: gradient-boosted trees (scikit-learn's
``HistGradientBoostingClassifier``, extra ``[train]``) that score each candidate from its
features. A band the image lacks gives NaN features; the trees learn a direction for
missing values at every split, so one model serves every band subset, and training on ports
that lack bands (and on copies of the full ports with bands removed,
:data:`BAND_SUBSETS`) teaches it those directions.

Everything after the trees is chosen on the training ports only, by leave-one-port-out
among them (:func:`choose_settings`): the score threshold and the distance within which a
weaker candidate is taken as the same ship (:func:`basewatch.detect.s2_candidates.suppress`).
The trees are exported as an ONNX ``TreeEnsembleRegressor`` followed by a sigmoid, so the
detector needs only onnxruntime and numpy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from basewatch.detect import s2_candidates
from basewatch.detect.s2_candidates import FEATURES
from basewatch.errors import InputError

if False:  # pragma: no cover - typing only, avoids importing torch
    from basewatch.train.ships import ShipScene

KIND = "ships-s2-verifier"
"""``basewatch_model`` metadata of a verifier model."""
PARAMS: dict[str, Any] = {
    "max_iter": 200,
    "learning_rate": 0.05,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
}
"""Settings of the gradient-boosted trees."""
UNUSED = (
    "_log",
    "_bg",
    "_contrast",
    "_contrast_max3",
    "_excess",
    "n_bands",
    "ndwi_bg",
    "mndwi_bg",
    "water_noise",
)
"""Features (name suffixes or names) the trees do not see: absolute levels and contrasts
that tell one port (its haze, its bands) from another rather than a ship from clutter. The
trees see contrasts in units of the water's noise (``*_z`` and
:data:`~basewatch.detect.s2_candidates.IN_NOISE_UNITS`). Nested leave-one-port-out over the
seven sen2ships ports: all features F1 0.22, without absolute levels 0.27-0.29, contrasts in
noise units only 0.31."""
THRESHOLDS = tuple(round(float(t), 2) for t in np.arange(0.1, 0.91, 0.05))
"""Score thresholds tried on the training ports."""
ACROSS_M = (10.0, 20.0, 30.0, 45.0)
"""Suppression distances (m) tried on the training ports."""
BAND_SUBSETS = (("nir",), ("blue", "green", "red"), ("green", "nir"))
"""Band subsets of the ports that have them, added to training (band dropout)."""


@dataclass(frozen=True)
class PortCandidates:
    """The candidates of one labelled scene, their labels and what scoring needs."""

    name: str
    """Scene name (``port`` or ``port[bands]`` for a band subset)."""
    candidates: s2_candidates.Candidates
    """Candidates and features."""
    positive: np.ndarray
    """Per candidate, whether it lies in a labelled box."""
    box: np.ndarray
    """Per candidate, the index of its box (-1: none)."""
    boxes: int
    """Labelled ships in the scene."""
    train: np.ndarray
    """Per candidate, whether it is used for fitting (False inside ignore boxes)."""
    pixel_size_m: float
    """Pixel size (m)."""
    port: str
    """The real port the scene comes from (its band subsets share it)."""


def used_columns() -> list[int]:
    """Indices of the features the trees may use (all but :data:`UNUSED`)."""
    return [
        j
        for j, name in enumerate(FEATURES)
        if not any(name == u or name.endswith(u) for u in UNUSED)
    ]


def scene_candidates(
    scene: ShipScene, bands: Sequence[str] | None = None, *, name: str | None = None
) -> PortCandidates:
    """Candidates of a labelled scene (optionally only with ``bands``), labelled."""
    from basewatch.detect.ships_s2 import water_any

    have = scene.bands()
    if bands is not None:
        have = {b: v for b, v in have.items() if b in bands}
    ok = np.any([v > 0 for v in have.values()], axis=0)
    water = water_any(have, ok)
    cand = s2_candidates.extract(have, pixel_size_m=scene.gsd_m, ok=ok, water=water)
    positive, box = s2_candidates.label_candidates(cand.rows, cand.cols, scene.boxes)
    train = np.ones(len(cand.rows), bool)
    for x0, y0, x1, y1 in scene.ignore:
        inside = (cand.cols >= x0) & (cand.cols < x1) & (cand.rows >= y0) & (cand.rows < y1)
        train &= ~inside
    return PortCandidates(
        name=name or scene.name,
        candidates=cand,
        positive=positive,
        box=box,
        boxes=len(scene.boxes),
        train=train,
        pixel_size_m=scene.gsd_m,
        port=scene.name,
    )


def training_set(scenes: Sequence[ShipScene], *, subsets: bool = True) -> list[PortCandidates]:
    """Candidates of every scene, plus band subsets of the scenes that have those bands."""
    out = []
    for scene in scenes:
        out.append(scene_candidates(scene))
        if not subsets or scene.simulated:
            continue
        present = set(scene.present)
        for names in BAND_SUBSETS:
            if set(names) <= present and set(names) != present:
                out.append(scene_candidates(scene, names, name=f"{scene.name}[{'+'.join(names)}]"))
    return out


@dataclass(frozen=True)
class Verifier:
    """Fitted trees and the feature columns they were fitted on."""

    model: Any
    """The ``HistGradientBoostingClassifier``."""
    columns: list[int]
    """Feature indices (into :data:`FEATURES`) of the model's inputs."""

    def score(self, features: np.ndarray) -> np.ndarray:
        """Ship probability of each row of ``features`` (all :data:`FEATURES` columns)."""
        if len(features) == 0:
            return np.zeros(0)
        return np.asarray(self.model.predict_proba(features[:, self.columns])[:, 1])


def fit(sets: Sequence[PortCandidates], params: dict[str, Any] | None = None) -> Verifier:
    """Fit the trees on the candidates of ``sets`` (columns with fewer than two distinct
    values there are left out)."""
    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InputError(
            "training the ship verifier needs scikit-learn: pip install 'basewatch[train]'"
        ) from exc
    x = np.concatenate([s.candidates.features[s.train] for s in sets])
    y = np.concatenate([s.positive[s.train] for s in sets])
    if not y.any() or y.all():
        raise InputError("train ships: the candidates need both ships and non-ships to learn from")
    columns = []
    for j in used_columns():
        values = x[:, j][np.isfinite(x[:, j])]
        if values.size and np.unique(values).size >= 2:
            columns.append(j)
    model = HistGradientBoostingClassifier(**(params or PARAMS), random_state=0)
    model.fit(x[:, columns], y)
    return Verifier(model=model, columns=columns)


def counts(
    item: PortCandidates, scores: np.ndarray, threshold: float, across_m: float
) -> tuple[int, int, int]:
    """(correct, detections, ships) of a scene at a threshold and suppression distance."""
    c = item.candidates
    kept = s2_candidates.suppress(
        c.rows,
        c.cols,
        c.geometry,
        scores,
        threshold=threshold,
        across_m=across_m,
        pixel_size_m=item.pixel_size_m,
    )
    boxes = item.box[kept]
    return len(set(boxes[boxes >= 0].tolist())), len(kept), item.boxes


def choose_settings(
    sets: Sequence[PortCandidates],
    params: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[float, float, float]:
    """Threshold and suppression distance with the best pooled F1 when each training port
    (with its band subsets) is scored by trees fitted on the other ports; and that F1."""
    ports = sorted({s.port for s in sets if not s.port.startswith("simulated")})
    scored: list[tuple[PortCandidates, np.ndarray]] = []
    for port in ports:
        rest = [s for s in sets if s.port != port]
        verifier = fit(rest, params)
        for s in sets:
            if s.port == port:
                scored.append((s, verifier.score(s.candidates.features)))
        if progress:
            progress(port)
    best = (float(THRESHOLDS[0]), float(ACROSS_M[0]), -1.0)
    full = [(s, p) for s, p in scored if "[" not in s.name]
    for threshold in THRESHOLDS:
        for across in ACROSS_M:
            tp = det = true = 0
            for s, p in full:
                a, b, c = counts(s, p, threshold, across)
                tp, det, true = tp + a, det + b, true + c
            f1 = 2 * tp / (det + true) if det + true else 0.0
            if f1 > best[2]:
                best = (float(threshold), float(across), f1)
    return best


def to_onnx(verifier: Verifier, out: Path, meta: dict[str, str]) -> None:
    """Write the trees as ONNX: input ``features`` ``(n, len(FEATURES))`` float32 (NaN for
    missing), output ``score`` ``(n, 1)`` ship probability.

    Written by hand from the fitted predictors' node tables because skl2onnx, the library
    for this, fails on them: skl2onnx 1.20.0 with scikit-learn 1.9.1 stops with "AttributeProto
    .ints: Expected an int, got a boolean" (the nodes' ``missing_go_to_left`` is now a
    boolean). Replace this with ``skl2onnx.convert_sklearn`` once it converts them; the test
    that compares these scores with scikit-learn's (NaN features included) says whether it
    does."""
    import onnx
    from onnx import TensorProto, helper

    model = verifier.model
    nodes: dict[str, list[Any]] = {
        k: []
        for k in (
            "treeids",
            "nodeids",
            "featureids",
            "modes",
            "values",
            "true",
            "false",
            "missing",
        )
    }
    targets: dict[str, list[Any]] = {"treeids": [], "nodeids": [], "ids": [], "weights": []}
    tree = 0
    for stage in model._predictors:
        for predictor in stage:
            for i, node in enumerate(predictor.nodes):
                nodes["treeids"].append(tree)
                nodes["nodeids"].append(i)
                if node["is_leaf"]:
                    nodes["featureids"].append(0)
                    nodes["modes"].append("LEAF")
                    nodes["values"].append(0.0)
                    nodes["true"].append(0)
                    nodes["false"].append(0)
                    nodes["missing"].append(0)
                    targets["treeids"].append(tree)
                    targets["nodeids"].append(i)
                    targets["ids"].append(0)
                    targets["weights"].append(float(node["value"]))
                else:
                    nodes["featureids"].append(verifier.columns[int(node["feature_idx"])])
                    nodes["modes"].append("BRANCH_LEQ")
                    nodes["values"].append(float(node["num_threshold"]))
                    nodes["true"].append(int(node["left"]))
                    nodes["false"].append(int(node["right"]))
                    nodes["missing"].append(int(node["missing_go_to_left"]))
            tree += 1
    base = float(np.ravel(model._baseline_prediction)[0])
    ensemble = helper.make_node(
        "TreeEnsembleRegressor",
        ["features"],
        ["logit"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        base_values=[base],
        nodes_treeids=nodes["treeids"],
        nodes_nodeids=nodes["nodeids"],
        nodes_featureids=nodes["featureids"],
        nodes_modes=nodes["modes"],
        nodes_values=nodes["values"],
        nodes_truenodeids=nodes["true"],
        nodes_falsenodeids=nodes["false"],
        nodes_missing_value_tracks_true=nodes["missing"],
        target_treeids=targets["treeids"],
        target_nodeids=targets["nodeids"],
        target_ids=targets["ids"],
        target_weights=targets["weights"],
    )
    sigmoid = helper.make_node("Sigmoid", ["logit"], ["score"])
    graph = helper.make_graph(
        [ensemble, sigmoid],
        "ships_s2_verifier",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, len(FEATURES)])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])],
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="basewatch",
    )
    onnx_model.ir_version = 8
    for key, value in meta.items():
        entry = onnx_model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(onnx_model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model, str(out))


@dataclass(frozen=True, kw_only=True)
class VerifierResult:
    """Outcome of :func:`train`."""

    seconds: float
    """Training time (candidates, settings, fit, export)."""
    threshold: float
    """Score threshold chosen on the training ports."""
    across_m: float
    """Suppression distance chosen on the training ports."""
    inner_f1: float
    """Pooled F1 of the chosen settings, each training port scored by trees fitted without it
    (nan with fewer than two real ports)."""
    candidates: int
    """Training candidates."""


def train(
    scenes: Sequence[ShipScene],
    out: Path,
    *,
    params: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> VerifierResult:
    """Train the verifier on ``scenes`` (real ports and simulated harbours) and export it."""
    from basewatch.detect.ships_s2 import VERSION

    if not scenes:
        raise InputError("train ships: no labelled port to train on")
    if sum(len(s.boxes) for s in scenes) == 0:
        raise InputError("train ships: the labelled ports hold no ship box")
    start = time.perf_counter()
    sets = training_set(scenes)
    if progress:
        progress(f"{sum(len(s.positive) for s in sets)} candidates in {len(sets)} scenes")
    real = sorted({s.port for s in sets if not s.port.startswith("simulated")})
    if len(real) >= 2:
        threshold, across, inner = choose_settings(sets, params, progress)
    else:
        threshold, across, inner = 0.5, 20.0, float("nan")
    verifier = fit(sets, params)
    ignore = "; ".join(f"{s.name} {list(box)}" for s in scenes for box in s.ignore)
    meta = {
        "basewatch_model": KIND,
        "version": VERSION,
        "bands": ",".join(s2_candidates.BANDS),
        "features": ",".join(FEATURES),
        "score_threshold": f"{threshold:.2f}",
        "across_m": f"{across:g}",
        "inner_lopo_f1": f"{inner:.3f}",
        "ports": ",".join(s.name for s in scenes if not s.simulated),
        "simulated": str(sum(s.simulated for s in scenes)),
        "ignore_boxes": ignore,
        "params": ",".join(f"{k}={v}" for k, v in (params or PARAMS).items()),
    }
    to_onnx(verifier, out, meta)
    return VerifierResult(
        seconds=time.perf_counter() - start,
        threshold=threshold,
        across_m=across,
        inner_f1=inner,
        candidates=int(sum(len(s.positive) for s in sets)),
    )

"""The two-stage Sentinel-2 ship detector: candidates (nothing fitted), the suppression of
duplicate candidates, and the verifier trees trained on tiny ports, exported to ONNX and run
by ``basewatch detect --sensor s2``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_ships_s2 import PX, SHIPS, tiny_port

from basewatch.detect import s2_candidates, ships_s2
from basewatch.detect.run import read_s2
from basewatch.errors import InputError


def _scene(seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The bands of a tiny port (land on top, a quay, three ships) and its ship boxes
    ``(x0, y0, x1, y1)``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        boxes = tiny_port(Path(tmp), "p", seed=seed)
        raster = read_s2(Path(tmp) / "p", 1 / 65535)
    edges = np.array([[x, y, x + w, y + h] for x, y, w, h in boxes], np.float32)
    return {b: np.asarray(v, np.float32) for b, v in raster.bands.items()}, edges


def test_candidates_hold_every_ship_with_any_band_subset() -> None:
    bands, boxes = _scene()
    ok = np.ones(bands["nir"].shape, bool)
    for names in (("blue", "green", "red", "nir"), ("nir",), ("blue", "green", "red")):
        part = {b: bands[b] for b in names}
        water = ships_s2.water_any(part, ok)
        cand = s2_candidates.extract(part, pixel_size_m=PX, ok=ok, water=water)
        hit, which = s2_candidates.label_candidates(cand.rows, cand.cols, boxes)
        assert set(which[hit].tolist()) == {0, 1, 2}, names  # the two side by side too
        assert cand.features.shape == (len(cand.rows), len(s2_candidates.FEATURES))
        missing = [b for b in s2_candidates.BANDS if b not in names]
        for b in missing:
            column = s2_candidates.FEATURES.index(f"{b}_z")
            assert np.isnan(cand.features[:, column]).all()
        column = s2_candidates.FEATURES.index(f"{names[-1]}_z")
        assert np.isfinite(cand.features[:, column]).all()
        # each ship's strongest candidate stands far above the candidates in open water
        peak = cand.features[:, s2_candidates.FEATURES.index("peak")]
        sea = ~hit & (cand.features[:, s2_candidates.FEATURES.index("water25")] > 0.9)
        for i in range(3):
            assert peak[which == i].max() > 3 * np.median(peak[sea]), names


def test_suppression_merges_one_hull_and_keeps_ships_side_by_side() -> None:
    # a north-south hull 150 m long with three maxima along it, and a second hull 25 m east
    rows = np.array([50, 55, 45, 50])
    cols = np.array([20, 20, 20, 22.5])
    geometry = np.array([[150, 15, 0, 20]] * 4, np.float32)  # length, width, heading, area
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    kept = s2_candidates.suppress(
        rows, cols, geometry, scores, threshold=0.5, across_m=20.0, pixel_size_m=PX
    )
    assert kept.tolist() == [0, 3]
    assert (
        s2_candidates.suppress(
            rows, cols, geometry, scores, threshold=0.95, across_m=20.0, pixel_size_m=PX
        ).tolist()
        == []
    )


def test_train_two_stage_cli_exports_trees_that_onnx_runs_like_sklearn(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("onnx")
    pytest.importorskip("torch")  # load_ports lives with the CNN trainer
    import onnxruntime as ort

    from basewatch.cli import cli
    from basewatch.train import ship_verifier
    from basewatch.train.ships import load_ports

    for i, name in enumerate(("north", "south", "east")):
        tiny_port(tmp_path / "data", name, seed=i)
    out = tmp_path / "ships.onnx"
    args = ["train", "ships", "--data", str(tmp_path / "data"), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--ports", "north,east", "--simulated", "1"])
    assert result.exit_code == 0, result.output
    assert "trained on north, east (6 ships) + 1 simulated harbours" in result.output
    assert "chosen on the training ports" in result.output
    session, info = ships_s2.load_model(out)
    assert ships_s2.is_verifier(info) and ships_s2.accepts_missing(session)
    assert 0.0 < info.score_threshold < 1.0
    # the ONNX trees give sklearn's probabilities, NaN (missing band) features included
    scenes = load_ports(tmp_path / "data", ["north", "east"])
    sets = ship_verifier.training_set(scenes)
    verifier = ship_verifier.fit(sets)
    path = tmp_path / "direct.onnx"
    ship_verifier.to_onnx(verifier, path, {"basewatch_model": ship_verifier.KIND})
    features = np.concatenate([s.candidates.features for s in sets]).astype(np.float32)
    assert np.isnan(features).any()
    (onnx_scores,) = ort.InferenceSession(str(path)).run(None, {"features": features})
    assert np.allclose(onnx_scores[:, 0], verifier.score(features), atol=1e-4)
    # the held-out port: its ships are found, with nir alone and with the visible bands alone
    raster = read_s2(tmp_path / "data" / "south", 1 / 65535)
    boxes = tiny_port(tmp_path / "again", "south", seed=1)
    for names in (("blue", "green", "red", "nir"), ("nir",), ("blue", "green", "red")):
        part = {b: raster.bands[b] for b in names}
        dets = ships_s2.detect_ships_s2(part, pixel_size_m=PX, model=out)
        hits = {
            i
            for d in dets
            for i, (x, y, w, h) in enumerate(boxes)
            if x <= d.centroid_px[0] + 0.5 <= x + w and y <= d.centroid_px[1] + 0.5 <= y + h
        }
        assert len(hits) >= 2, (names, dets)
        assert len(dets) <= 2 * len(SHIPS), (names, dets)
    bad = CliRunner().invoke(cli, [*args, "--detector", "yolo"])
    assert bad.exit_code != 0 and "yolo" in bad.output


def test_a_verifier_from_other_features_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("onnx")
    from sklearn.ensemble import HistGradientBoostingClassifier

    from basewatch.train import ship_verifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(s2_candidates.FEATURES))).astype(np.float32)
    model = HistGradientBoostingClassifier(max_iter=3).fit(x, x[:, 0] > 0)
    verifier = ship_verifier.Verifier(model=model, columns=list(range(x.shape[1])))
    path = tmp_path / "old.onnx"
    meta = {"basewatch_model": ship_verifier.KIND, "features": "a,b,c"}
    ship_verifier.to_onnx(verifier, path, meta)
    with pytest.raises(InputError, match="retrain it with `basewatch train ships`"):
        ships_s2.load_model(path)

"""``basewatch train aircraft|ships``: load labels, train, export, score held-out images."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from basewatch.errors import InputError
from basewatch.train.labels import load_labels

TORCH_HINT = (
    "training needs PyTorch (CPU): pip install 'basewatch[train]' "
    "(or pip install torch==2.13.0 onnx, the CPU build)"
)
"""What to tell a user who lacks the training extra."""


@dataclass(frozen=True, kw_only=True)
class TrainReport:
    """Outcome of one training command."""

    out: Path
    """The exported ONNX model."""
    seconds: float
    """Training wall-clock time."""
    train_images: int
    """Images trained on."""
    train_boxes: int
    """Aircraft boxes trained on (labelled and simulated)."""
    simulated_images: int
    """Simulated airfield images added to training."""
    validation: dict[str, float] | None
    """Scores on the ``--val-images`` (precision, recall, f1, median_count_error)."""


def require_torch() -> None:
    """Raise :class:`InputError` with the install hint unless torch and onnx import."""
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise InputError(TORCH_HINT) from None


def train_aircraft(
    data: Path,
    out: Path,
    *,
    epochs: int = 40,
    val_images: Sequence[str] = (),
    gsd_m: float = 0.5,
    steps_per_epoch: int = 25,
    batch: int = 12,
    simulated: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> TrainReport:
    """Train an aircraft model on ``data`` (Airbus layout or COCO) and export it to ``out``.

    ``val_images`` (file names) are held out of training and scored afterwards;
    ``simulated`` adds that many simulated airfield images (basewatch's own demo look).
    """
    require_torch()
    from dataclasses import replace

    from basewatch.train.aircraft import AIRCRAFT_CONFIG, train
    from basewatch.train.evaluate import score_image, summary

    if out.suffix.lower() != ".onnx":
        raise InputError(f"--out {out} must end in .onnx")
    if epochs < 1:
        raise InputError(f"--epochs must be at least 1, got {epochs}")
    images = load_labels(data, gsd_m=gsd_m)
    names = {im.name for im in images}
    unknown = [v for v in val_images if v not in names]
    if unknown:
        raise InputError(
            f"--val-images {', '.join(unknown)} not among the labelled images of {data}"
        )
    held = [im for im in images if im.name in set(val_images)]
    rest = [im for im in images if im.name not in set(val_images)]
    if steps_per_epoch < 1 or batch < 1:
        raise InputError(f"--steps and --batch must be at least 1, got {steps_per_epoch}, {batch}")
    if simulated < 0:
        raise InputError(f"--simulated must be 0 or more, got {simulated}")
    if simulated:
        from basewatch.train.simulated import simulated_airfields

        rest = rest + simulated_airfields(simulated)
    cfg = replace(AIRCRAFT_CONFIG, epochs=epochs, steps_per_epoch=steps_per_epoch, batch=batch)
    result = train(rest, out, cfg, progress=progress)
    validation = summary([score_image(im, out) for im in held]) if held else None
    return TrainReport(
        out=out,
        seconds=result.seconds,
        train_images=len(rest) - simulated,
        simulated_images=simulated,
        train_boxes=int(sum(len(im.boxes) for im in rest)),
        validation=validation,
    )


@dataclass(frozen=True, kw_only=True)
class ShipTrainReport:
    """Outcome of ``basewatch train ships``."""

    out: Path
    """The exported ONNX model."""
    seconds: float
    """Training wall-clock time."""
    ports: tuple[str, ...]
    """Ports trained on."""
    ships: int
    """Labelled ship boxes trained on (real ports)."""
    simulated: int
    """Simulated harbours added to training."""
    detector: str = "two-stage"
    """``two-stage`` (candidates + verifier trees) or ``cnn``."""
    threshold: float | None = None
    """Two-stage: score threshold chosen on the training ports."""
    inner_f1: float | None = None
    """Two-stage: pooled F1 of that choice, each training port left out in turn."""


SHIP_DETECTORS = ("two-stage", "cnn")
"""Values of ``basewatch train ships --detector``."""


def train_ships(
    data: Path,
    out: Path,
    *,
    ports: Sequence[str] = (),
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    batch: int | None = None,
    seed: int = 0,
    simulated: int | None = None,
    progress: Callable[[int, float], None] | None = None,
    detector: str = "two-stage",
    log: Callable[[str], None] | None = None,
) -> ShipTrainReport:
    """Train a Sentinel-2 ship model on the labelled ports in ``data`` and export it to ``out``.

    ``data`` is in the sen2ships layout (``coco_annotations.json`` and one band folder per
    port); ``ports`` restricts training to those port folders (default: all); ``simulated``
    simulated harbours are added; ``None`` settings take the shipped model's
    (:data:`basewatch.train.ships.SHIP_CONFIG`, :data:`basewatch.train.ships.SIMULATED`).
    ``detector`` ``two-stage`` (the shipped kind: candidates scored by gradient-boosted trees,
    :mod:`basewatch.train.ship_verifier`; no torch, ``epochs``/``steps_per_epoch``/``batch``
    unused) or ``cnn`` (the heatmap network, :mod:`basewatch.train.ships`).
    """
    from dataclasses import replace

    if out.suffix.lower() != ".onnx":
        raise InputError(f"--out {out} must end in .onnx")
    for name, value in (("--epochs", epochs), ("--steps", steps_per_epoch), ("--batch", batch)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    if simulated is not None and simulated < 0:
        raise InputError(f"--simulated must be 0 or more, got {simulated}")
    if detector not in SHIP_DETECTORS:
        raise InputError(f"--detector {detector}: choose from {', '.join(SHIP_DETECTORS)}")
    if detector == "two-stage":
        return _train_two_stage(data, out, ports=ports, simulated=simulated, log=log)
    require_torch()
    from basewatch.train.ships import SHIP_CONFIG, SIMULATED, load_ports, train
    from basewatch.train.simulated import simulated_harbours

    real = load_ports(data, list(ports) or None)
    n_sim = SIMULATED if simulated is None else simulated
    scenes = real + simulated_harbours(n_sim)
    cfg = replace(
        SHIP_CONFIG,
        epochs=epochs or SHIP_CONFIG.epochs,
        steps_per_epoch=steps_per_epoch or SHIP_CONFIG.steps_per_epoch,
        batch=batch or SHIP_CONFIG.batch,
        seed=seed,
    )
    result = train(scenes, out, cfg, progress=progress)
    return ShipTrainReport(
        out=out,
        seconds=result.seconds,
        ports=tuple(s.name for s in real),
        ships=int(sum(len(s.boxes) for s in real)),
        simulated=n_sim,
        detector="cnn",
    )


def _train_two_stage(
    data: Path,
    out: Path,
    *,
    ports: Sequence[str],
    simulated: int | None,
    log: Callable[[str], None] | None,
) -> ShipTrainReport:
    """``train ships --detector two-stage``: fit and export the candidate verifier."""
    try:
        import onnx  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError:
        raise InputError(
            "basewatch train ships needs scikit-learn and onnx: pip install 'basewatch[train]'"
        ) from None
    from basewatch.train import ship_verifier
    from basewatch.train.ships import SIMULATED, load_ports
    from basewatch.train.simulated import simulated_harbours

    real = load_ports(data, list(ports) or None)
    n_sim = SIMULATED if simulated is None else simulated
    result = ship_verifier.train(real + simulated_harbours(n_sim), out, progress=log)
    return ShipTrainReport(
        out=out,
        seconds=result.seconds,
        ports=tuple(s.name for s in real),
        ships=int(sum(len(s.boxes) for s in real)),
        simulated=n_sim,
        detector="two-stage",
        threshold=result.threshold,
        inner_f1=result.inner_f1,
    )

"""Measure the trained aircraft detector on airports it has not seen (issue 5).

Leave-airports-out: the shared Airbus sample holds three same-footprint groups (4, 5, 7);
each fold trains on the other groups' images and evaluates on the held-out group. Prints,
per fold and pooled: precision, recall and F1 at IoU >= 0.3, the median per-image count error,
the counts along each held-out same-footprint series, and the inference time of one
2560 x 2560 image. Targets: F1 >= 0.85, median count error <= 10 %, < 3 s per image.

Usage::

    nice -n 10 .venv/bin/python bench/eval_aircraft.py \\
        --data ../shared/data/aircraft_airbus_pleiades_50cm [--folds 7,4,5] [--epochs 30] \\
        [--steps 20] [--work /tmp/aircraft-bench] [--model PATH.onnx] [--threshold 0.45]

A fold whose model already exists in ``--work`` (``hold<group>.onnx``) is not retrained,
so the bench can evaluate models trained earlier. ``--model`` evaluates one given model on
every image (e.g. the shipped one: its figures are on its own training images, not
generalisation). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import numpy as np

from basewatch.detect.aircraft import detect_aircraft, load_model
from basewatch.train.evaluate import ImageScore, score_image, summary
from basewatch.train.labels import LabelledImage, load_labels


def train_fold(train_images: list[LabelledImage], out: Path, epochs: int, steps: int) -> float:
    """Train one fold's model (needs the ``[train]`` extra); returns training seconds."""
    from basewatch.train.aircraft import TrainConfig, train

    result = train(train_images, out, TrainConfig(epochs=epochs, steps_per_epoch=steps))
    return result.seconds


def groups_of(data: Path) -> dict[str, str]:
    """Image name -> same-footprint group id."""
    with (data / "same_footprint_groups.csv").open(newline="") as f:
        return {row["image_id"]: row["footprint_group"] for row in csv.DictReader(f)}


def timing(model: Path, repeats: int = 3) -> float:
    """Median seconds to detect aircraft in one 2560 x 2560 RGB image at 0.5 m."""
    rng = np.random.default_rng(0)
    image = rng.integers(100, 200, (2560, 2560, 3), dtype=np.uint8)
    load_model(model)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detect_aircraft(image, 0.5, model)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_scores(title: str, scores: list[ImageScore], groups: dict[str, str]) -> None:
    """Per-image counts along the held-out series and the pooled figures."""
    s = summary(scores)
    print(
        f"{title}: P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}  "
        f"median count error {100 * s['median_count_error']:.1f} %"
    )
    by_group: dict[str, list[ImageScore]] = {}
    for sc in scores:
        by_group.setdefault(groups.get(sc.name, "?"), []).append(sc)
    for g, items in sorted(by_group.items()):
        series = ", ".join(f"{sc.name[:8]} {sc.found}/{sc.truth}" for sc in items)
        print(f"  group {g} counts (found/labelled): {series}")


def main() -> None:
    """Parse arguments, run the folds and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).resolve().parents[2]
        / "shared"
        / "data"
        / "aircraft_airbus_pleiades_50cm",
    )
    ap.add_argument("--folds", default="7,4,5", help="Held-out footprint groups.")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=20, help="Batches of 12 crops per epoch.")
    ap.add_argument("--work", type=Path, default=Path("/tmp/aircraft-bench"))
    ap.add_argument("--model", type=Path, help="Evaluate this model on every image instead.")
    ap.add_argument("--threshold", type=float, help="Override the model's score threshold.")
    args = ap.parse_args()
    images = load_labels(args.data)
    groups = groups_of(args.data)
    if args.model:
        scores = [score_image(im, args.model, args.threshold) for im in images]
        print_scores(f"model {args.model} on all images (seen in training?)", scores, groups)
        print(f"inference 2560x2560 @0.5 m: {timing(args.model):.2f} s")
        return
    args.work.mkdir(parents=True, exist_ok=True)
    pooled: list[ImageScore] = []
    model = None
    for g in args.folds.split(","):
        model = args.work / f"hold{g}.onnx"
        held = [im for im in images if groups.get(im.name) == g]
        rest = [im for im in images if groups.get(im.name) != g]
        if not model.is_file():
            seconds = train_fold(rest, model, args.epochs, args.steps)
            print(f"fold {g}: trained on {len(rest)} images in {seconds:.0f} s")
        scores = [score_image(im, model, args.threshold) for im in held]
        print_scores(f"fold hold-out group {g} ({len(held)} images)", scores, groups)
        pooled.extend(scores)
    print_scores("pooled over held-out folds", pooled, groups)
    if model is not None:
        print(f"inference 2560x2560 @0.5 m: {timing(model):.2f} s")


if __name__ == "__main__":
    main()

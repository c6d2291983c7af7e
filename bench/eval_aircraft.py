"""Measure the trained aircraft detector on airports it has not seen (issue 16).

K-fold cross-validation by footprint group over the labelled Airbus Pléiades images: every
same-footprint group (same airport, other dates) and every single airport stays on one side
of each split; groups are dealt to the folds largest first, to the fold with the fewest
aircraft. Each fold trains a model on the other folds' images, then chooses its score
threshold, NMS IoU and two-pass length ``large_m`` on (every n-th of) those **training**
images (best pooled F1 there; nested: the held-out fold never sees a setting chosen on it)
and is scored on the held-out images.

Prints: per fold and pooled precision, recall and F1 at IoU >= 0.3, the median per-image
count error; recall broken down by aircraft size (box length in metres; aircraft cut by the
image edge apart), apron density (labelled neighbours within one wingspan), and image
condition (luminance contrast, haze, shadow: terciles of measured image statistics); the
counts along every same-footprint series (true / detected per image); the speed of one
2560 x 2560 image at 0.5 m. Targets: F1 >= 0.90, median count error <= 8 %, < 3 s per image.

Usage::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/eval_aircraft.py \\
        --data ../shared/data/aircraft_airbus_pleiades_50cm [--folds 5] [--epochs 30] \\
        [--steps 25] [--work /tmp/h16-cv] [--final OUT.onnx --final-epochs 40] [--no-timing]
    .venv/bin/python bench/eval_aircraft.py --model basewatch/models/aircraft.onnx

A fold whose model (``fold<k>.onnx``) and detections (``fold<k>-dets.npz``,
``fold<k>-coarse.npz``) already exist in ``--work`` is not redone, so the bench can be re-run
to print the tables. ``--final`` also trains the model to ship on all images (unless the
file exists) and writes the medians of the folds' choices into its metadata. ``--model``
scores one given model on the images it was not trained on (its ``training_images``
metadata). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from basewatch.detect.aircraft import (
    COARSE_SCALE,
    detect_aircraft,
    detect_boxes,
    load_model,
    merge_scales,
    nms,
)
from basewatch.train.evaluate import detections_array, match, match_detail
from basewatch.train.labels import LabelledImage, load_labels

LOW = 0.1
"""Detections are kept from this score; thresholds are applied afterwards."""
NO_NMS = 0.95
"""NMS IoU of the stored detections (practically none); NMS is applied afterwards."""
NMS_GRID = (0.3, 0.4, 0.5, 0.7, 0.95)
"""NMS IoUs tried inside each fold, with every score threshold."""
LARGE_GRID = (0.0, 50.0, 60.0, 70.0, 80.0)
"""Lengths (m) from which the coarse pass's aircraft replace the fine pass's (0: one pass)."""
THRESHOLDS = np.round(np.arange(0.2, 0.66, 0.025), 3)
"""Score thresholds tried inside each fold."""
SIZE_BINS = (
    (0.0, 20.0, "small < 20 m (business jets, helicopters, light)"),
    (20.0, 40.0, "medium 20-40 m (regional, narrow-body, fighters)"),
    (40.0, 1e9, "large >= 40 m (wide-body, transports)"),
)
"""Aircraft size classes by the longer side of the labelled box (metres)."""


def groups_of(data: Path, names: Sequence[str]) -> dict[str, str]:
    """Image name -> footprint group id (an image without a group is its own group)."""
    table: dict[str, str] = {}
    with (data / "same_footprint_groups.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if row["footprint_group"]:
                table[row["image_id"]] = row["footprint_group"]
    return {n: table.get(n, "single:" + n[:8]) for n in names}


def assign_folds(images: Sequence[LabelledImage], groups: dict[str, str], k: int) -> list[int]:
    """Fold of each image: groups dealt largest first to the fold with the fewest aircraft."""
    size: dict[str, int] = {}
    for im in images:
        size[groups[im.name]] = size.get(groups[im.name], 0) + len(im.boxes)
    load = [0] * k
    fold_of: dict[str, int] = {}
    for g in sorted(size, key=lambda g: (-size[g], g)):
        f = int(np.argmin(load))
        fold_of[g] = f
        load[f] += size[g]
    return [fold_of[groups[im.name]] for im in images]


def image_stats(rgb: np.ndarray) -> dict[str, float]:
    """Measured condition of one image: contrast, haze and shadow statistics.

    ``contrast``: 2-98 percentile spread of the luminance (0-1); ``haze``: 5th percentile of
    the darkest band per pixel (a veil lifts the darks, 0-1); ``shadow``: share of pixels
    darker than half the median luminance.
    """
    small = rgb[::4, ::4].astype(np.float32) / 255.0
    lum = small @ np.array([0.299, 0.587, 0.114], np.float32)
    lo, med, hi = np.percentile(lum, [2, 50, 98])
    dark = np.percentile(small.min(axis=2), 5)
    return {
        "contrast": float(hi - lo),
        "haze": float(dark),
        "shadow": float(np.mean(lum < 0.5 * med)),
    }


def timing(model: Path | None, repeats: int = 3) -> float:
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


def figures(preds: list[np.ndarray], truths: list[np.ndarray]) -> tuple[float, ...]:
    """Pooled precision, recall, F1 and median per-image count error."""
    tp = found = total = 0
    errors = []
    for p, t in zip(preds, truths, strict=True):
        ok, _ = match_detail(p, t)
        tp += int(ok.sum())
        found += len(p)
        total += len(t)
        errors.append(abs(len(p) - len(t)) / max(len(t), 1))
    prec = tp / found if found else 0.0
    rec = tp / total if total else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1, statistics.median(errors) if errors else 0.0


def line(title: str, preds: list[np.ndarray], truths: list[np.ndarray]) -> str:
    """One printed line of pooled figures."""
    p, r, f1, err = figures(preds, truths)
    return f"{title}: P {p:.3f}  R {r:.3f}  F1 {f1:.3f}  median count error {100 * err:.1f} %"


def breakdown(
    images: Sequence[LabelledImage], preds: list[np.ndarray], stats: list[dict[str, float]]
) -> None:
    """Recall (and misses) by aircraft size, apron density and image condition."""
    rows: list[tuple[str, str, bool]] = []  # (table, bin, matched)
    for im, p, st in zip(images, preds, stats, strict=True):
        _, hit = match_detail(p, im.boxes)
        b = im.boxes
        long_m = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * im.gsd_m
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        dist = np.hypot(cx[:, None] - cx[None], cy[:, None] - cy[None]) * im.gsd_m
        neighbours = (dist < long_m[:, None]).sum(axis=1) - 1
        edge = (b[:, 0] <= 2) | (b[:, 1] <= 2) | (b[:, 2] >= 2557) | (b[:, 3] >= 2557)
        for j in range(len(b)):
            if edge[j]:
                size = "cut by the image edge"
            else:
                size = next(n for lo, hi, n in SIZE_BINS if lo <= long_m[j] < hi)
            rows.append(("size", size, bool(hit[j])))
            dens = "0" if neighbours[j] == 0 else "1" if neighbours[j] == 1 else "2+"
            rows.append(("neighbours within one wingspan", dens, bool(hit[j])))
            for key in ("contrast", "haze", "shadow"):
                rows.append((key, str(st[f"{key}_bin"]), bool(hit[j])))
    total_miss = sum(1 for t, _, ok in rows if t == "size" and not ok)
    print(f"\nmisses: {total_miss} of {sum(1 for t, _, _ in rows if t == 'size')} aircraft")
    for table in ("size", "neighbours within one wingspan", "contrast", "haze", "shadow"):
        print(f"  by {table}:")
        bins = sorted({b for t, b, _ in rows if t == table})
        for b in bins:
            hits = [ok for t, bb, ok in rows if t == table and bb == b]
            miss = len(hits) - sum(hits)
            print(
                f"    {b:<52} aircraft {len(hits):4d}  recall {np.mean(hits):.3f}  "
                f"misses {miss:3d} ({100 * miss / max(total_miss, 1):.0f} % of all)"
            )


def condition_bins(stats: list[dict[str, float]]) -> None:
    """Label each image's statistics with its tercile (low / mid / high) and the range."""
    for key in ("contrast", "haze", "shadow"):
        values = np.array([s[key] for s in stats])
        t1, t2 = np.percentile(values, [100 / 3, 200 / 3])
        for s in stats:
            v = s[key]
            name = "1 low" if v < t1 else "2 mid" if v < t2 else "3 high"
            lo, hi = {
                "1 low": (values.min(), t1),
                "2 mid": (t1, t2),
                "3 high": (t2, values.max()),
            }[name]
            s[f"{key}_bin"] = f"{name} ({lo:.2f}-{hi:.2f})"  # type: ignore[assignment]


def series(
    images: Sequence[LabelledImage], preds: list[np.ndarray], groups: dict[str, str]
) -> None:
    """True and detected counts along each same-footprint series (one airport, several dates)."""
    by: dict[str, list[int]] = {}
    for i, im in enumerate(images):
        if not groups[im.name].startswith("single:"):
            by.setdefault(groups[im.name], []).append(i)
    print("\nsame-footprint series (image: labelled -> detected):")
    for g in sorted(by, key=lambda g: int(g) if g.isdigit() else 0):
        if len(by[g]) < 3:
            continue
        cells = ", ".join(
            f"{images[i].name[:8]} {len(images[i].boxes)}->{len(preds[i])}" for i in by[g]
        )
        print(f"  group {g}: {cells}")


def combine(fine: np.ndarray, coarse: np.ndarray, gsd_m: float, setting: tuple) -> np.ndarray:
    """Detections of one image under ``setting = (large_m, nms_iou, threshold)``."""
    large, iou, t = setting
    merged = merge_scales(fine[fine[:, 4] >= t], coarse[coarse[:, 4] >= t], large_px=large / gsd_m)
    return nms(merged, iou) if len(merged) else merged


def choose(
    fine: list[np.ndarray], coarse: list[np.ndarray], truths: list[np.ndarray], gsd_m: float
) -> tuple[tuple[float, float, float], float]:
    """Best ``(large_m, nms_iou, threshold)`` by pooled F1 on the given images, and that F1."""
    best: tuple[tuple[float, float, float], float] = ((0.0, 0.4, 0.5), -1.0)
    for large in LARGE_GRID:
        for iou in NMS_GRID:
            for t in THRESHOLDS:
                setting = (large, iou, float(t))
                tp = found = total = 0
                for f, c, tr in zip(fine, coarse, truths, strict=True):
                    p = combine(f, c, gsd_m, setting)
                    tp += match(p, tr)
                    found += len(p)
                    total += len(tr)
                prec = tp / found if found else 0.0
                rec = tp / total if total else 0.0
                f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
                if f1 > best[1] + 1e-9:
                    best = (setting, f1)
    return best


def main() -> None:
    """Parse arguments, run the folds and print the figures."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).resolve().parents[2]
        / "shared"
        / "data"
        / "aircraft_airbus_pleiades_50cm",
    )
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only", type=str, default="", help="Comma-separated folds to run.")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=25, help="Batches of 12 crops per epoch.")
    ap.add_argument("--work", type=Path, default=Path("/tmp/h16-cv"))
    ap.add_argument(
        "--threshold-images",
        type=int,
        default=12,
        help="Training images (every n-th) on which each fold chooses its threshold.",
    )
    ap.add_argument("--model", type=Path, help="Score this model on its unseen images.")
    ap.add_argument("--final", type=Path, help="Also train the model to ship on all images.")
    ap.add_argument("--final-epochs", type=int, default=40)
    ap.add_argument("--no-timing", action="store_true", help="Skip the speed measurement.")
    args = ap.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} does not exist; pass --data")
    images = load_labels(args.data)
    groups = groups_of(args.data, [im.name for im in images])
    print(
        f"{len(images)} images, {sum(len(im.boxes) for im in images)} aircraft, "
        f"{len(set(groups.values()))} airports (footprint groups)"
    )
    if args.model:
        from basewatch.detect.aircraft import load_model as _lm

        session, info = _lm(args.model)
        meta = session.get_modelmeta().custom_metadata_map
        seen = set(meta.get("training_images", "").split(","))
        test = [im for im in images if im.name not in seen]
        preds = [detections_array(im, args.model, info.score_threshold) for im in test]
        print(
            line(
                f"{args.model} on {len(test)} images it was not trained on",
                preds,
                [im.boxes for im in test],
            )
        )
        stats = [image_stats(im.read()) for im in test]
        condition_bins(stats)
        breakdown(test, preds, stats)
        series(test, preds, groups)
        print(f"inference 2560x2560 @0.5 m: {timing(args.model):.2f} s")
        return
    folds = assign_folds(images, groups, args.folds)
    args.work.mkdir(parents=True, exist_ok=True)
    only = {int(x) for x in args.only.split(",") if x}
    prepared = None
    held_preds: dict[int, np.ndarray] = {}
    settings: list[tuple[float, float, float]] = []
    for k in range(args.folds):
        model = args.work / f"fold{k}.onnx"
        cache = args.work / f"fold{k}-dets.npz"
        held = [i for i, f in enumerate(folds) if f == k]
        train_idx = [i for i, f in enumerate(folds) if f != k]
        if only and k not in only:
            continue
        if not model.is_file():
            from dataclasses import replace

            from basewatch.train.aircraft import AIRCRAFT_CONFIG, prepare, train_prepared

            if prepared is None:
                prepared = prepare(images)
            cfg = replace(AIRCRAFT_CONFIG, epochs=args.epochs, steps_per_epoch=args.steps)
            res = train_prepared(
                [prepared[i] for i in train_idx], [images[i].name for i in train_idx], model, cfg
            )
            print(
                f"fold {k}: trained on {len(train_idx)} images in {res.seconds:.0f} s", flush=True
            )
        step = max(1, round(len(train_idx) / args.threshold_images))
        tune = train_idx[::step]
        preds: dict[int, np.ndarray] = {}
        if cache.is_file():
            stored = np.load(cache)
            preds = {i: stored[images[i].name] for i in held + tune}
        else:
            preds = {i: detections_array(images[i], model, LOW, NO_NMS) for i in held + tune}
            np.savez(cache, **{images[i].name: p for i, p in preds.items()})
        coarse_cache = args.work / f"fold{k}-coarse.npz"
        if coarse_cache.is_file():
            stored = np.load(coarse_cache)
            coarse = {i: stored[images[i].name] for i in held + tune}
        else:
            coarse = {
                i: detect_boxes(
                    images[i].read(),
                    images[i].gsd_m,
                    model,
                    threshold=LOW,
                    nms_iou=NO_NMS,
                    scale=COARSE_SCALE,
                )
                for i in held + tune
            }
            np.savez(coarse_cache, **{images[i].name: p for i, p in coarse.items()})
        gsd = images[0].gsd_m
        setting, f1_train = choose(
            [preds[i] for i in tune],
            [coarse[i] for i in tune],
            [images[i].boxes for i in tune],
            gsd,
        )
        settings.append(setting)
        for i in held:
            held_preds[i] = combine(preds[i], coarse[i], gsd, setting)
        large, iou, t = setting
        print(
            line(
                f"fold {k} ({len(held)} images; large_m {large:.0f}, NMS IoU {iou}, threshold "
                f"{t:.3f} chosen on {len(tune)} of its {len(train_idx)} training images, "
                f"F1 there {f1_train:.3f})",
                [held_preds[i] for i in held],
                [images[i].boxes for i in held],
            ),
            flush=True,
        )
    idx = sorted(held_preds)
    test = [images[i] for i in idx]
    preds = [held_preds[i] for i in idx]
    print("\n" + line(f"pooled over {len(idx)} held-out images", preds, [im.boxes for im in test]))
    stats = [image_stats(im.read()) for im in test]
    condition_bins(stats)
    breakdown(test, preds, stats)
    series(test, preds, groups)
    if args.final:
        from dataclasses import replace

        from basewatch.train.aircraft import AIRCRAFT_CONFIG, prepare, train_prepared
        from basewatch.train.centernet import set_metadata

        large_m, iou, threshold = (float(v) for v in np.median(np.array(settings), axis=0))
        if not args.final.is_file():
            prepared = prepared or prepare(images)
            cfg = replace(
                AIRCRAFT_CONFIG,
                epochs=args.final_epochs,
                steps_per_epoch=args.steps,
                score_threshold=threshold,
            )
            res = train_prepared(prepared, [im.name for im in images], args.final, cfg)
            print(f"final model: {len(images)} images in {res.seconds:.0f} s -> {args.final}")
        set_metadata(
            args.final,
            {
                "score_threshold": f"{threshold:.3f}",
                "nms_iou": f"{iou:.2f}",
                "large_m": f"{large_m:.0f}",
            },
        )
        print(
            f"final model: large_m {large_m:.0f}, NMS IoU {iou:.2f}, threshold {threshold:.3f} "
            "(medians of the fold choices)"
        )
    last = args.final or args.work / f"fold{max(only) if only else args.folds - 1}.onnx"
    if not args.no_timing:
        print(f"inference 2560x2560 @0.5 m: {timing(last):.2f} s")


if __name__ == "__main__":
    main()

"""SAR ship detection on HRSID chips with its settings chosen on the *other* chips.

``bench/eval_ships.py`` scores the radar detector's defaults on the 4 HRSID chips in
``../shared/data/sar_ships_hrsid_sample/``; those defaults were set while looking at the same
chips, so that figure is optimistic. Here, for each chip in turn, every setting of a small
grid (false-alarm rate, shore rule, side-lobe suppression) is scored on the other three
chips, the best (pooled F1; ties to the setting with the most defaults) is applied to the
held-out chip, and the held-out results are pooled: leave-one-chip-out precision, recall
and F1.

The water mask's speckle window (:data:`basewatch.detect.sar.WATER_SPECKLE_PX`) is part of
the grid. HRSID itself ships JPEG, and unseen chips may be compressed harder than these PNGs,
so the whole leave-one-chip-out is repeated on the chips re-encoded as JPEG (``--jpeg``
qualities; each encoding chooses its own settings on its own three chips).

Run: ``.venv/bin/python bench/eval_sar_heldout.py [--data DIR] [--hrsid-gsd M] [--figures DIR]
[--jpeg 95 80] [--workers 2]``. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_ships import DATA, Score, hrsid_chips, match, report  # noqa: E402

from basewatch.detect import sar  # noqa: E402
from basewatch.detect.run import Raster, read_sar  # noqa: E402

GRID = {
    "pfa": (1e-5, 1e-6, 1e-7, 1e-8),
    "shore_land_share": (0.2, 0.3, 0.5),
    "sidelobe_ratio": (0.01, 0.03, 0.1),
    "clip_margin_db": (None, 3.0, 1.0, 0.0),
}
"""Detector settings tried; the defaults of :class:`basewatch.detect.sar.CfarParams` are among
them."""
SPECKLE_GRID = (1, 3, 5)
"""Water-mask speckle windows tried (pixels; 1 is the mask before 0.5.0, the default 3)."""


@dataclass(frozen=True)
class Setting:
    """One point of the grid: the water mask's speckle window and the detector settings."""

    speckle_px: int
    params: sar.CfarParams


def _settings() -> list[Setting]:
    base = sar.CfarParams()
    names = list(GRID)
    return [
        Setting(k, replace(base, **dict(zip(names, values, strict=True))))
        for k in SPECKLE_GRID
        for values in itertools.product(*(GRID[n] for n in names))
    ]


def _image(raster: Raster) -> np.ndarray:
    return np.where(raster.valid, raster.bands["vv"], np.nan)


def _scores(
    job: tuple[str, Raster, list[list[float]], float, int, list[sar.CfarParams]],
) -> list[Score]:
    """Every detector setting on one chip with one speckle window (one water mask)."""
    name, raster, boxes, gsd, speckle_px, params_list = job
    image = _image(raster)
    water = sar.water_mask(image, pixel_size_m=gsd, calibrated=False, speckle_px=speckle_px)
    out = []
    for params in params_list:
        dets = (
            sar.detect(image, pixel_size_m=gsd, search_mask=water, params=params)
            if water.any()
            else []
        )
        out.append(Score(name, match(dets, boxes), len(dets), len(boxes)))
    return out


def _pooled_f1(scores: list[Score]) -> float:
    tp = sum(s.tp for s in scores)
    det = sum(s.n_det for s in scores)
    true = sum(s.n_true for s in scores)
    p = tp / det if det else 1.0
    r = tp / true if true else 1.0
    return 2 * p * r / (p + r) if p + r else 0.0


def _defaults_kept(setting: Setting) -> int:
    """How many grid settings are at their defaults: ties go to the setting that changes
    least (on these chips the side-lobe setting often changes nothing at all)."""
    base = sar.CfarParams()
    kept = sum(getattr(setting.params, n) == getattr(base, n) for n in GRID)
    return kept + (setting.speckle_px == sar.WATER_SPECKLE_PX)


def _label(setting: Setting) -> str:
    parts = [f"{n} {_fmt(getattr(setting.params, n))}" for n in GRID]
    return ", ".join([f"speckle_px {setting.speckle_px}", *parts])


def _fmt(value: float | None) -> str:
    """A setting as printed: ``off`` for None."""
    return "off" if value is None else f"{value:g}"


def main(argv: list[str] | None = None) -> None:
    """Score every setting on every chip, then choose on three and test on the fourth; the
    same on the chips re-encoded as JPEG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--hrsid-gsd", type=float, default=2.0)
    parser.add_argument(
        "--figures",
        type=Path,
        default=None,
        help="folder for one picture per held-out chip (labels green, detections magenta)",
    )
    parser.add_argument(
        "--jpeg",
        type=int,
        nargs="*",
        default=[95, 80],
        help="JPEG qualities at which the chips are re-encoded and evaluated again",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes scoring the grid")
    args = parser.parse_args(argv)
    root = args.data / "sar_ships_hrsid_sample"
    if not root.is_dir():
        print(f"skip: {root} not found")
        return
    chips = hrsid_chips(args.data)
    settings = _settings()
    print(f"{len(settings)} settings x {len(chips)} chips (gsd {args.hrsid_gsd} m) ...")
    summary = {"PNG": leave_one_out(chips, settings, args, encoding="PNG", figures=args.figures)}
    with tempfile.TemporaryDirectory() as tmp:
        for quality in args.jpeg:
            encoded = {
                name: (_jpeg(root, name, Path(tmp), quality), boxes)
                for name, (_, boxes) in chips.items()
            }
            label = f"JPEG q{quality}"
            summary[label] = leave_one_out(encoded, settings, args, encoding=label, figures=None)
    print("\nSummary (pooled leave-one-chip-out F1 | in-sample defaults F1)")
    for encoding, (held, defaults) in summary.items():
        print(f"  {encoding:<10} {held:.3f} | {defaults:.3f}")
    speed(chips, args.hrsid_gsd)


def _jpeg(root: Path, name: str, folder: Path, quality: int) -> Raster:
    """The chip re-encoded as a greyscale JPEG and read as ``basewatch detect`` reads it."""
    from PIL import Image

    source = next(root.glob(f"{name}_*[0-9].png"))
    path = folder / f"{name}_q{quality}.jpg"
    Image.open(source).convert("L").save(path, quality=quality)
    return read_sar(path, None)


def leave_one_out(
    chips: dict[str, tuple[Raster, list[list[float]]]],
    settings: list[Setting],
    args: argparse.Namespace,
    *,
    encoding: str,
    figures: Path | None,
) -> tuple[float, float]:
    """Score the grid on every chip, choose each chip's setting on the others, print the
    held-out table; return the pooled held-out F1 and the in-sample F1 of the defaults."""
    from concurrent.futures import ProcessPoolExecutor

    params_by_speckle = {k: [s.params for s in settings if s.speckle_px == k] for k in SPECKLE_GRID}
    jobs = [
        (name, raster, boxes, args.hrsid_gsd, k, params_by_speckle[k])
        for name, (raster, boxes) in chips.items()
        for k in SPECKLE_GRID
    ]
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        results = list(pool.map(_scores, jobs))
    table: dict[tuple[int, str], Score] = {}
    for (name, *_rest, k, params_list), scores in zip(jobs, results, strict=True):
        for params, score in zip(params_list, scores, strict=True):
            table[(settings.index(Setting(k, params)), name)] = score
    chosen = _choose(table, settings, range(len(settings)), list(chips))
    held_out = []
    for name, best in chosen.items():
        print(f"  {name}: chosen on the other chips: {_label(settings[best])}")
        held_out.append(table[(best, name)])
        if figures is not None:
            raster, boxes = chips[name]
            figure(raster, boxes, settings[best], args.hrsid_gsd, figures / f"{name}.png")
    report(f"HRSID {encoding}, leave one chip out ({sar.NAME} {sar.VERSION})", held_out)
    for speckle in SPECKLE_GRID:  # the water mask's window fixed, the detector's chosen
        subset = [k for k, s in enumerate(settings) if s.speckle_px == speckle]
        fixed = _choose(table, settings, subset, list(chips))
        scores = [table[(k, n)] for n, k in fixed.items()]
        parts = ", ".join(f"{s.name} {s.tp}/{s.n_det}" for s in scores)
        print(
            f"  speckle_px fixed at {speckle}: leave-one-chip-out F1 {_pooled_f1(scores):.3f} "
            f"({parts} correct/detections)"
        )
    default = settings.index(Setting(sar.WATER_SPECKLE_PX, sar.CfarParams()))
    in_sample = _pooled_f1([table[(default, n)] for n in chips])
    print(f"  defaults on all chips (in-sample): F1 {in_sample:.3f}")
    return _pooled_f1(held_out), in_sample


def _choose(
    table: dict[tuple[int, str], Score],
    settings: list[Setting],
    candidates: Iterable[int],
    names: list[str],
) -> dict[str, int]:
    """For each chip, the candidate setting with the best pooled F1 on the other chips
    (exact ties to the setting that keeps the most defaults, then the first)."""
    candidates = list(candidates)
    chosen = {}
    for name in names:
        others = [n for n in names if n != name]
        chosen[name] = max(
            candidates,
            key=lambda k: (
                round(_pooled_f1([table[(k, n)] for n in others]), 9),
                _defaults_kept(settings[k]),
                -k,
            ),
        )
    return chosen


def figure(
    raster: Raster, boxes: list[list[float]], setting: Setting, gsd: float, out: Path
) -> None:
    """The chip (its own water mask tinted blue), labelled boxes in green and the held-out
    detections as magenta circles."""
    from PIL import Image, ImageDraw

    image = _image(raster)
    water = sar.water_mask(image, pixel_size_m=gsd, calibrated=False, speckle_px=setting.speckle_px)
    dets = sar.detect(image, pixel_size_m=gsd, search_mask=water, params=setting.params)
    grey = np.nan_to_num(image)
    grey = np.clip(grey / np.percentile(grey, 99.5) * 255, 0, 255).astype(np.uint8)
    rgb = np.stack([grey, grey, np.where(water, np.maximum(grey, 60), grey)], axis=-1)
    picture = Image.fromarray(rgb)
    draw = ImageDraw.Draw(picture)
    for x, y, w, h in boxes:
        draw.rectangle([x, y, x + w, y + h], outline=(0, 255, 0), width=2)
    for det in dets:
        c, r = det.centroid_px
        draw.ellipse([c - 6, r - 6, c + 6, r + 6], outline=(255, 0, 255), width=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    picture.quantize(32, method=Image.Quantize.MAXCOVERAGE).save(out, optimize=True)
    print(f"    picture: {out} ({len(dets)} detections)")


def speed(chips: dict[str, tuple[Raster, list[list[float]]]], gsd: float) -> None:
    """Best of 3 CPU and wall seconds of the whole radar chain (water mask + CFAR) per chip,
    in this process; run with OMP_NUM_THREADS=1 for the one-core figure."""
    print("\nSpeed (detect_ships with the defaults, best of 3)")
    for name, (raster, _) in chips.items():
        image = np.where(raster.valid, raster.bands["vv"], np.nan)
        best_wall = best_cpu = float("inf")
        for _ in range(3):
            w0, c0 = time.perf_counter(), time.process_time()
            sar.detect_ships(image, pixel_size_m=gsd, calibrated=False)
            best_wall = min(best_wall, time.perf_counter() - w0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        rows, cols = image.shape
        print(
            f"  {name} ({cols} x {rows}): {best_cpu:.3f} s CPU, {best_wall:.3f} s wall "
            "(target < 0.5 s)"
        )


if __name__ == "__main__":
    main()

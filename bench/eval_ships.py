"""Ship detection against real labelled imagery: precision, recall, F1 and speed.

Run: ``.venv/bin/python bench/eval_ships.py [--data DIR] [--hrsid-gsd M]``

- Sentinel-2 ports (``s2_ships_sen2ships_ports/``: Athens/Piraeus, Cartagena, Casablanca), read
  through ``basewatch detect``'s reader (``--sensor s2``) with the reflectance scale 1/65535
  these Sentinel Hub "Raw" files use, and detected with ``optical.detect_ships``.
- HRSID SAR chips (``sar_ships_hrsid_sample/``), 8-bit amplitude PNGs read with
  ``--sensor sar``'s reader; the pixel size is not recorded per chip (0.5-3 m), ``--hrsid-gsd``
  sets it (default 2 m, as tests/test_detect_sar.py).

A detection is correct when its centre lies inside a labelled box; matching is one-to-one
(each box takes at most one detection, highest score first, nearest box centre first).
Timing: best of 3 runs of reading-free detection, in one process (one core).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from basewatch.detect import Detection, optical, sar
from basewatch.detect.run import Raster, read_s2, read_sar

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEN2SHIPS_SCALE = 1.0 / 65535.0
PORTS = ("athens", "cartagena", "casablanca")


@dataclass
class Score:
    """Counts of one image."""

    name: str
    tp: int
    n_det: int
    n_true: int
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def precision(self) -> float:
        return self.tp / self.n_det if self.n_det else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_true if self.n_true else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def match(
    dets: Sequence[Detection], boxes: Sequence[Sequence[float]], *, edges: bool = False
) -> int:
    """One-to-one matches: a detection matches a box that holds its centre.

    ``edges``: boxes are in pixel-edge coordinates (COCO: pixel ``i`` spans ``[i, i + 1]``);
    otherwise in inclusive pixel indices (``x .. x + w``), with half a pixel of tolerance.
    """
    used = [False] * len(boxes)
    tp = 0
    shift, tol = (0.5, 0.0) if edges else (0.0, 0.5)
    for det in sorted(dets, key=lambda d: -d.score):
        c, r = det.centroid_px[0] + shift, det.centroid_px[1] + shift
        best, best_d = -1, float("inf")
        for i, (x, y, w, h) in enumerate(boxes):
            if used[i] or not (x - tol <= c <= x + w + tol and y - tol <= r <= y + h + tol):
                continue
            d = (c - (x + w / 2)) ** 2 + (r - (y + h / 2)) ** 2
            if d < best_d:
                best, best_d = i, d
        if best >= 0:
            used[best] = True
            tp += 1
    return tp


def timed(
    fn: Callable[[], list[Detection]], repeats: int = 3
) -> tuple[list[Detection], float, float]:
    """Result, best wall time and best CPU time (this process) of ``repeats`` calls.

    On a shared machine the CPU time is the fairer "one core" figure: wall time also counts
    the time other processes held the cores."""
    best_wall = best_cpu = float("inf")
    out: list[Detection] = []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return out, best_wall, best_cpu


def s2_ports(data: Path) -> dict[str, tuple[Raster, list[list[float]]]]:
    """Each port's raster and labelled boxes."""
    root = data / "s2_ships_sen2ships_ports"
    coco = json.loads((root / "coco_annotations.json").read_text())
    ids = {im["file_name"].split("_")[0]: im["id"] for im in coco["images"]}
    out = {}
    for port in PORTS:
        raster = read_s2(root / port, SEN2SHIPS_SCALE)
        boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == ids[port]]
        out[port] = (raster, boxes)
    return out


def detect_s2(raster: Raster) -> list[Detection]:
    """The ``basewatch detect --sensor s2`` detector on a raster."""
    px = raster.pixel_size_m or 10.0
    return optical.detect_ships(raster.bands, pixel_size_m=px, valid=raster.valid)


def hrsid_chips(data: Path) -> dict[str, tuple[Raster, list[list[float]]]]:
    """Each HRSID chip's raster and boxes."""
    root = data / "sar_ships_hrsid_sample"
    meta = json.loads((root / "boxes_derived_from_masks.json").read_text())
    out = {}
    for image in meta["images"]:
        raster = read_sar(root / image["file_name"], None)
        out[image["file_name"].split("_")[0]] = (raster, [b["bbox"] for b in image["boxes"]])
    return out


def detect_hrsid(raster: Raster, gsd: float) -> list[Detection]:
    """The ``basewatch detect --sensor sar`` detector on a raster."""
    image = np.where(raster.valid, raster.bands["vv"], np.nan)
    return sar.detect_ships(image, pixel_size_m=gsd)


def report(title: str, scores: list[Score]) -> Score:
    """Print per-image and overall figures; return the overall score."""
    print(f"\n{title}")
    print(
        f"  {'image':<12} {'true':>5} {'det':>5} {'tp':>4} {'P':>6} {'R':>6} {'F1':>6} "
        f"{'wall s':>7} {'cpu s':>7}"
    )
    for s in scores:
        print(
            f"  {s.name:<12} {s.n_true:5d} {s.n_det:5d} {s.tp:4d} "
            f"{s.precision:6.3f} {s.recall:6.3f} {s.f1:6.3f} {s.seconds:7.3f} {s.cpu_seconds:7.3f}"
        )
    total = Score(
        "overall",
        sum(s.tp for s in scores),
        sum(s.n_det for s in scores),
        sum(s.n_true for s in scores),
        sum(s.seconds for s in scores),
        sum(s.cpu_seconds for s in scores),
    )
    print(
        f"  {total.name:<12} {total.n_true:5d} {total.n_det:5d} {total.tp:4d} "
        f"{total.precision:6.3f} {total.recall:6.3f} {total.f1:6.3f} {total.seconds:7.3f} "
        f"{total.cpu_seconds:7.3f}"
    )
    return total


def main(argv: list[str] | None = None) -> None:
    """Run both benches and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--hrsid-gsd", type=float, default=2.0)
    parser.add_argument("--only", choices=("s2", "sar"), default=None)
    args = parser.parse_args(argv)
    if args.only != "sar":
        root = args.data / "s2_ships_sen2ships_ports"
        if not root.is_dir():
            print(f"skip Sentinel-2: {root} not found")
        else:
            scores = []
            for port, (raster, boxes) in s2_ports(args.data).items():
                dets, secs, cpu = timed(lambda r=raster: detect_s2(r))
                tp = match(dets, boxes, edges=True)
                scores.append(Score(port, tp, len(dets), len(boxes), secs, cpu))
            report(f"Sentinel-2 ships in ports ({optical.NAME} {optical.VERSION})", scores)
            athens = next(s for s in scores if s.name == "athens")
            print(
                f"  speed: Athens scene {athens.seconds:.3f} s wall, {athens.cpu_seconds:.3f} s "
                "CPU (target < 1 s)"
            )
    if args.only != "s2":
        root = args.data / "sar_ships_hrsid_sample"
        if not root.is_dir():
            print(f"skip SAR: {root} not found")
        else:
            scores = []
            for name, (raster, boxes) in hrsid_chips(args.data).items():
                dets, secs, cpu = timed(lambda r=raster: detect_hrsid(r, args.hrsid_gsd))
                scores.append(Score(name, match(dets, boxes), len(dets), len(boxes), secs, cpu))
            report(f"HRSID SAR chips ({sar.NAME} {sar.VERSION}, gsd {args.hrsid_gsd} m)", scores)
            worst = max(s.seconds for s in scores)
            mean = sum(s.seconds for s in scores) / len(scores)
            cpu = max(s.cpu_seconds for s in scores)
            print(
                f"  speed: {mean:.3f} s mean, {worst:.3f} s worst wall, {cpu:.3f} s worst CPU "
                "per 800x800 chip (target < 0.5 s)"
            )


if __name__ == "__main__":
    main()

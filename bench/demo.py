"""Time the demo end to end: scenario build, monitor (chips per second), assess and report.

Usage: python bench/demo.py [--sites N] [--workers N]
Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from basewatch.pipeline import DEMO_END, DEMO_GENERATED, DEMO_START, assess, monitor, report
from basewatch.scenario import build_scenario


def main() -> None:
    """Run the demo steps one by one and print how long each took."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        paths = build_scenario(root, n_sites=args.sites)
        t1 = time.perf_counter()
        db = f"sqlite:///{root / 'basewatch.db'}"
        summary = monitor(
            paths.sites, paths.catalog, db=db, start=DEMO_START, end=DEMO_END, workers=args.workers
        )
        t2 = time.perf_counter()
        assess(db=db, tracks=paths.tracks, out=root / "assessment.json", generated=DEMO_GENERATED)
        t3 = time.perf_counter()
        report(out=root / "report.html", db=db)
        t4 = time.perf_counter()
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    print(f"sites: {args.sites}, workers: {args.workers}")
    print(f"build scenario: {t1 - t0:7.1f} s  ({size / 1e6:.1f} MB written)")
    print(
        f"monitor:        {t2 - t1:7.1f} s  ({summary.observed} chips, "
        f"{summary.observed / max(t2 - t1, 1e-9):.1f} chips/s, {summary.failed} failed)"
    )
    print(f"assess:         {t3 - t2:7.1f} s")
    print(f"report:         {t4 - t3:7.1f} s")
    print(f"total:          {t4 - t0:7.1f} s")


if __name__ == "__main__":
    main()

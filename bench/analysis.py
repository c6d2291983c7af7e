"""Measure the judgement stage on simulated count series with known truth (issue 6).

Prints, over seeded series from :mod:`basewatch.analysis.simulate`:

- the false-alarm rate: share of series without change where any significant change is found
  (target <= 5 %);
- the share of 50 % drops found within 3 observations: the series is cut 3 observations after
  the drop and a significant downward change must be found whose bracket holds the true date
  (target >= 90 %);
- the dating error of the full series: median distance in days from the bracket's midpoint to
  the true date, the median bracket width, and the share of brackets holding the true date
  (target: always).

Usage: ``.venv/bin/python bench/analysis.py [--seeds N]``. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from basewatch.analysis import Change, zone_changes
from basewatch.analysis.simulate import (
    khmeimim_apron,
    khmeimim_s400,
    level_series,
    series_by_sensor,
    tartus_piers,
)
from basewatch.observe import Observation

N_OBS = 60
"""Observations per generic series."""
DROP_INDEX = 40
"""Index of the first observation at the new level in the generic series with a drop."""
LEVELS = (4, 6, 10, 20)
"""True object counts of the generic series."""


@dataclass(frozen=True, kw_only=True)
class Dated:
    """A series with a change and the true change date (between two passes)."""

    name: str
    """Family of the series."""
    obs: list[Observation]
    """The observations."""
    last_old: datetime
    """Last pass at the old level."""
    first_new: datetime
    """First pass at the new level."""


def _significant(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.significant]


def _drop_found(changes: list[Change], case: Dated) -> Change | None:
    """The significant downward change whose bracket holds the true change, if any."""
    for c in _significant(changes):
        if c.direction == "down" and c.after <= case.last_old and c.before >= case.first_new:
            return c
    return None


def _no_change_series(seed: int) -> dict[str, list[Observation]]:
    out = {
        "tartus piers (S1+S2)": tartus_piers(seed, drop=None),
        "khmeimim apron, empty 1 in 5 (S2)": khmeimim_apron(seed, change=False),
        "s400 position (S1)": khmeimim_s400(seed, change=False),
    }
    for level in LEVELS:
        out[f"level {level}"] = level_series(seed, level=level, n=N_OBS)
        out[f"level {level}, 25 % cloudy"] = level_series(
            seed, level=level, n=N_OBS, cloudy_share=0.25
        )
    out["level 15, empty 1 in 5"] = level_series(seed, level=15, n=N_OBS, empty_share=0.2)
    return out


def _drop_series(seed: int) -> list[Dated]:
    out = []
    for level in LEVELS:
        obs = level_series(seed, level=level, n=N_OBS, drop_index=DROP_INDEX)
        out.append(
            Dated(
                name=f"level {level} -> {round(level / 2)}",
                obs=obs,
                last_old=obs[DROP_INDEX - 1].time,
                first_new=obs[DROP_INDEX].time,
            )
        )
    return out


def _scenario_changes(seed: int) -> list[Dated]:
    piers = tartus_piers(seed)
    s400 = khmeimim_s400(seed)
    return [
        _dated("tartus piers 2024-12-02", piers, date(2024, 12, 2)),
        _dated("s400 position 2024-12-10", s400, date(2024, 12, 10)),
    ]


def _dated(name: str, obs: list[Observation], last_day: date) -> Dated:
    times = sorted(o.time for o in obs if o.value is not None)
    return Dated(
        name=name,
        obs=obs,
        last_old=max(t for t in times if t.date() <= last_day),
        first_new=min(t for t in times if t.date() > last_day),
    )


def _rate(hits: int, total: int) -> str:
    return f"{hits:4d}/{total:<4d} = {100 * hits / max(total, 1):5.1f} %"


def false_alarms(seeds: range) -> tuple[int, int]:
    """Print the false-alarm rate per family; return (alarms, series)."""
    per: dict[str, list[bool]] = {}
    for seed in seeds:
        for name, obs in _no_change_series(seed).items():
            per.setdefault(name, []).append(bool(_significant(zone_changes(series_by_sensor(obs)))))
    print("False alarms on series without change (target <= 5 %):")
    for name, flags in per.items():
        print(f"  {name:38s} {_rate(sum(flags), len(flags))}")
    total = [f for flags in per.values() for f in flags]
    print(f"  {'all':38s} {_rate(sum(total), len(total))}")
    return sum(total), len(total)


def early_detection(seeds: range) -> tuple[int, int]:
    """Print the share of 50 % drops found with 3 observations at the new level."""
    per: dict[str, list[bool]] = {}
    for seed in seeds:
        for case in _drop_series(seed):
            cut = case.obs[: DROP_INDEX + 3]
            found = _drop_found(zone_changes(series_by_sensor(cut)), case)
            per.setdefault(case.name, []).append(found is not None)
    print("50 % drops found within 3 observations, bracket holding the truth (target >= 90 %):")
    for name, flags in per.items():
        print(f"  {name:38s} {_rate(sum(flags), len(flags))}")
    total = [f for flags in per.values() for f in flags]
    print(f"  {'all':38s} {_rate(sum(total), len(total))}")
    return sum(total), len(total)


def dating(seeds: range, cases: Callable[[int], list[Dated]]) -> None:
    """Print dating error, bracket width and bracket coverage on the full series."""
    errors: dict[str, list[float]] = {}
    widths: dict[str, list[float]] = {}
    held: dict[str, list[bool]] = {}
    for seed in seeds:
        for case in cases(seed):
            drops = [
                c
                for c in _significant(zone_changes(series_by_sensor(case.obs)))
                if c.direction == "down"
            ]
            truth = case.last_old + (case.first_new - case.last_old) / 2
            if not drops:
                held.setdefault(case.name, []).append(False)
                continue
            c = min(drops, key=lambda c: abs(c.after + (c.before - c.after) / 2 - truth))
            mid = c.after + (c.before - c.after) / 2
            errors.setdefault(case.name, []).append(abs(mid - truth) / timedelta(days=1))
            widths.setdefault(case.name, []).append((c.before - c.after) / timedelta(days=1))
            held.setdefault(case.name, []).append(
                c.after <= case.last_old and c.before >= case.first_new
            )
    for name, flags in held.items():
        err = statistics.median(errors[name]) if errors.get(name) else float("nan")
        wid = statistics.median(widths[name]) if widths.get(name) else float("nan")
        print(
            f"  {name:38s} median error {err:4.1f} d, median bracket {wid:4.1f} d, "
            f"bracket holds truth {_rate(sum(flags), len(flags))}"
        )


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100, help="Seeds per series family.")
    args = parser.parse_args()
    seeds = range(args.seeds)
    t0 = time.perf_counter()
    false_alarms(seeds)
    early_detection(seeds)
    print("Dating of the change on the full series (target: bracket always holds the truth):")
    dating(seeds, _drop_series)
    dating(seeds, _scenario_changes)
    print(f"({args.seeds} seeds per family, {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()

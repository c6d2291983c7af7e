"""Time `basewatch corridor` on the demo's control areas (5 dates, 2 sites): grid and roads.

Prints, per method and grid cell, the wall and CPU time and what was found (cut dates and
the chokepoints on 2024-12-07). Run with OMP_NUM_THREADS=1 on a quiet machine.
"""

from __future__ import annotations

import time

from basewatch.context.corridor import corridors, load_control_areas, read_roads
from basewatch.sites import load_registry


def main() -> None:
    """Run each configuration once and print one line per configuration."""
    sites = list(load_registry("syria-2024"))
    control = load_control_areas("syria-2024")
    roads = read_roads("syria-2024")
    runs = [("roads", None, roads), ("grid", 4.0, None), ("grid", 2.0, None), ("grid", 1.0, None)]
    for method, cell, lines in runs:
        wall, cpu = time.perf_counter(), time.process_time()
        results = corridors(sites, control, roads=lines, cell_km=cell or 2.0)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        found = "; ".join(
            f"{r.site_id} cut {r.cut}, 12-07 chokepoints "
            f"{[c.name for c in next(k for k in r.links if k.date == '2024-12-07').chokepoints]}"
            for r in results
        )
        label = method + (f" {cell:g} km" if cell else "")
        print(f"{label:<12} {wall:6.2f} s wall {cpu:6.2f} s CPU  {found}")


if __name__ == "__main__":
    main()

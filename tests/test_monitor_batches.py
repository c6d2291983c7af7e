"""Dask tasks keep a site's zones on one scene together, so their reads stay shared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shapely.geometry import box

from basewatch.imagery.catalog import Scene
from basewatch.monitor import ChipTask, by_group, group_key, task_batches
from basewatch.sites import Zone


def _tasks(zones_per_site: dict[str, int], scenes: int) -> list[ChipTask]:
    tasks = []
    for site, n in zones_per_site.items():
        area = box(35.0, 35.0, 35.01, 35.01)
        zones = [
            Zone(site_id=site, id=f"z{i}", kind="pier", target="ship", geometry=area)
            for i in range(n)
        ]
        for k in range(scenes):
            scene = Scene(
                id=f"{site}-scene-{k}",
                collection="sentinel-1-grd",
                sensor="sentinel-1",
                time=datetime(2024, 11, 1, tzinfo=UTC) + timedelta(days=6 * k),
                bbox=(34.0, 34.0, 36.0, 36.0),
                cloud_cover=None,
                assets={"vv": f"/data/{site}-{k}-vv.tif"},
                band_index={"vv": (1,)},
            )
            tasks += [ChipTask(zone=z, scene=scene) for z in zones]
    return by_group(tasks)


def test_no_site_scene_group_is_split_between_dask_tasks() -> None:
    tasks = _tasks({"a": 3, "b": 1, "c": 2}, scenes=4)  # groups of 3, 1 and 2 chips
    batches = list(task_batches(tasks, 8))
    assert [t for b in batches for t in b] == tasks  # every chip once, in order
    assert all(len(b) <= 8 for b in batches)
    owner: dict[tuple[str, str], int] = {}
    for i, batch in enumerate(batches):
        for task in batch:
            assert owner.setdefault(group_key(task), i) == i  # one batch per group
    assert [len(b) for b in batches] == [6, 8, 8, 2]
    # cut every 8 chips instead, the third group of "a" would straddle two tasks
    naive = [tasks[i : i + 8] for i in range(0, len(tasks), 8)]
    assert group_key(naive[0][-1]) == group_key(naive[1][0])


def test_a_group_larger_than_a_task_is_cut_to_the_task_size() -> None:
    tasks = _tasks({"big": 5}, scenes=2)
    batches = list(task_batches(tasks, 2))
    assert [len(b) for b in batches] == [2, 2, 1, 2, 2, 1]
    assert [t for b in batches for t in b] == tasks

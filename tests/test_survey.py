"""Tests for basewatch.context.survey and ``basewatch sites stats``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from basewatch.cli import main
from basewatch.context.survey import compare_stats, survey_stats
from basewatch.sites import load_registry

KINDS = ("army_base", "airbase", "checkpoint", "air_defence")


def _survey(path: Path, counts: dict[tuple[str, str], int], seed: int) -> Path:
    """A CSV registry with ``counts[(operator, kind)]`` facilities at random places in Syria."""
    rng = np.random.default_rng(seed)
    rows = []
    for (operator, kind), n in counts.items():
        for _ in range(n):
            rows.append(
                {
                    "id": f"f{len(rows):04d}",
                    "name": f"facility {len(rows)}",
                    "kind": kind,
                    "operator": operator,
                    "country": "SY",
                    "lon": round(float(rng.uniform(35.8, 42.0)), 5),
                    "lat": round(float(rng.uniform(32.5, 37.2)), 5),
                }
            )
    rng.shuffle(rows)  # type: ignore[arg-type]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


MID_2024 = {("IR", "army_base"): 40, ("ir", "checkpoint"): 12, ("RU", "airbase"): 5,
            ("RU", "army_base"): 9, ("TR", "army_base"): 14, ("US", "army_base"): 6}  # fmt: skip
MID_2023 = {("IR", "army_base"): 45, ("IR", "checkpoint"): 15, ("RU", "airbase"): 5,
            ("RU", "army_base"): 10, ("TR", "army_base"): 13, ("", "army_base"): 2}  # fmt: skip


def test_survey_stats_counts(tmp_path: Path) -> None:
    reg = load_registry(_survey(tmp_path / "s.csv", MID_2024, seed=1))
    stats = survey_stats(reg)
    assert stats["total"] == 86
    assert stats["by_operator"] == {"IR": 52, "RU": 14, "TR": 14, "US": 6}
    assert list(stats["by_operator"])[0] == "IR"  # largest first
    assert stats["by_kind"] == {"army_base": 69, "checkpoint": 12, "airbase": 5}
    assert stats["by_operator_kind"]["RU"] == {"army_base": 9, "airbase": 5}
    assert sum(sum(v.values()) for v in stats["by_operator_kind"].values()) == stats["total"]
    assert "change" not in stats


def test_compare_stats_change(tmp_path: Path) -> None:
    now = load_registry(_survey(tmp_path / "2024.csv", MID_2024, seed=1))
    before = load_registry(_survey(tmp_path / "2023.csv", MID_2023, seed=2))
    change = compare_stats(now, before)["change"]
    assert change["total"] == 86 - 90
    assert change["by_operator"] == {"IR": -8, "RU": -1, "TR": 1, "US": 6, "unknown": -2}
    assert change["by_kind"] == {"airbase": 0, "army_base": -1, "checkpoint": -3}


def test_cli_sites_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = _survey(tmp_path / "2024.csv", MID_2024, seed=1)
    before = _survey(tmp_path / "2023.csv", MID_2023, seed=2)
    main(["sites", "stats", "--registry", str(now), "--compare", str(before), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"total", "by_operator", "by_kind", "by_operator_kind", "change"}
    assert doc["change"]["total"] == -4
    main(["sites", "stats", "--registry", str(now), "--compare", str(before)])
    table = capsys.readouterr().out
    assert "total: 86 (-4)" in table and "unknown" in table

"""The command line: fast help, version, and one clear line (no traceback) for user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import basewatch


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "basewatch", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_help_and_version() -> None:
    res = run("--help")
    assert res.returncode == 0
    for command in ("sites", "scenes", "monitor", "assess", "report", "demo", "export"):
        assert command in res.stdout
    res = run("--version")
    assert res.returncode == 0 and basewatch.__version__ in res.stdout


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from basewatch.cli import cli; "
        "heavy = [m for m in ('rasterio', 'numpy', 'sqlalchemy', 'pystac', 'matplotlib') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _assert_one_line_error(res: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_sites_commands(tmp_path: Path) -> None:
    res = run("sites", "list", "--format", "json")
    assert res.returncode == 0
    assert [s["id"] for s in json.loads(res.stdout)] == ["khmeimim", "tartus"]
    res = run("sites", "show", "syria-2024", "khmeimim")
    assert "s400-position" in res.stdout and "source:" in res.stdout
    out = tmp_path / "reg.gpkg"
    assert run("sites", "export", "syria-2024", "--out", str(out)).returncode == 0
    back = tmp_path / "back.geojson"
    assert run("sites", "import", str(out), "--out", str(back)).returncode == 0
    res = run("sites", "validate", str(back))
    assert res.returncode == 0 and "2 sites, 4 zones" in res.stdout


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    _assert_one_line_error(run("sites", "show", "syria-2024", "nowhere"), "no site 'nowhere'")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    _assert_one_line_error(run("sites", "list", str(bad)), "bad.geojson", "invalid JSON")
    res = run("sites", "validate", str(bad))
    assert res.returncode == 1 and "Traceback" not in res.stderr
    _assert_one_line_error(
        run(
            "monitor",
            "--sites",
            "syria-2024",
            "--catalog",
            str(tmp_path / "none"),
            "--db",
            f"sqlite:///{tmp_path}/x.db",
        ),
        "no such catalogue",
    )
    _assert_one_line_error(
        run("monitor", "--sites", "syria-2024", "--catalog", "earth-search", "--from", "yesterday"),
        "not a date",
    )
    _assert_one_line_error(run("sites", "import", "syria-2024"), "--out")


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--sites", "1"],
        ["monitor", "--sites", "syria-2024", "--catalog", "earth-search", "--workers", "0"],
    ],
)
def test_bad_numbers(args: list[str], tmp_path: Path) -> None:
    _assert_one_line_error(run(*args, cwd=tmp_path))

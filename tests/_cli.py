"""Running the CLI in process for the tests: exit status and output, the one error line."""

from __future__ import annotations

import pytest

from basewatch.cli import main


def bw(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``basewatch ARGS`` in process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def error_line(err: str) -> str:
    """The one ``basewatch: error:`` line of ``err`` (asserting there is exactly one)."""
    lines = [ln for ln in err.splitlines() if ln.startswith("basewatch: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]

"""Print an HTML report to PDF with headless Chromium (no network, no browser download).

Chromium is found on ``PATH`` (``chromium``, ``chromium-browser``, ``google-chrome``) or
given explicitly; Debian and Ubuntu ship it as the ``chromium`` package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from basewatch.errors import InputError
from basewatch.outputs import cannot_write

__all__ = ["CHROMIUM_NAMES", "find_chromium", "html_to_pdf"]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
"""Executables tried, in order, when no Chromium path is given."""
CHROMIUM_ENV = "BASEWATCH_CHROMIUM"
"""Environment variable that names the Chromium executable to use."""
PDF_TIMEOUT_S = 120.0
"""How long Chromium may take to print one report."""

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pdf-header-footer",
)


def find_chromium(executable: str | os.PathLike[str] | None = None) -> Path:
    """The Chromium executable: ``executable``, ``$BASEWATCH_CHROMIUM`` or one on ``PATH``.

    Raises :class:`~basewatch.errors.InputError` with the install command when none is found.
    """
    wanted = executable or os.environ.get(CHROMIUM_ENV)
    candidates = [os.fspath(wanted)] if wanted else list(CHROMIUM_NAMES)
    for name in candidates:
        found = shutil.which(name)
        if found:
            return Path(found)
    tried = ", ".join(candidates)
    raise InputError(
        f"PDF output needs Chromium, and none was found (tried {tried}). Fix: install it "
        f"(Debian/Ubuntu: apt-get install chromium) or set {CHROMIUM_ENV} to its path"
    )


def html_to_pdf(html: Path, pdf: Path, *, chromium: str | os.PathLike[str] | None = None) -> Path:
    """Print the HTML file ``html`` to ``pdf`` with headless Chromium; return ``pdf``.

    Chromium runs with a fresh temporary profile and its network features off; the report
    is self-contained, so nothing is fetched. Raises
    :class:`~basewatch.errors.InputError` when Chromium is missing or fails.
    """
    html, pdf = Path(html).resolve(), Path(pdf)
    if not html.is_file():
        raise InputError(f"{html}: no such HTML report; write it first")
    if pdf.suffix.lower() != ".pdf":
        raise InputError(f"--pdf {str(pdf)!r}: name the PDF file with .pdf")
    try:
        pdf.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=pdf.parent):  # a folder Chromium cannot write either
            pass
    except OSError as exc:
        raise cannot_write(pdf, exc) from exc
    exe = find_chromium(chromium)
    target = pdf.resolve()
    with tempfile.TemporaryDirectory(prefix="basewatch-chromium-") as profile:
        command = [
            str(exe),
            *_FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={target}",
            html.as_uri(),
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=PDF_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InputError(f"Chromium ({exe}) could not print {html}: {exc}") from exc
    if result.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InputError(
            f"Chromium ({exe}) failed to print {html} to {pdf} "
            f"(exit {result.returncode}: {detail[0]}); check that it runs headless"
        )
    return pdf

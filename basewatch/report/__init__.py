"""Reports: an assessment rendered as a self-contained HTML page, optionally printed to PDF.

>>> from basewatch.report import write_report, html_to_pdf
>>> write_report(assessment, Path("report.html"), sites=registry.sites)  # doctest: +SKIP
>>> html_to_pdf(Path("report.html"), Path("report.pdf"))  # doctest: +SKIP
"""

from __future__ import annotations

from basewatch.report.build import build_report
from basewatch.report.html import is_simulated, render_overview, render_report, write_report
from basewatch.report.pdf import find_chromium, html_to_pdf

__all__ = [
    "build_report",
    "find_chromium",
    "html_to_pdf",
    "is_simulated",
    "render_overview",
    "render_report",
    "write_report",
]

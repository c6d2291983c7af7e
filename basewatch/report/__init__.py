"""Reports: an assessment rendered as a self-contained HTML page (PDF in a later version).

>>> from basewatch.report import write_report
>>> write_report(assessment, Path("report.html"), sites=registry.sites)  # doctest: +SKIP
"""

from __future__ import annotations

from basewatch.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]

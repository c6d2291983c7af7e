"""Judgement: per-zone baselines, change points and the site posture.

``assess(observations, sites)`` returns the ``assessment.json`` dict of DESIGN.md; the
stages are :mod:`~basewatch.analysis.baseline` (expected count and significance of each
observation), :mod:`~basewatch.analysis.changepoint` (level shifts, dated) and
:mod:`~basewatch.analysis.posture` (site judgement). This package imports scipy and
ruptures: import it lazily from command-line entry points.
"""

from __future__ import annotations

from basewatch.analysis.assess import AssessParams, assess
from basewatch.analysis.baseline import (
    BaselineParams,
    CountModel,
    Judgement,
    fit_count_model,
    judge_series,
)
from basewatch.analysis.changepoint import Change, ChangeParams, find_changes
from basewatch.analysis.posture import (
    PostureParams,
    PostureResult,
    Surge,
    ZoneResult,
    airlift_surge,
    site_posture,
)
from basewatch.analysis.zones import Series, zone_changes

__all__ = [
    "AssessParams",
    "BaselineParams",
    "Change",
    "ChangeParams",
    "CountModel",
    "Judgement",
    "PostureParams",
    "PostureResult",
    "Series",
    "Surge",
    "ZoneResult",
    "airlift_surge",
    "assess",
    "find_changes",
    "fit_count_model",
    "judge_series",
    "site_posture",
    "zone_changes",
]

"""Change points: find level shifts in a zone's clear series, test them and date them.

Method, per series (one sensor/detector of one zone):

1. Keep the clear observations (value present, ``clear_fraction >= min_clear``) in time
   order.
2. Candidate cuts: :mod:`ruptures` PELT with the L1 (median) cost, ``min_size`` =
   ``min_persist`` (>= 2) and a penalty ``penalty_scale * sigma * log(n)`` where ``sigma``
   is a robust noise scale (:func:`robust_sigma`). The L1 cost and the minimum segment
   length ignore isolated outliers, such as the single empty pass of a sometimes-empty
   apron. Shifts of the median smaller than ``min_shift`` (relative) or ``min_shift_abs``
   are dropped.
3. Each cut is tested (:func:`shift_p_value`): the shorter side (the *run*) against the
   two-state count model of the longer side, with a run statistic (beta-binomial chance of
   this many passes this low, given how often the old level was this low) and a
   likelihood-ratio statistic (Monte Carlo with a fixed seed), Bonferroni-combined. A
   pier that was never empty gives tiny p-values after two empty passes; an apron empty
   on one pass in five needs three or more low passes, or counts the old regime never
   showed (3-5 aircraft where there were 0 or 12-20). A run that reaches the end of the
   series is tested as it stands; a run elsewhere is multiplied by the number of places
   it could have been found. Failing cuts are removed one at a time, weakest first, and
   the rest re-tested.
4. Dating: the cut is moved to the most likely split nearby; ``after`` is the last
   observation clearly at the old level and ``before`` the first clearly at the new one
   (likelihood ratio of the two sides' models above ``dating_lr``, and on the right side:
   an empty pass never counts as presence). Ambiguous observations in between widen the
   bracket. A significant change needs ``min_persist`` clear observations from
   ``before`` on.
5. A trailing run of unusual observations too short or too weak to be significant is
   returned as a *candidate* change with ``significant=False`` and a reason.

A zone with several series (:func:`zone_changes`) merges changes of the same direction
that lie within ``merge_days`` of each other into one event, with the p-value and levels
of its most significant series. The event is dated by the observations of *every*
series: the primary bracket is narrowed by other series' clear observations inside it,
each classified as old or new level (by its own bracket for a series with its own
change, else by the nearer of its own old level and that level scaled by the primary's
ratio). A sub-metre series outweighs a 10 m one: if a higher-resolution image after the
change still shows the old level, the event is not significant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import ruptures as rpt
from scipy import stats

from basewatch.analysis.baseline import (
    BaselineParams,
    CountModel,
    as_clear,
    as_values,
    day_numbers,
    fit_count_model,
)
from basewatch.errors import InputError

SENSOR_WEIGHT: dict[str, float] = {"highres": 1.0, "sentinel-1": 0.8, "sentinel-2": 0.7}
"""Evidence weight of one sensor's counts: sub-metre counts are the strongest."""
DEFAULT_SENSOR_WEIGHT = 0.6
COMBINED = "combined"
"""Label of a zone's merged series (all sensors, scaled to one)."""


def sensor_weight(sensor: str) -> float:
    """Evidence weight of ``sensor`` (:data:`SENSOR_WEIGHT`, 0.6 for unknown sensors)."""
    return SENSOR_WEIGHT.get(sensor, DEFAULT_SENSOR_WEIGHT)


@dataclass(frozen=True, kw_only=True)
class ChangeParams:
    """How change points are found, tested and merged."""

    baseline: BaselineParams = BaselineParams()
    """Baseline parameters (clear threshold, minimum history, alpha, count model)."""
    min_persist: int = 2
    """Minimum number of clear observations at the new level for a significant change."""
    penalty_scale: float = 1.0
    """Multiplier of the PELT penalty ``sigma * log(n)``; larger finds fewer candidates."""
    candidate_alpha: float = 0.05
    """One-sided p-value under which trailing observations form a candidate change."""
    merge_days: float = 15.0
    """Changes of one direction in different series of a zone within this many days are
    one event."""
    min_shift: float = 0.25
    """Minimum relative shift of the median level, ``|to - from| / max(from, to)``, for a
    change to be reported (smaller shifts are within counting noise)."""
    min_shift_abs: float = 1.0
    """Minimum absolute shift of the median level, in counts."""
    dating_lr: float = 8.0
    """Likelihood ratio (new/old level) above which an observation is dated to the new
    level, and below whose inverse to the old level; in between it is ambiguous."""
    tail_scan: int = 6
    """Besides PELT's candidates, the cuts that leave the last ``min_persist`` to
    ``tail_scan`` observations at a new level are tried (Bonferroni-corrected over the
    cuts tried): PELT's penalty, scaled to the noise of a sometimes-empty zone, misses a
    short final run of empty passes that is nonetheless far outside the zone's history."""

    def __post_init__(self) -> None:
        if not isinstance(self.baseline, BaselineParams):
            raise InputError(
                f"ChangeParams.baseline must be a BaselineParams, got {self.baseline!r}"
            )
        if not isinstance(self.min_persist, int) or self.min_persist < 1:
            raise InputError(
                f"ChangeParams.min_persist must be an integer >= 1, got {self.min_persist!r}"
            )
        if not isinstance(self.tail_scan, int) or self.tail_scan < 0:
            raise InputError(
                f"ChangeParams.tail_scan must be an integer >= 0, got {self.tail_scan!r}; "
                "use 0 to rely on PELT alone"
            )
        for name in ("penalty_scale", "merge_days", "min_shift_abs"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise InputError(f"ChangeParams.{name} must be a positive number, got {v!r}")
        if not isinstance(self.dating_lr, int | float) or not self.dating_lr >= 1:
            raise InputError(
                f"ChangeParams.dating_lr must be a number >= 1, got {self.dating_lr!r}; use e.g. 8"
            )
        if not isinstance(self.min_shift, int | float) or not (0 <= self.min_shift < 1):
            raise InputError(
                f"ChangeParams.min_shift must be in [0, 1), got {self.min_shift!r}; use e.g. 0.25"
            )
        if not isinstance(self.candidate_alpha, int | float) or not (0 < self.candidate_alpha < 1):
            raise InputError(
                f"ChangeParams.candidate_alpha must be in (0, 1), got {self.candidate_alpha!r}"
            )


@dataclass(frozen=True, kw_only=True)
class Change:
    """A level shift, dated between the last observation of the old level and the first of
    the new one."""

    after: datetime
    """Time of the last observation at the old level."""
    before: datetime
    """Time of the first observation at the new level."""
    direction: str
    """``down`` or ``up``."""
    level_from: float
    """Median clear count of the old segment."""
    level_to: float
    """Median clear count of the new segment."""
    significant: bool
    """True when the shift is significant and persistent."""
    p_value: float
    """P-value of the shift (:func:`shift_p_value`)."""
    n_before: int = 0
    """Clear observations in the old segment."""
    n_after: int = 0
    """Clear observations at the new level."""
    sensors: tuple[str, ...] = ()
    """Sensors whose series show the change."""
    dated_with: tuple[str, ...] = ()
    """Sensors whose observations fix ``after`` and ``before``."""
    reason: str = ""
    """Why the change is (not) significant, in plain words."""


@dataclass(frozen=True, kw_only=True)
class Series:
    """One sensor/detector's observations of one zone (input of :func:`zone_changes`)."""

    sensor: str
    """``sentinel-2``, ``sentinel-1`` or ``highres``."""
    times: tuple[datetime, ...]
    """Acquisition times (any order)."""
    values: tuple[float | None, ...]
    """Counts, None when unusable."""
    clear: tuple[float, ...]
    """Clear fractions 0-1."""


# --------------------------------------------------------------------------- one series


_REFINE = 5
"""How many places a PELT cut may move when it is refined by likelihood."""
_BRACKET_ROUNDS = 5
"""Rounds of refitting when a change is dated."""


def shift_p_value(
    old: np.ndarray,
    new: np.ndarray,
    direction: str,
    *,
    params: BaselineParams,
    prior_strength: float = 2.0,
) -> float:
    """P-value that the ``new`` counts come from the same process as the ``old`` counts.

    Two statistics, combined with a Bonferroni factor 2 (``min(1, 2 * min(p_run, p_lr))``);
    the second only when ``old`` holds at least ``2 * min_history`` counts:

    * **run** (:func:`run_p_value`): the chance of this many passes this low (high);
    * **likelihood ratio** (:func:`lr_p_value`): how much better a new Poisson level
      explains ``new`` than the old count model does. It sees counts that are unusual in
      kind rather than in size, e.g. 3-5 aircraft on an apron that was either empty or
      held 12-20.
    """
    if direction not in ("down", "up"):
        raise InputError(f"direction must be 'down' or 'up', got {direction!r}")
    model = fit_count_model(old, params=params)
    p_run = run_p_value(old, new, direction, model=model, prior_strength=prior_strength)
    if old.size < 2 * params.min_history:
        return p_run
    return min(1.0, 2.0 * min(p_run, lr_p_value(new, direction, model=model)))


def run_p_value(
    old: np.ndarray,
    new: np.ndarray,
    direction: str,
    *,
    model: CountModel,
    prior_strength: float = 2.0,
) -> float:
    """Beta-binomial p-value of a run of low (``down``) or high (``up``) counts.

    For ``down``: ``c`` = upper quartile of ``new`` (its maximum for up to four values) and
    ``m`` = number of new counts ``<= c``. The chance ``q`` that one pass is ``<= c`` gets
    a Beta prior centred on ``max(P_model(X <= c), 1 / (len(old) + 1))`` with weight
    ``prior_strength``, updated with the old counts ``<= c`` and ``> c``; the p-value is
    the beta-binomial ``P(M >= m)`` for ``len(new)`` passes: the chance of a run this low
    given how often, and how reliably, the old segment was this low. ``up`` mirrors it
    with the lower quartile.
    """
    k = new.size
    if direction == "down":
        c = float(np.quantile(new, 0.75, method="higher"))
        m = int(np.count_nonzero(new <= c))
        q_model, hits = model.cdf(c), int(np.count_nonzero(old <= c))
    else:
        c = float(np.quantile(new, 0.25, method="lower"))
        m = int(np.count_nonzero(new >= c))
        q_model, hits = model.sf(c), int(np.count_nonzero(old >= c))
    q0 = min(max(q_model, 1.0 / (old.size + 1.0)), 1.0 - 1e-9)
    a = hits + prior_strength * q0
    b = old.size - hits + prior_strength * (1.0 - q0)
    return float(stats.betabinom.sf(m - 1, k, a, b))


_LR_SIMULATIONS = 2000
_LR_SEED = 20241208


def _lr_statistic(x: np.ndarray, direction: str, model: CountModel) -> np.ndarray:
    """Log likelihood ratio, Poisson at the run's mean vs ``model``, per row of ``x``;
    0 for rows whose mean lies on the wrong side of the model's expectation."""
    mean = x.mean(axis=1)
    ll_new = stats.poisson.logpmf(x, mean[:, None]).sum(axis=1)
    ll_old = np.log(model.pmfs(x) + 1e-300).sum(axis=1)
    right_side = mean < model.expected if direction == "down" else mean > model.expected
    return np.where(right_side, ll_new - ll_old, 0.0)


def lr_p_value(new: np.ndarray, direction: str, *, model: CountModel) -> float:
    """Monte Carlo p-value of :func:`_lr_statistic` for ``new`` under ``model``.

    ``_LR_SIMULATIONS`` runs of ``len(new)`` counts are drawn from ``model`` with a fixed
    seed (so results are reproducible); the p-value is ``(1 + #{sim >= obs}) / (1 + N)``.
    """
    obs = float(_lr_statistic(np.floor(new)[None, :], direction, model)[0])
    if obs <= 0:
        return 1.0
    rng = np.random.default_rng(_LR_SEED)
    sims = _lr_statistic(model.sample(rng, (_LR_SIMULATIONS, new.size)), direction, model)
    return float((1 + np.count_nonzero(sims >= obs - 1e-9)) / (1 + _LR_SIMULATIONS))


def robust_sigma(values: np.ndarray) -> float:
    """Noise scale of a series from the lower quartile of its absolute first differences
    (``q25 / 0.4506`` for Gaussian noise), at least 0.5.

    The lower quartile ignores the large jumps of a sometimes-empty zone (an apron empty on
    one pass in five makes two in five differences large), which would inflate a MAD.
    """
    if values.size < 3:
        return 0.5
    q25 = float(np.quantile(np.abs(np.diff(values)), 0.25))
    return max(q25 / 0.4506, 0.5)


@dataclass(frozen=True)
class _Cut:
    index: int
    p: float
    direction: str
    reason: str
    shift: float = 0.0
    """Relative shift of the median level across the cut."""
    testable: bool = True
    """False when a segment is too short to test the cut."""


def _test_cut(vals: np.ndarray, bounds: list[int], j: int, params: ChangeParams) -> _Cut:
    """Test cut ``bounds[j]`` between the segments ``bounds[j-1]:bounds[j]:bounds[j+1]``.

    The shorter segment (the *run*) is tested against the count model of the longer one
    (the *baseline*) with :func:`shift_p_value`. A run that reaches the end of the series
    is the zone's current state, a run at a fixed place (its length is a property of the
    data, not a choice); any other run could have been found anywhere in the series, so
    its p-value is multiplied by the number of places a run of that length fits in it.
    """
    n = vals.size
    lo, cut, hi = bounds[j - 1], bounds[j], bounds[j + 1]
    old, new = vals[lo:cut], vals[cut:hi]
    m_old, m_new = float(np.median(old)), float(np.median(new))
    direction = "down" if m_new < m_old else "up"
    shift = abs(m_new - m_old) / max(m_old, m_new, 1e-9)
    if not _large_enough(m_old, m_new, params):
        return _Cut(cut, 1.0, direction, "shift of the median level too small", shift)
    if new.size < params.min_persist:
        return _Cut(
            cut,
            1.0,
            direction,
            f"only {new.size} clear observation(s) at the new level (need {params.min_persist})",
            shift,
            False,
        )
    if new.size <= old.size:
        run, base, anchored, run_dir = new, old, hi == n, direction
    else:
        run, base, anchored = old, new, False
        run_dir = "up" if direction == "down" else "down"
    if base.size < params.baseline.min_history:
        return _Cut(
            cut,
            1.0,
            direction,
            f"only {base.size} clear observations in the longer segment "
            f"(need {params.baseline.min_history})",
            shift,
            False,
        )
    p = shift_p_value(base, run, run_dir, params=params.baseline)
    if not anchored:
        p = min(1.0, p * (n - run.size + 1))
    reason = "significant and persistent" if p < params.baseline.alpha else "not significant"
    return _Cut(cut, p, direction, reason, shift)


def _weakest(cuts: list[_Cut], alpha: float) -> int | None:
    """Index of the cut to remove next: the testable non-significant cut with the largest
    p-value, else the untestable cut with the smallest shift, else None (all significant)."""
    failing = [i for i, c in enumerate(cuts) if c.p >= alpha and c.testable]
    if failing:
        return max(failing, key=lambda i: (cuts[i].p, -cuts[i].index))
    untestable = [i for i, c in enumerate(cuts) if not c.testable]
    if untestable:
        return min(untestable, key=lambda i: (cuts[i].shift, cuts[i].index))
    return None


def _large_enough(level_from: float, level_to: float, params: ChangeParams) -> bool:
    """True when a median shift passes ``min_shift`` and ``min_shift_abs``."""
    d = abs(level_to - level_from)
    return d >= params.min_shift_abs and d >= params.min_shift * max(level_from, level_to)


def _significant_cuts(vals: np.ndarray, params: ChangeParams) -> list[_Cut]:
    """PELT candidates pruned to the cuts that pass :func:`shift_p_value`."""
    n = vals.size
    min_size = max(2, params.min_persist)
    if n < 2 * min_size:
        return []
    pen = params.penalty_scale * robust_sigma(vals) * math.log(n)
    algo = rpt.Pelt(model="l1", min_size=min_size, jump=1).fit(vals.reshape(-1, 1))
    kept = _prune([int(b) for b in algo.predict(pen=pen)[:-1]], vals, params)
    tail = _tail_cut(vals, kept[-1].index if kept else 0, params)
    if tail is None:
        return kept
    cut, p_adjusted = tail
    retested = _prune([*(c.index for c in kept), cut], vals, params)
    if retested and retested[-1].index == cut:
        retested[-1] = replace(retested[-1], p=max(retested[-1].p, p_adjusted))
    return retested


def _prune(cuts: list[int], vals: np.ndarray, params: ChangeParams) -> list[_Cut]:
    """Remove the weakest cut until every remaining one passes :func:`_test_cut`."""
    cuts = list(cuts)
    while cuts:
        bounds = [0, *cuts, vals.size]
        tested = [_test_cut(vals, bounds, j, params) for j in range(1, len(bounds) - 1)]
        worst = _weakest(tested, params.baseline.alpha)
        if worst is None:
            return tested
        del cuts[worst]
    return []


def _tail_cut(vals: np.ndarray, start: int, params: ChangeParams) -> tuple[int, float] | None:
    """The best cut leaving ``min_persist`` to ``tail_scan`` final observations at a new
    level after ``start``, when it is significant once multiplied by the cuts tried:
    ``(cut, corrected p-value)``; None otherwise."""
    n = vals.size
    first = max(start + params.baseline.min_history, n - params.tail_scan)
    last = n - params.min_persist
    if params.tail_scan < params.min_persist or first > last:
        return None
    tried = [_test_cut(vals, [start, c, n], 1, params) for c in range(first, last + 1)]
    best = min(tried, key=lambda c: (c.p, c.index))
    p = min(1.0, best.p * len(tried))
    return (best.index, p) if p < params.baseline.alpha else None


def _trailing_candidate(
    vals: np.ndarray, start: int, params: ChangeParams
) -> tuple[int, str, float, str] | None:
    """A trailing run of unusual values in ``vals[start:]`` not yet significant, if any.

    Returns ``(first index of the run, direction, p-value, reason)``.
    """
    seg = vals[start:]
    if seg.size < params.baseline.min_history + 1:
        return None
    model = fit_count_model(seg[:-1], params=params.baseline)
    low = model.cdf(seg[-1]) < params.candidate_alpha
    high = model.sf(seg[-1]) < params.candidate_alpha
    if not (low or high):
        return None
    direction = "down" if low else "up"
    tail = model.cdf if low else model.sf
    run = 0
    while run < seg.size - params.baseline.min_history and (
        tail(seg[seg.size - 1 - run]) < params.candidate_alpha
    ):
        run += 1
    first = vals.size - run
    if not _large_enough(float(np.median(seg[:-run])), float(np.median(vals[first:])), params):
        return None
    p = shift_p_value(vals[start:first], vals[first:], direction, params=params.baseline)
    if run < params.min_persist:
        reason = f"only {run} clear observation(s) at the new level (need {params.min_persist})"
    else:
        reason = f"not significant yet (p = {p:.3g})"
    return first, direction, p, reason


def find_changes(
    times: Sequence[datetime],
    values: Sequence[float | None],
    *,
    params: ChangeParams | None = None,
    clear: Sequence[float] | None = None,
    sensor: str = "",
) -> list[Change]:
    """Significant level shifts of one series, plus a trailing candidate if any.

    Only clear observations are used: value not None/NaN and, when ``clear`` is given,
    ``clear_fraction >= params.baseline.min_clear``. The result is in time order. Entries
    with ``significant=False`` are the trailing candidate, or shifts that passed the test
    but kept fewer than ``min_persist`` observations beyond the old median once dated
    (their ``reason`` says which).
    """
    params = params or ChangeParams()
    n = len(times)
    if len(values) != n:
        raise InputError(
            f"values has {len(values)} entries but there are {n} times; pass one value per time"
        )
    days = day_numbers(times)
    vals = as_values(values)
    keep = np.isfinite(vals)
    if clear is not None:
        keep &= as_clear(clear, n) >= params.baseline.min_clear
    order = [i for i in np.argsort(days, kind="stable") if keep[i]]
    t = [times[i] for i in order]
    v = vals[order]
    cuts = _significant_cuts(v, params)
    sensors = (sensor,) if sensor else ()
    bounds = [0, *(c.index for c in cuts), v.size]
    changes = [
        _make_change(
            t,
            v,
            (bounds[j], c.index, bounds[j + 2]),
            c.direction,
            c.p,
            c.reason,
            significant=True,
            sensors=sensors,
            params=params,
        )
        for j, c in enumerate(cuts)
    ]
    cand = _trailing_candidate(v, bounds[-2], params)
    if cand is not None:
        first, direction, p, reason = cand
        changes.append(
            _make_change(
                t,
                v,
                (bounds[-2], first, v.size),
                direction,
                p,
                reason,
                significant=False,
                sensors=sensors,
                params=params,
            )
        )
    return changes


def _loglik(model: CountModel, x: np.ndarray) -> float:
    return float(np.sum(np.log(model.pmfs(x) + 1e-300)))


def _refine_cut(v: np.ndarray, lo: int, cut: int, hi: int, params: ChangeParams) -> int:
    """Split of ``v[lo:hi]`` within ``_REFINE`` places of ``cut`` with the highest likelihood
    under count models fitted to each side. A side shorter than ``min_history`` gives too
    loose a model to move the cut by, so such a cut (a short final run found by the tail
    scan) is kept where its test put it."""
    if min(cut - lo, hi - cut) < params.baseline.min_history:
        return cut
    best, best_ll = cut, -math.inf
    for s in range(max(lo + 1, cut - _REFINE), min(hi - 1, cut + _REFINE) + 1):
        m_old = fit_count_model(v[lo:s], params=params.baseline)
        m_new = fit_count_model(v[s:hi], params=params.baseline)
        ll = _loglik(m_old, v[lo:s]) + _loglik(m_new, v[s:hi])
        if ll > best_ll + 1e-9:
            best, best_ll = s, ll
    return best


def _bracket(v: np.ndarray, lo: int, cut: int, hi: int, params: ChangeParams) -> tuple[int, int]:
    """Indices ``(a, b)``: last observation at the old level and first at the new one.

    The cut is first moved to the most likely split near it; observations are then
    assigned to a level by the likelihood ratio of the two sides' count models, and only
    on the right side of the other level: for a drop, the old level must show more than
    the new median (an empty pass never shows presence) and the new level less than the
    old median. Values that both explain (the routine empty pass of an apron just before
    a withdrawal) stay between ``a`` and ``b`` and widen the bracket. The models are then
    refitted without the ambiguous values and the assignment repeated until it settles.
    """
    cut = _refine_cut(v, lo, cut, hi, params)
    a, b = cut - 1, cut
    for _ in range(_BRACKET_ROUNDS):
        old, new = v[lo : a + 1], v[b:hi]
        m_old = fit_count_model(old, params=params.baseline)
        m_new = fit_count_model(new, params=params.baseline)
        sign = 1.0 if np.median(new) < np.median(old) else -1.0  # +1 for a drop
        ratio = (m_new.pmfs(v) + 1e-300) / (m_old.pmfs(v) + 1e-300)
        is_new = (ratio > params.dating_lr) & (sign * (np.median(old) - v) > 0)
        is_old = (ratio < 1.0 / params.dating_lr) & (sign * (v - np.median(new)) > 0)
        # With only a few passes at the new level its fitted model is loose and nothing may
        # pass ``dating_lr``: then the first value from the current cut on that is at least
        # sqrt(dating_lr) times likelier new than old starts the new level, so an ambiguous
        # value at the boundary widens the bracket instead of being taken as new.
        likely_new = (ratio > math.sqrt(params.dating_lr)) & (sign * (np.median(old) - v) > 0)
        nb = next(
            (i for i in range(a + 1, hi) if is_new[i]),
            next((i for i in range(b, hi) if likely_new[i]), b),
        )
        na = next((i for i in range(nb - 1, lo - 1, -1) if is_old[i]), min(a, nb - 1))
        if (na, nb) == (a, b):
            break
        a, b = na, nb
    return a, b


def _persisting(v: np.ndarray, lo: int, a: int, hi: int, direction: str) -> int:
    """Observations after the last one at the old level (``a``) that lie beyond the old
    segment's median in the change's direction: how long the new level has held.

    The bracket's first clearly-new observation is not used here: with only a few passes
    at the new level, a value such as 3 after a history of 5-7 is not clearly new by
    likelihood ratio, yet it is below every usual old count and shows the change holding.
    """
    old_median = float(np.median(v[lo : a + 1]))
    after = v[a + 1 : hi]
    beyond = after < old_median if direction == "down" else after > old_median
    return int(np.count_nonzero(beyond))


def _make_change(
    t: list[datetime],
    v: np.ndarray,
    span: tuple[int, int, int],
    direction: str,
    p: float,
    reason: str,
    *,
    significant: bool,
    sensors: tuple[str, ...],
    params: ChangeParams,
) -> Change:
    lo, cut, hi = span
    a, b = _bracket(v, lo, cut, hi, params)
    persist = _persisting(v, lo, a, hi, direction)
    if significant and persist < params.min_persist:
        significant = False
        reason = (
            f"only {persist} clear observation(s) beyond the old median since the change "
            f"(need {params.min_persist})"
        )
    return Change(
        after=t[a],
        before=t[b],
        direction=direction,
        level_from=float(np.median(v[lo : a + 1])),
        level_to=float(np.median(v[b:hi])),
        significant=significant,
        p_value=p,
        n_before=a + 1 - lo,
        n_after=hi - b,
        sensors=sensors,
        dated_with=sensors,
        reason=reason,
    )


# --------------------------------------------------------------------------- zones


@dataclass(frozen=True)
class _Clear:
    """Clear observations of one series in time order."""

    sensor: str
    days: np.ndarray
    values: np.ndarray
    times: list[datetime]
    obs_sensors: tuple[str, ...] = ()
    """Sensor of each observation (combined series only)."""


def _clear_series(s: Series, params: BaselineParams) -> _Clear:
    n = len(s.times)
    if len(s.values) != n or len(s.clear) != n:
        raise InputError(
            f"series {s.sensor!r} has {n} times, {len(s.values)} values and "
            f"{len(s.clear)} clear fractions; they must be parallel"
        )
    days = day_numbers(s.times)
    vals = as_values(s.values)
    keep = np.isfinite(vals) & (as_clear(s.clear, n) >= params.min_clear)
    order = [i for i in np.argsort(days, kind="stable") if keep[i]]
    return _Clear(s.sensor, days[order], vals[order], [s.times[i] for i in order])


def _cluster(items: list[tuple[int, Change]], merge_days: float) -> list[list[tuple[int, Change]]]:
    """Group per-series changes of one direction whose dates lie within ``merge_days``."""
    items = sorted(items, key=lambda it: (it[1].before, it[0]))
    clusters: list[list[tuple[int, Change]]] = []
    for si, ch in items:
        for cl in clusters:
            ref = cl[0][1]
            close = abs((ch.before - ref.before).total_seconds()) <= merge_days * 86400
            if ch.direction == ref.direction and close and all(s != si for s, _ in cl):
                cl.append((si, ch))
                break
        else:
            clusters.append([(si, ch)])
    return clusters


def _levels(
    series: _Clear, primary: Change, after_day: float, window: float
) -> tuple[float, float] | None:
    """Old and new level of a series without its own change, in its own scale: the median
    of its clear counts in the window before the event, scaled by the primary's ratio; the
    primary's own levels when the series has no count there (a sparse sub-metre series)."""
    sel = (series.days <= after_day) & (series.days >= after_day - window)
    if not np.any(sel):
        return primary.level_from, primary.level_to
    if primary.level_from <= 0:
        return None
    old = float(np.median(series.values[sel]))
    return old, old * primary.level_to / primary.level_from


def _is_at(value: float, target: float, other: float) -> bool:
    """True when ``value`` is strictly closer to ``target`` than to ``other``."""
    return abs(value - target) < abs(value - other)


def _classify(
    series: _Clear, i: int, own: Change | None, levels: tuple[float, float] | None
) -> str | None:
    """``old``, ``new`` or None (ambiguous) for observation ``i`` of ``series``.

    A series with its own change in the event uses its own bracket; another series uses
    the nearer of its old and new levels.
    """
    if own is not None:
        if series.times[i] <= own.after:
            return "old"
        return "new" if series.times[i] >= own.before else None
    if levels is None:
        return None
    old, new = levels
    v = float(series.values[i])
    if _is_at(v, new, old):
        return "new"
    return "old" if _is_at(v, old, new) else None


def _weight(si: int, ch: Change, clear: list[_Clear]) -> float:
    """Evidence weight of a series' change: its sensor's, or the best of a combined run's."""
    if clear[si].sensor == COMBINED:
        return max((sensor_weight(x) for x in ch.sensors), default=DEFAULT_SENSOR_WEIGHT)
    return sensor_weight(clear[si].sensor)


def _merge_cluster(
    cluster: list[tuple[int, Change]],
    clear: list[_Clear],
    next_start: float,
    params: ChangeParams,
) -> Change:
    """One event from the changes of several series (see the module docstring).

    ``clear`` holds the zone's real series, then possibly the combined series, which
    takes part in the choice of the primary change but not in the dating walk (its
    observations are the real series' observations).
    """
    sig = [it for it in cluster if it[1].significant]
    pool = sig or cluster
    psi, primary = min(pool, key=lambda it: (it[1].p_value, -_weight(it[0], it[1], clear), it[0]))
    w_primary = _weight(psi, primary, clear)
    own = dict(cluster)
    real = [si for si, s in enumerate(clear) if s.sensor != COMBINED]
    a_day, b_day = day_numbers([primary.after, primary.before])
    levels = {
        si: None if si in own else _levels(clear[si], primary, a_day, params.baseline.window_days)
        for si in real
    }
    inside = sorted(
        (d, si, i) for si in real for i, d in enumerate(clear[si].days) if a_day < d < b_day
    )
    after, before = primary.after, primary.before
    dated = set(primary.dated_with) if clear[psi].sensor == COMBINED else {clear[psi].sensor}
    after_sensors, before_sensors = set(dated), set(dated)
    for _, si, i in inside:
        label = _classify(clear[si], i, own.get(si), levels[si])
        if label == "new":
            before, before_sensors = clear[si].times[i], {clear[si].sensor}
            break
        if label == "old":
            after, after_sensors = clear[si].times[i], {clear[si].sensor}
    b_day = day_numbers([before])[0]
    n_after, contradiction = 0, None
    for si in real:
        s = clear[si]
        if si in own:
            n_after += own[si].n_after
            continue
        for i in map(int, np.flatnonzero((s.days >= b_day) & (s.days < next_start))):
            label = _classify(s, i, None, levels[si])
            n_after += int(label == "new")
            stronger = sensor_weight(s.sensor) > w_primary
            if label == "old" and stronger and contradiction is None:
                contradiction = f"{s.sensor} image of {s.times[i]:%Y-%m-%d} shows the old level"
    n_after = max([n_after] + [ch.n_after for si, ch in cluster if clear[si].sensor == COMBINED])
    significant = bool(sig) and contradiction is None
    reason = primary.reason
    if contradiction is not None:
        reason = f"contradicted: {contradiction}"
    elif not sig and n_after >= params.min_persist and primary.reason.startswith("only"):
        reason = f"not significant yet (p = {primary.p_value:.3g})"
    sensors = {x for si, ch in pool for x in (ch.sensors if clear[si].sensor == COMBINED else
                                             (clear[si].sensor,))}  # fmt: skip
    return replace(
        primary,
        after=after,
        before=before,
        significant=significant,
        n_after=n_after,
        sensors=tuple(sorted(sensors)),
        dated_with=tuple(sorted(after_sensors | before_sensors)),
        reason=reason,
    )


def _combined_series(clear: list[_Clear], params: ChangeParams) -> _Clear | None:
    """All series of a zone merged in time order, each scaled to the busiest series.

    A series with at least ``min_history`` clear counts is scaled by the ratio of upper
    quartiles (busiest / its own) when that ratio is off 1 by more than 25 %, and left out
    when its upper quartile is 0 (it never sees the target); a sparser series (e.g. a few
    sub-metre images) counts the same objects and is taken as is. Scaled values are
    rounded to whole counts.
    """
    if len(clear) < 2:
        return None
    ref = max(clear, key=lambda c: (c.values.size, sensor_weight(c.sensor)))
    ref_q = float(np.quantile(ref.values, 0.75)) if ref.values.size else 0.0
    parts: list[tuple[float, float, datetime, str]] = []
    for c in clear:
        factor = 1.0
        if c is not ref and c.values.size >= params.baseline.min_history:
            q = float(np.quantile(c.values, 0.75))
            if q <= 0:
                continue
            factor = ref_q / q if ref_q > 0 else 1.0
            if abs(factor - 1.0) <= 0.25:
                factor = 1.0
        parts += [
            (float(d), float(np.round(v * factor)), t, c.sensor)
            for d, v, t in zip(c.days, c.values, c.times, strict=True)
        ]
    if len({p[3] for p in parts}) < 2:
        return None
    parts.sort(key=lambda p: (p[0], p[3]))
    return _Clear(
        COMBINED,
        np.array([p[0] for p in parts]),
        np.array([p[1] for p in parts]),
        [p[2] for p in parts],
        tuple(p[3] for p in parts),
    )


def _combined_changes(comb: _Clear, params: ChangeParams) -> list[Change]:
    """Changes of the combined series, labelled with the sensors that show them."""
    out = []
    for ch in find_changes(comb.times, list(comb.values), params=params, sensor=COMBINED):
        b = next(i for i, t in enumerate(comb.times) if t >= ch.before)
        a = max(i for i, t in enumerate(comb.times) if t <= ch.after)
        run = comb.obs_sensors[b : b + max(ch.n_after, 1)]
        out.append(
            replace(
                ch,
                sensors=tuple(sorted(set(run))),
                dated_with=tuple(sorted({comb.obs_sensors[a], comb.obs_sensors[b]})),
            )
        )
    return out


def zone_changes(series: Sequence[Series], *, params: ChangeParams | None = None) -> list[Change]:
    """Changes of one zone, merged over its series and dated with every series.

    Each series is searched on its own and, when the zone has several, the series merged
    into one (:func:`_combined_series`) are searched too, so that a change seen by two
    sensors with one image each still counts as persistent. See the module docstring for
    the merging and dating rules. The result is in time order; candidate (not
    significant) events are included with ``significant=False``.
    """
    params = params or ChangeParams()
    clear = [_clear_series(s, params.baseline) for s in series]
    items = [
        (si, ch)
        for si, s in enumerate(clear)
        for ch in find_changes(s.times, list(s.values), params=params, sensor=s.sensor)
    ]
    comb = _combined_series(clear, params)
    if comb is not None:
        items += [(len(clear), ch) for ch in _combined_changes(comb, params)]
        clear.append(comb)
    clusters = _cluster(items, params.merge_days)
    starts = [min(day_numbers([ch.after])[0] for _, ch in cl) for cl in clusters]
    events = []
    for k, cl in enumerate(clusters):
        next_start = starts[k + 1] if k + 1 < len(clusters) else math.inf
        events.append(_merge_cluster(cl, clear, next_start, params))
    return sorted(events, key=lambda c: (c.before, c.after, c.direction))

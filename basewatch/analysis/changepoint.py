"""Change points of one count series: find level shifts, test them and date them.

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
4. Dating: the cut is moved to the most likely split nearby; the bracket is then a
   likelihood support interval: every split whose likelihood under the two sides' count
   models is within a factor ``dating_lr`` of the best one is a possible date, ``after``
   is the observation before the earliest and ``before`` the latest. Observations both
   levels explain thus widen the bracket. A significant change needs ``min_persist``
   clear observations beyond the old median from the cut on.
5. A trailing run of unusual observations too short or too weak to be significant is
   returned as a *candidate* change with ``significant=False`` and a reason.

Several series of one zone are merged into events by :mod:`basewatch.analysis.zones`.
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
    dating_lr: float = 30.0
    """Width of the dating bracket: every change date whose likelihood is within this
    factor of the most likely one lies inside it. 30 (2 ln 30 = 6.8) makes it about a
    99 % interval; 8 about 95 %, narrower but missing the true date more often."""
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
                f"ChangeParams.dating_lr must be a number >= 1, got {self.dating_lr!r}; use e.g. 30"
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
    """Indices ``(a, b)``: last observation at the old level and first at the new one, for
    a change first placed before ``cut``.

    The bracket is a likelihood support interval for the change: with count models fitted
    to each side, every split ``s`` of ``v[lo:hi]`` (old level before ``s``, new from ``s``
    on) whose likelihood is within a factor ``dating_lr`` of the best split is a possible
    date, and the bracket spans them all: ``a`` is the observation before the earliest
    possible split, ``b`` the latest possible split. Values that both levels explain (the
    routine empty pass of an apron just before a withdrawal, a missed detection at a pier
    just before the ships sail) thus widen the bracket instead of fixing the date. The
    models are refitted on the values outside the bracket until it settles.
    """
    a, b = cut - 1, cut
    support = math.log(params.dating_lr)
    for _ in range(_BRACKET_ROUNDS):
        m_old = fit_count_model(v[lo : a + 1], params=params.baseline)
        m_new = fit_count_model(v[b:hi], params=params.baseline)
        seg = v[lo:hi]
        gain = np.log(m_new.pmfs(seg) + 1e-300) - np.log(m_old.pmfs(seg) + 1e-300)
        # log likelihood (up to a constant) of the split before each of lo + 1 .. hi - 1
        ll = np.cumsum(gain[::-1])[::-1][1:]
        splits = lo + 1 + np.flatnonzero(ll >= ll.max() - support)
        na, nb = int(splits.min()) - 1, int(splits.max())
        if (na, nb) == (a, b):
            break
        a, b = na, nb
    return a, b


def _persisting(v: np.ndarray, lo: int, cut: int, hi: int, direction: str) -> int:
    """Observations from ``cut`` on that lie beyond the median of ``v[lo:cut]`` in the
    change's direction: how long the new level has held.

    The bracket is not used here: with only a few passes at the new level, a value such as
    3 after a history of 5-7 is not clearly new by likelihood, yet it is below every usual
    old count and shows the change holding; and a bracket widened by ambiguous values
    says nothing about how long the new level has held.
    """
    old_median = float(np.median(v[lo:cut]))
    after = v[cut:hi]
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
    cut = _refine_cut(v, lo, cut, hi, params)
    a, b = _bracket(v, lo, cut, hi, params)
    persist = _persisting(v, lo, cut, hi, direction)
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

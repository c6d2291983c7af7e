"""Per-zone baselines: the expected count of a zone and the significance of a new count.

The baseline of an observation is the zone's own recent history: the clear observations
(``clear_fraction >= min_clear``, value present) of the same series in the
``window_days`` before it. That history is fitted with a two-state count model
(:class:`CountModel`), built for aprons and piers that are *sometimes empty*:

* a **low state** ("empty or nearly"): history values at or below
  ``empty_fraction`` x the history's upper quartile (and always those <= ``empty_max``),
  weight ``pi_low`` = their share, counts Poisson with a small rate ``lam_low``;
* an **occupied state**: the other values, with their mean and variance (widened by
  ``1 + 1/n`` for the uncertainty of the fitted mean): negative binomial when
  over-dispersed, Poisson, or, when under-dispersed (a steady zone counted with a little
  detector noise), a scaled Poisson ``round(d * Poisson(mean / d))`` with
  ``d = variance / mean >= min_dispersion``.

A new count's p-value is two-sided from the mixture's tails,
``min(1, 2 * min(P(X <= x), P(X >= x)))``. A zero on an apron that was empty on one pass
in five therefore has ``P(X <= 0) ~ 0.2`` and is not significant, while a zero at a pier
that was never empty is (``P(X <= 0)`` is the Poisson/negative-binomial tail of the
occupied level). An observation is *conclusive* when its image is clear enough and the
history holds at least ``min_history`` clear observations; only conclusive observations
can be significant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
from scipy import stats

from basewatch.errors import InputError

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True, kw_only=True)
class BaselineParams:
    """How a zone's history becomes a baseline and when a count is significant."""

    min_clear: float = 0.7
    """Minimum clear fraction (0-1) for an observation to count as clear."""
    min_history: int = 6
    """Minimum number of clear observations in the window for a conclusive judgement."""
    window_days: float = 120.0
    """Length of the history window before each observation, in days."""
    alpha: float = 0.01
    """Significance level for observations and changes."""
    empty_fraction: float = 0.25
    """History values at or below this fraction of the history's upper quartile are
    counted in the low ("empty") state of the count model."""
    empty_max: float = 1.0
    """History values at or below this count are always in the low state (an empty zone
    may show a false detection)."""
    min_dispersion: float = 0.5
    """Smallest variance/mean ratio assumed for the occupied state: counts of a steady
    zone vary less than Poisson, but a short history must not make them look exact."""

    def __post_init__(self) -> None:
        _check_range("min_clear", self.min_clear, 0.0, 1.0)
        if not isinstance(self.min_history, int) or self.min_history < 2:
            raise InputError(
                f"BaselineParams.min_history must be an integer >= 2, got {self.min_history!r}; "
                "use at least 2 (6 is a good default)"
            )
        if not math.isfinite(self.window_days) or self.window_days <= 0:
            raise InputError(
                f"BaselineParams.window_days must be a positive number of days, "
                f"got {self.window_days!r}; use e.g. 120"
            )
        _check_open("alpha", self.alpha)
        _check_range("empty_fraction", self.empty_fraction, 0.0, 1.0)
        if not isinstance(self.min_dispersion, int | float) or not (0 < self.min_dispersion <= 1):
            raise InputError(
                f"BaselineParams.min_dispersion must be in (0, 1], got {self.min_dispersion!r}"
            )
        if not isinstance(self.empty_max, int | float) or not (0 <= self.empty_max < math.inf):
            raise InputError(
                f"BaselineParams.empty_max must be a count >= 0, got {self.empty_max!r}"
            )


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not isinstance(value, int | float) or not (lo <= value <= hi):
        raise InputError(f"BaselineParams.{name} must be in [{lo}, {hi}], got {value!r}")


def _check_open(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not (0.0 < value < 1.0):
        raise InputError(f"{name} must be strictly between 0 and 1, got {value!r}; use e.g. 0.01")


# --------------------------------------------------------------------------- time helpers


def as_utc(value: datetime | date, *, name: str = "time") -> datetime:
    """Return ``value`` as a timezone-aware UTC datetime.

    Naive datetimes are taken as UTC; a plain :class:`date` means the *end* of that day
    (so ``as_of=date(2024, 12, 15)`` includes the images of 15 December).
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time.max, tzinfo=UTC)
    raise InputError(f"{name} must be a datetime or a date, got {value!r}")


def day_numbers(times: Sequence[datetime]) -> np.ndarray:
    """Times as float days since 1970-01-01 UTC (for arithmetic on irregular series)."""
    return np.array([as_utc(t).timestamp() / SECONDS_PER_DAY for t in times], dtype=float)


def from_day_number(day: float) -> datetime:
    """Inverse of :func:`day_numbers` for one value."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=float(day))


def as_values(values: Sequence[float | None], *, name: str = "values") -> np.ndarray:
    """Counts as a float array with NaN for missing values; negative counts are rejected."""
    out = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    bad = np.flatnonzero(out < 0)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"{name}[{i}] is {out[i]!r}; counts must be >= 0 (use None for an unusable image)"
        )
    return out


def as_clear(clear: Sequence[float], n: int) -> np.ndarray:
    """Clear fractions as a float array, checked against length ``n`` and the range 0-1."""
    arr = np.asarray(clear, dtype=float)
    if arr.shape != (n,):
        raise InputError(
            f"clear has {arr.size} entries but there are {n} times; pass one clear "
            "fraction per observation"
        )
    bad = np.flatnonzero(~((arr >= 0) & (arr <= 1)))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"clear[{i}] is {arr[i]!r}; a clear fraction must be in [0, 1]")
    return arr


# --------------------------------------------------------------------------- count model


@dataclass(frozen=True, kw_only=True)
class CountModel:
    """Two-state count model fitted to a zone's history (see the module docstring)."""

    n: int
    """Number of history values the model was fitted on."""
    pi_low: float
    """Weight of the low ("empty") state: share of history values in it."""
    lam_low: float
    """Poisson rate of the low state."""
    mean_high: float
    """Mean of the occupied state (0 when the history holds no occupied value)."""
    var_high: float
    """Predictive variance of the occupied state (>= ``mean_high``)."""

    @property
    def expected(self) -> float:
        """Mean count under the model."""
        return self.pi_low * self.lam_low + (1.0 - self.pi_low) * self.mean_high

    def _high(self, fn: str, k: np.ndarray) -> np.ndarray:
        """scipy-style ``fn`` (``pmf``, ``cdf`` = P(X <= k), ``sf`` = P(X > k)) of the
        occupied state at whole counts ``k``."""
        m, v = self.mean_high, self.var_high
        if v > m * (1 + 1e-9):
            return np.asarray(getattr(stats.nbinom, fn)(k, m * m / (v - m), m / v), dtype=float)
        d = min(v / m, 1.0)
        if d >= 1.0 - 1e-9:
            return np.asarray(getattr(stats.poisson, fn)(k, m), dtype=float)
        # under-dispersed: X = round(d * Y) with Y ~ Poisson(m / d)
        lam = m / d

        def cdf(x: np.ndarray) -> np.ndarray:
            return np.asarray(stats.poisson.cdf(np.ceil((x + 0.5) / d) - 1, lam), dtype=float)

        if fn == "cdf":
            return cdf(k)
        if fn == "sf":
            return np.asarray(stats.poisson.sf(np.ceil((k + 0.5) / d) - 1, lam), dtype=float)
        return cdf(k) - cdf(k - 1)

    def _mix(self, fn: str, k: np.ndarray) -> np.ndarray:
        """Mixture of the two states' scipy ``fn`` (``pmf``, ``cdf`` or ``sf``) at counts ``k``."""
        low = getattr(stats.poisson, fn)(k, self.lam_low) if self.pi_low > 0 else 0.0
        if self.pi_low >= 1.0 or self.mean_high <= 0:
            high = np.full(k.shape, 1.0 if fn == "cdf" else 0.0)
        else:
            high = self._high(fn, k)
        return np.asarray(self.pi_low * low + (1.0 - self.pi_low) * high, dtype=float)

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        """Random counts from the model (for Monte Carlo tests)."""
        low = rng.poisson(self.lam_low, shape)
        m, v = self.mean_high, self.var_high
        if self.pi_low >= 1.0 or m <= 0:
            return low.astype(float)
        if v > m * (1 + 1e-9):
            high = rng.negative_binomial(m * m / (v - m), m / v, shape)
        else:
            d = min(v / m, 1.0)
            high = np.round(d * rng.poisson(m / d, shape))
        return np.where(rng.random(shape) < self.pi_low, low, high).astype(float)

    def pmfs(self, x: np.ndarray) -> np.ndarray:
        """``P(X = x)`` for an array of counts (rounded down to whole counts)."""
        return self._mix("pmf", np.floor(np.asarray(x, dtype=float)))

    def pmf(self, x: float) -> float:
        """``P(X = x)`` (x rounded down to a whole count)."""
        return float(self.pmfs(np.array([x]))[0])

    def cdf(self, x: float) -> float:
        """``P(X <= x)`` (x rounded down to a whole count)."""
        k = math.floor(x)
        return 0.0 if k < 0 else float(self._mix("cdf", np.array([k]))[0])

    def sf(self, x: float) -> float:
        """``P(X >= x)`` (x rounded up to a whole count)."""
        k = math.ceil(x)
        return 1.0 if k <= 0 else float(self._mix("sf", np.array([k - 1]))[0])

    def p_two_sided(self, x: float) -> float:
        """Two-sided p-value of count ``x``: ``min(1, 2 * min(P(X <= x), P(X >= x)))``."""
        return min(1.0, 2.0 * min(self.cdf(x), self.sf(x)))

    def usual_range(self, alpha: float) -> tuple[float, float] | None:
        """``(low, high)``: the smallest and largest whole counts whose two-sided p-value is
        at least ``alpha``, i.e. the band a count must leave to be significant; None when no
        count is that usual."""
        counts = np.arange(0.0, 3.0 * self.mean_high + 10.0 * math.sqrt(self.var_high) + 20.0)
        cdf = np.cumsum(self.pmfs(counts))
        at_least = 1.0 - np.concatenate([[0.0], cdf[:-1]])
        inside = counts[np.minimum(1.0, 2.0 * np.minimum(cdf, at_least)) >= alpha]
        return (float(inside[0]), float(inside[-1])) if inside.size else None


def fit_count_model(history: Sequence[float] | np.ndarray, *, params: BaselineParams) -> CountModel:
    """Fit the two-state :class:`CountModel` to clear history counts (NaN-free, >= 1 value)."""
    h = np.asarray(history, dtype=float)
    if h.size == 0 or not np.all(np.isfinite(h)):
        raise InputError("history must hold at least one finite count to fit a baseline")
    cut = max(params.empty_fraction * float(np.quantile(h, 0.75)), params.empty_max)
    low, high = h[h <= cut], h[h > cut]
    pi_low = low.size / h.size
    lam_low = (float(low.sum()) + 0.5) / (low.size + 1.0)
    if high.size == 0:
        return CountModel(n=h.size, pi_low=1.0, lam_low=lam_low, mean_high=0.0, var_high=0.0)
    mean = float(high.mean())
    var = float(high.var(ddof=1)) if high.size >= 2 else mean
    var_pred = max(var, params.min_dispersion * mean) * (1.0 + 1.0 / high.size)
    return CountModel(n=h.size, pi_low=pi_low, lam_low=lam_low, mean_high=mean, var_high=var_pred)


# --------------------------------------------------------------------------- judgements


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """How one observation compares with its zone's baseline."""

    expected: float | None
    """Expected count under the baseline (None without any clear history)."""
    p_value: float | None
    """Two-sided p-value of the count under the baseline (None when not computable)."""
    significant: bool
    """True when conclusive and ``p_value < alpha``."""
    conclusive: bool
    """True when the image is clear enough and the history long enough."""
    reason: str
    """Plain-language explanation of the judgement."""
    direction: str | None = None
    """``low`` or ``high``: on which side of the baseline the count lies."""
    n_history: int = 0
    """Number of clear history observations the baseline was fitted on."""
    low_share: float | None = None
    """Share of the history in the low ("empty") state."""
    usual: tuple[float, float] | None = None
    """Counts that would not be significant against this baseline (:meth:`CountModel.
    usual_range`); None when the history is shorter than ``min_history``."""


def judge_series(
    times: Sequence[datetime],
    values: Sequence[float | None],
    clear: Sequence[float],
    *,
    params: BaselineParams | None = None,
    breaks: Sequence[datetime] = (),
) -> list[Judgement]:
    """Judge every observation of one series against the clear history before it.

    ``times``, ``values`` (None or NaN for an unusable image) and ``clear`` (clear
    fractions 0-1) are parallel sequences in any order; the result is in the same order.

    ``breaks`` are the times of known level changes (the ``before`` of significant
    changes). The baseline of an observation is its own regime: the clear observations
    since the latest break, once there are ``min_history`` of them; until then, the
    window before that break, so that the first observations at a new level are judged
    against the old one instead of against each other.
    """
    params = params or BaselineParams()
    n = len(times)
    if len(values) != n:
        raise InputError(
            f"values has {len(values)} entries but there are {n} times; pass one value per time"
        )
    days = day_numbers(times)
    vals = as_values(values)
    clr = as_clear(clear, n)
    usable = np.isfinite(vals) & (clr >= params.min_clear)
    cuts = np.sort(day_numbers(breaks)) if len(breaks) else np.empty(0)
    return [_judge_one(i, days, vals, clr, usable, cuts, params) for i in range(n)]


def _history_mask(
    t: float, days: np.ndarray, usable: np.ndarray, cuts: np.ndarray, params: BaselineParams
) -> np.ndarray:
    """Which observations form the baseline of an observation at day ``t``."""
    w = params.window_days
    window = usable & (days < t) & (days >= t - w)
    past = cuts[cuts <= t]
    if past.size == 0:
        return window
    br = float(past[-1])
    regime = window & (days >= br)
    if np.count_nonzero(regime) >= params.min_history:
        return regime
    return usable & (days < br) & (days >= br - w)


def _judge_one(
    i: int,
    days: np.ndarray,
    vals: np.ndarray,
    clr: np.ndarray,
    usable: np.ndarray,
    cuts: np.ndarray,
    params: BaselineParams,
) -> Judgement:
    history = vals[_history_mask(float(days[i]), days, usable, cuts, params)]
    nh = int(history.size)
    model = fit_count_model(history, params=params) if nh else None
    expected = model.expected if model else None
    low_share = model.pi_low if model else None
    usual = model.usual_range(params.alpha) if model and nh >= params.min_history else None
    if not math.isfinite(vals[i]):
        return Judgement(
            expected=expected,
            p_value=None,
            significant=False,
            conclusive=False,
            reason="no usable value for this image",
            n_history=nh,
            low_share=low_share,
            usual=usual,
        )
    p = model.p_two_sided(vals[i]) if model else None
    direction = None
    if model is not None:
        direction = "low" if model.cdf(vals[i]) < model.sf(vals[i]) else "high"
    if nh < params.min_history:
        reason = (
            f"short history: {nh} clear observations in the previous "
            f"{params.window_days:g} days (need {params.min_history})"
        )
        conclusive = False
    elif clr[i] < params.min_clear:
        reason = f"poor image: clear fraction {clr[i]:.2f} < {params.min_clear:.2f}"
        conclusive = False
    else:
        conclusive = True
        reason = _reason(p, direction, params.alpha)
    return Judgement(
        expected=expected,
        p_value=p,
        significant=bool(conclusive and p is not None and p < params.alpha),
        conclusive=conclusive,
        reason=reason,
        direction=direction,
        n_history=nh,
        low_share=low_share,
        usual=usual,
    )


def _reason(p: float | None, direction: str | None, alpha: float) -> str:
    if p is None or p >= alpha:
        return "within the zone's usual range"
    return f"{'below' if direction == 'low' else 'above'} the zone's usual range"


def format_p(p: float | None) -> str:
    """``p < 0.001`` or ``p = 0.004`` style text for indicators."""
    if p is None:
        return "p n/a"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"

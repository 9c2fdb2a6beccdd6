"""Risk and return statistics of one equity curve (the tear sheet's numbers).

Pure numpy/pandas functions of an equity ``pd.Series`` (or its per-bar simple
returns ``r_t = E_t / E_{t-1} - 1``). Each undefined value is NaN, never an
error or a numpy warning. Definitions and how they differ from quantstats /
pyfolio (empyrical): ``docs/metrics.md`` ("More statistics").
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "beta_alpha",
    "cvar",
    "kelly_fraction",
    "kurtosis",
    "monthly_returns",
    "omega",
    "recovery_factor",
    "returns_of",
    "skew",
    "tail_ratio",
    "tear_sheet_stats",
    "ulcer_index",
    "var",
]

# A per-bar standard deviation below this is rounding noise (as in arena.metrics).
NOISE = 1e-12


def returns_of(equity: pd.Series) -> pd.Series:
    """Per-bar simple returns ``E_t / E_{t-1} - 1`` of bars 1..N, on their times."""
    values = _values(equity)
    if np.any(values[:-1] <= 0):
        raise ValueError("equity is at or below zero before the last bar: "
                         "per-bar returns are not defined")
    return pd.Series(values[1:] / values[:-1] - 1.0, index=equity.index[1:])


def var(returns, level: float = 0.95) -> float:
    """Historical value at risk: ``-quantile(r, 1 - level)`` (linear interpolation),
    a positive number for a loss (empyrical returns the negative quantile itself)."""
    r = _returns(returns)
    return -float(np.quantile(r, 1.0 - _level(level))) if r.size else math.nan


def cvar(returns, level: float = 0.95) -> float:
    """Conditional VaR (expected shortfall): ``-mean(r_t : r_t <= quantile(r, 1 - level))``,
    a positive number for a loss."""
    r = _returns(returns)
    if not r.size:
        return math.nan
    q = np.quantile(r, 1.0 - _level(level))
    return -float(r[r <= q].mean())


def omega(returns, threshold: float = 0.0) -> float:
    """Omega ratio at a per-bar ``threshold``: ``sum(max(r - t, 0)) / sum(max(t - r, 0))``;
    NaN with no bar below the threshold (as quantstats)."""
    r = _returns(returns)
    gain = float(np.maximum(r - threshold, 0.0).sum())
    loss = float(np.maximum(threshold - r, 0.0).sum())
    return gain / loss if loss > 0 else math.nan


def tail_ratio(returns) -> float:
    """``|quantile(r, 0.95)| / |quantile(r, 0.05)|`` (linear interpolation); NaN when the
    5 % quantile is 0."""
    r = _returns(returns)
    if not r.size:
        return math.nan
    low = abs(float(np.quantile(r, 0.05)))
    return abs(float(np.quantile(r, 0.95))) / low if low > 0 else math.nan


def ulcer_index(equity: pd.Series) -> float:
    """``sqrt(mean_t(D_t^2))`` with ``D_t = 100 (E_t / peak_t - 1)`` over all N+1 bars, in %
    (quantstats: drawdown fractions, sum divided by N)."""
    values = _values(equity)
    dd = 100.0 * (values / np.maximum.accumulate(values) - 1.0)
    return math.sqrt(float(np.mean(dd * dd)))


def kelly_fraction(returns, risk_free_per_bar: float = 0.0) -> float:
    """Continuous Kelly fraction ``mean(r - rf) / var(r)`` (sample variance, ddof 1);
    NaN with fewer than 2 returns or zero variance. (quantstats uses the win-rate form.)"""
    r = _returns(returns)
    if r.size < 2:
        return math.nan
    std = float(r.std(ddof=1))
    if std < NOISE:
        return math.nan
    return float((r - risk_free_per_bar).mean()) / std ** 2


def skew(returns) -> float:
    """Sample skewness, the adjusted Fisher–Pearson ``G1 = sqrt(n(n-1))/(n-2) · m3/m2^1.5``
    (``m_k`` the k-th central moment; pandas' and quantstats'); NaN for n < 3 or zero
    variance."""
    return _moments(returns)["skew"]


def kurtosis(returns) -> float:
    """Sample excess kurtosis ``G2 = (n-1)/((n-2)(n-3)) · ((n+1) m4/m2^2 - 3(n-1))``
    (pandas' and quantstats'); 0 for a normal law; NaN for n < 4 or zero variance."""
    return _moments(returns)["kurtosis"]


def moments_stats(n: int, std: float, m2: float, m3: float, m4: float) -> dict:
    """``skew`` and ``kurtosis`` of ``n`` returns from their central sums ``m2 = Σd²``,
    ``m3 = Σd³``, ``m4 = Σd⁴`` and sample ``std`` (0 or NaN: both NaN)."""
    skew_ = kurt = math.nan
    if std > 0 and n >= 3:
        m2n = m2 / n
        skew_ = math.sqrt(n * (n - 1)) / (n - 2) * (m3 / n) / m2n ** 1.5
        if n >= 4:
            kurt = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * (m4 / n) / m2n ** 2 - 3.0 * (n - 1))
    return {"skew": skew_, "kurtosis": kurt}


def _moments(returns) -> dict:
    r = _returns(returns)
    d = r - r.mean() if r.size else r
    m2 = float(np.sum(d * d))
    std = math.sqrt(m2 / (r.size - 1)) if r.size >= 2 else math.nan
    return moments_stats(r.size, 0.0 if std < NOISE else std, m2, float(np.sum(d ** 3)),
                         float(np.sum(d ** 4)))


def monthly_returns(equity: pd.Series) -> pd.Series:
    """Return of each UTC calendar month holding at least one bar after bar 0: the bar
    returns of that month compounded, i.e. its last equity over the equity just before
    its first bar, minus 1. Indexed by month (``Period``)."""
    values = _values(equity)
    if np.any(values[:-1] <= 0):
        raise ValueError("equity is at or below zero before the last bar: "
                         "monthly returns are not defined")
    months = month_keys(equity.index)[1:]
    if not months.size:
        return pd.Series([], dtype=float, index=pd.PeriodIndex([], freq="M"))
    last = np.r_[months[1:] != months[:-1], True]  # last bar of each month (of bars 1..N)
    end = values[1:][last]
    base = np.r_[values[0], end[:-1]]
    index = pd.PeriodIndex.from_ordinals(months[last], freq="M")
    return pd.Series(end / base - 1.0, index=index)


def recovery_factor(equity: pd.Series) -> float:
    """Total return / |max drawdown|, both as fractions; NaN with no drawdown
    (quantstats sums the returns instead of compounding them)."""
    values = _values(equity)
    max_dd = float(np.min(values / np.maximum.accumulate(values) - 1.0))
    return (values[-1] / values[0] - 1.0) / -max_dd if max_dd < 0 else math.nan


def beta_alpha(returns, benchmark_returns, periods_per_year: float) -> tuple[float, float]:
    """``beta = cov(r, b) / var(b)`` (ddof 1) and ``alpha = (mean(r) - beta·mean(b)) · P``
    (arithmetic annualisation, as quantstats' greeks); NaN for n < 2 or flat benchmark."""
    r, b = _returns(returns), _returns(benchmark_returns)
    if r.size != b.size:
        raise ValueError(f"returns have {r.size} values but benchmark_returns {b.size}: "
                         "need one benchmark return per bar")
    periods = float(periods_per_year)
    if not (math.isfinite(periods) and periods > 0):
        raise ValueError(f"periods_per_year must be a positive number, got {periods_per_year!r}")
    if r.size < 2 or float(b.std(ddof=1)) < NOISE:
        return math.nan, math.nan
    beta = float(np.cov(r, b, ddof=1)[0, 1]) / float(b.var(ddof=1))
    return beta, (float(r.mean()) - beta * float(b.mean())) * periods


def tear_sheet_stats(equity: pd.Series, trades: pd.DataFrame | None = None, invested=None,
                     benchmark_equity: pd.Series | None = None,
                     periods_per_year: float | None = None, risk_free: float = 0.0,
                     calendar: str | None = None, var_level: float = 0.95) -> pd.Series:
    """``compute_stats`` plus what needs the whole return history, so is not on the live
    leaderboard: ``var_pct`` and ``cvar_pct`` (per-bar losses at ``var_level``, in %),
    ``tail_ratio``, and against ``benchmark_equity`` (same index; its total return also
    fills ``buy_hold_return_pct``) ``beta`` and ``alpha_ann_pct``."""
    from arena.metrics import compute_stats, infer_periods_per_year  # metrics imports us

    benchmark = bench = None
    if benchmark_equity is not None:
        if not isinstance(benchmark_equity, pd.Series) or not benchmark_equity.index.equals(
                equity.index):
            raise ValueError("benchmark_equity must be a Series on the same index as equity")
        bench = _values(benchmark_equity)
        benchmark = bench[-1] / bench[0] - 1.0
    stats = compute_stats(equity, trades, invested, benchmark=benchmark,
                          periods_per_year=periods_per_year, risk_free=risk_free,
                          calendar=calendar)
    level = _level(var_level)
    values = _values(equity)
    nan = math.nan
    extra = {"var_pct": nan, "cvar_pct": nan, "tail_ratio": nan, "beta": nan,
             "alpha_ann_pct": nan}
    if values.size >= 2 and np.all(values[:-1] > 0):
        r = values[1:] / values[:-1] - 1.0
        extra.update(var_pct=100.0 * var(r, level), cvar_pct=100.0 * cvar(r, level),
                     tail_ratio=tail_ratio(r))
        if bench is not None and np.all(bench[:-1] > 0):
            periods = periods_per_year or infer_periods_per_year(equity.index, calendar)
            beta, alpha = beta_alpha(r, bench[1:] / bench[:-1] - 1.0, periods)
            extra.update(beta=beta, alpha_ann_pct=100.0 * alpha)
    return pd.concat([stats, pd.Series(extra, dtype=object)])


def month_keys(index) -> np.ndarray:
    """Months since 1970-01 (UTC) of each timestamp; naive times are taken as UTC."""
    index = pd.DatetimeIndex(index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.to_numpy().astype("datetime64[M]").astype(np.int64)


def _values(equity: pd.Series) -> np.ndarray:
    if not isinstance(equity, pd.Series) or not isinstance(equity.index, pd.DatetimeIndex):
        raise TypeError("equity must be a pandas Series with a DatetimeIndex, "
                        f"got {type(equity).__name__}")
    values = equity.to_numpy(dtype=float, na_value=np.nan)
    if not values.size or not np.all(np.isfinite(values)) or values[0] <= 0:
        raise ValueError("equity must be non-empty, finite, and start above zero")
    return values


def _returns(returns) -> np.ndarray:
    r = np.asarray(returns, dtype=float).ravel()
    if not np.all(np.isfinite(r)):
        raise ValueError("returns must be finite (no NaN or inf)")
    return r


def _level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return level

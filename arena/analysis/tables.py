"""Tear-sheet tables of equity curves, as plain pandas (no plotting here).

Every function takes equity marked at each bar's close on a UTC
``DatetimeIndex`` (the first value the starting capital), as
``Competition.equity_frame()`` gives it per agent. A *bar return* is
``E_t / E_{t-1} − 1``; the first bar has none. Definitions: ``docs/metrics.md``
("Analysis").
"""

from __future__ import annotations

import calendar
import math

import numpy as np
import pandas as pd

from arena.metrics import _check_equity, infer_periods_per_year

__all__ = [
    "drawdown_periods",
    "monthly_returns",
    "return_correlations",
    "rolling_stats",
    "underwater",
    "yearly_returns",
]

MONTHS = tuple(calendar.month_abbr[1:])  # "Jan" .. "Dec"
_NOISE = 1e-12  # as arena.metrics: a per-bar deviation below this is zero


def _equity(equity: pd.Series, name: str = "equity") -> pd.Series:
    """``equity`` checked as ``compute_stats`` checks it, as a float Series."""
    if not isinstance(equity, pd.Series):
        raise TypeError(f"{name} must be a pandas Series with a DatetimeIndex, "
                        f"got {type(equity).__name__}")
    values, index = _check_equity(equity)
    return pd.Series(values, index=index, name=equity.name)


def _returns(equity: pd.Series, name: str = "equity") -> pd.Series:
    e = _equity(equity, name)
    if (e.iloc[:-1] <= 0).any():
        raise ValueError(f"{name} is at or below zero before its last bar: "
                         "bar returns are not defined")
    return (e / e.shift(1) - 1.0).iloc[1:]


def _period_returns(equity: pd.Series, freq: str, name: str = "equity") -> pd.Series:
    """Compounded bar returns per calendar period of the UTC index: the period's
    last equity over the previous period's last equity (the starting capital for
    the first period), minus 1."""
    r = _returns(equity, name)
    index = r.index.tz_convert("UTC").tz_localize(None) if r.index.tz is not None else r.index
    keys = index.to_period(freq)
    return (1.0 + r).groupby(keys).prod() - 1.0


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Year × month table of returns (fractions): each cell compounds the bar
    returns whose bar closes in that UTC calendar month, ``Π(1 + r) − 1``;
    ``year`` compounds the year's months. A month without bars is NaN. The first
    bar (the starting capital) has no return, so it adds nothing to its month."""
    monthly = _period_returns(equity, "M")
    table = pd.DataFrame(np.nan, index=pd.Index(sorted({p.year for p in monthly.index}),
                                                name="year"),
                         columns=[*MONTHS, "year"])
    for p, value in monthly.items():
        table.loc[p.year, MONTHS[p.month - 1]] = value
    table["year"] = (1.0 + table[list(MONTHS)]).prod(axis=1, min_count=1) - 1.0
    return table


def yearly_returns(equity: pd.Series, benchmark_equity: pd.Series | None = None) -> pd.DataFrame:
    """Compounded return of each UTC calendar year (fractions), ``equity`` and,
    if given, ``benchmark_equity`` side by side (columns ``equity`` and
    ``benchmark``; a year one of them has no bars in is NaN)."""
    out = {"equity": _period_returns(equity, "Y")}
    if benchmark_equity is not None:
        out["benchmark"] = _period_returns(benchmark_equity, "Y", "benchmark_equity")
    table = pd.DataFrame(out)
    table.index = pd.Index([p.year for p in table.index], name="year")
    return table


def underwater(equity: pd.Series) -> pd.Series:
    """Drawdown at each bar, ``E_t / max(E_0..E_t) − 1`` (a fraction, ≤ 0)."""
    e = _equity(equity)
    return (e / e.cummax() - 1.0).rename("drawdown")


def drawdown_periods(equity: pd.Series, top: int | None = 5) -> pd.DataFrame:
    """The ``top`` worst drawdowns (all if ``None``), deepest first (ties: earliest).

    A drawdown starts at the last bar at the running peak (``start``), has its
    lowest equity at ``trough`` and ends at ``recovery``, the first bar back at
    or above the peak (NaT if it never got back). ``depth`` is the trough's
    ``E / peak − 1``; ``length`` and ``bars`` run from ``start`` to ``recovery``
    (to the last bar if not recovered), as ``compute_stats``'s
    ``max_drawdown_duration`` / ``max_drawdown_bars`` do: the worst row's depth is
    its ``max_drawdown_pct / 100`` and the longest row's length its duration.
    """
    if top is not None and (not isinstance(top, (int, np.integer)) or top < 1):
        raise ValueError(f"top must be a positive whole number or None, got {top!r}")
    e = _equity(equity)
    values, index = e.to_numpy(), e.index
    peak = np.maximum.accumulate(values)
    under = values < peak
    # runs of consecutive bars below the peak: [first, last] bar indices
    edges = np.diff(np.concatenate(([False], under, [False])).astype(np.int8))
    firsts, lasts = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    rows = []
    n = len(values)
    for first, last in zip(firsts, lasts, strict=True):
        start = first - 1  # bar 0 is always at its own peak, so first >= 1
        trough = first + int(np.argmin(values[first:last + 1] / peak[first:last + 1]))
        recovered = last + 1 < n
        end = last + 1 if recovered else n - 1
        rows.append({
            "start": index[start], "trough": index[trough],
            "recovery": index[end] if recovered else pd.NaT,
            "depth": float(values[trough] / peak[trough] - 1.0),
            "length": index[end] - index[start], "bars": int(end - start),
        })
    columns = ["start", "trough", "recovery", "depth", "length", "bars"]
    table = pd.DataFrame(rows, columns=columns)
    if table.empty:
        return table.astype({"depth": float, "bars": int})
    table["recovery"] = pd.DatetimeIndex(table["recovery"], tz=index.tz)
    table = table.sort_values("depth", kind="stable").reset_index(drop=True)
    return table if top is None else table.head(top)


def rolling_stats(equity: pd.Series, window: int, benchmark_equity: pd.Series | None = None,
                  periods_per_year: float | None = None, risk_free: float = 0.0) -> pd.DataFrame:
    """Rolling statistics over the last ``window`` bar returns, at each bar.

    ``sharpe`` = mean(r − rf/P) / std(r) × √P (NaN if std < 1e-12), ``volatility``
    = std(r) × √P (a fraction), sample std (ddof 1); ``beta`` =
    cov(r, r_b) / var(r_b) against ``benchmark_equity``'s bar returns (NaN
    without one). ``P`` = ``periods_per_year`` (``None``: inferred from the index,
    as ``compute_stats`` does). The first ``window`` bars are NaN. The last row
    equals ``compute_stats`` on the last ``window + 1`` equity values.
    """
    if not isinstance(window, (int, np.integer)) or window < 2:
        raise ValueError(f"window must be a whole number of bars >= 2, got {window!r}")
    r = _returns(equity)
    if periods_per_year is None:
        periods_per_year = infer_periods_per_year(_equity(equity).index)
    periods = float(periods_per_year)
    if not (math.isfinite(periods) and periods > 0):
        raise ValueError(f"periods_per_year must be a positive number, got {periods_per_year!r}")
    roll = r.rolling(window)
    std = roll.std(ddof=1)
    mean_excess = roll.mean() - float(risk_free) / periods
    sharpe = (mean_excess / std * math.sqrt(periods)).where(std >= _NOISE)
    out = pd.DataFrame({"sharpe": sharpe, "volatility": std * math.sqrt(periods),
                        "beta": np.nan}, index=r.index)
    if benchmark_equity is not None:
        rb = _returns(benchmark_equity, "benchmark_equity")
        if not rb.index.equals(r.index):
            raise ValueError("benchmark_equity must have the same timestamps as equity")
        var_b = rb.rolling(window).var(ddof=1)
        beta = r.rolling(window).cov(rb, ddof=1) / var_b
        out["beta"] = beta.where(var_b >= _NOISE ** 2)
    # bar 0 has no return: a NaN row in front (cheaper than reindexing on the times)
    first = pd.DataFrame(np.nan, index=_equity(equity).index[:1], columns=out.columns)
    return pd.concat([first, out])


def return_correlations(equity_frame: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation matrix of the columns' (agents') bar returns."""
    if not isinstance(equity_frame, pd.DataFrame):
        raise TypeError(f"equity_frame must be a DataFrame (one column per agent), "
                        f"got {type(equity_frame).__name__}")
    returns = {name: _returns(equity_frame[name], f"equity of {name!r}")
               for name in equity_frame.columns}
    return pd.DataFrame(returns, columns=equity_frame.columns).corr()

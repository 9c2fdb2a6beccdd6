"""The probabilistic and deflated Sharpe ratios (Bailey & López de Prado).

PSR: Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier",
J. of Risk 15(2). DSR: Bailey & López de Prado (2014), "The Deflated Sharpe
Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality",
J. of Portfolio Management 40(5). Sharpe ratios here are **per observation**
(per bar, not annualised) unless a name says ``_ann``. Definitions:
``docs/metrics.md`` ("Tournament and sweep statistics").
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

__all__ = ["deflate_grid", "deflated_sharpe", "expected_max_sharpe", "probabilistic_sharpe"]


def expected_max_sharpe(n_trials: int, var_trials: float) -> float:
    """SR0, the expected maximum of ``n_trials`` Sharpe ratios whose true value is 0:
    ``sqrt(V) · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)))``, γ the Euler–Mascheroni
    constant, V the variance of the trials' Sharpe ratios. One trial: 0 (nothing chosen)."""
    if not (isinstance(n_trials, int | np.integer) and n_trials >= 1):
        raise ValueError(f"n_trials must be a whole number of trials >= 1, got {n_trials!r}")
    if not (math.isfinite(var_trials) and var_trials >= 0):
        raise ValueError(f"var_trials must be a finite variance >= 0, got {var_trials!r}")
    if n_trials == 1:
        return 0.0
    g = np.euler_gamma
    z = (1 - g) * ndtri(1 - 1 / n_trials) + g * ndtri(1 - 1 / (n_trials * math.e))
    return float(math.sqrt(var_trials) * z)


def probabilistic_sharpe(sharpe: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0,
                         benchmark: float = 0.0) -> float:
    """PSR(SR*), the probability that the true Sharpe ratio exceeds ``benchmark`` (SR*):
    ``Φ((SR − SR*) √(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4 · SR²))``.

    ``sharpe`` (SR) and ``benchmark`` per observation, ``n_obs`` (T) the number of
    returns, ``skew`` γ3, ``kurtosis`` γ4 **non-excess** (3 for a normal law). NaN when
    ``T < 2``, an input is NaN, or the variance term is not positive (extreme skew).
    """
    values = (sharpe, skew, kurtosis, benchmark)
    if n_obs is None or not all(map(math.isfinite, values)) or not math.isfinite(n_obs):
        return math.nan
    if n_obs < 2:
        return math.nan
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe ** 2
    if var <= 0:
        return math.nan
    return float(ndtr((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var)))


def deflated_sharpe(sharpe: float, n_trials: int, var_trials: float, n_obs: int,
                    skew: float = 0.0, kurtosis: float = 3.0) -> float:
    """DSR = PSR(SR0): the probability that the best of ``n_trials`` tries has a true
    Sharpe above 0, after allowing for how high the best of that many would reach by
    luck. All Sharpe figures per observation; ``kurtosis`` non-excess."""
    sr0 = expected_max_sharpe(n_trials, var_trials)
    return probabilistic_sharpe(sharpe, n_obs, skew, kurtosis, benchmark=sr0)


def deflate_grid(results: pd.DataFrame, periods_per_year: float, by=None,
                 sharpe: str = "sharpe") -> pd.DataFrame:
    """The deflated Sharpe of the best row of a grid (each row one try), per group.

    ``results``: one row per parameter combination that ran, with the leaderboard's
    ``sharpe`` (annualised: ``× √P``), ``bars`` (N + 1 equity points, so N returns),
    ``skew`` and ``kurtosis`` (sample skew and **excess** kurtosis of the bar returns).
    ``periods_per_year``: P, a number, or the name of a column. ``by``: column(s) that
    split the rows into separate grids (e.g. ``["symbol", "window"]``); None: one grid.

    Per grid: N = rows (every combination that ran, a NaN Sharpe included: it was
    tried), V = sample variance (ddof 1) of the finite per-bar Sharpes (fewer than two:
    V, SR0 and DSR are NaN, except for a single try, where SR0 = 0), SR = the highest,
    and its own bars, skew and kurtosis + 3. Returns one row per grid:
    ``best`` (the row's index label), ``sharpe_ann``, ``sharpe``, ``n_trials``,
    ``var_trials``, ``sr0``, ``sr0_ann``, ``psr`` (vs 0) and ``dsr``.
    """
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    need = [sharpe, "bars", "skew", "kurtosis"]
    if isinstance(periods_per_year, str):
        need.append(periods_per_year)
    missing = [c for c in need if c not in results.columns]
    if missing:
        raise ValueError(f"results has no column {', '.join(map(repr, missing))} "
                         "(deflate_grid needs the leaderboard's sharpe, bars, skew, kurtosis)")
    if not isinstance(periods_per_year, str) and not (
            isinstance(periods_per_year, int | float) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be a positive number or a column name, "
                         f"got {periods_per_year!r}")
    if results.empty:
        raise ValueError("results is empty: no grid to deflate")
    groups = [((), results)] if by is None else results.groupby(by, sort=True, dropna=False)
    rows = []
    for key, grid in groups:
        row = _deflate_one(grid, periods_per_year, sharpe)
        if by is not None:
            keys = [by] if isinstance(by, str) else list(by)
            key = key if isinstance(key, tuple) else (key,)
            row = dict(zip(keys, key, strict=True)) | row
        rows.append(row)
    return pd.DataFrame(rows)


def _deflate_one(grid: pd.DataFrame, periods_per_year, sharpe: str) -> dict:
    p = grid[periods_per_year].astype(float) if isinstance(periods_per_year, str) \
        else pd.Series(float(periods_per_year), index=grid.index)
    per_bar = pd.to_numeric(grid[sharpe], errors="coerce") / np.sqrt(p)
    finite = per_bar[np.isfinite(per_bar)]
    out = {"best": None, "sharpe_ann": math.nan, "sharpe": math.nan, "n_trials": len(grid),
           "var_trials": math.nan, "sr0": math.nan, "sr0_ann": math.nan,
           "psr": math.nan, "dsr": math.nan}
    if finite.empty:
        return out
    best = finite.idxmax()
    row = grid.loc[best]
    var = float(finite.var(ddof=1)) if len(finite) > 1 else math.nan
    sr, n_obs = float(finite[best]), float(row["bars"]) - 1
    skew, kurt = float(row["skew"]), float(row["kurtosis"]) + 3.0
    # one try: nothing was selected (SR0 = 0); several but one finite Sharpe: V unknown
    sr0 = 0.0 if len(grid) == 1 else (expected_max_sharpe(len(grid), var)
                                       if math.isfinite(var) else math.nan)
    return out | {"best": best, "sharpe_ann": float(row[sharpe]), "sharpe": sr,
                  "var_trials": var, "sr0": sr0, "sr0_ann": sr0 * math.sqrt(float(p[best])),
                  "psr": probabilistic_sharpe(sr, n_obs, skew, kurt),
                  "dsr": probabilistic_sharpe(sr, n_obs, skew, kurt, benchmark=sr0)}

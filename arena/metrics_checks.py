"""Checks of :mod:`arena.metrics`' inputs (equity curves, fills, rates, times), each
failing with a message that names what was wrong."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _check_equity(equity: pd.Series) -> tuple[np.ndarray, pd.DatetimeIndex]:
    if not isinstance(equity, pd.Series) or not isinstance(equity.index, pd.DatetimeIndex):
        raise TypeError("equity must be a pandas Series with a DatetimeIndex, "
                        f"got {type(equity).__name__}")
    if len(equity) == 0:
        raise ValueError("equity is empty: need at least the starting capital")
    index = equity.index
    if not (index.is_monotonic_increasing and index.is_unique):
        raise ValueError("equity index must be strictly increasing (sorted, no duplicate times)")
    values = equity.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"equity at {index[i]} (bar {i}) is {values[i]}: must be finite")
    if values[0] <= 0:
        raise ValueError(f"equity starts at {values[0]} at {index[0]}: "
                         "the starting capital must be positive")
    return values, index


def _check_periods(periods_per_year: float | None) -> float:
    if periods_per_year is None:
        return math.nan  # a single bar: nothing to annualise
    periods = float(periods_per_year)
    if not (math.isfinite(periods) and periods > 0):
        raise ValueError(f"periods_per_year must be a positive number, got {periods_per_year!r}")
    return periods


def _check_risk_free(risk_free: float) -> float:
    rate = float(risk_free)
    if not math.isfinite(rate):
        raise ValueError(f"risk_free must be a finite annual rate, got {risk_free!r}")
    return rate


def _closed_pnls_and_fees(trades: pd.DataFrame | None) -> tuple[np.ndarray, float]:
    if trades is None or len(trades) == 0:
        return np.empty(0), 0.0
    missing = [c for c in ("action", "pnl", "fee") if c not in trades.columns]
    if missing:
        raise ValueError(f"trades is missing column(s) {missing}")
    action = trades["action"].to_numpy()
    is_exit = action == "exit"
    unknown = ~(is_exit | (action == "entry"))
    if unknown.any():
        i = int(np.argmax(unknown))
        raise ValueError(f"trades row {i}: action must be 'entry' or 'exit', got {action[i]!r}")
    pnl = trades["pnl"].to_numpy(dtype=float, na_value=np.nan)[is_exit]
    if not np.all(np.isfinite(pnl)):
        i = int(np.flatnonzero(is_exit)[np.argmax(~np.isfinite(pnl))])
        raise ValueError(f"trades row {i}: an exit fill needs a finite pnl, got {trades['pnl'].iloc[i]!r}")
    fee = trades["fee"].to_numpy(dtype=float, na_value=np.nan)
    if not np.all(np.isfinite(fee)):
        i = int(np.argmax(~np.isfinite(fee)))
        raise ValueError(f"trades row {i}: fee must be finite, got {fee[i]!r}")
    return pnl, float(fee.sum())


def _exposure(invested, n_bars: int) -> float:
    if invested is None:
        return math.nan
    flags = np.asarray(invested, dtype=bool)
    if flags.shape != (n_bars,):
        raise ValueError(f"invested has {flags.size} values for {n_bars} equity bars: "
                         "need one flag per bar")
    return float(flags.mean())


def _timestamp(value, name: str) -> pd.Timestamp:
    if type(value) is pd.Timestamp:
        return value
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} {value!r} is not a timestamp") from exc
    if ts is pd.NaT:
        raise ValueError(f"{name} is missing (NaT)")
    return ts


"""Positions and exposure of one agent over time, rebuilt from its fills and the bars.

A fill's ``position`` is the signed quantity held after it; fills happen at a bar's
open, so the quantity held at bar ``t``'s close is the ``position`` of the agent's
last fill on that symbol at or before bar ``t`` (0 before its first). Definitions:
``docs/metrics.md`` ("Analysis").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["EXPOSURE_COLUMNS", "Closes", "exposure", "positions"]

EXPOSURE_COLUMNS = ("long", "short", "gross", "net")


class Closes:
    """The bars' closes as a ``bars × symbols`` grid (built once for many agents):
    ``bars`` (bar numbers, ascending), ``times`` (their UTC times), ``symbols``,
    ``close`` (float array)."""

    def __init__(self, bars: pd.DataFrame):
        _need(bars, ("bar", "time", "symbol", "close"), "bars")
        wide = bars.pivot(index="bar", columns="symbol", values="close").sort_index()
        self.bars = wide.index.to_numpy()
        self.symbols = pd.Index(wide.columns, name="symbol")
        self.close = wide.to_numpy(dtype=float)
        first = bars.drop_duplicates("bar").set_index("bar")["time"]
        self.times = pd.DatetimeIndex(first.reindex(self.bars).array)


def positions(fills: pd.DataFrame, bars: pd.DataFrame | Closes) -> pd.DataFrame:
    """Signed quantity held per symbol (columns, the bars' symbols) at each bar's close
    (index: the bars' ``bar`` numbers, ascending), from one agent's ``fills``."""
    grid = bars if isinstance(bars, Closes) else Closes(bars)
    return pd.DataFrame(_held(fills, grid), index=pd.Index(grid.bars, name="bar"),
                        columns=grid.symbols)


def exposure(fills: pd.DataFrame, bars: pd.DataFrame | Closes,
             equity: pd.Series) -> pd.DataFrame:
    """Market value of one agent's positions at each bar's close as fractions of its
    ``equity`` at that close (``equity``'s index: one time per bar of ``bars``).

    ``long`` = Σ max(q, 0) × close / E, ``short`` = Σ min(q, 0) × close / E (≤ 0),
    ``gross`` = long − short (the leverage), ``net`` = long + short, summed over the
    symbols; equity = cash + net × E. NaN where the equity is not positive.
    """
    if not isinstance(equity, pd.Series) or not isinstance(equity.index, pd.DatetimeIndex):
        raise TypeError("equity must be a pandas Series with a DatetimeIndex, "
                        f"got {type(equity).__name__}")
    grid = bars if isinstance(bars, Closes) else Closes(bars)
    if len(grid.times) != len(equity) or not grid.times.equals(pd.DatetimeIndex(equity.index)):
        raise ValueError(f"equity has {len(equity)} values but the bars {len(grid.times)} bar "
                         "times: pass the equity at each of the bars' closes")
    value = _held(fills, grid) * grid.close
    long = np.where(value > 0, value, 0.0).sum(axis=1)
    short = np.where(value < 0, value, 0.0).sum(axis=1)
    e = equity.to_numpy(dtype=float)
    e = np.where(e > 0, e, np.nan)
    out = pd.DataFrame({"long": long / e, "short": short / e}, index=equity.index)
    out["gross"] = out["long"] - out["short"]
    out["net"] = out["long"] + out["short"]
    return out


def _held(fills: pd.DataFrame, grid: Closes) -> np.ndarray:
    """``bars × symbols`` quantities held at each close."""
    _need(fills, ("bar", "symbol", "position"), "fills")
    if "agent" in fills.columns and fills["agent"].nunique() > 1:
        raise ValueError(f"fills hold {fills['agent'].nunique()} agents' trades: "
                         "pass one agent's fills (fills[fills['agent'] == name])")
    held = np.full(grid.close.shape, np.nan)
    if len(fills):
        col = grid.symbols.get_indexer(fills["symbol"])
        if (col < 0).any():
            raise ValueError(f"fills trade symbol {fills['symbol'].iloc[np.argmax(col < 0)]!r}"
                             " that the bars do not have")
        bar = fills["bar"].to_numpy(dtype=np.int64)
        row = np.searchsorted(grid.bars, bar)
        bad = (row >= len(grid.bars)) | (grid.bars[np.minimum(row, len(grid.bars) - 1)] != bar)
        if bad.any():
            raise ValueError(f"fills at bar {int(bar[np.argmax(bad)])}, which the bars do not have")
        # the last fill of each (bar, symbol) in the fills' order sets the position
        key = row * len(grid.symbols) + col
        last = len(key) - 1 - np.unique(key[::-1], return_index=True)[1]
        held[row[last], col[last]] = pd.to_numeric(fills["position"]).to_numpy(float)[last]
    held[0] = np.where(np.isnan(held[0]), 0.0, held[0])
    return pd.DataFrame(held).ffill().to_numpy()


def _need(frame, columns, name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}")

"""One adapter from a run (Competition, Recording or Replay) to the frames the
analysis tables take."""

from __future__ import annotations

import numpy as np
import pandas as pd

from arena.metrics import buy_and_hold_equity
from arena.recorder import Recording

__all__ = ["BAR_COLUMNS", "benchmark_equity", "run_frames"]

BAR_COLUMNS = ("bar", "time", "symbol", "open", "high", "low", "close", "volume")


def run_frames(run) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(equity, trades, bars)`` of ``run`` through its public methods:

    * ``equity``: one column per agent, equity at each bar's close (UTC index);
    * ``trades``: every fill (``trades_frame()`` / ``Recording.trades()`` columns);
    * ``bars``: one row per bar and symbol (:data:`BAR_COLUMNS`, UTC ``time``).

    A Competition gives the bars processed so far, a Replay those shown so far
    (its position: nothing later), a Recording every bar recorded with equity.
    """
    if isinstance(run, Recording):
        return _recording_frames(run)
    if all(hasattr(run, a) for a in ("equity_frame", "trades_frame", "data", "bar")):
        # one bar for all three frames: a running engine may be further on by the time
        # its equity is read, a replay further back (it was moved meanwhile)
        equity = run.equity_frame().iloc[:int(run.bar)]
        t = len(equity)
        trades = run.trades_frame()
        trades = trades[trades["bar"] < t].reset_index(drop=True)
        return equity, trades, _market_bars(run.data, t)
    raise TypeError(f"run must be a Competition, Recording or Replay, got {type(run).__name__}")


def benchmark_equity(bars: pd.DataFrame, cash: float) -> pd.Series:
    """The engine's buy & hold line from ``bars``: ``cash`` split equally over the
    symbols at the first bar's close and held (``arena.metrics.buy_and_hold_equity``)."""
    close = bars.pivot(index="time", columns="symbol", values="close").sort_index()
    values = buy_and_hold_equity(close.to_numpy(dtype=float), slice(None), float(cash))
    return pd.Series(values, index=close.index, name="benchmark")


def _market_bars(data, t: int) -> pd.DataFrame:
    """The first ``t`` bars of MarketData as rows (bar, then symbol order)."""
    k = len(data.symbols)
    times = pd.DatetimeIndex(data.times[:t]).tz_localize("UTC")
    cols = {f: np.asarray(getattr(data, f)[:t], dtype=float).ravel()
            for f in ("open", "high", "low", "close", "volume")}
    return pd.DataFrame({"bar": np.repeat(np.arange(t), k), "time": np.repeat(times, k),
                         "symbol": np.tile(np.asarray(data.symbols, dtype=object), t), **cols})


def _recording_frames(rec: Recording) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The recording's frames from its column blocks (equity as a bars × agents grid,
    not one row per bar and agent): only bars with every agent's equity."""
    with rec.snapshot():
        grid, times, trades, bars = rec.equity_grid(), rec.times(), rec.trades(), rec.bars()
        agents = rec.agents()
    names = dict(zip(agents["id"].astype(int), agents["name"], strict=True))
    index = pd.DatetimeIndex(times.reindex(grid.bars).array)
    equity = pd.DataFrame(grid.equity, index=index,
                          columns=[names[int(i)] for i in grid.agents])
    equity = equity.reindex(columns=[n for n in agents["name"] if n in equity.columns])
    t = int(grid.bars[-1]) + 1 if len(grid.bars) else 0  # bars with every agent's equity
    trades = trades[trades["bar"] < t].reset_index(drop=True)
    bars = bars[bars["bar"] < t].loc[:, list(BAR_COLUMNS)].reset_index(drop=True)
    return equity, trades, bars

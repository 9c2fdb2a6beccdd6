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
        t = int(run.bar)
        equity = run.equity_frame()
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
    with rec.snapshot():
        rows, trades, bars = rec.equity(), rec.trades(), rec.bars()
    names = list(rec.agents()["name"])
    equity = rows.pivot(index="time", columns="agent", values="equity")
    equity = equity.reindex(columns=[n for n in names if n in equity.columns]).sort_index()
    equity = equity.rename_axis(index=None, columns=None)
    t = int(rows["bar"].max()) + 1 if len(rows) else 0  # bars with every agent's equity
    trades = trades[trades["bar"] < t].reset_index(drop=True)
    bars = bars[bars["bar"] < t].loc[:, list(BAR_COLUMNS)].reset_index(drop=True)
    return equity, trades, bars

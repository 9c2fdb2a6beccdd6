"""Trade analysis from the fills: round trips, their excursions, win/loss streaks.

Fills are the rows of ``trades_frame()`` / ``Recording.trades()``: ``bar``,
``time``, ``agent``, ``symbol``, ``side``, ``quantity``, ``price``, ``fee``,
``action`` (``entry``/``exit``), ``pnl`` (net, on exits) and ``position`` (the
signed quantity held after the fill). Definitions: ``docs/metrics.md``
("Analysis").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["ROUND_TRIP_COLUMNS", "excursions", "round_trips", "streak_runs", "streaks"]

ROUND_TRIP_COLUMNS = ("agent", "symbol", "direction", "entry_bar", "exit_bar", "entry_time",
                      "exit_time", "holding", "entry_price", "exit_price", "quantity",
                      "fees", "pnl", "return")
_FILL_COLUMNS = ("bar", "time", "agent", "symbol", "quantity", "price", "fee", "action",
                 "pnl", "position")


def round_trips(fills: pd.DataFrame) -> pd.DataFrame:
    """One row per closed trade: per agent and symbol, from the fill that opens a
    position from flat to the fill that brings it back to flat (scaling in and
    partial exits stay inside one trade; a reversal closes one and opens the next).

    ``direction`` is ``long``/``short``; ``entry_price`` / ``exit_price`` are the
    quantity-weighted fill prices of its entries / exits and ``quantity`` the
    units entered; ``holding`` = exit time − entry time; ``fees`` sums every fill's
    fee; ``pnl`` sums the exits' net pnl (fees included, as ``compute_stats``
    counts trades); ``return`` = pnl / (Σ entry quantity × entry price), the pnl
    on the capital the trade committed. A position still open is not a row.
    """
    fills = _check_fills(fills)
    if fills.empty:
        return pd.DataFrame(columns=list(ROUND_TRIP_COLUMNS))
    group = fills.groupby(["agent", "symbol"], sort=False)["position"]
    before = group.shift(1, fill_value=0.0)
    fills["trip"] = ((before == 0) & (fills["position"] != 0)).astype(int)
    fills["trip"] = fills.groupby(["agent", "symbol"], sort=False)["trip"].cumsum()
    fills = fills[fills["trip"] > 0]  # fills before a first opening: none in a real log
    is_entry = fills["action"] == "entry"
    fills = fills.assign(
        entry_qty=fills["quantity"].where(is_entry, 0.0),
        entry_cost=(fills["quantity"] * fills["price"]).where(is_entry, 0.0),
        exit_qty=fills["quantity"].where(~is_entry, 0.0),
        exit_value=(fills["quantity"] * fills["price"]).where(~is_entry, 0.0),
        sign=np.sign(fills["position"].where(is_entry)),
        pnl=fills["pnl"].where(~is_entry, 0.0))
    g = fills.groupby(["agent", "symbol", "trip"], sort=False)
    trips = g.agg(entry_bar=("bar", "first"), exit_bar=("bar", "last"),
                  entry_time=("time", "first"), exit_time=("time", "last"),
                  last_position=("position", "last"), sign=("sign", "first"),
                  entry_qty=("entry_qty", "sum"), entry_cost=("entry_cost", "sum"),
                  exit_qty=("exit_qty", "sum"), exit_value=("exit_value", "sum"),
                  fees=("fee", "sum"), pnl=("pnl", "sum"))
    trips = trips[trips["last_position"] == 0].reset_index()
    trips["direction"] = np.where(trips["sign"] > 0, "long", "short")
    trips["holding"] = trips["exit_time"] - trips["entry_time"]
    trips["entry_price"] = trips["entry_cost"] / trips["entry_qty"]
    trips["exit_price"] = trips["exit_value"] / trips["exit_qty"]
    trips["quantity"] = trips["entry_qty"]
    trips["return"] = trips["pnl"] / trips["entry_cost"]
    order = trips.sort_values(["exit_bar", "entry_bar"], kind="stable").index
    return trips.loc[order, list(ROUND_TRIP_COLUMNS)].reset_index(drop=True)


def excursions(trips: pd.DataFrame, bars: pd.DataFrame) -> pd.DataFrame:
    """Maximum adverse and favourable excursion (MAE, MFE) of each round trip.

    A trade is exposed to the bars of its symbol whose time is between its entry
    fill's time and its exit fill's time, both inclusive (fills happen at a bar's
    open, so the entry bar counts whole and the exit bar's range after its open
    counts too: a slight overstatement, never a miss). Long: ``mae_price`` is
    the lowest low, ``mfe_price`` the highest high; short: the other way round.
    ``mae`` / ``mfe`` are those prices against ``entry_price`` as returns in the
    trade's favour (long ``price / entry − 1``, short ``1 − price / entry``): MAE
    is negative when the trade was ever under water; neither is clipped at 0.
    Returns ``trips`` with ``mae_price``, ``mfe_price``, ``mae``, ``mfe`` added.
    """
    missing = [c for c in ("symbol", "direction", "entry_time", "exit_time", "entry_price")
               if c not in trips.columns]
    if missing:
        raise ValueError(f"trips is missing column(s) {missing}: pass round_trips(...)")
    missing = [c for c in ("time", "symbol", "high", "low") if c not in bars.columns]
    if missing:
        raise ValueError(f"bars is missing column(s) {missing}")
    out = trips.copy()
    low, high = np.full(len(out), np.nan), np.full(len(out), np.nan)
    by_symbol = {s: rows.sort_values("time", kind="stable") for s, rows in bars.groupby("symbol")}
    for symbol, at in out.groupby("symbol", sort=False).indices.items():
        rows = by_symbol.get(symbol)
        if rows is None:
            raise ValueError(f"bars have no rows for symbol {symbol!r}")
        times = _ns(rows["time"])
        t0, t1 = _ns(out["entry_time"].iloc[at]), _ns(out["exit_time"].iloc[at])
        first = np.searchsorted(times, t0, "left")
        stop = np.searchsorted(times, t1, "right")  # bars first..stop-1 are in the window
        empty = np.flatnonzero(stop <= first)
        if len(empty):
            i = at[empty[0]]
            raise ValueError(f"bars have no {symbol!r} bar between {out['entry_time'].iloc[i]} "
                             f"and {out['exit_time'].iloc[i]}")
        low[at] = _range_reduce(np.fmin, rows["low"].to_numpy(dtype=float), first, stop)
        high[at] = _range_reduce(np.fmax, rows["high"].to_numpy(dtype=float), first, stop)
    long = (out["direction"] == "long").to_numpy()
    entry = out["entry_price"].to_numpy(dtype=float)
    out["mae_price"] = np.where(long, low, high)
    out["mfe_price"] = np.where(long, high, low)
    sign = np.where(long, 1.0, -1.0)
    out["mae"] = sign * (out["mae_price"] / entry - 1.0)
    out["mfe"] = sign * (out["mfe_price"] / entry - 1.0)
    return out


def _ns(times) -> np.ndarray:
    """Times as int64 nanoseconds since the epoch, UTC (naive taken as UTC)."""
    return pd.DatetimeIndex(pd.to_datetime(times, utc=True)).as_unit("ns").asi8


def _range_reduce(ufunc, values: np.ndarray, first: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """``ufunc.reduce(values[first[i]:stop[i]])`` for each i (every range non-empty; fmin /
    fmax skip a missing price as pandas' min / max do),
    in one ``reduceat`` over interleaved bounds (the odd results are discarded)."""
    padded = np.append(values, values[-1])  # a stop equal to len(values) stays a valid index
    bounds = np.empty(2 * len(first), dtype=np.int64)
    bounds[0::2], bounds[1::2] = first, stop
    return ufunc.reduceat(padded, bounds)[0::2]


def streaks(pnl) -> pd.Series:
    """Longest runs of consecutive winning (``pnl > 0``) and losing (``pnl < 0``)
    trades, in the order given; a break-even trade ends both kinds of run."""
    p = pd.Series(pnl, dtype=float).to_numpy()
    if np.isnan(p).any():
        raise ValueError("pnl has NaN values: pass the pnl of closed trades only")
    return pd.Series({"wins": _longest(p > 0), "losses": _longest(p < 0)}, dtype=int)


def streak_runs(pnl) -> pd.DataFrame:
    """Every run of consecutive winning or losing trades, in the order given: one row
    per run with ``kind`` (``win``/``loss``), ``length`` (trades) and ``first`` (the
    position of its first trade). A break-even trade ends a run and starts none; the
    longest ``win`` / ``loss`` lengths are :func:`streaks`'."""
    p = pd.Series(pnl, dtype=float).to_numpy()
    if np.isnan(p).any():
        raise ValueError("pnl has NaN values: pass the pnl of closed trades only")
    sign = np.sign(p).astype(np.int8)
    change = np.flatnonzero(np.diff(np.concatenate(([0], sign, [0]))) != 0)
    starts, stops = change[:-1], change[1:]  # maximal runs of one sign (0 too)
    kinds = sign[starts] if len(starts) else sign[:0]
    keep = kinds != 0
    return pd.DataFrame({"kind": np.where(kinds[keep] > 0, "win", "loss"),
                         "length": (stops - starts)[keep].astype(int),
                         "first": starts[keep].astype(int)})


def _longest(flags: np.ndarray) -> int:
    best = run = 0
    for f in flags:
        run = run + 1 if f else 0
        best = max(best, run)
    return best


def _check_fills(fills: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(fills, pd.DataFrame):
        raise TypeError(f"fills must be a DataFrame, got {type(fills).__name__}")
    missing = [c for c in _FILL_COLUMNS if c not in fills.columns]
    if missing:
        raise ValueError(f"fills is missing column(s) {missing}")
    out = fills.loc[:, list(_FILL_COLUMNS)].reset_index(drop=True)
    bad = ~out["action"].isin(["entry", "exit"])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"fills row {i}: action must be 'entry' or 'exit', "
                         f"got {out['action'].iloc[i]!r}")
    for c in ("quantity", "price", "fee", "position", "pnl"):
        out[c] = pd.to_numeric(out[c]).astype(float)
    out["time"] = pd.to_datetime(out["time"], utc=True)
    return out

"""The SMA crossover in the arena and in backtesting.py: are the trades the same?

    .venv/bin/python benchmarks/sma_cross_vs_backtesting.py [--symbol GOOG] [--weight 1] [--list]

Fast SMA 10 and slow SMA 20 of the close; long (all in, whole shares) when the
fast crosses above the slow, flat when it crosses below; no fees; orders fill
at the next bar's open. Both engines get the same OHLC DataFrame (bundled,
split-adjusted daily bars). Exits 1 when the trades differ.

The one knob is the arena agent's ``weight``: backtesting.py's ``buy()`` defaults
to ``size=1 - sys.float_info.epsilon`` (it prints as ``.9999``), i.e. all of the
available cash, so the matching weight is 1.0, not 0.9999. The script also runs
``weight=0.9999`` and shows what that changes.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from _common import (
    BT_DEFAULT_SIZE,
    CASH,
    FAST,
    SLOW,
    WEIGHT,
    arena_trips,
    backtesting,
    backtesting_frame,
    backtesting_trips,
    run_arena,
    run_backtesting,
    sma_spec,
    trip_differences,
)

from arena.data import BUNDLED_SYMBOLS, load_bundled


def _fmt_trips(trips: pd.DataFrame, times: pd.DatetimeIndex, prefix: str = "") -> pd.DataFrame:
    out = pd.DataFrame({
        "entry": [times[i].date() if i >= 0 else None
                  for i in trips[prefix + "entry_bar"].fillna(-1).astype(int)],
        "exit": [times[i].date() if i >= 0 else "open"
                 for i in trips[prefix + "exit_bar"].fillna(-1).astype(int)],
        "size": trips[prefix + "size"].astype("Int64").to_numpy(),
        "entry_price": trips[prefix + "entry_price"].round(4).to_numpy(),
        "exit_price": trips[prefix + "exit_price"].round(4).to_numpy(),
    }, index=trips.index + 1)  # trade numbers from 1
    return out


def _side_by_side(diff: pd.DataFrame, times: pd.DatetimeIndex) -> pd.DataFrame:
    a = _fmt_trips(diff, times, "arena_").add_prefix("arena ")
    b = _fmt_trips(diff, times, "bt_").add_prefix("bt ")
    return a.join(b).rename_axis("trade #")


def compare(symbol: str, weight: float, list_all: bool) -> int:
    data = load_bundled([symbol])
    df = backtesting_frame(data, symbol)
    times = df.index
    n = len(df)

    notes: list[str] = []
    stats = run_backtesting(df, notes=notes)
    comp = run_arena(data, [sma_spec(weight)])
    name = comp.agent_names[0]

    ours = arena_trips(comp.trades_frame())
    theirs = backtesting_trips(stats)
    diff = trip_differences(ours, theirs)
    eq_ours = comp.equity_frame()[name].to_numpy()
    eq_bt = stats["_equity_curve"]["Equity"].to_numpy()

    print(f"SMA crossover (fast {FAST}, slow {SLOW} on the close) on {symbol}, "
          f"{times[0].date()}..{times[-1].date()}: {n} daily bars (bundled, split-adjusted)")
    print(f"cash {CASH:,.0f}, no fees, whole shares, long/flat, orders fill at the next bar's open")
    print(f"arena:          {sma_spec(weight)}")
    print(f"backtesting.py: {backtesting.__version__}, Backtest(df, SmaCross, cash={CASH:,.0f}, "
          "commission=0, exclusive_orders=False, finalize_trades=False); buy() with its default "
          f"size {BT_DEFAULT_SIZE!r} (= 1 - 2**-52, printed as '.9999')")
    print()

    def counts(t: pd.DataFrame) -> str:
        still_open = int((t["exit_bar"] == -1).sum())
        return f"{len(t)} ({len(t)} entries / {len(t) - still_open} exits)"

    final_o, final_b = eq_ours[-1], eq_bt[-1]
    rows = [
        ("trades", counts(ours), counts(theirs)),
        ("open at the end", int((ours.exit_bar == -1).sum()), int((theirs.exit_bar == -1).sum())),
        ("final equity", f"{final_o:,.2f}", f"{final_b:,.2f}"),
        ("return %", f"{(final_o / CASH - 1) * 100:.4f}", f"{stats['Return [%]']:.4f}"),
    ]
    w = max(len(r[0]) for r in rows) + 2
    print(f"{'':<{w}}{'arena':>28}{'backtesting.py':>28}")
    for label, a, b in rows:
        print(f"{label:<{w}}{a!s:>28}{b!s:>28}")
    print(f"max |equity difference| over {n} bars: {np.max(np.abs(eq_ours - eq_bt)):.3g}")
    print()

    if list_all:
        print(_fmt_trips(ours, times).rename_axis("trade #").to_string())
        print()
    if diff.empty:
        print(f"all {len(ours)} trades identical (entry/exit bar, size, entry/exit price)")
    else:
        print(f"{len(diff)} of {max(len(ours), len(theirs))} trades differ:")
        print(_side_by_side(diff, times).to_string())

    for msg in notes:
        print(f"backtesting.py: {msg}")
    if notes:
        print("  (a buy() while already long: its margin is in use, so backtesting.py cancels it;\n"
              "   the arena does not re-trade an unchanged target, so both stay as they are)")
    if weight == WEIGHT:
        _what_if_9999(data, theirs, times)
    else:
        print(f"\nweight={weight:g}: backtesting.py's buy() spends all available cash "
              "(size 1 - 2**-52); weight=1 matches it.")
    return 0 if diff.empty else 1


def _what_if_9999(data, theirs: pd.DataFrame, times: pd.DatetimeIndex) -> None:
    """Show the cost of taking backtesting.py's printed '.9999' literally."""
    alt = arena_trips(run_arena(data, [sma_spec(0.9999)]).trades_frame())
    d = trip_differences(alt, theirs)
    print()
    print("Why weight=1 and not 0.9999: backtesting.py's Strategy.buy() size defaults to "
          "_FULL_EQUITY = 1 - sys.float_info.epsilon,")
    print("whose repr is '.9999'; it buys int(margin_available * size // price) shares, "
          "i.e. floor(cash / price).")
    if d.empty:
        print("With weight=0.9999 the trades would also be identical on this data.")
    else:
        print(f"With weight=0.9999 instead, {len(d)} of {len(theirs)} trades would differ in size "
              "(0.9999 * cash / price rounds down past an integer; then equity drifts apart):")
        print(_side_by_side(d, times).to_string())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbol", default="GOOG", choices=BUNDLED_SYMBOLS,
                   help="bundled symbol (default GOOG, 2004-08-19..2013-03-01)")
    p.add_argument("--weight", type=float, default=WEIGHT,
                   help="the arena agent's weight (default 1, which matches backtesting.py)")
    p.add_argument("--list", action="store_true", help="print every trade")
    args = p.parse_args(argv)
    return compare(args.symbol, args.weight, args.list)


if __name__ == "__main__":
    sys.exit(main())

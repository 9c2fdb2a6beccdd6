"""Memory a live run keeps per bar: an engine-only run on a feed released bar by bar.

9 agents (three trade at most every bar) on 2 symbols of synthetic 1-minute candles,
no recording, no server. tracemalloc's current size after ``--first`` and ``--last``
live bars; the difference per bar is what a live run keeps for each bar::

    .venv/bin/python benchmarks/live_memory.py                 # 1,000 and 3,000 bars
    .venv/bin/python benchmarks/live_memory.py --last 6000
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arena.data import synthetic  # noqa: E402
from arena.engine import Competition, CompetitionConfig  # noqa: E402
from arena.feeds.feed import HistoryFeed  # noqa: E402

AGENTS = ["buy_and_hold", "sma_cross", "momentum", "mean_reversion", "rsi", "macd",
          "random:trade_prob=1.0", "random:trade_prob=0.9",
          "random:trade_prob=0.5"]


def _until(cond, timeout=60.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the engine did not keep up")
        time.sleep(0.0005)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--first", type=int, default=1000)
    ap.add_argument("--last", type=int, default=3000)
    ap.add_argument("--top", type=int, default=0, help="also the N lines that kept most")
    args = ap.parse_args(argv)
    data = synthetic(["AAA", "BBB"], bars=args.warmup + args.last + 1, seed=1, freq="1min")
    feed = HistoryFeed(data, start=args.warmup)
    comp = Competition(feed, AGENTS, CompetitionConfig(record=False, seed=1))
    comp.start()
    _until(lambda: comp.bar == args.warmup)
    tracemalloc.start()
    sizes, snaps = {}, {}
    for i in range(1, args.last + 1):
        feed.release(1)
        _until(lambda i=i: comp.bar == args.warmup + i)
        if i in (args.first, args.last):
            gc.collect()
            sizes[i] = tracemalloc.get_traced_memory()[0]
            if args.top:
                snaps[i] = tracemalloc.take_snapshot()
    fills = len(comp.trades_frame())
    comp.stop()
    per_bar = (sizes[args.last] - sizes[args.first]) / (args.last - args.first)
    print(f"traced after {args.first} live bars: {sizes[args.first] / 1e6:.2f} MB, "
          f"after {args.last}: {sizes[args.last] / 1e6:.2f} MB")
    print(f"kept per live bar: {per_bar / 1e3:.2f} KB ({fills} fills in "
          f"{args.warmup + args.last} bars)")
    if args.top:
        diff = snaps[args.last].compare_to(snaps[args.first], "lineno")
        for stat in diff[:args.top]:
            print(f"  {stat.size_diff / (args.last - args.first):8.0f} B a bar  {stat.traceback[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

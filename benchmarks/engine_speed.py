"""Engine speed against backtesting.py, in one process, on ≥100k real bars.

    .venv/bin/python benchmarks/engine_speed.py [--bars 100000] [--agents 8]

The bundled daily history of one symbol (GOOG by default) is tiled end to end
to at least ``--bars`` bars (each copy rescaled so its first open equals the
previous copy's last close; new increasing timestamps). Then, each timed
``--repeat`` times (best kept), after one untimed warm-up that loads numba's
compiled kernels:

(a) backtesting.py running the SMA crossover (10/20) on those bars;
(b) the arena, headless (record=False): the same SMA crossover alone, then a
    mix of ``--agents`` built-in agents (bars × agents per second);
(c) the same two with recording on (SQLite in a temporary directory);
(d) the arena's generic per-bar path (an agent without ``signals()`` that
    delegates ``decide`` to the SMA crossover) on the first ``--per-bar-bars`` bars;
(e) diagnostics: the agents' ``signals()`` alone, and the compiled accounting
    kernel alone (no publishing, no streams): together, the ceiling for (b).

It also checks that the arena's and backtesting.py's trades are identical on
the tiled data (and the per-bar path's trades equal the fast path's) and exits
1 if not. Figures and their meaning: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time

import numpy as np
from _common import (
    AGENT_MIX,
    arena_trips,
    backtesting_frame,
    backtesting_trips,
    best_of,
    portfolio_config,
    run_arena,
    run_backtesting,
    sma_spec,
    tile,
    trip_differences,
    versions,
)

from arena import Agent, create_agent
from arena.data import BUNDLED_SYMBOLS, load_bundled
from arena.portfolio import FILL_COLUMNS, Accounts


class PerBarSmaCross(Agent):
    """The SMA crossover forced onto the per-bar path: no ``signals()``, and
    ``decide`` is the built-in agent's own."""

    description = "sma_cross deciding bar by bar (benchmark wrapper)"

    def __init__(self, **params):
        super().__init__(**params)
        self.inner = create_agent(sma_spec())

    def reset(self, data, seed):
        self.inner.reset(data, seed)

    def decide(self, obs):
        return self.inner.decide(obs)


def all_signals(data, specs) -> np.ndarray:
    """Every agent's ``signals()``, stacked ``(agents, bars, symbols)``, seeded as the
    engine seeds them (seed=0)."""
    agents = [create_agent(s) for s in specs]
    seeds = np.random.SeedSequence(0).generate_state(len(agents))
    for a, seed in zip(agents, seeds, strict=True):
        a.reset(data, int(seed))
    return np.stack([a.signals(data) for a in agents])


def kernel_only(data, decisions: np.ndarray) -> np.ndarray:
    """The accounting kernel over all bars for precomputed decisions; equity out."""
    n_agents, n = decisions.shape[0], len(data)
    acc = Accounts(n_agents, data.symbols, portfolio_config())
    equity = np.zeros((n_agents, n))
    invested = np.zeros((n_agents, n), dtype=bool)
    fills = np.zeros((max(4096, n_agents * 2 * 64), FILL_COLUMNS))
    t = 0
    while t < n:
        done, _ = acc.run(t, n, data.open, data.close, decisions, True,
                          equity[:, t:], invested[:, t:], fills)
        t += done
    return equity


def _ratio(x: float) -> str:
    return f"{x:.1f}x" if x >= 1 else f"{x:.2g}x"


def mix(n_agents: int) -> list[str]:
    return [AGENT_MIX[i % len(AGENT_MIX)] for i in range(n_agents)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bars", type=int, default=100_000, help="bars to build by tiling (≥ 100000)")
    p.add_argument("--agents", type=int, default=8, help="agents in the mixed competition")
    p.add_argument("--symbol", default="GOOG", choices=BUNDLED_SYMBOLS)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (best kept)")
    p.add_argument("--per-bar-bars", type=int, default=3_000,
                   help="bars for the per-bar path (d), which is much slower")
    args = p.parse_args(argv)
    if args.bars < 2 or args.agents < 1 or args.repeat < 1 or args.per_bar_bars < 2:
        p.error("--bars and --per-bar-bars must be >= 2, --agents and --repeat >= 1")

    real = load_bundled([args.symbol])
    data = tile(real, args.symbol, args.bars)
    n = len(data)
    specs = mix(args.agents)
    per_bar_data = data.slice(0, min(args.per_bar_bars, n))
    df = backtesting_frame(data, args.symbol)
    load_before = os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="arena-bench-")
    started = time.perf_counter()
    try:
        # warm-up: numba kernels load from their cache (or compile, the first time)
        run_backtesting(backtesting_frame(real, args.symbol))
        run_arena(real, specs, record=True, run_dir=tmp)
        run_arena(real.slice(0, 300), [PerBarSmaCross()])
        kernel_only(real, all_signals(real, specs))

        def recorded(agents):
            def go():
                comp = run_arena(data, agents, record=True, run_dir=tmp)
                shutil.rmtree(comp.run_path, ignore_errors=True)
                return comp
            return go

        r = args.repeat
        bt = best_of(lambda: run_backtesting(df), r)
        one = best_of(lambda: run_arena(data, [sma_spec()]), r)
        many = best_of(lambda: run_arena(data, specs), r)
        one_rec = best_of(recorded([sma_spec()]), r)
        many_rec = best_of(recorded(specs), r)
        per_bar = best_of(lambda: run_arena(per_bar_data, [PerBarSmaCross()]), r)
        signals = best_of(lambda: all_signals(data, specs), r)
        kernel = best_of(lambda: kernel_only(data, signals.result), r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - started

    # -- correctness on the tiled data ------------------------------------------------
    comp = one.result
    ours, theirs = arena_trips(comp.trades_frame()), backtesting_trips(bt.result)
    diff = trip_differences(ours, theirs)
    eq_ours = comp.equity_frame().iloc[:, 0].to_numpy()
    eq_bt = bt.result["_equity_curve"]["Equity"].to_numpy()
    rel = float(np.max(np.abs(eq_ours / eq_bt - 1)))
    fast_small = run_arena(per_bar_data, [sma_spec()]).trades_frame().drop(columns="agent")
    slow_small = per_bar.result.trades_frame().drop(columns="agent")
    paths_agree = fast_small.equals(slow_small)
    kernel_agrees = np.array_equal(kernel.result, many.result.equity_frame().to_numpy().T)

    # -- report ----------------------------------------------------------------------
    bt_rate = n / bt.best
    print(f"Engine speed: {n:,} bars = {args.symbol} {real.timestamp(0).date()}.."
          f"{real.timestamp(len(real) - 1).date()} ({len(real)} bars) tiled "
          f"{n // len(real)}x; prices {data.close.min():.3g}..{data.close.max():.3g}")
    print(f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, {versions()}; load average before/after "
          f"{load_before:.1f}/{os.getloadavg()[0]:.1f}")
    print(f"best of {r} runs each (wall time, construction + run + results); "
          f"agents in the mix: {', '.join(specs)}")
    print()
    head = (f"{'':<46}{'agents':>6}{'bars':>9}{'best s':>9}{'bars/s':>11}"
            f"{'bars x agents/s':>17}{'vs bt.py':>10}")
    print(head)
    print("-" * len(head))

    def row(label, timing, bars, agents, note=""):
        rate = bars * agents / timing.best
        print(f"{label:<46}{agents:>6}{bars:>9,}{timing.best:>9.3f}{bars / timing.best:>11,.0f}"
              f"{rate:>17,.0f}{_ratio(rate / bt_rate):>10}{note}")
        return rate

    row("(a) backtesting.py SmaCross", bt, n, 1)
    r1 = row("(b) arena sma_cross, record=False", one, n, 1)
    rm = row(f"(b) arena {args.agents}-agent mix, record=False", many, n, args.agents)
    r1r = row("(c) arena sma_cross, record=True", one_rec, n, 1)
    rmr = row(f"(c) arena {args.agents}-agent mix, record=True", many_rec, n, args.agents)
    row("(d) arena per-bar path (PerBarSmaCross)", per_bar, len(per_bar_data), 1)
    row(f"(e) signals() of the {args.agents} agents", signals, n, args.agents)
    row(f"(e) accounting kernel alone, {args.agents} agents", kernel, n, args.agents)
    print()
    print(f"recording overhead vs record=False: sma_cross {r1 / r1r * 100 - 100:+.0f}% time, "
          f"{args.agents}-agent mix {rm / rmr * 100 - 100:+.0f}% time")
    rest = many.best - signals.best - kernel.best
    print(f"where the {args.agents}-agent record=False time goes: signals {signals.best:.2f} s, "
          f"kernel {kernel.best:.2f} s, the rest (publishing, streams, stats) {rest:.2f} s")
    print()
    if diff.empty:
        print(f"trades on the tiled data, arena vs backtesting.py: all {len(ours)} trades identical; "
              f"equity curves agree to {rel:.1e} (relative)")
    else:
        print(f"trades on the tiled data DIFFER in {len(diff)} of {max(len(ours), len(theirs))}:")
        print(diff.head(20).to_string())
    print(f"per-bar path vs fast path on {len(per_bar_data):,} bars: "
          f"{'trades identical' if paths_agree else 'TRADES DIFFER'}")
    print(f"kernel-only equity vs the engine's ({args.agents} agents): "
          f"{'identical' if kernel_agrees else 'DIFFERENT'}")
    aim = r1 / bt_rate
    print(f"aim: >= 10x backtesting.py's bars/s with identical trades: "
          f"{'met' if aim >= 10 and diff.empty else 'NOT met'} ({aim:.1f}x for sma_cross alone)")
    print(f"benchmark wall time {total:.0f} s")
    return 0 if diff.empty and paths_agree and kernel_agrees else 1


if __name__ == "__main__":
    sys.exit(main())

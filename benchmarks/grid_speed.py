"""A grid of SMA crossovers: one competition of many agents against one compiled grid pass.

    .venv/bin/python benchmarks/grid_speed.py [--symbol GOOG] [--repeat 3] [--sample 12]

The grid is fast = 5, 10, ..., 100 × slow = 10, 20, ..., 500 (1,000 combinations; the
100 with fast >= slow are skipped and counted, as a sweep skips them) of ``sma_cross``
(all in, whole shares, no costs, fills at the next open) on the bundled daily history
of one symbol (GOOG: 2,148 bars). Each timed ``--repeat`` times (best kept) after an
untimed warm-up that loads numba's compiled kernels, in this one process:

(a) the grid as one competition of 900 agents (``Competition``, record=False): the
    engine's per-agent path (streams, events, live leaderboard), today's baseline;
(b) ``arena.engine.batch.run_grid`` on the 900 agent specs (an agent built per
    combination, shared indicators, one kernel call, statistics in one pass);
(c) ``arena.engine.batch.run_param_grid("sma_cross", combos)``: the same without
    building an agent per combination;
(d) one-agent competitions of ``--sample`` of the combinations (timed once each, the
    check runs below; ``best s`` is the mean time of one).

Rates are bar-combinations (bars × agents) per second. vectorbt 1.2.0 is not installed
here; its figure on this grid and machine, measured once on 2026-12-07 (issue 17), is
printed for reference. Checks (exit 1 if one fails): every agent's equity in (a), (b)
and (c) is identical; for ``--sample`` combinations picked at random (seed 0) the
statistics of (c) equal a one-agent ``Competition`` of the same parameters (exact for
counts, times, equity and drawdowns; 1e-9 relative for sums and moments of returns,
which are added in a different order), and so do the trades.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np
import pandas as pd

from arena import Competition, CompetitionConfig, PortfolioConfig
from arena.data import BUNDLED_SYMBOLS, load_bundled
from arena.engine.batch import run_grid, run_param_grid
from arena.metrics import STAT_KEYS

VECTORBT_RATE = 6.0e6  # bar-combinations/s, vectorbt 1.2.0 on this grid (issue 17)
FASTS = range(5, 101, 5)
SLOWS = range(10, 501, 10)
MOMENTS = {"volatility_ann_pct", "sharpe", "sortino", "skew", "kurtosis", "omega",
           "ulcer_index", "kelly", "calmar", "return_ann_pct", "profit_factor", "avg_trade",
           "fees"}


def best_of(fn, repeat: int):
    runs, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t)
    return min(runs), out


def stat_differences(ours: pd.Series, theirs: pd.Series) -> list[str]:
    bad = []
    for key in STAT_KEYS:
        a, b = ours[key], theirs[key]
        if isinstance(b, float) and math.isnan(b):
            ok = isinstance(a, float) and math.isnan(a)
        elif key in MOMENTS:
            ok = math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        else:
            ok = a == b
        if not ok:
            bad.append(f"{key}: {a!r} != {b!r}")
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbol", default="GOOG", choices=BUNDLED_SYMBOLS)
    p.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (best kept)")
    p.add_argument("--sample", type=int, default=12,
                   help="combinations checked against one-agent competitions")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.sample < 0:
        p.error("--repeat must be >= 1 and --sample >= 0")

    data = load_bundled([args.symbol])
    n = len(data)
    tried = [(f, s) for f in FASTS for s in SLOWS]
    combos = [{"fast": f, "slow": s} for f, s in tried if f < s]
    specs = [f"sma_cross:fast={c['fast']},slow={c['slow']}" for c in combos]
    cfg = CompetitionConfig(portfolio=PortfolioConfig(cash=100_000.0), record=False)
    cells = n * len(combos)
    load_before = os.getloadavg()[0]

    def competition():
        comp = Competition(data, specs, cfg)
        comp.run()
        return comp

    # warm-up: numba's kernels load from their cache (or compile, the first time)
    competition_small = Competition(data, specs[:3], cfg)
    competition_small.run()
    run_grid(data, specs[:3], cfg)
    run_param_grid(data, "sma_cross", combos[:3], cfg)

    started = time.perf_counter()
    t_comp, comp = best_of(competition, args.repeat)
    t_specs, _ = best_of(lambda: run_grid(data, specs, cfg), args.repeat)
    t_params, _ = best_of(lambda: run_param_grid(data, "sma_cross", combos, cfg), args.repeat)

    # -- checks (untimed) ------------------------------------------------------------
    by_specs = run_grid(data, specs, cfg, keep_paths=True)
    grid = run_param_grid(data, "sma_cross", combos, cfg, keep_paths=True)
    comp_eq = comp.equity_frame().to_numpy().T
    same_equity = (np.array_equal(comp_eq, grid.equity)
                   and np.array_equal(by_specs.equity, grid.equity))
    same_names = comp.agent_names == list(grid.stats["agent"]) == list(by_specs.stats["agent"])
    rng = np.random.default_rng(0)
    sample = sorted(rng.choice(len(combos), size=min(args.sample, len(combos)), replace=False))
    problems = []
    t_single = 0.0
    for i in sample:
        t = time.perf_counter()
        one = Competition(data, [specs[i]], cfg)
        one.run()
        t_single += time.perf_counter() - t
        diffs = stat_differences(grid.stats.iloc[i], one.stats().iloc[:, 0])
        ours = grid.trades[grid.trades["agent"] == grid.stats["agent"].iloc[i]]
        if not ours.reset_index(drop=True).equals(one.trades_frame().reset_index(drop=True)):
            diffs.append("trades differ")
        if diffs:
            problems.append(f"{specs[i]}: " + "; ".join(diffs[:4]))
    total = time.perf_counter() - started

    # -- report ----------------------------------------------------------------------
    print(f"Grid speed: sma_cross fast {FASTS.start}..{FASTS.stop - 1}/{FASTS.step} x slow "
          f"{SLOWS.start}..{SLOWS.stop - 1}/{SLOWS.step} = {len(tried):,} combinations, "
          f"{len(combos):,} run ({len(tried) - len(combos)} skipped: fast >= slow), on "
          f"{args.symbol} {data.timestamp(0).date()}..{data.timestamp(n - 1).date()} ({n:,} bars)")
    print(f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}; load average before/after {load_before:.1f}/"
          f"{os.getloadavg()[0]:.1f}; best of {args.repeat} runs (wall time, from specs to "
          "the statistics)")
    print()
    head = f"{'':<58}{'best s':>8}{'bar-combos/s':>15}{'vs (a)':>8}{'vs vectorbt':>13}"
    print(head)
    print("-" * len(head))
    for label, t in (("(a) one Competition of the 900 agents, record=False", t_comp),
                     ("(b) run_grid(specs): an agent per combination", t_specs),
                     ("(c) run_param_grid('sma_cross', combos)", t_params)):
        rate = cells / t
        print(f"{label:<58}{t:>8.3f}{rate:>15,.0f}{rate / (cells / t_comp):>7.1f}x"
              f"{rate / VECTORBT_RATE:>12.2f}x")
    if sample:
        rate = n * len(sample) / t_single
        print(f"{f'(d) one-agent competitions, {len(sample)} of the combinations':<58}"
              f"{t_single / len(sample):>8.3f}{rate:>15,.0f}{rate / (cells / t_comp):>7.2f}x"
              f"{rate / VECTORBT_RATE:>12.2f}x")
    print(f"{'    vectorbt 1.2.0 (not installed; measured 2026-12-07, issue 17)':<58}{'':>8}"
          f"{VECTORBT_RATE:>15,.0f}")
    print()
    print(f"equity of all {len(combos)} agents, (a) = (b) = (c): "
          f"{'identical' if same_equity and same_names else 'DIFFERENT'}")
    if problems:
        print(f"{len(problems)} of {len(sample)} sampled combinations DIFFER from one-agent "
              "competitions:")
        for line in problems:
            print("  " + line)
    else:
        print(f"{len(sample)} sampled combinations: statistics and trades equal one-agent "
              "competitions'")
    print(f"benchmark wall time {total:.0f} s")
    return 0 if same_equity and same_names and not problems else 1


if __name__ == "__main__":
    sys.exit(main())

"""A 1,020-task SMA-crossover grid through the sweep: 1 and 2 Dask workers, in-process,
and the engine's compiled grid pass, in one process.

    .venv/bin/python benchmarks/sweep_speed.py [--symbol GOOG] [--repeat 2]

The grid is ``sma_cross:fast=5..100/5,slow=10..560/10`` (1,120 combinations; the 100
with fast >= slow skipped and counted: 1,020 tasks) on the bundled daily history of one
symbol (GOOG: 2,148 bars), all in, whole shares, no costs, fills at the next open.
Timed, best of ``--repeat`` after an untimed warm-up (numba's kernels, the workers'
imports), each into a fresh results folder:

(a) ``run_tasks(..., client=None)``: the sweep here, one chunk after another (each
    chunk's rule agents in one compiled grid pass, ``arena.sweep.batch``; results
    written to Parquet as a sweep writes them);
(b) ``run_tasks`` on an embedded ``LocalCluster`` of 1 worker process (started
    before the clock);
(c) the same on 2 worker processes: the speed-up from 1 to 2 workers is (b) ÷ (c);
(d) ``arena.engine.batch.run_param_grid("sma_cross", combos)``: the compiled grid
    pass alone on the whole grid (what (a) runs per chunk of 64), no results table.

Rates are bar-combinations (bars × tasks) per second. vectorbt 1.2.0 is not installed
here; its rate on this grid's 1,000-combination version on this machine, measured on
2026-12-07 (issue 17), is printed for reference. Check (exit 1 if it fails): the
final equity of every task is the same in (a), (b), (c) and (d).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np

from arena import CompetitionConfig, PortfolioConfig
from arena.data import BUNDLED_SYMBOLS, load_bundled
from arena.engine.batch import run_param_grid
from arena.sweep import open_client, plan_tasks, run_tasks

VECTORBT_RATE = 6.0e6  # bar-combinations/s, vectorbt 1.2.0 (issue 17, 2026-12-07)
GRID = "sma_cross:fast=5..100/5,slow=10..560/10"


def timed(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbol", default="GOOG", choices=BUNDLED_SYMBOLS)
    p.add_argument("--repeat", type=int, default=2, help="timed runs each (best kept)")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    data = load_bundled([args.symbol])
    markets = {args.symbol: data}
    cfg = CompetitionConfig(portfolio=PortfolioConfig(cash=100_000.0), record=False)
    plan = plan_tasks([GRID], markets, cfg)
    tasks = plan.tasks
    cells = len(data) * len(tasks)
    combos = [dict(t.params) for t in tasks]
    combos = [{"fast": c["fast"], "slow": c["slow"]} for c in combos]
    load_before = os.getloadavg()[0]

    def sweep(client):
        with tempfile.TemporaryDirectory() as out:
            return run_tasks(tasks, markets, cfg, client=client, out=out)

    run_tasks(tasks[:40], markets, cfg)  # warm-up: numba kernels, imports
    t_here, here = timed(lambda: sweep(None), args.repeat)
    dask_times, dask_rows = {}, {}
    for workers in (1, 2):
        with open_client(workers=workers) as client:
            run_tasks(tasks[:40], markets, cfg, client=client)  # the workers' warm-up
            dask_times[workers], dask_rows[workers] = timed(lambda c=client: sweep(c),
                                                            args.repeat)
    run_param_grid(data, "sma_cross", combos[:3], cfg)
    t_grid, grid = timed(lambda: run_param_grid(data, "sma_cross", combos, cfg), args.repeat)

    ref = here["equity"].to_numpy()
    same = all(np.array_equal(ref, rows["equity"].to_numpy()) for rows in dask_rows.values())
    same = same and np.array_equal(ref, grid.stats["equity_final"].to_numpy())

    print(f"{args.symbol}: {len(data):,} bars; grid {GRID}: {plan.combinations:,} tasks "
          f"({plan.skipped} skipped: fast >= slow), {cells / 1e6:,.2f} M bar-combinations")
    print(f"{platform.python_version()}, {os.cpu_count()} CPUs, load average before "
          f"{load_before:.2f}, after {os.getloadavg()[0]:.2f}; best of {args.repeat}")
    head = f"{'':<52}{'best s':>8}{'bar-combos/s':>15}{'vs vectorbt':>13}"
    print(head)
    rows = [("(a) sweep, in-process (grid pass per chunk)", t_here),
            ("(b) sweep, LocalCluster 1 worker", dask_times[1]),
            ("(c) sweep, LocalCluster 2 workers", dask_times[2]),
            ("(d) run_param_grid (compiled grid pass)", t_grid)]
    for label, t in rows:
        rate = cells / t
        print(f"{label:<52}{t:>8.2f}{rate / 1e6:>13.2f} M{rate / VECTORBT_RATE:>12.2f}×")
    print(f"{'vectorbt 1.2.0 (reference, not run here)':<52}{'':>8}"
          f"{VECTORBT_RATE / 1e6:>13.2f} M{1:>12.2f}×")
    print(f"speed-up 1 -> 2 workers: {dask_times[1] / dask_times[2]:.2f}×; "
          f"run_param_grid vs the in-process sweep: {t_here / t_grid:.1f}×")
    print(f"final equity of all {len(tasks):,} tasks, (a) = (b) = (c) = (d): "
          f"{'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

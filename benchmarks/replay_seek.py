"""Replay on a large recording: how long it takes to open, and how long a seek takes.

    .venv/bin/python benchmarks/replay_seek.py [--bars 250000] [--agents 4] [--keep DIR]

The recording is made by the engine itself: ``--agents`` signal agents on one
synthetic symbol for ``--bars`` bars, so it holds ``bars × agents`` equity values
(1,000,000 by default, in column blocks), with their trades, decisions and
events. It is written to a temporary directory (or reused from ``--keep DIR``).

Measured (wall time, ``time.perf_counter``):

* open: ``Replay(run)`` until it is usable at bar 0: prices and equity from their
  column blocks, the trades row by row; decisions and events stay in SQLite;
* seek: ``replay.seek(t)`` for 20 seeded random positions, forwards and back
  (the end first, then bar 1), each rebuilding every stream (its newest 10,000
  rows; decisions and events by indexed queries), the leaderboard (statistics
  over all bars up to t, from a checkpoint every 4,096 bars that the first seek
  past it makes) and the positions; median, p95 and max.

Aims (issue 5): open under 2 s, a seek under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from arena import Competition, CompetitionConfig, Replay, synthetic
from arena.recorder import Recording

AGENTS = ("buy_and_hold", "sma_cross", "momentum", "mean_reversion", "macd", "rsi",
          "sma_cross:fast=20,slow=50", "momentum:lookback=50")
AIM_OPEN, AIM_SEEK = 2.0, 0.300


def make_recording(run_dir: Path, bars: int, agents: int) -> tuple[Path, float]:
    """The engine records a run of ``agents`` agents over ``bars`` synthetic bars."""
    specs = [AGENTS[i % len(AGENTS)] for i in range(agents)]
    data = synthetic("SYN", bars=bars, seed=5, freq="h")
    comp = Competition(data, specs, CompetitionConfig(run_dir=str(run_dir), seed=5))
    t0 = time.perf_counter()
    comp.run()
    return comp.run_path, time.perf_counter() - t0


def counts(rec: Recording) -> dict[str, int]:
    """Rows recorded per table (bars: bar x symbol; equity: bar x agent) and the
    SQLite rows holding bars and equity (column blocks)."""
    bars, eq = rec.bar_grid(prices=False), rec.equity_grid()
    out = {"bars": len(bars.bars) * len(bars.symbols), "equity": eq.equity.size}
    out |= {t: rec.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("trades", "decisions", "events", "bar_blocks", "equity_blocks")}
    return out


def find_recording(run_dir: Path, rows: int) -> Path | None:
    for db in sorted(run_dir.glob("*/arena.sqlite")):
        with Recording(db) as rec:
            if rec.blocks and rec.meta.get("status") == "finished" \
                    and counts(rec)["equity"] == rows:
                return db.parent
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bars", type=int, default=250_000)
    p.add_argument("--agents", type=int, default=4)
    p.add_argument("--seeks", type=int, default=20)
    p.add_argument("--keep", type=Path, help="make (or reuse) the recording in this directory")
    args = p.parse_args(argv)
    run_dir = args.keep or Path(tempfile.mkdtemp(prefix="arena-replay-bench-"))
    rows = args.bars * args.agents
    path = find_recording(run_dir, rows) if args.keep else None
    made = None
    if path is None:
        print(f"recording {args.bars:,} bars x {args.agents} agents = {rows:,} equity rows ...",
              file=sys.stderr)
        path, made = make_recording(run_dir, args.bars, args.agents)
    with Recording(path) as rec:
        rows_in = counts(rec)
    size_mb = (path / "arena.sqlite").stat().st_size / 1e6

    load_before = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    rp = Replay(path)
    open_s, open_cpu = time.perf_counter() - t0, time.process_time() - c0

    rng = np.random.default_rng(1)
    targets = [int(x) for x in rng.integers(1, rp.n_bars + 1, args.seeks)]
    targets[:2] = [rp.n_bars, 1]  # the largest rebuild, and the smallest
    seeks, seeks_cpu = [], []
    for t in targets:
        s0, c0 = time.perf_counter(), time.process_time()
        rp.seek(t)
        seeks.append(time.perf_counter() - s0)
        seeks_cpu.append(time.process_time() - c0)
    board = rp.leaderboard()
    rp.stop()
    seeks_ms = sorted(1000 * s for s in seeks)
    result = {
        "recording": str(path), "size_mb": round(size_mb, 1), "rows": rows_in,
        "recorded_in_s": None if made is None else round(made, 1),
        "open_s": round(open_s, 3), "open_cpu_s": round(open_cpu, 3),
        "load_average_1min": round(load_before, 1), "cores": os.cpu_count(),
        "seek_ms": {"median": round(statistics.median(seeks_ms), 1),
                    "p95": round(seeks_ms[int(0.95 * (len(seeks_ms) - 1))], 1),
                    "max": round(seeks_ms[-1], 1), "n": len(seeks_ms)},
        "seek_cpu_ms": {"median": round(1000 * statistics.median(seeks_cpu), 1),
                        "max": round(1000 * max(seeks_cpu), 1)},
        "seek_to_end_ms": round(1000 * seeks[0], 1),
        "leader_at_last_seek": str(board["agent"].iloc[0]) if len(board) else None,
        "aims": {"open_under_2s": open_s < AIM_OPEN,
                 "seek_under_300ms": seeks_ms[-1] < 1000 * AIM_SEEK},
    }
    print(json.dumps(result, indent=2))
    return 0 if all(result["aims"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

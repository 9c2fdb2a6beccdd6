"""What recording costs the engine: the same competition with and without it.

    .venv/bin/python benchmarks/recording_overhead.py [--bars 100000] [--repeat 5]

The bundled GOOG history tiled to ``--bars`` bars (as in engine_speed.py), run
headless to the end (construction + run + results, as engine_speed.py times
it) by (1) the SMA crossover alone and (2) the 8-agent mix, each ``--repeat``
times with ``record=False`` and ``record=True`` alternately (so both see the
same load), after an untimed warm-up of each. Recording goes to SQLite in a
temporary directory, deleted after each run; a recorded run ends only once
its recording is complete and closed. Prints best and median times and the
overhead ``recorded / not recorded - 1`` of the best times, of the medians and
(``paired``) the median of each pair's overhead, then CPU seconds: this process (the engine; all its threads) with
and without recording, and the recording's writer process. The writer runs in
parallel with the engine, so the wall-time overhead stays small only while a
core is free for it and its CPU time is below the engine's. The aim (issue 5)
is under 10 %. Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

from _common import AGENT_MIX, run_arena, sma_spec, tile

from arena.data import BUNDLED_SYMBOLS, load_bundled
from arena.recorder import DB_NAME

TABLES = ("bar_blocks", "equity_blocks", "trades", "decisions", "events")


def rows_in(run_path) -> tuple[int, int]:
    """Rows recorded (bar x symbol, bar x agent, trades, decisions, events) and the
    SQLite rows that hold them (prices and equity are stored as column blocks)."""
    db = sqlite3.connect(run_path / DB_NAME)
    sqlite_rows = sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)
    rows = sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES[2:])
    rows += db.execute("SELECT coalesce(sum(n_bars * json_array_length(symbols)), 0)"
                       " FROM bar_blocks").fetchone()[0]
    rows += db.execute("SELECT coalesce(sum(n_bars * n_agents), 0) FROM equity_blocks"
                       ).fetchone()[0]
    db.close()
    return rows, sqlite_rows


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the recordings' writers).
    A writer exits on its own after the run (it checkpoints the WAL once the last
    rows are committed), so wait for it first: its whole CPU time is counted."""
    with contextlib.suppress(ChildProcessError):
        while True:
            os.waitpid(-1, 0)
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(data, agents, repeat: int, run_dir: str) -> dict:
    """Alternate unrecorded and recorded runs: wall times, CPU seconds of this
    process (all threads) and of the writer process, and the rows written."""
    r = {k: [] for k in ("off", "on", "cpu_off", "cpu_on", "cpu_writer")}
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        run_arena(data, agents)
        r["off"].append(time.perf_counter() - t)
        r["cpu_off"].append(time.process_time() - c)
        t, c, w = time.perf_counter(), time.process_time(), children_cpu()
        comp = run_arena(data, agents, record=True, run_dir=run_dir)
        r["on"].append(time.perf_counter() - t)
        r["cpu_on"].append(time.process_time() - c)
        r["cpu_writer"].append(children_cpu() - w)
        r["rows"], r["sqlite_rows"] = rows_in(comp.run_path)
        shutil.rmtree(comp.run_path, ignore_errors=True)
    return r


def paired(r: dict) -> float:
    """Median over the pairs (an unrecorded run, then its recorded twin) of
    ``on / off - 1``: each pair ran close in time, so it shares the machine's load."""
    return statistics.median(on / off - 1 for off, on in zip(r["off"], r["on"], strict=True))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bars", type=int, default=100_000, help="bars to build by tiling")
    p.add_argument("--symbol", default="GOOG", choices=BUNDLED_SYMBOLS)
    p.add_argument("--repeat", type=int, default=5, help="runs of each kind (best kept)")
    args = p.parse_args(argv)
    if args.bars < 2 or args.repeat < 1:
        p.error("--bars must be >= 2 and --repeat >= 1")

    real = load_bundled([args.symbol])
    data = tile(real, args.symbol, args.bars)
    cases = [("sma_cross alone", [sma_spec()]), (f"{len(AGENT_MIX)}-agent mix", list(AGENT_MIX))]
    load_before = os.getloadavg()[0]
    tmp = tempfile.mkdtemp(prefix="arena-rec-bench-")
    started = time.perf_counter()
    try:
        for _, agents in cases:  # warm-up: numba's kernels, the writer's imports
            run_arena(real, agents)
            run_arena(real, agents, record=True, run_dir=tmp)
        results = [(label, measure(data, agents, args.repeat, tmp)) for label, agents in cases]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - started

    print(f"Recording overhead: {len(data):,} bars ({data.source}), {os.cpu_count()} cores, "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}; load average before/after "
          f"{load_before:.1f}/{os.getloadavg()[0]:.1f}")
    print(f"{args.repeat} runs of each kind, alternating; wall time of construction + run + "
          f"results (a recorded run includes closing its recording)")
    print()
    head = (f"{'':<18}{'rows recorded':>14}{'SQLite rows':>12}{'best off s':>12}{'best on s':>11}"
            f"{'overhead':>10}{'median off':>12}{'median on':>11}{'overhead':>10}{'paired':>9}")
    print(head)
    print("-" * len(head))
    for label, r in results:
        b_off, b_on = min(r["off"]), min(r["on"])
        m_off, m_on = statistics.median(r["off"]), statistics.median(r["on"])
        print(f"{label:<18}{r['rows']:>14,}{r['sqlite_rows']:>12,}{b_off:>12.3f}{b_on:>11.3f}{b_on / b_off - 1:>+10.1%}"
              f"{m_off:>12.3f}{m_on:>11.3f}{m_on / m_off - 1:>+10.1%}{paired(r):>+9.1%}")
    print()
    print("CPU seconds, best of the runs (less sensitive to load than wall time):")
    head = f"{'':<18}{'engine off':>12}{'engine on':>11}{'writer':>9}{'writer / engine off':>21}"
    print(head)
    print("-" * len(head))
    for label, r in results:
        c_off, c_on, c_w = min(r["cpu_off"]), min(r["cpu_on"]), min(r["cpu_writer"])
        print(f"{label:<18}{c_off:>12.3f}{c_on:>11.3f}{c_w:>9.3f}{c_w / c_off:>21.2f}")
    print()
    for label, r in results:
        print(f"{label}: off {', '.join(f'{x:.3f}' for x in r['off'])}; "
              f"on {', '.join(f'{x:.3f}' for x in r['on'])}")
    print(f"benchmark wall time {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

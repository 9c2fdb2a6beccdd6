"""What recording costs the engine: the same competition with and without it.

    .venv/bin/python benchmarks/recording_overhead.py [--bars 100000] [--repeat 11]

The bundled GOOG history tiled to ``--bars`` bars (as in engine_speed.py), run
headless to the end (construction + run + results, as engine_speed.py times
it) by (1) the SMA crossover alone and (2) the 8-agent mix, each ``--repeat``
times with ``record=False`` and ``record=True`` alternately (so both see the
same load), after an untimed warm-up of each; each run starts once the last
recording's writer has exited. Recording goes to SQLite in a temporary
directory, deleted after each run; a recorded run ends only once its recording
is complete and closed.

Prints, for wall time and for this process's CPU time (the engine; all its
threads), the best and median of each kind and the overheads ``recorded / not
recorded - 1`` of the best, of the medians and (``paired``) the median of each
pair's overhead; then the engine thread's CPU time inside the recorder's calls
(handing rows to the writer; median of the recorded runs): what recording adds
to the engine's own work, which load moves less than wall time; the megabytes
it wrote to the writer's pipe (prices and equity go through shared memory where
the platform has it); the writer process's CPU time; and the engine thread's CPU
over the whole run, and paired without the recorder's calls: how much slower its
own work runs beside the writer. The writer runs in parallel with the engine, so the
wall-time overhead stays small only while a core is free for it. The aim
(issue 5) is under 10 %. Figures: docs/benchmarks.md section 6.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time

from _common import AGENT_MIX, run_arena, sma_spec, tile

from arena import Competition
from arena.data import BUNDLED_SYMBOLS, load_bundled
from arena.recorder import DB_NAME, Recorder

AIM = 0.10  # issue 5: recording costs the engine under 10 %
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


class RecorderCalls:
    """Times the engine thread's CPU inside :class:`Recorder`'s methods (patched
    while in use): what handing the rows over costs the engine. Calls in other
    threads are not counted: the writer process is started (``__init__``) by the
    thread that starts the run, and its cost is in the process's CPU and wall time."""

    METHODS = ("__init__", "set_meta", "add_agents", "use_histories", "add_bars",
               "add_bar_block", "add_equity_block",
               "add_trade_block", "add_decision_columns", "add_events", "add_event_columns",
               "add_llm_calls", "flush", "close")

    def __init__(self):
        self.seconds = 0.0
        self.piped = 0  # bytes the recorder wrote to the pipe (not shared memory)

    def __enter__(self):
        self._saved = {m: getattr(Recorder, m) for m in self.METHODS}
        for name, method in self._saved.items():
            setattr(Recorder, name, self._timed(method))
        return self

    def __exit__(self, *exc):
        for name, method in self._saved.items():
            setattr(Recorder, name, method)

    def _timed(self, method):
        @functools.wraps(method)
        def timed(*args, **kwargs):
            if threading.current_thread() is threading.main_thread():
                return method(*args, **kwargs)
            start = time.thread_time()
            if method.__name__ == "close" and args[0].pid is not None:
                self.piped += args[0].sent_bytes
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.thread_time() - start
        return timed


class EngineThread:
    """The engine thread's CPU seconds of each run (``Competition._loop`` patched while
    in use), to tell its own work slowing down from the recorder's calls."""

    def __enter__(self):
        self.seconds: list[float] = []
        self._loop = Competition._loop

        def timed(comp):
            start = time.thread_time()
            try:
                self._loop(comp)
            finally:
                self.seconds.append(time.thread_time() - start)

        Competition._loop = timed
        return self

    def __exit__(self, *exc):
        Competition._loop = self._loop


def measure(data, agents, repeat: int, run_dir: str) -> dict:
    """Alternate unrecorded and recorded runs: wall times, CPU seconds of this
    process (all threads), of the engine thread in the recorder and of the writer
    process, and the rows written."""
    r = {k: [] for k in ("off", "on", "cpu_off", "cpu_on", "cpu_recorder", "cpu_writer",
                         "piped")}
    with EngineThread() as engine:
        for _ in range(repeat):
            _pair(data, agents, run_dir, r)
    r["thread_off"], r["thread_on"] = engine.seconds[0::2], engine.seconds[1::2]
    return r


def _pair(data, agents, run_dir: str, r: dict) -> None:
    """One unrecorded run and its recorded twin, their figures appended to ``r``."""
    children_cpu()  # the last recording's writer is done: it cannot slow this run
    t, c = time.perf_counter(), time.process_time()
    run_arena(data, agents)
    r["off"].append(time.perf_counter() - t)
    r["cpu_off"].append(time.process_time() - c)
    w = children_cpu()
    with RecorderCalls() as calls:
        t, c = time.perf_counter(), time.process_time()
        comp = run_arena(data, agents, record=True, run_dir=run_dir)
        r["on"].append(time.perf_counter() - t)
        r["cpu_on"].append(time.process_time() - c)
    r["cpu_recorder"].append(calls.seconds)
    r["piped"].append(calls.piped)
    r["cpu_writer"].append(children_cpu() - w)
    r["rows"], r["sqlite_rows"] = rows_in(comp.run_path)
    shutil.rmtree(comp.run_path, ignore_errors=True)


def paired(off: list[float], on: list[float]) -> float:
    """Median over the pairs (an unrecorded run, then its recorded twin) of
    ``on / off - 1``: each pair ran close in time, so it shares the machine's load."""
    return statistics.median(b / a - 1 for a, b in zip(off, on, strict=True))


def overheads(off: list[float], on: list[float]) -> str:
    """Best off/on, their overhead, median off/on, theirs, and the paired median."""
    b_off, b_on = min(off), min(on)
    m_off, m_on = statistics.median(off), statistics.median(on)
    return (f"{b_off:>10.3f}{b_on:>9.3f}{b_on / b_off - 1:>+10.1%}{m_off:>12.3f}{m_on:>11.3f}"
            f"{m_on / m_off - 1:>+10.1%}{paired(off, on):>+9.1%}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bars", type=int, default=100_000, help="bars to build by tiling")
    p.add_argument("--symbol", default="GOOG", choices=BUNDLED_SYMBOLS)
    p.add_argument("--repeat", type=int, default=11, help="runs of each kind")
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
    print(f"{args.repeat} runs of each kind, alternating; a recorded run includes closing "
          f"its recording")
    head = (f"{'':<18}{'best off':>10}{'best on':>9}{'overhead':>10}{'median off':>12}"
            f"{'median on':>11}{'overhead':>10}{'paired':>9}")
    for title, off, on in (("wall seconds (construction + run + results)", "off", "on"),
                           ("CPU seconds of the engine's process", "cpu_off", "cpu_on")):
        print()
        print(title)
        print(head)
        print("-" * len(head))
        for label, r in results:
            print(f"{label:<18}{overheads(r[off], r[on])}")
    print()
    print("Engine thread CPU inside the recorder's calls, and the writer process's CPU "
          "(medians of the recorded runs):")
    head = (f"{'':<18}{'rows recorded':>14}{'SQLite rows':>12}{'pipe MB':>9}{'recorder ms':>13}"
            f"{'/ engine CPU':>14}{'writer ms':>11}{'/ engine CPU':>14}")
    print(head)
    print("-" * len(head))
    for label, r in results:
        c_off = statistics.median(r["cpu_off"])
        c_rec, c_w = statistics.median(r["cpu_recorder"]), statistics.median(r["cpu_writer"])
        print(f"{label:<18}{r['rows']:>14,}{r['sqlite_rows']:>12,}"
              f"{statistics.median(r['piped']) / 1e6:>9.1f}{c_rec * 1000:>13.1f}"
              f"{c_rec / c_off:>14.1%}{c_w * 1000:>11.1f}{c_w / c_off:>14.1%}")
    print()
    print("The engine thread's CPU over the whole run (medians), and its own work without "
          "the recorder's calls, paired: how much slower it runs beside the writer")
    for label, r in results:
        own = [on - rec for on, rec in zip(r["thread_on"], r["cpu_recorder"], strict=True)]
        m_off, m_on = statistics.median(r["thread_off"]), statistics.median(r["thread_on"])
        print(f"{label:<18}off {m_off * 1000:.1f} ms, on {m_on * 1000:.1f} ms "
              f"({m_on / m_off - 1:+.1%}); own work {paired(r['thread_off'], own):+.1%}")
    print()
    for label, r in results:
        print(f"{label}: off {', '.join(f'{x:.3f}' for x in r['off'])}; "
              f"on {', '.join(f'{x:.3f}' for x in r['on'])}")
    print(f"benchmark wall time {total:.0f} s")
    print()
    for label, r in results:
        checks = {"median wall": statistics.median(r["on"]) / statistics.median(r["off"]) - 1,
                  "paired wall": paired(r["off"], r["on"]),
                  "paired CPU": paired(r["cpu_off"], r["cpu_on"]),
                  "engine thread": (statistics.median(r["cpu_recorder"])
                                    / statistics.median(r["cpu_off"]))}
        met = all(v < AIM for v in checks.values())
        print(f"aim, under {AIM:.0%} ({label}): {'met' if met else 'NOT met'} - "
              + ", ".join(f"{k} {v:+.1%}" for k, v in checks.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""LLM agents: per-bar overhead of the LLM path, and how many LLM agents one run
handles at 1 bar/s.

    PYTHONPATH=. python benchmarks/llm_overhead.py            # both parts
    PYTHONPATH=. python benchmarks/llm_overhead.py --part overhead --bars 400
    PYTHONPATH=. python benchmarks/llm_overhead.py --part scale --agents 1,10,25,50 --seconds 20

The chat-completions server is the test suite's scripted one
(tests/arena/agents/chat_server.py), run in its own process on 127.0.0.1 so
that its threads do not share the engine's interpreter lock.

Part 1 (overhead): bars per second of a backtest (speed 0, not recorded) with
one per-bar rule agent (an SMA crossover computed in decide(), no signals()),
then with 1 and 4 LLM agents whose server answers at once ("valid": 0 ms of
model time). The difference per bar is the LLM path's cost: prompt building,
the HTTP round trip through the openai client, JSON + schema checking, the
thread pool.

Part 2 (scale): N LLM agents at speed 1 bar/s (live; each bar waits at most
one second for answers) against a server answering in uniform(0.5, 2) s.
Reported: achieved bars/s, the share of bars each agent decided in time, the
mean answer latency, and the engine process's CPU use.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from arena import Competition, CompetitionConfig
from arena.agents.base import Agent, Decision
from arena.agents.llm import LLMAgent
from arena.data.synthetic import synthetic
from arena.recorder import Recording

ROOT = Path(__file__).resolve().parents[1]


class PerBarSMA(Agent):
    """SMA(10/20) crossover decided bar by bar (the per-bar rule baseline)."""

    def decide(self, obs):
        c = obs.history.close[-20:, 0]
        if len(c) < 20:
            return Decision.hold()
        return Decision({obs.symbols[0]: 1.0 if c[-10:].mean() > c.mean() else 0.0}, 1.0, "")


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.arena.agents.chat_server"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return proc, proc.stdout.readline().strip()


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def llm(url: str, model: str, i: int) -> LLMAgent:
    return LLMAgent(model=model, base_url=url, api_key_env="", title=f"{model} #{i}",
                    max_retries=0, timeout=30)


def timed_backtest(agents, bars: int) -> float:
    """Seconds per bar over the bars after the first (clients warm), speed 0."""
    comp = Competition(synthetic(("SYN",), bars=bars + 1, seed=1), agents,
                       CompetitionConfig(record=False))
    comp.step(1)
    t0 = time.perf_counter()
    comp.run()
    return (time.perf_counter() - t0) / bars


def overhead(url: str, bars: int, repeats: int) -> None:
    print(f"## per-bar overhead ({bars} bars, best of {repeats})")
    rows = [("per-bar rule agent (baseline)", lambda: [PerBarSMA()]),
            ("1 LLM agent, 0 ms server", lambda: [llm(url, "valid", 0)]),
            ("4 LLM agents, 0 ms server", lambda: [llm(url, "valid", i) for i in range(4)]),
            ("1 LLM + 1 per-bar rule agent", lambda: [llm(url, "valid", 0), PerBarSMA()])]
    base = None
    for label, make in rows:
        best = min(timed_backtest(make(), bars) for _ in range(repeats))
        base = best if base is None else base
        print(f"{label:34s} {best * 1e3:8.3f} ms/bar  {1 / best:9.1f} bars/s  "
              f"overhead vs baseline {(best - base) * 1e3:+8.3f} ms/bar")


def scale(url: str, counts: list[int], seconds: float) -> None:
    print(f"## LLM agents at 1 bar/s, server answering in uniform(0.5, 2) s, {seconds:g} s each")
    print(f"{'agents':>6} {'bars':>5} {'bars/s':>7} {'decided in time':>16} {'mean latency':>13} "
          f"{'late answers':>13} {'engine CPU':>11} {'set-up':>7}")
    for n in counts:
        with tempfile.TemporaryDirectory() as tmp:
            agents = [llm(url, "jitter-0.5-2.0", i) for i in range(n)]
            bars = int(seconds) + 1
            comp = Competition(synthetic(("SYN",), bars=bars, seed=1), agents,
                               CompetitionConfig(run_dir=tmp, speed=1.0))
            t0 = time.perf_counter()
            comp.step(1)  # set-up: n clients
            setup = time.perf_counter() - t0
            c0, t1 = cpu(), time.perf_counter()
            comp.run()
            wall, used = time.perf_counter() - t1, cpu() - c0
            with Recording(comp.run_path) as rec:
                dec, calls = rec.decisions(), rec.llm_calls()
            run_bars = bars - 1
            in_time = len(dec.query("bar >= 1")) / (n * run_bars)
            answered = calls.query("bar >= 1 and error.isna()", engine="python")
            print(f"{n:6d} {run_bars:5d} {run_bars / wall:7.2f} {in_time:15.0%} "
                  f"{answered['latency_ms'].mean() / 1e3:11.2f} s {answered['late'].mean():12.0%} "
                  f"{used / wall:10.0%} {setup:6.1f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("overhead", "scale", "both"), default="both")
    ap.add_argument("--bars", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--agents", default="1,10,25,50,100")
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    proc, url = start_server()
    try:
        print(f"server {url}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs; "
              f"numpy {np.__version__}")
        if args.part in ("overhead", "both"):
            overhead(url, args.bars, args.repeats)
        if args.part in ("scale", "both"):
            scale(url, [int(x) for x in args.agents.split(",")], args.seconds)
    finally:
        proc.stdin.close()
        proc.wait(10)


if __name__ == "__main__":
    main()

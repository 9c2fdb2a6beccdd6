"""Speed of the ML agent's compiled path (``signals``) on the bundled data.

    .venv/bin/python benchmarks/ml_agent.py [--spec ml] [--repeat 3] [--decide]

For the bundled four symbols (AAPL, MSFT, IBM, GOOG: 2,148 aligned daily bars)
and GOOG alone (2,148 bars) it prints:

* cold: a fresh interpreter importing ``arena`` and loading the data, then
  running ``signals()`` once (what a process pays the first time: the
  scikit-learn import, numba's cached kernels and every fit);
* warm: ``signals()`` on a fresh agent, best of ``--repeat`` (wall and CPU time),
  with the number of fits; ``explain_many`` over the bars whose target changes
  (what the engine asks for while publishing decisions);
* with ``--decide``: the per-bar ``decide`` path over every bar, once, and whether
  it equals ``signals`` (exit 1 if not);
* with ``--demo``: the dashboard's default competition (``arena.ui.hub``'s agents
  on its symbols) built, then, after the background scikit-learn import had time
  to finish, its start-up work (every agent's ``signals()``) timed with and
  without the ML agent (CPU and wall).

Figures: docs/agents.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from arena import load
from arena.agents import History, Observation, create_agent

SETS = {"4 symbols": "AAPL,MSFT,IBM,GOOG", "GOOG": "GOOG"}


def cold(spec: str, symbols: str) -> tuple[float, float]:
    """Seconds to import arena and load the data, then for the first ``signals()``."""
    code = ("import time; t = time.perf_counter(); from arena import load; "
            f"from arena.agents import create_agent; d = load({symbols!r}); "
            f"a = create_agent({spec!r}); a.reset(d, 0); u = time.perf_counter(); "
            "a.signals(d); print(u - t, time.perf_counter() - u)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    imports, first = out.stdout.split()
    return float(imports), float(first)


def warm(spec: str, data, repeat: int):
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        agent = create_agent(spec)
        agent.reset(data, 0)
        w, c = time.perf_counter(), time.process_time()
        sig = agent.signals(data)
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    held = np.vstack([np.zeros((1, sig.shape[1])), sig])
    for i in range(1, len(held)):  # forward-fill: the effective target
        held[i] = np.where(np.isnan(held[i]), held[i - 1], held[i])
    changes = np.flatnonzero((~np.isnan(sig) & (sig != held[:-1])).any(axis=1))
    w = time.perf_counter()
    agent.explain_many(data, changes)
    explain = time.perf_counter() - w
    return sig, agent, best_wall, best_cpu, len(changes), explain


def per_bar(spec: str, data) -> np.ndarray:
    agent = create_agent(spec)
    agent.reset(data, 0)
    out = np.full((len(data), data.n_symbols), np.nan)
    for t in range(len(data)):
        d = agent.decide(Observation(t, data.timestamp(t), data.symbols, History(data, t + 1), None))
        for sym, w in (d.targets or {}).items():
            out[t, data.column(sym)] = w
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="ml")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--decide", action="store_true", help="also time the per-bar path")
    ap.add_argument("--demo", action="store_true", help="also time the default demo's start")
    args = ap.parse_args()
    print(f"agent {args.spec}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    ok = True
    for name, symbols in SETS.items():
        data = load(symbols)
        imports, first = cold(args.spec, symbols)
        sig, agent, wall, cpu, n_changes, explain = warm(args.spec, data, args.repeat)
        fits = len(agent._run(data).models)
        print(f"{name}: {len(data):,} bars × {data.n_symbols}: cold: import arena and load "
              f"{imports:.2f} s, first signals() (imports scikit-learn) {first:.2f} s; "
              f"signals {wall:.3f} s wall, {cpu:.3f} s CPU ({fits} fits, "
              f"{wall / max(fits, 1) * 1000:.1f} ms each); "
              f"explain_many {n_changes} changes {explain:.3f} s")
        if args.decide:
            w = time.perf_counter()
            same = np.array_equal(per_bar(args.spec, data), sig, equal_nan=True)
            print(f"  decide every bar {time.perf_counter() - w:.2f} s; equals signals: {same}")
            ok &= same
    if args.demo:
        demo()
    return 0 if ok else 1


def demo() -> None:
    from dataclasses import replace

    from arena import Competition
    from arena.ui.hub import default_spec

    spec = default_spec()
    data = load(",".join(spec.symbols))
    config = replace(spec.config, record=False, speed=0)
    for label, agents in (("with ml", spec.agents),
                          ("without ml", [a for a in spec.agents if a != "ml"])):
        comp = Competition(data, list(agents), config)
        time.sleep(10)  # the background import (started when the ml agent was built)
        w, c = time.perf_counter(), time.process_time()
        comp._prepare()
        print(f"default demo start ({len(agents)} agents, {label}): "
              f"{time.perf_counter() - w:.2f} s wall, {time.process_time() - c:.2f} s CPU")


if __name__ == "__main__":
    raise SystemExit(main())

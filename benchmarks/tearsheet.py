"""The tear sheet on a long run: build, render and save it, against reading the run.

    .venv/bin/python benchmarks/tearsheet.py [--cases daily,minute] [--repeat 3]
                                             [--agent NAME] [--views] [--keep DIR]

Two recorded runs of 8 agents (``record=True`` in a temporary directory, or ``--keep``):

* ``daily``: the bundled daily GOOG history, 2,148 bars;
* ``minute``: 250,000 synthetic one-minute bars of one symbol (``arena.synthetic``,
  ``freq="min"``: 174 days around the clock).

Measured per case, the median of ``--repeat`` rounds, wall time (``time.perf_counter``)
and process CPU time (``time.process_time``, less sensitive to other work on the
machine):

* baseline: ``run_frames(Recording)``, reading the run's equity, fills and bars;
* from the Recording (what ``arena export --what tearsheet`` does): ``build``
  (``tear_sheet(rec, agent)``: reading the run and every view), ``render``
  (``hv.render`` to Bokeh models, no toolbar), ``html`` (``file_html`` with Bokeh's
  JavaScript inline, the exported file) and their ``total``;
* from a Replay at its last bar: ``build`` and ``render`` of the whole sheet, and of
  each section on its own (``tab_<section>_*``: what the dashboard's Analysis tab draws,
  one section at a time, "returns" first).

Each figure is also given as a ratio to the baseline. ``--views`` adds the build and
render time of each view on its own (the run read once). Aim (issue 19): a tear sheet
of 250,000 bars opens in under 2 s (``recording_total`` for the whole sheet as a file,
``tab_<section>_total`` for what the tab opens).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import holoviews as hv
from bokeh.embed import file_html

from arena import Competition, CompetitionConfig, Replay, synthetic
from arena.analysis.runs import run_frames
from arena.data import load
from arena.recorder import Recording
from arena.ui.analysis import tearsheet as ts
from arena.ui.export import OFFLINE

AGENTS = ("buy_and_hold", "sma_cross", "momentum", "mean_reversion", "macd", "rsi",
          "sma_cross:fast=20,slow=50", "random:trade_prob=0.05")
AIM = 2.0
CASES = {
    "daily": lambda: load("GOOG"),
    "minute": lambda: synthetic("SYN", bars=250_000, seed=5, freq="min"),
}


def record(case: str, run_dir: Path) -> Path:
    """The run of ``case``: recorded once into ``run_dir/case`` and reused from there."""
    where = run_dir / case
    done = sorted(p for p in where.glob("*") if (p / "arena.sqlite").exists()) \
        if where.exists() else []
    if done:
        return done[-1]
    comp = Competition(CASES[case](), list(AGENTS),
                       CompetitionConfig(run_dir=str(where), seed=5, record=True))
    comp.run()
    return comp.run_path


class Clock:
    """Wall and CPU seconds of each named step, over rounds."""

    def __init__(self):
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def time(self, name: str, fn, *args, **kw):
        w, c = time.perf_counter(), time.process_time()
        out = fn(*args, **kw)
        self.wall.setdefault(name, []).append(time.perf_counter() - w)
        self.cpu.setdefault(name, []).append(time.process_time() - c)
        return out

    def medians(self) -> dict[str, dict[str, float]]:
        return {k: {"wall": statistics.median(v), "cpu": statistics.median(self.cpu[k])}
                for k, v in self.wall.items()}


def rounds(path: Path, agent: str, repeat: int) -> dict:
    clock = Clock()
    for _ in range(repeat):
        with Recording(path) as rec:
            frames = clock.time("baseline_run_frames", run_frames, rec)
            sheet = clock.time("recording_build", ts.tear_sheet, rec, agent)
            model = clock.time("recording_render", hv.render, sheet.opts(toolbar=None),
                               backend="bokeh")
            page = clock.time("recording_html", file_html, model, resources=OFFLINE,
                              title="tear sheet")
        with Replay(path, at="end", follow=False) as replay:
            sheet = clock.time("replay_build", ts.tear_sheet, replay, agent)
            clock.time("replay_render", hv.render, sheet.opts(toolbar=None), backend="bokeh")
            for section in ts.SECTIONS:  # what the Analysis tab draws: one section
                part = clock.time(f"tab_{section}_build", ts.tear_sheet, replay, agent,
                                  views=section)
                clock.time(f"tab_{section}_render", hv.render, part, backend="bokeh")
    out = clock.medians()
    for kind in ("wall", "cpu"):
        total = sum(out[f"recording_{s}"][kind] for s in ("build", "render", "html"))
        out.setdefault("recording_total", {})[kind] = total
        for section in ts.SECTIONS:
            out.setdefault(f"tab_{section}_total", {})[kind] = sum(
                out[f"tab_{section}_{s}"][kind] for s in ("build", "render"))
        base = out["baseline_run_frames"][kind]
        for step in out.values():
            step[f"{kind}_ratio"] = step[kind] / base
    equity = frames[0]
    return {"bars": len(equity), "agents": equity.shape[1], "fills": len(frames[1]),
            "html_bytes": len(page), "seconds": out}


def views(path: Path, agent: str) -> dict[str, dict[str, float]]:
    """Build and render seconds of each view alone, the run read once."""
    out = {}
    with Recording(path) as rec:
        run = ts._Run(rec, agent)
        for section in ts.SECTIONS.values():
            for name, build in section.items():
                t0 = time.perf_counter()
                element = build(run, None, 0.95)
                t1 = time.perf_counter()
                hv.render(element, backend="bokeh")
                out[name] = {"build": t1 - t0, "render": time.perf_counter() - t1}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default="daily,minute", help="comma-separated: daily, minute")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--agent", default="sma_cross", help="whose tear sheet")
    p.add_argument("--views", action="store_true", help="also time each view on its own")
    p.add_argument("--keep", type=Path, help="record (or reuse) the runs in this directory")
    args = p.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.keep or Path(tmp)
        result = {}
        for case in cases:
            path = record(case, run_dir)
            with Recording(path) as rec:  # warm-up: imports and first-use caches
                hv.render(ts.tear_sheet(rec, args.agent), backend="bokeh")
            result[case] = rounds(path, args.agent, args.repeat)
            if args.views:
                result[case]["views"] = views(path, args.agent)
            total = result[case]["seconds"]["recording_total"]["wall"]
            result[case]["under_aim"] = total < AIM
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

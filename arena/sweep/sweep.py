"""A whole sweep from its settings: what `arena sweep` runs (docs/sweeps.md).

Settings come from a CONFIG.toml (a ``[sweep]`` table, plus ``[portfolio]`` and
``[run]`` as for `arena run`) and/or flags. :func:`run_sweep` loads the markets
(through :class:`arena.config.RunSpec`, as `arena run` does), plans the tasks,
runs them on Dask into the results folder, and re-runs the best ``record_top``
with recordings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from arena.config import ConfigError, RunSpec, read_toml, spec_from_dict
from arena.engine import CompetitionConfig
from arena.sweep.compete import EXTRA_STATS, LEADERBOARD_STATS, LOWER_IS_BETTER, run_task
from arena.sweep.results import load_results, save_results, write_manifest
from arena.sweep.runner import open_client, run_tasks
from arena.sweep.tasks import Plan, plan_tasks

__all__ = ["SweepSpec", "best", "load_markets", "load_sweep_config", "run_sweep"]

METRICS = LEADERBOARD_STATS + EXTRA_STATS
_KEYS = {"agents": (list,), "symbols": (list, str), "file": (str,), "start": (str,),
         "end": (str,), "calendar": (str,), "window": (str, int), "step": (str, int),
         "seeds": (int, list), "samples": (int,), "sample_seed": (int,), "scheduler": (str,),
         "workers": (int,), "out": (str,), "metric": (str,), "record_top": (int,)}


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: agent grids × markets × windows × seeds, and where to run it.

    A market is one symbol or several joined by commas (``"GOOG,AAPL"``: one
    competition on both), or ``file`` (all its symbols)."""

    agents: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    file: str | None = None
    start: str | None = None
    end: str | None = None
    calendar: str | None = None
    window: str | int | None = None
    step: str | int | None = None
    seeds: tuple[int, ...] = ()  # empty: the config's seed
    samples: int | None = None
    sample_seed: int = 0
    scheduler: str | None = None
    workers: int | None = None
    out: str | None = None
    metric: str = "sharpe"
    record_top: int = 0
    config: CompetitionConfig = field(default_factory=CompetitionConfig)

    def markets(self) -> list[RunSpec]:
        """One RunSpec per market (loads data as `arena run` does)."""
        if bool(self.symbols) == bool(self.file):
            raise ConfigError("give the markets with --symbol SYM (repeatable; SYM1,SYM2 is "
                              "one market of both) or one --data FILE, not both and not "
                              "neither")
        common = dict(start=self.start, end=self.end, calendar=self.calendar)
        if self.file:
            return [RunSpec(file=self.file, **common)]
        return [RunSpec(symbols=tuple(s.strip().upper() for s in m.split(",") if s.strip()),
                        **common) for m in dict.fromkeys(self.symbols)]

    def checked(self) -> SweepSpec:
        """Itself, after the checks that need no data (agents, metric, counts)."""
        if not self.agents:
            raise ConfigError("no agents given: add --agent SPEC (repeatable), e.g. "
                              "\"sma_cross:fast=5..50/5,slow=20..200/10\"")
        if self.metric not in METRICS:
            raise ConfigError(f"unknown --metric {self.metric!r}; one of {', '.join(METRICS)}")
        if self.record_top < 0:
            raise ConfigError(f"--record top=N needs N >= 0, got {self.record_top}")
        if any(not isinstance(s, int) or isinstance(s, bool) for s in self.seeds):
            raise ConfigError(f"seeds must be integers, got {list(self.seeds)!r}")
        return self


def load_sweep_config(path, table: str = "sweep", metric: str = "sharpe") -> SweepSpec:
    """A CONFIG.toml's ``[sweep]`` table (or ``table``; and ``[portfolio]``/``[run]``);
    ``metric`` unless the table names one."""
    p = Path(path)
    raw = read_toml(p)
    extra = sorted(set(raw) - {table, "portfolio", "run"})
    if extra or not isinstance(raw.get(table), dict):
        raise ConfigError(f"{p}: a {table} config has a [{table}] table (agents, symbols, "
                          "window...) and optionally [portfolio] and [run]"
                          + (f"; unknown: {', '.join(extra)}" if extra else ""))
    sweep = {"metric": metric} | dict(raw[table])
    for key, value in sweep.items():
        if key not in _KEYS:
            raise ConfigError(f"{p}: unknown key {key!r} in [{table}]; allowed: "
                              f"{', '.join(sorted(_KEYS))}")
        if isinstance(value, bool) or not isinstance(value, _KEYS[key]):
            raise ConfigError(f"{p}: [{table}] {key} has the wrong type: {value!r}")
    # [portfolio] and [run] checked exactly as `arena run` checks them
    config = spec_from_dict({"data": {"symbols": ["-"]}, "agents": [{"agent": "buy_and_hold"}],
                             "portfolio": raw.get("portfolio", {}), "run": raw.get("run", {})},
                            str(p)).config
    symbols = sweep.pop("symbols", [])
    symbols = [symbols] if isinstance(symbols, str) else symbols
    seeds = sweep.pop("seeds", ())
    if isinstance(seeds, int):
        seeds = tuple(range(config.seed, config.seed + seeds))
    file = sweep.pop("file", None)
    if file and not Path(file).is_absolute():
        file = str(p.parent / file)
    return SweepSpec(agents=tuple(sweep.pop("agents", ())), symbols=tuple(symbols), file=file,
                     seeds=tuple(seeds), config=config, **sweep)


def load_markets(spec: SweepSpec) -> dict:
    """Each market's bars by its label, loaded as `arena run` loads them."""
    return {m.data_source: m.load_data() for m in spec.markets()}


def default_out() -> str:
    return f"sweeps/sweep-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}"


def run_sweep(spec: SweepSpec, *, progress: Callable[[int, int], None] | None = None,
              note: Callable[[str], None] = lambda _m: None,
              client=None, markets=None) -> tuple[pd.DataFrame, Plan]:
    """Run the sweep ``spec`` into ``spec.out`` (required); the results frame (rows of
    this sweep's tasks, in task order) and its plan. ``client``: an open Dask client
    (None: one from ``spec.scheduler``/``spec.workers``; False: run here, one task
    after another). ``markets``: the loaded markets (default: :func:`load_markets`)."""
    spec = spec.checked()
    if not spec.out:
        raise ConfigError("a sweep needs a results folder (--out DIR)")
    markets = load_markets(spec) if markets is None else markets
    seeds = spec.seeds or (spec.config.seed,)
    plan = plan_tasks(spec.agents, markets, spec.config, window=spec.window, step=spec.step,
                      seeds=seeds, samples=spec.samples, sample_seed=spec.sample_seed)
    if plan.skipped:
        note(f"{plan.skipped} combination(s) skipped as invalid, e.g. {plan.reasons[0]}")
    write_manifest(spec.out, {
        "agents": list(spec.agents), "markets": list(markets), "window": spec.window,
        "step": spec.step, "seeds": list(seeds), "samples": spec.samples,
        "tasks": len(plan.tasks), "combinations": plan.combinations, "skipped": plan.skipped,
        "metric": spec.metric, "started": dt.datetime.now(dt.UTC).isoformat()})
    frame = run_into_folder(spec, plan.tasks, markets, client, progress, note)
    if spec.record_top:
        frame = _record_best(spec, plan, markets, frame, note)
    return frame, plan


def best(frame: pd.DataFrame, metric: str, n: int) -> pd.DataFrame:
    """The ``n`` best rows by ``metric`` (lowest first for LOWER_IS_BETTER), failed and
    NaN rows last."""
    ok = frame[frame["failure"].isna()] if "failure" in frame else frame
    return ok.sort_values(metric, ascending=metric in LOWER_IS_BETTER,
                          na_position="last", kind="stable").head(n)


def run_into_folder(spec: SweepSpec, tasks, markets, client, progress, note) -> pd.DataFrame:
    """``run_tasks`` of ``tasks`` into ``spec.out`` (the tasks already there are said and
    skipped); ``client`` as :func:`run_sweep` takes it."""
    done = set(load_results(spec.out)["task_id"]) & {t.id for t in tasks}
    if done:
        note(f"resuming: {len(done)} of {len(tasks)} tasks already in {spec.out}")
    if client is None:
        with open_client(spec.scheduler, spec.workers) as own:
            note(f"Dask dashboard: {own.dashboard_link}")
            return run_tasks(tasks, markets, spec.config, client=own, out=spec.out,
                             progress=progress)
    return run_tasks(tasks, markets, spec.config, client=client or None, out=spec.out,
                     progress=progress)


def _record_best(spec: SweepSpec, plan: Plan, markets, frame, note) -> pd.DataFrame:
    """Re-run the best ``record_top`` tasks with recordings; their run ids in the table."""
    by_id = {t.id: t for t in plan.tasks}
    frame = frame.copy()
    for col in ("run_id", "run_path"):
        if col not in frame:
            frame[col] = None
    for tid in best(frame, spec.metric, spec.record_top)["task_id"]:
        t = by_id[tid]
        row = run_task(t, markets[t.market], spec.config, record=True)
        at = frame.index[frame["task_id"] == tid]
        frame.loc[at, ["run_id", "run_path"]] = [row["run_id"], row["run_path"]]
        note(f"recorded {t.spec} on {t.market} {t.start:%Y-%m-%d}..{t.end:%Y-%m-%d} "
             f"seed {t.seed} as run {row['run_id']}")
    full = load_results(spec.out)
    full = full.drop(columns=[c for c in ("run_id", "run_path") if c in full])
    full = full.merge(frame[["task_id", "run_id", "run_path"]], on="task_id", how="left")
    save_results(spec.out, full)
    return frame

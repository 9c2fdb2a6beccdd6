"""`arena sweep`: settings from a CONFIG.toml and flags, a progress bar, the results.

Bad input (a grid, window, scheduler or config that cannot be used) raises
:class:`arena.config.ConfigError`, which the `arena` command reports in one line
with exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sys
from dataclasses import replace

import pandas as pd

from arena.config import ConfigError, with_flags
from arena.sweep.grid import GridError
from arena.sweep.runner import SchedulerError
from arena.sweep.sweep import SweepSpec, best, default_out, load_sweep_config, run_sweep
from arena.sweep.windows import WindowError

#: the columns the table format shows (the json and csv formats have every column)
SHOWN = ("spec", "market", "window_start", "window_end", "seed", "return_pct", "sharpe",
         "max_drawdown_pct", "trades")
TOP = 20


def spec_from_args(args, table: str = "sweep", metric: str = "sharpe") -> SweepSpec:
    """The sweep a CONFIG.toml (its ``[table]``) and/or flags describe (flags win);
    ``metric`` unless either names one."""
    spec = load_sweep_config(args.config, table, metric) if args.config \
        else SweepSpec(metric=metric)
    over = {}
    if args.agent:
        over["agents"] = tuple(args.agent)
    if args.symbol and args.data:
        raise ConfigError("give --symbol SYM (repeatable) or --data FILE, not both")
    if args.symbol:
        over.update(symbols=tuple(args.symbol), file=None)
    if args.data:
        over.update(file=args.data, symbols=())
    for key in ("start", "end", "calendar", "window", "step", "samples", "sample_seed",
                "scheduler", "workers", "out", "metric"):
        if getattr(args, key) is not None:
            over[key] = getattr(args, key)
    if args.record is not None:
        m = re.fullmatch(r"\s*(?:top\s*=\s*)?(\d+)\s*", args.record)
        if m is None:
            raise ConfigError(f"--record takes top=N (the N best tasks), got {args.record!r}")
        over["record_top"] = int(m.group(1))
    config = with_flags(spec.config, args, seed=args.seed, run_dir=args.run_dir)
    if args.seeds is not None:
        if args.seeds < 1:
            raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
        over["seeds"] = tuple(range(config.seed, config.seed + args.seeds))
    elif args.seed is not None:
        over["seeds"] = (config.seed,)
    spec = replace(spec, config=config, **over)
    return spec if spec.out else replace(spec, out=default_out())


@contextlib.contextmanager
def console():
    """``(note, progress)`` for a command that runs tasks: notes as ``arena: ...`` lines
    and a tqdm progress bar on stderr (closed on exit); a bad grid, window or
    scheduler becomes a ConfigError (one line, exit 2)."""
    from tqdm import tqdm

    bar = None

    def note(message: str) -> None:
        tqdm.write(f"arena: {message}", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, initial=done, unit="task", file=sys.stderr, disable=None,
                       dynamic_ncols=True)
        bar.update(done - bar.n)

    try:
        yield note, progress
    except (GridError, WindowError, SchedulerError) as exc:
        raise ConfigError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()


def cmd_sweep(args) -> int:
    spec = spec_from_args(args)
    with console() as (note, progress):
        frame, plan = run_sweep(spec, progress=progress, note=note)
    failed = frame[frame["failure"].notna()] if "failure" in frame else frame.iloc[:0]
    if len(failed):
        note(f"{len(failed)} task(s) failed, e.g. {failed['spec'].iloc[0]}: "
             f"{failed['failure'].iloc[0]}")
    _print(frame, args.format, spec, plan)
    return 0


def _print(frame: pd.DataFrame, fmt: str, spec: SweepSpec, plan) -> None:
    if fmt == "json":
        records = [{k: _json_value(v) for k, v in r.items()} for r in frame.to_dict("records")]
        print(json.dumps(records, indent=2))
        return
    if fmt == "csv":
        print(frame.to_csv(index=False), end="")
        return
    ran, resumed = frame.attrs.get("ran", len(frame)), frame.attrs.get("resumed", 0)
    print(f"sweep: {len(frame):,} tasks ({ran:,} run, {resumed:,} resumed) from "
          f"{plan.combinations:,} agent spec(s), {plan.skipped:,} invalid combination(s) "
          f"skipped; results in {spec.out}/results.parquet")
    top = best(frame, spec.metric, TOP)
    show = top[[c for c in SHOWN if c in top] + ([spec.metric] if spec.metric not in SHOWN
                                                  else [])].copy()
    for col in ("window_start", "window_end"):
        show[col] = pd.to_datetime(show[col]).dt.strftime("%Y-%m-%d")
    if "run_id" in top and top["run_id"].notna().any():
        show["run_id"] = top["run_id"].fillna("")
    print(f"best {len(show)} by {spec.metric}:")
    print(show.to_string(index=False, float_format=lambda x: f"{x:,.2f}"))


def _json_value(v):
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v

"""Walk-forward optimisation: choose on the past, judge on what follows (docs/sweeps.md).

Each *fold* is an in-sample window of ``window`` followed at once by an out-of-sample
window of ``oos`` (default: ``step``); folds start every ``step`` (rolling) or all at
the first bar (``anchored``: the in-sample window grows). On each in-sample window the
grid runs as a sweep (Dask, resumable into ``out``); the best spec by ``metric`` (mean
over the seeds; NaN last; ties: the first in grid order) then runs on the fold's
out-of-sample bars only, as its own competition that starts cold (no warm-up bars,
as every sweep window and `arena run --start`). Selection reads in-sample rows only:
no out-of-sample bar is ever used to choose.

The out-of-sample curves are stitched by compounding: each run starts with the
starting cash; its curve divided by that cash is multiplied by the stitched equity at
the end of the previous out-of-sample window. The statistics are
:func:`arena.metrics.compute_stats` of the stitched curve (fills' ``pnl`` and ``fee``
scaled by the same factor; buy & hold compounded the same way).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from arena.config import ConfigError
from arena.data.market import MarketData
from arena.engine import Competition, CompetitionConfig
from arena.metrics import buy_and_hold_return, compute_stats, infer_periods_per_year
from arena.sweep.compete import LOWER_IS_BETTER, finish_row
from arena.sweep.grid import expand, parse_grid
from arena.sweep.results import write_manifest
from arena.sweep.sweep import run_into_folder
from arena.sweep.tasks import Task, config_key, data_key
from arena.sweep.windows import Window, WindowError, parse_length

__all__ = ["Fold", "WalkForward", "folds", "run_walk_forward", "select", "stitch"]

WINDOWS, EQUITY, STATS = "walkforward.parquet", "walkforward_equity.parquet", \
    "walkforward_stats.parquet"


@dataclass(frozen=True)
class Fold:
    """An in-sample window and the out-of-sample window right after it."""

    ins: Window
    oos: Window


def folds(times: np.ndarray, window, oos=None, step=None, anchored: bool = False) -> list[Fold]:
    """The folds over ``times`` (datetime64[ns], UTC, sorted). ``window``, ``oos`` and
    ``step`` are lengths as for ``--window`` (bars or durations, all of one kind);
    ``oos`` defaults to ``step`` and ``step`` to ``oos``; ``oos <= step`` (out-of-sample
    windows never overlap). Only whole folds are kept."""
    if window is None:
        raise WindowError("walk-forward needs --window (the in-sample length)")
    if oos is None and step is None:
        raise WindowError("walk-forward needs --oos LEN or --step LEN (the out-of-sample "
                          "length; folds start every --step)")
    size = parse_length(window)
    o = parse_length(oos if oos is not None else step, "--oos")
    stride = parse_length(step, "--step") if step is not None else o
    if len({isinstance(x, int) for x in (size, o, stride)}) > 1:
        raise WindowError("--window, --oos and --step must all be bars or all durations")
    times = np.asarray(times, dtype="datetime64[ns]")
    idx = pd.DatetimeIndex(times).tz_localize("UTC")
    if isinstance(size, int):
        if o > stride:
            raise WindowError(f"--oos {oos} is longer than --step {step}: out-of-sample "
                              "windows would overlap")
        bounds, k = [], 0
        while (mid := size + stride * k) + o <= len(times):
            bounds.append((0 if anchored else stride * k, mid, mid + o))
            k += 1
    else:
        first, last = idx[0], idx[-1]
        if first + o > first + stride:
            raise WindowError(f"--oos {oos} is longer than --step {step}: out-of-sample "
                              "windows would overlap")
        bounds, k = [], 0
        while (end := first + stride * k + size) + o <= last:
            start = first if anchored else first + stride * k
            bounds.append(tuple(int(idx.searchsorted(t, "left")) for t in (start, end, end + o)))
            k += 1
    out = [Fold(Window(lo, mid, idx[lo], idx[mid - 1]), Window(mid, hi, idx[mid], idx[hi - 1]))
           for lo, mid, hi in bounds if mid - lo >= 2 and hi - mid >= 2]
    out = list({(f.ins.lo, f.ins.hi, f.oos.hi): f for f in out}.values())
    if not out:
        raise WindowError(f"no whole walk-forward fold (--window {window} then --oos "
                          f"{oos if oos is not None else step}) fits in the data "
                          f"({len(times)} bars, {idx[0]:%Y-%m-%d} to {idx[-1]:%Y-%m-%d})")
    return out


def select(rows: pd.DataFrame, metric: str, order: list[str]) -> tuple[str, float]:
    """The best spec of one in-sample window's rows by ``metric`` (mean over seeds;
    highest first unless lower is better; NaN last; ties: first in ``order``, the grid
    order) and its value."""
    ok = rows[rows["failure"].isna()] if "failure" in rows else rows
    if ok.empty:
        raise ValueError("every in-sample task failed, e.g. "
                         f"{rows['spec'].iloc[0]}: {rows['failure'].iloc[0]}")
    means = pd.to_numeric(ok[metric], errors="coerce").groupby(ok["spec"], sort=False).mean()
    means = means.reindex([s for s in order if s in means.index])
    lower = metric in LOWER_IS_BETTER
    best = means.sort_values(ascending=lower, na_position="last", kind="stable")
    return str(best.index[0]), float(best.iloc[0])


def stitch(curves: list[pd.Series], cash: float) -> tuple[pd.Series, list[float]]:
    """The out-of-sample curves chained by compounding, and each one's scale factor
    (the stitched equity at the previous window's end ÷ ``cash``)."""
    level, parts, scales = 1.0, [], []
    for c in curves:
        scales.append(level)
        parts.append(c * level)
        level *= float(c.iloc[-1]) / cash
    return pd.concat(parts), scales


@dataclass
class WalkForward:
    """``windows``: one row per (market, fold); ``equity``: the stitched out-of-sample
    equity (UTC index; ``equity``, ``window``, ``spec``, ``market``, ``fold``);
    ``stats``: compute_stats of each market's stitched curve (a column per market);
    ``insample``: the in-sample sweep's results."""

    windows: pd.DataFrame
    equity: pd.DataFrame
    stats: pd.DataFrame
    insample: pd.DataFrame


def run_oos(spec: str, data: MarketData, market: str, window: Window, seed: int,
            config: CompetitionConfig) -> tuple[dict, Competition]:
    """One out-of-sample run (as a sweep task runs: a cold start on the window's bars)."""
    cfg = replace(config, seed=seed, record=False, speed=0.0, run_id=None)
    comp = Competition(data.slice(window.lo, window.hi), [spec], cfg, data_source=market)
    board = comp.run()
    name = comp.agent_names[0]
    row = finish_row({}, str(board.iloc[0]["agent"]), board.iloc[0], comp.stats(name))
    return row, comp


def _label(t: pd.Timestamp) -> str:
    return f"{t:%Y-%m-%d}" if t == t.normalize() else f"{t:%Y-%m-%d %H:%M}"


def run_walk_forward(spec, *, oos=None, anchored: bool = False, client=None,
                     progress: Callable[[int, int], None] | None = None,
                     note: Callable[[str], None] = lambda _m: None) -> WalkForward:
    """Walk-forward optimisation of ``spec`` (a :class:`~arena.sweep.sweep.SweepSpec`:
    agents = the grids, markets, ``window``/``step``, one seed, ``metric``, ``out``).
    ``client``: an open Dask client; None: one from ``spec.scheduler``/``spec.workers``;
    False: the in-sample tasks run here, one after another (same rows)."""
    spec = spec.checked()
    if not spec.out:
        raise ConfigError("a walk-forward needs a results folder (--out DIR)")
    seeds = spec.seeds or (spec.config.seed,)
    if len(seeds) != 1:
        raise ConfigError(f"walk-forward runs one seed (--seed N), got {len(seeds)}")
    seed = int(seeds[0])
    markets = {m.data_source: m.load_data() for m in spec.markets()}
    combos, skipped, reasons = [], 0, []
    for text in spec.agents:
        valid, bad, why = expand(parse_grid(text), samples=spec.samples, seed=spec.sample_seed)
        combos += valid
        skipped, reasons = skipped + bad, reasons + why
    combos = list({c.spec: c for c in combos}.values())
    order = [c.spec for c in combos]
    if skipped:
        note(f"{skipped} combination(s) skipped as invalid, e.g. {reasons[0]}")
    ckey = config_key(spec.config)
    plan: dict[tuple[str, int], list[Task]] = {}
    fold_of: dict[str, list[Fold]] = {}
    for label, data in markets.items():
        fold_of[label] = folds(data.times, spec.window, oos, spec.step, anchored)
        key = data_key(data)
        for k, f in enumerate(fold_of[label]):
            plan[label, k] = [Task(c.agent, c.spec, c.params, label, f.ins.lo, f.ins.hi,
                                   f.ins.start, f.ins.end, seed, key, ckey) for c in combos]
    tasks = list({t.id: t for ts in plan.values() for t in ts}.values())
    write_manifest(spec.out, {
        "kind": "walk-forward", "agents": list(spec.agents), "markets": list(markets),
        "window": spec.window, "step": spec.step, "oos": oos, "anchored": anchored,
        "seeds": [seed], "metric": spec.metric, "tasks": len(tasks),
        "combinations": len(combos), "skipped": skipped,
        "folds": {m: len(f) for m, f in fold_of.items()},
        "started": dt.datetime.now(dt.UTC).isoformat()})
    frame = run_into_folder(spec, tasks, markets, client, progress, note)
    by_id = frame.set_index("task_id", drop=False)
    rows, curves, stats = [], [], {}
    for label, data in markets.items():
        windows, equity, stats[label] = _walk_market(label, data, fold_of[label], plan,
                                                     by_id, order, seed, spec)
        rows += windows
        curves.append(equity)
    result = WalkForward(pd.DataFrame(rows), pd.concat(curves), pd.DataFrame(stats), frame)
    _save(spec.out, result)
    return result


def _walk_market(label, data, market_folds, plan, by_id, order, seed, spec):
    """The windows table rows, the stitched equity frame and its statistics of one
    market."""
    rows, runs = [], []
    for k, f in enumerate(market_folds):
        ids = [t.id for t in plan[label, k]]
        chosen, value = select(by_id.loc[ids], spec.metric, order)
        oos_row, comp = run_oos(chosen, data, label, f.oos, seed, spec.config)
        runs.append(comp)
        rows.append({"market": label, "fold": k + 1, "is_start": f.ins.start,
                     "is_end": f.ins.end, "is_bars": f.ins.hi - f.ins.lo,
                     "oos_start": f.oos.start, "oos_end": f.oos.end,
                     "oos_bars": f.oos.hi - f.oos.lo, "spec": chosen,
                     f"is_{spec.metric}": value, "tried": len(ids),
                     **{f"oos_{k2}": oos_row[k2] for k2 in
                        ("return_pct", "sharpe", "max_drawdown_pct", "trades", "equity")}})
    cash = spec.config.portfolio.cash
    curves = [c.equity_frame().iloc[:, 0] for c in runs]
    stitched, scales = stitch(curves, cash)
    frames = []
    for c, scale in zip(runs, scales, strict=True):
        t = c.trades_frame().copy()
        t[["pnl", "fee"]] = t[["pnl", "fee"]] * scale
        frames.append(t)
    trades = pd.concat(frames, ignore_index=True)
    invested = np.concatenate([c.invested_frame().iloc[:, 0].to_numpy() for c in runs])
    bench = math.prod(1.0 + buy_and_hold_return(data.close[f.oos.lo:f.oos.hi])
                      for f in market_folds) - 1.0
    periods = infer_periods_per_year(
        pd.DatetimeIndex(data.times[: min(len(data.times), 500)]).tz_localize("UTC"),
        calendar=data.calendar)
    stats = compute_stats(stitched, trades, invested=invested, benchmark=bench,
                          periods_per_year=periods)
    window = np.concatenate([[_label(r["oos_start"])] * len(c) for r, c in
                             zip(rows, curves, strict=True)])
    spec_col = np.concatenate([[r["spec"]] * len(c) for r, c in zip(rows, curves, strict=True)])
    fold = np.concatenate([[r["fold"]] * len(c) for r, c in zip(rows, curves, strict=True)])
    equity = pd.DataFrame({"equity": stitched.to_numpy(), "window": window, "spec": spec_col,
                           "market": label, "fold": fold}, index=stitched.index)
    equity.index.name = "time"
    return rows, equity, stats


def _save(out, result: WalkForward) -> None:
    out = Path(out)
    result.windows.to_parquet(out / WINDOWS, index=False)
    result.equity.to_parquet(out / EQUITY)
    stats = result.stats.T.rename_axis("market").reset_index()
    for col in stats.columns:
        try:
            stats[col] = pd.to_numeric(stats[col])
        except (TypeError, ValueError):
            stats[col] = stats[col].astype(str)
    stats.to_parquet(out / STATS, index=False)

"""One task as an ordinary competition: what `arena run` does, as a results row."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd

from arena.data.market import MarketData
from arena.engine import Competition, CompetitionConfig
from arena.sweep.tasks import Task

__all__ = ["EXTRA_STATS", "LEADERBOARD_STATS", "LOWER_IS_BETTER", "finish_row", "run_task",
           "task_columns"]

#: the statistics of `arena run`'s leaderboard, kept for every task
LEADERBOARD_STATS = ("equity", "pnl", "return_pct", "sharpe", "max_drawdown_pct",
                     "win_rate_pct", "trades", "fees", "exposure_pct", "errors", "tokens",
                     "latency_ms", "cost_usd")
#: more of arena.metrics.compute_stats (the tear sheet's statistics) for every task
EXTRA_STATS = ("equity_peak", "return_ann_pct", "volatility_ann_pct", "sortino", "calmar",
               "max_drawdown_bars", "profit_factor", "avg_trade", "best_trade", "worst_trade",
               "buy_hold_return_pct", "skew", "kurtosis", "omega", "ulcer_index", "kelly",
               "recovery_factor", "best_month_pct", "worst_month_pct", "positive_months_pct")
#: statistics where less is better (a sweep's best are the lowest)
LOWER_IS_BETTER = frozenset({"volatility_ann_pct", "ulcer_index", "fees", "errors",
                             "latency_ms", "cost_usd", "tokens", "max_drawdown_bars"})
_COUNTS = {"trades", "errors", "tokens"}



def run_task(task: Task, data: MarketData, config: CompetitionConfig,
             record: bool = False) -> dict:
    """One task as an ordinary competition (what `arena run` does): its result row.

    A competition that fails (not an agent's error, which the engine counts) gives a
    row with ``failure`` set and no statistics."""
    row = task_columns(task)
    cfg = replace(config, seed=task.seed, record=record, speed=0.0, run_id=None)
    try:
        comp = Competition(data.slice(task.lo, task.hi), [task.spec], cfg,
                           data_source=task.market)
        board = comp.run()
        stats = comp.stats(comp.agent_names[0])
    except Exception as exc:  # noqa: BLE001 - one failing task must not end a sweep
        row["failure"] = f"{type(exc).__name__}: {exc}"
        return row
    first = board.iloc[0]
    row = finish_row(row, str(first["agent"]), first, stats)
    if record:
        row["run_id"], row["run_path"] = comp.run_id, str(comp.run_path.resolve())
    return row


def finish_row(row: dict, label: str, board_row: pd.Series, stats: pd.Series) -> dict:
    """``row`` (a task's columns) with the agent's label, its leaderboard row's
    statistics and ``arena.metrics`` statistics."""
    row["label"] = label
    row.update({k: int(board_row[k]) if k in _COUNTS else _number(board_row[k])
                for k in LEADERBOARD_STATS})
    row.update({k: _number(stats.get(k)) for k in EXTRA_STATS})
    row["failure"] = None
    return row


def task_columns(task: Task) -> dict:
    """The columns that say what a task is."""
    return {"task_id": task.id, "agent": task.agent, "spec": task.spec,
            **{f"param_{k}": v for k, v in task.params},
            "market": task.market, "window_start": task.start, "window_end": task.end,
            "bars": task.hi - task.lo, "seed": task.seed}


def _number(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan

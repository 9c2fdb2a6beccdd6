"""Tournaments: every agent on every task, ranked with honest statistics (docs/sweeps.md).

A tournament is a sweep whose agents are the competitors (rule, ML and LLM alike; a
grid is allowed and counts each combination as a competitor) over markets × windows ×
seeds. Its results table is ranked by :mod:`arena.analysis.significance`:
:func:`~arena.analysis.significance.ranking` (mean, bootstrap CI, P(beat buy & hold),
mean rank), :func:`~arena.analysis.significance.prob_beats` (P(row beats column)),
:func:`~arena.analysis.significance.rank_stability` (Kendall's τ-b between consecutive
windows) and, for each grid, :func:`~arena.analysis.significance.deflate_grid` of its
best row in each task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from arena.analysis.significance import deflate_grid, prob_beats, rank_stability, ranking
from arena.metrics import infer_periods_per_year
from arena.sweep.compete import LOWER_IS_BETTER
from arena.sweep.grid import expand, parse_grid
from arena.sweep.sweep import SweepSpec, load_markets, run_sweep

__all__ = ["TASK", "Tournament", "rank_tournament", "run_tournament", "with_window_numbers"]

#: the columns that identify a tournament's task
TASK = ["market", "window_start", "window_end", "seed"]
RANKING, BEATS, STABILITY, DEFLATED = ("ranking.parquet", "beats.parquet",
                                       "stability.parquet", "deflated.parquet")


@dataclass
class Tournament:
    """A tournament's results table and its statistics (``metric``'s)."""

    results: pd.DataFrame
    metric: str
    ranking: pd.DataFrame
    beats: pd.DataFrame
    stability: pd.DataFrame
    mean_tau: float
    deflated: pd.DataFrame


def rank_tournament(results: pd.DataFrame, metric: str, grids=(), resamples: int = 10_000,
                    level: float = 0.95, seed: int = 0) -> Tournament:
    """The statistics of a results table (one row per agent spec × task). ``grids``:
    the ``--agent`` texts; those with more than one combination get the deflated Sharpe
    of their best row per task (the table needs a ``periods_per_year`` column)."""
    if results.empty:
        raise ValueError("the tournament has no results: no tasks ran")
    results = with_window_numbers(results)
    higher = metric not in LOWER_IS_BETTER
    table = ranking(results, metric, n_boot=resamples, level=level, seed=seed,
                    higher_is_better=higher, task=TASK)
    beats = prob_beats(results, metric, n_boot=resamples, seed=seed, task=TASK,
                       higher_is_better=higher)
    stab = rank_stability(results, metric, by="window")
    deflated = []
    for text in grids:
        specs = [c.spec for c in expand(parse_grid(text))[0]]
        rows = results[results["spec"].isin(specs)]
        if len(specs) > 1 and len(rows):
            rows = rows.reset_index(drop=True)
            d = deflate_grid(rows, "periods_per_year", by=TASK)
            d.insert(0, "grid", text)
            d.insert(1, "best_spec", [None if pd.isna(b) else rows.at[int(b), "spec"]
                                      for b in d["best"]])
            deflated.append(d.drop(columns="best"))
    deflated = pd.concat(deflated, ignore_index=True) if deflated else pd.DataFrame()
    return Tournament(results, metric, table, beats, stab.pairs, stab.mean_tau, deflated)


def with_window_numbers(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with ``window``: 1 for each market's first window, 2 for its next...
    (markets' windows may start on different dates; rank stability compares the k-th
    windows)."""
    number = results.groupby("market")["window_start"].rank(method="dense").astype(int)
    return results.assign(window=number)


def run_tournament(spec: SweepSpec, *, resamples: int = 10_000, level: float = 0.95,
                   client=None, progress: Callable[[int, int], None] | None = None,
                   note: Callable[[str], None] = lambda _m: None) -> Tournament:
    """Run the tournament ``spec`` (a sweep) into ``spec.out`` and rank it; the
    statistics are written there too (``ranking.parquet``/``.csv``, ``beats.parquet``,
    ``stability.parquet``, ``deflated.parquet``)."""
    markets = load_markets(spec.checked())
    frame, _plan = run_sweep(spec, progress=progress, note=note, client=client,
                             markets=markets)
    periods = {label: infer_periods_per_year(
        pd.DatetimeIndex(data.times[: min(len(data.times), 500)]).tz_localize("UTC"),
        calendar=data.calendar) for label, data in markets.items()}
    frame = frame.assign(periods_per_year=frame["market"].map(periods))
    t = rank_tournament(frame, spec.metric, spec.agents, resamples, level)
    out = Path(spec.out)
    t.ranking.to_parquet(out / RANKING, index=False)
    t.ranking.to_csv(out / "ranking.csv", index=False)
    t.beats.rename_axis("agent").reset_index().to_parquet(out / BEATS, index=False)
    t.stability.to_parquet(out / STABILITY, index=False)
    if len(t.deflated):
        t.deflated.to_parquet(out / DEFLATED, index=False)
    return t


"""Ranking competitors across many competitions, with honest uncertainty.

Input: a results DataFrame with **one row per (agent, task)**, as a sweep or a
tournament writes it. A *task* is one competition: a symbol (or set) × window
× seed. Columns:

- the competitor: ``spec`` if there is one (a sweep's ``sma_cross:fast=5,slow=20``),
  else ``agent``; or ``agent="label"``, or ``agent=["agent", "param_fast"]`` (the
  values joined: ``sma_cross param_fast=5``);
- the task: the columns among ``TASK_COLUMNS`` (``task``, ``symbol``, ``market``,
  ``window``, ``window_start``, ``window_end``, ``seed``) that are present, or
  ``task=[...]``; each (competitor, task) pair must appear once;
- the metric, any leaderboard statistic (``return_pct``, ``sharpe``, ...): a
  non-finite value (NaN Sharpe of an agent that never traded, an infinite
  profit factor) is *undefined* and left out of that agent's figures;
- optionally ``buy_hold_return_pct``, the buy & hold return of the task's data.

Agents of one task saw the same data, so they are **paired**: the bootstrap
resamples tasks (with replacement), never rows, and every agent is measured on
the same resampled tasks. Definitions: ``docs/metrics.md`` ("Tournament and
sweep statistics").
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd
import scipy.stats

from arena.analysis.bootstrap import (
    CI,
    bootstrap_ci,
    check_options,
    interval,
    resample_counts,
)
from arena.analysis.deflated import (
    deflate_grid,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
)

__all__ = [
    "BUY_HOLD",
    "CI",
    "TASK_COLUMNS",
    "RankStability",
    "agent_ci",
    "bootstrap_ci",
    "deflate_grid",
    "deflated_sharpe",
    "expected_max_sharpe",
    "metric_matrix",
    "prob_beats",
    "probabilistic_sharpe",
    "rank_stability",
    "ranking",
    "task_win_share",
]

#: the columns that identify a task, when present (``task_id`` is per row, not per task)
TASK_COLUMNS = ("task", "symbol", "market", "window", "window_start", "window_end", "seed")
BUY_HOLD = "buy & hold"  # the benchmark's label when it comes from buy_hold_return_pct
_BH_COLUMN = "buy_hold_return_pct"


def metric_matrix(results: pd.DataFrame, metric: str, task=None, agent=None,
                  benchmark: str | None = None) -> pd.DataFrame:
    """The metric as a tasks × agents table (NaN: undefined or not run), tasks and agents
    in order of first appearance. ``benchmark``: a column of results holding the
    benchmark's value of the metric per task, added as a last column (labelled
    ``"buy & hold"`` for ``buy_hold_return_pct``, else by its name)."""
    frame, tasks, label = _frame(results, metric, task, agent)
    values = pd.to_numeric(frame[metric], errors="coerce").astype(float).to_numpy()
    bad = np.isnan(values) & frame[metric].notna().to_numpy()
    if bad.any():
        row = frame.index[np.flatnonzero(bad)[0]]
        raise ValueError(f"results[{metric!r}] at row {row!r} is not a number: "
                         f"{frame.at[row, metric]!r}")
    keys = pd.Series(list(zip(*(frame[c].map(_hashable) for c in tasks), strict=True)))
    t, task_keys = pd.factorize(keys, use_na_sentinel=False)
    a, names = pd.factorize(label, use_na_sentinel=False)
    dup = pd.Series(t * len(names) + a).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise ValueError(f"agent {label.iloc[i]!r} appears twice in task "
                         f"{dict(zip(tasks, keys.iloc[i], strict=True))}: each (agent, task) once")
    out = np.full((len(task_keys), len(names)), np.nan)
    out[t, a] = values
    index = pd.MultiIndex.from_tuples(list(task_keys), names=tasks) if len(tasks) > 1 \
        else pd.Index([k[0] for k in task_keys], name=tasks[0])
    matrix = pd.DataFrame(out, index=index, columns=pd.Index(names, dtype=object))
    if benchmark is not None:
        if benchmark not in frame.columns:
            raise ValueError(f"benchmark {benchmark!r} is not a column of results")
        matrix[_bench_label(benchmark)] = _per_task(frame[benchmark], t, len(task_keys),
                                                    benchmark, index)
    return matrix.where(np.isfinite(matrix))


def agent_ci(results: pd.DataFrame, metric: str, level: float = 0.95, n_boot: int = 10_000,
             seed: int | None = 0, method: str = "percentile", task=None,
             agent=None) -> pd.DataFrame:
    """Per agent: ``mean`` of the metric over its tasks, the bootstrap CI ``lo``..``hi`` of
    that mean (tasks resampled, the same resamples for every agent), and ``n`` tasks with a
    finite value. An agent with every value finite gets exactly
    ``bootstrap_ci(values, np.mean, level, n_boot, seed, method)``."""
    check_options(level, n_boot, method)
    return _agent_ci(metric_matrix(results, metric, task, agent), level, n_boot, seed, method)


def prob_beats(results: pd.DataFrame, metric: str, benchmark: str | None = "auto",
               n_boot: int = 10_000, seed: int | None = 0, task=None,
               agent=None, higher_is_better: bool = True) -> pd.DataFrame:
    """P[A, B]: the bootstrap probability that A's mean metric beats B's over their paired
    tasks (the tasks where both are defined): exceeds it, or with ``higher_is_better``
    False (a drawdown, a volatility) is below it. A resample with equal means counts ½, so
    P[A, B] + P[B, A] = 1. Rows: agents; columns: agents, then a benchmark column if the
    benchmark is a column of results; diagonal NaN.

    ``benchmark``: ``"auto"`` (the ``buy_hold_return_pct`` column for ``return_pct``, else
    the agent ``buy_and_hold`` if it ran, else none), None, a column of results holding
    the benchmark's value of the metric per task, or an agent's name."""
    check_options(0.5, n_boot, "percentile")
    m, k, _ = _setup(results, metric, benchmark, task, agent)
    p = _pairwise(m, k, n_boot, seed)
    return p if higher_is_better else 1.0 - p  # (ties count ½ either way)


def task_win_share(results: pd.DataFrame, metric: str, benchmark: str | None = "auto",
                   task=None, agent=None) -> pd.DataFrame:
    """S[A, B]: the share of paired tasks in which A's metric exceeds B's (a tie counts ½).
    Same rows, columns and ``benchmark`` as :func:`prob_beats`."""
    m, k, _ = _setup(results, metric, benchmark, task, agent)
    v = m.to_numpy()
    out = np.full((k, m.shape[1]), np.nan)
    for a in range(k):
        for b in range(m.shape[1]):
            both = np.isfinite(v[:, a]) & np.isfinite(v[:, b])
            if a != b and both.any():
                d = v[both, a] - v[both, b]
                out[a, b] = (np.count_nonzero(d > 0) + 0.5 * np.count_nonzero(d == 0)) / d.size
    return pd.DataFrame(out, index=m.columns[:k], columns=m.columns)


class RankStability(NamedTuple):
    """Kendall's τ-b of consecutive windows (``pairs``: ``from``, ``to``, ``tau``,
    ``p_value``, ``n``) and their mean (NaN pairs left out)."""

    pairs: pd.DataFrame
    mean_tau: float


def rank_stability(results: pd.DataFrame, metric: str, by: str | None = None,
                   agent=None) -> RankStability:
    """How alike the agents' rankings are from one ``by`` value (default ``window``, else
    ``window_start``) to the next, in sorted order: Kendall's τ-b
    (``scipy.stats.kendalltau``; ties as τ-b) between the agents' mean metric in each
    window (mean over that window's symbols and seeds), over the agents defined in both.
    1: same order; −1: reversed; NaN with fewer than two agents or no spread in either
    window."""
    if by is None:
        by = "window" if "window" in getattr(results, "columns", ()) else "window_start"
    frame, _, label = _frame(results, metric, [by], agent)
    values = pd.to_numeric(frame[metric], errors="coerce").astype(float)
    values = values.where(np.isfinite(values))
    keys = [frame[by].map(_hashable).rename("by"), label.rename("agent")]
    means = values.groupby(keys, sort=True).mean().unstack()
    windows = sorted(means.index)
    rows = []
    for w0, w1 in zip(windows, windows[1:], strict=False):
        x, y = means.loc[w0].to_numpy(), means.loc[w1].to_numpy()
        ok = np.isfinite(x) & np.isfinite(y)
        tau = p = math.nan
        if ok.sum() >= 2 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0:
            res = scipy.stats.kendalltau(x[ok], y[ok], variant="b")
            tau, p = float(res.statistic), float(res.pvalue)
        rows.append({"from": w0, "to": w1, "tau": tau, "p_value": p, "n": int(ok.sum())})
    pairs = pd.DataFrame(rows, columns=["from", "to", "tau", "p_value", "n"])
    taus = pairs["tau"].dropna()
    return RankStability(pairs, float(taus.mean()) if len(taus) else math.nan)


def ranking(results: pd.DataFrame, metric: str, benchmark: str | None = "auto",
            level: float = 0.95, n_boot: int = 10_000, seed: int | None = 0,
            method: str = "percentile", higher_is_better: bool = True, task=None,
            agent=None) -> pd.DataFrame:
    """The tournament table: ``agent``, ``mean``, ``lo``, ``hi``, ``n`` (as
    :func:`agent_ci`), ``p_beat_benchmark`` (:func:`prob_beats` against the benchmark, in
    the same sense of better; NaN without one), ``mean_rank`` (each task ranks its defined agents, 1 = best, ties
    averaged; the mean over the tasks where the agent is defined), best mean first
    (lowest first when ``higher_is_better`` is False). All from the same resamples."""
    check_options(level, n_boot, method)
    m, k, bench = _setup(results, metric, benchmark, task, agent)
    agents = m.iloc[:, :k]
    table = _agent_ci(agents, level, n_boot, seed, method)
    if bench is None:
        table["p_beat_benchmark"] = math.nan
    else:
        p = _pairwise(m, k, n_boot, seed)[bench].to_numpy()
        table["p_beat_benchmark"] = p if higher_is_better else 1.0 - p
    ranks = agents.rank(axis=1, ascending=not higher_is_better, method="average")
    table["mean_rank"] = ranks.mean(axis=0).to_numpy()
    table = table.sort_values("mean", ascending=not higher_is_better, kind="stable",
                              na_position="last")
    return table.reset_index(drop=True)


# -- helpers -----------------------------------------------------------------------------

def _frame(results, metric, task, agent):
    """Checked ``(results, task columns, agent labels)``; a ValueError naming what is wrong."""
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    if results.empty:
        raise ValueError("results is empty: no (agent, task) rows")
    if agent is None:
        agent = "spec" if "spec" in results.columns else "agent"
    agents = [agent] if isinstance(agent, str) else list(agent)
    tasks = [c for c in TASK_COLUMNS if c in results] if task is None \
        else ([task] if isinstance(task, str) else list(task))
    if not tasks:
        raise ValueError(f"results has none of the task columns {', '.join(TASK_COLUMNS)}; "
                         "pass task=[...] naming the columns that identify a task")
    missing = [c for c in [metric, *agents, *tasks] if c not in results.columns]
    if missing:
        raise ValueError(f"results has no column {', '.join(map(repr, missing))}; "
                         f"it has {', '.join(map(str, results.columns))}")
    if len(agents) == 1:
        label = results[agents[0]].astype(str)
    else:
        label = results[agents[0]].astype(str) + results[agents[1:]].apply(
            lambda r: " " + " ".join(f"{c}={v}" for c, v in r.items()), axis=1)
    return results, tasks, label


def _hashable(v):
    """A task key part that hashes and compares equal to itself (lists as tuples, NaN as
    None)."""
    if isinstance(v, list | np.ndarray):
        return tuple(v)
    return None if isinstance(v, float) and math.isnan(v) else v


def _setup(results, metric, benchmark, task, agent):
    """``(matrix, k, bench)``: the metric matrix, its first ``k`` columns the agents, and
    the benchmark's column label (None without one)."""
    _, _, label = _frame(results, metric, task, agent)
    if benchmark == "auto":
        if metric == "return_pct" and _BH_COLUMN in results.columns:
            benchmark = _BH_COLUMN
        else:
            benchmark = "buy_and_hold" if (label == "buy_and_hold").any() else None
    if benchmark is None or (label == benchmark).any():
        m = metric_matrix(results, metric, task, agent)
        return m, m.shape[1], benchmark
    if benchmark in results.columns:
        m = metric_matrix(results, metric, task, agent, benchmark)
        return m, m.shape[1] - 1, m.columns[-1]
    raise ValueError(f"benchmark {benchmark!r} is neither a column of results nor an agent "
                     f"(agents: {', '.join(pd.unique(label))})")


def _bench_label(column: str) -> str:
    return BUY_HOLD if column == _BH_COLUMN else column


def _per_task(column: pd.Series, t: np.ndarray, n_tasks: int, name: str, index) -> np.ndarray:
    """One benchmark value per task; a ValueError if the agents of a task disagree."""
    values = pd.to_numeric(column, errors="coerce").astype(float).to_numpy()
    lo = np.full(n_tasks, np.inf)
    hi = np.full(n_tasks, -np.inf)
    ok = np.isfinite(values)
    np.minimum.at(lo, t[ok], values[ok])
    np.maximum.at(hi, t[ok], values[ok])
    has = np.isfinite(lo)
    differ = has & (hi - lo > 1e-9 * (1.0 + np.abs(hi)))
    if differ.any():
        raise ValueError(f"results[{name!r}] differs between the agents of task "
                         f"{index[np.flatnonzero(differ)[0]]!r}: a benchmark has one value "
                         "per task")
    return np.where(has, lo, np.nan)


def _agent_ci(m: pd.DataFrame, level, n_boot, seed, method) -> pd.DataFrame:
    v = m.to_numpy(dtype=float)
    ok = np.isfinite(v)
    v0 = np.where(ok, v, 0.0)
    boot = np.concatenate([_means(c, v0, ok)
                           for c in resample_counts(len(v), n_boot, seed, v.shape[1])])
    rows = []
    total, count = v0.sum(axis=0), ok.sum(axis=0)
    for j, name in enumerate(m.columns):
        n = int(count[j])
        est = total[j] / n if n else math.nan
        jack = None
        if method == "bca" and n:
            left = count[j] - ok[:, j]  # leave-one-task-out means (a task without a value
            jack = np.divide(total[j] - v0[:, j], left, out=np.full(len(v), est),
                             where=left > 0)  # changes nothing)
        lo, hi = interval(est, boot[:, j], level, method, jack) if n else (math.nan, math.nan)
        rows.append({"agent": name, "mean": est, "lo": lo, "hi": hi, "n": n})
    return pd.DataFrame(rows, columns=["agent", "mean", "lo", "hi", "n"])


def _means(counts, v0, ok):
    """Per resample (row of ``counts``) and column: the mean over the drawn defined values
    (NaN where none was drawn)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ v0) / (counts @ ok.astype(float))


def _pairwise(m: pd.DataFrame, k: int, n_boot, seed) -> pd.DataFrame:
    """P[A, B] of :func:`prob_beats` for the first ``k`` columns against all columns."""
    v = m.to_numpy(dtype=float)
    cols = m.shape[1]
    pairs = [(a, b) for a in range(cols) for b in range(a + 1, cols) if a < k]
    out = np.full((k, cols), np.nan)
    if not pairs:
        return pd.DataFrame(out, index=m.columns[:k], columns=m.columns)
    d = np.stack([v[:, a] - v[:, b] for a, b in pairs], axis=1)
    ok = np.isfinite(d)
    d0 = np.where(ok, d, 0.0)
    above = np.zeros(len(pairs))
    valid = np.zeros(len(pairs))
    for c in resample_counts(len(v), n_boot, seed, len(pairs)):
        means = _means(c, d0, ok)
        above += np.count_nonzero(means > 0, axis=0) + 0.5 * np.count_nonzero(means == 0, axis=0)
        valid += np.count_nonzero(np.isfinite(means), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(valid > 0, above / np.maximum(valid, 1), np.nan)
    for (a, b), pab in zip(pairs, p, strict=True):
        out[a, b] = pab
        if b < k:
            out[b, a] = 1.0 - pab
    return pd.DataFrame(out, index=m.columns[:k], columns=m.columns)

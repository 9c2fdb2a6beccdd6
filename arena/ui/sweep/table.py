"""The numbers behind the sweep views: a results table (one row per task, as
``arena.sweep.load_results`` reads it) reduced to means over tasks, in pandas.

A parameter is named as the agent takes it (``fast``); its column is ``param_fast``.
Other columns (``market``, ``seed``, ``agent``...) can be fixed by their own names.
Rows of failed tasks (``failure`` set) are left out; a non-finite metric value (the
Sharpe of an agent that never traded) is *undefined* and left out of a mean, and
``n`` counts the values a mean is made of.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from arena.sweep.runner import EXTRA_STATS, LEADERBOARD_STATS, LOWER_IS_BETTER

__all__ = ["LOWER_IS_BETTER", "PREFIX", "column", "combination_means", "grid_means",
           "label", "metrics", "parameters", "select"]

PREFIX = "param_"


def parameters(results: pd.DataFrame, varying: bool = True) -> list[str]:
    """The parameter names of the results (``fast`` for ``param_fast``); with ``varying``,
    only those with more than one value among the rows that ran."""
    rows = _ok(results)
    names = [c[len(PREFIX):] for c in results.columns if str(c).startswith(PREFIX)]
    if varying:
        names = [n for n in names if rows[PREFIX + n].dropna().nunique() > 1]
    return names


def metrics(results: pd.DataFrame) -> list[str]:
    """The leaderboard statistics the results hold as numbers, in the leaderboard's order."""
    return [m for m in (*LEADERBOARD_STATS, *EXTRA_STATS)
            if m in results.columns and pd.api.types.is_numeric_dtype(results[m])]


def column(results: pd.DataFrame, name: str) -> str:
    """The column of ``name``: ``param_NAME`` for a parameter, else the column itself."""
    if not isinstance(name, str):
        raise TypeError(f"a column name must be text, got {name!r}")
    for c in (PREFIX + name, name):
        if c in results.columns:
            return c
    raise ValueError(f"the results have no parameter or column {name!r}; parameters: "
                     f"{', '.join(parameters(results, varying=False)) or 'none'}")


def select(results: pd.DataFrame, metric: str, needed: list[str], **fixed) -> pd.DataFrame:
    """The rows that ran, match ``fixed`` (name=value) and have every ``needed``
    parameter; a ValueError naming what is wrong (an unknown metric or name, no rows
    left, the rows of several agents mixed)."""
    if not isinstance(results, pd.DataFrame):
        raise TypeError(f"results must be a pandas DataFrame, got {type(results).__name__}")
    if metric not in results.columns:
        raise ValueError(f"the results have no metric {metric!r}; metrics: "
                         f"{', '.join(metrics(results)) or 'none'}")
    rows = _ok(results)
    for name, value in fixed.items():
        col = column(results, name)
        rows = rows[rows[col] == _like(rows[col], value)]
    for name in needed:
        rows = rows[rows[column(results, name)].notna()]
    if rows.empty:
        said = ", ".join(f"{k}={v!r}" for k, v in fixed.items())
        has = f" has {', '.join(map(repr, needed))}" if needed else ""
        raise ValueError(f"no finished task{has}" + (f" with {said}" if said else "")
                         + ("" if has or said else " in the results"))
    if "agent" in rows.columns and rows["agent"].nunique() > 1 and needed:
        names = ", ".join(map(str, pd.unique(rows["agent"])))
        raise ValueError(f"the rows with {', '.join(map(repr, needed))} are of several agents "
                         f"({names}): fix one, e.g. agent={rows['agent'].iloc[0]!r}")
    return rows


def grid_means(results: pd.DataFrame, metric: str, x: str, y: str, by=(), **fixed
               ) -> pd.DataFrame:
    """The mean of ``metric`` for each (``by``..., ``x``, ``y``) over the other columns
    (other parameters, markets, windows, seeds): columns ``*by, x, y, metric, n``, named
    without the ``param_`` prefix. Every combination of the values of ``x`` and ``y``
    present is there (NaN and ``n`` 0 where none ran), sorted by value."""
    by = [by] if isinstance(by, str) else list(by)
    names = [*by, x, y]
    if len(set(names)) < len(names):
        raise ValueError(f"x, y and the slider parameters must differ: {names}")
    rows = select(results, metric, names, **fixed)
    frame = pd.DataFrame({n: rows[column(results, n)].to_numpy() for n in names})
    frame[metric] = _finite(rows[metric])
    means = frame.groupby(names, sort=True, dropna=False)[metric].agg(["mean", "count"])
    levels = [sorted(pd.unique(frame[n])) for n in names]
    full = pd.MultiIndex.from_tuples(list(itertools.product(*levels)), names=names)
    means = means.reindex(full)
    out = means.reset_index().rename(columns={"mean": metric, "count": "n"})
    out["n"] = out["n"].fillna(0).astype(int)
    return out


def combination_means(results: pd.DataFrame, metric: str, params) -> pd.DataFrame:
    """The mean of ``metric`` for each combination of ``params`` that ran (columns
    ``*params, metric, n``), over markets, windows and seeds."""
    params = list(params)
    if len(params) < 2:
        raise ValueError(f"name at least two parameters, got {params}")
    rows = select(results, metric, params)
    frame = pd.DataFrame({n: rows[column(results, n)].to_numpy() for n in params})
    frame[metric] = _finite(rows[metric])
    out = frame.groupby(params, sort=True)[metric].agg(["mean", "count"]).reset_index()
    return out.rename(columns={"mean": metric, "count": "n"})


def label(value) -> str:
    """A parameter value as a short label: ``5`` for 5.0, ``0.25``, ``true``, text as is."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isfinite(value) and float(value).is_integer():
            return str(int(value))
        return f"{float(value):g}"
    return str(value)


def _ok(results: pd.DataFrame) -> pd.DataFrame:
    return results[results["failure"].isna()] if "failure" in results.columns else results


def _finite(values: pd.Series) -> np.ndarray:
    v = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    return np.where(np.isfinite(v), v, np.nan)


def _like(col: pd.Series, value):
    """``value`` as the column holds it (a time for a time column)."""
    if pd.api.types.is_datetime64_any_dtype(col) and not isinstance(value, pd.Timestamp):
        ts = pd.Timestamp(value)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return value

"""Every statistic of every agent of a run, as one table (the sortable comparison)."""

from __future__ import annotations

import pandas as pd

from arena.analysis.exposure import Closes, exposure
from arena.analysis.risk import tear_sheet_stats
from arena.analysis.runs import benchmark_equity, run_frames
from arena.metrics import infer_periods_per_year
from arena.recorder import Recording

__all__ = ["run_periods_per_year", "stats_frame", "stats_table"]


def stats_table(run, var_level: float = 0.95, risk_free: float = 0.0) -> pd.DataFrame:
    """:func:`stats_frame` of a Competition, Recording or Replay (as of its position),
    annualised as the run's leaderboard is (:func:`run_periods_per_year`)."""
    equity, fills, bars = run_frames(run)
    return stats_frame(equity, fills, bars, var_level=var_level, risk_free=risk_free,
                       periods_per_year=run_periods_per_year(run, equity.index))


def stats_frame(equity: pd.DataFrame, fills: pd.DataFrame, bars: pd.DataFrame,
                var_level: float = 0.95, risk_free: float = 0.0,
                periods_per_year: float | None = None) -> pd.DataFrame:
    """One row per agent (``run_frames`` frames): ``rank`` (by final equity), ``agent``
    and every key of ``risk.tear_sheet_stats`` (``compute_stats``' plus VaR, CVaR,
    tail ratio, beta and alpha against buy & hold), best first. An agent is invested
    at a bar when it holds a position at its close (``exposure.exposure`` gross > 0)."""
    if len(equity) < 2:
        raise ValueError("the run has fewer than 2 bars with equity: no statistics yet")
    bench = None
    if len(bars):
        bench = benchmark_equity(bars, 1.0)
        bench = bench if bench.index.equals(equity.index) else None
    closes = Closes(bars) if len(bars) else None
    rows = []
    for name in equity.columns:
        curve = equity[name].astype(float)
        mine = fills[fills["agent"] == name]
        invested = (exposure(mine, closes, curve)["gross"].to_numpy() > 0
                    if closes is not None else None)
        stats = tear_sheet_stats(curve, mine, invested, benchmark_equity=bench,
                                 periods_per_year=periods_per_year, risk_free=risk_free,
                                 var_level=var_level)
        rows.append({"agent": name, **stats.to_dict()})
    table = pd.DataFrame(rows).infer_objects()
    table = table.sort_values("equity_final", ascending=False, kind="stable")
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def run_periods_per_year(run, index: pd.DatetimeIndex) -> float | None:
    """Bars per year as the run's leaderboard annualises: a Recording's recorded value,
    else the engine's inference from the first 500 bar times and the market's calendar
    (``None`` when neither is known: inferred from ``index``)."""
    if isinstance(run, Recording):
        value = run.meta.get("periods_per_year")
        return float(value) if value else None
    data = getattr(run, "data", None)
    if data is None or len(index) < 2:
        return None
    times = pd.DatetimeIndex(data.times[:500]).tz_localize("UTC")
    return infer_periods_per_year(times, calendar=getattr(data, "calendar", None))

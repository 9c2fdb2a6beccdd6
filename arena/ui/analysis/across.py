"""Views across every agent of a run: correlation of returns, rolling Sharpe of each,
and the table of every statistic."""

from __future__ import annotations

import holoviews as hv
import pandas as pd

from arena.analysis.summary import run_periods_per_year, stats_frame
from arena.analysis.tables import return_correlations
from arena.ui.analysis.base import HEIGHT, _frame, _opts, _Run, _table, _thin, _window

__all__ = ["correlation_heatmap", "rolling_sharpe_overlay", "statistics_table"]

#: The statistics table's first columns.
FIRST = ("rank", "agent", "return_pct", "return_ann_pct", "sharpe", "sortino",
         "max_drawdown_pct", "var_pct", "cvar_pct", "beta", "alpha_ann_pct", "trades")


def _correlations(r: _Run):
    corr = return_correlations(r.equity_frame)
    long = corr.rename_axis(index="a", columns="b").stack().rename("rho").reset_index()
    heat = hv.HeatMap(long, kdims=["a", "b"], vdims=[hv.Dimension("rho", range=(-1, 1))])
    labels = hv.Labels(long.assign(text=long["rho"].map("{:.2f}".format)),
                       kdims=["a", "b"], vdims=["text"])
    heat = heat.opts(cmap="RdBu_r", clim=(-1, 1), colorbar=True, xrotation=45,
                     xlabel="", ylabel="")
    return _opts(heat * labels.opts(text_font_size="8pt"), "correlation of bar returns")


def _sharpe_overlay(r: _Run, window: int | None):
    w = _window(r, window)
    curves = []
    for name in r.equity_frame.columns:
        s = r.rolling(w, name)["sharpe"]
        curves.append(hv.Curve(_frame(_thin(s), "sharpe"), "time",
                               hv.Dimension("sharpe", label="Sharpe"), label=str(name)))
    return _opts(hv.Overlay(curves), f"rolling Sharpe of every agent ({w} bars)",
                 legend_position="top_left", legend_cols=2,
                 legend_opts={"label_text_font_size": "7pt", "background_fill_alpha": 0.5,
                              "spacing": 0, "padding": 2, "label_height": 10,
                              "glyph_height": 10})


def _statistics(r: _Run, var_level: float):
    table = stats_frame(r.equity_frame, r.trades, r.bars, var_level=var_level,
                        periods_per_year=run_periods_per_year(r.run, r.equity_frame.index))
    return _table(_displayed(table), "every statistic of every agent",
                  height=min(HEIGHT, 60 + 28 * len(table)), column_width=110)


def _displayed(table: pd.DataFrame) -> pd.DataFrame:
    """The headline columns first, times and durations last (as text), numbers to 6
    significant digits (still numbers, so the table sorts them as numbers)."""
    late = ["start", "end", "duration", "max_drawdown_duration", "bars", "equity_start"]
    order = [c for c in FIRST if c in table] + [c for c in table if c not in (*FIRST, *late)]
    out = table[order + [c for c in late if c in table]]
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_datetime64_any_dtype(values) or \
                pd.api.types.is_timedelta64_dtype(values):
            out[column] = values.astype(str)
        elif pd.api.types.is_float_dtype(values):
            out[column] = values.map(lambda v: float(f"{v:.6g}"))
    return out


def correlation_heatmap(run, agent: str | None = None):
    """``tables.return_correlations`` of every agent of the run."""
    return _correlations(_Run(run, agent))


def rolling_sharpe_overlay(run, agent: str | None = None, window: int | None = None):
    """``tables.rolling_stats`` Sharpe of every agent over ``window`` bars, one curve
    each (``agent`` only checks the run has one)."""
    return _sharpe_overlay(_Run(run, agent), window)


def statistics_table(run, agent: str | None = None, var_level: float = 0.95):
    """``summary.stats_table`` (every statistic, one row per agent, best first) as a
    table whose columns sort on a click; the DataFrame itself is
    ``arena.analysis.summary.stats_table(run)``."""
    return _statistics(_Run(run, agent), var_level)

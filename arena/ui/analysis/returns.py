"""Returns views: monthly heatmap, yearly bars against buy & hold, cumulative returns
(log scale), distribution of bar returns with VaR and CVaR."""

from __future__ import annotations

import holoviews as hv
import numpy as np

from arena.analysis.risk import tear_sheet_stats
from arena.analysis.tables import MONTHS, monthly_returns, yearly_returns
from arena.ui.analysis.base import _frame, _opts, _Run, _thin

__all__ = ["cumulative_returns", "monthly_heatmap", "return_distribution", "yearly_returns_bars"]


def _monthly(r: _Run):
    table = monthly_returns(r.equity)[list(MONTHS)] * 100.0
    long = table.stack().dropna().rename("return").reset_index()
    long.columns = ["year", "month", "return"]
    long["year"] = long["year"].astype(str)
    heat = hv.HeatMap(long, kdims=[hv.Dimension("month"), hv.Dimension("year")],
                      vdims=[hv.Dimension("return", label="return (%)")])
    labels = hv.Labels(long.assign(text=long["return"].map("{:.1f}".format)),
                       kdims=["month", "year"], vdims=["text"])
    lim = float(np.nanmax(np.abs(long["return"]))) if len(long) else 1.0
    heat = heat.opts(cmap="RdYlGn", clim=(-lim, lim), colorbar=True, xrotation=0)
    return _opts(heat * labels.opts(text_font_size="8pt"),
                 f"{r.agent}: monthly returns (%)")


def _yearly(r: _Run):
    table = yearly_returns(r.equity, r.bench) * 100.0
    series = {"equity": "agent", "benchmark": "buy & hold"}
    long = (table.rename(columns=series).rename_axis(columns="series").stack()
            .rename("yearly_return").reset_index())
    # not the heatmap's "year": a layout would share one axis between the two
    long = long.rename(columns={"year": "calendar_year"}).astype({"calendar_year": str})
    # series by series: HoloViews (1.23) draws grouped bars in that order but maps their
    # colours in the order given, so year-major rows would colour bars by year
    long = long.sort_values(["series", "calendar_year"], kind="stable").reset_index(drop=True)
    bars = hv.Bars(long, kdims=[hv.Dimension("calendar_year", label="calendar year"), "series"],
                   vdims=[hv.Dimension("yearly_return", label="return (%)")])
    colours = {"agent": "#1f77b4", "buy & hold": "gray"}
    return _opts(bars.opts(color="series", cmap=colours, xlabel="",
                           multi_level=False, show_legend=True, legend_position="top_right"),
                 f"{r.agent}: yearly returns (%) against buy & hold")


def _cumulative(r: _Run):
    growth = _thin(r.equity / r.equity.iloc[0])
    curves = [hv.Curve(_frame(growth, "growth"), "time", "growth", label=r.agent)]
    if r.bench is not None:
        bench = _thin(r.bench / r.bench.iloc[0])
        curves.append(hv.Curve(_frame(bench, "growth"), "time", "growth",
                               label="buy & hold").opts(line_dash="dashed", color="gray"))
    overlay = hv.Overlay([c.opts(logy=True, ylabel="growth of 1 (log)") for c in curves])
    return _opts(overlay, f"{r.agent}: cumulative returns", legend_position="top_left")


def _distribution(r: _Run, var_level: float):
    returns = (r.equity / r.equity.shift(1) - 1.0).iloc[1:] * 100.0
    stats = tear_sheet_stats(r.equity, var_level=var_level)
    counts, edges = np.histogram(returns.to_numpy(), bins=min(50, max(10, len(returns) // 5)))
    hist = hv.Histogram((edges, counts), kdims=[hv.Dimension("return", label="bar return (%)")],
                        vdims=["bars"])
    pct = f"{var_level:.0%}"
    var_line = hv.VLine(-float(stats["var_pct"]), label=f"VaR {pct}").opts(color="orange")
    cvar_line = hv.VLine(-float(stats["cvar_pct"]), label=f"CVaR {pct}").opts(color="red")
    return _opts(hist * var_line * cvar_line, f"{r.agent}: bar returns, VaR and CVaR {pct}")


def monthly_heatmap(run, agent: str):
    """Year × month heatmap of ``tables.monthly_returns`` (%), values written in."""
    return _monthly(_Run(run, agent))


def yearly_returns_bars(run, agent: str):
    """``tables.yearly_returns`` (%) of the agent and of buy & hold, bars side by side
    per UTC year (series ``agent`` and ``buy & hold``)."""
    return _yearly(_Run(run, agent))


def cumulative_returns(run, agent: str):
    """Growth of 1 (log scale) of the agent and the buy & hold benchmark."""
    return _cumulative(_Run(run, agent))


def return_distribution(run, agent: str, var_level: float = 0.95):
    """Histogram of bar returns (%) with the VaR and CVaR of ``risk.tear_sheet_stats``
    marked as lines at ``-var_pct`` and ``-cvar_pct``."""
    return _distribution(_Run(run, agent), var_level)


"""The tear sheet of one agent as composable HoloViews objects.

Each function takes a run (Competition, Recording or Replay, read through
``arena.analysis.runs.run_frames``) and an agent name, and draws the matching
``arena.analysis`` table; compose the results with ``+`` / ``*`` and style them with
``.opts(...)``. Agent names go into titles and legends (plain text in Bokeh), never
into hover templates (no hover tool is set here). Long histories are thinned to one
point per UTC day before plotting (:data:`MAX_POINTS`).
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend's options)
import numpy as np
import pandas as pd

from arena.analysis.risk import tear_sheet_stats
from arena.analysis.runs import benchmark_equity, run_frames
from arena.analysis.tables import MONTHS, monthly_returns, return_correlations, rolling_stats
from arena.analysis.tables import underwater as underwater_table
from arena.analysis.trades import round_trips

__all__ = [
    "MAX_POINTS",
    "correlation_heatmap",
    "cumulative_returns",
    "monthly_heatmap",
    "return_distribution",
    "rolling_sharpe",
    "rolling_volatility",
    "tear_sheet",
    "trade_scatter",
    "underwater",
]

MAX_POINTS = 5000  # above this many bars a curve is thinned to one point per UTC day
WIDTH, HEIGHT = 480, 280


class _Run:
    """The frames of a run, read once, with one agent's equity checked."""

    def __init__(self, run, agent: str | None):
        self.equity_frame, self.trades, self.bars = run_frames(run)
        names = list(self.equity_frame.columns)
        agent = names[0] if agent is None and names else agent
        if agent not in names:
            raise ValueError(f"no agent named {agent!r} in this run (agents: {names})")
        if len(self.equity_frame) < 2:
            raise ValueError("the run has fewer than 2 bars with equity: nothing to plot yet")
        self.agent = agent
        self.equity = self.equity_frame[agent].astype(float)


def _thin(s: pd.Series, how: str = "last") -> pd.Series:
    """``s`` itself up to :data:`MAX_POINTS` points, else one row per UTC day (the
    day's last row, or the row of its minimum for ``how="min"``), keeping real times.
    Leading NaNs (a rolling window filling up) go; later ones stay, drawn as gaps."""
    first = s.first_valid_index()
    s = s.iloc[:0] if first is None else s.loc[first:]
    if len(s) <= MAX_POINTS:
        return s
    day = s.index.floor("D")
    if how == "min":
        return s.loc[s.groupby(day).idxmin().dropna()]
    return s.groupby(day).tail(1)


def _frame(s: pd.Series, name: str) -> pd.DataFrame:
    return pd.DataFrame({"time": s.index.tz_convert("UTC").tz_localize(None),
                         name: s.to_numpy(dtype=float)})


def _opts(el, title: str, **kw):
    """``title`` as plain text: HoloViews formats titles (``{label}``), so braces from an
    agent's name are doubled."""
    title = title.replace("{", "{{").replace("}", "}}")
    return el.opts(title=title, width=WIDTH, height=HEIGHT, **kw)


# -- elements from frames -------------------------------------------------------------

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


def _cumulative(r: _Run):
    growth = _thin(r.equity / r.equity.iloc[0])
    curves = [hv.Curve(_frame(growth, "growth"), "time", "growth", label=r.agent)]
    if len(r.bars):
        bench = benchmark_equity(r.bars, float(r.equity.iloc[0]))
        bench = _thin(bench / bench.iloc[0])
        curves.append(hv.Curve(_frame(bench, "growth"), "time", "growth",
                               label="buy & hold").opts(line_dash="dashed", color="gray"))
    overlay = hv.Overlay([c.opts(logy=True, ylabel="growth of 1 (log)") for c in curves])
    return _opts(overlay, f"{r.agent}: cumulative returns", legend_position="top_left")


def _underwater(r: _Run):
    dd = _thin(underwater_table(r.equity) * 100.0, how="min")
    area = hv.Area(_frame(dd, "drawdown"), "time",
                   hv.Dimension("drawdown", label="drawdown (%)"))
    return _opts(area.opts(color="firebrick", alpha=0.5), f"{r.agent}: underwater")


def _window(r: _Run, window: int | None) -> int:
    """Default rolling window: a tenth of the bars, between 2 and 252."""
    return int(min(252, max(2, len(r.equity) // 10))) if window is None else window


def _rolling(r: _Run, window: int | None, column: str):
    w = _window(r, window)
    stats = rolling_stats(r.equity, w)
    s = stats[column] * (100.0 if column == "volatility" else 1.0)
    label = "Sharpe" if column == "sharpe" else "volatility (%, annualised)"
    curve = hv.Curve(_frame(_thin(s), column), "time", hv.Dimension(column, label=label))
    return _opts(curve, f"{r.agent}: rolling {label.split(' ')[0]} ({w} bars)")


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


def _trades(r: _Run):
    trips = round_trips(r.trades[r.trades["agent"] == r.agent])
    data = pd.DataFrame({
        "holding": pd.to_timedelta(trips["holding"]).dt.total_seconds().to_numpy(float) / 86400,
        "pnl": trips["pnl"].to_numpy(dtype=float)})
    scatter = hv.Scatter(data, hv.Dimension("holding", label="holding time (days)"),
                         hv.Dimension("pnl", label="trade PnL"))
    return _opts(scatter.opts(size=6, alpha=0.6),
                 f"{r.agent}: PnL per trade ({len(data)} closed)")


def _correlations(r: _Run):
    corr = return_correlations(r.equity_frame)
    long = corr.rename_axis(index="a", columns="b").stack().rename("rho").reset_index()
    heat = hv.HeatMap(long, kdims=["a", "b"], vdims=[hv.Dimension("rho", range=(-1, 1))])
    labels = hv.Labels(long.assign(text=long["rho"].map("{:.2f}".format)),
                       kdims=["a", "b"], vdims=["text"])
    heat = heat.opts(cmap="RdBu_r", clim=(-1, 1), colorbar=True, xrotation=45,
                     xlabel="", ylabel="")
    return _opts(heat * labels.opts(text_font_size="8pt"), "correlation of bar returns")


# -- public: a run and an agent -------------------------------------------------------

def monthly_heatmap(run, agent: str):
    """Year × month heatmap of ``tables.monthly_returns`` (%), values written in."""
    return _monthly(_Run(run, agent))


def cumulative_returns(run, agent: str):
    """Growth of 1 (log scale) of the agent and the buy & hold benchmark."""
    return _cumulative(_Run(run, agent))


def underwater(run, agent: str):
    """``tables.underwater`` (%) as an area."""
    return _underwater(_Run(run, agent))


def rolling_sharpe(run, agent: str, window: int | None = None):
    """``tables.rolling_stats`` Sharpe over ``window`` bars (default: a tenth of the run,
    2..252)."""
    return _rolling(_Run(run, agent), window, "sharpe")


def rolling_volatility(run, agent: str, window: int | None = None):
    """``tables.rolling_stats`` annualised volatility (%) over ``window`` bars."""
    return _rolling(_Run(run, agent), window, "volatility")


def return_distribution(run, agent: str, var_level: float = 0.95):
    """Histogram of bar returns (%) with the VaR and CVaR of ``risk.tear_sheet_stats``
    marked as lines at ``-var_pct`` and ``-cvar_pct``."""
    return _distribution(_Run(run, agent), var_level)


def trade_scatter(run, agent: str):
    """PnL of each ``trades.round_trips`` row against its holding time (days)."""
    return _trades(_Run(run, agent))


def correlation_heatmap(run, agent: str | None = None):
    """``tables.return_correlations`` of every agent of the run."""
    return _correlations(_Run(run, agent))


def tear_sheet(run, agent: str, window: int | None = None, var_level: float = 0.95):
    """Every element above as one ``hv.Layout`` in two columns (the run read once)."""
    r = _Run(run, agent)
    parts = [_cumulative(r), _monthly(r), _underwater(r), _distribution(r, var_level),
             _rolling(r, window, "sharpe"), _rolling(r, window, "volatility"), _trades(r),
             _correlations(r)]
    return hv.Layout(parts).cols(2)

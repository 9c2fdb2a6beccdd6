"""Risk views: underwater with the worst drawdown periods shaded, the table of those
periods, rolling Sharpe / volatility / beta, exposure and leverage over time."""

from __future__ import annotations

import holoviews as hv
import pandas as pd

from arena.analysis.exposure import exposure
from arena.analysis.tables import drawdown_periods
from arena.analysis.tables import underwater as underwater_table
from arena.ui.analysis.base import _frame, _opts, _Run, _table, _thin, _window

__all__ = ["drawdown_table", "exposure_plot", "rolling_beta", "rolling_sharpe",
           "rolling_volatility", "underwater"]

WORST = 5  # drawdown periods shaded and listed


def _naive(t) -> pd.Timestamp:
    return pd.Timestamp(t).tz_convert("UTC").tz_localize(None)


def _underwater(r: _Run, worst: int = WORST):
    dd = _thin(underwater_table(r.equity) * 100.0, how="min")
    area = hv.Area(_frame(dd, "drawdown"), "time",
                   hv.Dimension("drawdown", label="drawdown (%)"))
    area = area.opts(color="firebrick", alpha=0.5)
    if not worst:
        return _opts(area, f"{r.agent}: underwater")
    periods = drawdown_periods(r.equity, top=worst)
    last = r.equity.index[-1]
    spans = pd.DataFrame({
        "start": [_naive(t) for t in periods["start"]],
        "end": [_naive(last if pd.isna(t) else t) for t in periods["recovery"]]})
    shaded = hv.VSpans(spans, kdims=["start", "end"]).opts(color="gray", alpha=0.2)
    return _opts(area * shaded, f"{r.agent}: underwater")


def _drawdowns(r: _Run, worst: int = WORST):
    periods = drawdown_periods(r.equity, top=worst)
    times = pd.to_datetime(r.equity.index, utc=True)
    form = "%Y-%m-%d" if (times == times.normalize()).all() else "%Y-%m-%d %H:%M"

    def when(column):  # daily bars: the date alone
        return pd.to_datetime(periods[column], utc=True).dt.strftime(form)

    frame = pd.DataFrame({
        "start": when("start"), "trough": when("trough"),
        "recovery": when("recovery").fillna("not yet"),
        "depth (%)": (periods["depth"] * 100.0).round(2),
        "length": periods["length"].astype(str),
        "bars": periods["bars"]})
    return _table(frame, f"{r.agent}: the {len(frame)} worst drawdowns")


def _rolling(r: _Run, window: int | None, column: str):
    w = _window(r, window)
    stats = r.rolling(w)
    s = stats[column] * (100.0 if column == "volatility" else 1.0)
    label = {"sharpe": "Sharpe", "volatility": "volatility (%, annualised)",
             "beta": "beta (against buy & hold)"}[column]
    curve = hv.Curve(_frame(_thin(s), column), "time", hv.Dimension(column, label=label))
    return _opts(curve, f"{r.agent}: rolling {label.split(' ')[0]} ({w} bars)")


def _exposure(r: _Run):
    if r.closes is None:
        frame = pd.DataFrame({"gross": [], "net": []}, index=r.equity.index[:0])
    else:
        frame = exposure(r.fills, r.closes, r.equity)
    curves = []
    for column, label, style in (("gross", "gross (leverage)", {"color": "firebrick"}),
                                 ("net", "net", {"color": "#1f77b4", "line_dash": "dashed"})):
        curves.append(hv.Curve(_frame(_thin(frame[column]), "exposure"), "time",
                               hv.Dimension("exposure", label="exposure (× equity)"),
                               label=label).opts(interpolation="steps-post", **style))
    return _opts(hv.Overlay(curves), f"{r.agent}: exposure and leverage",
                 legend_position="top_left")


def underwater(run, agent: str, worst: int = WORST):
    """``tables.underwater`` (%) as an area, the ``worst`` deepest drawdown periods of
    ``tables.drawdown_periods`` shaded from start to recovery (to the last bar if not
    recovered); ``worst=0``: the area alone."""
    return _underwater(_Run(run, agent), worst)


def drawdown_table(run, agent: str, worst: int = WORST):
    """``tables.drawdown_periods`` (the ``worst`` deepest) as a table: start, trough,
    recovery, depth (%), length and bars."""
    return _drawdowns(_Run(run, agent), worst)


def rolling_sharpe(run, agent: str, window: int | None = None):
    """``tables.rolling_stats`` Sharpe over ``window`` bars (default: a tenth of the run,
    2..252)."""
    return _rolling(_Run(run, agent), window, "sharpe")


def rolling_volatility(run, agent: str, window: int | None = None):
    """``tables.rolling_stats`` annualised volatility (%) over ``window`` bars."""
    return _rolling(_Run(run, agent), window, "volatility")


def rolling_beta(run, agent: str, window: int | None = None):
    """``tables.rolling_stats`` beta against buy & hold over ``window`` bars."""
    return _rolling(_Run(run, agent), window, "beta")


def exposure_plot(run, agent: str):
    """``exposure.exposure`` gross (leverage) and net as multiples of equity."""
    return _exposure(_Run(run, agent))

"""Static Bokeh figures of a recorded run, drawn like the dashboard's charts.

The same dark theme (Panel's Fast dark style, the dashboard's template), the
same colour per agent (``PALETTE`` in agent order), the same glyphs: equity
lines with the dashed buy-and-hold benchmark, drawdown lines over a zero line,
a symbol's close with every fill as ▲ buy / ▼ sell outlined in its agent's
colour. Figures are fixed-size (exports have a requested size); long runs are
decimated to ``max_points`` bars per line keeping each line's extremes.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from bokeh.models import HoverTool, Legend, NumeralTickFormatter, Span
from bokeh.plotting import figure
from bokeh.themes import Theme
from bokeh.transform import factor_cmap, factor_mark
from panel.theme.fast import DARK_STYLE

from arena.ui.theme import DOWN, PALETTE, UP, epoch_ms
from streams.decimate import envelope_indices

BENCHMARK_COLOUR = "#9e9e9e"
MAX_POINTS = 10_000
SIDES = ["buy", "sell"]


def dark_theme() -> Theme:
    """The dashboard's Bokeh theme, with an opaque card-coloured border for files."""
    spec = copy.deepcopy(DARK_STYLE.create_bokeh_theme())
    spec["attrs"]["figure"].update(border_fill_color=DARK_STYLE.neutral_fill_card_rest,
                                   border_fill_alpha=1.0)
    return Theme(json=spec)


def agent_colours(agents: list[str]) -> dict[str, str]:
    """Agent → colour, as the dashboard assigns them (by position)."""
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(agents)}


def _wide(equity: pd.DataFrame, value: str, agents: list[str], max_points: int) -> dict:
    """Long equity rows → {'time': ms, agent: values...}, decimated."""
    wide = equity.pivot(index="time", columns="agent", values=value).sort_index()
    wide = wide.reindex(columns=agents)
    cols = {"time": epoch_ms(wide.index)}
    for i, agent in enumerate(agents):
        cols[f"a{i}"] = wide[agent].to_numpy(dtype=float)
    if len(wide) > max_points:
        idx = envelope_indices(np.nan_to_num(wide.to_numpy(dtype=float)), max_points)
        cols = {k: v[idx] for k, v in cols.items()}
    return cols


def _base(title: str, width: int, height: int, svg: bool, **kw):
    return figure(x_axis_type="datetime", width=width, height=height, title=title,
                  tools="pan,xwheel_zoom,box_zoom,reset,save", toolbar_location="above",
                  output_backend="svg" if svg else "canvas", sizing_mode="fixed", **kw)


def equity_figure(equity: pd.DataFrame, benchmark: pd.DataFrame, agents: list[str], *,
                  width: int, height: int, svg: bool = False, title: str = "Equity",
                  max_points: int = MAX_POINTS):
    """Equity per agent (rows: time, agent, equity) and the benchmark (time, equity)."""
    fig = _base(title, width, height, svg)
    fig.yaxis.formatter = NumeralTickFormatter(format="0,0")
    data = _wide(equity, "equity", agents, max_points)
    items = []
    for i, (agent, colour) in enumerate(agent_colours(agents).items()):
        r = fig.line(data["time"], data[f"a{i}"], line_width=2, color=colour, name=agent)
        items.append((agent, [r]))
    if not benchmark.empty:
        t = epoch_ms(benchmark["time"])
        v = benchmark["equity"].to_numpy(dtype=float)
        if len(t) > max_points:
            idx = envelope_indices(v, max_points)
            t, v = t[idx], v[idx]
        b = fig.line(t, v, line_width=1.5, line_dash="dashed", color=BENCHMARK_COLOUR,
                     name="buy & hold")
        items.append(("buy & hold (benchmark)", [b]))
    fig.add_layout(Legend(items=items, click_policy="hide", location="top_left"), "right")
    fig.add_tools(HoverTool(tooltips=[("agent", "$name"), ("time", "$x{%F}"),
                                      ("equity", "$y{0,0.00}")],
                            formatters={"$x": "datetime"}))
    return fig


def drawdown_figure(equity: pd.DataFrame, agents: list[str], *, width: int, height: int,
                    svg: bool = False, title: str = "Drawdown %",
                    max_points: int = MAX_POINTS):
    """Drawdown % per agent (rows: time, agent, drawdown_pct) over a zero line."""
    fig = _base(title, width, height, svg)
    data = _wide(equity, "drawdown_pct", agents, max_points)
    items = []
    for i, (agent, colour) in enumerate(agent_colours(agents).items()):
        r = fig.line(data["time"], data[f"a{i}"], line_width=1.5, color=colour, name=agent)
        items.append((agent, [r]))
    fig.add_layout(Span(location=0, dimension="width", line_color="#777", line_width=1))
    fig.add_layout(Legend(items=items, click_policy="hide", location="top_left"), "right")
    fig.add_tools(HoverTool(tooltips=[("agent", "$name"), ("time", "$x{%F}"),
                                      ("drawdown", "$y{0.00} %")],
                            formatters={"$x": "datetime"}))
    return fig


def price_figure(bars: pd.DataFrame, trades: pd.DataFrame, symbol: str, agents: list[str], *,
                 width: int, height: int, svg: bool = False, title: str | None = None,
                 max_points: int = MAX_POINTS):
    """``symbol``'s close (rows: time, symbol, close) with every agent's fills on it."""
    fig = _base(title or f"{symbol} close", width, height, svg)
    fig.yaxis.formatter = NumeralTickFormatter(format="0,0.00")
    mine = bars[bars["symbol"] == symbol]
    t, close = epoch_ms(mine["time"]), mine["close"].to_numpy(dtype=float)
    if len(t) > max_points:
        idx = envelope_indices(np.nan_to_num(close), max_points)
        t, close = t[idx], close[idx]
    fig.line(t, close, color="#cfd8dc", line_width=1.5, name=symbol)
    fills = trades[trades["symbol"] == symbol]
    if not fills.empty:
        source = {"time": epoch_ms(fills["time"]), "price": fills["price"].to_numpy(dtype=float),
                  "agent": fills["agent"].astype(str).tolist(),
                  "side": fills["side"].astype(str).tolist(),
                  "quantity": fills["quantity"].to_numpy(dtype=float)}
        palette = list(agent_colours(agents).values()) or ["#ffffff"]
        dots = fig.scatter(
            "time", "price", source=source, size=11, line_width=1.2, fill_alpha=0.9,
            marker=factor_mark("side", ["triangle", "inverted_triangle"], SIDES),
            fill_color=factor_cmap("side", [UP, DOWN], SIDES),
            line_color=factor_cmap("agent", palette, agents), name="fills")
        fig.add_tools(HoverTool(renderers=[dots], tooltips=[
            ("agent", "@agent"), ("side", "@side"), ("quantity", "@quantity{0,0.[0000]}"),
            ("price", "@price{0,0.00[00]}"), ("time", "@time{%F %R}")],
            formatters={"@time": "datetime"}))
    return fig

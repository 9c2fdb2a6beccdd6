"""Equity chart: a line per agent plus the buy-and-hold benchmark, with the
drawdown chart linked beneath (shared time axis).

Data goes to the browser as one wide ColumnDataSource (time, a column per agent
and one for the benchmark, worked out here from the closes at the same bars: a
source of its own would send the times again), streamed: each pull sends only
the new bars. History is decimated (every line's extremes kept); when the source
grows past twice ``max_points`` it is decimated again, so what the browser holds
stays bounded. Values go rounded to what the chart shows (equity to the cent).

A page's cost is mostly its Bokeh models (each is made, themed, serialized and
collected again for every session), so the chart keeps them few: plain lines, one
hover tool for every agent's line, and the legend as one button group (its labels
text, as Bokeh writes a button's label) rather than a figure of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import (
    CDSView,
    CheckboxButtonGroup,
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    CustomJSTransform,
    DatetimeAxis,
    Grid,
    HoverTool,
    NumeralTickFormatter,
    Span,
)
from bokeh.plotting import figure

from arena.metrics import buy_and_hold_equity
from arena.ui.chartdata import append_bounded, decimate, plain_line
from arena.ui.feed import SessionFeed
from arena.ui.theme import PALETTE, epoch_ms

# what the charts and their tooltips show: equity to the cent, drawdown to 1/1000 %;
# a few bars go to the browser as JSON lists, where 101234.57 is half the bytes of
# 101234.56789012345
DECIMALS = {"equity": 2, "drawdown_pct": 3}
BENCH = "bench"  # the buy-and-hold line's column
LEGEND_COLUMNS = 2  # two fit above the chart beside the leaderboard at 1366 px
LEGEND_ROW = 20  # px per legend entry
BENCH_COLOUR = "#9e9e9e"
# the legend's buttons as a legend: no button look, entries in columns filled top to
# bottom, each with its line's swatch before its label (a rule per entry, added), and
# dimmed while its line is hidden
_LEGEND_CSS = """
:host { font-size: 13px; }
.bk-btn-group { display: grid; grid-auto-flow: column; padding: 6px;
  grid-template-rows: repeat(%(rows)d, %(row)dpx); grid-template-columns: repeat(%(ncols)d, %(column)dpx); }
.bk-btn-group .bk-btn, .bk-btn-group .bk-btn.bk-active, .bk-btn-group .bk-btn:hover {
  background: none; border: 0; border-radius: 0; box-shadow: none; margin: 0; padding: 0 4px 0 0;
  height: %(row)dpx; line-height: %(row)dpx; color: #e5e5e5; text-align: left; cursor: pointer;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; opacity: 0.4; }
.bk-btn-group .bk-btn.bk-active { opacity: 1; }
.bk-btn-group .bk-btn::before { content: ""; display: inline-block; width: 20px;
  margin-right: 5px; vertical-align: middle; }
"""


def legend_column_width(labels: list[str]) -> int:
    """Pixels for a legend column: the swatch and the longest label (Bokeh's 13 px
    font, about 7 px a character), within 120 to 260 px (longer names are cut)."""
    return max(120, min(260, 34 + 7 * max(map(len, labels), default=0)))


def drawdown_column(column: str) -> str:
    """The drawdown column of an agent's equity column: ``d3`` for ``a3`` (column
    names travel with every update)."""
    return "d" + column[1:]


# the legend: a button per line, pressed while its line shows; a click shows or hides
# the agent's equity and drawdown lines (``lines[i]``: the renderers of button i)
_SHOW_JS = """
const on = new Set(cb_obj.active)
lines.forEach((rs, i) => { for (const r of rs) r.visible = on.has(i) })"""
# the hover's agent (``$name`` is the line's column) and PnL (from its equity);
# Bokeh escapes what a formatter returns, so an agent's name shows as text
_HOVER_JS = """
if (format === "agent") return agents[value] ?? value
return (100 * (source.data[value][special_vars.index] / base - 1)).toFixed(2) + ' %'"""
_PCT_JS = "const out = new Float64Array(xs.length); for (let i = 0; i < xs.length; i++) " \
          "out[i] = 100 * (xs[i] / base - 1); return out"


class EquityChart(pn.viewable.Viewer):
    """Equity per agent over time, live; drawdown linked beneath."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    percent = param.Boolean(default=False, doc="show return in % instead of equity")
    max_points = param.Integer(default=2000, bounds=(100, 50_000),
                               doc="most bars kept in the browser per line")
    chunk_points = param.Integer(default=300, doc="a pull with more bars is decimated to this")

    def __init__(self, **params):
        super().__init__(**params)
        self._toggle = pn.widgets.RadioButtonGroup.from_param(
            self.param.percent, options={"Equity": False, "Return %": True}, name="")
        self._pane = pn.pane.Bokeh(sizing_mode="stretch_both", min_height=260)
        self._dd_pane = pn.pane.Bokeh(sizing_mode="stretch_width", height=150)
        self._legend_pane = pn.pane.Bokeh(sizing_mode="fixed", margin=0)
        self._columns: dict[str, str] = {}
        self._rebuild(list(self.feed.competition.agent_names))
        self.feed.subscribe("equity", self._on_rows, self._on_reset)

    # -- figures -------------------------------------------------------------------
    def _rebuild(self, agents: list[str]) -> None:
        self._cash = cash = float(self.feed.competition.config.portfolio.cash)
        self._columns = {a: f"a{i}" for i, a in enumerate(agents)}
        data = {"time": []}
        for col in self._columns.values():
            data[col] = []
            data[drawdown_column(col)] = []
        data[BENCH] = []
        self.source = ColumnDataSource(data)
        self._pct = CustomJSTransform(args={"base": cash}, v_func=_PCT_JS)
        fig = figure(x_axis_type="datetime", sizing_mode="stretch_both", min_height=260,
                     tools="pan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom",
                     toolbar_location="above", title="Equity")
        fig.yaxis.formatter = NumeralTickFormatter(format="0,0")
        # the drawdown chart shares the time axis's ticker and formatter (14 models)
        dd = figure(x_axis_type=None, x_range=fig.x_range, sizing_mode="stretch_width",
                    height=150, tools="pan,xwheel_zoom,reset", toolbar_location=None,
                    title="Drawdown %")
        ticker, formatter = fig.xaxis[0].ticker, fig.xaxis[0].formatter
        dd.add_layout(DatetimeAxis(ticker=ticker, formatter=formatter), "below")
        dd.add_layout(Grid(dimension=0, ticker=ticker))
        view = CDSView()  # one for every line: none filters the source
        # each line is named by its column: the hover's ``@$name`` is the line's value
        self._equity_renderers, lines, entries = [], [], []
        for i, (agent, col) in enumerate(self._columns.items()):
            colour = PALETTE[i % len(PALETTE)]
            r = plain_line(fig, self.source, "time", {"field": col}, line_width=2,
                           line_color=colour, name=col, view=view)
            d = plain_line(dd, self.source, "time", drawdown_column(col), line_width=1.5,
                           line_color=colour, name=drawdown_column(col), view=view)
            self._equity_renderers.append((r, col))
            lines.append([r, d])
            entries.append((agent, colour, "solid"))
        fig.add_tools(HoverTool(
            renderers=[r for r, _ in self._equity_renderers], mode="mouse",
            tooltips=[("agent", "$name{agent}"), ("time", "@time{%F}"),
                      ("equity", "@$name{0,0.00}"), ("PnL", "$name{pnl}")],
            formatters={"@time": "datetime", "$name": CustomJSHover(
                args={"agents": {c: a for a, c in self._columns.items()},
                      "source": self.source, "base": cash}, code=_HOVER_JS)}))
        b = plain_line(fig, self.source, "time", {"field": BENCH}, line_width=1.5,
                       line_dash="dashed", line_color=BENCH_COLOUR, name=BENCH, view=view)
        self._equity_renderers.append((b, BENCH))
        lines.append([b])
        entries.append(("buy & hold (benchmark)", BENCH_COLOUR, "dashed"))
        dd.add_layout(Span(location=0, dimension="width", line_color="#777", line_width=1))
        self._legend_pane.object = self._legend(entries, lines)
        self._fig, self._dd = fig, dd
        self._apply_percent()
        self._pane.object = fig
        self._dd_pane.object = dd

    @staticmethod
    def _legend(entries: list[tuple[str, str, str]], lines: list[list]) -> CheckboxButtonGroup:
        """The legend: a button per ``(label, colour, dash)`` entry, its line drawn
        before its label, in ``LEGEND_COLUMNS`` columns filled top to bottom above the
        chart (beside it, the chart's plot area got too narrow for its dates at 1366 px
        next to the leaderboard). Clicking an entry hides (or shows) its lines
        (``lines``, one list per entry), in the browser.

        One model and a few CSS rules, where a Bokeh legend needs a figure of its own
        (inside the equity figure it re-renders on every update): 80 fewer models in
        every session's page. The labels are the buttons' text, never markup."""
        ncols = min(LEGEND_COLUMNS, len(entries)) or 1
        rows = -(-len(entries) // ncols)
        column = legend_column_width([label for label, _, _ in entries])
        swatches = "\n".join(
            f".bk-btn:nth-child({i})::before {{ border-top: 2px {dash} {colour}; }}"
            for i, (_, colour, dash) in enumerate(entries, 1))
        css = _LEGEND_CSS % {"rows": rows, "row": LEGEND_ROW, "ncols": ncols,
                             "column": column} + swatches
        group = CheckboxButtonGroup(
            labels=[label for label, _, _ in entries], active=list(range(len(entries))),
            width=12 + ncols * column, height=12 + LEGEND_ROW * rows, sizing_mode="fixed",
            margin=0, stylesheets=[css], css_classes=["arena-legend"])
        group.js_on_change("active", CustomJS(args={"lines": lines}, code=_SHOW_JS))
        return group

    @param.depends("percent", watch=True)
    def _apply_percent(self) -> None:
        for r, col in self._equity_renderers:
            r.glyph.y = {"field": col, "transform": self._pct} if self.percent else {"field": col}
        self._fig.yaxis.formatter = NumeralTickFormatter(
            format="0.0" if self.percent else "0,0")
        self._fig.title.text = "Return %" if self.percent else "Equity"

    # -- data ------------------------------------------------------------------------
    def _on_reset(self) -> None:
        """Same agents and cash: empty the lines (the figures stay); else new figures."""
        agents = list(self.feed.competition.agent_names)
        if agents == list(self._columns) and \
                self._cash == float(self.feed.competition.config.portfolio.cash):
            self.source.data = {k: [] for k in self.source.data}
        else:
            self._rebuild(agents)

    def _on_rows(self, rows: pd.DataFrame) -> None:
        if not self._columns:
            self._rebuild(list(self.feed.competition.agent_names))
        bars, first, row = np.unique(rows["bar"].to_numpy(dtype=np.int64), return_index=True,
                                     return_inverse=True)
        if not len(bars):
            return
        col = pd.Categorical(rows["agent"], categories=list(self._columns)).codes
        known = col >= 0  # agents the chart does not know (yet) are left out
        new = {"time": epoch_ms(rows["time"].iloc[first])}
        for field, column in (("equity", str), ("drawdown_pct", drawdown_column)):
            wide = np.full((len(bars), len(self._columns)), np.nan)
            wide[row[known], col[known]] = np.round(rows[field].to_numpy(dtype=float)[known],
                                                    DECIMALS[field])
            for j, c in enumerate(self._columns.values()):
                new[column(c)] = wide[:, j]
        close = self.feed.competition.data.close  # (a bar's close comes before its equity)
        new[BENCH] = np.round(buy_and_hold_equity(close, bars, self._cash), DECIMALS["equity"])
        new = decimate(new, self.chunk_points)
        append_bounded(self.source, new, self.max_points)

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("#### Equity", margin=(0, 10)), pn.HSpacer(), self._toggle,
                   sizing_mode="stretch_width"),
            # the legend above the chart, lined up with its plot area (a margin of the
            # pane itself would go to the figure, whose export then cuts its right side)
            pn.Row(self._legend_pane, margin=(0, 0, 0, 56)),
            self._pane, self._dd_pane, sizing_mode="stretch_both")

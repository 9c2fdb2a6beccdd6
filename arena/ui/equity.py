"""Equity chart: a line per agent plus the buy-and-hold benchmark, with the
drawdown chart linked beneath (shared time axis).

Data goes to the browser as one wide ColumnDataSource (time, a column per agent
and one for the benchmark, worked out here from the closes at the same bars: a
source of its own would send the times again), streamed: each pull sends only
the new bars. History is decimated (every line's extremes kept); when the source
grows past twice ``max_points`` it is decimated again, so what the browser holds
stays bounded. Values go rounded to what the chart shows (equity to the cent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    CustomJSTransform,
    HoverTool,
    Legend,
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


def legend_column_width(labels: list[str]) -> int:
    """Pixels for a legend column: the swatch and the longest label (Bokeh's 13 px
    font, about 7 px a character), within 120 to 260 px (longer names are cut)."""
    return max(120, min(260, 34 + 7 * max(map(len, labels), default=0)))


def drawdown_column(column: str) -> str:
    """The drawdown column of an agent's equity column: ``d3`` for ``a3`` (column
    names travel with every update)."""
    return "d" + column[1:]


_SHOW_JS = """
for (const name of names) {
  const r = cb_obj.document.get_model_by_name(name)
  if (r != null) r.visible = cb_obj.visible
}"""
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
        pnl = CustomJSHover(args={"base": cash},
                            code="return (100 * (value / base - 1)).toFixed(2) + ' %'")
        fig = figure(x_axis_type="datetime", sizing_mode="stretch_both", min_height=260,
                     tools="pan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom",
                     toolbar_location="above", title="Equity")
        fig.yaxis.formatter = NumeralTickFormatter(format="0,0")
        legend_items = []
        self._equity_renderers = []
        for i, (agent, col) in enumerate(self._columns.items()):
            r = plain_line(fig, self.source, "time", {"field": col}, line_width=2,
                           line_color=PALETTE[i % len(PALETTE)], name=f"{agent}@{fig.id}")
            self._equity_renderers.append((r, col))
            legend_items.append((agent, [r]))
            fig.add_tools(HoverTool(renderers=[r], tooltips=[
                ("agent", agent), ("time", "@time{%F}"), ("equity", f"@{col}{{0,0.00}}"),
                ("PnL", f"@{col}{{custom}}")],
                formatters={"@time": "datetime", f"@{col}": pnl}, mode="mouse"))
        b = plain_line(fig, self.source, "time", {"field": BENCH}, line_width=1.5,
                       line_dash="dashed", line_color="#9e9e9e", name=f"buy & hold@{fig.id}")
        self._equity_renderers.append((b, BENCH))
        legend_items.append(("buy & hold (benchmark)", [b]))
        dd = figure(x_axis_type="datetime", x_range=fig.x_range, sizing_mode="stretch_width",
                    height=150, tools="pan,xwheel_zoom,reset", toolbar_location=None,
                    title="Drawdown %")
        for i, (agent, col) in enumerate(self._columns.items()):
            plain_line(dd, self.source, "time", drawdown_column(col),
                       line_color=PALETTE[i % len(PALETTE)],
                       line_width=1.5, name=f"{agent}@{dd.id}")
        dd.add_layout(Span(location=0, dimension="width", line_color="#777", line_width=1))
        self._legend_pane.object = self._legend(legend_items, dd)
        self._fig, self._dd = fig, dd
        self._apply_percent()
        self._pane.object = fig
        self._dd_pane.object = dd

    @staticmethod
    def _legend(items: list, dd) -> figure:
        """The legend, in a small figure of its own whose swatches' data never changes,
        in ``LEGEND_COLUMNS`` columns above the chart (beside it, the chart's plot area
        got too narrow for its dates at 1366 px next to the leaderboard).

        A Bokeh legend inside the equity figure re-renders its items (a new canvas for
        each swatch) every time a line's data changes, i.e. on every update; here it
        renders once. Clicking an entry hides (or shows) that agent's equity and
        drawdown lines: each swatch's visibility is linked to theirs in the browser.
        """
        ncols = min(LEGEND_COLUMNS, len(items)) or 1
        column = legend_column_width([label for label, _ in items])
        fig = figure(width=12 + ncols * column, height=12 + 20 * -(-len(items) // ncols),
                     toolbar_location=None,
                     tools="", min_border=0, outline_line_color=None,
                     x_range=(0, 1), y_range=(0, 1), sizing_mode="fixed")
        fig.axis.visible = False
        fig.grid.visible = False
        drawdowns = {r.name.rsplit("@", 1)[0]: r.name for r in dd.renderers if r.name}
        swatches = []
        # two points outside the figure's ranges: Bokeh draws no swatch for a line
        # without data, and these never change
        nothing = ColumnDataSource({"x": [2, 3], "y": [2, 3]})
        for label, (real,) in items:
            glyph = real.glyph
            swatch = plain_line(fig, nothing, "x", "y", line_color=glyph.line_color,
                                line_width=glyph.line_width, line_dash=glyph.line_dash)
            # by name, not by reference: the legend re-renders whenever anything it
            # references changes, and a reference would reach the lines' data
            names = [real.name, drawdowns.get(real.name.rsplit("@", 1)[0])]
            swatch.js_on_change("visible", CustomJS(args={"names": [n for n in names if n]},
                                                    code=_SHOW_JS))
            swatches.append((label, [swatch]))
        fig.add_layout(Legend(items=swatches, click_policy="hide", location="top_left",
                              border_line_alpha=0, background_fill_alpha=0, margin=0,
                              padding=6, spacing=0, glyph_height=20, label_height=20,
                              glyph_width=20, label_standoff=5, label_width=column - 25,
                              ncols=ncols))
        return fig

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

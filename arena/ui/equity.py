"""Equity chart: a line per agent plus the buy-and-hold benchmark, with the
drawdown chart linked beneath (shared time axis).

Data goes to the browser as one wide ColumnDataSource (time + a column per
agent), streamed: each pull sends only the new bars. History is decimated
(every line's extremes kept); when the source grows past twice ``max_points``
it is decimated again, so what the browser holds stays bounded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import (
    ColumnDataSource,
    CustomJSHover,
    CustomJSTransform,
    HoverTool,
    Legend,
    NumeralTickFormatter,
    Span,
)
from bokeh.plotting import figure

from arena.ui.feed import SessionFeed
from arena.ui.theme import PALETTE, epoch_ms
from streams.decimate import envelope_indices

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
            self.param.percent, options={"Equity": False, "Return %": True},
            button_type="default", name="")
        self._pane = pn.pane.Bokeh(sizing_mode="stretch_both", min_height=260)
        self._dd_pane = pn.pane.Bokeh(sizing_mode="stretch_width", height=150)
        self._columns: dict[str, str] = {}
        self._rebuild([])
        self.feed.subscribe("equity", self._on_rows, self._on_reset)
        self.feed.subscribe("benchmark", self._on_bench, self._on_bench_reset)

    # -- figures -------------------------------------------------------------------
    def _rebuild(self, agents: list[str]) -> None:
        cash = float(self.feed.competition.config.portfolio.cash)
        self._columns = {a: f"a{i}" for i, a in enumerate(agents)}
        data = {"time": []}
        for col in self._columns.values():
            data[col] = []
            data[col + "_dd"] = []
        self.source = ColumnDataSource(data)
        self.bench = ColumnDataSource({"time": [], "equity": []})
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
            r = fig.line("time", {"field": col}, source=self.source, line_width=2,
                         color=PALETTE[i % len(PALETTE)], name=agent)
            self._equity_renderers.append((r, col))
            legend_items.append((agent, [r]))
            fig.add_tools(HoverTool(renderers=[r], tooltips=[
                ("agent", agent), ("time", "@time{%F}"), ("equity", f"@{col}{{0,0.00}}"),
                ("PnL", f"@{col}{{custom}}")],
                formatters={"@time": "datetime", f"@{col}": pnl}, mode="mouse"))
        b = fig.line("time", {"field": "equity"}, source=self.bench, line_width=1.5,
                     line_dash="dashed", color="#9e9e9e", name="buy & hold")
        self._equity_renderers.append((b, "equity"))
        legend_items.append(("buy & hold (benchmark)", [b]))
        fig.add_layout(Legend(items=legend_items, click_policy="hide", location="top_left"),
                       "right")
        dd = figure(x_axis_type="datetime", x_range=fig.x_range, sizing_mode="stretch_width",
                    height=150, tools="pan,xwheel_zoom,reset", toolbar_location=None,
                    title="Drawdown %")
        for i, (agent, col) in enumerate(self._columns.items()):
            dd.line("time", col + "_dd", source=self.source, color=PALETTE[i % len(PALETTE)],
                    line_width=1.5, name=agent)
        dd.add_layout(Span(location=0, dimension="width", line_color="#777", line_width=1))
        self._fig, self._dd = fig, dd
        self._apply_percent()
        self._pane.object = fig
        self._dd_pane.object = dd

    @param.depends("percent", watch=True)
    def _apply_percent(self) -> None:
        for r, col in self._equity_renderers:
            r.glyph.y = {"field": col, "transform": self._pct} if self.percent else {"field": col}
        self._fig.yaxis.formatter = NumeralTickFormatter(
            format="0.0" if self.percent else "0,0")
        self._fig.title.text = "Return %" if self.percent else "Equity"

    # -- data ------------------------------------------------------------------------
    def _on_reset(self) -> None:
        self._rebuild(list(self.feed.competition.agent_names))

    def _on_bench_reset(self) -> None:
        self.bench.data = {"time": [], "equity": []}

    def _on_rows(self, rows: pd.DataFrame) -> None:
        if not self._columns:
            self._rebuild(list(self.feed.competition.agent_names))
        wide = rows.pivot_table(index=["bar", "time"], columns="agent",
                                values=["equity", "drawdown_pct"], sort=True)
        if wide.empty:
            return
        times = epoch_ms(wide.index.get_level_values("time"))
        new = {"time": times}
        for agent, col in self._columns.items():
            new[col] = wide["equity"][agent].to_numpy() if agent in wide["equity"] else \
                np.full(len(times), np.nan)
            new[col + "_dd"] = wide["drawdown_pct"][agent].to_numpy() \
                if agent in wide["drawdown_pct"] else np.full(len(times), np.nan)
        new = _decimate(new, self.chunk_points)
        self._append(self.source, new)

    def _on_bench(self, rows: pd.DataFrame) -> None:
        new = _decimate({"time": epoch_ms(rows["time"]), "equity": rows["equity"].to_numpy()},
                        self.chunk_points)
        self._append(self.bench, new)

    def _append(self, source: ColumnDataSource, new: dict) -> None:
        n = len(source.data["time"])
        if n + len(new["time"]) > 2 * self.max_points:
            merged = {k: np.concatenate([np.asarray(source.data[k], dtype=float), v])
                      for k, v in new.items()}
            source.data = _decimate(merged, self.max_points)
        else:
            source.stream(new)

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("#### Equity", margin=(0, 10)), pn.HSpacer(), self._toggle,
                   sizing_mode="stretch_width"),
            self._pane, self._dd_pane, sizing_mode="stretch_both")


def _decimate(columns: dict[str, np.ndarray], max_points: int) -> dict[str, np.ndarray]:
    n = len(columns["time"])
    if n <= max_points:
        return columns
    values = np.column_stack([v for k, v in columns.items() if k != "time"])
    idx = envelope_indices(np.nan_to_num(values), max_points)
    return {k: np.asarray(v)[idx] for k, v in columns.items()}

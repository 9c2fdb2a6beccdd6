"""Price chart: the close of one symbol at a time, with every agent's fills on it.

One Bokeh figure holds a close line and a marker layer per symbol; the symbol
buttons only switch which ones are visible (nothing is resent). Prices are
streamed (history comes decimated, a source past twice ``max_points`` is
decimated again); fills are streamed as markers (▲ buy, ▼ sell, outlined in the
agent's colour) with the newest ``max_markers`` kept per symbol.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import (
    AllIndices,
    CDSView,
    ColumnDataSource,
    DataRange1d,
    GroupFilter,
    HoverTool,
    NumeralTickFormatter,
    UnionFilter,
)
from bokeh.plotting import figure

from arena.ui.feed import SessionFeed
from arena.ui.theme import DOWN, PALETTE, UP
from streams.decimate import envelope_indices

_MARKER_COLUMNS = ("time", "price", "agent", "side", "quantity", "marker", "fill", "edge")


def epoch_ms(times) -> np.ndarray:
    """UTC times → float milliseconds since the epoch (Bokeh's datetime unit)."""
    t = pd.DatetimeIndex(times)
    if t.tz is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.values.astype("datetime64[ms]").astype(np.int64).astype(float)


class PriceChart(pn.viewable.Viewer):
    """Close price per symbol (one shown at a time) with the agents' buys and sells."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    symbol = param.Selector(default=None, objects=[], doc="the symbol on show")
    agents = param.ListSelector(default=[], objects=[],
                                doc="agents whose fills are marked (none chosen: all)")
    max_points = param.Integer(default=2000, bounds=(100, 50_000),
                               doc="most bars kept in the browser per symbol")
    chunk_points = param.Integer(default=300, doc="a pull with more bars is decimated to this")
    max_markers = param.Integer(default=2000, bounds=(10, 100_000),
                                doc="newest fills kept as markers per symbol")

    def __init__(self, **params):
        super().__init__(**params)
        self._symbols: tuple[str, ...] = ()
        self._pane = pn.pane.Bokeh(sizing_mode="stretch_both", min_height=240)
        self._picker = pn.widgets.RadioButtonGroup.from_param(
            self.param.symbol, label="", color="default", variant="outline",
            margin=(2, 5))
        self._agent_picker = pn.widgets.MultiChoice.from_param(
            self.param.agents, label="", placeholder="fills of: all agents", width=260,
            margin=(2, 5), max_items=None)
        self._rebuild()
        self.feed.subscribe("prices", self._on_prices, self._rebuild)
        self.feed.subscribe("trades", self._on_trades, self._on_trades_reset)

    # -- figure ---------------------------------------------------------------------
    def _rebuild(self) -> None:
        comp = self.feed.competition
        symbols = tuple(comp.data.symbols)
        names = list(comp.agent_names)
        self._colour = {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(names)}
        if symbols == self._symbols and set(names) == set(self.param.agents.objects):
            self._clear()
            return
        self._symbols = symbols
        self.param.symbol.objects = list(symbols)
        self.param.agents.objects = names
        self.agents = [a for a in self.agents if a in names]
        fig = figure(x_axis_type="datetime", sizing_mode="stretch_both", min_height=240,
                     tools="pan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom",
                     toolbar_location="above", x_range=DataRange1d(only_visible=True),
                     y_range=DataRange1d(only_visible=True))
        fig.yaxis.formatter = NumeralTickFormatter(format="0,0.00")
        self.sources: dict[str, ColumnDataSource] = {}
        self.markers: dict[str, ColumnDataSource] = {}
        self._lines, self._dots, self._views = {}, {}, {}
        hover = HoverTool(tooltips=[("agent", "@agent"), ("side", "@side"),
                                    ("quantity", "@quantity{0,0.[0000]}"),
                                    ("price", "@price{0,0.00[00]}"), ("time", "@time{%F %R}")],
                          formatters={"@time": "datetime"}, renderers=[])
        line_hover = HoverTool(tooltips=[("time", "@time{%F %R}"), ("close", "@close{0,0.00[00]}")],
                               formatters={"@time": "datetime"}, renderers=[], mode="vline")
        for sym in symbols:
            src = ColumnDataSource({"time": [], "close": []}, name=f"prices-{sym}")
            mk = ColumnDataSource({c: [] for c in _MARKER_COLUMNS}, name=f"fills-{sym}")
            line = fig.line("time", "close", source=src, color="#cfd8dc", line_width=1.5,
                            name=sym)
            self._views[sym] = view = CDSView(filter=self._marker_filter())  # one per source
            dots = fig.scatter("time", "price", source=mk, view=view, marker="marker",
                               fill_color="fill", line_color="edge", size=11, line_width=1.2,
                               fill_alpha=0.9, name=f"{sym} fills")
            self.sources[sym], self.markers[sym] = src, mk
            self._lines[sym], self._dots[sym] = line, dots
            line_hover.renderers.append(line)
            hover.renderers.append(dots)
        fig.add_tools(line_hover, hover)
        self._fig = fig
        if self.symbol not in symbols:
            self.symbol = symbols[0] if symbols else None
        self._show_symbol()
        self._pane.object = fig

    def _clear(self) -> None:
        for src in self.sources.values():
            src.data = {"time": [], "close": []}
        self._on_trades_reset()

    def _marker_filter(self):
        chosen = [a for a in self.agents if a in self.param.agents.objects]
        if not chosen:
            return AllIndices()
        return UnionFilter(operands=[GroupFilter(column_name="agent", group=a) for a in chosen])

    @param.depends("symbol", watch=True)
    def _show_symbol(self) -> None:
        for sym, line in self._lines.items():
            line.visible = self._dots[sym].visible = sym == self.symbol
        if self.symbol is not None:
            self._fig.title.text = f"{self.symbol} close"

    @param.depends("agents", watch=True)
    def _filter_agents(self) -> None:
        for view in getattr(self, "_views", {}).values():
            view.filter = self._marker_filter()

    # -- data -------------------------------------------------------------------------
    def _on_prices(self, rows: pd.DataFrame) -> None:
        symbols = rows["symbol"].to_numpy()
        times = epoch_ms(rows["time"])
        close = rows["close"].to_numpy(dtype=float)
        for sym, src in self.sources.items():
            mask = symbols == sym
            if not mask.any():
                continue
            new = _decimate({"time": times[mask], "close": close[mask]}, self.chunk_points)
            self._append(src, new)

    def _append(self, source: ColumnDataSource, new: dict) -> None:
        n = len(source.data["time"])
        if n + len(new["time"]) > 2 * self.max_points:
            merged = {k: np.concatenate([np.asarray(source.data[k], dtype=float), v])
                      for k, v in new.items()}
            source.data = _decimate(merged, self.max_points)
        else:
            source.stream(new)

    def _on_trades_reset(self) -> None:
        for mk in self.markers.values():
            mk.data = {c: [] for c in _MARKER_COLUMNS}

    def _on_trades(self, rows: pd.DataFrame) -> None:
        symbols = rows["symbol"].to_numpy()
        buy = rows["side"].to_numpy() == "buy"
        times = epoch_ms(rows["time"])
        agents = rows["agent"].to_numpy(dtype=object)
        for sym, mk in self.markers.items():
            mask = symbols == sym
            if not mask.any():
                continue
            b = buy[mask]
            mk.stream({
                "time": times[mask], "price": rows["price"].to_numpy(dtype=float)[mask],
                "agent": agents[mask].tolist(),
                "side": np.where(b, "buy", "sell").tolist(),
                "quantity": rows["quantity"].to_numpy(dtype=float)[mask],
                "marker": np.where(b, "triangle", "inverted_triangle").tolist(),
                "fill": np.where(b, UP, DOWN).tolist(),
                "edge": [self._colour.get(a, "#ffffff") for a in agents[mask]],
            }, rollover=self.max_markers)

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("#### Prices", margin=(0, 10)), self._picker, pn.HSpacer(),
                   self._agent_picker, sizing_mode="stretch_width"),
            self._pane, sizing_mode="stretch_both")


def _decimate(columns: dict[str, np.ndarray], max_points: int) -> dict[str, np.ndarray]:
    n = len(columns["time"])
    if n <= max_points:
        return columns
    idx = envelope_indices(np.nan_to_num(columns["close"]), max_points)
    return {k: np.asarray(v)[idx] for k, v in columns.items()}

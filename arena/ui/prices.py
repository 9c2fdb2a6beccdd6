"""Price chart: the close of one symbol at a time, with every agent's fills on it.

One Bokeh figure holds a close line per symbol and one marker layer; the symbol
buttons only switch which line is visible and which fills the marker view lets
through (nothing is resent). Closes go to the browser as one wide source (time
plus a column per symbol), streamed: each pull sends only the new bars; history
comes decimated, and a source past twice ``max_points`` is decimated again.
Fills are streamed as markers (▲ buy green, ▼ sell red, outlined in the agent's
colour), the newest ``max_markers`` kept. A fill's agent, symbol and side travel
as short codes (their place in the chart's lists, as text: ``"3"`` for
``"mean_reversion"``); the markers, filters and hover map them back in the page.
In a live run a hollow circle (``forming``) marks the exchange's latest price of
the candle still forming: a mark, not a bar, replaced at every ticker.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import (
    CDSView,
    ColumnDataSource,
    CustomJSHover,
    DataRange1d,
    GroupFilter,
    HoverTool,
    IntersectionFilter,
    NumeralTickFormatter,
    UnionFilter,
)
from bokeh.plotting import figure
from bokeh.transform import factor_cmap, factor_mark

from arena.ui.chartdata import append_bounded, decimate, plain_line, small_as_lists
from arena.ui.feed import SessionFeed
from arena.ui.safe import MultiChoice
from arena.ui.theme import DOWN, PALETTE, UP, epoch_ms

FILL_COLUMNS = ("time", "price", "agent", "side", "quantity", "symbol")
SIDES = ["buy", "sell"]
_NAME_JS = "return names[value] ?? String(value)"  # a code's name (hover)
# what the hover shows at most (0,0.00[00]); adjusted prices such as 31.81080909147365
# would otherwise travel with all their digits
PRICE_DECIMALS = 4


def codes(names: list[str]) -> list[str]:
    """The codes of ``names``: their places, as text."""
    return [str(i) for i in range(len(names))]


def code_of(name, names: list[str]) -> str:
    """``name``'s code in ``names`` (one not there: itself)."""
    return str(names.index(name)) if name in names else str(name or "")


def coded(values: pd.Series, names: list[str]) -> list[str]:
    """Each value's code in ``names`` (values not there go as they are)."""
    index = {n: str(i) for i, n in enumerate(names)}
    return [index.get(v, str(v)) for v in values.tolist()]


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
                                doc="newest fills kept as markers")

    def __init__(self, **params):
        super().__init__(**params)
        self._symbols: tuple[str, ...] = ()
        self.columns: dict[str, str] = {}
        self._pane = pn.pane.Bokeh(sizing_mode="stretch_both", min_height=240)
        self._picker = pn.widgets.RadioButtonGroup.from_param(
            self.param.symbol, label="", color="default", variant="outline",
            margin=(2, 5))
        # (180 px: the header, with the symbol buttons, fits the chart's column at 1366 px)
        self._agent_picker = MultiChoice.from_param(
            self.param.agents, label="", placeholder="fills of: all agents", width=180,
            margin=(2, 5), max_items=None)
        self._rebuild()
        self.feed.subscribe("prices", self._on_prices, self._rebuild)
        self.feed.subscribe("trades", self._on_trades, self._on_trades_reset)
        self.feed.param.watch(self._on_ticker, "ticker")

    # -- figure ---------------------------------------------------------------------
    def _rebuild(self) -> None:
        comp = self.feed.competition
        symbols = tuple(comp.data.symbols)
        names = list(comp.agent_names)
        if symbols == self._symbols and names == list(self.param.agents.objects):
            self._clear()
            return
        self._symbols = symbols
        self.param.symbol.objects = list(symbols)
        self.param.agents.objects = names
        self.agents = [a for a in self.agents if a in names]
        self.columns = {sym: f"c{j}" for j, sym in enumerate(symbols)}
        fig = figure(x_axis_type="datetime", sizing_mode="stretch_both", min_height=240,
                     tools="pan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom",
                     toolbar_location="above", x_range=DataRange1d(only_visible=True),
                     y_range=DataRange1d(only_visible=True))
        fig.yaxis.formatter = NumeralTickFormatter(format="0,0.00")
        self.source = ColumnDataSource(self._empty_prices(), name="prices")
        self.fills = ColumnDataSource({c: [] for c in FILL_COLUMNS}, name="fills")
        self._lines = {}
        for sym, col in self.columns.items():
            line = plain_line(fig, self.source, "time", col, line_color="#cfd8dc",
                              line_width=1.5, name=sym)
            fig.add_tools(HoverTool(renderers=[line], mode="vline", tooltips=[
                ("time", "@time{%F %R}"), (sym, f"@{col}{{0,0.00[00]}}")],
                formatters={"@time": "datetime"}))
            self._lines[sym] = line
        self.view = CDSView(filter=self._fill_filter())
        palette = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
        self._dots = fig.scatter(
            "time", "price", source=self.fills, view=self.view, size=11, line_width=1.2,
            marker=factor_mark("side", ["triangle", "inverted_triangle"], codes(SIDES)),
            fill_color=factor_cmap("side", [UP, DOWN], codes(SIDES)),
            line_color=factor_cmap("agent", palette or ["#ffffff"], codes(names)),
            fill_alpha=0.9, name="fills")
        fig.add_tools(HoverTool(renderers=[self._dots], tooltips=[
            ("agent", "@agent{custom}"), ("side", "@side{custom}"),
            ("quantity", "@quantity{0,0.[0000]}"), ("price", "@price{0,0.00[00]}"),
            ("time", "@time{%F %R}")],
            formatters={"@time": "datetime",
                        "@agent": CustomJSHover(args={"names": names}, code=_NAME_JS),
                        "@side": CustomJSHover(args={"names": SIDES}, code=_NAME_JS)}))
        self.forming = ColumnDataSource({"time": [], "price": [], "symbol": []},
                                        name="forming")
        self._forming_view = CDSView(filter=GroupFilter(column_name="symbol", group=""))
        marks = fig.scatter("time", "price", source=self.forming, view=self._forming_view,
                            size=10, marker="circle", fill_alpha=0, line_color="#ffb74d",
                            line_width=2, line_dash="dotted", name="forming-mark")
        fig.add_tools(HoverTool(renderers=[marks], tooltips=[
            ("forming", "@price{0,0.00[00]} (latest price, not a bar)"),
            ("time", "@time{%F %T}")], formatters={"@time": "datetime"}))
        self._fig = fig
        if self.symbol not in symbols:
            self.symbol = symbols[0] if symbols else None
        self._show_symbol()
        self._pane.object = fig

    def _empty_prices(self) -> dict:
        return {"time": [], **{col: [] for col in self.columns.values()}}

    def _clear(self) -> None:
        self.source.data = self._empty_prices()
        self.forming.data = {"time": [], "price": [], "symbol": []}
        self._on_trades_reset()

    def _fill_filter(self):
        """Fills of the symbol on show, of the chosen agents (none chosen: all)."""
        symbols, names = list(self._symbols), list(self.param.agents.objects)
        by_symbol = GroupFilter(column_name="symbol", group=code_of(self.symbol, symbols))
        chosen = [a for a in self.agents if a in names]
        if not chosen:
            return by_symbol
        by_agent = UnionFilter(operands=[GroupFilter(column_name="agent", group=code_of(a, names))
                                         for a in chosen])
        return IntersectionFilter(operands=[by_symbol, by_agent])

    @param.depends("symbol", watch=True)
    def _show_symbol(self) -> None:
        if not hasattr(self, "_fig"):
            return
        for sym, line in self._lines.items():
            line.visible = sym == self.symbol
        self.view.filter = self._fill_filter()
        self._forming_view.filter = GroupFilter(column_name="symbol",
                                                group=code_of(self.symbol, list(self._symbols)))
        if self.symbol is not None:
            self._fig.title.text = f"{self.symbol} close"

    @param.depends("agents", watch=True)
    def _filter_agents(self) -> None:
        if hasattr(self, "view"):
            self.view.filter = self._fill_filter()

    # -- data -------------------------------------------------------------------------
    def _on_prices(self, rows: pd.DataFrame) -> None:
        bars = rows["bar"].to_numpy(dtype=np.int64)
        unique, slot = np.unique(bars, return_inverse=True)
        times = np.full(len(unique), np.nan)
        times[slot] = epoch_ms(rows["time"])
        new = {"time": times}
        symbols = rows["symbol"].to_numpy()
        close = np.round(rows["close"].to_numpy(dtype=float), PRICE_DECIMALS)
        for sym, col in self.columns.items():
            values = np.full(len(unique), np.nan)
            mask = symbols == sym
            values[slot[mask]] = close[mask]
            new[col] = values
        append_bounded(self.source, decimate(new, self.chunk_points), self.max_points)

    def _on_ticker(self, event) -> None:
        """The latest prices (a live run): one forming mark per symbol."""
        ticker = event.new or {}
        symbols = [s for s in self._symbols if s in ticker]
        self.forming.data = {
            "time": [float(pd.Timestamp(ticker[s]["time"]).value // 1_000_000) for s in symbols],
            "price": [round(float(ticker[s]["price"]), PRICE_DECIMALS) for s in symbols],
            "symbol": [code_of(s, list(self._symbols)) for s in symbols]}

    def _on_trades_reset(self) -> None:
        self.fills.data = {c: [] for c in FILL_COLUMNS}

    def _on_trades(self, rows: pd.DataFrame) -> None:
        self.fills.stream(small_as_lists({
            "time": epoch_ms(rows["time"]),
            "price": np.round(rows["price"].to_numpy(dtype=float), PRICE_DECIMALS),
            "agent": coded(rows["agent"], list(self.param.agents.objects)),
            "side": coded(rows["side"], SIDES),
            "quantity": rows["quantity"].to_numpy(dtype=float),
            "symbol": coded(rows["symbol"], list(self._symbols)),
        }), rollover=self.max_markers)

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("#### Prices", margin=(0, 10)), self._picker, pn.HSpacer(),
                   self._agent_picker, sizing_mode="stretch_width"),
            self._pane, sizing_mode="stretch_both")

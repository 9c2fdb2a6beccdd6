"""The dashboard's view components without a browser: each one gets rows from a
real competition through a SessionFeed (``comp.step(n); feed.pull()``) and must
show the competition's own numbers, stay bounded, stream only new rows, and keep
agent text literal."""

from __future__ import annotations

import io
import json
import re
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.document import Document
from bokeh.document.events import (
    ColumnDataChangedEvent,
    ColumnsStreamedEvent,
    MessageSentEvent,
)
from bokeh.protocol import Protocol
from bokeh.server.callbacks import NextTickCallback

from arena.agents.base import Agent, Decision
from arena.channels import EVENT_KINDS
from arena.config import RunSpec
from arena.data import synthetic
from arena.engine import Competition, CompetitionConfig
from arena.ui.chartdata import small_as_lists
from arena.ui.connection import DISCONNECTED, READY, ConnectionIndicator, configure_notifications
from arena.ui.decisions import DecisionsFeed, targets_text
from arena.ui.equity import EquityChart
from arena.ui.events import EventLog, wall_labels
from arena.ui.feed import SessionFeed
from arena.ui.hub import Hub, default_spec
from arena.ui.keyedview import KeyedView, number_text, wire
from arena.ui.leaderboard import Leaderboard
from arena.ui.logview import LogView, _wire, unwire
from arena.ui.market import MarketCards, StatStrip, SummaryBar, flat_card
from arena.ui.positions import PositionsTable
from arena.ui.prices import PriceChart
from arena.ui.theme import DOWN, EVENT_COLOURS, FLAT, UP, epoch_ms, event_group
from arena.ui.trades import TradeFeed, neutralise_formulas, time_labels, trades_csv

SPEC = RunSpec(symbols=("AAPL", "MSFT"), agents=("sma_cross", "momentum", "random"),
               config=CompetitionConfig(record=False))
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
FORMULA_NAME = '=HYPERLINK("http://evil.example","x")'
TRADE_TITLES = ["Time", "Agent", "Trade", "Price", "PnL"]

# hand-made positions tables (the keyed stream's columns) for the patch tests
POSITIONS_A = pd.DataFrame({
    "agent": ["momentum", "sma_cross", "sma_cross"], "symbol": ["AAPL", "AAPL", "MSFT"],
    "quantity": [10.0, 0.0, -5.0], "avg_price": [100.0, 0.0, 50.0],
    "last_price": [101.0, 101.0, 49.0], "market_value": [1010.0, 0.0, -245.0],
    "unrealised_pnl": [10.0, 0.0, 5.0], "realised_pnl": [0.0, 3.0, 0.0]})
POSITIONS_B = POSITIONS_A.assign(last_price=[102.0, 102.0, 49.0],
                                 market_value=[1020.0, 0.0, -245.0],
                                 unrealised_pnl=[20.0, 0.0, 5.0])
POSITIONS_C = pd.concat([POSITIONS_B, pd.DataFrame({  # momentum opens MSFT
    "agent": ["momentum"], "symbol": ["MSFT"], "quantity": [3.0], "avg_price": [49.0],
    "last_price": [49.0], "market_value": [147.0], "unrealised_pnl": [0.0],
    "realised_pnl": [0.0]})], ignore_index=True)
POSITIONS_D = POSITIONS_C.assign(quantity=[0.0, 0.0, -5.0, 3.0])  # momentum closes AAPL


def positions_of(agents: list[str], symbol: str, price: float) -> pd.DataFrame:
    """One open position per agent, every number derived from ``price``."""
    n = len(agents)
    return pd.DataFrame({"agent": agents, "symbol": [symbol] * n, "quantity": [price] * n,
                         "avg_price": [price] * n, "last_price": [price] * n,
                         "market_value": [price * price] * n, "unrealised_pnl": [price] * n,
                         "realised_pnl": [0.0] * n})


class XssAgent(Agent):
    """Flips between long and flat every 3 bars; its reasoning is an XSS attempt."""

    description = "test agent with hostile reasoning"

    def decide(self, obs):
        sym = obs.symbols[0]
        return Decision({sym: 0.5 if (obs.step // 3) % 2 == 0 else 0.0}, 0.7, XSS)


class FormulaAgent(XssAgent):
    """Same trades, but a name that a spreadsheet would run as a formula."""

    registered_name = FORMULA_NAME

    def decide(self, obs):
        sym = obs.symbols[0]
        return Decision({sym: -0.5 if (obs.step // 4) % 2 == 0 else 0.0}, 0.9, "short swing")


# -- helpers -----------------------------------------------------------------------------
@pytest.fixture
def hub():
    hub = Hub(SPEC)
    yield hub
    hub.competition.stop()


def show(hub: Hub, competition: Competition) -> None:
    """Put ``competition`` on show in ``hub`` (what Hub.replace does with a spec)."""
    hub.competition.stop()
    hub.param.update(competition=competition, version=hub.version + 1)


def synthetic_hub(hub: Hub, agents, bars: int = 400, symbols=("SYN",)) -> Hub:
    show(hub, Competition(synthetic(symbols, bars=bars, seed=3), agents,
                          CompetitionConfig(record=False)))
    return hub


def advance(feed: SessionFeed, bars: int) -> None:
    feed.competition.step(bars)
    feed.pull()


class Recorder:
    """Renders components into a Bokeh Document and records what would be sent."""

    def __init__(self, *components):
        self.doc = Document()
        self.doc.add_root(pn.Column(*components).get_root(self.doc))
        self.events = []
        self.doc.on_change(self.events.append)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def messages(self) -> list:
        """What LogViews sent (their custom messages), in order."""
        return [e.msg_data.data for e in self.of(MessageSentEvent)]

    def streamed_rows(self, prefix: str = "") -> list[int]:
        """Rows per stream message (of the sources whose name starts with ``prefix``)."""
        return [len(next(iter(e.data.values()))) for e in self.of(ColumnsStreamedEvent)
                if (e.model.name or "").startswith(prefix)]


def model_of(widget):
    return next(iter(widget._models.values()))[0]


def test_a_few_chart_rows_go_as_lists_with_whole_numbers_as_ints():
    cols = {"time": np.array([1107302400000.0, 1107388800000.0, 1107475200000.0]),
            "a0": np.array([100000.0, 101234.57, np.nan]), "d0": np.array([0.0, -0.0, -1.5])}

    sent = small_as_lists(cols)

    assert json.dumps(sent) == ('{"time": [1107302400000, 1107388800000, 1107475200000], '
                                '"a0": [100000, 101234.57, NaN], "d0": [0, -0.0, -1.5]}')
    for k, v in cols.items():  # the same numbers in the page
        np.testing.assert_array_equal(np.asarray(sent[k], dtype=float), v)
    many = {"time": np.arange(60.0)}
    assert small_as_lists(many) is many  # more rows: binary arrays


# -- price chart -------------------------------------------------------------------------
def closes_of(chart: PriceChart, sym: str) -> np.ndarray:
    return np.asarray(chart.source.data[chart.columns[sym]], dtype=float)


def test_price_chart_draws_each_symbols_closes_and_streams_only_new_bars(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    chart = PriceChart(feed=feed)
    rec = Recorder(chart)
    data = hub.competition.data

    advance(feed, 50)
    rec.events.clear()
    advance(feed, 20)

    for j, sym in enumerate(data.symbols):
        np.testing.assert_allclose(closes_of(chart, sym), np.round(data.close[:70, j], 4))
    assert rec.streamed_rows("prices") == [20]  # one message: the 20 new bars, all symbols
    assert not rec.of(ColumnDataChangedEvent)


def test_price_chart_stays_bounded_over_5000_bars(hub):
    synthetic_hub(hub, ["sma_cross"], bars=5200)
    feed = SessionFeed(hub=hub, table_period=0)
    chart = PriceChart(feed=feed, max_points=500)
    feed.pull()
    data = feed.competition.data

    sizes = []
    for _ in range(20):
        advance(feed, 250)
        sizes.append(len(chart.source.data["time"]))

    assert max(sizes) <= 2 * 500
    t = np.asarray(chart.source.data["time"], dtype=float)
    assert np.all(np.diff(t) > 0)
    expected_ends = pd.DatetimeIndex(data.times[[0, 4999]]).as_unit("ms").asi8.astype(float)
    assert (t[0], t[-1]) == tuple(expected_ends)  # first and newest bar survive decimation
    closes = closes_of(chart, "SYN")
    assert closes.max() == np.round(data.close[:5000, 0].max(), 4)  # the extremes survive
    assert closes.min() == np.round(data.close[:5000, 0].min(), 4)


def test_price_chart_marks_each_fill_at_its_price_and_time(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    chart = PriceChart(feed=feed)

    advance(feed, 400)

    trades = hub.competition.trades_frame()
    fills = chart.fills.data
    names, symbols = hub.competition.agent_names, hub.competition.data.symbols
    assert len(trades) > 10
    # agent, symbol and side go as their place in the chart's lists, as text
    assert [names[int(c)] for c in fills["agent"]] == list(trades["agent"])
    assert [symbols[int(c)] for c in fills["symbol"]] == list(trades["symbol"])
    assert [["buy", "sell"][int(c)] for c in fills["side"]] == list(trades["side"])
    assert {len(c) for c in fills["agent"]} == {1}  # 9 agents: "0".."8"
    np.testing.assert_allclose(fills["price"], np.round(trades["price"], 4))  # as shown
    np.testing.assert_allclose(fills["quantity"], trades["quantity"])
    np.testing.assert_allclose(fills["time"], pd.DatetimeIndex(trades["time"]).as_unit("ms")
                               .asi8.astype(float))
    glyph = chart._dots.glyph
    assert (glyph.marker.transform.markers, glyph.marker.transform.factors) == \
        (["triangle", "inverted_triangle"], ["0", "1"])
    assert list(glyph.fill_color.transform.palette) == [UP, DOWN]
    assert list(glyph.fill_color.transform.factors) == ["0", "1"]
    assert list(glyph.line_color.transform.factors) == [str(i) for i in range(len(names))]
    [hover] = [t for t in chart._fig.tools if getattr(t, "renderers", None) == [chart._dots]]
    tips = dict(hover.tooltips)
    assert {"agent", "side", "quantity", "price"} <= set(tips)
    # the hover shows the names: the codes' lists go to the page once, with the figure
    assert (tips["agent"], tips["side"]) == ("@agent{custom}", "@side{custom}")
    assert hover.formatters["@agent"].args["names"] == names
    assert hover.formatters["@side"].args["names"] == ["buy", "sell"]


def test_price_chart_keeps_only_the_newest_markers(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    chart = PriceChart(feed=feed, max_markers=10)

    for _ in range(8):
        advance(feed, 100)

    newest = hub.competition.trades_frame().tail(10)
    np.testing.assert_allclose(chart.fills.data["price"], np.round(newest["price"], 4))


def test_price_chart_symbol_and_agent_choices_only_change_visibility_and_filter(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    chart = PriceChart(feed=feed)
    advance(feed, 100)
    rec = Recorder(chart)

    chart.symbol = "MSFT"
    chart.agents = ["momentum"]

    assert [s for s, r in chart._lines.items() if r.visible] == ["MSFT"]
    by_symbol, by_agent = chart.view.filter.operands  # by code: MSFT's and momentum's
    symbols, names = hub.competition.data.symbols, hub.competition.agent_names
    assert (by_symbol.column_name, by_symbol.group) == ("symbol", str(symbols.index("MSFT")))
    assert [(f.column_name, f.group) for f in by_agent.operands] == \
        [("agent", str(names.index("momentum")))]
    assert not rec.of(ColumnDataChangedEvent) and not rec.of(ColumnsStreamedEvent)


def test_price_chart_follows_a_new_competition_with_other_symbols(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    chart = PriceChart(feed=feed)
    advance(feed, 30)

    synthetic_hub(hub, ["sma_cross"], symbols=("XAA", "XBB", "XCC"))
    advance(feed, 10)

    assert chart.param.symbol.objects == ["XAA", "XBB", "XCC"] and chart.symbol == "XAA"
    assert [len(closes_of(chart, s)) for s in ("XAA", "XBB", "XCC")] == [10, 10, 10]


# -- equity chart -------------------------------------------------------------------------
def equity_chart_after(hub, bars: int) -> tuple[EquityChart, Recorder]:
    """An equity chart fed ``bars`` bars, with a recorder of its later events."""
    feed = SessionFeed(hub=hub, table_period=0)
    chart = EquityChart(feed=feed)
    rec = Recorder(chart)
    advance(feed, bars)
    rec.events.clear()
    return chart, rec


def test_equity_chart_streams_each_agents_new_equity_to_the_cent(hub):
    chart, rec = equity_chart_after(hub, 40)

    advance(chart.feed, 5)

    eq = hub.competition.equity_frame()  # a column per agent
    for agent, col in chart._columns.items():
        shown = np.asarray(chart.source.data[col], dtype=float)
        assert len(shown) == 45
        np.testing.assert_allclose(shown, eq[agent].to_numpy(), rtol=0, atol=0.005)
        assert shown.tolist() == np.round(shown, 2).tolist()  # no more than cents travel
    streamed = rec.of(ColumnsStreamedEvent)
    assert [len(e.data["time"]) for e in streamed if e.model is chart.source] == [5]
    assert not rec.of(ColumnDataChangedEvent)


def test_equity_chart_draws_the_benchmark_line_from_a_column_of_the_same_source(hub):
    chart, rec = equity_chart_after(hub, 40)

    advance(chart.feed, 5)

    bench = hub.competition.streams.benchmark.since(0)[0]  # the engine's benchmark stream
    shown = np.asarray(chart.source.data["bench"], dtype=float)
    assert shown.tolist() == np.round(bench["equity"].to_numpy(), 2).tolist()  # 45 bars
    [line] = [r for r, col in chart._equity_renderers if col == "bench"]
    assert line.data_source is chart.source and line.glyph.y.field == "bench"
    assert (line.glyph.line_dash, line.glyph.line_color) == ([6], "#9e9e9e")
    # one stream message: the bars' times travel once for the agents and the benchmark
    [streamed] = rec.of(ColumnsStreamedEvent)
    assert streamed.model is chart.source and len(streamed.data["bench"]) == 5
    chart.percent = True
    assert line.glyph.y.transform is chart._pct  # Return %: the benchmark's too


def test_a_late_equity_chart_draws_the_benchmark_at_its_bars_with_its_extremes(hub):
    advance(SessionFeed(hub=hub, table_period=0), 1200)
    comp = hub.competition
    cash = comp.config.portfolio.cash
    bench = cash * (comp.data.close[:1200] / comp.data.close[0]).mean(axis=1)  # by hand

    late = SessionFeed(hub=hub, table_period=0, chart_points=100)
    chart = EquityChart(feed=late)
    late.pull()  # a session that opens now: the history, decimated

    times = np.asarray(chart.source.data["time"], dtype=np.int64)
    bars = np.searchsorted(epoch_ms(comp.data.times[:1200]).astype(np.int64), times)
    assert 40 <= len(bars) <= 100 and bars[0] == 0 and bars[-1] == 1199
    np.testing.assert_array_equal(np.asarray(chart.source.data["bench"], dtype=float),
                                  np.round(bench[bars], 2))
    assert {int(np.argmax(bench)), int(np.argmin(bench))} <= set(bars.tolist())


# -- positions -----------------------------------------------------------------------------
def test_positions_table_shows_open_positions_from_the_competition(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    table = PositionsTable(feed=feed)
    rec = Recorder(table)

    advance(feed, 300)

    snap = hub.competition.streams.positions.snapshot()
    open_ = snap[snap["quantity"] != 0].sort_values(["agent", "symbol"]).reset_index(drop=True)
    shown = table.table.frame
    assert len(shown) == len(open_) > 0
    assert list(shown["agent"]) == list(open_["agent"])
    for col in ("quantity", "avg_price", "last_price", "market_value", "unrealised_pnl"):
        np.testing.assert_allclose(shown[col].to_numpy(float), open_[col].to_numpy(float))
    # what the page has: prices to 1/10,000, money to the cent, unrealised PnL by its sign
    sent = np.array(table.table.rows, dtype=object)
    for j, col in enumerate(table.table.names):
        if col not in ("agent", "symbol"):
            np.testing.assert_allclose(sent[:, j].astype(float), open_[col].to_numpy(float),
                                       atol=0.005 if col in ("market_value", "unrealised_pnl")
                                       else 5e-5)
    spec = {c[0]: c[3] for c in table.table.columns}
    assert spec["unrealised_pnl"] == "n:2:2:s" and spec["last_price"] == "n:2:4"
    css = "".join(table.table._stylesheets)
    assert f".u {{ color: {UP}; }}" in css and f".d {{ color: {DOWN}; }}" in css
    assert f".f {{ color: {FLAT}; }}" in css
    # the page was sent exactly these rows (first message: every row, then changes)
    assert rec.messages()[-1] and table.table.snapshot()["add"] == [
        [i, *r] for i, r in zip(table.table.snapshot()["order"], table.table.rows, strict=True)]


def test_positions_table_sends_changed_cells_only_and_nothing_for_an_unchanged_table(hub):
    table = PositionsTable(feed=SessionFeed(hub=hub, table_period=0))
    rec = Recorder(table)

    table._on_table(POSITIONS_A)  # the flat sma_cross AAPL row is left out
    first = rec.messages()
    rec.events.clear()
    table._on_table(POSITIONS_B)
    changed = rec.messages()
    table._on_table(POSITIONS_B)

    assert list(table.table.frame["symbol"]) == ["AAPL", "MSFT"]
    assert list(table.table.frame["unrealised_pnl"]) == [20.0, 5.0]
    assert first == [{"add": [[0, "momentum", "AAPL", 10, 100, 101, 1010, 10],
                              [1, "sma_cross", "MSFT", -5, 50, 49, -245, 5]],
                      "order": [0, 1]}]
    names = table.table.names
    last, value, pnl = (names.index(c) for c in ("last_price", "market_value", "unrealised_pnl"))
    # only momentum AAPL moved: its price, value and PnL; no new rows, no new order
    assert changed == [{"set": [[0, last, 102, value, 1020, pnl, 20]]}]
    assert rec.messages() == changed  # the identical table sent nothing


def test_positions_table_adds_opened_positions_and_drops_closed_ones(hub):
    table = PositionsTable(feed=SessionFeed(hub=hub, table_period=0))
    rec = Recorder(table)
    table._on_table(POSITIONS_B)
    rec.events.clear()

    table._on_table(POSITIONS_C)
    opened = rec.messages()
    shown_c = table.table.frame[["agent", "symbol", "quantity"]].to_numpy().tolist()
    rec.events.clear()
    table._on_table(POSITIONS_D)
    closed = rec.messages()
    shown_d = table.table.frame[["agent", "symbol", "quantity"]].to_numpy().tolist()

    # sorted by agent, symbol: the new row lands in the middle; the others keep their
    # ids (0: momentum AAPL, 1: sma_cross MSFT), so nothing but the order moves
    assert shown_c == [["momentum", "AAPL", 10.0], ["momentum", "MSFT", 3.0],
                       ["sma_cross", "MSFT", -5.0]]
    assert opened == [{"add": [[2, "momentum", "MSFT", 3, 49, 49, 147, 0]],
                       "order": [0, 2, 1]}]
    # momentum AAPL closed: its row is dropped, nothing else is sent
    assert shown_d == [["momentum", "MSFT", 3.0], ["sma_cross", "MSFT", -5.0]]
    assert closed == [{"drop": [0], "order": [2, 1]}]
    assert table.table.rows == [["momentum", "MSFT", 3, 49, 49, 147, 0],
                                ["sma_cross", "MSFT", -5, 50, 49, -245, 5]]


def test_positions_table_replaces_every_row_when_every_key_changed(hub):
    table = PositionsTable(feed=SessionFeed(hub=hub, table_period=0))
    rec = Recorder(table)
    table._on_table(positions_of([f"a{i:02}" for i in range(20)], "AAPL", 1.0))
    rec.events.clear()

    table._on_table(positions_of([f"b{i:02}" for i in range(20)], "MSFT", 2.0))

    [msg] = rec.messages()
    assert [r[1] for r in msg["add"]] == [f"b{i:02}" for i in range(20)]
    assert msg["drop"] == list(range(20)) and msg["order"] == list(range(20, 40))
    assert "set" not in msg
    assert list(table.table.frame["agent"]) == [f"b{i:02}" for i in range(20)]


# -- leaderboard ---------------------------------------------------------------------------
def board_of(equity: dict[str, float]) -> pd.DataFrame:
    """A hand-made leaderboard (the stream's columns), ranked by equity."""
    agents = list(equity)
    eq = np.array([equity[a] for a in agents])
    rank = (-eq).argsort().argsort() + 1
    return pd.DataFrame({
        "agent": agents, "equity": eq, "pnl": eq - 100_000.0,
        "return_pct": (eq / 100_000.0 - 1) * 100, "sharpe": [0.5] * len(agents),
        "max_drawdown_pct": [-1.0] * len(agents), "win_rate_pct": [50.0] * len(agents),
        "trades": [3] * len(agents), "fees": [0.0] * len(agents),
        "exposure_pct": [10.0] * len(agents), "errors": [0] * len(agents),
        "last_action": ["hold"] * len(agents), "tokens": [0] * len(agents),
        "latency_ms": [np.nan] * len(agents), "cost_usd": [0.0] * len(agents), "rank": rank})


def test_leaderboard_shows_the_competitions_ranking_with_medals(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    board = Leaderboard(feed=feed)
    rec = Recorder(board)

    advance(feed, 200)

    want = hub.competition.leaderboard().sort_values("rank").reset_index(drop=True)
    shown = board.table.frame
    assert list(shown["agent"]) == list(want["agent"]) and list(shown["rank"]) == [1, 2, 3]
    for col in ("equity", "pnl", "return_pct", "sharpe", "max_drawdown_pct", "win_rate_pct",
                "trades"):
        np.testing.assert_array_equal(shown[col].to_numpy(float), want[col].to_numpy(float))
    sent = {r[board.table.names.index("agent")]: r for r in board.table.rows}
    eq, ret = board.table.names.index("equity"), board.table.names.index("return_pct")
    for agent, e, r in zip(want["agent"], want["equity"], want["return_pct"], strict=True):
        assert sent[agent][eq] == round(e) and sent[agent][ret] == round(r, 2)
    spec = {c[0]: c[1:] for c in board.table.columns}
    assert spec["rank"] == ["Rank", "44px", "rank"] and spec["move"][2] == "move"
    # rank to PnL first, within the ~450 px the leaderboard gets beside the equity chart
    # at 1366 px (cells and padding as KeyedView's minimum width counts them)
    names = [c[0] for c in board.table.columns]
    assert names[:6] == ["rank", "move", "agent", "return_pct", "equity", "pnl"]
    assert 8 + sum(8 + int(re.search(r"(\d+)px", spec[n][1])[1]) for n in names[:6]) <= 450
    assert spec["pnl"][2] == "n:0:0:s" and spec["cost_usd"] == ["Cost $", "62px", "n:4:4"]
    assert 'MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}' in KeyedView._esm
    assert rec.messages()


def test_leaderboard_re_rank_sends_the_order_and_the_changed_cells_only(hub):
    board = Leaderboard(feed=SessionFeed(hub=hub, table_period=0))
    rec = Recorder(board)
    board._on_board(board_of({"a": 101_000.0, "b": 100_500.0, "c": 99_000.0}))
    rec.events.clear()

    # b overtakes a; c moves by less than the dollar shown (and its % by < 0.01)
    board._on_board(board_of({"a": 101_000.0, "b": 102_000.0, "c": 99_000.3}))

    [msg] = rec.messages()
    names = board.table.names
    col = {c: names.index(c) for c in ("rank", "move", "equity", "pnl", "return_pct")}
    assert msg == {"set": [[1, col["rank"], 1, col["move"], 1, col["return_pct"], 2,
                            col["equity"], 102_000, col["pnl"], 2000],
                           [0, col["rank"], 2, col["move"], -1]],
                   "order": [1, 0, 2]}
    assert list(board.table.frame["agent"]) == ["b", "a", "c"]
    assert list(board.table.frame["move"]) == [1, -1, 0]
    assert board.table.frame["equity"].iloc[2] == 99_000.3  # full precision on the server

    # the next update: nobody moved, so the ▲/▼ marks go (and nothing else changes)
    rec.events.clear()
    board._on_board(board_of({"a": 101_000.0, "b": 102_000.0, "c": 99_000.3}))
    assert rec.messages() == [{"set": [[1, col["move"], 0], [0, col["move"], 0]]}]


def test_leaderboard_starts_afresh_on_a_new_run_and_a_sync_gets_the_whole_table(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    board = Leaderboard(feed=feed)
    rec = Recorder(board)
    advance(feed, 50)
    before = board.table.rows

    # a page that renders asks for the whole table
    rec.events.clear()
    board.table._handle_msg("sync")
    [sync] = rec.messages()
    assert sync["reset"] is True and sync["order"] == [r[0] for r in sync["add"]]
    assert [r[1:] for r in sync["add"]] == before

    # a reset: the page is cleared, the new run's rows get new ids and no rank moves
    rec.events.clear()
    hub.competition.reset()
    feed.pull()
    advance(feed, 5)
    msgs = rec.messages()
    assert msgs[0] == {"reset": True}
    assert sorted(r[0] for r in msgs[1]["add"]) == [0, 1, 2]
    move = board.table.names.index("move")
    assert [r[move] for r in board.table.rows] == [0, 0, 0]
    assert list(board.table.frame["equity"]) == list(
        hub.competition.leaderboard().sort_values("rank")["equity"])


def test_keyed_view_number_text_matches_what_the_page_shows():
    # what KeyedView's Intl.NumberFormat("en-US") shows for n:lo:hi (the browser tests
    # compare the page with it)
    assert number_text(1234567.891, 0, 0) == "1,234,568"
    assert number_text(-1234.5, 0, 0) == "-1,234"  # to even, like Python's round
    assert number_text(-0.004, 2, 2) == "0.00"
    assert number_text(12.3, 2, 4) == "12.30" and number_text(12.34567, 2, 4) == "12.3457"
    assert number_text(1500.0, 0, 6) == "1,500" and number_text(0.5, 0, 6) == "0.5"
    assert number_text(float("nan"), 2, 2) == "" and number_text(None, 2, 2) == ""
    assert wire(2.0, 2) == 2 and isinstance(wire(2.0, 2), int) and wire(np.nan, 2) is None
    assert wire("<b>x</b>", None) == "<b>x</b>"  # text goes as is: the page sets textContent


def test_keyed_view_refuses_a_table_without_its_columns_or_with_a_repeated_key():
    view = KeyedView(columns=[["agent", "Agent", "1fr", "text"], ["x", "X", "50px", "n:2:2"]],
                     key=["agent"], name="board")
    with pytest.raises(ValueError, match="board.*no column.*'x'"):
        view.update(pd.DataFrame({"agent": ["a"]}))
    with pytest.raises(ValueError, match="board.*same key"):
        view.update(pd.DataFrame({"agent": ["a", "a"], "x": [1.0, 2.0]}))


# -- trades ---------------------------------------------------------------------------------
def test_trade_feed_shows_the_competitions_fills_with_sides_and_pnl_coloured(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    trades = TradeFeed(feed=feed)

    advance(feed, 300)

    expected = hub.competition.trades_frame()
    rows = trades.table.rows  # oldest first; the page shows them newest first
    cells = pd.DataFrame([c for c, _ in rows], columns=TRADE_TITLES)
    assert len(cells) == len(expected) > 0
    assert list(cells["Agent"]) == list(expected["agent"])
    assert list(cells["Trade"]) == [f"{s} {q:,.0f} {sym}" for s, q, sym in zip(
        expected["side"], expected["quantity"], expected["symbol"], strict=True)]
    assert list(cells["Time"]) == list(expected["time"].dt.strftime("%Y-%m-%d"))
    np.testing.assert_allclose(cells["Price"].str.replace(",", "").astype(float),
                               expected["price"], atol=0.005)  # to the cent
    closed = expected["pnl"].notna().to_numpy()
    assert closed.any() and (cells["PnL"][~closed] == "").all()
    np.testing.assert_allclose(cells["PnL"][closed].str.replace(",", "").astype(float),
                               expected["pnl"][closed], atol=0.005)
    side_cls = [k[2] for _, k in rows]
    pnl_cls = [k[4] for _, k in rows]
    assert side_cls == ["u" if s == "buy" else "d" for s in expected["side"]]
    assert pnl_cls == ["u" if x > 0 else "d" if x < 0 else "f" for x in expected["pnl"]]


def test_trade_feed_is_bounded_and_sends_only_new_fills(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    trades = TradeFeed(feed=feed, max_rows=25)
    rec = Recorder(trades)
    advance(feed, 200)
    rec.events.clear()

    new = []  # fills per pull
    for _ in range(6):
        before = len(hub.competition.trades_frame())
        advance(feed, 100)
        new.append(len(hub.competition.trades_frame()) - before)

    all_fills = hub.competition.trades_frame()
    assert len(trades.table.rows) == 25
    assert [c[0] for c, _ in trades.table.rows] == \
        list(all_fills["time"].dt.strftime("%Y-%m-%d").tail(25))
    sent = rec.messages()
    assert sent and not any(m.get("reset") for m in sent)
    # each pull sends its new fills, at most a window's worth (older ones would drop out)
    assert [len(m["rows"]) for m in sent] == [min(n, 25) for n in new if n]
    assert not rec.of(ColumnDataChangedEvent) and not rec.of(ColumnsStreamedEvent)


def test_a_page_that_renders_later_asks_for_and_gets_the_rows_so_far(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    trades = TradeFeed(feed=feed, max_rows=30)
    rec = Recorder(trades)
    advance(feed, 300)
    rec.events.clear()

    trades.table._handle_msg("sync")  # what the page's render() sends

    (reply,) = rec.messages()
    assert reply["reset"] is True and unwire(reply["rows"]) == trades.table.rows
    assert len(reply["rows"]) == 30
    # a row goes as [cells, column, class, ...]: only the cells that have a class
    side, pnl = trades.table.rows[0][1][2], trades.table.rows[0][1][4]
    assert reply["rows"][0] == [trades.table.rows[0][0], 2, side, 4, pnl]


def test_trade_csv_export_is_the_full_history_with_formulas_neutralised(hub):
    show(hub, Competition(synthetic(("SYN",), bars=300, seed=5), [FormulaAgent(), XssAgent()],
                          CompetitionConfig(record=False)))
    feed = SessionFeed(hub=hub, table_period=0)
    trades = TradeFeed(feed=feed, max_rows=10)
    advance(feed, 200)

    csv = trades.download.callback().getvalue().decode("utf-8")
    back = pd.read_csv(io.StringIO(csv))

    full = hub.competition.trades_frame()
    assert len(full) > 10 and len(back) == len(full)  # the whole history, not the table
    assert set(back["agent"]) == {"'" + FORMULA_NAME, "XssAgent"}
    for col in ("quantity", "price", "fee", "pnl", "position"):
        assert pd.api.types.is_float_dtype(back[col])
        np.testing.assert_allclose(back[col], full[col])
    assert (back["pnl"] < 0).any()  # negative numbers stay numbers, no apostrophe
    assert back["time"].iloc[0] == full["time"].iloc[0].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert trades.download.filename.startswith("trades-") and trades.download.filename \
        .endswith(".csv")


def test_neutralise_formulas_touches_only_text_cells():
    frame = pd.DataFrame({"text": ["=1+2", "+cmd", "-x", "@SUM(A1)", "\tA", "plain", None],
                          "number": [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0]})

    out = neutralise_formulas(frame)

    assert list(out["text"][:6]) == ["'=1+2", "'+cmd", "'-x", "'@SUM(A1)", "'\tA", "plain"]
    assert pd.isna(out["text"][6])
    assert list(out["number"]) == [-1.5, 2.0, -3.0, 4.0, 5.0, 6.0, 7.0]
    assert list(frame["text"][:1]) == ["=1+2"]  # the input is not modified
    assert trades_csv(pd.DataFrame({"time": pd.to_datetime(["2024-01-02 15:30"]),
                                    "pnl": [-2.5]})) == "time,pnl\n2024-01-02T15:30:00Z,-2.5\n"


def test_views_payload_per_update_stays_small_with_9_agents_on_4_symbols():
    spec = default_spec()
    hub = Hub(replace(spec, config=replace(spec.config, record=False)))
    feed = SessionFeed(hub=hub, table_period=0)
    views = [PriceChart(feed=feed), PositionsTable(feed=feed), TradeFeed(feed=feed),
             DecisionsFeed(feed=feed), EventLog(feed=feed), ConnectionIndicator(feed=feed),
             EquityChart(feed=feed), Leaderboard(feed=feed)]
    strips = [MarketCards(feed=feed), SummaryBar(feed=feed)]
    rec = Recorder(*views, *strips)
    advance(feed, 100)
    protocol = Protocol()
    protocol.create("PATCH-DOC", rec.events)  # the page load: the page now has every model

    sizes = []
    for _ in range(10):  # one bar per update, as at a slow replay speed
        rec.events.clear()
        time.sleep(0.11)  # positions and leaderboard publish at most 10 times a second
        advance(feed, 1)
        msg = protocol.create("PATCH-DOC", rec.events)
        # (the feeds' and keyed tables' messages travel in the same PATCH-DOC)
        tables_and_charts = len(msg.content_json) + sum(len(b.to_bytes()) for b in msg.buffers)
        cards = sum(len(json.dumps(s.strip.live)) for s in strips)  # ESM data: sent as JSON
        sizes.append(tables_and_charts + cards)
    hub.competition.stop()

    assert len(hub.competition.trades_frame()) > 0
    assert np.mean(sizes) < 5000, sizes  # the aim: under 5 KB per update


# -- decisions --------------------------------------------------------------------------------
def test_decision_reasoning_reaches_the_table_literally_and_as_text(hub):
    synthetic_hub(hub, [XssAgent(), "sma_cross"])
    feed = SessionFeed(hub=hub, table_period=0)
    decisions = DecisionsFeed(feed=feed)
    rec = Recorder(decisions)

    advance(feed, 30)

    mine = [c for c, _ in decisions.table.rows if c[1] == "XssAgent"]
    assert len(mine) >= 4
    assert {c[4] for c in mine} == {XSS}  # sent as is: the page sets it as text
    assert {c[2] for c in mine} == {"SYN +50%", "SYN 0%"}
    assert {c[3] for c in mine} == {"0.70"}
    sent = [cells for m in rec.messages() for cells, _ in unwire(m.get("rows", []))]
    assert list({r[4] for r in sent if r[1] == "XssAgent"}) == [XSS]


def test_log_rows_send_a_repeated_cell_or_classes_once_per_message():
    rows = [[["2024-01-02", "momentum", "buy 5 AAPL", "1.00", ""], [None, None, "u", None, "f"]],
            [["2024-01-02", "macd", "buy 5 AAPL", "1.00", ""], [None, None, "u", None, "f"]],
            [["2024-01-02", "macd", "sell 0", "0", None], None],
            [["2024-01-03", "macd", "sell 0", "0", "0"], None],
            [["2024-01-03", "random", "0", "0", "+1.00"], [None, None, "d", None, "u"]]]

    sent = _wire(rows)

    assert sent == [
        [["2024-01-02", "momentum", "buy 5 AAPL", "1.00", ""], 2, "u", 4, "f"],
        [[0, "macd", 0, 0, 0]],  # the row before's cells and classes
        [[0, 0, "sell 0", "0", None], 0, None],  # no classes after a row with some
        [["2024-01-03", 0, 0, 0, "0"]],  # "0" is text, never the row before's cell
        [[0, "random", "0", 0, "+1.00"], 2, "d", 4, "u"]]
    assert unwire(sent) == rows
    assert len(json.dumps(sent)) < 0.8 * len(json.dumps([[c, *(x for i, k in enumerate(
        cls or ()) if k for x in (i, k))] for c, cls in rows]))


@pytest.mark.parametrize("view", [LogView, KeyedView])
def test_dom_tables_set_text_never_html(view):
    js = view._esm
    assert "textContent" in js
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in js, sink


def test_positions_and_leaderboard_show_agent_text_as_text(hub):
    synthetic_hub(hub, [XssAgent(), "sma_cross"])
    feed = SessionFeed(hub=hub, table_period=0)
    positions, board = PositionsTable(feed=feed), Leaderboard(feed=feed)

    advance(feed, 20)
    for _ in range(12):  # until the XssAgent holds something (long every other 3 bars)
        if "XssAgent" in positions.table.frame["agent"].tolist():
            break
        advance(feed, 1)

    for view in (positions.table, board.table):
        assert isinstance(view, KeyedView)
        kinds = {c[0]: c[3] for c in view.columns}
        assert kinds["agent"] == "text"  # set with textContent (above)
        assert "XssAgent" in view.frame["agent"].tolist()


def test_decision_filter_hides_other_agents_without_losing_their_rows(hub):
    synthetic_hub(hub, [XssAgent(), FormulaAgent()])
    feed = SessionFeed(hub=hub, table_period=0)
    decisions = DecisionsFeed(feed=feed)
    Recorder(decisions)
    advance(feed, 20)

    decisions.agent_filter.value = ["XssAgent"]
    shown_filter = (decisions.table.filter_column, decisions.table.filter_values)
    advance(feed, 40)
    decisions.agent_filter.value = []

    assert decisions.agent_filter.options == ["XssAgent", FORMULA_NAME]
    assert shown_filter == (1, ["XssAgent"])  # the page hides rows whose agent is not in it
    assert decisions.table.filter_values == []
    rows = [c for c, _ in decisions.table.rows]
    expected = hub.competition.streams.decisions.since(0)[0]
    assert len(rows) == len(expected)
    assert [r[1] for r in rows] == list(expected["agent"])


def test_decision_feed_is_bounded_and_options_follow_a_new_competition(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    decisions = DecisionsFeed(feed=feed, max_rows=15)
    advance(feed, 600)
    assert len(decisions.table.rows) == 15

    synthetic_hub(hub, [XssAgent()])
    feed.pull()

    assert decisions.agent_filter.options == ["XssAgent"]
    assert decisions.table.rows == []


def test_targets_text_reads_like_a_trader_would_say_it():
    assert targets_text('{"AAPL": 0.5, "MSFT": -0.25, "IBM": 0.0}') == \
        "AAPL +50% · MSFT -25% · IBM 0%"
    assert targets_text(None) == "hold"
    assert targets_text("not json <b>") == "not json <b>"


# -- events -----------------------------------------------------------------------------------
def test_event_log_is_bounded_and_coloured_by_group(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    log = EventLog(feed=feed, max_rows=40)
    rec = Recorder(log)

    for _ in range(5):
        advance(feed, 100)

    events = hub.competition.streams.events.since(0)[0]
    rows = log.table.rows
    assert len(events) > 40 and len(rows) == 40
    assert [c[2] for c, _ in rows] == list(events["kind"].tail(40))
    assert [c[4] for c, _ in rows] == list(events["message"].tail(40))
    assert [k[2] for _, k in rows] == ["g-" + event_group(k) for k in events["kind"].tail(40)]
    assert rec.messages()
    css = "".join(log.table._stylesheets)
    for group, colour in EVENT_COLOURS.items():
        assert f".g-{group} {{ color: {colour};" in css
    assert event_group("competition_started") == "lifecycle"
    assert event_group("engine_error") == "error"
    assert set(events["kind"]) <= set(EVENT_KINDS)
    assert "decision" not in set(events["kind"])  # decisions have their own feed


def test_event_log_shows_agent_errors_with_the_message_as_text(hub):
    class Broken(Agent):
        def decide(self, obs):
            raise RuntimeError(XSS)

    synthetic_hub(hub, [Broken()])
    feed = SessionFeed(hub=hub, table_period=0)
    log = EventLog(feed=feed)

    advance(feed, 3)

    errors = [c for c, _ in log.table.rows if c[2] == "agent_error"]
    assert len(errors) >= 1 and all(XSS in c[4] for c in errors)
    assert {c[3] for c in errors} == {"Broken"}


def test_time_and_wall_labels():
    times = pd.Series(pd.to_datetime(["2024-01-02 00:00", "2024-01-02 15:30", None], utc=True))
    assert list(time_labels(times, intraday=False)) == ["2024-01-02", "2024-01-02", ""]
    assert list(time_labels(times, intraday=True)) == ["2024-01-02 00:00", "2024-01-02 15:30",
                                                       ""]
    assert wall_labels(pd.Series(["2026-01-31T14:30:05.123Z", None])) == ["14:30:05", ""]


# -- market cards and summary -------------------------------------------------------------------
def test_market_cards_show_last_close_and_changes_even_after_a_decimated_history(hub):
    comp = hub.competition
    comp.step(400)
    feed = SessionFeed(hub=hub, chart_points=100)  # joins late: history is decimated
    cards = MarketCards(feed=feed)

    feed.pull()

    close = comp.data.close
    for j, sym in enumerate(comp.data.symbols):
        q = cards.quotes[sym]
        assert (q["bar"], q["close"], q["previous"], q["first"]) == \
            (399, close[399, j], close[398, j], close[0, j])
    aapl = close[:, 0]
    label, value, sub, _, _ = cards.strip.cards[0]
    assert (label, value) == ("AAPL", f"{aapl[399]:,.2f}")
    assert sub[0][0] == f"{100 * (aapl[399] / aapl[398] - 1):+.2f}%"
    assert sub[2][0] == f"{100 * (aapl[399] / aapl[0] - 1):+.2f}%"


def test_market_cards_colour_a_rise_up_and_a_fall_down(hub):
    cards = MarketCards(feed=SessionFeed(hub=hub, table_period=0))

    cards.quotes = {"AAPL": {"bar": 2, "close": 11.0, "previous": 10.0, "first": 12.0}}

    assert cards.strip.cards == [
        ["AAPL", "11.00", [["+10.00%", "u"], [" bar · ", ""], ["-8.33%", "d"], [" start", ""]],
         "u", None],
        ["MSFT", "–", "", "", None]]


def test_the_current_bar_shows_at_once_and_the_totals_with_the_tables(hub):
    # Arrange: tables (and so the totals) refresh at most every 300 ms
    feed = SessionFeed(hub=hub, table_period=300)
    cards, summary = MarketCards(feed=feed), SummaryBar(feed=feed)
    advance(feed, 5)
    shown = summary.strip.cards
    close = hub.competition.data.close

    # Act: a bar sooner than that
    advance(feed, 1)

    # Assert: the new bar everywhere it is the current bar (the market cards, the
    # summary's engine time and bar count, as the control panel: one current bar)...
    assert cards.quotes["AAPL"]["bar"] == 5
    assert cards.strip.cards[0][1] == f"{close[5, 0]:,.2f}"
    now = {c[0]: c for c in summary.strip.cards}
    assert now["Progress"][2].startswith("6/") and now["Engine"][2] == \
        str(hub.competition.data.timestamp(5))[:16]
    # ... while the totals wait for the tables, then follow
    current = ("Engine", "Progress", "Updates")
    assert [c for c in summary.strip.cards if c[0] not in current] == \
        [c for c in shown if c[0] not in current]
    time.sleep(0.35)
    feed.pull()
    board = hub.competition.leaderboard()
    assert summary.strip.cards[0][1] == f"{board['equity'].sum():,.0f}"

    # ... and the engine's state shows on the next pull whatever the tables do
    feed.table_period = 60_000
    hub.competition.stop()
    feed.pull()
    assert summary.strip.cards[4][1] == "stopped"


def test_summary_bar_totals_state_progress_and_update_counter(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    summary = SummaryBar(feed=feed)
    feed.pull()

    advance(feed, 327)

    board = hub.competition.leaderboard()
    snap = hub.competition.streams.positions.snapshot()
    cards = {c[0]: c for c in summary.strip.cards}
    assert cards["Total equity"][1] == f"{board['equity'].sum():,.0f}"
    assert cards["Total PnL"][1] == f"{board['pnl'].sum():+,.0f}"
    assert cards["Total PnL"][3] == ("u" if board["pnl"].sum() > 0 else "d")
    assert cards["Trades"][1] == str(board["trades"].sum())
    assert cards["Open positions"][1] == str(int((snap["quantity"] != 0).sum()))
    assert cards["Engine"][1:4] == ["paused", hub.competition.status()["time"][:16]
                                    .replace("T", " "), "state paused"]
    assert cards["Progress"][1:3] == ["10.0%", "327/3270 bars"]
    assert cards["Progress"][4] == 0.1
    assert cards["Updates"][1] == "2" == str(feed.updates)


def test_stat_strips_send_their_frame_once_and_then_only_the_fields_that_change(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    cards, summary = MarketCards(feed=feed), SummaryBar(feed=feed)
    Recorder(cards, summary)
    strips = [cards.strip, summary.strip]
    data = [model_of(s).data for s in strips]
    advance(feed, 5)
    frames = [s.frame for s in strips]

    for _ in range(3):
        advance(feed, 2)
        for strip, model in zip(strips, data, strict=True):
            # the page draws frame + live: the cards, field for field
            assert strip.shown() == [flat_card(c) for c in strip.cards]
            assert (model.frame, model.live) == (strip.frame, strip.live)
            assert "cards" not in model.properties()
    assert [s.frame for s in strips] == frames  # the labels and fixed text went once
    live = json.dumps(summary.strip.live)
    assert "Total equity" not in live and "bars/s" not in live and summary.strip.live[0]
    assert len(live) < 0.6 * len(json.dumps(summary.strip.cards))

    cards.quotes = {}  # the cards' layout changes (no quotes: no change pieces)
    assert cards.strip.frame == [flat_card(c) for c in cards.strip.cards]
    assert cards.strip.live == [[] for _ in cards.strip.cards]


def test_stat_strip_writes_text_never_html():
    assert "textContent" in StatStrip._esm and "innerHTML" not in StatStrip._esm


# -- connection -----------------------------------------------------------------------------------
def test_connection_heartbeat_follows_every_pull_and_reaches_the_browser_model(hub):
    feed = SessionFeed(hub=hub, period=500, heartbeat=500)
    conn = ConnectionIndicator(feed=feed)
    Recorder(conn)  # the feed param must not be sent to the browser

    for _ in range(3):
        feed.pull()  # nothing new after the first, still a heartbeat

    assert conn.heartbeat == 3
    assert model_of(conn).data.heartbeat == 3
    assert conn.stale_after == 5000  # 10 periods, at least 3 s
    feed.period = 100
    assert conn.stale_after == 3000
    feed.heartbeat = 2000
    assert conn.stale_after == 6000  # 3 missed heartbeats
    assert "connection_lost" in conn._esm and "location.reload()" in conn._esm


def test_configure_notifications_sets_panels_texts():
    before = (pn.config.disconnect_notification, pn.config.ready_notification)
    try:
        configure_notifications()
        assert (pn.config.disconnect_notification, pn.config.ready_notification) == \
            (DISCONNECTED, READY)
    finally:
        pn.config.disconnect_notification, pn.config.ready_notification = before


# -- reset ----------------------------------------------------------------------------------------
def test_every_view_empties_on_reset(hub):
    feed = SessionFeed(hub=hub, table_period=0)
    views = dict(prices=PriceChart(feed=feed), positions=PositionsTable(feed=feed),
                 trades=TradeFeed(feed=feed), decisions=DecisionsFeed(feed=feed),
                 cards=MarketCards(feed=feed), summary=SummaryBar(feed=feed))
    advance(feed, 200)

    hub.competition.reset()
    feed.pull()

    assert len(views["prices"].source.data["time"]) == 0
    assert len(views["prices"].fills.data["time"]) == 0
    assert views["positions"].table.frame.empty and views["positions"].table.rows == []
    for name in ("trades", "decisions"):
        assert views[name].table.rows == [], name
    assert views["cards"].quotes == {}
    assert views["summary"].totals == {} and views["summary"].open_positions == 0
    assert views["summary"].strip.cards[4][:2] == ["Engine", "idle"]


def test_keyed_tables_refresh_at_most_once_per_table_period(hub):
    # Arrange: the leaderboard and positions change every bar; a person reads them ~1/s
    feed = SessionFeed(hub=hub, table_period=60_000)
    boards = []
    feed.subscribe("leaderboard", boards.append)
    comp = hub.competition

    # Act
    comp.step(5)
    feed.pull()  # first delivery: straight away
    comp.step(5)
    feed.pull()  # within the period: held back
    feed.table_period = 0
    feed.pull()  # period over: the latest table arrives

    # Assert
    assert len(boards) == 2
    assert boards[-1].set_index("agent")["equity"].to_dict() == \
        comp.leaderboard().set_index("agent")["equity"].to_dict()


# -- the periodic check ---------------------------------------------------------------------------
def test_tick_pulls_only_when_there_is_news_or_a_heartbeat_is_due(hub):
    # Arrange: a session that has seen everything so far
    feed = SessionFeed(hub=hub, heartbeat=60_000, min_interval=0, table_period=0)
    pulls = []
    feed.param.watch(lambda e: pulls.append(e.new), "last_pull")
    feed.pull()
    pulls.clear()

    # Act / Assert: nothing new, no pull; a step, a pull; then quiet again
    assert feed.tick() is False and pulls == []
    hub.competition.step(1)
    assert feed.tick() is True and len(pulls) == 1
    assert feed.tick() is False
    feed.heartbeat = 100
    time.sleep(0.12)
    assert feed.tick() is True  # the heartbeat of an idle session
    assert len(pulls) == 2


def test_a_heartbeat_without_news_asks_the_streams_nothing(hub, monkeypatch):
    # Arrange: a session that has seen everything; its subscribers and the engine's
    # status are watched
    feed = SessionFeed(hub=hub, heartbeat=100, min_interval=0, table_period=0)
    rows = []
    feed.subscribe("equity", rows.append)
    feed.pull()
    rows.clear()
    asked = []
    status = hub.competition.status
    monkeypatch.setattr(hub.competition, "status", lambda: asked.append(1) or status())
    beat = feed.last_pull

    # Act: the heartbeat is due, nothing is new
    time.sleep(0.12)
    pulled = feed.tick()

    # Assert: the connection indicator's heartbeat, without a pull
    assert pulled is True and feed.last_pull > beat
    assert rows == [] and asked == []


def test_a_running_engines_status_is_shown_once_per_table_period_a_new_state_at_once(hub):
    # Arrange: a running engine; the first status of the run is shown
    feed = SessionFeed(hub=hub, heartbeat=60_000, min_interval=0, table_period=60_000)
    shown = []
    feed.param.watch(lambda e: shown.append(e.new), "status")
    comp = hub.competition
    comp.speed = 50
    comp.start()
    feed.pull()
    first = feed.status["bar"]

    # Act / Assert: more bars within table_period: pulled, the status stays
    deadline = time.monotonic() + 10
    while comp.bar <= first + 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    feed.pull()
    assert comp.bar > first
    assert len(shown) == 1 and feed.status["bar"] == first

    # a change of state is shown at once, and the status of a stopped engine each time
    comp.stop()
    feed.pull()
    assert feed.status["state"] == "stopped" and feed.status["bar"] == comp.bar
    assert len(shown) == 2


def test_sessions_pull_less_often_when_together_they_would_take_more_than_their_share(
        hub, monkeypatch):
    # Arrange: pulls have cost 20 ms of CPU lately
    from arena.ui import feed as feed_module

    monkeypatch.setattr(feed_module.PULL_COST, "seconds", 0.020)
    feed = SessionFeed(hub=hub, min_interval=250, viewer_share=0.5)

    # Act / Assert: 5 sessions at 4 pulls a second take 40 % of a core: min_interval;
    # 50 would take 400 %: each pulls every 2 s (50 x 20 ms / 2 s = 50 %)
    hub.sessions = 5
    assert feed.interval() == 250
    hub.sessions = 50
    assert feed.interval() == pytest.approx(2000)


def test_pull_cost_is_a_moving_average_of_pulls_with_news(hub, monkeypatch):
    # Arrange
    from arena.ui.feed import PULL_COST, PullCost

    cost = PullCost(seconds=0.01, weight=0.5)
    cost.add(0.03)
    assert cost.seconds == pytest.approx(0.02)
    monkeypatch.setattr(PULL_COST, "seconds", 1.0)
    feed = SessionFeed(hub=hub, table_period=0)
    feed.subscribe("equity", lambda rows: None)
    feed.pull()  # a page's first pull (a reload) is not counted
    assert PULL_COST.seconds == 1.0

    # Act: a pull with news
    hub.competition.step(2)
    feed.pull()

    # Assert: it took far less than a second, and counted
    assert PULL_COST.seconds < 1.0


def test_the_periodic_check_is_a_background_callback_that_leaves_panels_busy_state(hub):
    # Arrange: a session's feed in its document; Panel's busy state (one per process,
    # shown by every session's template) is watched
    import asyncio

    doc = Document()
    with pn.io.server.set_curdoc(doc):
        feed = SessionFeed(hub=hub).start()
    changes = []
    watcher = pn.state.param.watch(lambda e: changes.append(e.new), ["busy", "_busy_counter"])
    try:
        # Act: ten ticks, as the server runs them
        for _ in range(10):
            asyncio.run(feed._callback._periodic_callback())
    finally:
        pn.state.param.unwatch(watcher)
        feed.stop()

    # Assert
    assert changes == []


def test_tick_batches_a_fast_run_but_shows_a_new_state_at_once(hub):
    # Arrange
    feed = SessionFeed(hub=hub, heartbeat=60_000, min_interval=60_000, table_period=0)
    comp = hub.competition
    comp.speed = 50
    comp.start()
    deadline = time.monotonic() + 10
    while comp.bar < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    feed.pull()  # news: the min_interval starts now
    seen = feed.status["bar"]

    # Act / Assert: more bars within min_interval wait for a later tick
    time.sleep(0.1)  # 5 bars at 50 bars/s
    assert feed.tick() is False and feed.status["bar"] == seen
    feed.min_interval = 0
    assert feed.tick() is True
    assert feed.status["bar"] > seen

    # a change of state (here: stopped) is shown without waiting
    feed.min_interval = 60_000
    comp.stop()
    assert feed.tick() is True and feed.status["state"] == "stopped"


def test_tick_delivers_a_held_back_leaderboard_once_its_period_is_over(hub):
    # Arrange: the leaderboard was held back by table_period; then the engine is still
    feed = SessionFeed(hub=hub, heartbeat=60_000, min_interval=0, table_period=300)
    boards = []
    feed.subscribe("leaderboard", boards.append)
    comp = hub.competition
    comp.step(3)
    feed.pull()
    comp.step(1)
    feed.pull()  # held back
    n = len(boards)

    # Act
    held = feed.tick()  # nothing new, but the held table is not yet due
    time.sleep(0.35)
    due = feed.tick()

    # Assert
    assert (n, held, due) == (1, False, True) and len(boards) == 2
    assert boards[-1].set_index("agent")["equity"].to_dict() == \
        comp.leaderboard().set_index("agent")["equity"].to_dict()


def test_nudge_schedules_a_tick_in_every_open_session_and_none_in_a_closed_one(hub):
    # Arrange: three sessions, each with its own Bokeh document; the third closes
    docs = [Document() for _ in range(3)]
    feeds = []
    for doc in docs:
        with pn.io.server.set_curdoc(doc):
            feeds.append(SessionFeed(hub=hub).start())
    feeds[2].stop()
    hub.competition.step(2)

    # Act: what the API does after a command
    hub.nudge()

    # Assert: the open sessions got one next-tick callback each, which pulls the news
    added = [[cb for cb in doc.session_callbacks if isinstance(cb, NextTickCallback)]
             for doc in docs]
    assert [len(a) for a in added] == [1, 1, 0] and hub.sessions == 2
    assert [f.status.get("bar") for f in feeds[:2]] == [0, 0]
    for a in added[:2]:
        a[0].callback()
    assert [f.status["bar"] for f in feeds[:2]] == [2, 2]
    for feed in feeds[:2]:
        feed.stop()


def test_tick_shows_a_step_of_a_paused_engine_at_once_after_other_news(hub):
    # Arrange: a long min_interval; news (a step) was pulled a moment ago
    feed = SessionFeed(hub=hub, heartbeat=60_000, min_interval=60_000, period=100,
                       table_period=0)
    comp = hub.competition
    comp.step(1)
    feed.pull()

    # Act / Assert: min_interval batches a running engine only; a paused one's next
    # step waits at most `period` ms since the last news
    comp.step(1)
    assert feed.tick() is False
    time.sleep(0.12)
    assert feed.tick() is True and feed.status["bar"] == comp.bar == 2

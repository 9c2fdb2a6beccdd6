"""Trade texts (the event log, the leaderboard's last action) at any price; a live
run's memory per bar and its fills log."""

from __future__ import annotations

import gc
import re
import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from arena.data import synthetic
from arena.data.market import MarketData
from arena.engine import Competition, CompetitionConfig
from arena.feeds.feed import HistoryFeed
from arena.portfolio import PortfolioConfig
from arena.publisher import _amount
from arena.replay import Replay


@pytest.mark.parametrize(("value", "sign", "text"), [
    (10.5, "", "10.50"), (999_999_999_999.994, "", "999999999999.99"),
    (1e12, "", "1e+12"), (3.3251765e44, "", "3.32518e+44"), (3.5, "+", "+3.50"),
    (-1234.5, "+", "-1234.50"), (-2.5e15, "+", "-2.5e+15"), (float("inf"), "", "inf")])
def test_a_trade_price_or_pnl_reads_to_the_cent_below_a_thousand_billion(value, sign, text):
    assert _amount(value, sign) == text


def sawtooth(scale: float, n: int = 120) -> MarketData:
    """Prices that swing every 10 bars, so an SMA crossover trades often."""
    close = scale * (100 + 10 * np.sin(np.arange(n) / 10 * np.pi))[:, None]
    times = pd.date_range("2024-01-01", periods=n, freq="D").values
    return MarketData(times, ("XYZ",), close, close * 1.01, close * 0.99, close,
                      np.full((n, 1), 1e6), source="sawtooth")


@pytest.mark.parametrize(("scale", "price"), [(1.0, r"\d+\.\d\d"), (1e20, r"\d\.\d+e\+2\d")])
def test_trade_events_show_prices_readably_at_any_magnitude(scale, price):
    comp = Competition(sawtooth(scale), ["sma_cross:fast=2,slow=5"],
                       CompetitionConfig(record=False,
                                         portfolio=PortfolioConfig(cash=1e6 * scale)))
    comp.run()
    events = comp.streams.events.to_frame()
    texts = events[events["kind"] == "trade"]["message"].tolist()
    assert len(texts) > 4
    pattern = rf"(buy|sell) \d+ XYZ @ {price} \((entry|exit, pnl \+{price})\)"
    for text in texts:
        assert re.fullmatch(pattern, text), text


def test_a_replay_says_each_last_action_as_the_live_run_did_at_any_magnitude(tmp_path):
    comp = Competition(sawtooth(1e20), ["sma_cross:fast=2,slow=5", "sma_cross:fast=3,slow=7"],
                       CompetitionConfig(run_dir=str(tmp_path),
                                         portfolio=PortfolioConfig(cash=1e26)))
    live = comp.run().set_index("agent")["last_action"]
    with Replay(comp.run_path) as rp:
        rp.seek(comp.n_bars)
        replayed = rp.leaderboard().set_index("agent")["last_action"]
    assert all(re.fullmatch(r"(buy|sell) \d+ XYZ @ \d\.\d+e\+2\d", a) for a in live), live
    assert replayed.to_dict() == live.to_dict()


# -- a live run's memory -------------------------------------------------------------

LIVE_AGENTS = ["random:trade_prob=1.0", "random:trade_prob=0.8", "momentum:lookback=3"]


def released_bar_by_bar(comp: Competition, feed, bars: int, at: int) -> None:
    """Release ``bars`` bars one at a time, each published before the next."""
    for i in range(1, bars + 1):
        feed.release(1)
        end = time.monotonic() + 10
        while comp.bar < at + i:
            assert time.monotonic() < end, f"bar {at + i} not processed"
            time.sleep(0.0005)


def test_a_live_run_keeps_about_its_rows_bytes_per_bar():
    # Arrange: 3 agents that trade most bars, 2 symbols, bars published one at a time
    data = synthetic(["AAA", "BBB"], bars=1401, seed=3, freq="1min")
    feed = HistoryFeed(data, start=200)
    comp = Competition(feed, LIVE_AGENTS, CompetitionConfig(record=False, seed=1))
    comp.start()
    try:
        released_bar_by_bar(comp, feed, 200, at=200)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        fills_before = comp._pub.fills_log.total
        # Act
        released_bar_by_bar(comp, feed, 1000, at=400)
        gc.collect()
        per_bar = (tracemalloc.get_traced_memory()[0] - before) / 1000
    finally:
        tracemalloc.stop()
        comp.stop()
    fills = (comp._pub.fills_log.total - fills_before) / 1000
    # Assert: a bar's numeric rows (2 prices, 1 benchmark, 3 equity, ~4 fills in the
    # trades stream and the fills log: 8 bytes a value, ~1 KB) and its texts (3
    # decisions, ~4 trade events: Python objects, ~3 KB) stay under 5 KB a bar. With a
    # numpy segment per stream per bar (before compaction) it was 9 KB.
    raw = 8 * (2 * 8 + 4 + 3 * 7 + fills * 11 * 2)
    assert fills > 2
    assert per_bar < 5000, f"{per_bar:.0f} bytes a bar, numeric rows {raw:.0f}"


def test_the_fills_log_of_a_bar_by_bar_run_holds_every_recorded_fill(tmp_path):
    data = synthetic(["AAA", "BBB"], bars=401, seed=3, freq="1min")
    feed = HistoryFeed(data, start=100)
    comp = Competition(feed, LIVE_AGENTS, CompetitionConfig(run_dir=str(tmp_path), seed=1,
                                                            stream_maxlen=50))
    comp.start()
    released_bar_by_bar(comp, feed, 300, at=100)
    comp.stop()
    trades = comp.trades_frame()
    assert len(trades) > 300 > len(comp.streams.trades)  # the stream keeps 50; the log all
    with Replay(comp.run_path) as rp:
        rp.seek(rp.n_bars)
        pd.testing.assert_frame_equal(trades, rp.trades_frame())

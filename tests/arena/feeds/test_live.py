"""Live competitions: a Competition on a LiveFeed polling a local Binance server through
ccxt's real ``binance`` class (not mocked), whose clock the tests move. The bar sequence
must equal the server's closed candles: nothing lost, duplicated or reordered, whatever
the faults; and the engine on a feed must equal the engine on the same history."""

import time

import numpy as np
import pandas as pd
import pytest

from arena import Competition, CompetitionConfig, Replay
from arena.agents.base import Agent, Decision
from arena.data import synthetic
from arena.engine import State, StateError
from arena.feeds import FeedError, RetryPolicy
from arena.feeds.live import HistoryFeed, LiveConfig, LiveFeed, parse_duration
from arena.portfolio import PortfolioConfig
from tests.arena.feeds.binance_server import MINUTE, START_MS, BinanceServer
from tests.waiting import until

SYMBOLS = ("BTC/USDT", "ETH/USDT")
IDS = {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT"}
WARMUP = 40
NOW = START_MS + 600 * MINUTE + 30_000  # 10:00:30: the last closed candle opened 09:59
QUICK = RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1)
AGENTS = ["buy_and_hold", "sma_cross:fast=5,slow=20", "momentum:lookback=10", "rsi", "macd",
          "mean_reversion", "ml:min_train=20,retrain_every=10", "random:trade_prob=0.2"]


class BuyAtBar(Agent):
    """Goes long half its equity in BTC at bar ``at``, holds otherwise."""

    def __init__(self, at: int, **params):
        super().__init__(**params)
        self.at = at

    def decide(self, obs):
        if obs.step == self.at:
            return Decision({"BTC/USDT": 0.5}, reasoning="buy")
        return Decision.hold()


@pytest.fixture
def server():
    with BinanceServer(now_ms=NOW) as srv:
        yield srv
    assert srv.unexpected == []


def live_config(server, **kw):
    kw.setdefault("warmup", WARMUP)
    kw.setdefault("poll", 0.05)
    kw.setdefault("retry", QUICK)
    return LiveConfig("binance", SYMBOLS, "1m", exchange_config=server.exchange_config(
        timeout=400, enableRateLimit=False), **kw)


def expected(server, n_closed=None):
    """The server's closed candles of each symbol from the warm-up's first on."""
    first = pd.Timestamp(START_MS + (600 - WARMUP) * MINUTE, unit="ms", tz="UTC")
    out = {}
    for sym, sid in IDS.items():
        c = server.candles(sid)
        out[sym] = c[c["time"] >= first].reset_index(drop=True)
    return out


def bars_of(comp, n=None):
    """The bars the competition processed (first ``n``), per symbol, as frames."""
    n = comp.bar if n is None else n
    d = comp.data
    times = pd.DatetimeIndex(d.times[:n]).tz_localize("UTC").astype("datetime64[ns, UTC]")
    return {sym: pd.DataFrame({"time": times, **{f: getattr(d, f)[:n, j] for f in
                                                  ("open", "high", "low", "close", "volume")}})
            for j, sym in enumerate(d.symbols)}


def events(comp, kind=None):
    ev, _ = comp.streams.events.since(0)
    return ev if kind is None else ev[ev["kind"] == kind]


def start_live(server, tmp_path, agents=("buy_and_hold",), **kw):
    feed = LiveFeed(live_config(server, **kw))
    feed.open()
    comp = Competition(feed, list(agents), CompetitionConfig(run_dir=str(tmp_path), seed=1))
    comp.start()
    until(lambda: comp.bar == feed.available(), what="the warm-up")
    return feed, comp


def test_warmup_then_live_bars_arrive_in_order_and_fill_at_the_next_open(server, tmp_path):
    # Arrange: the warm-up is 09:20..09:59; an agent buys at the first live bar's close
    feed, comp = start_live(server, tmp_path, agents=[BuyAtBar(WARMUP), "buy_and_hold"],
                            duration="5m")
    assert comp.bar == WARMUP and comp.state is State.RUNNING  # waiting, not finished
    live = comp.status()["live"]
    assert live["live_since"] == "2025-01-01T10:00:00+00:00"
    assert live["last_candle"] == "2025-01-01T09:59:00+00:00"
    assert live["feed_state"] == "connected" and live["live_bars"] == 0
    assert 0 < live["next_candle_in"] <= 60
    # Act: five minutes pass, one at a time; a candle still forming is never a bar
    for minute in range(1, 6):
        server.advance(1)
        until(lambda m=minute: comp.bar == WARMUP + m, what=f"live bar {minute}")
        time.sleep(0.1)
        assert comp.bar == WARMUP + minute
    assert comp.wait(5) and comp.state is State.FINISHED
    # Assert: the bars are the server's closed candles, exactly
    want = expected(server)
    got = bars_of(comp)
    for sym in SYMBOLS:
        pd.testing.assert_frame_equal(got[sym], want[sym])
    assert len(got["BTC/USDT"]) == WARMUP + 5
    # the live decision at bar 40 (10:00's close) filled at bar 41's open (10:01)
    trades = comp.trades_frame()
    mine = trades[trades["agent"] == "BuyAtBar"]
    assert mine["bar"].tolist() == [WARMUP + 1]
    assert mine["price"].iloc[0] == want["BTC/USDT"]["open"].iloc[WARMUP + 1]
    assert mine["time"].iloc[0] == pd.Timestamp("2025-01-01 10:01", tz="UTC")
    # the run is recorded like any other and replays
    with Replay(comp.run_path, at="end", follow=False) as rp:
        assert rp.n_bars == WARMUP + 5
        assert rp.leaderboard().set_index("agent")["equity"].round(6).to_dict() == \
            comp.leaderboard().set_index("agent")["equity"].round(6).to_dict()


def test_an_outage_is_an_error_then_a_recovery_and_the_missed_candles_come_in_order(
        server, tmp_path):
    # Arrange
    feed, comp = start_live(server, tmp_path, duration="8m")
    server.advance(1)
    until(lambda: comp.bar == WARMUP + 1, what="the first live bar")
    # Act: the server goes away for a while, during which four candles close
    server.down(1.5)
    until(lambda: comp.status()["live"]["feed_state"] == "reconnecting", what="reconnecting")
    server.advance(4)
    until(lambda: len(events(comp, "feed_recovered")), timeout=15, what="the recovery")
    until(lambda: comp.bar == WARMUP + 5, what="the backfill")
    server.advance(3)
    assert comp.wait(10)
    # Assert
    kinds = events(comp)["kind"].tolist()
    assert kinds.index("feed_error") < kinds.index("feed_recovered")
    assert kinds.count("feed_recovered") == 1
    error = events(comp, "feed_error")["message"].iloc[0]
    assert "connection refused" in error or "dropped" in error or "timed out" in error
    assert "backfilled" in events(comp, "feed_recovered")["message"].iloc[0]
    want, got = expected(server), bars_of(comp)
    for sym in SYMBOLS:
        pd.testing.assert_frame_equal(got[sym], want[sym])
    assert comp.bar == WARMUP + 8 and events(comp, "feed_gap_filled").empty
    assert comp.status()["live"]["feed_errors"] >= 1


@pytest.mark.parametrize("fault", ["429:0.2", "500", "503", "slow:1", "duplicate", "shuffle"])
def test_request_faults_and_scrambled_pages_leave_the_bars_exact(server, tmp_path, fault):
    # Arrange
    feed, comp = start_live(server, tmp_path, duration="4m")
    # Act: the fault hits the next requests while three candles close
    server.script(fault, fault)
    server.advance(3)
    until(lambda: comp.bar == WARMUP + 3, timeout=15, what="three live bars")
    server.advance(1)
    assert comp.wait(10)
    # Assert
    want, got = expected(server), bars_of(comp)
    for sym in SYMBOLS:
        pd.testing.assert_frame_equal(got[sym], want[sym])
    if fault not in ("duplicate", "shuffle"):
        assert len(events(comp, "feed_error")) == 1
        assert len(events(comp, "feed_recovered")) == 1


def test_a_candle_revised_after_it_closed_keeps_the_version_the_agents_saw(server, tmp_path):
    # Arrange
    feed, comp = start_live(server, tmp_path, duration="3m")
    server.advance(1)
    until(lambda: comp.bar == WARMUP + 1, what="the first live bar")
    seen = bars_of(comp)["BTC/USDT"].iloc[-1].copy()  # 10:00
    # Act: the exchange changes 10:00's candle, then the run goes on
    server.revise("BTCUSDT", 600, 1.01)
    server.advance(1)
    until(lambda: comp.bar == WARMUP + 2, what="the second live bar")
    server.advance(1)
    assert comp.wait(10)
    # Assert
    revised = events(comp, "feed_candle_revised")
    assert len(revised) == 1
    assert "BTC/USDT candle 2025-01-01T10:00:00+00:00 changed" in revised["message"].iloc[0]
    pd.testing.assert_series_equal(bars_of(comp)["BTC/USDT"].iloc[WARMUP], seen)
    assert server.candles("BTCUSDT").set_index("time").loc[seen["time"], "close"] != seen["close"]


def test_a_silent_symbol_is_filled_forward_after_the_grace_with_an_event(server, tmp_path):
    # Arrange: ETH has no 10:00 candle; the grace is 6 s (10 % of a minute)
    server.silent = {"ETHUSDT": {600}}
    feed, comp = start_live(server, tmp_path, duration="2m")
    assert feed.grace_seconds == 6
    # Act: 10:01:02, the 10:00 slot closed 2 s ago: BTC is there, ETH is not
    server.advance(32 / 60)
    until(lambda: comp.status()["live"]["feed_state"] == "stale", what="stale")
    time.sleep(0.2)
    assert comp.bar == WARMUP  # waits within the grace
    assert comp.status()["live"]["feed_since"] == "2025-01-01T10:01:00+00:00"
    server.advance(5 / 60)  # 10:01:07: past the grace
    until(lambda: comp.bar == WARMUP + 1, what="the filled bar")
    server.advance(1)
    assert comp.wait(10)
    # Assert
    filled = events(comp, "feed_gap_filled")
    assert len(filled) == 1 and filled["message"].iloc[0].startswith(
        "ETH/USDT: no 1m candle 2025-01-01T10:00:00+00:00 within the 6 s grace")
    eth = bars_of(comp)["ETH/USDT"]
    prev = eth["close"].iloc[WARMUP - 1]
    assert eth.iloc[WARMUP][["open", "high", "low", "close"]].tolist() == [prev] * 4
    assert eth["volume"].iloc[WARMUP] == 0
    pd.testing.assert_frame_equal(bars_of(comp)["BTC/USDT"], expected(server)["BTC/USDT"])
    assert eth["time"].iloc[WARMUP + 1] == pd.Timestamp("2025-01-01 10:01", tz="UTC")


def test_a_stop_ends_a_live_run_that_is_waiting_for_its_next_candle(server, tmp_path):
    # Arrange: no duration: until stopped
    feed, comp = start_live(server, tmp_path)
    assert comp.status()["progress"] == 1.0 and comp.state is State.RUNNING
    # Act
    comp.stop()
    # Assert
    assert comp.state is State.STOPPED
    feed.join(5)
    with pytest.raises(StateError, match="cannot be reset"):
        comp.reset()


def test_bad_live_settings_are_refused_with_a_clear_message(server):
    with pytest.raises(FeedError, match="warmup must be at least 2"):
        LiveConfig("binance", SYMBOLS, "1m", warmup=1)
    with pytest.raises(FeedError, match="bad duration"):
        LiveConfig("binance", SYMBOLS, "1m", duration="soon")
    with pytest.raises(FeedError, match="unknown symbol 'DOGE/EUR'"):
        LiveFeed(LiveConfig("binance", ("DOGE/EUR",), "1m", warmup=5, exchange_config=
                            server.exchange_config(timeout=400))).open()
    assert parse_duration("6h") == 21600 and parse_duration("90m") == 5400
    assert parse_duration(30) == 30


# --- the engine on a feed (no exchange) -------------------------------------------------

def test_the_engine_on_a_feed_equals_the_engine_on_the_same_history(tmp_path):
    # Arrange
    data = synthetic(["AAA", "BBB"], bars=260, seed=4)
    cfg = CompetitionConfig(run_dir=str(tmp_path), seed=2,
                            portfolio=PortfolioConfig(fee_bps=1, slippage_bps=2))
    backtest = Competition(data, AGENTS, cfg)
    backtest.run()
    feed = HistoryFeed(data, start=100)
    comp = Competition(feed, AGENTS, cfg)
    # Act: the warm-up, then bars one at a time and in bursts
    comp.start()
    until(lambda: comp.bar == 100, what="the warm-up")
    time.sleep(0.1)
    assert comp.bar == 100 and comp.state is State.RUNNING
    feed.release(1)
    until(lambda: comp.bar == 101, what="one bar")
    comp.pause()
    comp.step(2, wait=False)
    feed.release(2)
    until(lambda: comp.bar == 103, what="two steps")
    comp.resume()
    for _ in range(157):
        feed.release(1)
    assert comp.wait(10) and comp.state is State.FINISHED
    # Assert: the same equity, trades and leaderboard as the backtest
    np.testing.assert_allclose(comp.equity_frame().to_numpy(), backtest.equity_frame().to_numpy())
    pd.testing.assert_frame_equal(comp.trades_frame(), backtest.trades_frame())
    cols = ["agent", "equity", "trades", "sharpe"]
    pd.testing.assert_frame_equal(comp.leaderboard()[cols], backtest.leaderboard()[cols])
    with Replay(comp.run_path, at="end", follow=False) as rp:
        assert rp.n_bars == 260

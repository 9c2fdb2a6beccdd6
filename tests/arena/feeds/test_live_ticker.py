"""The live feed's ticker: the exchange's latest price between candles (ccxt's real
``binance`` class against the local server, whose last price follows its clock).
Display only: it never becomes a bar."""

import time

import pytest

from arena import Competition, CompetitionConfig
from arena.feeds import RetryPolicy
from arena.feeds.live import LiveConfig, LiveFeed
from arena.feeds.liverun import live_config, live_source, open_live
from tests.arena.feeds.binance_server import MINUTE, START_MS, BinanceServer, minute_candle
from tests.waiting import until

NOW = START_MS + 600 * MINUTE + 15_000  # 10:00:15, a quarter into the 10:00 candle
QUICK = RetryPolicy(attempts=2, backoff=0.05, max_backoff=0.1)


def config(server, **kw) -> LiveConfig:
    return LiveConfig("binance", ("BTC/USDT", "ETH/USDT"), "1m", warmup=10, poll=0.05,
                      retry=QUICK, exchange_config=server.exchange_config(
                          timeout=400, enableRateLimit=False), **kw)


def test_the_ticker_is_the_exchanges_last_price_and_never_a_bar():
    with BinanceServer(now_ms=NOW) as server:
        feed = LiveFeed(config(server))
        feed.open()
        comp = Competition(feed, ["buy_and_hold"], CompetitionConfig(record=False))
        comp.start()
        try:
            until(lambda: feed.ticker())
            tick = feed.ticker()
            # the 10:00 candle a quarter formed: its open plus a quarter of the way to
            # its close (the server's formula, worked from the candle itself)
            o, _, _, c, _ = minute_candle("BTCUSDT", 600)
            assert tick["BTC/USDT"]["price"] == pytest.approx(o + (c - o) * 0.25, rel=1e-9)
            assert tick["BTC/USDT"]["time"] == "2025-01-01T10:00:15+00:00"
            assert comp.status()["live"]["ticker"] == feed.ticker()
            # the clock moves within the candle: the ticker follows, no bar is made
            version = feed.ticker_version
            server.now_ms = NOW + 30_000
            until(lambda: feed.ticker_version > version
                  and feed.ticker()["BTC/USDT"]["time"].startswith("2025-01-01T10:00:45"))
            assert feed.ticker()["BTC/USDT"]["price"] == pytest.approx(o + (c - o) * 0.75,
                                                                       rel=1e-9)
            until(lambda: comp.bar == 10)  # the warm-up, processed
            time.sleep(0.2)  # a few more polls: still no bar
            assert comp.bar == feed.available() == 10
            assert str(comp.data.timestamp(9)) == "2025-01-01 09:59:00+00:00"
        finally:
            comp.stop()
            feed.join(5)
        assert server.ticker_requests() and server.unexpected == []


def test_an_exchange_that_refuses_the_ticker_goes_on_with_candles_only():
    with BinanceServer(now_ms=NOW) as server:
        server.tickers = False  # 404, as an exchange without the endpoint
        feed = LiveFeed(config(server))
        feed.open()
        comp = Competition(feed, ["buy_and_hold"], CompetitionConfig(record=False))
        comp.start()
        try:
            server.advance(1)
            until(lambda: comp.bar == 11)
            events = comp.streams.events.to_frame()
            off = events[events["kind"] == "feed_ticker_off"]
            assert len(off) == 1 and "404" in off["message"].iloc[0]
            assert "shows closed candles only" in off["message"].iloc[0]
            assert feed.ticker() == {} and comp.status()["live"]["feed_state"] == "connected"
            asked = len(server.ticker_requests())
            server.advance(1)
            until(lambda: comp.bar == 12)
            assert len(server.ticker_requests()) == asked  # not asked again
        finally:
            comp.stop()
            feed.join(5)


def test_the_live_builder_makes_the_competition_arena_live_makes():
    with BinanceServer(now_ms=NOW) as server:
        cfg = live_config({"exchange": "binance", "symbols": "BTC/USDT", "warmup": 12,
                           "poll": 0.05}, exchange_config=server.exchange_config(timeout=400))
        assert cfg.symbols == ("BTC/USDT",) and cfg.timeframe == "1m" and cfg.warmup == 12
        comp = open_live(cfg, ["buy_and_hold"], CompetitionConfig(record=False))
        try:
            assert comp.data_source == live_source(cfg) == "binance BTC/USDT 1m (live)"
            assert comp.feed.available() == 12 and comp.state.value == "idle"
        finally:
            comp.stop()

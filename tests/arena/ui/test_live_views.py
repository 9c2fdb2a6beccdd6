"""The dashboard's views on a live run, without a browser: a Hub built from a
``[live]`` spec on the local Binance server (ccxt's real ``binance`` class), a
SessionFeed pulling as a page's would. The summary bar and the control panel show
the feed's state, "live since …", the last candle's age and the next one's time; the
market cards and the price chart show the ticker between candles; the control panel
starts a live run from its "Live exchange" source."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from arena.config import RunSpec, spec_from_dict
from arena.engine import CompetitionConfig
from arena.ui.controls import ControlPanel
from arena.ui.feed import SessionFeed
from arena.ui.hub import EXCHANGE_CONFIG_ENV, Hub
from arena.ui.market import MarketCards, SummaryBar
from arena.ui.prices import PriceChart
from tests import waiting
from tests.arena.feeds.binance_server import MINUTE, START_MS, BinanceServer, minute_candle

NOW = START_MS + 600 * MINUTE + 30_000  # 10:00:30: the last closed candle opened 09:59
LIVE = {"exchange": "binance", "symbols": ["BTC/USDT", "ETH/USDT"], "timeframe": "1m",
        "warmup": 30, "poll": 0.05}
AGENTS = [{"agent": "buy_and_hold"}, {"agent": "sma_cross", "params": {"fast": 3, "slow": 8}}]


@pytest.fixture
def server(monkeypatch):
    with BinanceServer(now_ms=NOW) as srv:
        monkeypatch.setenv(EXCHANGE_CONFIG_ENV, json.dumps(srv.exchange_config(
            timeout=400, enableRateLimit=False)))
        yield srv


@pytest.fixture
def live_hub(server):
    hub = Hub(spec_from_dict({"live": LIVE, "agents": AGENTS, "run": {"record": False}}))
    yield hub
    hub.competition.stop()


until = partial(waiting.until, timeout=15.0)  # these waits span a few live candles


def cards(strip) -> dict[str, list]:
    """label → [label, value, class, progress, under...] as the page draws them."""
    return {c[0]: c for c in strip.shown()}


def under(card) -> str:
    return "".join(card[4::2])


def plain(pane) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", pane.object)).split())


def test_a_live_run_shows_its_feed_timing_and_the_forming_price(server, live_hub):
    # Arrange
    comp = live_hub.competition
    feed = SessionFeed(hub=live_hub, table_period=0)
    summary, market = SummaryBar(feed=feed), MarketCards(feed=feed)
    panel, chart = ControlPanel(feed=feed), PriceChart(feed=feed)
    until(lambda: comp.bar == 30 and comp.feed.ticker())
    # Act
    feed.pull()
    # Assert: started at once, on the warm-up; live since 10:00 (the first live candle)
    st = feed.status
    assert st["state"] == "running" and st["live"]["feed_state"] == "connected"
    shown = cards(summary.strip)
    assert "Progress" not in shown and shown["Live"][1] == "30 bars"
    assert re.fullmatch(r"since 2025-01-01 10:00 · last candle \d+ s ago · next in \d+ s",
                        under(shown["Live"])), under(shown["Live"])
    age = int(re.search(r"last candle (\d+) s", under(shown["Live"])).group(1))
    nxt = int(re.search(r"next in (\d+) s", under(shown["Live"])).group(1))
    assert 30 <= age <= 32 and 28 <= nxt <= 30 and age + nxt == 60  # 10:00:30, 1m candles
    assert shown["Feed"][1] == "connected" and shown["Feed"][2] == "state connected"
    assert shown["Engine"][4] == "2025-01-01 09:59"  # the last closed candle's open
    text = plain(panel.state_pane)
    assert "live since 2025-01-01 10:00" in text and "feed: connected" in text
    assert "bar 30" in text and not panel.progress.visible
    # the cards show the ticker (the 10:00 candle half formed), marked as forming,
    # against the last close (the 09:59 candle's)
    o, _, _, c, _ = minute_candle("BTCUSDT", 600)
    price, close = o + (c - o) * 0.5, minute_candle("BTCUSDT", 599)[3]
    btc = cards(market.strip)["BTC/USDT"]
    assert btc[1] == f"{price:,.2f}"
    assert under(btc) == f"forming {100 * (price / close - 1):+.2f}% vs close {close:,.2f}"
    # the chart marks it: one forming point per symbol at the ticker's time, not a bar
    assert chart.forming.data["time"] == [NOW, NOW]
    assert chart.forming.data["price"][0] == round(price, 4)
    assert len(chart.source.data["time"]) == 30


def test_the_feed_state_shows_an_outage_and_its_recovery(server, live_hub):
    comp = live_hub.competition
    feed = SessionFeed(hub=live_hub, table_period=0)
    summary, panel = SummaryBar(feed=feed), ControlPanel(feed=feed)
    until(lambda: comp.bar == 30)
    # Act: the exchange goes away
    server.down(1.5)
    until(lambda: comp.status()["live"]["feed_state"] == "reconnecting")
    feed.pull()
    # Assert
    feed_card = cards(summary.strip)["Feed"]
    assert feed_card[1] == "reconnecting" and feed_card[2] == "state reconnecting"
    assert re.fullmatch(r"since 2025-01-01 10:00", under(feed_card))
    assert "feed: reconnecting since 2025-01-01 10:00" in plain(panel.state_pane)
    # ... and comes back: connected again, and the candle that closed meanwhile arrives
    server.advance(1)
    until(lambda: comp.status()["live"]["feed_state"] == "connected" and comp.bar == 31)
    feed.pull()
    assert cards(summary.strip)["Feed"][1] == "connected"
    assert "feed: connected" in plain(panel.state_pane)
    assert cards(summary.strip)["Live"][1] == "31 bars"


# -- the control panel's "Live exchange" source -------------------------------------------
BUNDLED = RunSpec(symbols=("IBM",), start="2012-01-01", agents=("buy_and_hold",),
                  config=CompetitionConfig(record=False))


@pytest.fixture
def bundled_hub():
    hub = Hub(BUNDLED)
    yield hub
    hub.competition.stop()


@pytest.fixture
def form(bundled_hub, monkeypatch):
    monkeypatch.delenv("PANEL_BASIC_AUTH", raising=False)
    monkeypatch.delenv("PANEL_OAUTH_PROVIDER", raising=False)
    panel = ControlPanel(feed=SessionFeed(hub=bundled_hub, table_period=0))
    panel.source.value = "live"
    panel.exchange.value, panel.live_symbols.value = "binance", "BTC/USDT, ETH/USDT"
    panel.timeframe.value, panel.warmup.value = "1m", 20
    return panel


def apply(form) -> bool:
    """Press Apply and wait for the background build, if it started one."""
    accepted = form._on_apply()
    if accepted and form.pending is not None:
        form.pending.join(60)
        assert not form.pending.is_alive()
    return accepted


def test_the_live_source_starts_a_live_run_as_arena_live_does(server, form, bundled_hub):
    assert form.exchange.visible and not form.symbols.visible and not form.start.visible
    # Act
    assert apply(form)
    # Assert
    comp = bundled_hub.competition
    assert comp.data_source == "binance BTC/USDT,ETH/USDT 1m (live)"
    assert comp.feed is not None and comp.feed.available() == 20
    assert comp.state.value == "running"
    assert bundled_hub.spec.live["exchange"] == "binance"
    assert "applied: new run" in plain(form.apply_note)


@pytest.mark.parametrize(("change", "message"), [
    ({"exchange": ""}, "enter the exchange's ccxt id"),
    ({"live_symbols": " , "}, "enter at least one symbol"),
    ({"warmup": 1}, "the warm-up must be at least 2 candles"),
    ({"timeframe": "1M"}, "live runs need a fixed candle length"),
    ({"exchange": "binancee"}, "unknown exchange 'binancee'; did you mean binance"),
    ({"live_symbols": "BTC/USDX"}, "unknown symbol 'BTC/USDX' on binance"),
])
def test_bad_live_settings_are_refused_next_to_the_data_source(server, form, bundled_hub,
                                                                change, message):
    before = bundled_hub.competition
    for name, value in change.items():
        getattr(form, name).value = value
    apply(form)  # the first four before any request, the exchange's refusals after it
    assert message in plain(form.data_note)
    assert bundled_hub.competition is before and bundled_hub.building is None
    assert not plain(form.apply_note).startswith("fetching")


def test_an_exchange_that_does_not_answer_is_a_message_not_a_traceback(form, bundled_hub,
                                                                         monkeypatch):
    with BinanceServer(now_ms=NOW) as srv:
        config = srv.exchange_config(timeout=300, enableRateLimit=False)
    monkeypatch.setenv(EXCHANGE_CONFIG_ENV, json.dumps(config))  # nobody listens there now
    before = bundled_hub.competition
    assert apply(form)  # accepted: the fetch fails in the background
    note = plain(form.apply_note)
    assert note.startswith("the exchange did not answer: binance") and "gave up" in note
    assert bundled_hub.competition is before


def test_a_slow_warm_up_is_fetched_in_the_background(server, form, bundled_hub, monkeypatch):
    """Apply returns at once; the run on show goes on while the warm-up comes (each
    candle request answered after 0.8 s), a second Apply meanwhile is refused, and
    then every session's hub switches to the new run."""
    monkeypatch.setenv(EXCHANGE_CONFIG_ENV, json.dumps(server.exchange_config(
        timeout=5000, enableRateLimit=False)))
    server.delay = 0.8
    before = bundled_hub.competition
    other = ControlPanel(feed=SessionFeed(hub=bundled_hub, table_period=0))
    other.source.value = "live"
    other.exchange.value, other.live_symbols.value = "binance", "ETH/USDT"
    # Act
    t0 = time.monotonic()
    assert form._on_apply()
    took = time.monotonic() - t0
    # Assert: nothing fetched in the handler
    assert took < 0.5, took
    assert plain(form.apply_note) == ("fetching the warm-up of binance BTC/USDT, ETH/USDT 1m "
                                      "(20 candles)…; the run on show goes on meanwhile")
    assert bundled_hub.competition is before and form.pending.is_alive()
    assert not other._on_apply()  # one build at a time
    assert plain(other.apply_note) == ("fetching the warm-up of binance BTC/USDT, ETH/USDT 1m "
                                       "(20 candles) is still under way; wait for it to finish")
    form.pending.join(60)
    comp = bundled_hub.competition
    assert comp is not before and comp.data_source == "binance BTC/USDT,ETH/USDT 1m (live)"
    assert comp.feed.available() == 20 and bundled_hub.building is None
    assert before.state.value in ("stopped", "idle")
    assert "applied: new run" in plain(form.apply_note)
    assert time.monotonic() - t0 >= 1.6  # two symbols' klines, 0.8 s each at least


# -- arena serve on a live config ----------------------------------------------------------
SERVE = [str(Path(sys.executable).with_name("arena")), "serve", "--no-show", "--port", "0"]


def serve_fails(tmp_path, live: dict, exchange_config: dict) -> subprocess.CompletedProcess:
    (tmp_path / "live.toml").write_text(
        "[live]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in live.items())
        + '[[agents]]\nagent = "buy_and_hold"\n')
    return subprocess.run([*SERVE, "--config", str(tmp_path / "live.toml"),
                           "--exchange-config", json.dumps(exchange_config),
                           "--run-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_arena_serve_refuses_a_live_config_it_cannot_run_with_one_line(tmp_path, server):
    config = server.exchange_config(timeout=300, enableRateLimit=False)
    bad = serve_fails(tmp_path, {**LIVE, "symbols": ["BTC/USDX"]}, config)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith(
        "arena: error: unknown symbol 'BTC/USDX' on binance")
    server.stop()  # nobody answers any more
    gone = serve_fails(tmp_path, LIVE, config)
    assert gone.returncode == 1 and "Traceback" not in gone.stderr
    assert re.search(r"^arena: failed: binance: loading markets: gave up after 4 attempts",
                     gone.stderr, re.M), gone.stderr

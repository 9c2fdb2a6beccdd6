"""The dashboard in live mode, in Chromium: `arena serve --config live.toml
--exchange-config JSON` on the local Binance server (ccxt's real ``binance`` class),
whose clock runs a minute a second. Candles arrive (the bar count and the price chart
grow), the ticker moves the market cards between candles, an outage of the exchange
shows as the feed's state ("reconnecting", then "connected"), apart from the
browser's own connection, and a viewer who opens the page late gets the whole
history. The server must stay quiet (no traceback in its log)."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.arena.feeds.binance_server import MINUTE, START_MS, BinanceServer
from tests.browser.support import Dashboard, start_arena_serve, wait_until

NOW = START_MS + 600 * MINUTE + 30_000
WARMUP = 30
CONFIG = f"""
[live]
exchange = "binance"
symbols = ["BTC/USDT", "ETH/USDT"]
timeframe = "1m"
warmup = {WARMUP}
poll = 0.1

[[agents]]
agent = "buy_and_hold"
[[agents]]
agent = "sma_cross"
params = {{ fast = 3, slow = 8 }}
[[agents]]
agent = "momentum"
params = {{ lookback = 5 }}
"""

_PRICES_JS = """() => {
  const doc = window.Bokeh && Bokeh.documents && Bokeh.documents[0];
  if (!doc) return null;
  const out = {};
  for (const name of ['prices', 'forming']) {
    const m = doc.get_model_by_name(name);
    out[name] = m ? {n: m.get_length() || 0, time: Array.from(m.data.time || []),
                     price: Array.from(m.data.price || [])} : null;
  }
  return out;
}"""


@pytest.fixture
def exchange():
    with BinanceServer(now_ms=NOW) as srv:
        yield srv


@pytest.fixture
def live_server(tmp_path, exchange):
    (tmp_path / "live.toml").write_text(CONFIG)
    config = json.dumps(exchange.exchange_config(timeout=400, enableRateLimit=False))
    server = start_arena_serve(tmp_path, "--config", str(tmp_path / "live.toml"),
                               "--exchange-config", config)
    server.wait_ready()
    yield server
    server.stop()


def open_page(page, server) -> Dashboard:
    """The dashboard loaded in ``page`` (its feed started), then scrolled to the price
    chart, which reaches the page when it is scrolled near."""
    dash = Dashboard(page, server)
    page.goto(server.url + "/app", timeout=90_000)
    dash.wait_ready(90)
    scroll_to_prices(dash)
    return dash


def card(dash: Dashboard, label: str) -> list[str] | None:
    """``[label, value, under]`` of the card called ``label``."""
    return next((c for c in dash.cards() if c[0] == label), None)


def bars(dash: Dashboard) -> int:
    live = card(dash, "Live")
    return int(live[1].split()[0].replace(",", "")) if live else -1


def prices(dash: Dashboard) -> dict:
    return dash.page.evaluate(_PRICES_JS)


def scroll_to_prices(dash: Dashboard) -> None:
    """The price chart reaches the page when it is scrolled near it."""
    dash.page.mouse.move(1100, 120)  # over the summary bar (a chart would zoom)

    def shown():
        dash.page.mouse.wheel(0, 600)
        found = prices(dash)
        return found and found["prices"] is not None

    assert wait_until(shown, 30, interval=0.3), "the price chart never reached the page"


def test_the_dashboard_follows_a_live_exchange(page, exchange, live_server):
    # Arrange: the page open on the live run, the exchange's clock a minute a second
    dash = open_page(page, live_server)
    assert wait_until(lambda: card(dash, "Feed") and card(dash, "Feed")[1] == "connected", 30)
    assert card(dash, "Progress") is None  # a live run has no progress to tell
    assert re.match(r"since 2025-01-01 10:00 · last candle", card(dash, "Live")[2])
    first_bars, first_points = bars(dash), prices(dash)["prices"]["n"]
    exchange.run_clock(60)

    # Act / Assert: candles arrive, one bar each, and the price chart grows with them
    assert wait_until(lambda: bars(dash) >= first_bars + 3, 30), card(dash, "Live")
    assert wait_until(lambda: prices(dash)["prices"]["n"] >= first_points + 3, 10)

    # ... and between two candles the ticker moves the cards and the forming mark
    seen: dict[int, set[str]] = {}
    end = time.monotonic() + 15
    while time.monotonic() < end and not any(len(v) >= 2 for v in seen.values()):
        btc = card(dash, "BTC/USDT")
        if btc and btc[2].startswith("forming"):
            seen.setdefault(bars(dash), set()).add(btc[1])
        time.sleep(0.05)
    assert any(len(v) >= 2 for v in seen.values()), seen
    forming = prices(dash)["forming"]
    assert forming["n"] == 2 and forming["time"][0] > prices(dash)["prices"]["time"][-1]

    # the exchange goes away: the feed's state says so, the browser stays connected
    exchange.down(4.0)
    assert wait_until(lambda: card(dash, "Feed")[1] == "reconnecting", 15), card(dash, "Feed")
    assert card(dash, "Feed")[2].startswith("since 2025-01-01")
    assert dash.connection().text_content() == "● live"
    during = bars(dash)
    # ... and comes back: connected again, the candles that closed meanwhile backfilled
    assert wait_until(lambda: card(dash, "Feed")[1] == "connected", 30), card(dash, "Feed")
    assert wait_until(lambda: bars(dash) >= during + 3, 30)
    status = live_server.status()
    assert status["live"]["feed_errors"] >= 1

    # A late viewer: the clock stops, and a second page gets the full history
    exchange.run_clock(0)
    # every candle closed by the stopped clock, from the warm-up's first (09:30) on
    first_open = NOW // MINUTE * MINUTE - WARMUP * MINUTE
    total = (exchange.now_ms // MINUTE * MINUTE - first_open) // MINUTE
    assert wait_until(lambda: live_server.status()["bar"] == total, 15), \
        (live_server.status()["bar"], total)
    assert wait_until(lambda: bars(dash) == total, 15), (bars(dash), total)
    late = open_page(page.context.new_page(), live_server)
    assert wait_until(lambda: bars(late) == total, 30), (bars(late), total)
    assert wait_until(lambda: dash.equity()["n"] == late.equity()["n"] == total, 15), \
        (dash.equity(), late.equity(), total)
    assert prices(late)["prices"]["n"] == prices(dash)["prices"]["n"] == total
    assert card(late, "Feed")[1] == "connected"

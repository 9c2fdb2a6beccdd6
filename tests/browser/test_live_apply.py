"""Starting and resuming live runs from a served dashboard, in Chromium, against the
local Binance server (ccxt's real ``binance`` class):

* the control panel's "Live exchange" source on `arena serve` (a bundled backtest,
  `--exchange-config` pointing at the server, which answers every candle request only
  after 3 s): Apply fetches the warm-up in the background; meanwhile the server
  answers (GET /api/status), the page stays connected and says what it is fetching,
  the run on show stays; then every page switches to the live run;
* the "Resume a live run" card on `arena serve --config live.toml`: the served live
  run, stopped, continues (same run id) with the candles it missed.

The server must stay quiet (no traceback in its log)."""

from __future__ import annotations

import json
import time

import pytest

from arena.recorder import list_runs
from tests.arena.feeds.binance_server import MINUTE, START_MS, BinanceServer
from tests.browser.support import Dashboard, start_arena_serve, wait_until

NOW = START_MS + 600 * MINUTE + 30_000
DELAY = 3.0  # seconds before each /klines answer: the warm-up takes 2 x 3 s at least
CONFIG = """
[data]
symbols = ["IBM"]
start = "2012-01-01"

[[agents]]
agent = "buy_and_hold"
[[agents]]
agent = "momentum"
params = { lookback = 5 }
"""
FETCHING = ("fetching the warm-up of binance BTC/USDT, ETH/USDT 1m (20 candles)…; "
            "the run on show goes on meanwhile")


@pytest.fixture
def exchange():
    with BinanceServer(now_ms=NOW) as srv:
        yield srv


@pytest.fixture
def backtest_server(tmp_path, exchange):
    (tmp_path / "bt.toml").write_text(CONFIG)
    config = json.dumps(exchange.exchange_config(timeout=10_000, enableRateLimit=False))
    server = start_arena_serve(tmp_path, "--config", str(tmp_path / "bt.toml"),
                               "--exchange-config", config)
    server.wait_ready()
    yield server
    server.stop()


def field(page, label: str):
    return page.locator(".bk-input-group").filter(has_text=label).locator("input").first


def test_a_live_warm_up_is_fetched_while_the_server_goes_on_answering(page, exchange,
                                                                      backtest_server):
    # Arrange: the page on the backtest, the form filled in for a live run
    server = backtest_server
    dash = Dashboard(page, server).open(scroll=False)
    before = server.status()
    assert before.get("live") is None
    page.get_by_role("button", name="Settings").click()  # the form comes with the card
    dash.button("Live exchange").click()
    for label, value in (("Exchange (ccxt id)", "binance"),
                         ("Symbols (comma-separated)", "BTC/USDT, ETH/USDT"),
                         ("Warm-up (candles)", "20")):
        field(page, label).fill(value)
        field(page, label).press("Enter")
    exchange.delay = DELAY

    # Act
    dash.button("Apply").click()

    # Assert: the page says what is fetched, the server answers at once meanwhile
    assert wait_until(lambda: FETCHING in dash.text(), 10), dash.text()[-2000:]
    started = time.monotonic()
    latencies, during = [], []
    while time.monotonic() - started < DELAY:
        t0 = time.monotonic()
        status = server.status()
        latencies.append(time.monotonic() - t0)
        during.append(status["run_id"])
        time.sleep(0.1)
    assert max(latencies) < 1.0, latencies
    assert set(during) == {before["run_id"]}  # the old run stays on show meanwhile
    assert dash.connection().text_content() == "● live"
    # ... then the live run is on show, in the page and through the API
    assert wait_until(lambda: (server.status().get("live") or {}).get("exchange") == "binance",
                      60)
    status = server.status()
    assert status["run_id"] != before["run_id"] and status["live"]["bars_available"] >= 20
    assert wait_until(lambda: server.status()["bar"] >= 20, 30)  # through the warm-up
    assert wait_until(lambda: "applied: new run " + status["run_id"] in dash.text(), 15)
    assert wait_until(lambda: FETCHING not in dash.text(), 5)
    assert wait_until(lambda: any(c[0] == "Feed" for c in dash.cards()), 15), dash.cards()


LIVE = """
[live]
exchange = "binance"
symbols = ["BTC/USDT", "ETH/USDT"]
timeframe = "1m"
warmup = 20
poll = 0.1

[[agents]]
agent = "buy_and_hold"
[[agents]]
agent = "sma_cross"
params = { fast = 3, slow = 8 }
"""


def test_a_stopped_live_run_is_resumed_from_the_dashboard(page, exchange, tmp_path):
    # Arrange: a served live run through its warm-up, stopped, recorded as stopped
    (tmp_path / "live.toml").write_text(LIVE)
    config = json.dumps(exchange.exchange_config(timeout=2000, enableRateLimit=False))
    server = start_arena_serve(tmp_path, "--config", str(tmp_path / "live.toml"),
                               "--exchange-config", config)
    try:
        server.wait_ready()
        assert wait_until(lambda: server.status()["bar"] == 20, 30)
        run_id = server.status()["run_id"]
        assert server.command("stop")["state"] == "stopped"
        runs = server.run_dir
        assert wait_until(lambda: list_runs(runs).set_index("run_id")["status"].get(run_id)
                          == "stopped", 15)
        exchange.advance(3)  # three candles close while it is stopped
        dash = Dashboard(page, server).open(scroll=False)
        page.get_by_role("button", name="Resume a live run").click()  # the card lists them
        picker = page.locator(".bk-input-group").filter(
            has_text="Stopped or interrupted live runs").locator("select")
        assert wait_until(lambda: run_id in (picker.text_content() or ""), 15)

        # Act
        dash.button("Resume").click()

        # Assert: the same run goes on, the missed candles first
        assert wait_until(lambda: f"resumed {run_id} at bar 20: the candles it missed first"
                          in dash.text(), 30), server.status()
        assert wait_until(lambda: server.status()["bar"] == 23, 30), server.status()
        status = server.status()
        assert status["run_id"] == run_id and status["state"] == "running"
        assert status["live"]["bars_available"] == 23
        assert dash.connection().text_content() == "● live"
    finally:
        server.stop()

"""Resuming a recorded live run from the control panel's "Resume a live run" card
(:class:`arena.ui.runs.LiveRunPicker`), without a browser: a served hub's live run on
the local Binance server (ccxt's real ``binance`` class) is recorded and stopped, the
exchange's clock moves on three minutes, and the picker continues the same run in the
background (the missed candles first); refusals are its message; viewers who are not
operators cannot resume."""

from __future__ import annotations

import html
import json
import re
from functools import partial

import pytest

from arena.config import spec_from_dict
from arena.engine import Competition, CompetitionConfig
from arena.recorder import list_runs
from arena.ui.hub import EXCHANGE_CONFIG_ENV, Hub
from arena.ui.runs import LiveRunPicker, resumable_runs
from tests import waiting
from tests.arena.feeds.binance_server import MINUTE, START_MS, BinanceServer, minute_candle

NOW = START_MS + 600 * MINUTE + 30_000  # 10:00:30: the last closed candle opened 09:59
LIVE = {"exchange": "binance", "symbols": ["BTC/USDT", "ETH/USDT"], "timeframe": "1m",
        "warmup": 30, "poll": 0.05}
AGENTS = [{"agent": "buy_and_hold"}, {"agent": "sma_cross", "params": {"fast": 3, "slow": 8}}]


until = partial(waiting.until, timeout=20.0)  # these waits span a few live candles


def plain(pane) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", pane.object)).split())


def status_of(run_dir, run_id) -> str:
    runs = list_runs(run_dir)
    return runs.set_index("run_id")["status"].get(run_id)


def backtest(run_dir) -> Competition:
    """A recorded backtest (finished) in ``run_dir``."""
    data = spec_from_dict({"data": {"symbols": ["IBM"], "start": "2012-01-01",
                                    "end": "2012-03-01"}, "agents": AGENTS}).load_data()
    bt = Competition(data, ["buy_and_hold"], CompetitionConfig(run_dir=str(run_dir)))
    bt.run()
    return bt


@pytest.fixture
def no_auth(monkeypatch):
    monkeypatch.delenv("PANEL_BASIC_AUTH", raising=False)
    monkeypatch.delenv("PANEL_OAUTH_PROVIDER", raising=False)


@pytest.fixture
def stopped(tmp_path, monkeypatch, no_auth):
    """(exchange, hub, run id): a served live run of 30 warm-up bars, recorded, stopped."""
    with BinanceServer(now_ms=NOW) as srv:
        monkeypatch.setenv(EXCHANGE_CONFIG_ENV, json.dumps(srv.exchange_config(
            timeout=2000, enableRateLimit=False)))
        hub = Hub(spec_from_dict({"live": LIVE, "agents": AGENTS,
                                  "run": {"run_dir": str(tmp_path / "runs"), "seed": 3}}))
        comp = hub.competition
        until(lambda: comp.bar == 30)
        comp.stop()
        comp.wait(10)
        until(lambda: status_of(tmp_path / "runs", comp.run_id) == "stopped")
        yield srv, hub, comp.run_id
        hub.competition.stop()


def test_a_stopped_live_run_is_resumed_from_the_picker(stopped, tmp_path):
    exchange, hub, run_id = stopped
    backtest(tmp_path / "runs")  # beside it, and not offered
    picker = LiveRunPicker(hub=hub, user=None)
    picker.refresh()
    assert list(picker.select.options.values()) == [str(tmp_path / "runs" / run_id)]
    label = next(iter(picker.select.options))
    assert label == f"{run_id} · stopped · binance BTC/USDT,ETH/USDT 1m (live)"
    assert picker.select.value == str(tmp_path / "runs" / run_id)
    exchange.advance(3)  # 10:03:30: the 10:00, 10:01 and 10:02 candles closed meanwhile
    version = hub.version

    # Act
    assert picker.resume_selected()
    picker.pending.join(60)

    # Assert: the same run, on show in every session, with the missed candles processed
    comp = hub.competition
    assert hub.version == version + 1 and comp.run_id == run_id
    assert plain(picker.note) == (f"resumed {run_id} at bar 30: the candles it missed first, "
                                  "then live")
    until(lambda: comp.bar == 33)
    assert comp.state.value == "running"
    assert [str(t)[11:16] for t in comp.data.times[30:33]] == ["10:00", "10:01", "10:02"]
    for j, sym in enumerate(("BTCUSDT", "ETHUSDT")):  # the exchange's candles (8 decimals)
        assert list(comp.data.close[30:33, j]) == [round(minute_candle(sym, m)[3], 8)
                                                   for m in (600, 601, 602)]
    assert picker.select.options == {}  # it goes on now: nothing to resume
    until(lambda: status_of(tmp_path / "runs", run_id) == "running")
    assert resumable_runs(tmp_path / "runs") == {}


def test_refusals_are_shown_as_their_message(stopped, tmp_path):
    exchange, hub, run_id = stopped
    bt = backtest(tmp_path / "runs")
    before = hub.competition
    picker = LiveRunPicker(hub=hub, user=None)
    picker.refresh()
    # Act: a backtest's folder given as the run (not offered, but the handler checks)
    picker.select.options = {"backtest": str(bt.run_path)}
    picker.select.value = str(bt.run_path)
    assert picker.resume_selected()
    picker.pending.join(60)
    # Assert
    assert f"run {bt.run_id} is not a live run" in plain(picker.note)
    assert hub.competition is before and hub.building is None
    # the exchange gone: the resume's fetch gives up with a message
    picker.refresh()
    exchange.stop()
    assert picker.resume_selected()
    picker.pending.join(60)
    assert plain(picker.note).startswith("the exchange did not answer: binance")
    assert hub.competition is before
    assert status_of(tmp_path / "runs", run_id) == "stopped"  # still resumable


def test_only_operators_resume(stopped, monkeypatch):
    _, hub, _ = stopped
    monkeypatch.setenv("PANEL_BASIC_AUTH", "secret")
    monkeypatch.setenv("ARENA_OPERATORS", "alice")
    before = hub.competition
    picker = LiveRunPicker(hub=hub, user="bob")
    picker.refresh()
    assert picker.resume_button.disabled and picker.select.disabled
    assert not picker.resume_selected()  # the handler checks too
    assert plain(picker.note) == "read-only: signed in as bob (not an operator)"
    assert hub.competition is before and picker.pending is None

"""`arena live` as a real subprocess against a local Binance server whose clock runs a
minute a second: 8 rule agents and an LLM agent (a local chat server) over a warm-up and
a few live minutes, with an outage in between; the recording replays and exports."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from arena import Replay
from arena.config import ConfigError, spec_from_dict
from tests.arena.agents.chat_server import ChatServer
from tests.arena.feeds.binance_server import MINUTE, START_MS, BinanceServer

_SCRIPT = Path(sys.executable).with_name("arena")
ARENA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "arena.cli"]
NOW = START_MS + 600 * MINUTE + 30_000
CONFIG = """
[live]
exchange = "binance"
symbols = ["BTC/USDT", "ETH/USDT"]
timeframe = "1m"
warmup = 30
duration = "6m"
poll = 0.1

[run]
seed = 5

[[agents]]
agent = "buy_and_hold"
[[agents]]
agent = "sma_cross"
params = { fast = 5, slow = 15 }
[[agents]]
agent = "momentum"
params = { lookback = 10 }
[[agents]]
agent = "mean_reversion"
[[agents]]
agent = "rsi"
[[agents]]
agent = "macd"
[[agents]]
agent = "ml"
params = { min_train = 20, retrain_every = 5 }
[[agents]]
agent = "random"
params = { trade_prob = 0.2 }
[[agents]]
agent = "llm"
params = { model = "valid", base_url = "BASE_URL", api_key_env = "", every = 3 }
"""


def exchange_json(server) -> str:
    return json.dumps(server.exchange_config(timeout=400, enableRateLimit=False))


def wait_for_recording(tmp_path, proc, timeout=30):
    """Until the run has started (its recording exists): the warm-up is done."""
    deadline = time.monotonic() + timeout
    while not list((tmp_path / "runs").glob("*/arena.sqlite")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)


def wait_for_bars(tmp_path, n, timeout=30):
    """Until the recording being written holds ``n`` bars."""
    from arena.recorder import Recording, RecordingError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (db,) = (tmp_path / "runs").glob("*/arena.sqlite")
        try:  # the writer may not have made the schema yet
            rec = Recording(db.parent)
        except RecordingError:
            time.sleep(0.1)
            continue
        try:
            if rec.bars()["time"].nunique() >= n:
                return
        finally:
            rec.close()
        time.sleep(0.1)
    raise AssertionError(f"the recording never reached {n} bars")


def test_arena_live_runs_a_recorded_competition_that_replays_and_exports(tmp_path):
    with BinanceServer(now_ms=NOW) as server, ChatServer() as chat:
        (tmp_path / "live.toml").write_text(CONFIG.replace("BASE_URL", chat.base_url))
        server.run_clock(60)  # a minute a second
        # Act
        proc = subprocess.Popen(
            [*ARENA, "live", "live.toml", "--exchange-config", exchange_json(server),
             "--run-dir", "runs", "--format", "json"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_recording(tmp_path, proc)
        time.sleep(1.0)  # a live minute or so
        server.down(2.0)  # about two minutes of candles close while it is away
        out, err = proc.communicate(timeout=60)
        server.run_clock(0)
        candles = {s: server.candles(s) for s in ("BTCUSDT", "ETHUSDT")}
    # Assert: it ran to the end of its six live minutes
    assert proc.returncode == 0, err
    board = json.loads(out)
    assert len(board) == 9 and {r["agent"] for r in board} >= {"buy_and_hold", "llm:valid"}
    assert "feed_error" in err and "feed_recovered" in err and "feed_finished" in err
    assert "Traceback" not in err
    run = Path(board[0]["run_path"])
    with Replay(tmp_path / run, at="end", follow=False) as rp:
        assert rp.n_bars == 36 and rp.recording_status == "finished"
    # the recorded bars are the server's candles from the warm-up's first on, exactly
    from arena.recorder import Recording

    rec = Recording(tmp_path / run)
    bars = rec.bars()
    assert rec.meta["live"]["exchange"] == "binance" and rec.meta["n_bars"] == 36
    for sym, sid in (("BTC/USDT", "BTCUSDT"), ("ETH/USDT", "ETHUSDT")):
        got = bars[bars["symbol"] == sym].drop(columns=["symbol"]).reset_index(drop=True)
        first = got["time"].iloc[0]
        want = candles[sid][candles[sid]["time"] >= first].head(36).reset_index(drop=True)
        pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)
    assert not rec.llm_calls().empty
    rec.close()
    # and it exports like any run
    exported = subprocess.run([*ARENA, "export", str(run), "--what", "equity", "--format", "csv",
                               "-o", "equity.csv"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)
    assert exported.returncode == 0, exported.stderr
    assert len(pd.read_csv(tmp_path / "equity.csv")) == 36 * 9


def test_sigterm_stops_a_live_run_and_leaves_a_stopped_recording(tmp_path):
    with BinanceServer(now_ms=NOW) as server:
        proc = subprocess.Popen(
            [*ARENA, "live", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe",
             "1m", "--warmup", "20", "--poll", "0.1", "--agent", "sma_cross:fast=3,slow=8",
             "--agent", "buy_and_hold", "--exchange-config", exchange_json(server),
             "--run-dir", "runs", "--format", "json"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_recording(tmp_path, proc)
        server.advance(2)
        wait_for_bars(tmp_path, 22)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    run = Path(json.loads(out)[0]["run_path"])
    with Replay(tmp_path / run, at="end", follow=False) as rp:
        assert rp.recording_status == "stopped" and rp.n_bars == 22


def test_a_live_table_in_a_config_is_read_and_checked():
    raw = {"live": {"exchange": "binance", "symbols": ["BTC/USDT"], "timeframe": "1h",
                    "warmup": 100, "duration": "2d", "grace": 30,
                    "exchange_config": {"timeout": 30000, "apiKey_env": "KEY"}},
           "agents": [{"agent": "rsi"}]}
    spec = spec_from_dict(raw)
    assert spec.live["exchange_config"] == {"timeout": 30000, "apiKey_env": "KEY"}
    assert spec.live["symbols"] == ["BTC/USDT"] and spec.agents == ("rsi",)
    with pytest.raises(ConfigError, match="remove \\[data\\]"):
        spec_from_dict({**raw, "data": {"symbols": ["AAPL"]}})
    with pytest.raises(ConfigError, match="unknown key\\(s\\) speed in \\[live\\]"):
        spec_from_dict({**raw, "live": {**raw["live"], "speed": 1}})


def test_the_live_example_config_loads_and_its_agents_build():
    from arena.agents import create_agent
    from arena.config import load_config

    spec = load_config(Path(__file__).resolve().parents[3] / "examples" / "live_binance.toml")
    assert spec.live["exchange"] == "binance" and len(spec.agents) == 8
    for text in spec.agents:
        create_agent(text)

"""`arena live --resume RUN` as real subprocesses against the local Binance server (ccxt's
real ``binance`` class, the server's clock moved by the tests): a live run killed with
SIGKILL, or stopped with SIGTERM, and resumed over the same candles ends with the same
trades and the same equity, to the last bit, as a run that never stopped; the resumed
recording replays and exports; runs that cannot be resumed are refused with exit 2."""

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena import Replay
from arena.recorder import Recording
from tests.arena.feeds.binance_server import BinanceServer
from tests.arena.feeds.test_live_cli import ARENA, NOW, exchange_json

WARMUP, LIVE = 30, 10  # bars: the warm-up, then ten live minutes
#: deterministic agents (random with the run's seed), costs, two symbols
ARGS = ["--exchange", "binance", "--symbol", "BTC/USDT", "--symbol", "ETH/USDT",
        "--timeframe", "1m", "--warmup", str(WARMUP), "--duration", f"{LIVE}m", "--poll", "0.1",
        "--agent", "sma_cross:fast=3,slow=8", "--agent", "momentum:lookback=5",
        "--agent", "buy_and_hold", "--agent", "rsi:period=5", "--agent",
        "random:trade_prob=0.3", "--agent", "mean_reversion:lookback=6,entry_z=0.8",
        "--seed", "7", "--fee-bps", "10", "--slippage-bps", "5", "--fractional",
        "--format", "json"]
TRADE_COLS = ["bar", "time", "agent", "symbol", "side", "quantity", "price", "fee", "action",
              "pnl", "position"]


def arena_live(cwd, server, *args):
    return subprocess.Popen([*ARENA, "live", *args, "--exchange-config", exchange_json(server)],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_live(cwd, server):
    """A new run of ARGS in ``cwd/runs``, once its warm-up is recorded (the server's
    clock must not move before: the warm-up is the last candles closed by then)."""
    proc = arena_live(cwd, server, *ARGS, "--run-dir", "runs")
    runs = cwd / "runs"
    wait_until(lambda: (any(runs.glob("*/arena.sqlite")) and bars_recorded(the_run(runs))
                        >= WARMUP) or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()[1]
    return proc


def the_run(run_dir: Path) -> Path:
    (db,) = run_dir.glob("*/arena.sqlite")
    return db.parent


def bars_recorded(run: Path) -> int:
    try:
        with Recording(run) as rec:
            last, _ = rec.last_bar()
    except Exception:  # noqa: BLE001 - the writer may not have made the schema yet
        return 0
    return 0 if last is None else last + 1


def wait_until(what, timeout=60):
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def status_of(run: Path) -> str:
    with Recording(run) as rec:
        return rec.status()


def live_minutes(server, proc, run_dir: Path, minutes: int, upto: int) -> None:
    """Move the server's clock ``minutes`` a minute at a time; wait until ``upto`` bars
    are recorded (the run is quiet then: no candle is due)."""
    for _ in range(minutes):
        server.advance(1)
        time.sleep(0.15)
    wait_until(lambda: (run_dir.exists() and any(run_dir.glob("*/arena.sqlite"))
                        and bars_recorded(the_run(run_dir)) >= upto) or proc.poll() is not None)


def finish(server, proc, run_dir: Path, minutes: int):
    """Move the clock through the rest of the run; its output once it has ended."""
    live_minutes(server, proc, run_dir, minutes, WARMUP + LIVE)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return json.loads(out), err


def recorded(run: Path):
    with Recording(run) as rec:
        return (rec.meta, rec.trades()[TRADE_COLS], rec.equity(), rec.bars(),
                rec.decisions()[["bar", "agent", "targets"]], rec.events())


@pytest.fixture(scope="module")
def never_stopped(tmp_path_factory):
    """The reference: the same run, ten live minutes, never stopped."""
    cwd = tmp_path_factory.mktemp("reference")
    with BinanceServer(now_ms=NOW) as server:
        proc = start_live(cwd, server)
        board, _ = finish(server, proc, cwd / "runs", LIVE)
    return board, recorded(the_run(cwd / "runs"))


def assert_same_run(board, run: Path, never_stopped):
    want_board, (_, want_trades, want_equity, want_bars, want_dec, _) = never_stopped
    meta, trades, equity, bars, dec, events = recorded(run)
    assert meta["status"] == "finished" and meta["n_bars"] == WARMUP + LIVE
    pd.testing.assert_frame_equal(bars, want_bars, check_exact=True)
    assert len(want_trades) > 20  # the agents do trade, in the warm-up and live
    assert (want_trades["bar"] >= WARMUP).sum() > 3
    pd.testing.assert_frame_equal(trades, want_trades, check_exact=True)
    pd.testing.assert_frame_equal(equity, want_equity, check_exact=True)
    pd.testing.assert_frame_equal(dec, want_dec, check_exact=True)
    drop = ("run_id", "run_path")
    assert [{k: v for k, v in r.items() if k not in drop} for r in board] \
        == [{k: v for k, v in r.items() if k not in drop} for r in want_board]
    return meta, events


def test_a_run_killed_with_sigkill_and_resumed_equals_a_run_that_never_stopped(
        tmp_path, never_stopped):
    with BinanceServer(now_ms=NOW) as server:
        proc = start_live(tmp_path, server)
        live_minutes(server, proc, tmp_path / "runs", 4, WARMUP + 4)
        run = the_run(tmp_path / "runs")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(lambda: status_of(run) == "interrupted")
        with Recording(run) as rec:  # targets decided at bar 33's close, to fill at 34's open
            pending = np.array(rec.meta["engine_state"]["accounts"]["pending"], dtype=float)
        assert np.isfinite(pending).any()
        server.advance(3)  # three candles close while nothing runs
        # Act
        resumed = arena_live(tmp_path, server, "--resume", run.name, "--run-dir", "runs",
                             "--format", "json")
        wait_until(lambda: status_of(run) == "running")  # its writer: the feed is open
        live_minutes(server, resumed, tmp_path / "runs", 1, WARMUP + 8)
        resumed.send_signal(signal.SIGKILL)  # and once more, after the resume
        _, first_err = resumed.communicate(timeout=10)
        wait_until(lambda: status_of(run) == "interrupted")
        again = arena_live(tmp_path, server, "--resume", run.name, "--run-dir", "runs",
                           "--format", "json")
        wait_until(lambda: status_of(run) == "running")
        board, err = finish(server, again, tmp_path / "runs", LIVE - 8)
    # Assert: one run, one recording, the same as the run that never stopped
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run.name]
    assert "resuming run" in first_err and "3 missed candle(s)" in first_err
    meta, events = assert_same_run(board, run, never_stopped)
    assert [(r["bar"], r["after"]) for r in meta["resumed"]] == [
        (WARMUP + 4, "interrupted"), (WARMUP + 8, "interrupted")]
    assert "interrupted_reason" not in meta
    assert list(events["kind"]).count("run_resumed") == 2


def test_a_sigterm_stopped_run_resumes_and_its_recording_replays_and_exports(
        tmp_path, never_stopped):
    with BinanceServer(now_ms=NOW) as server:
        proc = start_live(tmp_path, server)
        live_minutes(server, proc, tmp_path / "runs", 2, WARMUP + 2)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        run = the_run(tmp_path / "runs")
        assert status_of(run) == "stopped"
        with Recording(run) as rec:  # a stopped run keeps its state for a resume
            assert rec.meta["engine_state"]["bar"] == WARMUP + 2
        # Act: resumed at once (nothing missed), by its folder
        resumed = arena_live(tmp_path, server, "--resume", str(run), "--format", "json")
        wait_until(lambda: status_of(run) == "running")
        board, _ = finish(server, resumed, tmp_path / "runs", LIVE - 2)
    assert_same_run(board, run, never_stopped)
    with Replay(run, at="end", follow=False) as rp:
        assert rp.n_bars == WARMUP + LIVE and rp.recording_status == "finished"
    exported = subprocess.run([*ARENA, "export", str(run), "--what", "trades", "--format", "csv",
                               "-o", "trades.csv"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=60)
    assert exported.returncode == 0, exported.stderr
    assert len(pd.read_csv(tmp_path / "trades.csv")) == len(never_stopped[1][1])


def run_cli(cwd, *args):
    return subprocess.run([*ARENA, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_runs_that_cannot_be_resumed_are_refused_with_exit_2(tmp_path, never_stopped):
    # an unknown run
    r = run_cli(tmp_path, "live", "--resume", "nope", "--run-dir", "runs")
    assert r.returncode == 2 and "no run 'nope'" in r.stderr and "Traceback" not in r.stderr
    # a backtest
    r = run_cli(tmp_path, "run", "--symbol", "AAPL", "--agent", "buy_and_hold", "--end",
                "2001-01-01", "--run-dir", "runs")
    assert r.returncode == 0, r.stderr
    backtest = the_run(tmp_path / "runs")
    r = run_cli(tmp_path, "live", "--resume", backtest.name, "--run-dir", "runs")
    assert r.returncode == 2 and "is not a live run" in r.stderr
    # options the recording fixes
    r = run_cli(tmp_path, "live", "--resume", backtest.name, "--agent", "rsi", "--seed", "1")
    assert r.returncode == 2 and "drop --agent, --seed" in r.stderr


def test_a_finished_run_or_one_still_running_is_refused(tmp_path, never_stopped):
    with BinanceServer(now_ms=NOW) as server:
        proc = start_live(tmp_path, server)
        live_minutes(server, proc, tmp_path / "runs", 1, WARMUP + 1)
        run = the_run(tmp_path / "runs")
        # Act: while it runs
        busy = run_cli(tmp_path, "live", "--resume", run.name, "--run-dir", "runs",
                       "--exchange-config", exchange_json(server))
        finish(server, proc, tmp_path / "runs", LIVE - 1)
        done = run_cli(tmp_path, "live", "--resume", run.name, "--run-dir", "runs",
                       "--exchange-config", exchange_json(server))
    assert busy.returncode == 2 and "is still being written by a live process" in busy.stderr
    assert done.returncode == 2 and "is finished (its duration is over)" in done.stderr


def test_a_recording_without_a_consistent_engine_state_is_refused(tmp_path, never_stopped):
    from arena.engine import ResumeError, load_saved_run

    with BinanceServer(now_ms=NOW) as server:
        proc = start_live(tmp_path, server)
        live_minutes(server, proc, tmp_path / "runs", 1, WARMUP + 1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    run = the_run(tmp_path / "runs")
    wait_until(lambda: status_of(run) == "interrupted")
    saved = load_saved_run(run)
    assert saved.bars == WARMUP + 1 and saved.status == "interrupted"
    assert np.isfinite(saved.equity).all()
    db = sqlite3.connect(run / "arena.sqlite")
    state = json.loads(db.execute("SELECT value FROM meta WHERE key = 'engine_state'").fetchone()[0])
    # a state older than the last bars (the process died in a hand-over)
    db.execute("UPDATE meta SET value = ? WHERE key = 'engine_state'",
               (json.dumps({**state, "bar": state["bar"] - 1}),))
    db.commit()
    with pytest.raises(ResumeError, match="holds 31 bars but its engine state is of bar 30"):
        load_saved_run(run)
    # none at all (recorded before resume existed)
    db.execute("DELETE FROM meta WHERE key = 'engine_state'")
    db.commit()
    db.close()
    with pytest.raises(ResumeError, match="without the engine state"):
        load_saved_run(run.name, tmp_path / "runs")

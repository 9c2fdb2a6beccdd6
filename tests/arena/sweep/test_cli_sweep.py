"""`arena sweep` as a real subprocess: the same numbers as `arena run`, an interrupted
sweep that resumes without recomputing, recordings of the best, configs, bad input."""

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from arena.recorder import Recording
from arena.sweep import load_results, read_manifest
from tests.terminal import run_on_terminal

_SCRIPT = Path(sys.executable).with_name("arena")
ARENA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "arena.cli"]
# `arena run --format json` keys and the results table's names for them
SAME = {"equity": "equity", "pnl": "pnl", "return_pct": "return_pct", "sharpe": "sharpe",
        "max_drawdown_pct": "max_drawdown_pct", "trades": "trades", "fees": "fees",
        "exposure_pct": "exposure_pct", "errors": "errors"}
# 25 random agents × 14 windows of 60 bars × 2 seeds: 700 tasks, each its own
# competition (agents that use the seed are not grouped), several seconds of work
RESUMABLE = ["--agent", "random:trade_prob=0.04..1/0.04", "--symbol", "GOOG",
             "--window", "60", "--step", "150", "--seeds", "2"]


def arena(*args, cwd, timeout=300, check=True):
    out = subprocess.run([*ARENA, *args], cwd=cwd, capture_output=True, text=True,
                         timeout=timeout)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def value(v):
    return None if v is None or (isinstance(v, float) and v != v) else v


@pytest.mark.slow
def test_each_task_equals_a_single_arena_run(tmp_path):
    out = arena("sweep", "--agent", "sma_cross:fast=5|10,slow=30", "--agent",
                "random:trade_prob=0.3", "--symbol", "GOOG", "--window", "300", "--step", "700",
                "--seeds", "2", "--seed", "7", "--workers", "1", "--out", "res",
                "--record", "top=2", "--run-dir", "recorded", "--format", "json", cwd=tmp_path)
    rows = json.loads(out.stdout)
    assert len(rows) == 3 * 3 * 2  # 3 specs × 3 windows × seeds 7 and 8
    assert "Dask dashboard: http://" in out.stderr
    randoms = [r for r in rows if r["agent"] == "random"]
    assert {r["seed"] for r in randoms} == {7, 8}
    assert randoms[0]["return_pct"] != randoms[1]["return_pct"]  # the seed matters
    sample = randoms[:2] + [r for r in rows if r["agent"] == "sma_cross"][::4][:3]
    for row in sample:
        single = json.loads(arena(
            "run", "--agent", row["spec"], "--symbol", "GOOG", "--start", row["window_start"][:10],
            "--end", row["window_end"][:10], "--seed", str(row["seed"]), "--no-record",
            "--format", "json", cwd=tmp_path).stdout)
        assert len(single) == 1
        for theirs, ours in SAME.items():
            assert value(single[0][theirs]) == value(row[ours]), (row["spec"], theirs)
        assert value(single[0]["win_rate"]) == value(
            None if row["win_rate_pct"] is None else row["win_rate_pct"] / 100)
    # --record top=2: the two best by sharpe re-ran with recordings that hold the same run
    table = load_results(tmp_path / "res")
    best = table.sort_values("sharpe", ascending=False).head(2)
    assert best["run_id"].notna().all() and table["run_id"].notna().sum() == 2
    for row in best.itertuples():
        with Recording(Path(row.run_path) / "arena.sqlite") as rec:
            assert rec.status() == "finished"
            assert rec.meta["start"][:10] == str(row.window_start)[:10]
            assert rec.equity()["equity"].iloc[-1] == pytest.approx(row.equity, abs=0)
        assert Path(row.run_path).parent == tmp_path / "recorded"


def _parts_rows(out: Path) -> int:
    try:
        return len(load_results(out))
    except (FileNotFoundError, OSError):
        return 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The results table of the RESUMABLE sweep run in one go."""
    cwd = tmp_path_factory.mktemp("uninterrupted")
    arena("sweep", *RESUMABLE, "--out", "fresh", cwd=cwd)
    return pd.read_parquet(cwd / "fresh" / "results.parquet")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_an_interrupted_sweep_resumes_without_recomputing(tmp_path, sig, uninterrupted):
    proc = subprocess.Popen([*ARENA, "sweep", *RESUMABLE, "--out", "res"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own group, as a terminal's job
    try:
        deadline = time.monotonic() + 120
        while _parts_rows(tmp_path / "res") == 0 and time.monotonic() < deadline:
            assert proc.poll() is None, "the sweep ended before it could be interrupted"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, sig)  # the whole group, workers too, as Ctrl-C in a terminal
        _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:  # a clean stop: one line, no worker tracebacks
        assert proc.returncode == 130 and err.strip().endswith("arena: interrupted"), err
        assert "Traceback" not in err
    finished = load_results(tmp_path / "res")
    total = read_manifest(tmp_path / "res")["tasks"]
    assert total == 700 and 0 < len(finished) < total
    assert not (tmp_path / "res" / "results.parquet").exists()

    again = arena("sweep", *RESUMABLE, "--out", "res", cwd=tmp_path)

    assert f"resuming: {len(finished)} of {total} tasks already in res" in again.stderr
    m = re.search(r"sweep: ([\d,]+) tasks \(([\d,]+) run, ([\d,]+) resumed\)", again.stdout)
    assert m and [int(g.replace(",", "")) for g in m.groups()] == [
        total, total - len(finished), len(finished)]
    resumed = pd.read_parquet(tmp_path / "res" / "results.parquet")
    # what was finished before the interruption is kept as it was, not recomputed
    kept = resumed.set_index("task_id").loc[finished["task_id"]].reset_index()
    pd.testing.assert_frame_equal(kept[finished.columns], finished)
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    assert resumed["task_id"].is_unique


@pytest.mark.slow
def test_a_sweep_config_file_and_csv_output(tmp_path):
    (tmp_path / "sweep.toml").write_text("""
[sweep]
agents = ["rsi:period=7|14", "buy_and_hold"]
symbols = ["GOOG", "AAPL,MSFT"]
start = "2010-01-01"
window = "6m"
seeds = 1
workers = 1
out = "res"

[portfolio]
fee_bps = 5.0
""")
    out = arena("sweep", "sweep.toml", "--format", "csv", cwd=tmp_path)
    table = pd.read_csv(io.StringIO(out.stdout))
    assert set(table["market"]) == {"GOOG", "AAPL,MSFT"}
    assert set(table["spec"]) == {"rsi:period=7", "rsi:period=14", "buy_and_hold"}
    held = table[table["spec"] == "buy_and_hold"]
    assert len(held) and (held["fees"] > 0).all()  # [portfolio] fee_bps reached the tasks
    assert len(table) == len(load_results(tmp_path / "res"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, message", [
    (["--agent", "nosuch", "--symbol", "GOOG"], "unknown agent 'nosuch'"),
    (["--agent", "sma_cross:fast=5..x", "--symbol", "GOOG"], "bad range '5..x' for fast"),
    (["--agent", "", "--symbol", "GOOG"], "empty agent grid spec"),
    (["--agent", "sma_cross:fast=50..5", "--symbol", "GOOG"], "empty range '50..5'"),
    (["--agent", "sma_cross:fast=30|40,slow=10|20", "--symbol", "GOOG"],
     "all 4 combination(s) are invalid"),
    (["--agent", "rsi", "--symbol", "GOOG", "--window", "3q"], "bad --window '3q'"),
    (["--agent", "rsi", "--symbol", "GOOG", "--metric", "luck"], "unknown --metric 'luck'"),
    (["--agent", "rsi", "--symbol", "GOOG", "--record", "best"], "--record takes top=N"),
    (["--agent", "rsi"], "give the markets with --symbol"),
    (["--symbol", "GOOG"], "no agents given"),
    (["--agent", "rsi", "--symbol", "NOSUCH"], "NOSUCH"),
    (["--agent", "rsi", "--symbol", "GOOG", "--scheduler", "tcp://127.0.0.1:{port}"],
     "cannot reach the Dask scheduler at 'tcp://127.0.0.1:{port}'"),
    (["--agent", "rsi", "--symbol", "GOOG", "--scheduler", "nonsense://x"],
     "cannot reach the Dask scheduler"),
    (["missing.toml"], "config file not found: missing.toml"),
])
def test_bad_input_is_one_clear_line_and_exit_code_2(tmp_path, args, message):
    port = str(_free_port())
    args = [a.replace("{port}", port) for a in args]
    out = arena("sweep", *args, "--out", "res", cwd=tmp_path, check=False, timeout=60)
    assert out.returncode == 2, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("arena: error: "), out.stderr
    assert message.replace("{port}", port) in lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_a_sweep_on_a_given_scheduler_with_a_data_file(tmp_path):
    from distributed import Client, LocalCluster, get_task_stream

    days = pd.date_range("2021-01-01", periods=120, freq="D")
    close = 100 + (pd.Series(range(120)) % 17).to_numpy() * 1.5
    pd.DataFrame({"time": days.strftime("%Y-%m-%d"), "open": close, "high": close + 1,
                  "low": close - 1, "close": close, "volume": 1000}).to_csv(
        tmp_path / "prices.csv", index=False)
    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1,
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        with get_task_stream(client) as stream:
            out = arena("sweep", "--agent", "sma_cross:fast=2|3,slow=5|8", "--data",
                        "prices.csv", "--window", "40", "--scheduler", cluster.scheduler_address,
                        "--format", "json", "--out", "res", cwd=tmp_path)
        ran_there = [t for t in stream.data if str(t["key"]).startswith("arena-tasks-")]
    rows = json.loads(out.stdout)
    assert len(rows) == 4 * 3 and {r["market"] for r in rows} == {"prices.csv"}
    assert ran_there  # the given cluster's worker ran them
    assert "Dask dashboard" in out.stderr
    both = arena("sweep", "--agent", "rsi", "--data", "prices.csv", "--workers", "2",
                 "--scheduler", cluster.scheduler_address, cwd=tmp_path, check=False)
    assert both.returncode == 2 and "--workers starts a local cluster" in both.stderr


@pytest.mark.slow
def test_on_a_terminal_the_sweep_shows_a_progress_bar(tmp_path):
    code, out, terminal = run_on_terminal(
        [*ARENA, "sweep", "--agent", "sma_cross:fast=2..10/2,slow=12|16", "--symbol", "GOOG",
         "--window", "200", "--format", "json", "--out", "res"], cwd=tmp_path)

    assert code == 0
    assert len(json.loads(out)) == 10 * 10
    assert "100/100" in terminal and "task" in terminal and "%|" in terminal, terminal


def test_the_example_sweep_config_reads_and_plans():
    from arena.sweep.sweep import load_sweep_config
    from arena.sweep.tasks import plan_tasks

    spec = load_sweep_config(Path(__file__).parents[3] / "examples" / "sweep.toml")
    assert spec.config.portfolio.fee_bps == 1.0 and spec.record_top == 3
    markets = {m.data_source: m.load_data() for m in spec.markets()}
    plan = plan_tasks(spec.agents, markets, spec.config, window=spec.window, step=spec.step)
    assert plan.combinations == 174 + 3 and plan.skipped == 16
    assert len(plan.tasks) == 177 * sum(len(w) for w in plan.windows.values())

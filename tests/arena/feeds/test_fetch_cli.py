"""`arena data fetch` as a real subprocess against a local Binance server: the cache it
writes is listed and runs, a SIGKILLed fetch resumes, bad arguments are one line."""

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from tests.arena.feeds.binance_server import MINUTE, BinanceServer
from tests.terminal import run_on_terminal

_SCRIPT = Path(sys.executable).with_name("arena")
ARENA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "arena.cli"]
GAP = range(250, 420)
BTC = "data/binance/BTC-USDT-1m.parquet"
TOML = f"""[data]
file = "{BTC}"

[run]
record = false

[[agents]]
agent = "buy_and_hold"

[[agents]]
agent = "momentum"
"""

pytestmark = pytest.mark.slow


def arena(*args, cwd, **kw):
    return subprocess.run([*ARENA, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          **kw)


def fetch_args(server, *args, config=None):
    cfg = config or json.dumps(server.exchange_config(timeout=300))
    return ["data", "fetch", "binance", *args, "-t", "1m", "--limit", "100",
            "--backoff", "0.05", "--exchange-config", cfg]


def parallel(commands: dict, cwd) -> dict:
    with ThreadPoolExecutor(2) as pool:
        results = pool.map(lambda args: arena(*args, cwd=cwd), commands.values())
        return dict(zip(commands, results, strict=True))


@pytest.fixture(scope="module")
def server():
    with BinanceServer(gaps=GAP) as srv:
        yield srv
    assert srv.unexpected == []


@pytest.fixture(scope="module")
def fetched(server, tmp_path_factory):
    """Two fetches (one file per symbol; both symbols in one file, config from a JSON
    file), then the listings and runs on what they wrote."""
    cwd = tmp_path_factory.mktemp("cli")
    (cwd / "binance.json").write_text(json.dumps(server.exchange_config(timeout=300)))
    (cwd / "cached.toml").write_text(TOML)
    fetches = parallel({
        "per_symbol": fetch_args(server, "BTC/USDT", "ETH/USDT", "--since", "2025-01-01"),
        "one_file": fetch_args(server, "BTC/USDT", "ETH/USDT", "--since", "2025-01-01",
                               "-o", "both.parquet", "--format", "json",
                               config="binance.json"),
    }, cwd)
    uses = parallel({
        "list": ["data", "list"],
        "list_json": ["data", "list", "--format", "json"],
        "run_toml": ["run", "cached.toml", "--format", "json"],
        "run_both": ["run", "--data", "both.parquet", "-a", "momentum", "--no-record"],
    }, cwd)
    return cwd, fetches | uses


def test_fetch_writes_one_cache_per_symbol_equal_to_the_servers_candles(server, fetched):
    # Act (in the fixture)
    cwd, out = fetched
    result = out["per_symbol"]
    # Assert
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"binance {s} 1m: +430 candles, 430 cached (2025-01-01 00:00 to 2025-01-01 09:59 UTC) "
        f"in data/binance/{s.replace('/', '-')}-1m.parquet" for s in ("BTC/USDT", "ETH/USDT")]
    for symbol, path in (("BTCUSDT", BTC), ("ETHUSDT", "data/binance/ETH-USDT-1m.parquet")):
        got = pd.read_parquet(cwd / path).drop(columns="symbol")
        pd.testing.assert_frame_equal(got, server.candles(symbol))


def test_fetch_with_output_writes_both_symbols_into_one_file(fetched):
    cwd, out = fetched
    result = out["one_file"]
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["symbol"], r["added"], r["path"]) for r in rows] == [
        ("BTC/USDT", 430, "both.parquet"), ("ETH/USDT", 430, "both.parquet")]
    frame = pd.read_parquet(cwd / "both.parquet")
    assert frame.groupby("symbol").size().to_dict() == {"BTC/USDT": 430, "ETH/USDT": 430}


def test_data_list_shows_the_cached_sets_next_to_the_bundled_ones(fetched):
    # Act (in the fixture)
    _, out = fetched
    table, as_json = out["list"], out["list_json"]
    # Assert
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["symbol", "start", "end", "bars"]
    at = lines.index("cached in data/ (times UTC):")
    assert lines[at + 1].split() == ["exchange", "symbol", "timeframe", "first", "last",
                                     "candles", "path"]
    assert lines[at + 2].split() == ["binance", "BTC/USDT", "1m", "2025-01-01", "00:00",
                                     "2025-01-01", "09:59", "430", BTC]
    assert lines[at + 3].split()[1] == "ETH/USDT"
    assert as_json.returncode == 0, as_json.stderr
    records = json.loads(as_json.stdout)
    mine = [r for r in records if r.get("exchange") == "binance"]
    assert [r["symbol"] for r in mine] == ["BTC/USDT", "ETH/USDT"]
    assert mine[0] | {"source": None} == {
        "symbol": "BTC/USDT", "start": "2025-01-01T00:00:00+00:00",
        "end": "2025-01-01T09:59:00+00:00", "bars": 430, "source": None,
        "exchange": "binance", "timeframe": "1m", "path": BTC}
    assert {r["symbol"] for r in records} >= {"AAPL", "GOOG", "IBM", "MSFT"}


def test_a_cached_file_runs_from_the_command_line_and_a_toml_config(fetched):
    # Act (in the fixture)
    _, out = fetched
    # Assert
    for name in ("run_toml", "run_both"):
        assert out[name].returncode == 0, out[name].stderr
    assert {r["agent"] for r in json.loads(out["run_toml"].stdout)} == {"buy_and_hold", "momentum"}
    assert out["run_both"].stdout.splitlines()[0] == \
        "both.parquet: 430 bars, 2025-01-01 00:00 to 2025-01-01 09:59"


def test_a_terminal_shows_a_progress_bar_on_stderr_only(server, tmp_path):
    # Act: stderr on a 24x120 pseudo-terminal, stdout a pipe
    code, out, terminal = run_on_terminal(
        [*ARENA, *fetch_args(server, "BTC/USDT", "--since", "2025-01-01")], cwd=tmp_path)
    # Assert
    assert code == 0
    assert out.startswith("binance BTC/USDT 1m: +430 candles")
    assert "binance BTC/USDT 1m:" in terminal and "%|" in terminal and "candle" in terminal, terminal


def test_a_fetch_killed_mid_way_resumes_without_duplicates_or_gaps(tmp_path):
    # Arrange: a slow server (0.1 s a page of 10 candles: 43 pages)
    with BinanceServer(gaps=GAP, delay=0.1) as server:
        args = fetch_args(server, "BTC/USDT", "--since", "2025-01-01")
        args[args.index("--limit") + 1] = "10"
        path = tmp_path / BTC
        proc = subprocess.Popen([*ARENA, *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not (path.exists() and len(server.klines_requests()) >= 6):
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline
                time.sleep(0.02)
            # Act
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            proc.stderr.close()
        killed = pd.read_parquet(path)
        asked = len(server.klines_requests())
        server.delay = 0
        resumed = arena(*args, cwd=tmp_path)
        # Assert
        assert proc.returncode == -signal.SIGKILL
        assert 0 < len(killed) < 430
        expected = server.candles("BTCUSDT")
        pd.testing.assert_frame_equal(killed.drop(columns="symbol"),
                                      expected.iloc[:len(killed)])
        assert resumed.returncode == 0, resumed.stderr
        first_new = int(server.klines_requests()[asked]["startTime"])
        assert first_new == killed["time"].iloc[-1].value // 1_000_000 + MINUTE
        assert f"+{430 - len(killed)} candles, 430 cached" in resumed.stdout
        pd.testing.assert_frame_equal(pd.read_parquet(path).drop(columns="symbol"), expected)
        assert sorted(p.name for p in path.parent.iterdir()) == [f".{path.name}.lock", path.name]


# the messages of the other bad arguments: test_fetch.py (same exit path)
BAD = {
    "unknown_exchange": (["data", "fetch", "binanc", "BTC/USDT", "-t", "1h", "--since", "2025-01-01"],
                         "unknown exchange 'binanc'; did you mean binance"),
    "unknown_symbol": ("fetch:XRP/USDT --since 2025-01-01", "unknown symbol 'XRP/USDT' on binance"),
    "bad_timeframe": ("fetch:BTC/USDT --since 2025-01-01 -t 7m", "binance has no timeframe '7m'"),
    "key_in_config": (["data", "fetch", "binance", "BTC/USDT", "-t", "1h", "--since", "2025",
                       "--exchange-config", '{"apiKey": "k-31337"}'],
                      "'apiKey' is a secret and is not taken from a config"),
}


@pytest.fixture(scope="module")
def refused(server, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("bad")
    commands = {}
    for name, (args, _) in BAD.items():
        if isinstance(args, str):
            symbol, *rest = args.removeprefix("fetch:").split()
            cli = fetch_args(server, symbol)
            if "-t" in rest:
                i = rest.index("-t")
                cli[cli.index("-t") + 1] = rest[i + 1]
                del rest[i:i + 2]
            args = [*cli, *rest]
        commands[name] = args
    return cwd, parallel(commands, cwd)


@pytest.mark.parametrize("case", BAD)
def test_bad_arguments_give_one_line_and_exit_code_2(refused, case):
    _, out = refused
    result = out[case]
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("arena: error: ")
    assert BAD[case][1] in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and "k-31337" not in result.stderr


def test_giving_up_is_one_clear_line_and_exit_code_1(tmp_path):
    with BinanceServer() as server:
        server.script(*["503"] * 3)
        result = arena(*fetch_args(server, "BTC/USDT", "--since", "2025-01-01"), "--retries", "2",
                       cwd=tmp_path, env={**os.environ, "COLUMNS": "200"})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 3  # two notes of retries, then the verdict
    assert lines[0].startswith("arena: binance BTC/USDT 1m candles from 2025-01-01 00:00 UTC: "
                               "HTTP 503 Service Unavailable from GET http://127.0.0.1:")
    assert lines[-1].startswith("arena: failed: binance BTC/USDT 1m candles from 2025-01-01 "
                                "00:00 UTC: gave up after 3 attempts in ")
    assert "/api/v3/klines?" in lines[-1]

"""Fetching through ccxt's real ``binance`` class from a local Binance server: the cache
equals the server's closed candles, grows incrementally, and survives every fault."""

import time

import pandas as pd
import pytest

from arena.feeds import (
    ExchangeClient,
    ExchangeConfig,
    FeedError,
    FetchError,
    RetryPolicy,
    fetch_history,
)
from tests.arena.feeds.binance_server import MINUTE, START_MS, BinanceServer

GAP = range(250, 420)  # 170 minutes without trades: longer than a page
PAGE = 100
FAST = RetryPolicy(attempts=8, backoff=0.05, max_backoff=0.5)
SECRETS = {"ARENA_TEST_KEY": "key-7f3a9c", "ARENA_TEST_SECRET": "secret-d41d8c"}


@pytest.fixture
def server():
    with BinanceServer(gaps=GAP) as srv:
        yield srv
    assert srv.unexpected == []


def fetch(server, tmp_path, symbols=("BTC/USDT",), notes=None, **kw):
    kw.setdefault("since", "2025-01-01")
    kw.setdefault("retry", FAST)
    return fetch_history("binance", list(symbols), "1m", cache_dir=tmp_path, limit=PAGE,
                         exchange_config=server.exchange_config(timeout=300),
                         on_retry=(notes if notes is not None else []).append, **kw)


def cached(path) -> pd.DataFrame:
    return pd.read_parquet(path)


def assert_equal_to_server(path, server, symbol="BTCUSDT"):
    got = cached(path)
    assert not got.duplicated(["symbol", "time"]).any()
    pd.testing.assert_frame_equal(got.drop(columns="symbol"), server.candles(symbol))


def test_a_fetch_builds_a_cache_equal_to_the_servers_closed_candles(server, tmp_path):
    # Act
    btc, eth = fetch(server, tmp_path, ["BTC/USDT", "ETH/USDT"])
    # Assert: 600 minutes minus the gap; the candle forming at 10:00 is not stored
    assert_equal_to_server(btc.path, server, "BTCUSDT")
    assert_equal_to_server(eth.path, server, "ETHUSDT")
    assert btc.path == tmp_path / "binance" / "BTC-USDT-1m.parquet"
    assert (btc.added, btc.candles) == (430, 430)
    assert btc.last == pd.Timestamp("2025-01-01 09:59", tz="UTC")
    assert len(server.candles(closed_only=False)) == 431
    assert set(cached(eth.path)["symbol"]) == {"ETH/USDT"}
    # paging crossed the gap: 250 candles, then 180 after it, in pages of 100
    klines = server.klines_requests()
    assert [q["symbol"] for q in klines] == ["BTCUSDT"] * 5 + ["ETHUSDT"] * 5
    assert btc.requests == eth.requests == 5


def test_fetching_again_adds_only_the_candles_new_since_the_last_fetch(server, tmp_path):
    # Arrange
    (first,) = fetch(server, tmp_path)
    server.advance(150)
    asked_before = len(server.klines_requests())
    # Act
    (again,) = fetch(server, tmp_path, since=None)
    # Assert
    new = server.klines_requests()[asked_before:]
    assert [int(q["startTime"]) for q in new] == [START_MS + 600 * MINUTE,
                                                  START_MS + 700 * MINUTE]
    assert (again.added, again.candles, again.requests) == (150, 580, 2)
    assert_equal_to_server(again.path, server)
    # and a third fetch with nothing new asks for nothing
    (third,) = fetch(server, tmp_path)
    assert (third.added, third.requests) == (0, 0)


FAULTS = {
    "429": ("HTTP 429", "Retry-After 1"),
    "500": ("HTTP 500", "/api/v3/klines"),
    "503": ("HTTP 503",),
    "slow:1": ("timed out",),
    "down:0.5": ("connection refused",),
    "duplicate": (),
    "shuffle": (),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_survived_and_the_cache_is_the_clean_one(server, tmp_path, fault):
    # Arrange: the fault hits the third page
    server.script("ok", "ok", fault)
    notes = []
    # Act
    (result,) = fetch(server, tmp_path, notes=notes)
    # Assert
    assert_equal_to_server(result.path, server)
    for text in FAULTS[fault]:
        assert any(text in n for n in notes), notes
    if not FAULTS[fault]:
        assert notes == []
    assert all(n.startswith("binance BTC/USDT 1m candles from 2025-01-01 03:20 UTC: ")
               for n in notes), notes


def test_a_retry_waits_as_long_as_retry_after_says(server, tmp_path):
    # Arrange
    server.script("429:1")
    notes = []
    # Act
    started = time.monotonic()
    fetch(server, tmp_path, notes=notes)
    # Assert
    assert time.monotonic() - started >= 1.0
    assert notes[0].endswith("retrying in 1.0 s (attempt 2 of 8)")


def test_giving_up_names_the_exchange_symbol_and_request_and_keeps_what_arrived(server, tmp_path):
    # Arrange: two good pages, then nothing but 503
    server.script("ok", "ok", *["503"] * 3)
    # Act
    with pytest.raises(FetchError) as err:
        fetch(server, tmp_path, retry=RetryPolicy(attempts=3, backoff=0.01))
    # Assert
    message = str(err.value)
    assert message.startswith("binance BTC/USDT 1m candles from 2025-01-01 03:20 UTC: gave up "
                              "after 3 attempts in ")
    assert "HTTP 503 Service Unavailable from GET http://127.0.0.1:" in message
    assert "/api/v3/klines?" in message and "symbol=BTCUSDT" in message
    path = tmp_path / "binance" / "BTC-USDT-1m.parquet"
    assert len(cached(path)) == 200
    # and the next fetch resumes after the 200th candle
    (result,) = fetch(server, tmp_path)
    assert (result.added, result.candles) == (230, 430)
    assert_equal_to_server(path, server)


def test_until_is_exclusive_and_output_holds_several_symbols(server, tmp_path):
    # Act
    results = fetch(server, tmp_path, ["BTC/USDT", "ETH/USDT"], until="2025-01-01T01:00",
                    output=tmp_path / "both.parquet")
    # Assert
    frame = cached(tmp_path / "both.parquet")
    assert [r.candles for r in results] == [60, 60]
    assert frame.groupby("symbol")["time"].max().tolist() == \
        [pd.Timestamp("2025-01-01 00:59", tz="UTC")] * 2


def test_keys_come_only_from_the_environment_and_never_show(server, tmp_path):
    # Arrange (with keys ccxt would also load currencies and margin pairs, privately)
    params = server.exchange_config(timeout=300)
    params["options"].update(fetchCurrencies=False, fetchMargins=False)
    params.update(apiKey_env="ARENA_TEST_KEY", secret_env="ARENA_TEST_SECRET")
    server.script(*["500"] * 3)
    # Act
    with ExchangeClient(ExchangeConfig("binance", params), environ=SECRETS) as client:
        keys = (client.exchange.apiKey, client.exchange.secret)
    with pytest.raises(FetchError) as err:
        fetch_history(ExchangeConfig("binance", params), "BTC/USDT", "1m", "2025-01-01",
                      cache_dir=tmp_path, retry=RetryPolicy(attempts=2, backoff=0),
                      environ=SECRETS)
    # Assert
    assert keys == (SECRETS["ARENA_TEST_KEY"], SECRETS["ARENA_TEST_SECRET"])
    assert "gave up after 2 attempts" in str(err.value) and "/klines?" in str(err.value)
    assert not any(s in repr(err.value) for s in SECRETS.values())
    assert not any(s in repr(ExchangeConfig("binance", params)) for s in SECRETS.values())


@pytest.mark.parametrize(("kw", "message"), [
    ({"exchange": "binanc"}, "unknown exchange 'binanc'; did you mean binance"),
    ({"symbols": ["XRP/USDT"]}, "unknown symbol 'XRP/USDT' on binance"),
    ({"symbols": ["BTCUSDT"]}, "unknown symbol 'BTCUSDT' on binance; did you mean BTC/USDT"),
    ({"timeframe": "7m"}, "binance has no timeframe '7m'; it offers 1s, 1m"),
    ({"since": "2025-02-30"}, "bad since date '2025-02-30'"),
    ({"since": "2025-01-02", "until": "2025-01-01"}, "must be later than since"),
    ({"since": None}, "not cached yet"),
])
def test_bad_arguments_are_feed_errors_that_say_which(server, tmp_path, kw, message):
    args = {"exchange": "binance", "symbols": ["BTC/USDT"], "timeframe": "1m",
            "since": "2025-01-01", **kw}
    with pytest.raises(FeedError, match=message):
        fetch_history(args.pop("exchange"), args.pop("symbols"), args.pop("timeframe"),
                      cache_dir=tmp_path, exchange_config=server.exchange_config(), **args)
    assert not (tmp_path / "binance").exists() or not list((tmp_path / "binance").glob("*.parquet"))

"""The candle cache: the loaders' long layout, no candle twice, atomic saves."""

import os

import numpy as np
import pandas as pd
import pytest

from arena.data import load
from arena.feeds.cache import CandleCache, default_path, list_caches, read_meta, safe_symbol
from arena.feeds.errors import FeedError

PRICES = {"BTC/USDT": 42_000.0, "ETH/USDT": 2_300.0}


def candles(symbol: str, start: str, n: int) -> pd.DataFrame:
    times = pd.date_range(start, periods=n, freq="1min", tz="UTC").astype("datetime64[ns, UTC]")
    close = PRICES[symbol] * (1 + 0.01 * np.sin(np.arange(n)))
    return pd.DataFrame({"time": times, "open": close, "high": close * 1.001,
                         "low": close * 0.999, "close": close, "volume": 1.0 + np.arange(n)})


@pytest.mark.parametrize(("symbol", "name"), [
    ("BTC/USDT", "BTC-USDT"), ("BTC/USDT:USDT", "BTC-USDT_USDT"), ("A B*", "A_B_"),
])
def test_symbols_are_made_filename_safe(symbol, name):
    assert safe_symbol(symbol) == name
    assert default_path("data", "binance", symbol, "1h") == \
        default_path("data", "binance", symbol, "1h").parent / f"{name}-1h.parquet"


def test_a_cache_of_two_symbols_loads_like_any_long_file(tmp_path):
    # Arrange
    path = tmp_path / "both.parquet"
    with CandleCache(path, "binance", "1m") as cache:
        cache.add("BTC/USDT", candles("BTC/USDT", "2025-01-01", 50))
        cache.add("ETH/USDT", candles("ETH/USDT", "2025-01-01 00:10", 50))
        cache.save()
    # Act
    data = load(str(path))
    raw = pd.read_parquet(path)
    # Assert: long layout, UTC, aligned on the 40 shared minutes
    assert list(raw.columns) == ["time", "symbol", "open", "high", "low", "close", "volume"]
    assert str(raw["time"].dtype) == "datetime64[ns, UTC]"
    assert data.symbols == ("BTC/USDT", "ETH/USDT")
    assert len(data) == 40
    assert data.timestamp(0) == pd.Timestamp("2025-01-01 00:10", tz="UTC")
    np.testing.assert_array_equal(data.close[:, 1], candles("ETH/USDT", "2025-01-01 00:10", 40)["close"])
    assert read_meta(path) == {"exchange": "binance", "timeframe": "1m", "format": 1}


def test_no_candle_is_stored_twice_across_adds_and_reopening(tmp_path):
    # Arrange
    path = tmp_path / "btc.parquet"
    with CandleCache(path, "binance", "1m") as cache:
        cache.add("BTC/USDT", candles("BTC/USDT", "2025-01-01", 30))
        cache.save()
    # Act: the same 30 again plus 10 more, after reopening
    with CandleCache(path, "binance", "1m") as cache:
        added = cache.add("BTC/USDT", candles("BTC/USDT", "2025-01-01", 40))
        cache.save()
    # Assert
    assert added == 10
    pd.testing.assert_frame_equal(pd.read_parquet(path).drop(columns="symbol"),
                                  candles("BTC/USDT", "2025-01-01", 40))


def test_a_failed_save_leaves_the_previous_file_and_no_temporary_file(tmp_path, monkeypatch):
    # Arrange
    path = tmp_path / "btc.parquet"
    with CandleCache(path, "binance", "1m") as cache:
        cache.add("BTC/USDT", candles("BTC/USDT", "2025-01-01", 30))
        cache.save()
        before = path.read_bytes()
        cache.add("BTC/USDT", candles("BTC/USDT", "2025-01-01", 60))

        def disk_full(fd):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", disk_full)
        # Act
        with pytest.raises(OSError, match="No space"):
            cache.save()
    # Assert
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".btc.parquet.lock", "btc.parquet"]


def test_leftovers_of_a_killed_save_are_removed_on_opening(tmp_path):
    (tmp_path / ".btc.parquet.abc123.tmp").write_bytes(b"half a file")
    with CandleCache(tmp_path / "btc.parquet", "binance", "1m"):
        pass
    assert not list(tmp_path.glob("*.tmp"))


def test_a_cache_of_another_timeframe_or_a_foreign_file_is_refused(tmp_path):
    # Arrange
    path = tmp_path / "btc.parquet"
    with CandleCache(path, "binance", "1m") as cache:
        cache.add("BTC/USDT", candles("BTC/USDT", "2025-01-01", 3))
        cache.save()
    other = tmp_path / "prices.parquet"
    candles("BTC/USDT", "2025-01-01", 3).to_parquet(other)
    # Act / Assert
    with pytest.raises(FeedError, match=r"holds binance 1m candles, not binance 1h"):
        CandleCache(path, "binance", "1h")
    with pytest.raises(FeedError, match="is not a candle cache"):
        CandleCache(other, "binance", "1m")


def test_two_writers_of_one_file_are_refused(tmp_path):
    with CandleCache(tmp_path / "btc.parquet", "binance", "1m"), \
            pytest.raises(FeedError, match="being written by another fetch"):
        CandleCache(tmp_path / "btc.parquet", "binance", "1m")


def test_list_caches_shows_each_file_and_symbol(tmp_path):
    # Arrange: two caches, a foreign Parquet file and a broken one
    with CandleCache(default_path(tmp_path, "binance", "BTC/USDT", "1m"), "binance", "1m") as c:
        c.add("BTC/USDT", candles("BTC/USDT", "2025-01-01", 5))
        c.save()
    with CandleCache(tmp_path / "kraken" / "both.parquet", "kraken", "1m") as c:
        c.add("BTC/USDT", candles("BTC/USDT", "2025-01-01", 3))
        c.add("ETH/USDT", candles("ETH/USDT", "2025-01-02", 4))
        c.save()
    candles("BTC/USDT", "2025-01-01", 3).to_parquet(tmp_path / "plain.parquet")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    # Act
    listed = list_caches(tmp_path)
    # Assert
    assert list(listed.columns) == ["exchange", "symbol", "timeframe", "first", "last",
                                    "candles", "path"]
    assert listed[["exchange", "symbol", "candles"]].values.tolist() == [
        ["binance", "BTC/USDT", 5], ["kraken", "BTC/USDT", 3], ["kraken", "ETH/USDT", 4]]
    assert listed["last"].iloc[2] == pd.Timestamp("2025-01-02 00:03", tz="UTC")
    assert listed["path"].iloc[0].endswith("binance/BTC-USDT-1m.parquet")
    assert list_caches(tmp_path / "missing").empty

"""Bundled real history from bokeh-sampledata, split-adjusted."""

import time

import numpy as np
import pandas as pd
import pytest
from bokeh_sampledata import stocks

from arena.data import PROVENANCE, DataError, bundled_symbols, load_bundled
from arena.data.validate import validate_market

# symbol: (first date, last date) as shipped
RANGES = {
    "AAPL": ("2000-03-01", "2013-03-01"),
    "GOOG": ("2004-08-19", "2013-03-01"),
    "IBM": ("2000-03-01", "2013-03-01"),
    "MSFT": ("2000-03-01", "2013-03-01"),
}
# Stock splits inside the history (2-for-1 each): the raw close halves that day.
SPLITS = {"AAPL": ("2000-06-21", "2005-02-28"), "MSFT": ("2003-02-18",)}
# Not a split: Apple fell 52% on 2000-09-29 after a profit warning; adjustment keeps it.
AAPL_CRASH = "2000-09-29"


def daily_returns(close: np.ndarray) -> np.ndarray:
    return close[1:] / close[:-1] - 1.0


def raw_returns_on(symbol: str, day: str) -> float:
    src = getattr(stocks, symbol)
    i = src["date"].index(day)
    return src["close"][i] / src["close"][i - 1] - 1.0


def test_bundled_symbols_and_their_date_ranges():
    table = bundled_symbols()

    assert list(table.columns) == ["symbol", "start", "end", "bars", "source"]
    assert list(table["symbol"]) == list(RANGES)
    for row in table.itertuples():
        first, last = RANGES[row.symbol]
        assert row.start == pd.Timestamp(first, tz="UTC")
        assert row.end == pd.Timestamp(last, tz="UTC")
        assert row.bars == len(getattr(stocks, row.symbol)["date"])
    assert table["bars"].tolist() == [3270, 2148, 3270, 3270]


def test_load_bundled_matches_the_table():
    data = load_bundled(["MSFT"])

    assert data.symbols == ("MSFT",)
    assert len(data) == 3270
    assert data.timestamp(0) == pd.Timestamp("2000-03-01", tz="UTC")


@pytest.mark.parametrize("symbol", ["AAPL", "MSFT"])
def test_raw_source_halves_at_the_splits(symbol):
    for day in SPLITS[symbol]:
        assert raw_returns_on(symbol, day) < -0.44


@pytest.mark.parametrize("symbol", ["AAPL", "MSFT"])
def test_no_split_jump_remains(symbol):
    data = load_bundled(symbol)
    returns = daily_returns(data.close[:, 0])
    days = pd.DatetimeIndex(data.times[1:])

    for day in SPLITS[symbol]:
        assert abs(returns[days.get_loc(pd.Timestamp(day))]) < 0.1
    real = days != pd.Timestamp(AAPL_CRASH)
    assert np.abs(returns[real]).max() < 0.35


def test_a_genuine_crash_is_not_adjusted_away():
    data = load_bundled("AAPL")
    returns = daily_returns(data.close[:, 0])
    i = pd.DatetimeIndex(data.times[1:]).get_loc(pd.Timestamp(AAPL_CRASH))

    assert returns[i] == pytest.approx(raw_returns_on("AAPL", AAPL_CRASH))
    assert returns[i] < -0.5


@pytest.mark.parametrize("symbol", list(RANGES))
def test_last_bar_is_the_sources_last_bar(symbol):
    src = getattr(stocks, symbol)

    data = load_bundled(symbol)

    assert data.close[-1, 0] == src["close"][-1]
    assert data.open[-1, 0] == src["open"][-1]
    assert data.volume[-1, 0] == src["volume"][-1]


def test_volume_is_scaled_inversely_to_prices():
    src = stocks.MSFT
    data = load_bundled("MSFT")

    dollar_volume = data.close[:, 0] * data.volume[:, 0]
    raw_dollar_volume = np.asarray(src["close"]) * np.asarray(src["volume"])

    np.testing.assert_allclose(dollar_volume, raw_dollar_volume, rtol=1e-12)
    assert data.volume[0, 0] > 2 * src["volume"][0]  # a pre-split share is two shares today


def test_adjusted_bars_pass_validation():
    data = load_bundled(list(RANGES))

    validate_market(data)


def test_several_symbols_share_googs_dates():
    data = load_bundled("aapl, goog")

    assert data.symbols == ("AAPL", "GOOG")
    assert data.timestamp(0) == pd.Timestamp("2004-08-19", tz="UTC")
    assert len(data) == 2148


def test_start_and_end():
    data = load_bundled(["IBM"], start="2010-01-01", end="2010-12-31")

    assert data.timestamp(0) == pd.Timestamp("2010-01-04", tz="UTC")
    assert data.timestamp(-1) == pd.Timestamp("2010-12-31", tz="UTC")
    assert len(data) == 252


def test_unknown_symbol_names_it_and_lists_the_available():
    with pytest.raises(DataError) as info:
        load_bundled(["AAPL", "TSLA"])

    assert "unknown symbol 'TSLA'" in str(info.value)
    assert "available: AAPL, GOOG, IBM, MSFT" in str(info.value)


def test_arrays_cannot_be_modified():
    data = load_bundled("IBM")

    with pytest.raises(ValueError, match="read-only"):
        data.close[0, 0] = 1.0


def test_warm_load_is_fast():
    load_bundled(list(RANGES))
    began = time.perf_counter()

    for _ in range(10):
        load_bundled(list(RANGES))

    assert (time.perf_counter() - began) / 10 < 0.1


def test_provenance_states_licence_and_source():
    assert "BSD-3-Clause" in PROVENANCE
    assert "Public Domain" in PROVENANCE
    assert "Quandl WIKI Prices" in PROVENANCE

"""Loading CSV/Parquet files and DataFrames in long, single-symbol and wide layouts."""

import numpy as np
import pandas as pd
import pytest

from arena.data import DataError, MarketData, from_frame, load, load_file, synthetic

TWO_SYMBOLS = synthetic(("AAA", "BBB"), bars=30, seed=7)

SINGLE_CSV = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n"
    "2020-01-02,10.0,10.5,9.8,10.2,10.1,1000\n"
    "2020-01-03,10.2,10.8,10.1,10.6,10.5,1200\n"
)

# AAA trades 2020-01-02..06, BBB 2020-01-03..07: they share 01-03 and 01-06.
STAGGERED_CSV = (
    "time,symbol,open,high,low,close,volume\n"
    "2020-01-02,AAA,1,2,1,2,10\n"
    "2020-01-03,AAA,2,3,2,3,10\n"
    "2020-01-03,BBB,5,6,5,6,10\n"
    "2020-01-06,AAA,3,4,3,4,10\n"
    "2020-01-06,BBB,6,7,6,7,10\n"
    "2020-01-07,BBB,7,8,7,8,10\n"
)


def assert_same_bars(actual: MarketData, expected: MarketData) -> None:
    assert actual.symbols == expected.symbols
    np.testing.assert_array_equal(actual.times, expected.times)
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(actual, name), getattr(expected, name), err_msg=name)


def wide_multiindex(data: MarketData) -> pd.DataFrame:
    frames = {sym: data.frame(sym) for sym in data.symbols}
    wide = pd.concat(frames, axis=1).swaplevel(axis=1)  # columns (field, symbol)
    wide.columns.names = ["field", "symbol"]
    return wide


def test_long_csv_round_trip(tmp_path):
    path = tmp_path / "bars.csv"
    TWO_SYMBOLS.long_frame().to_csv(path, index=False)

    loaded = load_file(path)

    assert_same_bars(loaded, TWO_SYMBOLS)
    assert loaded.source == str(path)


def test_long_csv_gz_round_trip(tmp_path):
    path = tmp_path / "bars.csv.gz"
    TWO_SYMBOLS.long_frame().to_csv(path, index=False)

    assert_same_bars(load_file(path), TWO_SYMBOLS)


def test_long_parquet_round_trip(tmp_path):
    path = tmp_path / "bars.parquet"
    TWO_SYMBOLS.long_frame().to_parquet(path)

    assert_same_bars(load_file(path), TWO_SYMBOLS)


def test_single_symbol_csv_takes_its_name_from_the_file(tmp_path):
    path = tmp_path / "msft.csv"
    path.write_text(SINGLE_CSV)

    loaded = load_file(path)

    assert loaded.symbols == ("MSFT",)
    np.testing.assert_array_equal(loaded.times, np.array(["2020-01-02", "2020-01-03"], "datetime64[ns]"))
    np.testing.assert_array_equal(loaded.close[:, 0], [10.2, 10.6])
    np.testing.assert_array_equal(loaded.volume[:, 0], [1000.0, 1200.0])


def test_single_symbol_parquet_with_time_index_round_trip(tmp_path):
    one = TWO_SYMBOLS.slice(0)
    path = tmp_path / "aaa.pq"
    one.frame("AAA").to_parquet(path)

    loaded = load_file(path)

    assert loaded.symbols == ("AAA",)
    np.testing.assert_array_equal(loaded.close[:, 0], one.close[:, 0])
    np.testing.assert_array_equal(loaded.times, one.times)


def test_wide_flat_csv(tmp_path):
    wide = pd.DataFrame({"time": pd.DatetimeIndex(TWO_SYMBOLS.times)})
    for sym in TWO_SYMBOLS.symbols:
        for name, values in TWO_SYMBOLS.frame(sym).items():
            wide[f"{name}_{sym}"] = values.to_numpy()
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)

    assert_same_bars(load_file(path), TWO_SYMBOLS)


def test_wide_two_header_csv_round_trip(tmp_path):
    path = tmp_path / "wide2.csv"
    wide_multiindex(TWO_SYMBOLS).to_csv(path)

    assert_same_bars(load_file(path), TWO_SYMBOLS)


def test_wide_two_header_csv_counts_header_lines(tmp_path):
    wide = wide_multiindex(TWO_SYMBOLS.slice(0, 3))
    wide.loc[wide.index[1], ("volume", "BBB")] = -1.0
    path = tmp_path / "wide2.csv"
    wide.to_csv(path)  # lines 1-3 are headers (field, symbol, index name)

    with pytest.raises(DataError) as info:
        load_file(path)

    assert (info.value.row, info.value.field) == (5, "volume/BBB")


def test_wide_multiindex_parquet_round_trip(tmp_path):
    path = tmp_path / "wide.parquet"
    wide_multiindex(TWO_SYMBOLS).to_parquet(path)

    assert_same_bars(load_file(path), TWO_SYMBOLS)


def test_wide_symbol_with_no_bar_on_a_row_is_skipped_then_aligned(tmp_path):
    wide = wide_multiindex(TWO_SYMBOLS.slice(0, 4))
    wide.loc[wide.index[0], (slice(None), "BBB")] = np.nan

    loaded = from_frame(wide)

    np.testing.assert_array_equal(loaded.times, TWO_SYMBOLS.times[1:4])


def test_wide_partly_empty_bar_is_an_error():
    wide = wide_multiindex(TWO_SYMBOLS.slice(0, 4))
    wide.loc[wide.index[2], ("low", "AAA")] = np.nan

    with pytest.raises(DataError) as info:
        from_frame(wide)

    assert info.value.field == "low/AAA"
    assert info.value.row == wide.index[2]
    assert info.value.reason == "missing value"


def test_dataframe_long_input():
    loaded = from_frame(TWO_SYMBOLS.long_frame())

    assert_same_bars(loaded, TWO_SYMBOLS)
    assert loaded.source == "DataFrame"


def test_dataframe_single_symbol_needs_a_name():
    frame = TWO_SYMBOLS.frame("BBB")

    with pytest.raises(DataError, match="no 'symbol' column"):
        from_frame(frame)
    named = from_frame(frame, symbols=["BBB"])

    np.testing.assert_array_equal(named.close[:, 0], TWO_SYMBOLS.close[:, 1])


def test_naive_times_are_utc_and_offsets_are_converted(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("time,open,high,low,close,volume\n"
                    "2020-01-02 09:30:00,10,11,9,10,1\n"
                    "2020-01-02T10:30:00-05:00,10,11,9,10,1\n"
                    "2020-01-02T17:00:00+01:00,10,11,9,10,1\n")

    loaded = load_file(path)

    expected = ["2020-01-02T09:30", "2020-01-02T15:30", "2020-01-02T16:00"]
    np.testing.assert_array_equal(loaded.times, np.array(expected, dtype="datetime64[ns]"))


def test_tz_aware_dataframe_times_are_converted_to_utc():
    frame = TWO_SYMBOLS.frame("AAA").tz_convert("America/New_York")  # midnight UTC = 19:00 NY

    loaded = from_frame(frame, symbols="AAA")

    np.testing.assert_array_equal(loaded.times, TWO_SYMBOLS.times)
    assert str(loaded.timestamp(0).tz) == "UTC"


def test_symbols_are_aligned_on_shared_dates(tmp_path):
    path = tmp_path / "staggered.csv"
    path.write_text(STAGGERED_CSV)

    loaded = load_file(path)

    assert loaded.symbols == ("AAA", "BBB")
    np.testing.assert_array_equal(loaded.times, np.array(["2020-01-03", "2020-01-06"], "datetime64[ns]"))
    np.testing.assert_array_equal(loaded.close, [[3.0, 6.0], [4.0, 7.0]])


def test_one_symbol_keeps_its_full_history(tmp_path):
    path = tmp_path / "staggered.csv"
    path.write_text(STAGGERED_CSV)

    loaded = load_file(path, symbols=["BBB"])

    np.testing.assert_array_equal(loaded.close[:, 0], [6.0, 7.0, 8.0])


def test_symbols_pick_and_order(tmp_path):
    path = tmp_path / "staggered.csv"
    path.write_text(STAGGERED_CSV)

    loaded = load_file(path, symbols="BBB,AAA")

    assert loaded.symbols == ("BBB", "AAA")
    np.testing.assert_array_equal(loaded.close[0], [6.0, 3.0])


def test_symbols_sharing_no_dates_are_an_error(tmp_path):
    path = tmp_path / "apart.csv"
    path.write_text("time,symbol,open,high,low,close,volume\n"
                    "2020-01-02,AAA,1,2,1,2,10\n"
                    "2020-01-03,BBB,1,2,1,2,10\n")

    with pytest.raises(DataError) as info:
        load_file(path)

    assert "share no dates" in str(info.value)
    assert "AAA 2020-01-02..2020-01-02; BBB 2020-01-03..2020-01-03" in str(info.value)


def test_unknown_symbol_lists_the_available_ones(tmp_path):
    path = tmp_path / "staggered.csv"
    path.write_text(STAGGERED_CSV)

    with pytest.raises(DataError) as info:
        load_file(path, symbols=["CCC"])

    assert str(info.value) == f"{path}, field 'symbol': unknown symbol 'CCC'; available: AAA, BBB"


def test_start_and_end_are_inclusive(tmp_path):
    path = tmp_path / "staggered.csv"
    path.write_text(STAGGERED_CSV)

    loaded = load_file(path, symbols=["AAA"], start="2020-01-03", end="2020-01-06")

    np.testing.assert_array_equal(loaded.close[:, 0], [3.0, 4.0])


def test_empty_window_is_an_error(tmp_path):
    path = tmp_path / "staggered.csv"
    path.write_text(STAGGERED_CSV)

    with pytest.raises(DataError, match="no bars between 2021-01-01 and the end"):
        load_file(path, start="2021-01-01")


def test_unsupported_extension(tmp_path):
    path = tmp_path / "bars.txt"
    path.write_text(STAGGERED_CSV)

    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        load_file(path)


def test_load_dispatches_on_the_source(tmp_path):
    path = tmp_path / "staggered.csv"
    path.write_text(STAGGERED_CSV)

    from_path = load(path)
    from_str = load(str(path), symbols=["AAA"])
    from_df = load(TWO_SYMBOLS.long_frame())
    bundled = load("AAPL,MSFT", end="2000-03-31")

    assert from_path.symbols == ("AAA", "BBB")
    assert from_str.symbols == ("AAA",)
    assert from_df.symbols == ("AAA", "BBB")
    assert bundled.symbols == ("AAPL", "MSFT")
    assert load(["IBM"]).symbols == ("IBM",)


def test_load_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"

    with pytest.raises(DataError) as info:
        load(str(missing))

    assert str(info.value) == f"{missing}: file not found: {missing}"


def test_load_name_that_is_neither_file_nor_bundled():
    with pytest.raises(DataError, match="no file named 'prices' and no bundled symbol"):
        load("prices")

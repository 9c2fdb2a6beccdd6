"""Validation errors: every check names the file, the row (CSV line, header = line 1) and the reason."""

import pickle

import numpy as np
import pandas as pd
import pytest

from arena.data import DataError, from_frame, load_file, synthetic
from arena.data.validate import validate_market

HEADER = "time,open,high,low,close,volume\n"
GOOD_ROWS = (
    "2020-01-02,10.0,10.5,9.8,10.2,1000\n"
    "2020-01-03,10.2,10.8,10.1,10.6,1200\n"
    "2020-01-06,10.6,10.9,10.3,10.4,900\n"
)

# (case id, CSV text, expected line, expected field, expected reason)
CASES = [
    ("unparsable time", HEADER + "2020-01-02,10,11,9,10,1\n2020-13-45,10,11,9,10,1\n",
     3, "time", "cannot parse time '2020-13-45'"),
    ("missing time", HEADER + "2020-01-02,10,11,9,10,1\n,10,11,9,10,1\n",
     3, "time", "missing time"),
    ("unsorted times", HEADER + "2020-01-03,10,11,9,10,1\n2020-01-02,10,11,9,10,1\n",
     3, "time", "time 2020-01-02 is earlier than 2020-01-03 at line 2 (PRICES); times must increase"),
    ("duplicate times", HEADER + "2020-01-02,10,11,9,10,1\n2020-01-02,10,11,9,10,1\n",
     3, "time", "duplicate time 2020-01-02 for PRICES (also at line 2)"),
    ("empty price", HEADER + "2020-01-02,10,11,9,10,1\n2020-01-03,10,11,,10,1\n",
     3, "low", "missing value"),
    ("NaN price", HEADER + "2020-01-02,10,11,9,NaN,1\n",
     2, "close", "missing value"),
    ("empty volume", HEADER + "2020-01-02,10,11,9,10,\n",
     2, "volume", "missing value"),
    ("non-numeric price", HEADER + "2020-01-02,10,11,9,10,1\n2020-01-03,10,abc,9,10,1\n",
     3, "high", "'abc' is not a number"),
    ("zero price", HEADER + "2020-01-02,0,11,0,10,1\n",
     2, "open", "open 0.0 is not positive"),
    ("negative price", HEADER + "2020-01-02,10,11,-9,10,1\n",
     2, "low", "low -9.0 is not positive"),
    ("negative volume", HEADER + "2020-01-02,10,11,9,10,-5\n",
     2, "volume", "volume -5.0 is negative"),
    ("high below low", HEADER + "2020-01-02,9.2,9.0,9.5,9.2,1\n",
     2, "high", "high 9.0 is below low 9.5"),
    ("high below max(open, close)", HEADER + GOOD_ROWS + "2020-01-07,10.0,9.5,9.4,10.2,1\n",
     5, "high", "high 9.5 is below max(open, close) 10.2"),
    ("low above min(open, close)", HEADER + GOOD_ROWS + "2020-01-07,10.2,10.6,10.3,10.5,1\n",
     5, "low", "low 10.3 is above min(open, close) 10.2"),
]


def _write(tmp_path, text, name="prices.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "line", "field", "reason"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_each_check_names_file_line_field_and_reason(tmp_path, text, line, field, reason):
    path = _write(tmp_path, text)

    with pytest.raises(DataError) as info:
        load_file(path)

    err = info.value
    assert (err.source, err.row, err.field, err.reason) == (str(path), line, field, reason)
    assert str(err) == f"{path}, line {line}, field '{field}': {reason}"


def test_message_reads_as_one_line_like_the_spec_example(tmp_path):
    rows = [f"2020-01-{d:02d},10.0,10.5,9.8,10.2,1000\n" for d in range(2, 7)]
    path = _write(tmp_path, HEADER + "".join(rows) + "2020-01-07,10.0,9.5,9.4,10.2,1000\n")

    with pytest.raises(DataError) as info:
        load_file(path)

    assert str(info.value).endswith("prices.csv, line 7, field 'high': high 9.5 is below max(open, close) 10.2")
    assert "\n" not in str(info.value)


def test_missing_columns_are_named(tmp_path):
    path = _write(tmp_path, "time,open,high,close\n2020-01-02,10,11,10\n")

    with pytest.raises(DataError) as info:
        load_file(path)

    assert info.value.row is None
    assert "missing column(s) 'low', 'volume'" in str(info.value)
    assert str(info.value).startswith(f"{path}: ")


def test_missing_time_column_is_named(tmp_path):
    path = _write(tmp_path, "open,high,low,close,volume\n10,11,9,10,1\n")

    with pytest.raises(DataError, match=r"missing column\(s\) 'time'"):
        load_file(path)


def test_empty_file(tmp_path):
    path = _write(tmp_path, "")

    with pytest.raises(DataError) as info:
        load_file(path)

    assert str(info.value) == f"{path}: file is empty"


def test_header_only_file_has_no_data_rows(tmp_path):
    path = _write(tmp_path, HEADER)

    with pytest.raises(DataError) as info:
        load_file(path)

    assert str(info.value) == f"{path}: no data rows"


def test_first_offending_row_is_reported(tmp_path):
    text = HEADER + GOOD_ROWS + "2020-01-07,10,9,9.5,10,1\n" + "2020-01-08,10,9,9.5,10,1\n"
    path = _write(tmp_path, text)

    with pytest.raises(DataError) as info:
        load_file(path)

    assert info.value.row == 5


def test_checks_run_in_a_fixed_order_not_row_order(tmp_path):
    # line 2 has high < max(open, close); line 4 a missing value, which is checked first
    text = HEADER + "2020-01-02,10,9.9,9,10,1\n2020-01-03,10,11,9,10,1\n2020-01-06,10,11,9,,1\n"
    path = _write(tmp_path, text)

    with pytest.raises(DataError) as info:
        load_file(path)

    assert (info.value.row, info.value.field, info.value.reason) == (4, "close", "missing value")


def test_blank_lines_are_skipped_but_still_counted(tmp_path):
    text = HEADER + "2020-01-02,10,11,9,10,1\n\n2020-01-03,10,11,9,10,-1\n"
    path = _write(tmp_path, text)

    with pytest.raises(DataError) as info:
        load_file(path)

    assert info.value.row == 4


def test_times_are_checked_per_symbol(tmp_path):
    text = ("time,symbol,open,high,low,close,volume\n"
            "2020-01-02,AAA,10,11,9,10,1\n"
            "2020-01-02,BBB,10,11,9,10,1\n"
            "2020-01-03,AAA,10,11,9,10,1\n"
            "2020-01-03,BBB,10,11,9,10,1\n"
            "2020-01-03,AAA,10,11,9,10,1\n")
    path = _write(tmp_path, text)

    with pytest.raises(DataError) as info:
        load_file(path)

    assert info.value.row == 6
    assert info.value.reason == "duplicate time 2020-01-03 for AAA (also at line 4)"


def test_unsorted_times_within_one_symbol_of_many(tmp_path):
    text = ("time,symbol,open,high,low,close,volume\n"
            "2020-01-03,AAA,10,11,9,10,1\n"
            "2020-01-02,BBB,10,11,9,10,1\n"
            "2020-01-02,AAA,10,11,9,10,1\n")
    path = _write(tmp_path, text)

    with pytest.raises(DataError) as info:
        load_file(path)

    assert info.value.row == 4
    assert "(AAA)" in info.value.reason


def test_missing_symbol_in_long_file(tmp_path):
    text = "time,symbol,open,high,low,close,volume\n2020-01-02,AAA,10,11,9,10,1\n2020-01-03,,10,11,9,10,1\n"
    path = _write(tmp_path, text)

    with pytest.raises(DataError) as info:
        load_file(path)

    assert (info.value.row, info.value.field, info.value.reason) == (3, "symbol", "missing symbol")


def test_field_is_named_as_written_in_wide_files(tmp_path):
    text = ("time,open_AAA,high_AAA,low_AAA,close_AAA,volume_AAA,"
            "open_BBB,high_BBB,low_BBB,close_BBB,volume_BBB\n"
            "2020-01-02,10,11,9,10,1,20,19,18,20,1\n")
    path = _write(tmp_path, text)

    with pytest.raises(DataError) as info:
        load_file(path)

    assert (info.value.row, info.value.field) == (2, "high_BBB")
    assert info.value.reason == "high 19.0 is below max(open, close) 20.0"


def test_field_is_named_as_written_with_other_case(tmp_path):
    path = _write(tmp_path, "Date,Open,High,Low,Close,Volume\n2020-01-02,10,11,9,10,-1\n")

    with pytest.raises(DataError) as info:
        load_file(path)

    assert str(info.value) == f"{path}, line 2, field 'Volume': volume -1.0 is negative"


def test_parquet_rows_are_one_based_data_rows(tmp_path):
    frame = pd.DataFrame({
        "time": ["2020-01-02", "2020-01-03", "2020-01-06"],
        "open": [10.0, 10.0, 10.0], "high": [11.0, 11.0, 9.0], "low": [9.0, 9.0, 8.0],
        "close": [10.0, 10.0, 10.0], "volume": [1.0, 1.0, 1.0],
    })
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)

    with pytest.raises(DataError) as info:
        load_file(path)

    assert str(info.value) == f"{path}, row 3, field 'high': high 9.0 is below max(open, close) 10.0"


def test_dataframe_errors_name_the_index_label():
    frame = pd.DataFrame(
        {"time": ["2020-01-02", "2020-01-03"], "symbol": ["X", "X"], "open": [10.0, 10.0],
         "high": [11.0, 11.0], "low": [9.0, 9.0], "close": [10.0, 10.0], "volume": [1.0, -3.0]},
        index=["a", "b"],
    )

    with pytest.raises(DataError) as info:
        from_frame(frame, source="my bars")

    assert str(info.value) == "my bars, row b, field 'volume': volume -3.0 is negative"


def test_data_error_is_a_value_error_and_survives_pickling():
    err = DataError("p.csv", "missing value", row=3, field="low")

    clone = pickle.loads(pickle.dumps(err))

    assert isinstance(clone, ValueError)
    assert (clone.source, clone.row, clone.field, clone.reason) == ("p.csv", 3, "low", "missing value")
    assert str(clone) == "p.csv, line 3, field 'low': missing value"


def test_validate_market_accepts_good_and_rejects_bad_market_data():
    good = synthetic(("A", "B"), bars=20, seed=1)
    high = np.array(good.high)
    high[7, 1] = good.low[7, 1] / 2
    bad = type(good)(good.times, good.symbols, good.open, high, good.low, good.close, good.volume,
                     source="patched")

    validate_market(good)
    with pytest.raises(DataError) as info:
        validate_market(bad)

    assert (info.value.row, info.value.field) == (8, "high")
    assert str(info.value).startswith("patched, bar 8, field 'high': high ")

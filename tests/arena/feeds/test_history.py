"""Paging through candles: closed only, each once, in order, through gaps."""

import numpy as np
import pandas as pd
import pytest

from arena.feeds.errors import FeedError
from arena.feeds.history import Timeframe, clean_page, closed_pages, to_ms

T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC
MIN = 60_000
ONE_MINUTE = Timeframe("1m", MIN)


def candle(i: int, close: float = 10.0) -> list:
    return [T0 + i * MIN, 10.0, 11.0, 9.0, close, 1.0]


def minutes(frame: pd.DataFrame) -> list[int]:
    return [int((t.value // 1_000_000 - T0) // MIN) for t in frame["time"]]


def test_clean_page_sorts_drops_duplicates_and_keeps_the_last_copy():
    # Arrange: 2, 0, 1, 0 again (with another close), 3
    rows = [candle(2), candle(0, 10.0), candle(1), candle(0, 10.5), candle(3)]
    # Act
    page = clean_page(rows, T0, None, T0 + 10 * MIN, ONE_MINUTE)
    # Assert
    assert minutes(page) == [0, 1, 2, 3]
    assert page["close"].iloc[0] == 10.5
    assert str(page["time"].dtype) == "datetime64[ns, UTC]"


def test_clean_page_keeps_only_closed_candles_from_since_to_before_until():
    # Arrange: candle 5 is still forming at 5.5 minutes
    rows = [candle(i) for i in range(6)]
    now = T0 + 5 * MIN + 30_000
    # Act
    page = clean_page(rows, T0 + MIN, T0 + 4 * MIN, now, ONE_MINUTE)
    open_end = clean_page(rows, T0 + MIN, None, now, ONE_MINUTE)
    # Assert
    assert minutes(page) == [1, 2, 3]
    assert minutes(open_end) == [1, 2, 3, 4]


def test_closed_pages_page_through_a_gap_longer_than_a_page():
    # Arrange: an exchange with candles 0..99 but none in 20..59, pages of 10
    have = [i for i in range(100) if not 20 <= i < 60]
    asked = []

    def fetch(since):
        asked.append(since)
        return [candle(i) for i in have if T0 + i * MIN >= since][:10]

    # Act
    pages = list(closed_pages(fetch, T0, None, T0 + 100 * MIN, ONE_MINUTE))
    # Assert
    got = [m for p in pages for m in minutes(p)]
    assert got == have
    assert len(asked) == len(pages) == 6  # the last page ends at the clock: no empty request


def test_closed_pages_stop_on_a_page_with_nothing_new():
    # Arrange: an exchange that ignores `since` and always sends the same candles
    def fetch(since):
        return [candle(i) for i in range(5)]

    # Act
    pages = list(closed_pages(fetch, T0, None, T0 + 100 * MIN, ONE_MINUTE))
    # Assert
    assert [minutes(p) for p in pages] == [[0, 1, 2, 3, 4]]


def test_monthly_candles_close_when_the_next_month_opens():
    # Arrange
    month = Timeframe("1M", 30 * 86_400_000)
    jan = to_ms("2025-01-01")
    # Act
    closes = month.closes(np.array([jan, to_ms("2025-02-01")]))
    # Assert
    assert list(closes) == [to_ms("2025-02-01"), to_ms("2025-03-01")]


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-01-01", T0),
    ("2025-01-01T01:00", T0 + 60 * MIN),
    ("2025-01-01T02:00+01:00", T0 + 60 * MIN),
])
def test_dates_are_utc_unless_they_say_otherwise(text, expected):
    assert to_ms(text) == expected


@pytest.mark.parametrize("text", ["2025-13-01", "soon", ""])
def test_a_bad_date_is_a_feed_error_naming_it(text):
    with pytest.raises(FeedError, match=f"bad since {text!r}"):
        to_ms(text, "since")

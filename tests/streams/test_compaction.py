"""StreamFrame storage of small array batches: memory about the rows' bytes, reads
unchanged (rows, order, dtypes), and readers mid-way see everything after their cursor."""

from __future__ import annotations

import gc
import threading
import tracemalloc

import numpy as np
import pandas as pd

from streams import StreamFrame
from streams.frame import COMPACT_ROWS

COLUMNS = ("bar", "time", "value", "flag")
RAW_ROW_BYTES = 8 + 8 + 8 + 1  # int64, datetime64[ns], float64, bool
T0 = np.datetime64("2024-01-02T14:30", "ns")


def batch(lo: int, hi: int) -> dict[str, np.ndarray]:
    bars = np.arange(lo, hi, dtype=np.int64)
    return {"bar": bars, "time": T0 + bars * np.timedelta64(60, "s"),
            "value": bars * 0.5, "flag": bars % 3 == 0}


def expected(lo: int, hi: int) -> pd.DataFrame:
    """The rows ``lo..hi-1`` as a reader must get them, built independently."""
    bars = np.arange(lo, hi, dtype=np.int64)
    return pd.DataFrame(
        {"bar": bars,
         "time": pd.DatetimeIndex(T0 + bars * np.timedelta64(60, "s"), tz="UTC"),
         "value": bars * 0.5, "flag": bars % 3 == 0},
        index=pd.RangeIndex(lo, hi, name="id"))


def one_row_batches(n: int) -> list[dict[str, np.ndarray]]:
    return [batch(i, i + 1) for i in range(n)]


def test_one_row_batches_cost_about_the_rows_bytes():
    # Arrange: the batches exist before tracing, so only what the frame keeps counts
    n = 20_000
    batches = one_row_batches(n)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        frame = StreamFrame(COLUMNS, name="bars")
        # Act
        for b in batches:
            frame.extend(b)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Assert: within 2x the raw 25 bytes a row (a numpy segment per batch was ~10x)
    assert len(frame) == n
    assert kept / n < 2 * RAW_ROW_BYTES, f"{kept / n:.1f} bytes a row"


def test_reads_of_small_batches_equal_one_big_batch_and_the_rows_given():
    # Arrange: the same 10,000 rows as 1-row, 7-row and one 10,000-row batch
    n = 10_000
    small = StreamFrame(COLUMNS)
    for b in one_row_batches(n):
        small.extend(b)
    mixed = StreamFrame(COLUMNS)
    for lo in range(0, n, 7):
        mixed.extend(batch(lo, min(lo + 7, n)))
    big = StreamFrame(COLUMNS)
    big.extend(batch(0, n))
    # Act / Assert: every frame reads the same rows, in order, with the same dtypes
    for frame in (small, mixed, big):
        pd.testing.assert_frame_equal(frame.to_frame(), expected(0, n))
        pd.testing.assert_frame_equal(frame.since(4095, limit=3)[0], expected(4095, 4098))
        pd.testing.assert_frame_equal(frame.tail(5000), expected(n - 5000, n))
        assert frame.since(n)[0].dtypes.equals(expected(0, n).dtypes)


def test_a_batch_of_other_dtypes_starts_a_segment_and_reads_stay_right():
    # Arrange: int64 values, then float64 values in the same column, then int64 again
    frame = StreamFrame(("n", "label"))
    frame.extend({"n": np.array([1, 2]), "label": np.array(["a", "b"], dtype=object)})
    frame.extend({"n": np.array([2.5]), "label": np.array(["c"], dtype=object)})
    frame.extend({"n": np.array([4]), "label": np.array(["d"], dtype=object)})
    frame.append((5, "e"))
    frame.extend({"n": np.array([6]), "label": np.array(["f"], dtype=object)})
    # Act
    rows = frame.to_frame()
    # Assert: same values as given, in order
    assert rows["n"].tolist() == [1, 2, 2.5, 4, 5, 6]
    assert rows["label"].tolist() == ["a", "b", "c", "d", "e", "f"]
    assert frame.since(3)[0]["n"].tolist() == [4, 5, 6]


def test_a_reader_mid_way_sees_every_row_after_its_cursor_and_old_results_stay():
    # Arrange: a reader at row 100 of rows given one at a time
    frame = StreamFrame(COLUMNS)
    for b in one_row_batches(100):
        frame.extend(b)
    first, cursor = frame.since(0)
    assert cursor == 100
    kept = first.copy()
    # Act: many more rows (the storage grows and fills segments past COMPACT_ROWS)
    for b in one_row_batches(2 * COMPACT_ROWS + 50)[100:]:
        frame.extend(b)
    rows, cursor = frame.since(cursor)
    # Assert
    pd.testing.assert_frame_equal(rows, expected(100, 2 * COMPACT_ROWS + 50))
    assert cursor == 2 * COMPACT_ROWS + 50
    pd.testing.assert_frame_equal(first, kept)


def test_changing_the_given_arrays_afterwards_does_not_change_the_stream():
    frame = StreamFrame(COLUMNS)
    b1, b2 = batch(0, 1), batch(1, 2)
    frame.extend(b1)  # a segment of its own
    frame.extend(b2)  # copied into the same segment
    b1["value"][0] = b2["value"][0] = -1.0
    assert frame.to_frame()["value"].tolist() == [0.0, 0.5]


def test_a_bounded_frame_of_one_row_batches_keeps_the_newest_rows():
    frame = StreamFrame(COLUMNS, maxlen=1000)
    for b in one_row_batches(10_000):
        frame.extend(b)
    pd.testing.assert_frame_equal(frame.to_frame(), expected(9000, 10_000))
    assert frame.first_id == 9000


def test_readers_of_one_row_batches_see_every_row_exactly_once_in_order():
    # Arrange: one writer of 1-row array batches, two readers pulling as it writes
    n = 20_000
    frame = StreamFrame(COLUMNS)
    batches = one_row_batches(n)
    done = threading.Event()
    seen: list[list[pd.DataFrame]] = [[], []]

    def read(out, limit):
        cursor = 0
        while True:
            finished = done.is_set()
            rows, cursor = frame.since(cursor, limit)
            if len(rows):
                out.append(rows)
            elif finished and cursor == frame.total:
                return

    readers = [threading.Thread(target=read, args=(out, limit))
               for out, limit in zip(seen, (None, 37), strict=True)]
    for r in readers:
        r.start()
    # Act
    for b in batches:
        frame.extend(b)
    done.set()
    for r in readers:
        r.join(timeout=30)
    # Assert
    assert not any(r.is_alive() for r in readers)
    for out in seen:
        pd.testing.assert_frame_equal(pd.concat(out), expected(0, n))

"""StreamFrame: ids, cursors, rollover, dtypes, bad input, and one writer with many readers."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from streams import StreamFrame

COLUMNS = ("time", "name", "value", "count")
T0 = pd.Timestamp("2024-01-02 14:30", tz="UTC")
ROWS = [
    (T0, "a", 1.5, 10),
    (T0 + pd.Timedelta(minutes=1), "b", 2.5, 20),
    (T0 + pd.Timedelta(minutes=2), "c", 3.5, 30),
    (T0 + pd.Timedelta(minutes=3), "d", 4.5, 40),
    (T0 + pd.Timedelta(minutes=4), "e", 5.5, 50),
]


def filled(maxlen: int | None = None, rows=ROWS) -> StreamFrame:
    frame = StreamFrame(COLUMNS, maxlen=maxlen, name="ticks")
    for row in rows:
        frame.append(row)
    return frame


def as_rows(df: pd.DataFrame) -> list[tuple]:
    return list(df.itertuples(index=False, name=None))


# -- construction ----------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "maxlen", "message"),
    [
        ((), None, "at least one column"),
        (("a", "b", "a"), None, "duplicate column name\\(s\\) 'a'"),
        (("a", ""), None, "non-empty strings"),
        (("a",), 0, "maxlen must be a positive integer"),
        (("a",), 2.5, "maxlen must be a positive integer"),
    ],
)
def test_bad_construction_is_refused_with_the_reason(columns, maxlen, message):
    with pytest.raises(ValueError, match=message):
        StreamFrame(columns, maxlen=maxlen)


def test_columns_given_as_one_string_are_refused():
    with pytest.raises(TypeError, match="not the string 'abc'"):
        StreamFrame("abc")


# -- append ----------------------------------------------------------------


def test_append_returns_consecutive_ids_from_zero():
    frame = StreamFrame(COLUMNS)

    ids = [frame.append(row) for row in ROWS[:3]]

    assert ids == [0, 1, 2]
    assert (frame.total, len(frame), frame.first_id) == (3, 3, 0)


def test_append_mapping_in_any_key_order_is_stored_in_column_order():
    frame = StreamFrame(COLUMNS)

    frame.append({"count": 7, "value": 0.25, "time": T0, "name": "x"})

    assert as_rows(frame.to_frame()) == [(T0, "x", 0.25, 7)]


def test_append_series_row_is_read_by_label():
    frame = StreamFrame(("a", "b"))

    frame.append(pd.Series({"b": 2.0, "a": 1.0}))

    assert as_rows(frame.to_frame()) == [(1.0, 2.0)]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"time": T0, "name": "x", "value": 1.0}, "row has missing column\\(s\\) 'count'"),
        (
            {"time": T0, "name": "x", "value": 1.0, "count": 1, "bogus": 2},
            "row has unknown column\\(s\\) 'bogus'",
        ),
        ((T0, "x", 1.0), "row has 3 values, expected 4 \\(time, name, value, count\\)"),
        ([T0, "x", 1.0, 1, 2], "row has 5 values, expected 4"),
        (np.array([1.0, 2.0]), "row has 2 values, expected 4"),
    ],
)
def test_bad_row_raises_value_error_naming_the_problem_and_stores_nothing(row, message):
    frame = StreamFrame(COLUMNS, name="ticks")

    with pytest.raises(ValueError, match=f"StreamFrame 'ticks': {message}"):
        frame.append(row)

    assert (frame.total, len(frame)) == (0, 0)


@pytest.mark.parametrize("row", ["abcd", 42, None])
def test_row_that_is_not_a_sequence_or_mapping_raises_type_error(row):
    frame = StreamFrame(COLUMNS)

    with pytest.raises(TypeError, match="a row must be a sequence or a mapping"):
        frame.append(row)


def test_values_are_kept_as_given():
    payload = {"nested": [1, 2]}
    frame = StreamFrame(("key", "payload"))

    frame.append(("k", payload))

    assert frame.to_frame()["payload"].iloc[0] is payload


# -- since -----------------------------------------------------------------


def test_since_returns_rows_indexed_by_id_and_the_next_cursor():
    frame = filled()

    rows, cursor = frame.since(2)

    assert list(rows.index) == [2, 3, 4]
    assert rows.index.name == "id"
    assert list(rows.columns) == list(COLUMNS)
    assert as_rows(rows) == ROWS[2:]
    assert cursor == 5


def test_since_produces_proper_dtypes():
    rows, _ = filled().since(0)

    assert rows["time"].dtype == "datetime64[ns, UTC]"
    assert rows["value"].dtype == np.float64
    assert rows["count"].dtype == np.int64
    assert rows["name"].tolist() == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize(
    "stamp",
    [
        pd.Timestamp("2024-01-02 09:30", tz="America/New_York"),  # EST is UTC-5 in January
        np.datetime64("2024-01-02T14:30"),  # naive: taken as UTC
        pd.Timestamp("2024-01-02 14:30"),
        pd.Timestamp("2024-01-02 14:30", tz="UTC").to_pydatetime(),
    ],
)
def test_datetimes_come_out_as_utc_nanoseconds(stamp):
    frame = StreamFrame(("time", "value"))
    frame.append((stamp, 1.0))
    frame.append((None, 2.0))

    times = frame.to_frame()["time"]

    assert times.dtype == "datetime64[ns, UTC]"
    assert times.iloc[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")
    assert times.iloc[1] is pd.NaT


def test_since_with_nothing_new_returns_empty_frame_and_same_cursor():
    frame = filled()

    rows, cursor = frame.since(5)

    assert rows.empty
    assert list(rows.columns) == list(COLUMNS)
    assert rows.index.name == "id"
    assert cursor == 5


def test_empty_result_carries_the_dtypes_of_the_stored_rows():
    rows, _ = filled().since(5)

    assert rows["time"].dtype == "datetime64[ns, UTC]"
    assert rows["value"].dtype == np.float64
    assert rows["count"].dtype == np.int64


def test_since_on_a_new_frame_is_empty_with_the_declared_columns():
    rows, cursor = StreamFrame(COLUMNS).since(0)

    assert rows.empty
    assert list(rows.columns) == list(COLUMNS)
    assert cursor == 0


def test_cursor_ahead_of_total_returns_nothing_and_keeps_the_cursor():
    rows, cursor = filled().since(99)

    assert rows.empty
    assert cursor == 99


def test_changing_a_returned_frame_does_not_change_the_stream():
    frame = filled()
    rows, _ = frame.since(0)
    empty, _ = frame.since(5)

    rows.loc[0, "value"] = -1.0
    empty.loc[9] = [T0, "z", 0.0, 0]

    assert frame.since(0)[0]["value"].iloc[0] == 1.5
    assert frame.since(5)[0].empty


def test_limit_pages_through_the_oldest_new_rows():
    frame = StreamFrame(("n",))
    frame.extend([(i,) for i in range(10)])

    pages = []
    cursor = 0
    for _ in range(4):
        rows, cursor = frame.since(cursor, limit=4)
        pages.append((list(rows.index), cursor))

    assert pages == [
        ([0, 1, 2, 3], 4),
        ([4, 5, 6, 7], 8),
        ([8, 9], 10),
        ([], 10),
    ]


def test_limit_zero_returns_nothing_and_negative_limit_is_refused():
    frame = filled()

    rows, cursor = frame.since(1, limit=0)

    assert rows.empty and cursor == 1
    with pytest.raises(ValueError, match="limit must be >= 0"):
        frame.since(0, limit=-1)


# -- rollover --------------------------------------------------------------


def test_exactly_maxlen_rows_are_all_retained():
    frame = filled(maxlen=5)

    assert (len(frame), frame.first_id, frame.total) == (5, 0, 5)
    assert list(frame.to_frame().index) == [0, 1, 2, 3, 4]


def test_one_row_past_maxlen_drops_the_oldest():
    frame = filled(maxlen=4)

    assert (len(frame), frame.first_id, frame.total) == (4, 1, 5)
    assert as_rows(frame.to_frame()) == ROWS[1:]


def test_cursor_older_than_retained_reads_from_the_oldest_retained():
    frame = filled(maxlen=2)

    rows, cursor = frame.since(1)

    assert list(rows.index) == [3, 4]
    assert cursor == 5


def test_retained_rows_stay_right_across_internal_trims():
    frame = StreamFrame(("n",), maxlen=3)
    seen = []

    for i in range(20):
        frame.append((i,))
        seen.append(list(frame.to_frame()["n"]))

    assert seen[:4] == [[0], [0, 1], [0, 1, 2], [1, 2, 3]]
    assert seen[6:9] == [[4, 5, 6], [5, 6, 7], [6, 7, 8]]
    assert seen[19] == [17, 18, 19]
    assert (frame.first_id, len(frame)) == (17, 3)


def test_extend_larger_than_maxlen_keeps_the_newest():
    frame = StreamFrame(("n",), maxlen=3)

    cursor = frame.extend([(i,) for i in range(10)])

    assert cursor == 10
    assert list(frame.to_frame().index) == [7, 8, 9]
    assert list(frame.to_frame()["n"]) == [7, 8, 9]


# -- extend ----------------------------------------------------------------


def test_extend_accepts_rows_mappings_frames_and_column_arrays():
    frame = StreamFrame(("time", "value"))
    stamps = np.array(["2024-01-02T14:30", "2024-01-02T14:31"], dtype="datetime64[ns]")

    frame.extend([(T0, 1.0)])
    frame.extend([{"value": 2.0, "time": T0}])
    frame.extend(pd.DataFrame({"value": [3.0], "time": [T0]}))
    cursor = frame.extend({"time": stamps, "value": np.array([4.0, 5.0])})
    frame.extend((T0, float(v)) for v in (6, 7))

    rows = frame.to_frame()
    assert cursor == 5
    assert list(rows.index) == [0, 1, 2, 3, 4, 5, 6]
    assert list(rows["value"]) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert rows["time"].dtype == "datetime64[ns, UTC]"
    assert rows["time"].iloc[4] == pd.Timestamp("2024-01-02 14:31", tz="UTC")


def test_extend_with_nothing_changes_nothing():
    frame = filled()

    cursor = frame.extend([])

    assert cursor == 5 and frame.total == 5


def test_extend_with_a_bad_row_names_it_and_stores_nothing():
    frame = filled()

    with pytest.raises(ValueError, match="row 1: row has missing column\\(s\\) 'count'"):
        frame.extend([ROWS[0], {"time": T0, "name": "x", "value": 1.0}])

    assert frame.total == 5


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({"a": [1, 2], "b": [1]}, "different lengths \\{'a': 2, 'b': 1\\}"),
        ({"a": [1]}, "missing \\['b'\\]"),
        ({"a": [1], "b": [2], "c": [3]}, "unknown \\['c'\\]"),
        ({"a": 1.0, "b": 2.0}, "column 'a' must be a list or array"),
        ({"a": np.ones((2, 2)), "b": [1, 2]}, "column 'a' must be 1-D"),
    ],
)
def test_bad_column_batch_is_refused(batch, message):
    frame = StreamFrame(("a", "b"))

    with pytest.raises(ValueError, match=message):
        frame.extend(batch)

    assert frame.total == 0


def test_extend_with_a_scalar_is_a_type_error():
    with pytest.raises(TypeError, match="extend\\(\\) needs rows"):
        StreamFrame(("a",)).extend(5)


# -- tail, clear, wait -----------------------------------------------------


def test_tail_returns_the_newest_rows():
    frame = filled(maxlen=4)

    assert list(frame.tail(2).index) == [3, 4]
    assert list(frame.tail(10).index) == [1, 2, 3, 4]
    assert frame.tail(0).empty
    assert list(frame.tail(0).columns) == list(COLUMNS)


def test_tail_refuses_negative_n():
    with pytest.raises(ValueError, match="n >= 0"):
        filled().tail(-1)


def test_clear_drops_rows_bumps_epoch_and_keeps_ids_increasing():
    frame = filled()

    frame.clear()
    emptied = (len(frame), frame.total, frame.first_id, frame.epoch)
    new_id = frame.append(ROWS[0])
    rows, cursor = frame.since(2)

    assert emptied == (0, 5, 5, 1)
    assert new_id == 5
    assert list(rows.index) == [5]
    assert cursor == 6


def test_clear_of_a_bounded_frame_then_refill_rolls_over_from_the_new_start():
    frame = filled(maxlen=2)
    frame.clear()

    for row in ROWS:
        frame.append(row)

    assert list(frame.to_frame().index) == [8, 9]
    assert frame.epoch == 1


def test_wait_returns_at_once_when_rows_exist_and_false_on_timeout():
    frame = filled()

    assert frame.wait(4, timeout=0) is True
    started = time.perf_counter()
    assert frame.wait(5, timeout=0.05) is False
    assert time.perf_counter() - started >= 0.04


def test_wait_wakes_when_the_writer_appends():
    frame = StreamFrame(("n",))
    writer = threading.Timer(0.05, frame.append, args=[(1,)])

    writer.start()
    woke = frame.wait(0, timeout=5)
    writer.join()

    assert woke is True
    assert frame.total == 1


def test_repr_names_the_frame_and_its_size():
    assert repr(filled(maxlen=3)) == (
        "<StreamFrame 'ticks' columns=['time', 'name', 'value', 'count'] "
        "rows=3 total=5 maxlen=3 epoch=0>"
    )


# -- property: StreamFrame behaves like a plain list -----------------------

ROW = st.tuples(st.integers(-1000, 1000), st.text(alphabet="xyz", max_size=3))


class StreamFrameAgainstList(RuleBasedStateMachine):
    """Every row ever appended goes in a list; retained = the tail that survives."""

    @initialize(maxlen=st.one_of(st.none(), st.integers(1, 6)))
    def start(self, maxlen):
        self.frame = StreamFrame(("n", "s"), maxlen=maxlen)
        self.maxlen = maxlen
        self.rows: list[tuple] = []
        self.cleared_at = 0
        self.reader_cursor = 0
        self.reader_seen: list[int] = []

    def first_id(self) -> int:
        oldest = 0 if self.maxlen is None else len(self.rows) - self.maxlen
        return max(self.cleared_at, oldest, 0)

    def expected(self, cursor: int, limit: int | None) -> list[int]:
        ids = list(range(max(cursor, self.first_id()), len(self.rows)))
        return ids if limit is None else ids[:limit]

    def check(self, rows: pd.DataFrame, ids: list[int]) -> None:
        assert list(rows.index) == ids
        assert list(rows.columns) == ["n", "s"]
        assert as_rows(rows) == [self.rows[i] for i in ids]

    @rule(row=ROW)
    def append(self, row):
        assert self.frame.append(row) == len(self.rows)
        self.rows.append(row)

    @rule(rows=st.lists(ROW, max_size=15),
          form=st.sampled_from(["rows", "dicts", "columns", "arrays"]))
    def extend(self, rows, form):
        if form == "dicts":
            batch = [{"s": s, "n": n} for n, s in rows]
        elif form == "columns":
            batch = {"n": np.array([n for n, _ in rows], dtype=np.int64), "s": [s for _, s in rows]}
        elif form == "arrays":  # small array batches share a segment (compaction)
            batch = {"n": np.array([n for n, _ in rows], dtype=np.int64),
                     "s": np.array([s for _, s in rows], dtype=object)}
        else:
            batch = rows
        self.rows.extend(rows)
        assert self.frame.extend(batch) == len(self.rows)

    @rule(data=st.data(), limit=st.one_of(st.none(), st.integers(0, 8)))
    def since(self, data, limit):
        cursor = data.draw(st.integers(-2, len(self.rows) + 2))
        rows, new_cursor = self.frame.since(cursor, limit)
        ids = self.expected(cursor, limit)
        self.check(rows, ids)
        assert new_cursor == (ids[-1] + 1 if ids else cursor)

    @rule(limit=st.one_of(st.none(), st.integers(1, 4)))
    def reader_pulls(self, limit):
        rows, self.reader_cursor = self.frame.since(self.reader_cursor, limit)
        self.reader_seen.extend(rows.index)

    @rule(n=st.integers(0, 8))
    def tail(self, n):
        ids = list(range(max(len(self.rows) - n, self.first_id()), len(self.rows)))
        self.check(self.frame.tail(n), ids)

    @precondition(lambda self: self.rows)
    @rule()
    def clear(self):
        self.frame.clear()
        self.cleared_at = len(self.rows)

    @invariant()
    def sizes_match(self):
        assert self.frame.total == len(self.rows)
        assert self.frame.first_id == self.first_id()
        assert len(self.frame) == len(self.rows) - self.first_id()

    @invariant()
    def reader_sees_each_row_at_most_once_in_order(self):
        seen = self.reader_seen
        assert all(a < b for a, b in zip(seen, seen[1:], strict=False))
        if self.maxlen is None and self.cleared_at == 0:
            assert seen == list(range(len(seen)))


StreamFrameAgainstList.TestCase.settings = settings(
    max_examples=50, stateful_step_count=25, deadline=None
)
TestStreamFrameAgainstList = StreamFrameAgainstList.TestCase


# -- one writer, many readers ----------------------------------------------

N_ROWS = 50_000


def write_rows(frame: StreamFrame, n: int) -> None:
    """Append ``n`` rows (seq, seq / 2, "r<seq>") mixing append and extend."""
    rng = np.random.default_rng(7)
    seq = 0
    while seq < n:
        size = min(int(rng.integers(1, 300)), n - seq)
        kind = seq % 3
        if kind == 0:
            for i in range(seq, seq + size):
                frame.append((i, i / 2, f"r{i}"))
        elif kind == 1:
            frame.extend([(i, i / 2, f"r{i}") for i in range(seq, seq + size)])
        else:
            ids = np.arange(seq, seq + size)
            frame.extend({"seq": ids, "half": ids / 2, "label": [f"r{i}" for i in ids]})
        seq += size


def read_rows(frame, limit, use_wait, done: threading.Event, out: list) -> None:
    cursor = 0
    while True:
        finished = done.is_set()  # read before pulling: a pull after it gets the last rows
        rows, cursor = frame.since(cursor, limit)
        if len(rows):
            out.append(
                (
                    rows.index.to_numpy(),
                    rows["seq"].to_numpy(),
                    rows["half"].to_numpy(),
                    rows["label"].to_numpy(dtype=object),
                )
            )
        elif finished and cursor == frame.total:
            return
        elif use_wait:
            frame.wait(cursor, timeout=0.05)
        else:
            time.sleep(0.0005)


def run_writer_and_readers(frame: StreamFrame, limits_and_waits) -> list[list]:
    done = threading.Event()
    outputs = [[] for _ in limits_and_waits]
    readers = [
        threading.Thread(target=read_rows, args=(frame, limit, use_wait, done, out))
        for (limit, use_wait), out in zip(limits_and_waits, outputs, strict=True)
    ]
    for reader in readers:
        reader.start()
    write_rows(frame, N_ROWS)
    done.set()
    for reader in readers:
        reader.join(timeout=30)
    assert not any(reader.is_alive() for reader in readers)
    return outputs


def test_every_reader_sees_every_row_exactly_once_in_order():
    frame = StreamFrame(("seq", "half", "label"))

    outputs = run_writer_and_readers(
        frame, [(None, True), (None, False), (100, True), (1_000, False)]
    )

    for out in outputs:
        ids, seq, half, labels = (np.concatenate(parts) for parts in zip(*out, strict=True))
        np.testing.assert_array_equal(ids, np.arange(N_ROWS))
        np.testing.assert_array_equal(seq, ids)
        np.testing.assert_array_equal(half, ids / 2)
        assert labels.tolist() == [f"r{i}" for i in range(N_ROWS)]


def test_bounded_readers_never_see_a_row_twice_or_out_of_order():
    frame = StreamFrame(("seq", "half", "label"), maxlen=500)

    outputs = run_writer_and_readers(frame, [(None, True), (50, False)])

    for out in outputs:
        ids, seq, half, _ = (np.concatenate(parts) for parts in zip(*out, strict=True))
        assert np.all(np.diff(ids) > 0)
        assert ids[-1] == N_ROWS - 1
        np.testing.assert_array_equal(seq, ids)
        np.testing.assert_array_equal(half, ids / 2)

"""Append-only streaming table: one writer, many readers pulling by cursor.

Every row gets an integer id (0, 1, 2, ...) that is never reused. A reader
keeps the cursor it was last given and asks ``since(cursor)`` for the rows that
arrived after it, so each pull costs in proportion to the new rows only::

    frame = StreamFrame(["time", "price"], maxlen=10_000)
    frame.append((now, 101.5))                 # writer thread
    rows, cursor = frame.since(cursor)         # any reader thread

Rows are stored in segments: single appended rows go into per-column Python
lists; a batch of numpy columns is kept as one array segment (no per-value
Python objects, which is what makes the engine's block publishing cheap).
Small batches go into the newest array segment while it has room (its arrays
are allocated with spare capacity, doubling up to ``COMPACT_ROWS`` rows), so a
stream fed one small batch at a time costs about its rows' bytes, not a numpy
header per column per batch; stored rows are never changed in place. A
bounded frame keeps the newest ``maxlen`` rows; it lets storage grow to
``2 * maxlen`` and then drops the oldest rows in one go (O(1) amortised per row).
Readers copy list slices under the lock and build their DataFrame outside it.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["StreamFrame"]

_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
_NEVER = 1 << 62  # trim threshold of an unbounded frame
#: small batches share an array segment until it holds this many rows
COMPACT_ROWS = 4096
_DATETIMES = (datetime, np.datetime64)  # pd.Timestamp is a datetime


def _check_columns(columns: Sequence[str], owner: str) -> tuple[str, ...]:
    if isinstance(columns, str):
        raise TypeError(f"{owner}: columns must be a sequence of names, not the string {columns!r}")
    names = tuple(columns)
    if not names:
        raise ValueError(f"{owner}: needs at least one column")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{owner}: column names must be non-empty strings, got {name!r}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{owner}: duplicate column name(s) {', '.join(map(repr, duplicates))}")
    return names


def _column(values: list) -> Any:
    """Values of one column for the DataFrame constructor.

    A column whose first non-missing value is a datetime (``pd.Timestamp``,
    ``datetime``, ``np.datetime64``) becomes ``datetime64[ns, UTC]``: naive
    values are taken as UTC, other time zones are converted. Everything else
    is left to pandas' inference.
    """
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "M":
            return pd.DatetimeIndex(values).tz_localize("UTC").as_unit("ns").array
        if values.dtype != object:
            return values
    for value in values:
        if value is not None and value is not pd.NaT:
            break
    else:
        return values
    if not isinstance(value, _DATETIMES):
        return values
    try:
        times = pd.DatetimeIndex(values)
    except (TypeError, ValueError):
        try:  # naive and tz-aware mixed
            times = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
        except (TypeError, ValueError):  # not all datetimes: let pandas decide
            return values
    times = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
    return times.as_unit("ns").array


def _build_frame(columns: Sequence[str], data: Sequence[list], index: pd.Index) -> pd.DataFrame:
    """DataFrame from per-column value lists, with UTC nanosecond datetimes."""
    return pd.DataFrame(
        {name: _column(values) for name, values in zip(columns, data, strict=True)}, index=index
    )


def _to_list(piece) -> list:
    if isinstance(piece, np.ndarray):
        # tolist() would turn datetime64[ns] into plain integers
        return list(piece) if piece.dtype.kind in "Mm" else piece.tolist()
    return list(piece)


def _join(pieces: list) -> Any:
    """Concatenate slices of one column taken from several segments."""
    if len(pieces) == 1:
        return pieces[0]
    if all(isinstance(p, np.ndarray) for p in pieces) and \
            len({p.dtype.kind for p in pieces}) == 1:
        return np.concatenate(pieces)
    out: list = []
    for p in pieces:
        out.extend(_to_list(p))
    return out


def _empty_frame(columns: Sequence[str], dtypes: Mapping[str, Any] | None) -> pd.DataFrame:
    dtypes = dtypes or {}
    return pd.DataFrame(
        {c: pd.Series([], dtype=dtypes.get(c, object)) for c in columns},
        index=pd.RangeIndex(0, 0, name="id"),
    )


def _as_list(values: Any, column: str, owner: str) -> list | tuple | np.ndarray:
    """One column of a columnar batch: a list, or a 1-D array (the caller's: extend
    copies it into storage)."""
    if isinstance(values, list | tuple):
        return values
    if isinstance(values, pd.Series | pd.Index):
        return values.tolist()
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValueError(f"{owner}: column {column!r} must be 1-D, got shape {values.shape}")
        return values  # copied into an array segment: no per-value Python objects
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(
            f"{owner}: column {column!r} must be a list or array of values, "
            f"got {type(values).__name__}"
        )
    return list(values)


class StreamFrame:
    """Append-only, thread-safe table whose rows readers pull by id cursor.

    Parameters
    ----------
    columns
        Column names, in the order rows are given and frames are returned.
    maxlen
        Keep only the newest ``maxlen`` rows (``None``: keep everything).
    name
        Label used in error messages and ``repr``.
    """

    def __init__(self, columns: Sequence[str], maxlen: int | None = None, name: str = "") -> None:
        self.name = name
        owner = self._owner()
        self._columns = _check_columns(columns, owner)
        if maxlen is not None and (
            isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1
        ):
            raise ValueError(f"{owner}: maxlen must be a positive integer or None, got {maxlen!r}")
        self._maxlen = maxlen
        self._column_set = frozenset(self._columns)
        self._ncols = len(self._columns)
        # rows live in segments: per-column lists (appended rows) or arrays (batches)
        self._segs: list[list] = []
        self._starts: list[int] = []  # id of each segment's first row
        self._open = False  # the last segment holds lists that append() may grow
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters = 0
        self._base = 0  # id of the row at list position 0
        self._total = 0  # next id
        self._trim_at = _NEVER if maxlen is None else 2 * maxlen
        self._epoch = 0
        self._blank = _empty_frame(self._columns, None)  # empty result before any row
        self._empty_cache: tuple[int, pd.DataFrame] | None = None  # (epoch, empty result)

    # -- writer ---------------------------------------------------------

    def append(self, row: Mapping | Sequence) -> int:
        """Add one row (a sequence in column order, or a mapping); return its id."""
        if type(row) is not tuple and type(row) is not list:
            row = self._row_values(row)
        elif len(row) != self._ncols:
            self._wrong_length(row)
        with self._lock:
            if not self._open:
                self._segs.append([[] for _ in self._columns])
                self._starts.append(self._total)
                self._open = True
            # list.append returns None, so any() runs it for every column (fastest loop)
            any(map(list.append, self._segs[-1], row))
            row_id = self._total
            self._total = row_id + 1
            if row_id >= self._trim_at:
                self._trim()
            if self._waiters:
                self._cond.notify_all()
        return row_id

    def extend(self, rows: Iterable[Sequence | Mapping] | pd.DataFrame | Mapping[str, Any]) -> int:
        """Add many rows at once; return the next cursor (``total`` afterwards).

        ``rows`` is an iterable of rows, a DataFrame, or a dict of column
        arrays. The batch is validated before anything is stored: a bad row
        leaves the frame unchanged.
        """
        data = self._columnar(rows)
        added = len(data[0])
        with self._lock:
            if added:
                if all(isinstance(v, np.ndarray) for v in data):
                    if added >= COMPACT_ROWS or not self._compact(data, added):
                        self._segs.append([v.copy() for v in data])
                        self._starts.append(self._total)
                    self._open = False
                else:
                    if not self._open:
                        self._segs.append([[] for _ in self._columns])
                        self._starts.append(self._total)
                        self._open = True
                    for column, values in zip(self._segs[-1], data, strict=True):
                        column.extend(_to_list(values))
                self._total += added
                if self._total > self._trim_at:
                    self._trim()
                if self._waiters:
                    self._cond.notify_all()
            return self._total

    def clear(self) -> None:
        """Drop the retained rows and bump ``epoch``; ids keep increasing."""
        with self._lock:
            self._segs, self._starts, self._open = [], [], False
            self._base = self._total
            if self._maxlen is not None:
                self._trim_at = self._base + 2 * self._maxlen
            self._epoch += 1

    # -- readers --------------------------------------------------------

    def since(self, cursor: int = 0, limit: int | None = None) -> tuple[pd.DataFrame, int]:
        """Retained rows with id >= ``cursor`` (at most ``limit``, oldest first).

        Returns ``(rows, new_cursor)``: ``rows`` is indexed by ``id`` and
        ``new_cursor`` is the id after the last returned row, or ``cursor``
        itself when nothing was returned. A cursor older than the oldest
        retained row reads from the oldest retained row.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"{self._owner()}: limit must be >= 0 or None, got {limit!r}")
        with self._lock:
            start = max(cursor, self._first_id())
            stop = self._total if limit is None else min(self._total, start + limit)
            if stop <= start:
                empty = self._empty_source()
            else:
                data = self._slice(start, stop)
        if stop <= start:
            return self._empty_result(empty), cursor
        return _build_frame(self._columns, data, pd.RangeIndex(start, stop, name="id")), stop

    def tail(self, n: int) -> pd.DataFrame:
        """The newest ``n`` retained rows, indexed by ``id``."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{self._owner()}: tail(n) needs an integer n >= 0, got {n!r}")
        with self._lock:
            start = max(self._total - n, self._first_id())
            stop = self._total
            if stop <= start:
                empty = self._empty_source()
            else:
                data = self._slice(start, stop)
        if stop <= start:
            return self._empty_result(empty)
        return _build_frame(self._columns, data, pd.RangeIndex(start, stop, name="id"))

    def to_frame(self) -> pd.DataFrame:
        """All retained rows, indexed by ``id``."""
        return self.since(0)[0]

    def wait(self, cursor: int, timeout: float | None = None) -> bool:
        """Block until a row with id >= ``cursor`` exists; False on timeout."""
        with self._cond:
            if self._total > cursor:
                return True
            self._waiters += 1
            try:
                return self._cond.wait_for(lambda: self._total > cursor, timeout)
            finally:
                self._waiters -= 1

    # -- properties -----------------------------------------------------

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def maxlen(self) -> int | None:
        return self._maxlen

    @property
    def total(self) -> int:
        """Rows ever appended, which is also the id the next row will get."""
        return self._total

    @property
    def first_id(self) -> int:
        """Id of the oldest retained row (``total`` when nothing is retained)."""
        with self._lock:
            return self._first_id()

    @property
    def epoch(self) -> int:
        """Incremented by every ``clear()``, so readers can tell to start over."""
        return self._epoch

    def __len__(self) -> int:
        with self._lock:
            return self._total - self._first_id()

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return (
            f"<StreamFrame{label} columns={list(self._columns)} rows={len(self)} "
            f"total={self._total} maxlen={self._maxlen} epoch={self._epoch}>"
        )

    # -- internals (callers of _first_id, _slice, _compact, _trim hold the lock) ----

    def _owner(self) -> str:
        return f"StreamFrame {self.name!r}" if self.name else "StreamFrame"

    def _first_id(self) -> int:
        if self._maxlen is None:
            return self._base
        return max(self._base, self._total - self._maxlen)

    def _slice(self, start: int, stop: int) -> list:
        """Rows ``start:stop`` per column (copied out of the segments)."""
        starts = self._starts
        first = max(bisect.bisect_right(starts, start) - 1, 0)
        pieces: list[list] = [[] for _ in self._columns]
        for i in range(first, len(self._segs)):
            seg_start = starts[i]
            if seg_start >= stop:
                break
            # an array segment may have spare rows past its last: stop at the next's start
            end = starts[i + 1] if i + 1 < len(starts) else stop
            lo, hi = max(start - seg_start, 0), min(stop, end) - seg_start
            for col, values in zip(pieces, self._segs[i], strict=True):
                col.append(values[lo:hi])
        return [_join(p) for p in pieces]

    def _compact(self, data: list, added: int) -> bool:
        """Put a small array batch into the newest array segment if it has the same
        dtypes and, with room made, holds at most ``COMPACT_ROWS`` rows. The segment's
        arrays have spare rows past ``total`` (capacity doubles as it fills); rows
        already stored are never written again, so a reader's slice stays valid."""
        if self._open or not self._segs:
            return False
        seg = self._segs[-1]
        used = self._total - self._starts[-1]
        if used + added > COMPACT_ROWS or not all(
                a.dtype == v.dtype for a, v in zip(seg, data, strict=True)):
            return False
        if used + added > len(seg[0]):  # grow: new arrays, the old ones stay as they are
            cap = min(max(2 * (used + added), 16), COMPACT_ROWS)
            grown = []
            for a in seg:
                b = np.empty(cap, dtype=a.dtype)
                b[:used] = a[:used]
                grown.append(b)
            self._segs[-1] = seg = grown
        for a, v in zip(seg, data, strict=True):
            a[used:used + added] = v
        return True

    def _trim(self) -> None:
        """Forget rows older than the newest ``maxlen`` (whole segments, or a slice)."""
        keep_from = self._total - self._maxlen
        while len(self._starts) > 1 and self._starts[1] <= keep_from:
            self._segs.pop(0)
            self._starts.pop(0)
        if self._starts and self._starts[0] < keep_from:
            cut = keep_from - self._starts[0]
            rows = (self._starts[1] if len(self._starts) > 1 else self._total) - self._starts[0]
            self._segs[0] = [v[cut:rows].copy() if isinstance(v, np.ndarray) else v[cut:]
                             for v in self._segs[0]]
            self._starts[0] = keep_from
        self._base = keep_from
        self._trim_at = self._base + 2 * self._maxlen

    def _empty_source(self) -> pd.DataFrame | tuple[int, list[list]]:
        """What an empty result is made from (caller holds the lock).

        The cached empty frame of this epoch, the blank frame when no row is
        retained, or ``(epoch, newest row)`` to learn the column dtypes from.
        """
        cached = self._empty_cache
        if cached is not None and cached[0] == self._epoch:
            return cached[1]
        if self._total == self._first_id():
            return self._blank
        return self._epoch, self._slice(self._total - 1, self._total)

    def _empty_result(self, source: pd.DataFrame | tuple[int, list[list]]) -> pd.DataFrame:
        """An empty frame with the declared columns and, once known, their dtypes."""
        if isinstance(source, tuple):
            epoch, row = source
            dtypes = _build_frame(self._columns, row, pd.RangeIndex(1)).dtypes.to_dict()
            template = _empty_frame(self._columns, dtypes)
            self._empty_cache = (epoch, template)
            source = template
        return source.copy(deep=False)

    def _wrong_length(self, row: Sequence, where: str = "") -> None:
        raise ValueError(
            f"{self._owner()}{where}: row has {len(row)} values, expected {self._ncols} "
            f"({', '.join(self._columns)})"
        )

    def _row_values(self, row: Any, where: str = "") -> Sequence:
        """Validate one row and return its values in column order."""
        if isinstance(row, pd.Series):
            row = row.to_dict()
        if isinstance(row, Mapping):
            if row.keys() != self._column_set:
                missing = [c for c in self._columns if c not in row]
                unknown = [k for k in row if k not in self._column_set]
                problems = []
                if missing:
                    problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
                if unknown:
                    problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
                raise ValueError(f"{self._owner()}{where}: row has {'; '.join(problems)}")
            return [row[c] for c in self._columns]
        if isinstance(row, str | bytes) or not isinstance(row, Iterable):
            raise TypeError(
                f"{self._owner()}{where}: a row must be a sequence or a mapping, "
                f"got {type(row).__name__}"
            )
        values = tuple(row)
        if len(values) != self._ncols:
            self._wrong_length(values, where)
        return values

    def _columnar(self, rows: Any) -> list:
        """A batch as one list of values per column, all the same length."""
        owner = self._owner()
        if isinstance(rows, pd.DataFrame | Mapping):
            names = list(rows.columns if isinstance(rows, pd.DataFrame) else rows.keys())
            missing = [c for c in self._columns if c not in names]
            unknown = [c for c in names if c not in self._column_set]
            if missing or unknown or len(names) != self._ncols:
                raise ValueError(
                    f"{owner}: batch columns {names} do not match {list(self._columns)}"
                    + (f"; missing {missing}" if missing else "")
                    + (f"; unknown {unknown}" if unknown else "")
                )
            data = [_as_list(rows[c], c, owner) for c in self._columns]
            lengths = {c: len(v) for c, v in zip(self._columns, data, strict=True)}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"{owner}: batch columns have different lengths {lengths}")
            return data
        if isinstance(rows, str | bytes) or not isinstance(rows, Iterable):
            raise TypeError(
                f"{owner}: extend() needs rows, a DataFrame or a dict of columns, "
                f"got {type(rows).__name__}"
            )
        values = [self._row_values(row, f" row {i}") for i, row in enumerate(rows)]
        if not values:
            return [[] for _ in self._columns]
        return list(zip(*values, strict=True))

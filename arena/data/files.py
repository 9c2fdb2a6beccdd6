"""Loading bars from CSV/Parquet files and pandas DataFrames.

Accepted layouts (column names are case-insensitive; extra columns are ignored):

* **long**: ``time, symbol, open, high, low, close, volume``, one row per symbol
  and time (``date``/``timestamp``/``datetime`` are aliases of ``time``,
  ``ticker`` of ``symbol``);
* **single symbol**: the same without ``symbol``; the symbol is the file name's
  stem upper-cased (``aapl.csv`` → ``AAPL``), or for a DataFrame the one name
  passed as ``symbols``;
* **wide, flat**: ``time`` plus ``<field>_<SYMBOL>`` columns (``open_AAPL``,
  ``close_AAPL``, ... ; the symbol is everything after the first underscore);
* **wide, two column levels** ``(field, symbol)`` (or ``(symbol, field)``, told
  apart by which level holds the field names): a DataFrame or Parquet file with a
  MultiIndex on the columns, or a CSV with two header lines as
  ``DataFrame.to_csv`` writes it (time in the first column).

In wide layouts a symbol whose five fields are all empty on a row simply has no
bar then (symbols with different histories); a partly empty bar is an error.
The time may also be the (Datetime)index of a DataFrame or Parquet file. All
five fields are required. Times are UTC: naive times are taken as UTC, times
with an offset or zone are converted.

Rows are checked by :func:`arena.data.validate.check_bars` and several symbols
are aligned on the times they all share (inner join, see
:func:`arena.data.align.align`).
"""

from __future__ import annotations

import csv
import gzip
import itertools
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from arena.data.align import align, symbol_list
from arena.data.market import FIELDS, MarketData
from arena.data.validate import DataError, Series, check_bars

EXTENSIONS = (".csv.gz", ".csv", ".parquet", ".pq")
TIME_ALIASES = ("time", "date", "timestamp", "datetime")
SYMBOL_ALIASES = ("symbol", "ticker")
_FLAT_WIDE = re.compile(r"^(open|high|low|close|volume)_(.+)$", re.IGNORECASE)


def load_file(path: str | os.PathLike, symbols: str | Sequence[str] | None = None,
              start=None, end=None, calendar: str | None = None) -> MarketData:
    """Load bars from a ``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq`` file.

    ``symbols`` picks and orders symbols (default: all, in file order);
    ``start``/``end`` trim the aligned bars (inclusive). Several symbols are
    aligned by an inner join on time. ``calendar``: the market's, ``"24/7"`` or
    ``"trading-days"`` (``None``: inferred from the times). Raises
    :class:`DataError` naming the file, line and field of the first problem.
    """
    source = str(path)
    p = Path(path)
    if not p.exists():
        raise DataError(source, f"file not found: {source}")
    if not p.is_file():
        raise DataError(source, "not a file")
    ext = data_extension(p)
    if ext is None:
        raise DataError(source, f"unsupported file type {p.suffix!r}; use {', '.join(EXTENSIONS)}")
    wanted = symbol_list(symbols, source)
    if ext in (".csv", ".csv.gz"):
        frame, rows, row_kind = _read_csv(p, source)
    else:
        frame, rows, row_kind = _read_parquet(p, source)
    series = _series(frame, source, rows, row_kind, default_symbol=p.name[: -len(ext)].upper())
    return align(series, source, wanted, start, end, calendar=calendar)


def from_frame(df: pd.DataFrame, source: str = "DataFrame",
               symbols: str | Sequence[str] | None = None, start=None, end=None,
               calendar: str | None = None) -> MarketData:
    """Bars from a pandas DataFrame in any layout :func:`load_file` accepts.

    Errors name ``source`` and the offending row's index label. A single-symbol
    frame without a symbol column needs its name: ``symbols=["AAPL"]``.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"from_frame expects a pandas DataFrame, got {type(df).__name__}")
    wanted = symbol_list(symbols, source)
    default = wanted[0] if wanted is not None and len(wanted) == 1 else None
    series = _series(df, source, list(df.index), "row", default_symbol=default)
    return align(series, source, wanted, start, end, calendar=calendar)


def data_extension(path: str | os.PathLike) -> str | None:
    """The data-file extension of ``path`` (``".csv.gz"``, ...), or ``None``."""
    name = str(path).lower()
    return next((ext for ext in EXTENSIONS if name.endswith(ext)), None)


# --- reading ------------------------------------------------------------------


def _read_csv(p: Path, source: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The frame plus each row's line number (header line = 1); blank lines are skipped."""
    opener = gzip.open if str(p).lower().endswith(".gz") else open
    try:
        with opener(p, "rt", encoding="utf-8-sig", newline="") as f:
            head = list(itertools.islice(csv.reader(f), 3))
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as e:
        raise DataError(source, f"cannot read file: {e}") from None
    if not any(t.strip() for line in head for t in line):
        raise DataError(source, "file is empty")
    two_level = _has_two_header_lines(head)
    try:
        if two_level:
            index_name_line = len(head) == 3 and head[2][0].strip() != "" and not any(
                t.strip() for t in head[2][1:])
            n_header = 3 if index_name_line else 2
            frame = pd.read_csv(p, header=[0, 1], index_col=0, skip_blank_lines=False)
        else:
            n_header = 1
            text_cols = {t: str for t in head[0] if t.strip().lower() in SYMBOL_ALIASES}
            frame = pd.read_csv(p, skip_blank_lines=False, dtype=text_cols)
    except pd.errors.EmptyDataError:
        raise DataError(source, "file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError, UnicodeDecodeError) as e:
        raise DataError(source, f"cannot read CSV: {e}") from None
    rows = np.arange(n_header + 1, n_header + 1 + len(frame))
    blank = frame.isna().all(axis=1).to_numpy()
    if two_level:
        blank = blank & frame.index.isna()
        frame.index.name = "time"
    if blank.any():
        frame, rows = frame[~blank], rows[~blank]
    return frame, rows, "line"


def _has_two_header_lines(head: list[list[str]]) -> bool:
    """Line 1 holds only field names (after the first cell) and line 2 only non-numbers."""
    if len(head) < 2 or len(head[0]) < 2:
        return False
    first = [t.strip().lower() for t in head[0][1:]]
    second = [t.strip() for t in head[1][1:]]
    return all(t in FIELDS for t in first) and all(t and not _is_number(t) for t in second)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_parquet(p: Path, source: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The frame plus 1-based row numbers."""
    try:
        frame = pd.read_parquet(p)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(source, f"cannot read Parquet file: {e}") from None
    return frame, np.arange(1, len(frame) + 1), "row"


# --- layouts --------------------------------------------------------------------


def _series(frame: pd.DataFrame, source: str, rows, row_kind: str,
            default_symbol: str | None) -> Series:
    if isinstance(frame.columns, pd.MultiIndex):
        raw, rows, column = _from_two_levels(frame, source, rows)
    else:
        raw, rows, column = _from_flat(frame, source, rows, default_symbol)
    return check_bars(raw, source=source, rows=rows, row_kind=row_kind, column=column)


def _index_is_time(frame: pd.DataFrame) -> bool:
    name = frame.index.name
    return isinstance(frame.index, pd.DatetimeIndex) or (
        isinstance(name, str) and name.strip().lower() in TIME_ALIASES)


def _from_flat(frame: pd.DataFrame, source: str, rows, default_symbol: str | None):
    names: dict[str, object] = {}
    for c in frame.columns:
        key = str(c).strip().lower()
        if key in names:
            raise DataError(source, f"column {str(c)!r} appears twice (names are case-insensitive)")
        names[key] = c
    time_key = next((a for a in TIME_ALIASES if a in names), None)
    if time_key is not None:
        time, time_name = frame[names[time_key]], str(names[time_key])
    elif _index_is_time(frame):
        time, time_name = pd.Series(frame.index), str(frame.index.name or "time")
    else:
        time, time_name = None, "time"

    wide: dict[str, dict[str, object]] = {}
    if not any(f in names for f in FIELDS):
        for c in frame.columns:
            m = _FLAT_WIDE.match(str(c).strip())
            if m:
                wide.setdefault(m.group(2), {})[m.group(1).lower()] = c
    if wide:
        missing = [] if time is not None else ["time"]
        missing += [f"{f}_{s}" for s, cols in wide.items() for f in FIELDS if f not in cols]
        _require(missing, frame, source)
        display = {(s, f): str(c) for s, cols in wide.items() for f, c in cols.items()}
        return _stack_wide(frame, time, wide, rows, display, time_name)

    missing = ([] if time is not None else ["time"]) + [f for f in FIELDS if f not in names]
    _require(missing, frame, source)
    sym_key = next((a for a in SYMBOL_ALIASES if a in names), None)
    if sym_key is not None:
        symbol = frame[names[sym_key]].reset_index(drop=True)
    elif default_symbol is not None:
        symbol = np.full(len(frame), default_symbol, dtype=object)
    else:
        raise DataError(source, "no 'symbol' column: pass symbols=['NAME'] to name the single symbol")
    raw = pd.DataFrame({"time": time.reset_index(drop=True), "symbol": symbol})
    for f in FIELDS:
        raw[f] = frame[names[f]].reset_index(drop=True)
    shown = {f: str(names[f]) for f in FIELDS} | {"time": time_name}
    return raw, np.asarray(rows, dtype=object), lambda _sym, f: shown[f]


def _from_two_levels(frame: pd.DataFrame, source: str, rows):
    if frame.columns.nlevels != 2:
        raise DataError(source, f"expected two column levels (field, symbol), found {frame.columns.nlevels}")
    levels = [[str(x).strip().lower() for x in frame.columns.get_level_values(k)] for k in (0, 1)]
    fl = 0 if sum(t in FIELDS for t in levels[0]) >= sum(t in FIELDS for t in levels[1]) else 1
    wide: dict[str, dict[str, object]] = {}
    time, time_name = None, "time"
    for c, field in zip(frame.columns, levels[fl], strict=True):
        if field in FIELDS:
            wide.setdefault(str(c[1 - fl]).strip(), {})[field] = c
        elif field in TIME_ALIASES and time is None:
            time, time_name = frame[c], field
    if time is None and _index_is_time(frame):
        time, time_name = pd.Series(frame.index), str(frame.index.name or "time")

    def name(sym: str, f: str) -> str:
        return f"{f}/{sym}" if fl == 0 else f"{sym}/{f}"

    missing = [] if time is not None else ["time"]
    if not wide:
        missing += list(FIELDS)
    missing += [name(s, f) for s, cols in wide.items() for f in FIELDS if f not in cols]
    _require(missing, frame, source)
    display = {(s, f): name(s, f) for s in wide for f in FIELDS}
    return _stack_wide(frame, time, wide, rows, display, time_name)


def _stack_wide(frame, time: pd.Series, wide, rows, display, time_name):
    """Wide → long, row-major (file row, then symbol in column order)."""
    n, syms = len(frame), list(wide)
    k = len(syms)
    blocks = {f: np.column_stack([frame[wide[s][f]].to_numpy(dtype=object) for s in syms])
              for f in FIELDS} if n else {f: np.empty((0, k), dtype=object) for f in FIELDS}
    empty = np.ones((n, k), dtype=bool)
    for f in FIELDS:
        empty &= pd.isna(blocks[f])
    keep = ~empty.reshape(-1)
    take = np.repeat(np.arange(n), k)[keep]
    raw = pd.DataFrame({
        "time": time.reset_index(drop=True).iloc[take].reset_index(drop=True),
        "symbol": np.tile(np.array(syms, dtype=object), n)[keep],
    })
    for f in FIELDS:
        raw[f] = _numeric_if_possible(blocks[f].reshape(-1)[keep])
    labels = np.asarray(rows, dtype=object)[take]
    return raw, labels, lambda sym, f: time_name if f == "time" else display[(sym, f)]


def _numeric_if_possible(values: np.ndarray) -> pd.Series:
    s = pd.Series(values, dtype=object)
    try:
        return s.astype(np.float64)
    except (TypeError, ValueError):
        return s


def _require(missing: list[str], frame: pd.DataFrame, source: str) -> None:
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise DataError(source, f"missing column(s) {', '.join(map(repr, missing))} (found: {found})")

"""Market data: bundled real history, CSV/Parquet files, DataFrames and synthetic bars.

Everything becomes a validated, time-aligned :class:`MarketData`; bad input
raises :class:`DataError` naming the input, row, field and reason. Several
symbols are aligned on the times they all share (inner join).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from arena.data.bundled import BUNDLED_SYMBOLS, PROVENANCE, bundled_symbols, load_bundled
from arena.data.calendars import check_calendar
from arena.data.files import data_extension, from_frame, load_file
from arena.data.market import Bar, MarketData
from arena.data.synthetic import synthetic
from arena.data.validate import DataError

__all__ = [
    "PROVENANCE",
    "Bar",
    "DataError",
    "MarketData",
    "bundled_symbols",
    "from_frame",
    "load",
    "load_bundled",
    "load_file",
    "synthetic",
]


def load(source: pd.DataFrame | str | os.PathLike | Sequence[str],
         symbols: str | Sequence[str] | None = None, start=None, end=None,
         calendar: str | None = None) -> MarketData:
    """Load bars from wherever ``source`` points.

    * a DataFrame → :func:`from_frame`;
    * a path that exists, a ``Path``, or a name ending in ``.csv``, ``.csv.gz``,
      ``.parquet`` or ``.pq`` → :func:`load_file` (missing file: ``DataError``
      "file not found: ...");
    * otherwise bundled symbols: ``"AAPL"``, ``"AAPL,MSFT"`` or ``["AAPL", "MSFT"]``
      → :func:`load_bundled` (then ``symbols`` must be ``None``).

    ``start``/``end`` trim the aligned bars (inclusive, UTC). ``calendar`` is the
    market's, ``"24/7"`` or ``"trading-days"`` (:mod:`arena.data.calendars`); ``None``:
    bundled symbols are US stocks (trading days), other data is inferred from its
    times.
    """
    check_calendar(calendar, "load: calendar")
    if isinstance(source, pd.DataFrame):
        return from_frame(source, symbols=symbols, start=start, end=end, calendar=calendar)
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and (Path(source).exists() or data_extension(source) is not None)
    ):
        if not Path(source).exists():
            raise DataError(str(source), f"file not found: {source}")
        return load_file(source, symbols=symbols, start=start, end=end, calendar=calendar)
    if isinstance(source, str | Sequence):
        if symbols is not None:
            raise TypeError("load: bundled symbols are given as `source`; do not pass `symbols` too")
        names = source.split(",") if isinstance(source, str) else list(source)
        unknown = [n.strip() for n in names if n.strip() and n.strip().upper() not in BUNDLED_SYMBOLS]
        if isinstance(source, str) and unknown:
            raise DataError(source, f"no file named {unknown[0]!r} and no bundled symbol of that "
                                    f"name (bundled: {', '.join(BUNDLED_SYMBOLS)})")
        data = load_bundled(names, start=start, end=end)
        return data if calendar is None else replace(data, calendar=calendar)
    raise TypeError(f"load: cannot load from {type(source).__name__}")

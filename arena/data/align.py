"""Aligning validated per-symbol series into one :class:`MarketData` (inner join on time)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import numpy as np

from arena.data.market import FIELDS, MarketData
from arena.data.validate import DataError, Series, format_time


def symbol_list(symbols: str | Sequence[str] | None, source: str) -> list[str] | None:
    """``"AAPL,MSFT"`` or ``["AAPL", "MSFT"]`` → ``["AAPL", "MSFT"]``; ``None`` stays ``None``."""
    if symbols is None:
        return None
    items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    names = [str(s).strip() for s in items if str(s).strip()]
    if not names:
        raise DataError(source, "no symbols given", field="symbol")
    seen: set[str] = set()
    for s in names:
        if s in seen:
            raise DataError(source, f"symbol {s!r} is given twice", field="symbol")
        seen.add(s)
    return names


def align(series: Series, source: str, symbols: Sequence[str] | None = None,
          start=None, end=None, calendar: str | None = None) -> MarketData:
    """Put the wanted symbols side by side on the times they all share.

    Several symbols are aligned by an inner join on time: a bar time is kept only
    if every wanted symbol has a bar then (so GOOG, listed 2004-08, cuts AAPL's
    earlier history). ``symbols`` picks and orders the symbols (default: all, in
    input order); ``start``/``end`` then trim the aligned bars (inclusive).
    ``calendar`` is the market's (``None``: inferred from all the aligned times,
    before the trim). Raises :class:`DataError` for an unknown symbol, symbols
    that share no time, or an empty ``start``..``end`` window.
    """
    wanted = list(series) if symbols is None else list(symbols)
    for sym in wanted:
        if sym not in series:
            raise DataError(source, f"unknown symbol {sym!r}; available: {', '.join(series)}",
                            field="symbol")
    parts = [series[s] for s in wanted]
    common = reduce(_intersect_sorted, (t for t, _ in parts))
    if len(common) == 0:
        spans = "; ".join(f"{s} {format_time(t[0])}..{format_time(t[-1])}" for s, (t, _) in zip(wanted, parts, strict=True))
        raise DataError(source, f"the symbols share no dates ({spans})")
    picked = [v[np.searchsorted(t, common)] for t, v in parts]
    stacked = np.stack(picked, axis=1)  # (n_bars, n_symbols, 5)
    data = MarketData(common, tuple(wanted), *(stacked[:, :, j] for j in range(len(FIELDS))),
                      source=source, calendar=calendar)
    if start is None and end is None:
        return data
    window = data.between(start, end)
    if len(window) == 0:
        raise DataError(source, f"no bars between {start or 'the start'} and "
                                f"{end or 'the end'}; the data covers "
                                f"{format_time(common[0])}..{format_time(common[-1])}")
    return window


def _intersect_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Values in both of two strictly increasing arrays (no re-sorting)."""
    if len(a) == 0 or len(b) == 0:
        return a[:0]
    pos = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return a[b[pos] == a]

"""Paging through an exchange's candles: closed ones only, each once, in time order.

:func:`closed_pages` asks for a page from a time on, keeps the candles that are
new (at or after that time), closed by the exchange's clock and before the
bound, sorts them and drops duplicates (the last copy wins), then asks again
from the candle after the last one kept. A gap in the exchange's history is
just a page that skips ahead; paging ends on a page with nothing new, or when
the next candle cannot have closed yet. A live feed polls the same function
from its last candle on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from arena.feeds.errors import FeedError

CANDLE_COLUMNS = ("time", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Timeframe:
    """A candle length as the exchange names it (``"1h"``) and its nominal length in ms.

    Months (``M``) and years (``y``) follow the calendar: a candle closes when the
    next one opens.
    """

    name: str
    ms: int

    def closes(self, opens_ms: np.ndarray) -> np.ndarray:
        """The close (= the next open) of candles opening at ``opens_ms``, in ms."""
        opens_ms = np.asarray(opens_ms, dtype=np.int64)
        unit = self.name[-1:]
        if unit not in ("M", "y"):
            return opens_ms + self.ms
        n = int(self.name[:-1] or 1) * (12 if unit == "y" else 1)
        closes = pd.to_datetime(opens_ms, unit="ms") + pd.DateOffset(months=n)
        return np.asarray(closes.as_unit("ms").asi8, dtype=np.int64)

    def next_open(self, open_ms: int) -> int:
        return int(self.closes(np.array([open_ms]))[0])


def to_ms(when, flag: str = "date") -> int:
    """A date or time (ISO 8601 text, a datetime, a Timestamp) as ms since 1970, UTC.

    Naive times are UTC. Bad input raises :class:`FeedError` naming ``flag``.
    """
    try:
        ts = pd.Timestamp(when)
    except (ValueError, TypeError, OverflowError):
        ts = None
    if ts is None or pd.isna(ts):
        raise FeedError(f"bad {flag} {when!r}: use an ISO 8601 date or time, e.g. 2025-01-01 "
                        "or 2025-01-01T12:00 (UTC)")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def clean_page(rows: list[list], since_ms: int, until_ms: int | None, now_ms: int,
               timeframe: Timeframe) -> pd.DataFrame:
    """The closed candles of a raw page with ``since_ms <= open < until_ms``, sorted,
    each time once (the last copy wins), as a frame of :data:`CANDLE_COLUMNS`."""
    if not rows:
        return _frame(np.empty((0, 6)))
    raw = np.array([list(r)[:6] for r in rows], dtype=np.float64)  # None → NaN
    opens = raw[:, 0].astype(np.int64)
    keep = (opens >= since_ms) & (timeframe.closes(opens) <= now_ms)
    if until_ms is not None:
        keep &= opens < until_ms
    raw, opens = raw[keep], opens[keep]
    if not len(opens):
        return _frame(raw)
    order = np.argsort(opens, kind="stable")
    raw, opens = raw[order], opens[order]
    last_copy = np.append(opens[1:] != opens[:-1], True)
    return _frame(raw[last_copy])


def closed_pages(fetch: Callable[[int], list[list]], since_ms: int, until_ms: int | None,
                 now_ms: int, timeframe: Timeframe) -> Iterator[pd.DataFrame]:
    """Pages of new closed candles from ``since_ms`` on (before ``until_ms``, if given).

    ``fetch(since_ms)`` returns one raw page from the exchange (e.g.
    ``lambda t: client.ohlcv(symbol, tf, t, limit)``). Each page yielded starts
    after the previous one ends.
    """
    since = since_ms
    while (until_ms is None or since < until_ms) and timeframe.next_open(since) <= now_ms:
        page = clean_page(fetch(since), since, until_ms, now_ms, timeframe)
        if page.empty:
            return
        yield page
        since = timeframe.next_open(int(page["time"].iloc[-1].value // 1_000_000))


def _frame(raw: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(raw[:, 1:6], columns=list(CANDLE_COLUMNS[1:]))
    times = pd.to_datetime(raw[:, 0].astype(np.int64), unit="ms", utc=True)
    frame.insert(0, "time", times.astype("datetime64[ns, UTC]"))
    return frame

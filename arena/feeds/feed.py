"""The :class:`Feed` protocol a :class:`~arena.engine.Competition` runs on when bars
arrive over time, and :class:`HistoryFeed` (a finite :class:`MarketData` released bar
by bar, for tests and demos). :class:`arena.feeds.live.LiveFeed` is the exchange's.

A feed owns a :class:`MarketData` whose arrays are allocated once for the whole run
(:func:`allocate`: ``capacity`` rows in shared memory, where the recording's writer
reads them; pages are only touched as bars arrive) and fills it row by row. Rows below
:meth:`Feed.available` are final.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from arena import shared
from arena.data.market import MarketData


class Feed(Protocol):
    """Where a competition's bars come from when they arrive over time.

    ``data`` holds ``capacity`` rows; rows below :meth:`available` are final.
    ``bounded``: whether the run ends at ``len(data)`` bars (a duration), so that
    progress can be told.
    :meth:`start` is called once when the competition starts: the feed then calls
    ``on_update()`` (from any thread) whenever more bars are available or it has
    finished, and ``emit(kind, message)`` for its events.
    """

    data: MarketData
    decide_deadline: float | None
    bounded: bool

    def available(self) -> int: ...

    def finished(self) -> bool: ...

    def start(self, on_update: Callable[[], None], emit: Callable[[str, str], None]) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict: ...

    def describe(self) -> dict: ...


def allocate(times: np.ndarray, symbols, fields: list[np.ndarray], capacity: int):
    """A capacity-row MarketData whose first rows are the given bars, plus writable
    handles to its arrays (the MarketData's own arrays are read-only views)."""
    k = len(symbols)
    arrays = shared.empty([((capacity,), "datetime64[ns]")]
                          + [((capacity, k), np.float64)] * 5)
    n = len(times)
    arrays[0][:n] = times
    for dst, src in zip(arrays[1:], fields, strict=True):
        dst[:n] = src
    views = [a[:] for a in arrays]
    data = MarketData(views[0], tuple(symbols), *views[1:], source="live", calendar="24/7")
    return data, arrays


class HistoryFeed:
    """A finite :class:`MarketData` whose bars become available when told:
    ``HistoryFeed(data, start=100)`` offers 100 bars, :meth:`release` more;
    :meth:`end` says no more will come (also when all are released)."""

    decide_deadline = None
    bounded = True

    def __init__(self, data: MarketData, start: int | None = None):
        self.data = data
        self._n = len(data) if start is None else max(1, min(int(start), len(data)))
        self._ended = False
        self._on_update: Callable[[], None] | None = None

    def available(self) -> int:
        return self._n

    def finished(self) -> bool:
        return self._ended or self._n >= len(self.data)

    def release(self, bars: int = 1) -> None:
        self._n = min(len(self.data), self._n + bars)
        if self._on_update is not None:
            self._on_update()

    def end(self) -> None:
        self._ended = True
        if self._on_update is not None:
            self._on_update()

    def start(self, on_update, emit) -> None:
        self._on_update = on_update

    def stop(self) -> None:
        self._ended = True

    def status(self) -> dict:
        return {"feed_state": "finished" if self.finished() else "connected",
                "bars_available": self._n}

    def describe(self) -> dict:
        return {"feed": "history", "bars": len(self.data)}

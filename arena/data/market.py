"""MarketData: aligned OHLCV arrays for one or more symbols, the engine's input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from arena import shared
from arena.data.calendars import check_calendar, infer_calendar

FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of one symbol. ``time`` is the bar's UTC timestamp."""

    time: pd.Timestamp
    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, eq=False)  # arrays: == would raise; compare arrays explicitly
class MarketData:
    """Validated, time-aligned bars: every price array has shape ``(n_bars, n_symbols)``.

    ``times`` is ``datetime64[ns]`` in UTC (stored naive). Arrays are read-only so
    that agents handed a slice of history cannot alter it.
    Build one with :func:`arena.data.load` (bundled symbols, files, DataFrames) or
    :func:`arena.data.synthetic`; the constructor assumes validated input.
    ``calendar`` is the market's, ``"24/7"`` or ``"trading-days"``
    (:mod:`arena.data.calendars`; statistics are annualised by it); ``None`` infers it
    from ``times``.
    """

    times: np.ndarray
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    source: str = "memory"
    calendar: str | None = None
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        times = np.ascontiguousarray(self.times, dtype="datetime64[ns]")
        object.__setattr__(self, "calendar", check_calendar(self.calendar, "MarketData.calendar")
                           or infer_calendar(times))
        object.__setattr__(self, "symbols", tuple(self.symbols))
        arrays = [times]
        for name in FIELDS:
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.shape != (len(times), len(self.symbols)):
                raise ValueError(
                    f"MarketData.{name} has shape {arr.shape}, expected "
                    f"({len(times)}, {len(self.symbols)})"
                )
            arrays.append(np.ascontiguousarray(arr))
        # in shared memory, where a recording's writer reads them in place (a slice
        # of shared data stays a view of it)
        if shared.available() and any(shared.locate(a) is None for a in arrays):
            arrays = shared.copy(arrays)
        for name, arr in zip(("times", *FIELDS), arrays, strict=True):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})

    def __len__(self) -> int:
        return len(self.times)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    def column(self, symbol: str) -> int:
        """Column index of ``symbol`` in the price arrays."""
        try:
            return self._index[symbol]
        except KeyError:
            raise KeyError(f"unknown symbol {symbol!r}; have {', '.join(self.symbols)}") from None

    def timestamp(self, i: int) -> pd.Timestamp:
        """Bar ``i``'s time as a tz-aware UTC Timestamp."""
        return pd.Timestamp(self.times[i]).tz_localize("UTC")

    def frame(self, symbol: str) -> pd.DataFrame:
        """OHLCV of one symbol as a DataFrame indexed by UTC time."""
        j = self.column(symbol)
        return pd.DataFrame(
            {name: getattr(self, name)[:, j] for name in FIELDS},
            index=pd.DatetimeIndex(self.times, name="time").tz_localize("UTC"),
        )

    def long_frame(self) -> pd.DataFrame:
        """All bars in long format: time, symbol, open, high, low, close, volume."""
        n, k = len(self), self.n_symbols
        out = {
            "time": pd.DatetimeIndex(np.repeat(self.times, k)).tz_localize("UTC"),
            "symbol": np.tile(np.array(self.symbols, dtype=object), n),
        }
        for name in FIELDS:
            out[name] = getattr(self, name).reshape(-1)
        return pd.DataFrame(out)

    def slice(self, start: int = 0, stop: int | None = None) -> MarketData:
        """Bars ``start:stop`` (positional) as a new MarketData."""
        s = slice(start, stop)
        return MarketData(
            self.times[s], self.symbols,
            *(getattr(self, name)[s] for name in FIELDS),
            source=self.source, calendar=self.calendar,
        )

    def between(self, start=None, end=None) -> MarketData:
        """Bars with ``start <= time <= end`` (dates or timestamps, UTC)."""
        lo = 0 if start is None else int(np.searchsorted(self.times, _ns(start), "left"))
        hi = len(self) if end is None else int(np.searchsorted(self.times, _ns(end, end=True), "right"))
        return self.slice(lo, hi)

    def bars(self, i: int) -> Iterator[Bar]:
        """The bars at position ``i``, one per symbol."""
        t = self.timestamp(i)
        for j, sym in enumerate(self.symbols):
            yield Bar(t, sym, float(self.open[i, j]), float(self.high[i, j]),
                      float(self.low[i, j]), float(self.close[i, j]), float(self.volume[i, j]))


def _ns(value, end: bool = False) -> np.datetime64:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if end and ts == ts.normalize() and isinstance(value, str) and len(value) <= 10:
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return np.datetime64(ts.value, "ns")

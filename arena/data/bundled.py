"""Real daily history that ships offline: AAPL, GOOG, IBM and MSFT, 2000–2013.

The bars come from the ``bokeh-sampledata`` package (module
``bokeh_sampledata.stocks``). Its open/high/low/close/volume are *unadjusted*, so
AAPL (2:1 in 2000 and 2005) and MSFT (2:1 in 2003) halve overnight at their
splits, while its ``adj_close`` is split- and dividend-adjusted. Before anything
else sees them, every bar is back-adjusted::

    factor = (adj_close / close) / (adj_close[-1] / close[-1])
    open, high, low, close *= factor;  volume /= factor

The division by the last bar's ratio makes the factor 1 on the last bar, so the
adjusted series ends at the source's actual last prices. (The source's
``adj_close`` also reflects corporate actions after 2013 — e.g. AAPL's 7:1 split
in 2014 — which would otherwise scale the whole series.)

Scaling a bar's four prices by one positive factor cannot break
``low <= min(open, close) <= max(open, close) <= high``: IEEE multiplication is
monotonic. The adjusted bars are nevertheless run through the same validation as
any file, so a bad source row fails loudly; nothing is clamped.

FB is also in the package but has only 196 bars (2012-05 to 2013-03), which would
cut any aligned multi-symbol competition short, so it is not offered.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd

from arena.data.align import align, symbol_list
from arena.data.calendars import TRADING_DAYS
from arena.data.market import MarketData
from arena.data.validate import DataError, Series, check_bars

BUNDLED_SYMBOLS = ("AAPL", "GOOG", "IBM", "MSFT")

#: Where the bundled bars come from and under which terms (as stated by the package).
PROVENANCE = """\
Bundled prices: the Python package bokeh-sampledata (module bokeh_sampledata.stocks),
whose code is licensed BSD-3-Clause by the Bokeh contributors. Its stock data is
declared "License: Public Domain" and "Sourced from Quandl WIKI Prices, using an
archived copy. Quandl declared the data public domain and permitted redistribution
in its publisher notice. The values are provided as supplied by the source."
The package's inventory (licenses/datasets.json) adds: "Historical prices supplied
as is by the source, without an independent accuracy guarantee."
Changes made here: prices back-adjusted for splits and dividends with the source's
adjusted close (factor 1 on the last bar, 2013-03-01); volume scaled inversely.
The Google history is filed under GOOGL in the source and exposed as GOOG.
"""

_SOURCE = "bundled"


def bundled_symbols() -> pd.DataFrame:
    """The bundled symbols: ``symbol, start, end, bars, source`` (times in UTC)."""
    rows = []
    for sym in BUNDLED_SYMBOLS:
        times, _ = _adjusted(sym)
        rows.append({
            "symbol": sym,
            "start": pd.Timestamp(times[0]).tz_localize("UTC"),
            "end": pd.Timestamp(times[-1]).tz_localize("UTC"),
            "bars": len(times),
            "source": f"bokeh-sampledata {_package_version()} (Quandl WIKI Prices, public domain), "
                      "split/dividend-adjusted",
        })
    return pd.DataFrame(rows)


def load_bundled(symbols: str | Sequence[str], start=None, end=None) -> MarketData:
    """Adjusted daily bars of bundled ``symbols`` (``"AAPL"``, ``"AAPL,MSFT"`` or a list).

    Symbols are case-insensitive. Several symbols are aligned on the dates they
    all share (inner join: with GOOG the data starts 2004-08-19). ``start``/``end``
    trim the result (inclusive). Unknown symbols raise :class:`DataError` listing
    the available ones.
    """
    names = symbol_list(symbols, _SOURCE)
    if names is None:
        raise DataError(_SOURCE, "no symbols given", field="symbol")
    names = [s.upper() for s in names]
    for sym in names:
        if sym not in BUNDLED_SYMBOLS:
            raise DataError(_SOURCE, f"unknown symbol {sym!r}; available: {', '.join(BUNDLED_SYMBOLS)}",
                            field="symbol")
    series: Series = {sym: _adjusted(sym) for sym in names}
    return align(series, f"{_SOURCE}:{','.join(names)}", names, start, end,
                 calendar=TRADING_DAYS)  # US stocks


@lru_cache(maxsize=len(BUNDLED_SYMBOLS))
def _adjusted(symbol: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated, adjusted ``(times, values)`` of one symbol (read-only arrays)."""
    from bokeh_sampledata import stocks  # reads the package's CSV on first import

    src = getattr(stocks, symbol)
    close = np.asarray(src["close"], dtype=np.float64)
    ratio = np.asarray(src["adj_close"], dtype=np.float64) / close
    factor = ratio / ratio[-1]
    raw = pd.DataFrame({
        "time": src["date"],
        "symbol": symbol,
        "open": np.asarray(src["open"], dtype=np.float64) * factor,
        "high": np.asarray(src["high"], dtype=np.float64) * factor,
        "low": np.asarray(src["low"], dtype=np.float64) * factor,
        "close": close * factor,
        "volume": np.asarray(src["volume"], dtype=np.float64) / factor,
    })
    source = f"bokeh-sampledata stocks {symbol}"
    times, values = check_bars(raw, source=source, rows=np.arange(1, len(raw) + 1),
                               row_kind="row")[symbol]
    times.setflags(write=False)
    values.setflags(write=False)
    return times, values


@lru_cache(maxsize=1)
def _package_version() -> str:
    try:
        return version("bokeh_sampledata")
    except PackageNotFoundError:  # pragma: no cover - it is a declared dependency
        return "unknown"

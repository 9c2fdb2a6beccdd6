"""The latest traded price of each symbol (the exchange's ticker), between candles.

:func:`last_prices` asks ccxt's ``fetch_tickers`` (one request for every symbol;
``fetch_ticker`` per symbol where the exchange has no such call) and keeps, per
symbol, the last price and the exchange's time of it. A :class:`LiveFeed` polls it
after the candles, so the dashboard can show where the candle still forming stands;
a ticker price is never a bar: nothing trades on it and nothing records it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import pandas as pd

from arena.feeds.errors import FetchError
from arena.feeds.exchange import ExchangeClient


@dataclass(frozen=True)
class Tick:
    """One symbol's last price and when the exchange says it traded (ms since 1970)."""

    price: float
    time_ms: int


def last_prices(client: ExchangeClient, symbols, now_ms: int) -> dict[str, Tick]:
    """``{symbol: Tick}`` for the symbols whose ticker has a positive last price
    (``now_ms`` stands in for a ticker without a time). Raises what
    :meth:`ExchangeClient.call` raises (:class:`~arena.feeds.errors.FetchError`)."""
    ex, symbols = client.exchange, list(symbols)
    if ex.has.get("fetchTickers"):
        got = client.call(lambda: ex.fetch_tickers(symbols),
                          f"{client.id} tickers of {', '.join(symbols)}")
    else:
        got = {s: client.call(lambda s=s: ex.fetch_ticker(s), f"{client.id} {s} ticker")
               for s in symbols}
    out: dict[str, Tick] = {}
    for s in symbols:
        t = (got or {}).get(s) or {}
        price = t.get("last") if t.get("last") is not None else t.get("close")
        try:
            price = float(price)
        except (TypeError, ValueError):
            continue
        if not (math.isfinite(price) and price > 0):
            continue
        stamp = t.get("timestamp")
        out[s] = Tick(price, int(stamp) if isinstance(stamp, int | float) and stamp > 0
                      else int(now_ms))
    return out


def has_tickers(client: ExchangeClient) -> bool:
    """Whether the exchange offers a ticker through ccxt at all."""
    has = client.exchange.has
    return bool(has.get("fetchTickers") or has.get("fetchTicker"))


class TickerBoard:
    """A live feed's latest prices, safe to read from any thread: :meth:`poll` asks
    the exchange (from the feed's thread), :meth:`snapshot` is what the dashboard
    reads; ``version`` bumps with every new ticker. An exchange that refuses the
    ticker outright is not asked again (``on`` turns False)."""

    def __init__(self, client: ExchangeClient | None = None):
        self._lock = threading.Lock()
        self._ticks: dict[str, Tick] = {}
        self.version = 0
        self.on = client is not None and has_tickers(client)

    def poll(self, client: ExchangeClient, symbols, now_ms: int, failing) -> str | None:
        """Ask for the latest prices. ``failing()`` says whether the exchange is in an
        outage (a failure then raises, as any request of the poll does); a refusal
        outside one turns the board off and returns the reason."""
        if not self.on:
            return None
        before = failing()
        try:
            ticks = last_prices(client, symbols, now_ms)
        except FetchError as exc:
            if before or failing():
                raise
            self.on = False
            return client.redact(str(exc))
        if ticks:
            with self._lock:
                self._ticks.update(ticks)
                self.version += 1
        return None

    def snapshot(self) -> dict:
        """``{symbol: {"price", "time"}}``, time UTC ISO."""
        with self._lock:
            ticks = dict(self._ticks)
        return {s: {"price": t.price, "time": _iso(t.time_ms)} for s, t in ticks.items()}


def _iso(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()

"""Downloading exchange candles into the local cache: :func:`fetch_history`
(``arena data fetch``).

For each symbol, fetching starts after its last cached candle (or at ``since``
for a symbol new to the cache), pages through the exchange's history with
:func:`arena.feeds.history.closed_pages` and saves the cache as pages arrive:
after every page while the file is small, and at most a tenth of the time once
saving it takes a while (a cache of 500,000 candles takes 0.1-0.3 s to save), and
always when the fetch ends, fails or is interrupted. A fetch that stops half way
(Ctrl-C, a kill, a lost connection) is resumed by running it again, with no
candle twice and no gap.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from arena.feeds.cache import CandleCache, default_path
from arena.feeds.errors import FeedError, FetchError
from arena.feeds.exchange import ExchangeClient, ExchangeConfig
from arena.feeds.history import Timeframe, closed_pages, to_ms
from arena.feeds.retry import RetryPolicy

log = logging.getLogger("arena.feeds")
#: After a save that took s seconds the next one waits SAVE_WAIT * s (0.2 s → 1.8 s).
SAVE_WAIT = 9.0
SAVE_QUICK = 0.02  # a save quicker than this does not delay the next one


@dataclass(frozen=True)
class FetchResult:
    """What a fetch did for one symbol: candles added, and the cache after it."""

    exchange: str
    symbol: str
    timeframe: str
    path: Path
    added: int
    candles: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    requests: int


def fetch_history(exchange: str | ExchangeConfig, symbols: str | Sequence[str], timeframe: str,
                  since=None, until=None, *, output: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike = "data",
                  exchange_config: str | os.PathLike | Mapping | None = None,
                  limit: int | None = None, retry: RetryPolicy | None = None,
                  progress: bool = False, on_retry: Callable[[str], None] | None = None,
                  environ: Mapping[str, str] | None = None) -> list[FetchResult]:
    """Download closed candles of ``symbols`` into the cache; returns one result per symbol.

    ``exchange``: a ccxt id (``"binance"``) or an :class:`ExchangeConfig`;
    ``exchange_config``: ccxt constructor arguments (a dict, JSON text or a JSON
    file; see :mod:`arena.feeds.exchange`). ``since``/``until``: dates or times
    (UTC unless they say otherwise); candles open at or after ``since`` and before
    ``until`` (default: up to the last closed candle). ``since`` is needed only for
    symbols not cached yet: a cached symbol continues after its last candle.
    ``output``: one file for all the symbols (default: one per symbol under
    ``cache_dir``, see :func:`arena.feeds.cache.default_path`). ``limit``: candles
    per request (default: the exchange's default page). ``on_retry`` receives a
    line per retry (default: a log warning). Bad input raises :class:`FeedError`;
    an exchange that keeps failing raises :class:`FetchError`.
    """
    names = _symbols(symbols)
    since_ms = None if since is None else to_ms(since, "since date")
    until_ms = None if until is None else to_ms(until, "until date")
    if since_ms is not None and until_ms is not None and until_ms <= since_ms:
        raise FeedError(f"until ({until}) must be later than since ({since})")
    if limit is not None and limit < 1:
        raise FeedError(f"limit must be at least 1 candle per request, got {limit}")
    config = (exchange if isinstance(exchange, ExchangeConfig)
              else ExchangeConfig.parse(exchange, exchange_config))
    with ExchangeClient(config, retry, on_retry or log.warning, environ) as client:
        tf = Timeframe(timeframe, client.timeframe_ms(timeframe))
        for name in names:
            client.check_symbol(name)
        paths = {s: Path(output) if output is not None
                 else default_path(cache_dir, client.id, s, timeframe) for s in names}
        caches: dict[Path, CandleCache] = {}
        try:
            for path in dict.fromkeys(paths.values()):
                caches[path] = CandleCache(path, client.id, timeframe)
            for name in names:
                _check_start(caches[paths[name]], name, since_ms, output is None, timeframe)
            now_ms = client.now_ms()
            return [_fetch_symbol(client, caches[paths[s]], s, tf, since_ms, until_ms, now_ms,
                                  limit, progress) for s in names]
        finally:
            for cache in caches.values():
                cache.close()


def _symbols(symbols: str | Sequence[str]) -> list[str]:
    names = [symbols] if isinstance(symbols, str) else [str(s) for s in symbols]
    names = [s.strip() for s in names if s and s.strip()]
    if not names:
        raise FeedError("no symbols given, e.g. BTC/USDT")
    twice = sorted({s for s in names if names.count(s) > 1})
    if twice:
        raise FeedError(f"symbol {twice[0]!r} is given twice")
    return names


def _check_start(cache: CandleCache, symbol: str, since_ms: int | None, own_file: bool,
                 timeframe: str) -> None:
    others = [s for s in cache.symbols if s != symbol]
    if own_file and others:
        raise FeedError(f"cache file {cache.path} holds {others[0]}, not {symbol}; "
                        "use -o/output to choose another file")
    if cache.last(symbol) is None and since_ms is None:
        raise FeedError(f"{cache.exchange} {symbol} {timeframe} is not cached yet in "
                        f"{cache.path}: give the first date with --since (since=)")


def _fetch_symbol(client: ExchangeClient, cache: CandleCache, symbol: str, tf: Timeframe,
                  since_ms: int | None, until_ms: int | None, now_ms: int, limit: int | None,
                  progress: bool) -> FetchResult:
    from tqdm import tqdm

    last = cache.last(symbol)
    start = tf.next_open(_ms(last)) if last is not None else int(since_ms)
    end = now_ms if until_ms is None else min(now_ms, until_ms)
    requests_before, added = client.requests, 0
    bar = tqdm(total=max(0, (end - start) // tf.ms), unit="candle", file=sys.stderr,
               desc=f"{client.id} {symbol} {tf.name}", disable=None if progress else True,
               leave=False, dynamic_ncols=True)
    unsaved, save_after = 0, 0.0
    try:
        for page in closed_pages(lambda t: client.ohlcv(symbol, tf.name, t, limit),
                                 start, until_ms, now_ms, tf):
            _check(page, client.id, symbol, tf.name)
            n = cache.add(symbol, page)
            added, unsaved = added + n, unsaved + n
            if unsaved and time.monotonic() >= save_after:
                save_after = _save(cache)
                unsaved = 0
            done = (tf.next_open(_ms(page["time"].iloc[-1])) - start) // tf.ms
            bar.update(max(0, min(bar.total, done) - bar.n))
    finally:
        bar.close()
        if unsaved:  # also on errors and Ctrl-C: keep what arrived
            _save(cache)
    return FetchResult(client.id, symbol, tf.name, cache.path, added, cache.count(symbol),
                       cache.first(symbol), cache.last(symbol), client.requests - requests_before)


def _save(cache: CandleCache) -> float:
    """Save; returns when the next save is due: after the next page while saving is
    quick, else after SAVE_WAIT times as long as saving took (saving a large cache
    then takes at most a tenth of the download)."""
    started = time.monotonic()
    cache.save()
    now = time.monotonic()
    spent = now - started
    return now if spent < SAVE_QUICK else now + SAVE_WAIT * spent


def _check(page: pd.DataFrame, exchange: str, symbol: str, timeframe: str) -> None:
    """Candles the loaders would reject are not stored: the fetch stops, naming the candle."""
    from arena.data.validate import DataError, check_bars

    raw = page.assign(symbol=symbol)
    labels = np.array(page["time"].dt.strftime("%Y-%m-%d %H:%M:%S UTC"), dtype=object)
    try:
        check_bars(raw, source=f"{exchange} {symbol} {timeframe}", rows=labels, row_kind="candle")
    except DataError as exc:
        raise FetchError(f"the exchange sent a bad candle: {exc}") from None


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)

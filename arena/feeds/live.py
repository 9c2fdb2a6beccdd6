"""Bars that arrive over time: :class:`LiveFeed` (closed candles of a ccxt exchange,
polled in its own thread). The :class:`Feed` protocol and :class:`HistoryFeed` live in
:mod:`arena.feeds.feed` (re-exported here).

A feed owns a :class:`MarketData` whose arrays are allocated once for the whole run
(``capacity`` bars, in shared memory where the recording's writer reads them; the
pages are only touched as bars arrive) and fills it row by row. Rows below
:meth:`Feed.available` are final: a feed never rewrites a bar once it is available,
so the engine, agents (through ``History``) and the recorder read them in place.

:class:`LiveFeed` in short:

* **Warm-up**: :meth:`LiveFeed.open` fetches the last ``warmup`` closed candles of
  every symbol on one time grid (a slot a symbol has no candle for is filled
  forward from its previous close, volume 0, and an event says so).
* **Live**: every ``poll`` seconds it asks the exchange's clock and, per symbol,
  the candles from the last bar on (paged with :func:`closed_pages`: closed ones
  only, sorted, each once). A slot becomes a bar once every symbol's candle for it
  has closed; a symbol still silent ``grace`` seconds (exchange time) after the slot
  closed is filled forward (``feed_gap_filled``), but only while the exchange
  answers: during an outage nothing is filled, and the missed candles are fetched
  in order when it answers again.
* **Faults**: a failing request (HTTP 429/5xx, timeouts, refused connections) is
  retried (``Retry-After`` obeyed); the first failure of an outage is a
  ``feed_error`` event, the first complete poll after it a ``feed_recovered`` event
  naming the candles backfilled. A candle that changes after the agents saw it is
  kept as first seen (``feed_candle_revised``); a bad candle (a negative price,
  high below low, ...) is ignored (``feed_bad_candle``) and its slot filled after
  the grace.
* **Ticker**: after the candles, each poll asks the exchange's ticker
  (:mod:`arena.feeds.ticker`): :meth:`LiveFeed.ticker` is every symbol's last price
  between candles, for display only (never a bar). An exchange without a ticker, or
  one that refuses it, goes on without (``feed_ticker_off``).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from arena.data.market import MarketData
from arena.feeds.errors import FeedError, FetchError
from arena.feeds.exchange import ExchangeClient, ExchangeConfig
from arena.feeds.feed import Feed, HistoryFeed, allocate
from arena.feeds.history import Timeframe, closed_pages
from arena.feeds.retry import RetryPolicy
from arena.feeds.ticker import TickerBoard

__all__ = ["Feed", "HistoryFeed", "LiveConfig", "LiveFeed", "parse_duration"]  # Feed, HistoryFeed: arena.feeds.feed

log = logging.getLogger("arena.feeds")

#: Bars a live run without a duration can hold: this many days of candles (at least
#: DEFAULT_MIN_BARS); untouched memory costs nothing (the pages are never written).
DEFAULT_DAYS = 30
DEFAULT_MIN_BARS = 10_000
#: The grace default: this fraction of the timeframe, at least GRACE_MIN seconds.
GRACE_FRACTION = 0.1
GRACE_MIN = 5.0
#: LLM agents' decide_deadline default in a live run: this fraction of the timeframe.
DEADLINE_FRACTION = 0.5

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value, flag: str = "duration") -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"6h"``, ``"2d"`` or ``"1w"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise FeedError(f"bad {flag} {value!r}: use seconds or a number with s, m, h, d "
                            "or w, e.g. 90m or 6h")
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if not seconds > 0 or not math.isfinite(seconds):
        raise FeedError(f"bad {flag} {value!r}: must be more than 0 seconds")
    return seconds


@dataclass(frozen=True)
class LiveConfig:
    """A live competition's market: exchange, symbols, timeframe and timing.

    warmup: closed candles fetched first, on which the agents start (at least 2).
    duration: seconds of live candles after the warm-up (None: until stopped, at
        most ``capacity`` bars).
    grace: seconds (exchange time) a slot waits for a silent symbol before filling
        it forward; None: 10 % of the timeframe, at least 5 s.
    poll: most seconds between two polls of the exchange; None: a twelfth of the
        timeframe, between 0.5 and 5 s.
    exchange_config: ccxt constructor arguments as for ``arena data fetch``.
    decide_deadline: seconds a live bar waits for LLM agents; None: half a candle.
    """

    exchange: str
    symbols: tuple[str, ...]
    timeframe: str = "1m"
    warmup: int = 500
    duration: float | None = None
    grace: float | None = None
    poll: float | None = None
    exchange_config: Mapping = field(default_factory=dict)
    capacity: int | None = None
    limit: int | None = None
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(
        attempts=4, backoff=0.5, max_backoff=5.0))
    decide_deadline: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(str(s).strip() for s in self.symbols))
        if not self.symbols or not all(self.symbols):
            raise FeedError("a live run needs at least one symbol, e.g. BTC/USDT")
        if len(set(self.symbols)) != len(self.symbols):
            raise FeedError("a symbol is given twice")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 2:
            raise FeedError(f"warmup must be at least 2 candles, got {self.warmup!r}")
        if self.duration is not None:
            object.__setattr__(self, "duration", parse_duration(self.duration))
        for name in ("grace", "poll", "decide_deadline"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and v >= 0 and math.isfinite(v)):
                raise FeedError(f"{name} must be a number of seconds >= 0, got {v!r}")
        if self.timeframe[-1:] in ("M", "y"):
            raise FeedError(f"timeframe {self.timeframe!r}: live runs need a fixed candle "
                            "length (s, m, h, d or w)")


class LiveFeed:
    """Closed candles of one exchange, as bars, polled in a thread of its own.

    ``feed = LiveFeed(LiveConfig("binance", ("BTC/USDT",), "1m", warmup=500))``;
    :meth:`open` fetches the warm-up (raising :class:`FeedError` for bad input,
    :class:`FetchError` if the exchange keeps failing); a :class:`Competition`
    given the feed starts it and waits for its bars.
    """

    def __init__(self, config: LiveConfig, environ: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.config = config
        self._environ = environ
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: ExchangeClient | None = None
        self._on_update: Callable[[], None] = lambda: None
        self._emit: Callable[[str, str], None] | None = None
        self._events: list[tuple[str, str]] = []  # before start, and from open()
        self._n = 0
        self._finished = False
        self._state, self._state_since = "connecting", None
        self._outage: dict | None = None
        self._pending: dict[str, dict[int, np.ndarray]] = {s: {} for s in config.symbols}
        self._filled: set[tuple[str, int]] = set()
        self._reported: set[tuple[str, int, str]] = set()
        self._server = (0, 0.0)  # (exchange ms, local monotonic) of the last clock reading
        self.errors = 0
        self.data: MarketData | None = None
        self._tickers = TickerBoard()  # the latest prices, between candles

    # -- set-up -------------------------------------------------------------------
    @property
    def timeframe(self) -> Timeframe:
        return self._tf

    @property
    def decide_deadline(self) -> float:
        return self.config.decide_deadline or DEADLINE_FRACTION * self._tf.ms / 1000

    @property
    def grace_seconds(self) -> float:
        g = self.config.grace
        return g if g is not None else max(GRACE_MIN, GRACE_FRACTION * self._tf.ms / 1000)

    @property
    def poll_seconds(self) -> float:
        p = self.config.poll
        return p if p is not None else min(5.0, max(0.5, self._tf.ms / 1000 / 12))

    @property
    def bounded(self) -> bool:
        return self.config.duration is not None

    @property
    def warmup(self) -> int:
        return self.config.warmup

    def open(self, history=None) -> MarketData:
        """Connect, check the symbols and timeframe, fetch the warm-up; returns the data.

        ``history``: ``(times, [open, high, low, close, volume])``, the bars a resumed
        run has recorded (``arena.feeds.resume``): they take the warm-up's place, the
        feed continues after the last of them, and ``config.capacity`` is the run's."""
        cfg = self.config
        exch = ExchangeConfig.parse(cfg.exchange, dict(cfg.exchange_config))
        self._client = ExchangeClient(exch, cfg.retry, self._retrying, self._environ)
        try:
            self._tf = Timeframe(cfg.timeframe, self._client.timeframe_ms(cfg.timeframe))
            for s in cfg.symbols:
                self._client.check_symbol(s)
            if history is not None:  # resumed: the recorded bars, the recorded capacity
                capacity = max(cfg.capacity or 0, len(history[0]))
                self._live_bars = capacity - cfg.warmup if cfg.duration is not None else None
                self._note_clock(self._client.now_ms())
            elif cfg.duration is not None:
                self._live_bars = max(1, math.ceil(cfg.duration * 1000 / self._tf.ms))
                capacity = cfg.warmup + self._live_bars
            else:
                self._live_bars = None
                capacity = cfg.capacity or cfg.warmup + max(
                    DEFAULT_MIN_BARS, DEFAULT_DAYS * 86_400_000 // self._tf.ms)
            times, fields = self._fetch_warmup() if history is None else history
        except BaseException:
            self._client.close()
            raise
        self.data, self._arrays = allocate(times, cfg.symbols, fields, capacity)
        self._capacity = capacity
        self._n = len(times)
        self._next_open = int(times[-1].astype(np.int64) // 1_000_000) + self._tf.ms
        self._state, self._state_since = "connected", None
        self._tickers = TickerBoard(self._client)
        return self.data

    def _fetch_warmup(self):
        cfg, tf, client = self.config, self._tf, self._client
        now = client.now_ms()
        self._note_clock(now)
        since = (now // tf.ms - cfg.warmup - 3) * tf.ms
        rows: dict[str, dict[int, np.ndarray]] = {}
        for s in cfg.symbols:
            got: dict[int, np.ndarray] = {}
            for page in closed_pages(lambda t, s=s: client.ohlcv(s, tf.name, t, cfg.limit),
                                     since, None, now, tf):
                raw = _rows(page)
                ok = _valid(raw)
                for r in raw[ok]:
                    got[int(r[0])] = r[1:]
            rows[s] = got
        last = max((max(g) for g in rows.values() if g), default=None)
        if last is None:
            raise FetchError(f"{client.id}: no closed {tf.name} candles of "
                             f"{', '.join(cfg.symbols)} before {_iso(now)}")
        grid = last - tf.ms * np.arange(cfg.warmup - 1, -1, -1, dtype=np.int64)
        fields = [np.empty((cfg.warmup, len(cfg.symbols))) for _ in range(5)]
        for j, s in enumerate(cfg.symbols):
            got = rows[s]
            known = sorted(got)
            prev = None
            before = [t for t in known if t < grid[0]]
            if before:
                prev = got[before[-1]][3]
            elif known:
                prev = got[known[0]][0]  # nothing earlier: flat at its first open
            missing = []
            for i, t in enumerate(grid.tolist()):
                r = got.get(t)
                if r is None:
                    if prev is None:
                        raise FetchError(f"{client.id}: no {tf.name} candles of {s} in the "
                                         f"warm-up ({_iso(int(grid[0]))} to {_iso(last)})")
                    r = np.array([prev, prev, prev, prev, 0.0])
                    missing.append(t)
                    self._filled.add((s, t))
                for f in range(5):
                    fields[f][i, j] = r[f]
                prev = r[3]
            if missing:
                self._events.append(("feed_gap_filled", (
                    f"{s}: {len(missing)} of the {cfg.warmup} warm-up candles missing "
                    f"(first {_iso(missing[0])}), filled forward from the previous close, "
                    "volume 0")))
        times = (grid * 1_000_000).astype("datetime64[ns]")
        return times, fields

    # -- the protocol -----------------------------------------------------------
    def available(self) -> int:
        return self._n

    def finished(self) -> bool:
        return self._finished

    def start(self, on_update: Callable[[], None], emit: Callable[[str, str], None]) -> None:
        if self.data is None:
            raise RuntimeError("LiveFeed.open() first")
        if self._thread is not None:
            return
        self._on_update, self._emit = on_update, emit
        for kind, message in self._events:
            emit(kind, message)
        self._events.clear()
        self._thread = threading.Thread(target=self._run, name="arena-live-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (returns at once; the thread ends after its current request).
        A feed never started closes its connection here."""
        self._stop.set()
        if self._thread is None and self._client is not None:
            self._client.close()

    def join(self, timeout: float | None = None) -> None:
        t = self._thread
        if t is not None:
            t.join(timeout)

    def describe(self) -> dict:
        cfg = self.config
        return {"feed": "live", "exchange": cfg.exchange, "symbols": list(cfg.symbols),
                "timeframe": cfg.timeframe, "warmup": cfg.warmup, "duration": cfg.duration,
                "grace": self.grace_seconds, "poll": self.poll_seconds,
                "decide_deadline": self.decide_deadline, "capacity": self._capacity,
                "live_since": _iso(self._live_start())}

    def status(self) -> dict:
        """Live fields for ``Competition.status()``: times UTC ISO, ages in seconds
        (by the exchange's clock as last read, advanced by the local clock)."""
        with self._lock:
            n, state, since = self._n, self._state, self._state_since
            next_open = self._next_open
        now = self.exchange_now()
        last_open = next_open - self._tf.ms
        return {
            "exchange": self.config.exchange, "timeframe": self.config.timeframe,
            "live_since": _iso(self._live_start()), "live_bar": self.config.warmup,
            "bars_available": n, "live_bars": n - self.config.warmup,
            "last_candle": _iso(last_open),
            "last_candle_age": round(max(0.0, (now - next_open) / 1000), 3),
            "next_candle_in": round(max(0.0, (next_open + self._tf.ms - now) / 1000), 3),
            "feed_state": state, "feed_since": None if since is None else _iso(since),
            "feed_errors": self.errors, "ticker": self.ticker(),
        }

    def ticker(self) -> dict:
        """Every symbol's last price between candles: ``{symbol: {"price", "time"}}``
        (time UTC ISO, by the exchange); for display only, never a bar."""
        return self._tickers.snapshot()

    @property
    def ticker_version(self) -> int:
        """Bumps with every new ticker."""
        return self._tickers.version

    def exchange_now(self) -> int:
        ms, at = self._server
        return int(ms + (self._clock() - at) * 1000)

    # -- the thread ---------------------------------------------------------------
    def _live_start(self) -> int:
        first = int(self.data.times[0].astype(np.int64) // 1_000_000)
        return first + self.config.warmup * self._tf.ms

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set() and not self._finished:
                try:
                    wait = self._poll()
                    failures = 0
                except FetchError as exc:  # retries spent: keep trying, slower
                    failures += 1
                    self._failed(str(exc))
                    wait = min(30.0, self.poll_seconds * 2 ** min(failures, 6))
                except Exception as exc:  # noqa: BLE001 - reported, and the feed goes on
                    failures += 1
                    self._failed(f"{type(exc).__name__}: {exc}")
                    wait = min(30.0, self.poll_seconds * 2 ** min(failures, 6))
                self._stop.wait(wait)
        finally:
            if self._client is not None:
                self._client.close()

    def _poll(self) -> float:
        """One round: the clock, every symbol's new candles, bars made; returns the wait."""
        tf, client = self._tf, self._client
        now = client.now_ms()
        self._note_clock(now)
        last = self._next_open - tf.ms  # the last bar: asked again, to notice revisions
        for s in self.config.symbols:
            if self._stop.is_set():
                return 0.0
            for page in closed_pages(lambda t, s=s: client.ohlcv(s, tf.name, t, self.config.limit),
                                     last, None, now, tf):
                self._absorb(s, _rows(page))
        self._poll_ticker(now)
        recovered = self._outage
        made = self._assemble(now)
        if recovered is not None:
            self._outage = None
            self._event("feed_recovered", (
                f"{self.config.exchange} answers again after {recovered['failures']} failed "
                f"request(s) in {self._clock() - recovered['at']:.1f} s; "
                f"{made} candle(s) backfilled in order"))
        if self._finished:
            return 0.0
        due = self._next_open + tf.ms  # the next slot's close, exchange time
        if self._state == "stale":
            due = min(due, self._next_open + tf.ms + int(self.grace_seconds * 1000))
        wait = (due - now) / 1000 + 0.05
        return min(self.poll_seconds, max(0.02, wait))

    def _poll_ticker(self, now: int) -> None:
        """The latest prices (a failure in an outage raises like any request)."""
        if not self._stop.is_set():
            refused = self._tickers.poll(self._client, self.config.symbols, now,
                                         lambda: self._outage is not None)
            if refused:
                self._event("feed_ticker_off", f"{refused}; the dashboard shows closed "
                                               "candles only")

    def _absorb(self, symbol: str, raw: np.ndarray) -> None:
        """Keep a symbol's new candles; a candle for a bar already made is compared."""
        if not len(raw):
            return
        ok = _valid(raw)
        for r in raw[~ok]:
            self._once(symbol, int(r[0]), "bad", "feed_bad_candle", (
                f"{symbol} candle {_iso(int(r[0]))} is not a valid candle (o, h, l, c, v = "
                f"{', '.join(f'{x:g}' for x in r[1:6])}); ignored"))
        j = self.config.symbols.index(symbol)
        start = int(self.data.times[0].astype(np.int64) // 1_000_000)
        for r in raw[ok]:
            t = int(r[0])
            if t >= self._next_open:
                self._pending[symbol][t] = r[1:]
                continue
            i = (t - start) // self._tf.ms
            if i < 0 or i >= self._n:
                continue
            if (symbol, t) in self._filled:
                self._once(symbol, t, "late", "feed_late_candle", (
                    f"{symbol} candle {_iso(t)} arrived after its bar was filled forward; "
                    "the bar the agents saw is kept"))
                continue
            seen = np.array([self._arrays[f][i, j] for f in range(1, 6)])
            if not np.allclose(seen, r[1:], rtol=1e-12, atol=0.0):
                self._once(symbol, t, "revised", "feed_candle_revised", (
                    f"{symbol} candle {_iso(t)} changed after it closed (close "
                    f"{seen[3]:g} → {r[4]:g}, volume {seen[4]:g} → {r[5]:g}); the first "
                    "version, which the agents saw, is kept"))

    def _assemble(self, now: int) -> int:
        """Append the slots that are complete, or past the grace (called after a poll
        in which every request was answered: an outage fills nothing); returns how many."""
        tf, syms = self._tf, self.config.symbols
        grace = int(self.grace_seconds * 1000)
        made = 0
        state, since = "connected", None
        while self._n < self._capacity:
            slot = self._next_open
            close = slot + tf.ms
            if close > now:
                break
            missing = [s for s in syms if slot not in self._pending[s]]
            if missing and now < close + grace:
                state, since = "stale", close
                break
            i, row = self._n, []
            for j, s in enumerate(syms):
                r = self._pending[s].pop(slot, None)
                if r is None:
                    prev = self._arrays[4][i - 1, j]
                    r = np.array([prev, prev, prev, prev, 0.0])
                    self._filled.add((s, slot))
                    self._event("feed_gap_filled", (
                        f"{s}: no {tf.name} candle {_iso(slot)} within the "
                        f"{self.grace_seconds:g} s grace; filled forward at {prev:g}, volume 0"))
                row.append(r)
            self._arrays[0][i] = np.datetime64(slot * 1_000_000, "ns")
            for f in range(5):
                self._arrays[f + 1][i] = [r[f] for r in row]
            with self._lock:
                self._n = i + 1
                self._next_open = slot + tf.ms
            made += 1
        for s in syms:  # candles older than the next slot can no longer be used
            for t in [t for t in self._pending[s] if t < self._next_open]:
                del self._pending[s][t]
        done = self._n >= self._capacity
        if done:
            reason = ("the duration is over" if self._live_bars is not None
                      else f"the run holds its {self._capacity:,} bars (capacity)")
            self._event("feed_finished", f"no more bars: {reason}")
        with self._lock:
            self._state, self._state_since = ("finished", None) if done else (state, since)
            self._finished = done
        if made or done:
            self._on_update()
        return made

    def _failed(self, why: str) -> None:
        self.errors += 1
        with self._lock:
            if self._state != "reconnecting":
                self._state, self._state_since = "reconnecting", self.exchange_now()
        if self._outage is None:
            self._outage = {"at": self._clock(), "failures": 1}
            why = self._client.redact(why)
            self._event("feed_error", why if "retrying" in why else f"{why}; retrying")
        else:
            self._outage["failures"] += 1

    def _retrying(self, note: str) -> None:
        """A request failed and will be retried (ExchangeClient's on_retry)."""
        log.info(note)
        if self.data is not None:  # not during open(): that just retries
            self._failed(note)

    def _note_clock(self, now: int) -> None:
        self._server = (int(now), self._clock())

    def _once(self, symbol: str, t: int, what: str, kind: str, message: str) -> None:
        if (symbol, t, what) not in self._reported:
            self._reported.add((symbol, t, what))
            self._event(kind, message)

    def _event(self, kind: str, message: str) -> None:
        if self._emit is None:
            self._events.append((kind, message))
        else:
            self._emit(kind, message)


def _rows(page: pd.DataFrame) -> np.ndarray:
    """A page of candles as ``(n, 6)`` floats: open time (ms), o, h, l, c, v."""
    if page.empty:
        return np.empty((0, 6))
    out = np.empty((len(page), 6))
    out[:, 0] = pd.DatetimeIndex(page["time"]).asi8 // 1_000_000
    out[:, 1:] = page[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)
    return out


def _valid(raw: np.ndarray) -> np.ndarray:
    """Rows that are candles the loaders would accept (positive finite prices, high and
    low around open and close, volume >= 0)."""
    o, h, lo, c, v = (raw[:, i] for i in range(1, 6))
    with np.errstate(invalid="ignore"):
        return (np.isfinite(raw[:, 1:]).all(axis=1) & (o > 0) & (h > 0) & (lo > 0) & (c > 0)
                & (v >= 0) & (h >= np.maximum(o, c)) & (lo <= np.minimum(o, c)))


def _iso(ms: int) -> str:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC").isoformat()

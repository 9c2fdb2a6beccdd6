"""A real HTTP server on 127.0.0.1 that speaks enough of Binance's spot REST API
for ccxt's real ``binance`` class: ``GET /api/v3/exchangeInfo``, ``/api/v3/time``,
``/api/v3/klines`` and ``/api/v3/ticker/24hr`` (what ``load_markets``, ``fetch_time``,
``fetch_ohlcv`` and ``fetch_ticker(s)`` call with ``options.fetchMarkets = ["spot"]``).
Anything else answers 404 and is kept in ``unexpected``.

Candles are synthetic and deterministic: one 1-minute candle per minute from
:data:`START` (longer intervals aggregate them), prices from a fixed formula per
symbol. The server's clock (``now_ms``) only moves when a test moves it; the
candle containing ``now_ms`` is returned still forming (its close and volume
differ from the closed candle's), as Binance does. ``gaps`` are minutes without
a candle (no trades). The ticker's last price follows the clock: :meth:`last_price`
moves from a minute's open to its close as the minute goes by.

Faults for the next ``/klines`` requests are queued with :meth:`script`:

=====================  ========================================================
fault                  the response
=====================  ========================================================
``429``                HTTP 429 with ``Retry-After: 1`` (``"429:S"``: S seconds)
``500``, ``503``       that HTTP status, an HTML body
``slow:S``             the normal page after sleeping S seconds
``duplicate``          the page with every third candle twice
``shuffle``            the page in a scrambled order (plus one duplicate)
``down:S``             no answer: the connection is dropped, the server stops
                       listening and comes back on the same port S seconds later
``ok``                 the normal page (to place a fault later in the queue)
=====================  ========================================================

``delay`` slows every ``/klines`` answer (for tests that kill a fetch mid-way).

For live feeds: :meth:`run_clock` makes the clock run by itself, ``rate`` times
real time (60: one minute a second); :meth:`down` takes the server away for a
while at once; ``silent`` holds minutes without a candle for one symbol only
(``{"ETHUSDT": {605}}``); :meth:`revise` changes a closed candle from now on.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd

START_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC
MINUTE = 60_000
INTERVALS = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60}
SYMBOLS = {"BTCUSDT": ("BTC", "USDT", 42_000.0), "ETHUSDT": ("ETH", "USDT", 2_300.0)}


def minute_candle(symbol: str, i: int) -> tuple[float, float, float, float, float]:
    """Closed 1-minute candle ``i`` (minutes after START) of ``symbol``: o, h, l, c, v."""
    base = SYMBOLS[symbol][2]

    def price(k: int) -> float:
        return base * (1 + 0.02 * math.sin(k / 97) + 0.004 * math.sin(k * 1.7))

    o, c = price(i), price(i + 1)
    h = max(o, c) * (1 + 0.0005 * (1 + math.sin(i * 0.31)))
    lo = min(o, c) * (1 - 0.0005 * (1 + math.cos(i * 0.29)))
    v = 1 + (i * 7919 % 1000) / 100
    return o, h, lo, c, v


def _fmt(x: float) -> str:
    return f"{x:.8f}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """Quiet about clients that hang up (timeouts); anything else as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class BinanceServer:
    """``with BinanceServer() as srv:``; ``srv.exchange_config()`` points ccxt at it."""

    def __init__(self, now_ms: int = START_MS + 600 * MINUTE + 30_000, gaps=(), delay: float = 0.0,
                 port: int = 0):
        self._rate, self._t0 = 0.0, time.monotonic()
        self._base_ms = now_ms
        self.gaps = set(gaps)
        self.silent: dict[str, set[int]] = {}
        self.revisions: dict[tuple[str, int], float] = {}
        self.delay = delay
        self.tickers = True  # False: /ticker/24hr answers 404, as on an exchange without it
        self.requests: list[tuple[str, dict]] = []
        self.unexpected: list[str] = []
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self._httpd = self._bind(port)
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    # --- control --------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            httpd = self._httpd
        httpd.shutdown()
        httpd.server_close()

    def script(self, *faults: str) -> None:
        """Queue faults for the next ``/klines`` requests (one each, in order)."""
        with self._lock:
            self._faults.extend(faults)

    def advance(self, minutes: float) -> None:
        self.now_ms += int(minutes * MINUTE)

    @property
    def now_ms(self) -> int:
        """The server's clock (ms since 1970): moved by tests, or running (:meth:`run_clock`)."""
        return self._base_ms + int((time.monotonic() - self._t0) * 1000 * self._rate)

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self._base_ms, self._t0 = int(value), time.monotonic()

    def run_clock(self, rate: float) -> None:
        """Let the clock run ``rate`` times as fast as real time (0 stops it)."""
        self.now_ms, self._rate = self.now_ms, float(rate)

    def down(self, seconds: float) -> None:
        """Stop answering now (connections refused) and come back after ``seconds``."""
        threading.Thread(target=self._bounce, args=(float(seconds),), daemon=True).start()

    def revise(self, symbol: str, minute: int, factor: float) -> None:
        """From now on serve minute ``minute``'s candle of ``symbol`` with its close
        (and high, if needed) times ``factor`` and one more unit of volume."""
        with self._lock:
            self.revisions[(symbol, minute)] = factor

    def _gap(self, symbol: str, m: int) -> bool:
        return m in self.gaps or m in self.silent.get(symbol, ())

    def _minute(self, symbol: str, m: int):
        o, h, lo, c, v = minute_candle(symbol, m)
        f = self.revisions.get((symbol, m))
        if f is not None:
            c *= f
            h, lo, v = max(h, c), min(lo, c), v + 1
        return o, h, lo, c, v

    def last_price(self, symbol: str, now_ms: int | None = None) -> float:
        """The ticker's last price at ``now_ms`` (default: the server's now): the
        current minute's open plus the elapsed share of the way to its close."""
        now = self.now_ms if now_ms is None else now_ms
        m, into = divmod(now - START_MS, MINUTE)
        o, _, _, c, _ = self._minute(symbol, m)
        return o + (c - o) * into / MINUTE

    def _ticker(self, symbol: str) -> dict:
        """Binance's 24-hour ticker of ``symbol`` (the fields ccxt's parser reads)."""
        now = self.now_ms
        last = self.last_price(symbol, now)
        first = self.last_price(symbol, now - 1440 * MINUTE)
        return {"symbol": symbol, "priceChange": _fmt(last - first),
                "priceChangePercent": f"{100 * (last / first - 1):.3f}",
                "weightedAvgPrice": _fmt((last + first) / 2), "prevClosePrice": _fmt(first),
                "lastPrice": _fmt(last), "lastQty": "0.01000000", "bidPrice": _fmt(last * 0.9999),
                "bidQty": "1.00000000", "askPrice": _fmt(last * 1.0001), "askQty": "1.00000000",
                "openPrice": _fmt(first), "highPrice": _fmt(max(last, first) * 1.01),
                "lowPrice": _fmt(min(last, first) * 0.99), "volume": "1000.00000000",
                "quoteVolume": _fmt(1000 * last), "openTime": now - 1440 * MINUTE,
                "closeTime": now, "firstId": 1, "lastId": 1000, "count": 1000}

    def ticker_requests(self) -> list[dict]:
        with self._lock:
            return [q for p, q in self.requests if p == "/api/v3/ticker/24hr"]

    def klines_requests(self) -> list[dict]:
        with self._lock:
            return [q for p, q in self.requests if p == "/api/v3/klines"]

    def exchange_config(self, **extra) -> dict:
        """ccxt constructor arguments: every Binance API URL on this server, spot only."""
        import ccxt

        api = {name: self.url + urlsplit(u).path
               for name, u in ccxt.binance().urls["api"].items()}
        return {"urls": {"api": api}, "options": {"fetchMarkets": {"types": ["spot"]}}, **extra}

    # --- what the server knows -------------------------------------------------

    def candles(self, symbol: str = "BTCUSDT", interval: str = "1m",
                closed_only: bool = True) -> pd.DataFrame:
        """The candles the server has up to its ``now`` (closed ones only by default):
        ``time`` (UTC) and the five fields, as a client parses them."""
        rows = [self._kline(symbol, interval, t) for t in self._opens(symbol, interval)]
        step = INTERVALS[interval] * MINUTE
        rows = [r for r in rows if not closed_only or r[0] + step <= self.now_ms]
        frame = pd.DataFrame([[r[0], *map(float, r[1:6])] for r in rows],
                             columns=["time", "open", "high", "low", "close", "volume"])
        frame["time"] = pd.to_datetime(frame["time"], unit="ms", utc=True).astype(
            "datetime64[ns, UTC]")
        return frame

    def _opens(self, symbol: str, interval: str, start: int | None = None, end: int | None = None):
        """Open times (ms) of the existing candles in [start, end], up to now."""
        k = INTERVALS[interval]
        step = k * MINUTE
        first = START_MS if start is None else max(START_MS, start)
        j = -(-(first - START_MS) // step)
        last = self.now_ms if end is None else min(self.now_ms, end)
        while START_MS + j * step <= last:
            if any(not self._gap(symbol, j * k + m) for m in range(k)):
                yield START_MS + j * step
            j += 1

    def _kline(self, symbol: str, interval: str, open_ms: int) -> list:
        """Binance's kline row; a candle still forming has its close and volume so far."""
        k = INTERVALS[interval]
        first = (open_ms - START_MS) // MINUTE
        now = self.now_ms
        minutes = [m for m in range(first, first + k)
                   if not self._gap(symbol, m) and START_MS + (m + 1) * MINUTE <= now]
        forming = open_ms + k * MINUTE > now
        if not minutes:  # the first minute is still forming
            o = minute_candle(symbol, first)[0]
            parts = [(o, o, o, o, 0.0)]
        else:
            parts = [self._minute(symbol, m) for m in minutes]
        o, c = parts[0][0], parts[-1][3]
        h = max(p[1] for p in parts)
        lo = min(p[2] for p in parts)
        v = sum(p[4] for p in parts)
        if forming:
            v = v / 2
        close_ms = open_ms + k * MINUTE - 1
        return [open_ms, _fmt(o), _fmt(h), _fmt(lo), _fmt(c), _fmt(v), close_ms, _fmt(v * c),
                10, _fmt(v / 2), _fmt(v * c / 2), "0"]

    # --- HTTP -------------------------------------------------------------------

    def _bind(self, port: int) -> _Server:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                outer._handle(self, parts.path, query)

        return _Server(("127.0.0.1", port), Handler)

    def _handle(self, h: BaseHTTPRequestHandler, path: str, query: dict) -> None:
        with self._lock:
            self.requests.append((path, query))
            fault = self._faults.popleft() if path == "/api/v3/klines" and self._faults else None
        if path == "/api/v3/time":
            return _send(h, 200, {"serverTime": self.now_ms})
        if path == "/api/v3/exchangeInfo":
            return _send(h, 200, self._exchange_info())
        if path == "/api/v3/ticker/24hr" and self.tickers:
            return _send(h, *self._tickers(query))
        if path != "/api/v3/klines":
            self.unexpected.append(path)
            return _send(h, 404, {"code": -1, "msg": f"no such endpoint {path}"})
        if fault is not None:
            name, _, arg = fault.partition(":")
            if name == "429":
                return _send(h, 429, {"code": -1003, "msg": "Too many requests"},
                             {"Retry-After": arg or "1"})
            if name in ("500", "503"):
                return _send(h, int(name), "<html><body>upstream trouble</body></html>")
            if name == "slow":
                time.sleep(float(arg))
            if name == "down":
                threading.Thread(target=self._bounce, args=(float(arg),), daemon=True).start()
                h.close_connection = True
                return None
        if self.delay:
            time.sleep(self.delay)
        status, body = self._klines(query)
        if status == 200 and fault in ("duplicate", "shuffle"):
            body = _scramble(body, fault)
        return _send(h, status, body)

    def _klines(self, q: dict) -> tuple[int, object]:
        symbol, interval = q.get("symbol"), q.get("interval")
        if symbol not in SYMBOLS:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        if interval not in INTERVALS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        limit = min(int(q.get("limit", 500)), 1000)
        start = int(q["startTime"]) if "startTime" in q else None
        end = int(q["endTime"]) if "endTime" in q else None
        opens = []
        for t in self._opens(symbol, interval, start, end):
            opens.append(t)
            if start is not None and len(opens) == limit:
                break
        opens = opens[-limit:]  # without startTime: the latest ones
        return 200, [self._kline(symbol, interval, t) for t in opens]

    def _tickers(self, q: dict) -> tuple[int, object]:
        """``?symbol=S`` (one ticker) or ``?symbols=["S",...]`` (a list; none: all)."""
        if "symbol" in q:
            if q["symbol"] not in SYMBOLS:
                return 400, {"code": -1121, "msg": "Invalid symbol."}
            return 200, self._ticker(q["symbol"])
        try:
            wanted = json.loads(q["symbols"]) if "symbols" in q else list(SYMBOLS)
        except ValueError:
            return 400, {"code": -1100, "msg": "Illegal characters found in parameter 'symbols'"}
        if not isinstance(wanted, list) or any(s not in SYMBOLS for s in wanted):
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        return 200, [self._ticker(s) for s in wanted]

    def _exchange_info(self) -> dict:
        symbols = [{
            "symbol": sym, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
            "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True, "ocoAllowed": True,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "permissions": [], "permissionSets": [["SPOT"]],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00",
                 "tickSize": "0.01"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000.00",
                 "stepSize": "0.00001"},
            ],
        } for sym, (base, quote, _) in SYMBOLS.items()]
        return {"timezone": "UTC", "serverTime": self.now_ms, "rateLimits": [],
                "exchangeFilters": [], "symbols": symbols}

    def _bounce(self, seconds: float) -> None:
        """Stop listening (connections are refused), then listen again on the same port."""
        with self._lock:
            old = self._httpd
        old.shutdown()
        old.server_close()
        time.sleep(seconds)
        with self._lock:
            self._httpd = self._bind(self.port)
        self.start()


def _scramble(rows: list, how: str) -> list:
    if how == "duplicate":
        out = []
        for i, r in enumerate(rows):
            out += [r, list(r)] if i % 3 == 0 else [r]
        return out
    out = rows[1::2][::-1] + rows[::2]
    return out + rows[:1]


def _send(h: BaseHTTPRequestHandler, status: int, body, headers: dict | None = None) -> None:
    data = (body if isinstance(body, str) else json.dumps(body)).encode()
    kind = "text/html" if isinstance(body, str) else "application/json"
    try:
        h.send_response(status)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
        pass

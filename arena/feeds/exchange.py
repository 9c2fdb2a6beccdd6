"""One exchange through ccxt: the client built from a plain config, with retries.

:class:`ExchangeConfig` holds the exchange's ccxt id and the arguments for ccxt's
exchange constructor, passed as they are (``urls``, ``options``, ``timeout``,
``proxies``, ``httpsProxy``, ``rateLimit``, ...), so a client can go through a
proxy or a mirror, or to a local test server. Secrets never appear in a config:
a top-level key ending in ``_env`` names an environment variable whose value is
passed under the key without the suffix (``{"apiKey_env": "BINANCE_KEY"}`` →
``apiKey=os.environ["BINANCE_KEY"]``), and a config that holds a credential
(``apiKey``, ``secret``, ``password``, ...) itself is refused.

:class:`ExchangeClient` wraps the ccxt object (synchronous ccxt, its rate limiter
on) for one thread: every request is retried while the failure may pass (HTTP
408/418/425/429/5xx, timeouts, refused or dropped connections), honouring
``Retry-After``; errors name the exchange and the request and never a secret.
"""

from __future__ import annotations

import difflib
import email.utils
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arena.feeds.errors import FeedError, FetchError
from arena.feeds.retry import RetryPolicy, Transient, call_with_retries

#: Constructor arguments that are credentials: only through ``<name>_env``.
SECRET_KEYS = frozenset({"apiKey", "secret", "password", "uid", "login", "privateKey",
                         "token", "twofa"})
ENV_SUFFIX = "_env"
#: HTTP statuses worth retrying (besides every 5xx).
RETRY_STATUS = frozenset({408, 418, 425, 429})


@dataclass(frozen=True)
class ExchangeConfig:
    """An exchange's ccxt id and its constructor arguments (secrets by variable name only)."""

    exchange: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exchange", str(self.exchange).strip().lower())
        for key, value in self.params.items():
            if key in SECRET_KEYS:
                raise FeedError(f"exchange config: {key!r} is a secret and is not taken from a "
                                f"config; put it in an environment variable and name that "
                                f"variable with {key + ENV_SUFFIX!r}")
            if key.endswith(ENV_SUFFIX) and not (isinstance(value, str) and value):
                raise FeedError(f"exchange config: {key!r} must name an environment variable "
                                f"(a string), got {value!r}")

    @classmethod
    def parse(cls, exchange: str, config: str | os.PathLike | Mapping | None = None) -> ExchangeConfig:
        """``config`` as a dict, JSON text (``'{"timeout": 5000}'``) or a JSON file's path."""
        if config is None:
            return cls(exchange)
        if isinstance(config, Mapping):
            return cls(exchange, dict(config))
        text, where = str(config), "--exchange-config"
        if not text.lstrip().startswith(("{", "[")):
            where = text
            try:
                text = Path(text).read_text(encoding="utf-8")
            except OSError as exc:
                raise FeedError(f"exchange config {where}: cannot read it ({exc.strerror or exc}); "
                                "give a JSON object or the path of a JSON file") from None
        try:
            params = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FeedError(f"exchange config {where}: not valid JSON ({exc})") from None
        if not isinstance(params, dict):
            raise FeedError(f"exchange config {where}: expected a JSON object, "
                            f"got {type(params).__name__}")
        return cls(exchange, params)

    def constructor_args(self, environ: Mapping[str, str] | None = None) -> dict:
        """The ccxt constructor's arguments, ``*_env`` keys replaced by their variables' values."""
        env = os.environ if environ is None else environ
        args: dict[str, Any] = {}
        for key, value in self.params.items():
            if key.endswith(ENV_SUFFIX):
                if value not in env:
                    raise FeedError(f"exchange config: {key!r} names the environment variable "
                                    f"{value!r}, which is not set")
                args[key[: -len(ENV_SUFFIX)]] = env[value]
            else:
                args[key] = value
        args.setdefault("enableRateLimit", True)
        return args


class ExchangeClient:
    """The ccxt client of one exchange, with retries; use it from one thread.

    ``requests`` counts the attempts made; ``on_retry`` receives a one-line note
    before each wait. ``exchange`` is the ccxt object itself.
    """

    def __init__(self, config: ExchangeConfig, retry: RetryPolicy | None = None,
                 on_retry: Callable[[str], None] | None = None,
                 environ: Mapping[str, str] | None = None):
        import ccxt  # 0.3 s to import: only when an exchange is used

        if config.exchange not in ccxt.exchanges:
            near = difflib.get_close_matches(config.exchange, ccxt.exchanges, n=3)
            hint = f"did you mean {', '.join(near)}?" if near else "ccxt.exchanges lists them"
            raise FeedError(f"unknown exchange {config.exchange!r}; {hint}")
        args = config.constructor_args(environ)
        from_env = [k[: -len(ENV_SUFFIX)] for k in config.params if k.endswith(ENV_SUFFIX)]
        self._secrets = [str(args[k]) for k in from_env if len(str(args[k])) >= 4]
        try:
            self.exchange = getattr(ccxt, config.exchange)(args)
        except Exception as exc:  # noqa: BLE001 - a bad argument, worded by ccxt
            raise FeedError(f"{config.exchange}: the exchange config was refused: "
                            f"{self.redact(str(exc))}") from None
        self.id = config.exchange
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.requests = 0
        self._response = None
        self.exchange.session.hooks["response"].append(self._seen)

    def close(self) -> None:
        self.exchange.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- what the exchange offers -----------------------------------------------

    def markets(self) -> dict:
        """The exchange's markets by unified symbol (loaded once)."""
        return self.call(self.exchange.load_markets, f"{self.id}: loading markets")

    def check_symbol(self, symbol: str) -> str:
        """``symbol`` if the exchange lists it, else :class:`FeedError` with near names."""
        markets = self.markets()
        if symbol in markets:
            return symbol
        near = [m["symbol"] for m in self.exchange.markets_by_id.get(symbol, [])]
        near += difflib.get_close_matches(symbol.upper(), list(markets), n=3)
        hint = (f"did you mean {', '.join(dict.fromkeys(near))}?" if near
                else f"{len(markets)} markets, e.g. {', '.join(list(markets)[:5])}")
        raise FeedError(f"unknown symbol {symbol!r} on {self.id}; {hint}")

    def timeframe_ms(self, timeframe: str) -> int:
        """Nominal length of a ``timeframe`` in ms; :class:`FeedError` if the exchange lacks it."""
        if not self.exchange.has.get("fetchOHLCV"):
            raise FeedError(f"{self.id} offers no candles (OHLCV) through ccxt")
        offered = self.exchange.timeframes or {}
        if offered and timeframe not in offered:
            raise FeedError(f"{self.id} has no timeframe {timeframe!r}; it offers "
                            f"{', '.join(offered)}")
        try:
            seconds = self.exchange.parse_timeframe(timeframe)
        except Exception:  # noqa: BLE001 - ccxt raises NotSupported or ValueError
            seconds = 0
        if not seconds or seconds <= 0:
            raise FeedError(f"bad timeframe {timeframe!r}: use e.g. 1m, 5m, 1h, 1d")
        return int(seconds * 1000)

    def now_ms(self) -> int:
        """The exchange's clock in ms since 1970 (the local clock if it has none)."""
        if self.exchange.has.get("fetchTime"):
            t = self.call(self.exchange.fetch_time, f"{self.id}: server time")
            if t:
                return int(t)
        return self.exchange.milliseconds()

    def ohlcv(self, symbol: str, timeframe: str, since_ms: int, limit: int | None) -> list[list]:
        """One page of candles ``[open_ms, o, h, l, c, v]`` from ``since_ms``, as the exchange sends it."""
        since = time.strftime("%Y-%m-%d %H:%M", time.gmtime(since_ms / 1000))
        return self.call(
            lambda: self.exchange.fetch_ohlcv(symbol, timeframe, since=since_ms, limit=limit),
            f"{self.id} {symbol} {timeframe} candles from {since} UTC")

    # --- requests ----------------------------------------------------------------

    def call(self, fn: Callable[[], Any], what: str):
        """``fn()`` (one ccxt call), retried per the policy; failures become :class:`FetchError`."""
        import ccxt

        def attempt():
            self._response = None
            self.requests += 1
            return fn()

        try:
            return call_with_retries(attempt, self.retry, what, self._transient,
                                     self._note, time.sleep)
        except ccxt.BaseError as exc:  # not worth retrying: say what the exchange said
            raise FetchError(f"{what}: {self._describe(exc)}") from None

    def redact(self, text: str) -> str:
        """``text`` with every value read from the environment replaced by ``***``."""
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def _note(self, message: str) -> None:
        if self.on_retry is not None:
            self.on_retry(self.redact(message))

    def _seen(self, response, *args, **kwargs) -> None:
        """requests' response hook: the last HTTP response of the current attempt."""
        self._response = response

    def _transient(self, exc: BaseException) -> Transient | None:
        import ccxt

        if not isinstance(exc, ccxt.BaseError):
            return None
        r = self._response
        if r is not None:
            status = r.status_code
            if status in RETRY_STATUS or status >= 500:
                return Transient(self._describe(exc), _retry_after(r.headers.get("Retry-After")))
            if status >= 400:
                return None
        if isinstance(exc, ccxt.NetworkError):
            return Transient(self._describe(exc))
        return None

    def _describe(self, exc: BaseException) -> str:
        """The failure in a few words plus the request, e.g. ``HTTP 503 from GET url``."""
        r = self._response
        if r is not None and r.status_code >= 400:
            after = r.headers.get("Retry-After")
            text = f"HTTP {r.status_code} {r.reason or ''}".rstrip()
            text += f" (Retry-After {after})" if after else ""
            text += f" from {r.request.method} {r.url}"
            body = " ".join(r.text.split())[:200] if r.text else ""
            text += f": {body}" if body and r.headers.get("Content-Type", "").startswith(
                "application/json") else ""
        else:
            said = str(exc)  # ccxt: "<id> GET <url>" for network errors
            said = said[len(self.id) + 1:] if said.startswith(f"{self.id} ") else said
            text = f"{_kind(exc)} ({said})" if said else _kind(exc)
        return self.redact(text)


def _kind(exc: BaseException) -> str:
    import ccxt

    cause = f"{exc.__cause__!r}" if exc.__cause__ is not None else ""
    if isinstance(exc, ccxt.RequestTimeout) or "timed out" in cause.lower():
        return "timed out"
    if "refused" in cause.lower():
        return "connection refused"
    if "RemoteDisconnected" in cause or "aborted" in cause.lower() or "reset" in cause.lower():
        return "connection dropped"
    return type(exc).__name__


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), or ``None``."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())

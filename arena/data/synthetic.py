"""Seeded synthetic bars: geometric Brownian motion with optional regimes and jumps."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from arena.data.calendars import TRADING_DAYS, TWENTY_FOUR_SEVEN
from arena.data.market import MarketData

#: Odd-numbered regimes ("stress") run with drift ``-mu`` and this times ``sigma``.
STRESS_VOL_MULTIPLIER = 2.0
#: Share of each bar's return variance that arrives overnight, as the open's gap.
GAP_SHARE = 0.2
#: Typical volume of a bar; busier on big moves.
BASE_VOLUME = 1_000_000.0
_TRADING_DAYS = 252.0


def synthetic(
    symbols: str | Sequence[str] = ("SYN",),
    bars: int = 1000,
    seed: int = 0,
    start="2020-01-01",
    freq: str = "B",
    mu: float = 0.05,
    sigma: float = 0.2,
    regimes: int = 1,
    jump_prob: float = 0.0,
    jump_size: float = 0.05,
    start_price: float = 100.0,
) -> MarketData:
    """Synthetic OHLCV bars, deterministic for a seed.

    Closes follow geometric Brownian motion with annualised drift ``mu`` and
    volatility ``sigma``; ``freq`` sets the bar spacing (default business days,
    252 a year, calendar ``"trading-days"``; other frequencies are annualised by
    calendar time, calendar ``"24/7"``). The bars are
    split into ``regimes`` equal, alternating stretches shared by all symbols:
    even ones use ``(mu, sigma)``, odd ones ``(-mu, STRESS_VOL_MULTIPLIER * sigma)``.
    With probability ``jump_prob`` a bar opens with a jump of ``±jump_size``
    (log return, random sign). Each bar opens at the previous close times a small
    gap, and high/low lie outside the open/close envelope, so every bar passes
    :func:`arena.data.validate.validate_market`; volume is positive.

    Each symbol draws from its own stream, seeded by ``seed`` and its name, so a
    symbol's path does not depend on which other symbols are generated.
    ``start`` is UTC (naive is taken as UTC).
    """
    names = [s.strip() for s in symbols.split(",")] if isinstance(symbols, str) else list(symbols)
    _check_args(names, bars, regimes, mu, sigma, jump_prob, jump_size, start_price)
    times = _times(start, bars, freq)
    dt = 1.0 / _periods_per_year(freq, times)

    drift = np.empty(bars)
    vol = np.empty(bars)
    for r, stretch in enumerate(np.array_split(np.arange(bars), regimes)):
        stress = r % 2 == 1
        drift[stretch] = -mu if stress else mu
        vol[stretch] = sigma * (STRESS_VOL_MULTIPLIER if stress else 1.0)

    fields = [np.empty((bars, len(names))) for _ in range(5)]
    for j, name in enumerate(names):
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        for out, col in zip(fields, _path(rng, bars, dt, drift, vol, jump_prob, jump_size,
                                          start_price), strict=True):
            out[:, j] = col
    o, h, lo, c, v = fields
    if not all(np.isfinite(a).all() and (a > 0).all() for a in fields):
        raise ValueError("synthetic: these parameters drive prices out of floating-point range; "
                         "use fewer bars or a smaller sigma/mu")
    business = isinstance(pd.tseries.frequencies.to_offset(freq), pd.offsets.BusinessDay)
    return MarketData(times, tuple(names), o, h, lo, c, v,
                      source=f"synthetic(seed={seed}, bars={bars})",
                      calendar=TRADING_DAYS if business else TWENTY_FOUR_SEVEN)


def _path(rng: np.random.Generator, n: int, dt: float, drift: np.ndarray, vol: np.ndarray,
          jump_prob: float, jump_size: float, start_price: float):
    """One symbol's open, high, low, close, volume."""
    step_sd = vol * np.sqrt(dt)
    mean = (drift - 0.5 * vol**2) * dt
    gap = mean * GAP_SHARE + step_sd * np.sqrt(GAP_SHARE) * rng.standard_normal(n)
    if jump_prob > 0:
        jumps = rng.random(n) < jump_prob
        gap = gap + jumps * jump_size * rng.choice((-1.0, 1.0), size=n)
    body = mean * (1 - GAP_SHARE) + step_sd * np.sqrt(1 - GAP_SHARE) * rng.standard_normal(n)
    log_close = np.log(start_price) + np.cumsum(gap + body)
    close = np.exp(log_close)
    open_ = np.exp(log_close - body)  # previous close (start_price first) times the gap
    wick = 0.5 * step_sd
    high = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(n)) * wick)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(n)) * wick)
    busy = 1.0 + 10.0 * np.abs(gap + body)
    volume = BASE_VOLUME * busy * np.exp(0.3 * rng.standard_normal(n))
    return open_, high, low, close, volume


def _check_args(names, bars, regimes, mu, sigma, jump_prob, jump_size, start_price) -> None:
    if not names or any(not n for n in names):
        raise ValueError(f"synthetic: give at least one non-empty symbol name, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"synthetic: symbol names must be unique, got {names!r}")
    if bars < 1:
        raise ValueError(f"synthetic: bars must be at least 1, got {bars}")
    if not 1 <= regimes <= bars:
        raise ValueError(f"synthetic: regimes must be between 1 and bars ({bars}), got {regimes}")
    if not (np.isfinite(mu) and np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"synthetic: need finite mu and sigma >= 0, got mu={mu}, sigma={sigma}")
    if not 0 <= jump_prob <= 1:
        raise ValueError(f"synthetic: jump_prob must be in [0, 1], got {jump_prob}")
    if not 0 <= jump_size < 1:
        raise ValueError(f"synthetic: jump_size must be in [0, 1), got {jump_size}")
    if not (np.isfinite(start_price) and start_price > 0):
        raise ValueError(f"synthetic: start_price must be positive, got {start_price}")


def _times(start, bars: int, freq: str) -> np.ndarray:
    ts = pd.Timestamp(start)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return pd.date_range(ts, periods=bars, freq=freq).to_numpy(dtype="datetime64[ns]")


def _periods_per_year(freq: str, times: np.ndarray) -> float:
    offset = pd.tseries.frequencies.to_offset(freq)
    if isinstance(offset, pd.offsets.BusinessDay):
        return _TRADING_DAYS / offset.n
    try:
        step = pd.Timedelta(offset)
    except ValueError:  # calendar offsets such as weeks or months: measure them
        start = pd.Timestamp(times[0])
        step = pd.date_range(start, periods=2, freq=freq)[1] - pd.date_range(start, periods=2, freq=freq)[0]
    return pd.Timedelta(days=365.25) / step

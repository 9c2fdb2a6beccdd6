"""Technical indicators on price arrays, vectorised over symbols.

Every function takes a 1-D array (one symbol) or an ``(n_bars, n_symbols)`` array
and returns float arrays of the same shape, NaN during the warm-up. Each value at
bar ``t`` is computed from bars ``0..t`` only, in one forward pass, so the
indicator of a prefix of the history equals the prefix of the indicator of the
whole history, bit for bit. Agents rely on that: their per-bar ``decide`` and
their all-bars ``signals`` call the same functions and must agree exactly.

Moving averages and standard deviations are pandas' rolling ones (the definition
backtesting.py and most notebooks use); EMA and Wilder's RSI are compiled
recurrences.
"""

from __future__ import annotations

import contextlib
import functools
import threading

import numba as nb
import numpy as np
import pandas as pd

__all__ = [
    "cross_above", "cross_below", "ema", "macd", "roc", "rolling_std", "rsi", "shared", "sma",
    "zscore",
]

_memo = threading.local()


@contextlib.contextmanager
def shared(*only: np.ndarray):
    """Within this block (in this thread), an indicator of the same array object with the
    same parameters is computed once and then handed out again (each caller gets its own
    copy, so an agent that writes into its array changes nobody else's): e.g. a grid of
    SMA crossovers computes each window's SMA once, not once per agent. With ``only``,
    just indicators of those arrays are kept (a competition keeps those of its closes,
    not of every prefix a per-bar agent passes). Nested blocks share the outer one's
    table; it is dropped when the outer block ends."""
    outer = getattr(_memo, "table", None)
    if outer is None:
        _memo.table = {}
        _memo.only = {id(a) for a in only} if only else None
        _memo.keep = only  # holding them keeps their ids from being reused
    try:
        yield
    finally:
        if outer is None:
            _memo.table = _memo.only = _memo.keep = None


def _shareable(fn):
    """Memoise ``fn(x, *args)`` by ``x``'s identity inside :func:`shared`."""
    @functools.wraps(fn)
    def wrapper(x, *args, **kwargs):
        table = getattr(_memo, "table", None)
        if table is None or not isinstance(x, np.ndarray) \
                or (_memo.only is not None and id(x) not in _memo.only):
            return fn(x, *args, **kwargs)
        key = (fn.__name__, id(x), args, tuple(sorted(kwargs.items())))
        hit = table.get(key)
        if hit is None or hit[0] is not x:
            hit = (x, fn(x, *args, **kwargs))  # holding x keeps its id from being reused
            table[key] = hit
        return hit[1].copy() if isinstance(hit[1], np.ndarray) else hit[1]
    return wrapper


def _as_2d(x) -> tuple[np.ndarray, bool]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        return a[:, None], True
    if a.ndim != 2:
        raise ValueError(f"expected a 1-D or (n_bars, n_symbols) array, got shape {a.shape}")
    return a, False


def _shaped(out: np.ndarray, was_1d: bool) -> np.ndarray:
    return out[:, 0] if was_1d else out


def _check_window(name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


def _rolling_public(a: np.ndarray, n: int, how: str, ddof: int) -> np.ndarray:
    r = pd.DataFrame(a).rolling(n)
    return (r.mean() if how == "mean" else r.std(ddof=ddof)).to_numpy()


def _rolling_kernel(a: np.ndarray, n: int, how: str, ddof: int) -> np.ndarray:
    """pandas' own Cython rolling kernels, without the per-call DataFrame overhead
    (about 50× faster on short arrays, which matters when ``decide`` recomputes
    an average over the history every bar)."""
    m = a.shape[0]
    end = np.arange(1, m + 1, dtype=np.int64)
    start = np.maximum(end - n, 0)
    vals = np.where(np.isinf(a), np.nan, a)  # as pandas' _prep_values
    out = np.empty(a.shape)
    for j in range(a.shape[1]):
        col = np.ascontiguousarray(vals[:, j])
        if how == "mean":
            out[:, j] = _roll_mean(col, start, end, n)
        else:
            var = _roll_var(col, start, end, n, ddof=ddof)
            with np.errstate(invalid="ignore"):
                std = np.sqrt(var)
            std[var < 0] = 0.0  # as pandas' zsqrt
            out[:, j] = std
    return out


def _kernel_agrees() -> bool:
    """Use the kernels only if they reproduce the public API exactly here."""
    rng = np.random.default_rng(0)
    a = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (300, 2)), axis=0))
    a[50:80, 0] = a[50, 0]  # a flat run
    a[120, 1] = np.nan
    try:
        return all(
            np.array_equal(_rolling_kernel(a, n, how, d), _rolling_public(a, n, how, d),
                           equal_nan=True)
            for n in (1, 2, 20) for how, d in (("mean", 0), ("std", 0), ("std", 1))
        )
    except Exception:
        return False


try:
    from pandas._libs.window.aggregations import roll_mean as _roll_mean
    from pandas._libs.window.aggregations import roll_var as _roll_var
except ImportError:  # pragma: no cover - pandas moved its internals
    _rolling = _rolling_public
else:
    _rolling = _rolling_kernel if _kernel_agrees() else _rolling_public


@_shareable
def sma(x, n: int) -> np.ndarray:
    """Simple moving average over ``n`` bars, exactly ``pd.Series(x).rolling(n).mean()``."""
    n = _check_window("sma window", n)
    a, one = _as_2d(x)
    return _shaped(_rolling(a, n, "mean", 0), one)


@_shareable
def rolling_std(x, n: int, ddof: int = 1) -> np.ndarray:
    """Standard deviation over ``n`` bars, exactly ``rolling(n).std(ddof=ddof)``."""
    n = _check_window("std window", n)
    a, one = _as_2d(x)
    return _shaped(_rolling(a, n, "std", ddof), one)


@_shareable
def zscore(x, n: int, ddof: int = 0) -> np.ndarray:
    """Distance of ``x`` from its ``n``-bar mean in ``n``-bar standard deviations.

    Uses the population deviation (``ddof=0``, as Bollinger bands do). A window
    of identical prices has z = 0.
    """
    a, one = _as_2d(x)
    mean = sma(a, n)
    std = rolling_std(a, n, ddof=ddof)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (a - mean) / std
    z[std == 0.0] = 0.0
    return _shaped(z, one)


@_shareable
def roc(x, n: int) -> np.ndarray:
    """Rate of change over ``n`` bars: ``x[t] / x[t-n] - 1``."""
    n = _check_window("roc lookback", n)
    a, one = _as_2d(x)
    out = np.full(a.shape, np.nan)
    out[n:] = a[n:] / a[:-n] - 1.0
    return _shaped(out, one)


@nb.njit(cache=True)
def _ema_kernel(a, n, alpha):
    out = np.full(a.shape, np.nan)
    for j in range(a.shape[1]):
        y = np.nan
        seen = 0
        for i in range(a.shape[0]):
            v = a[i, j]
            if np.isnan(v):
                continue
            y = v if seen == 0 else alpha * v + (1.0 - alpha) * y
            seen += 1
            if seen >= n:
                out[i, j] = y
    return out


@_shareable
def ema(x, n: int) -> np.ndarray:
    """Exponential moving average with span ``n`` (alpha = 2 / (n + 1)).

    Seeded with the first non-NaN value and NaN until ``n`` values were seen;
    equal (to rounding) to ``ewm(span=n, adjust=False, min_periods=n).mean()``.
    NaN inputs are skipped (the average carries over them).
    """
    n = _check_window("ema span", n)
    a, one = _as_2d(x)
    return _shaped(_ema_kernel(np.ascontiguousarray(a), n, 2.0 / (n + 1.0)), one)


@nb.njit(cache=True)
def _rsi_value(gain, loss):
    if loss == 0.0:
        return 50.0 if gain == 0.0 else 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


@nb.njit(cache=True)
def _rsi_kernel(a, period):
    out = np.full(a.shape, np.nan)
    for j in range(a.shape[1]):
        gain = 0.0
        loss = 0.0
        for i in range(1, a.shape[0]):
            d = a[i, j] - a[i - 1, j]
            g = d if d > 0.0 else 0.0
            lo = -d if d < 0.0 else 0.0
            if i < period:
                gain += g
                loss += lo
            elif i == period:
                gain = (gain + g) / period
                loss = (loss + lo) / period
                out[i, j] = _rsi_value(gain, loss)
            else:
                gain = (gain * (period - 1) + g) / period
                loss = (loss * (period - 1) + lo) / period
                out[i, j] = _rsi_value(gain, loss)
    return out


@_shareable
def rsi(x, period: int = 14) -> np.ndarray:
    """Wilder's relative strength index, 0..100.

    The first average gain/loss is the plain mean of the first ``period``
    changes (so the first value is at bar ``period``); after that
    ``avg = (avg × (period − 1) + change) / period``. No losses gives 100, no
    movement at all gives 50.
    """
    period = _check_window("rsi period", period)
    a, one = _as_2d(x)
    return _shaped(_rsi_kernel(np.ascontiguousarray(a), period), one)


def macd(x, fast: int = 12, slow: int = 26, signal: int = 9):
    """MACD line (EMA fast − EMA slow), its signal line (EMA of the line) and the
    histogram (line − signal), as a tuple of three arrays."""
    line = ema(x, fast) - ema(x, slow)
    sig = ema(line, signal)
    return line, sig, line - sig


def cross_above(a, b) -> np.ndarray:
    """True at bar t when ``a[t-1] < b[t-1]`` and ``a[t] > b[t]`` (strict, NaN is
    never a cross) — backtesting.py's ``crossover(a, b)`` for every bar at once."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    out = np.zeros(shape, dtype=bool)
    out[1:] = (a[:-1] < b[:-1]) & (a[1:] > b[1:])
    return out


def cross_below(a, b) -> np.ndarray:
    """True at bar t when ``a`` crosses below ``b`` (``cross_above(b, a)``)."""
    return cross_above(b, a)

"""Bootstrap confidence intervals: percentile and BCa, as ``scipy.stats.bootstrap``.

Resampling draws ``rng.integers(0, n, (n_boot, n))`` from
``np.random.default_rng(seed)``, the same draws as ``scipy.stats.bootstrap(...,
rng=np.random.default_rng(seed))``, taken in chunks of whole resamples (the
stream is the same however it is chunked), so the same seed gives the same
resamples. Definitions: ``docs/metrics.md`` ("Tournament and sweep statistics").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["CI", "METHODS", "bootstrap_ci", "interval", "resample_counts", "resample_indices"]

METHODS = ("percentile", "bca")
_CHUNK = 2_000_000  # resampled values held in memory at once


class CI(NamedTuple):
    """A statistic and its confidence interval ``[lo, hi]``."""

    estimate: float
    lo: float
    hi: float


def check_options(level: float, n_boot: int, method: str) -> None:
    """A clear ``ValueError`` for a level outside (0, 1), too few resamples or an unknown
    method."""
    if not (isinstance(level, int | float) and 0.0 < level < 1.0):
        raise ValueError(f"level must be a fraction between 0 and 1 (e.g. 0.95), got {level!r}")
    if not (isinstance(n_boot, int | np.integer) and n_boot >= 1):
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def resample_indices(n: int, n_boot: int, seed: int | None = 0,
                     width: int = 0) -> Iterator[np.ndarray]:
    """Bootstrap resamples of ``0..n-1`` as ``(rows, n)`` index chunks, ``n_boot`` rows
    in all: ``np.random.default_rng(seed).integers(0, n, (n_boot, n))`` cut into chunks
    of at most ~2 M values (or of ``width`` values per resample, if wider)."""
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK // max(n, width, 1))
    for start in range(0, n_boot, rows):
        yield rng.integers(0, n, (min(rows, n_boot - start), n))


def resample_counts(n: int, n_boot: int, seed: int | None = 0,
                    width: int = 0) -> Iterator[np.ndarray]:
    """The same resamples as :func:`resample_indices`, as ``(rows, n)`` float chunks of how
    often each observation was drawn (``counts @ values`` sums each resample)."""
    for idx in resample_indices(n, n_boot, seed, width):
        rows = idx.shape[0]
        flat = (np.arange(rows)[:, None] * n + idx).ravel()
        yield np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(float)


def interval(estimate: float, boot: np.ndarray, level: float = 0.95,
             method: str = "percentile", jackknife: np.ndarray | None = None) -> tuple[float, float]:
    """``(lo, hi)`` from a bootstrap distribution ``boot`` of ``estimate``.

    percentile: the ``(1 − level)/2`` and ``(1 + level)/2`` linear quantiles of ``boot``.
    bca: those quantiles moved to ``Φ(z0 + (z0 + z)/(1 − a(z0 + z)))``, ``z0 = Φ⁻¹`` of the
    share of ``boot`` below ``estimate`` (ties count half; values within 1e-12 relative of
    ``estimate`` are ties, whatever the summation order), ``a = Σd³ / (6 (Σd²)^1.5)``,
    ``d = mean(jackknife) − jackknife`` (``a = 0`` when the jackknife values are all equal).
    Non-finite entries of ``boot`` (a resample where the statistic is undefined) are left
    out; NaN when nothing is left, or when BCa is undefined (``estimate`` outside ``boot``).
    """
    boot = np.asarray(boot, dtype=float)
    boot = boot[np.isfinite(boot)]
    if not boot.size or not math.isfinite(estimate):
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    probs = np.array([alpha, 1.0 - alpha])
    if method == "bca":
        if jackknife is None:
            raise ValueError("method='bca' needs the jackknife values")
        tol = 1e-12 * max(abs(estimate), float(np.max(np.abs(boot))))  # rounding ties
        share = np.count_nonzero(boot < estimate - tol) + np.count_nonzero(boot <= estimate + tol)
        z0 = float(ndtri(share / (2.0 * boot.size)))
        d = np.mean(jackknife) - np.asarray(jackknife, dtype=float) if len(jackknife) else [0.0]
        ss = float(np.sum(np.square(d)))
        a = float(np.sum(np.power(d, 3))) / (6.0 * ss ** 1.5) if ss > 0 else 0.0
        if not math.isfinite(z0) or not math.isfinite(a):
            return math.nan, math.nan
        z = ndtri(probs)
        probs = ndtr(z0 + (z0 + z) / (1.0 - a * (z0 + z)))
    lo, hi = np.quantile(boot, probs)
    return float(lo), float(hi)


def bootstrap_ci(values, stat: Callable = np.mean, level: float = 0.95, n_boot: int = 10_000,
                 seed: int | None = 0, method: str = "percentile") -> CI:
    """Bootstrap confidence interval of ``stat(values)``.

    ``values``: a 1-D sequence of finite numbers. ``stat`` is called as
    ``stat(array, axis=-1)`` (``np.mean``, ``np.median``, or any function vectorised that
    way). ``method``: ``"percentile"`` or ``"bca"`` (bias-corrected and accelerated,
    Efron & Tibshirani 1993, §14.3; the jackknife leaves out one value at a time).
    Same resamples and same interval as ``scipy.stats.bootstrap(..., rng=
    np.random.default_rng(seed))`` with ``n_resamples=n_boot``.
    """
    check_options(level, n_boot, method)
    x = np.asarray(values, dtype=float) if not isinstance(values, np.ndarray) else values
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {np.shape(x)}")
    x = x.astype(float)
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(f"values[{bad[0]}] is {x[bad[0]]}: bootstrap needs finite values")
    estimate = float(stat(x, axis=-1))
    boot = np.concatenate([np.asarray(stat(x[idx], axis=-1), dtype=float).reshape(-1)
                           for idx in resample_indices(x.size, n_boot, seed)])
    jack = _jackknife(x, stat) if method == "bca" else None
    return CI(estimate, *interval(estimate, boot, level, method, jack))


def _jackknife(x: np.ndarray, stat: Callable) -> np.ndarray:
    """``stat`` of ``x`` without value i, for each i (leave-one-out)."""
    n = x.size
    if n < 2:
        return np.empty(0)
    rows = max(1, _CHUNK // n)
    out = []
    for start in range(0, n, rows):
        b = min(rows, n - start)
        keep = np.ones((b, n), dtype=bool)
        keep[np.arange(b), start + np.arange(b)] = False
        sample = np.broadcast_to(x, (b, n))[keep].reshape(b, n - 1)
        out.append(np.asarray(stat(sample, axis=-1), dtype=float).reshape(-1))
    return np.concatenate(out)

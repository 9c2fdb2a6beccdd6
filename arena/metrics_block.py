"""Compiled kernels of :meth:`arena.metrics.RunningStats.update_many`: a block of bars'
returns and drawdowns in one pass each (a handful of numpy calls per block instead of
dozens; a competition of many agents makes one call per agent per block)."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def block_returns(e, prev0, rf_per_bar):
    """Returns ``e[i] / e[i-1] - 1`` (``e[-1]`` being ``prev0``) up to the first bar after
    a non-positive equity: ``(upto, mean, M2, M3, M4, downside sum of squares, gain,
    loss)`` of those ``upto`` returns (central sums about their own mean)."""
    m = e.shape[0]
    upto = m
    prev = prev0
    total = 0.0
    for i in range(m):
        if prev <= 0:
            upto = i
            break
        total += e[i] / prev - 1.0
        prev = e[i]
    if upto == 0:
        return 0, np.nan, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    mean = total / upto
    m2 = m3 = m4 = down = gain = loss = 0.0
    prev = prev0
    for i in range(upto):
        r = e[i] / prev - 1.0
        prev = e[i]
        d = r - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
        x = min(r - rf_per_bar, 0.0)
        down += x * x
        gain += max(r, 0.0)
        loss += max(-r, 0.0)
    return upto, mean, m2, m3, m4, down, gain, loss


@nb.njit(cache=True)
def block_drawdowns(e, ns, bar0, peak, peak_ns, peak_bar, underwater, max_dd, dd_sq,
                    max_dd_ns, max_dd_bars):
    """The running peak and drawdown totals after the bars ``e`` (at times ``ns``, the
    first being bar ``bar0``), bar by bar as ``RunningStats.update`` keeps them."""
    for i in range(e.shape[0]):
        x = e[i]
        bar = bar0 + i
        if x >= peak:
            if underwater:
                max_dd_ns = max(max_dd_ns, ns[i] - peak_ns)
                max_dd_bars = max(max_dd_bars, bar - peak_bar)
            peak, peak_ns, peak_bar = x, ns[i], bar
            underwater = False
        else:
            underwater = True
            dd = x / peak - 1.0
            if dd < max_dd:
                max_dd = dd
            dd_sq += dd * dd
            max_dd_ns = max(max_dd_ns, ns[i] - peak_ns)
            max_dd_bars = max(max_dd_bars, bar - peak_bar)
    return peak, peak_ns, peak_bar, underwater, max_dd, dd_sq, max_dd_ns, max_dd_bars

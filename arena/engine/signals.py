"""Precomputed signals (``Agent.signals``): the checks the engine applies to them and
the bars where they change a target, without a DataFrame per agent (a competition of a
thousand agents checks a thousand of them)."""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def held(signals: np.ndarray) -> np.ndarray:
    """The target in force at each bar (bars × symbols): the last non-NaN signal so far
    in its column, 0 before the first (``pd.DataFrame(signals).ffill().fillna(0)``)."""
    n, k = signals.shape
    out = np.empty((n, k))
    for j in range(k):
        last = 0.0
        for i in range(n):
            x = signals[i, j]
            if not np.isnan(x):
                last = x
            out[i, j] = last
    return out


def signal_fault(sig: np.ndarray, max_leverage: float,
                 in_force: np.ndarray | None = None) -> tuple[int, str] | None:
    """The first row where ``sig`` cannot run on the compiled path (weights outside
    -1..1, or the targets in force, ``held(sig)``, above the leverage cap) and why,
    or None."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(sig) & ~((sig >= -1) & (sig <= 1))
    in_force = held(sig) if in_force is None else in_force
    over = np.abs(in_force).sum(axis=1) > max_leverage + 1e-9
    if bad.any() or over.any():
        row = int(np.argmax(bad.any(axis=1) | over))
        return row, (f"signals() row {row} has weights outside -1..1 or above the leverage "
                     "cap; deciding bar by bar instead")
    return None


def target_changes(signals: np.ndarray, in_force: np.ndarray | None = None) -> np.ndarray:
    """Bars whose signal row changes some symbol's effective target (start: 0)."""
    h = held(signals) if in_force is None else in_force
    before = np.vstack([np.zeros((1, signals.shape[1])), h[:-1]])
    changed = ~np.isnan(signals) & (signals != before)
    return np.flatnonzero(changed.any(axis=1))

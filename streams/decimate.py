"""Decimation for plotting long series: keep each line's extremes, bound the points."""

from __future__ import annotations

import numpy as np


def envelope_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Row indices that keep every column's min and max per bucket, first and last row.

    ``values`` has shape ``(n,)`` or ``(n, columns)``. At most ``max_points``
    indices come back (sorted, unique); with ``n <= max_points`` all rows do.
    Buckets shrink in number until the union of the columns' extremes fits.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    n = len(v)
    if n <= max_points:
        return np.arange(n)
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    buckets = max(1, (max_points - 2) // 2)
    while True:
        edges = np.linspace(0, n, buckets + 1).astype(int)
        size = np.diff(edges).max()
        pad = np.full((buckets * size, v.shape[1]), np.nan)
        # place each bucket in its own row block, padding short buckets with NaN
        rows = np.concatenate([np.arange(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)])
        offsets = np.concatenate([np.arange(b - a) + i * size
                                  for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))])
        pad[offsets] = v[rows]
        blocks = pad.reshape(buckets, size, -1)
        filled = np.where(np.isnan(blocks), np.inf, blocks)
        lo = np.argmin(filled, axis=1)
        hi = np.argmax(np.where(np.isnan(blocks), -np.inf, blocks), axis=1)
        start = edges[:-1, None]
        picks = np.concatenate([(start + lo).ravel(), (start + hi).ravel(), [0, n - 1]])
        idx = np.unique(np.clip(picks, 0, n - 1))
        if len(idx) <= max_points or buckets == 1:
            return np.r_[idx[: max_points - 1], idx[-1]] if len(idx) > max_points else idx
        buckets = max(1, buckets * max_points // (2 * len(idx)))

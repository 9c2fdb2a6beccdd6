"""Features and labels for learning agents, from closing prices only.

:func:`features` turns closes ``(n_bars, n_symbols)`` into ``(n_bars, n_symbols,
n_features)``: returns, z-score, RSI, MACD histogram and volatility, each at bar
``t`` computed from bars ``0..t`` with the prefix-stable indicators of
:mod:`arena.agents.indicators` (so the features of a prefix of the history are
the prefix of the features, bit for bit). :func:`up_labels` says whether the
close rose over the next bar, which is known only one bar later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arena.agents import indicators as ind

__all__ = ["FEATURES", "FIRST_FULL_ROW", "Feature", "features", "up_labels"]


@dataclass(frozen=True)
class Feature:
    """One feature column: its name and how a trader reads its value."""

    name: str
    percent: bool  # shown as a percentage (returns, volatility) or a plain number

    def show(self, x: float) -> str:
        x = float(x)
        return f"{self.name} {x:+.2%}" if self.percent else f"{self.name} {x:.2f}"


FEATURES: tuple[Feature, ...] = (
    Feature("1-bar return", True),
    Feature("5-bar return", True),
    Feature("20-bar return", True),
    Feature("z-score(20)", False),
    Feature("RSI(14)", False),
    Feature("MACD histogram/price", True),
    Feature("20-bar volatility", True),
)

#: The first bar at which every feature is defined: the MACD signal line (EMA 9
#: of EMA 12 − EMA 26) needs 26 + 9 − 1 = 34 bars, i.e. bar index 33.
FIRST_FULL_ROW = 33


def features(close) -> np.ndarray:
    """Feature array ``(n_bars, n_symbols, len(FEATURES))``; NaN while warming up."""
    close = np.asarray(close, dtype=np.float64)
    if close.ndim != 2:
        raise ValueError(f"expected closes of shape (n_bars, n_symbols), got {close.shape}")
    r1 = ind.roc(close, 1)
    _, _, hist = ind.macd(close, 12, 26, 9)
    cols = (
        r1,
        ind.roc(close, 5),
        ind.roc(close, 20),
        ind.zscore(close, 20),
        ind.rsi(close, 14),
        hist / close,
        ind.rolling_std(r1, 20),
    )
    return np.ascontiguousarray(np.stack(cols, axis=-1))


def up_labels(close) -> np.ndarray:
    """1.0 where ``close[i + 1] > close[i]``, else 0.0; NaN at the last bar.

    The label of bar ``i`` is known at the close of bar ``i + 1``: a model used
    at bar ``t`` may learn only from bars ``i <= t - 1``.
    """
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.shape, np.nan)
    out[:-1] = (close[1:] > close[:-1]).astype(np.float64)
    return out

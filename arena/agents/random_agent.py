"""The random agent: a baseline that trades on coin flips, reproducibly."""

from __future__ import annotations

import numpy as np
import param

from arena.agents.base import Agent, Decision, Observation
from arena.agents.registry import register
from arena.agents.rules import decision_from_row, side_text
from arena.data.market import MarketData

__all__ = ["RandomAgent"]

_SIDES = np.array([-1.0, 0.0, 1.0])


@register("random")
class RandomAgent(Agent):
    """Each bar, each symbol: with probability ``trade_prob`` pick short, flat or long
    (uniformly) at ``weight / n_symbols``.

    The draws for bar t are the t-th pair ``rng.random(k)``, ``rng.integers(0, 3, k)``
    of a generator seeded in :meth:`reset`, so ``decide``, ``signals`` and
    ``explain`` see the same numbers whatever order they are called in.
    """

    description = "Baseline: on each bar, with some probability, goes long, flat or short at random."

    trade_prob = param.Number(0.1, bounds=(0.0, 1.0), doc="Chance per bar and symbol of picking a new target.")
    weight = param.Number(
        1.0, bounds=(0.0, 1.0),
        doc="Gross weight when fully invested, split equally across the symbols.",
    )

    def __init__(self, **params):
        super().__init__(**params)
        self._seed = 0
        self._clear()

    def _clear(self) -> None:
        self._rng = np.random.default_rng(self._seed)
        self._u: list[np.ndarray] = []
        self._pick: list[np.ndarray] = []

    def reset(self, data: MarketData, seed: int) -> None:
        self._seed = seed
        self._clear()

    def _extend(self, n: int, k: int) -> None:
        """Draw bars up to n−1: per bar, uniforms and side picks for k symbols."""
        if self._u and self._u[0].shape[0] != k:
            self._clear()  # a different symbol set: start the stream over
        while len(self._u) < n:
            self._u.append(self._rng.random(k))
            self._pick.append(self._rng.integers(0, 3, k))

    def _targets(self, u: np.ndarray, pick: np.ndarray, k: int) -> np.ndarray:
        return np.where(u < self.trade_prob, _SIDES[pick] * (self.weight / k), np.nan)

    def _row(self, t: int, symbols) -> tuple[np.ndarray, str]:
        k = len(symbols)
        self._extend(t + 1, k)
        u = self._u[t]
        targets = self._targets(u, self._pick[t], k)
        parts = [
            f"{sym}: draw {u[j]:.2f} < {self.trade_prob:g} → {side_text(targets[j])}"
            for j, sym in enumerate(symbols) if not np.isnan(targets[j])
        ]
        if not parts:
            return targets, f"no trade: every draw ≥ {self.trade_prob:g}"
        return targets, "; ".join(parts)

    def signals(self, data: MarketData) -> np.ndarray:
        n, k = len(data), data.n_symbols
        if n == 0:
            return np.empty((0, k))
        self._extend(n, k)
        return self._targets(np.stack(self._u[:n]), np.stack(self._pick[:n]), k)

    def decide(self, obs: Observation) -> Decision:
        targets, reasoning = self._row(len(obs.history) - 1, obs.symbols)
        return decision_from_row(obs.symbols, targets, reasoning)

    def explain(self, data: MarketData, t: int) -> str:
        return self._row(t, data.symbols)[1]

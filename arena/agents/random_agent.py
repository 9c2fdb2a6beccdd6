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

    The draws for bar t are row t of two streams of uniforms seeded in
    :meth:`reset` (one decides whether to trade, the other which side:
    ``floor(3 u)``). Uniform doubles come out the same whether drawn a row or a
    block at a time, so ``decide``, ``signals`` and ``explain`` see the same
    numbers whatever order they are called in, and ``signals`` needs no loop.
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
        trade, side = np.random.SeedSequence(self._seed).spawn(2)
        self._rng_u = np.random.default_rng(trade)
        self._rng_side = np.random.default_rng(side)
        self._u = np.empty((0, 0))
        self._pick = np.empty((0, 0), dtype=int)

    def reset(self, data: MarketData, seed: int) -> None:
        self._seed = seed
        self._clear()

    def _extend(self, n: int, k: int) -> None:
        """Draw bars up to n−1 (in blocks): uniforms and side picks for k symbols."""
        if len(self._u) and self._u.shape[1] != k:
            self._clear()  # a different symbol set: start the streams over
        have = len(self._u)
        if have >= n:
            return
        more = max(n - have, 1024, have)
        u = self._rng_u.random((more, k))
        pick = np.floor(self._rng_side.random((more, k)) * 3).astype(int)
        self._u = u if not have else np.vstack([self._u, u])
        self._pick = pick if not have else np.vstack([self._pick, pick])

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
        return self._targets(self._u[:n], self._pick[:n], k)

    def decide(self, obs: Observation) -> Decision:
        targets, reasoning = self._row(len(obs.history) - 1, obs.symbols)
        return decision_from_row(obs.symbols, targets, reasoning)

    def explain(self, data: MarketData, t: int) -> str:
        return self._row(t, data.symbols)[1]

    def explain_many(self, data: MarketData, bars) -> list[str]:
        """:meth:`explain` for many bars at once (the same texts, from Python floats)."""
        bars = np.asarray(bars, dtype=int)
        if len(bars) == 0:
            return []
        k, p = data.n_symbols, self.trade_prob
        self._extend(int(bars.max()) + 1, k)
        u = self._u[bars]
        out = []
        for draws, targets in zip(u.tolist(), self._targets(u, self._pick[bars], k).tolist(),
                                  strict=True):
            parts = [f"{sym}: draw {d:.2f} < {p:g} → {side_text(w)}"
                     for sym, d, w in zip(data.symbols, draws, targets, strict=True) if w == w]
            out.append("; ".join(parts) if parts else f"no trade: every draw ≥ {p:g}")
        return out

"""The Agent protocol: what an agent sees (Observation) and what it answers (Decision)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
import param

from arena.data.market import MarketData

if TYPE_CHECKING:
    from arena.portfolio import PortfolioView


@dataclass(frozen=True)
class Decision:
    """An agent's answer for one bar.

    ``targets`` maps symbols to target weights of equity (−1..1 each, negative is
    short; the sum of absolute weights may not exceed the competition's leverage
    cap). Symbols left out keep their current position; ``targets=None`` holds
    everything. The portfolio trades only where a target changes from the agent's
    previous target (so a constant signal is not re-traded as prices drift), or
    everywhere when ``rebalance`` is true.
    """

    targets: Mapping[str, float] | None = None
    confidence: float = 1.0
    reasoning: str = ""
    rebalance: bool = False

    @classmethod
    def hold(cls, reasoning: str = "", confidence: float = 1.0) -> Decision:
        return cls(None, confidence, reasoning)


class DecisionError(ValueError):
    """An agent's output that cannot be executed; the agent holds instead."""


def validate_decision(decision, symbols: tuple[str, ...], max_leverage: float) -> Decision:
    """Check an agent's output and return it, or raise DecisionError naming the fault."""
    if not isinstance(decision, Decision):
        raise DecisionError(f"expected a Decision, got {type(decision).__name__}: {decision!r:.200}")
    conf = decision.confidence
    if (isinstance(conf, bool) or not isinstance(conf, int | float | np.floating | np.integer)
            or math.isnan(conf) or not 0.0 <= conf <= 1.0):
        raise DecisionError(f"confidence must be a number in 0..1, got {conf!r}")
    if not isinstance(decision.reasoning, str):
        raise DecisionError(f"reasoning must be text, got {type(decision.reasoning).__name__}")
    if decision.targets is None:
        return decision
    if not isinstance(decision.targets, Mapping):
        raise DecisionError(f"targets must map symbol to weight, got {type(decision.targets).__name__}")
    gross = 0.0
    for sym, w in decision.targets.items():
        if sym not in symbols:
            raise DecisionError(f"unknown symbol {sym!r}; allowed: {', '.join(symbols)}")
        if isinstance(w, bool) or not isinstance(w, int | float | np.floating | np.integer):
            raise DecisionError(f"weight for {sym} must be a number, got {w!r}")
        w = float(w)
        if not math.isfinite(w) or not -1.0 <= w <= 1.0:
            raise DecisionError(f"weight for {sym} must be in -1..1, got {w!r}")
        gross += abs(w)
    if gross > max_leverage + 1e-9:
        raise DecisionError(
            f"gross weight {gross:.4g} exceeds the leverage cap {max_leverage:g}"
        )
    return decision


class History:
    """Bars up to and including the current one, as read-only numpy views.

    ``close`` etc. have shape ``(n, n_symbols)``; ``history['AAPL'].close`` or
    ``history.close_of('AAPL')`` give one symbol. Nothing after the current bar is
    reachable from here.
    """

    __slots__ = ("_data", "_end")

    def __init__(self, data: MarketData, end: int):
        self._data = data
        self._end = end

    def __len__(self) -> int:
        return self._end

    @property
    def symbols(self) -> tuple[str, ...]:
        return self._data.symbols

    @property
    def times(self) -> np.ndarray:
        return self._data.times[: self._end]

    @property
    def open(self) -> np.ndarray:
        return self._data.open[: self._end]

    @property
    def high(self) -> np.ndarray:
        return self._data.high[: self._end]

    @property
    def low(self) -> np.ndarray:
        return self._data.low[: self._end]

    @property
    def close(self) -> np.ndarray:
        return self._data.close[: self._end]

    @property
    def volume(self) -> np.ndarray:
        return self._data.volume[: self._end]

    def close_of(self, symbol: str) -> np.ndarray:
        return self._data.close[: self._end, self._data.column(symbol)]

    def frame(self, symbol: str) -> pd.DataFrame:
        """One symbol's bars so far as a DataFrame (convenient, not fast)."""
        return self._data.frame(symbol).iloc[: self._end]


@dataclass(frozen=True, slots=True)
class Observation:
    """What an agent sees at the close of bar ``step``."""

    step: int
    time: pd.Timestamp
    symbols: tuple[str, ...]
    history: History
    portfolio: PortfolioView | None
    max_leverage: float = 1.0
    extra: Mapping[str, object] = field(default_factory=dict)


class Agent(param.Parameterized):
    """Base class of all agents.

    Subclasses set ``description`` (one line) and implement :meth:`decide`.
    Agents whose targets can be computed for all bars at once may also implement
    :meth:`signals`; the engine then uses that array instead of calling
    ``decide`` per bar. Row ``t`` of it must depend only on bars ``0..t``: the test
    suite checks every built-in agent for this (prefix invariance) and checks
    that ``signals`` and ``decide`` agree.
    """

    description: ClassVar[str] = ""

    def reset(self, data: MarketData, seed: int) -> None:
        """Called once before a run; override to clear state or seed randomness."""

    def decide(self, obs: Observation) -> Decision:
        raise NotImplementedError

    def close(self) -> None:
        """Called when a run ends: release connections or files (a new run calls
        :meth:`reset` first)."""

    def explain(self, data: MarketData, t: int) -> str:
        """The reasoning behind the signal row ``t`` (vectorised path)."""
        return ""

    def explain_many(self, data: MarketData, bars) -> list[str]:
        """:meth:`explain` for several bars (override to batch the work)."""
        return [self.explain(data, int(t)) for t in bars]

    def signals(self, data: MarketData) -> np.ndarray | None:
        """Target weights for every bar, shape ``(n_bars, n_symbols)``; NaN keeps
        the previous target. Return None (the default) to be called per bar."""
        return None

    def label(self) -> str:
        """Short name with the parameters that differ from the defaults."""
        declared = type(self).param  # the class's parameters: no per-instance copies
        changed = {
            k: v for k, v in self.param.values().items()
            if k != "name" and v != declared[k].default
        }
        base = type(self).__dict__.get("registered_name", type(self).__name__)
        if not changed:
            return base
        return base + "(" + ",".join(f"{k}={v}" for k, v in changed.items()) + ")"


class AgentError(RuntimeError):
    """A failure the agent explains itself (e.g. an LLM call that timed out);
    the engine reports the message as is and the agent holds."""

"""Decisions on the per-bar path: every agent decides at a bar's close; agents marked
``concurrent`` (blocking I/O, e.g. LLM calls) in a thread pool while the others decide
in the engine thread; results are applied in agent (slot) order. As fast as possible
(speed 0) a bar waits for every answer; paced or live it waits at most the deadline,
and an agent that has not answered holds (an ``agent_error``); its late answer is
discarded, and it is not asked again until that call has returned. See docs/llm.md."""

from __future__ import annotations

import concurrent.futures as cf
from typing import TYPE_CHECKING

import numpy as np

from arena.agents.base import (
    AgentError,
    Decision,
    DecisionError,
    History,
    Observation,
    validate_decision,
)
from arena.portfolio import PortfolioView
from arena.publisher import format_targets

if TYPE_CHECKING:
    from arena.engine.competition import _Slot


class ConcurrentDecisions:
    """Asking the agents of :class:`~arena.engine.Competition` (a mixin)."""

    def _decide(self, t: int) -> None:
        """Ask every agent for its decision at bar ``t``'s close (per-bar path):
        concurrent agents in the pool, the others here; applied in slot order."""
        hist = History(self.data, t + 1)
        time = self.data.timestamp(t)
        lev = self.config.portfolio.max_leverage
        acc = self.accounts
        outcome: dict[int, tuple[str, object]] = {}
        pooled = []
        frozen = None
        for s in self._slots:  # submit first, so that they run while the others decide
            if not s.concurrent:
                continue
            if s.future is not None and not s.future.done():
                outcome[s.index] = ("error", f"still waiting for its answer to bar "
                                             f"{s.future_bar}; holding")
                continue
            if frozen is None:  # a copy: workers must not see the accounts move on
                frozen = acc.frozen()
            obs = Observation(t, time, self.data.symbols, hist, PortfolioView(frozen, s.index),
                              lev)
            s.future, s.future_bar = self._pool.submit(s.agent.decide, obs), t
            pooled.append(s)
        for s in self._slots:
            if s.signals is not None:
                row = s.signals[t]
                if not np.isnan(row).all():
                    acc.pending[s.index] = row
            elif not s.concurrent:
                obs = Observation(t, time, self.data.symbols, hist, PortfolioView(acc, s.index),
                                  lev)
                outcome[s.index] = _call(s.agent.decide, obs)
        if pooled:
            cf.wait([s.future for s in pooled], timeout=self._deadline())
            for s in pooled:
                if s.future.done():
                    outcome[s.index] = _result(s.future)
                else:
                    s.late_bars.add(t)
                    outcome[s.index] = ("error", f"no answer within the "
                                                 f"{self._deadline():.3g} s deadline of a live "
                                                 "bar; holding (a late answer is discarded)")
        rows = []
        for s in self._slots:
            if s.index not in outcome:
                continue
            kind, value = outcome[s.index]
            if kind == "error":
                self._agent_error(s, t, value)
                continue
            try:
                d = validate_decision(value, self.data.symbols, lev)
            except DecisionError as exc:
                self._agent_error(s, t, f"invalid decision, holding: {exc}")
                continue
            if d.targets is not None:
                for sym, w in d.targets.items():
                    acc.pending[s.index, self.data.column(sym)] = float(w)
                acc.pending_force[s.index] = d.rebalance
            if self._is_news(s, d):
                rows.append((t, s, format_targets(d.targets), float(d.confidence),
                             str(d.reasoning)))  # a str subclass would not record
        self._pub.decisions(rows)
        if pooled:
            self._collect_calls()

    def _deadline(self) -> float | None:
        """Seconds a bar waits for concurrent agents: None (all) when as fast as possible."""
        # live: the config's, else the feed's (half a candle); the recording's
        # live.decide_deadline is this one (Competition.live_meta)
        if self._feed is not None:
            return self.config.decide_deadline or self._feed.decide_deadline
        if self._speed <= 0:
            return None
        return self.config.decide_deadline or 1.0 / self._speed

    def _collect_calls(self) -> None:
        """Move finished LLM calls (prompts, answers, usage) to the recording."""
        rows = []
        for s in self._slots:
            drain = getattr(s.agent, "drain_calls", None)
            if drain is None:
                continue
            for c in drain():
                rows.append((s, c, c.bar in s.late_bars))
        self._pub.llm_calls(rows)

    def _is_news(self, s: _Slot, d: Decision) -> bool:
        """A decision worth a row: it changes a target, or the agent asks to log all."""
        if (getattr(s.agent, "record_all_decisions", False) and d.reasoning) or d.rebalance:
            return True
        if d.targets is None:
            return False
        tgt = self.accounts.target[s.index]
        return any(float(w) != tgt[self.data.column(sym)] for sym, w in d.targets.items())



def _call(decide, obs: Observation) -> tuple[str, object]:
    """("ok", decision) or ("error", why) from one decide() call."""
    try:
        return "ok", decide(obs)
    except Exception as exc:  # noqa: BLE001 - the competition goes on
        return _failure(exc)


def _result(future: cf.Future) -> tuple[str, object]:
    """The same for a decide() call that ran in the pool."""
    try:
        return "ok", future.result()
    except Exception as exc:  # noqa: BLE001
        return _failure(exc)


def _failure(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, DecisionError):
        return "error", f"invalid decision, holding: {exc}"
    if isinstance(exc, AgentError):
        return "error", f"{exc}; holding"
    return "error", f"decide() raised {type(exc).__name__}: {exc}; holding"

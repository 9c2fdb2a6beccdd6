"""Rule-based agents: classic indicator strategies applied to each symbol on its own.

Each agent computes its targets two ways: :meth:`signals` for every bar at once
(vectorised, used by the engine for speed) and :meth:`decide` for one bar (the
protocol). Both use the same indicator functions (:mod:`arena.agents.indicators`),
which are computed in one forward pass, so the two paths agree bit for bit and
neither can see a bar after the current one.

Weights: an agent that is "all in" puts ``weight / n_symbols`` on each symbol.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numba as nb
import numpy as np
import param

from arena.agents import indicators as ind
from arena.agents.base import Agent, Decision, History, Observation
from arena.agents.registry import register
from arena.data.market import MarketData

__all__ = ["BuyAndHold", "MacdCross", "MeanReversion", "Momentum", "RsiReversion", "SmaCross"]


def _num(x: float) -> str:
    """A price or indicator value, readable at any magnitude: ``1,234.56``, ``0.001234``,
    ``1.235e+15`` (from a thousand billion on, digits would only be noise)."""
    x = float(x)  # numpy scalars format several times slower
    return f"{x:,.2f}" if 1 <= abs(x) < 1e12 else f"{x:.4g}"


def side_text(w: float) -> str:
    if w > 0:
        return f"long {w:.2f}"
    if w < 0:
        return f"short {w:.2f}"
    return "flat 0.00"


def decision_from_row(symbols, targets: np.ndarray, reasoning: str) -> Decision:
    """A Decision with a target for each symbol whose entry in ``targets`` is not NaN."""
    chosen = {s: float(w) for s, w in zip(symbols, targets, strict=True) if not np.isnan(w)}
    return Decision(chosen or None, 1.0, reasoning)


class RuleAgent(Agent):
    """Base of the rule agents: one method computes a bar, another all bars.

    Subclasses implement ``_all_bars(close) -> (n, k) targets`` and
    ``_one_bar(close, symbols, remember, full) -> ((k,) targets, reasoning)``
    where ``close`` holds bars ``0..t`` and NaN means "no new target". ``full``
    is None in :meth:`decide` (compute from ``close``); :meth:`explain` passes
    ``_series(all closes)`` instead, computed once per data set, whose rows up to
    ``t`` equal what ``decide`` computes at ``t`` (the indicators are prefix-stable).
    """

    weight = param.Number(
        1.0, bounds=(0.0, 1.0),
        doc="Gross weight when fully invested, split equally across the symbols.",
    )

    def __init__(self, **params):
        super().__init__(**params)
        self._check()
        self._forget()
        names = [k for k in self.param if k != "name"]
        self.param.watch(self._params_changed, names)

    def _params_changed(self, *events) -> None:
        self._forget()

    def _forget(self) -> None:
        """Drop cached state (parameters changed, or a new run)."""
        self._memo = None
        self._explained = None
        self._params = None

    @property
    def _p(self) -> SimpleNamespace:
        """Snapshot of the parameter values (param's attribute access is slow in loops)."""
        if self._params is None:
            self._params = SimpleNamespace(**self.param.values())
        return self._params

    def _check(self) -> None:
        """Raise ValueError for parameter combinations that make no sense."""

    def _w(self, k: int) -> float:
        return self._p.weight / k

    def reset(self, data: MarketData, seed: int) -> None:
        self._check()
        self._forget()

    def signals(self, data: MarketData) -> np.ndarray:
        return self._all_bars(np.asarray(data.close))

    @classmethod
    def grid_signals(cls, data: MarketData, combos):
        """``signals(data)`` of this agent with each parameter set of ``combos`` (dicts
        of typed values, see :func:`arena.agents.registry.typed_params`), in order,
        without building an agent per set: one agent's parameter snapshot (all that
        ``_all_bars`` reads) is swapped. Each set's combination is checked as the
        constructor checks it (``_check``: ValueError). Signals only: a subclass that
        overrides ``reset`` or ``signals`` must be built per set."""
        proto = cls()
        base = {k: v for k, v in proto.param.values().items() if k != "name"}
        close = np.asarray(data.close)
        try:
            for combo in combos:
                snap = SimpleNamespace(**{**base, **combo})
                cls._check(snap)  # reads the values as attributes, like self.fast
                proto._params = snap
                yield proto._all_bars(close)
        finally:
            proto._forget()

    def decide(self, obs: Observation) -> Decision:
        targets, reasoning = self._one_bar(obs.history.close, obs.symbols, remember=True)
        return decision_from_row(obs.symbols, targets, reasoning)

    def explain(self, data: MarketData, t: int) -> str:
        """The reasoning :meth:`decide` gives at bar ``t`` (for the vectorised path)."""
        if self._explained is None or self._explained[0] is not data:
            self._explained = (data, self._series(np.asarray(data.close)))
        close = History(data, t + 1).close
        return self._one_bar(close, data.symbols, remember=False, full=self._explained[1])[1]

    def _series(self, close: np.ndarray):
        """Per-bar arrays ``_one_bar`` needs, for all of ``close``."""
        return None

    def _all_bars(self, close: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _one_bar(self, close: np.ndarray, symbols, remember: bool, full=None):
        raise NotImplementedError


@register("buy_and_hold")
class BuyAndHold(RuleAgent):
    """Invest ``weight`` (split equally) at the first bar and never trade again."""

    description = "Buys at the first bar, split equally across symbols, and holds."

    def _all_bars(self, close):
        out = np.full(close.shape, np.nan)
        out[:1] = self._w(close.shape[1])
        return out

    def _one_bar(self, close, symbols, remember, full=None):
        k = len(symbols)
        if len(close) == 1:
            w = self._w(k)
            return np.full(k, w), f"buy and hold: {', '.join(symbols)} → {side_text(w)} each"
        return np.full(k, np.nan), "holding since the first bar"


class CrossAgent(RuleAgent):
    """Event-based: a target only on the bar where line A crosses line B.

    Cross above: ``a[t-1] < b[t-1]`` and ``a[t] > b[t]`` (backtesting.py's
    ``crossover``) → long; cross below → flat, or short if ``short``.
    """

    short = param.Boolean(False, doc="Go short on a cross below instead of flat.")

    def _lines(self, close) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _names(self) -> tuple[str, str]:
        raise NotImplementedError

    def _warmup(self) -> int:
        """Bars needed before the first possible cross."""
        raise NotImplementedError

    def _all_bars(self, close):
        a, b = self._lines(close)
        w = self._w(close.shape[1])
        out = np.full(close.shape, np.nan)
        out[ind.cross_above(a, b)] = w
        out[ind.cross_below(a, b)] = -w if self._p.short else 0.0
        return out

    def _series(self, close):
        return self._lines(close)

    def _one_bar(self, close, symbols, remember, full=None):
        k = len(symbols)
        t = len(close) - 1
        if t < 1:
            return np.full(k, np.nan), (f"warming up: a crossover needs {self._warmup()} bars, "
                                        f"have {len(close)}")
        a, b = full if full is not None else self._lines(close)
        targets, reasoning = self._cross_row(t, symbols, a[t - 1].tolist(), a[t].tolist(),
                                             b[t - 1].tolist(), b[t].tolist(), self._names())
        return np.array(targets), reasoning

    def explain_many(self, data: MarketData, bars) -> list[str]:
        """:meth:`explain` for many bars at once (same text, fewer numpy calls)."""
        bars = np.asarray(bars, dtype=int)
        if len(bars) == 0 or bars.min() < 1:
            return super().explain_many(data, bars)
        if self._explained is None or self._explained[0] is not data:
            self._explained = (data, self._series(np.asarray(data.close)))
        a, b = self._explained[1]
        rows = zip(bars.tolist(), a[bars - 1].tolist(), a[bars].tolist(), b[bars - 1].tolist(),
                   b[bars].tolist(), strict=True)
        names = self._names()
        return [self._cross_row(t, data.symbols, *r, names)[1] for t, *r in rows]

    def _cross_row(self, t, symbols, a_prev, a_now, b_prev, b_now, names):
        """Targets (a list) and reasoning at bar ``t`` from the two lines' values."""
        k = len(symbols)
        targets = [math.nan] * k
        na, nb_ = names
        w = self._w(k)
        crossed, quiet = [], []
        for j, sym in enumerate(symbols):
            a0, a1, b0, b1 = a_prev[j], a_now[j], b_prev[j], b_now[j]
            if a0 < b0 and a1 > b1:
                targets[j] = w
                crossed.append(f"{sym}: {na} {_num(a1)} crossed above {nb_} {_num(b1)} → {side_text(w)}")
            elif a0 > b0 and a1 < b1:
                targets[j] = -w if self._p.short else 0.0
                crossed.append(
                    f"{sym}: {na} {_num(a1)} crossed below {nb_} {_num(b1)} → {side_text(targets[j])}"
                )
            elif math.isnan(a1) or math.isnan(b1) or math.isnan(a0) or math.isnan(b0):
                quiet.append(f"{sym} warming up ({t + 1} of {self._warmup()} bars)")
            else:
                rel = "above" if a1 > b1 else "below" if a1 < b1 else "at"
                quiet.append(f"{sym} {na} {_num(a1)} {rel} {nb_} {_num(b1)}")
        if crossed:
            return targets, "; ".join(crossed)
        return targets, "no crossover: " + "; ".join(quiet)


@register("sma_cross")
class SmaCross(CrossAgent):
    """Two simple moving averages of the close; SMA = ``pd.Series(close).rolling(n).mean()``,
    so trades match backtesting.py's SmaCross example bar for bar."""

    description = "Long when the fast SMA crosses above the slow SMA; flat (or short) when it crosses below."

    fast = param.Integer(10, bounds=(1, None), doc="Bars in the fast moving average.")
    slow = param.Integer(20, bounds=(2, None), doc="Bars in the slow moving average.")

    def _check(self):
        if self.fast >= self.slow:
            raise ValueError(f"sma_cross: fast ({self.fast}) must be shorter than slow ({self.slow})")

    def _lines(self, close):
        return ind.sma(close, self._p.fast), ind.sma(close, self._p.slow)

    def _names(self):
        return f"SMA{self._p.fast}", f"SMA{self._p.slow}"

    def _warmup(self):
        return self._p.slow + 1


@register("macd")
class MacdCross(CrossAgent):
    """MACD line (EMA fast − EMA slow) against its signal line (EMA of the line)."""

    description = "Long when the MACD line crosses above its signal line; flat (or short) when it crosses below."

    fast = param.Integer(12, bounds=(1, None), doc="Span of the fast EMA.")
    slow = param.Integer(26, bounds=(2, None), doc="Span of the slow EMA.")
    signal = param.Integer(9, bounds=(1, None), doc="Span of the signal line's EMA of the MACD line.")

    def _check(self):
        if self.fast >= self.slow:
            raise ValueError(f"macd: fast ({self.fast}) must be shorter than slow ({self.slow})")

    def _lines(self, close):
        line, sig, _ = ind.macd(close, self._p.fast, self._p.slow, self._p.signal)
        return line, sig

    def _names(self):
        return "MACD", "signal"

    def _warmup(self):
        return self._p.slow + self._p.signal


@register("momentum")
class Momentum(RuleAgent):
    """Time-series momentum: the sign of the return over the last ``lookback`` bars.

    Emits its target every bar once warm (the portfolio trades only changes);
    a return within ±threshold sets no target, so the previous one stands.
    """

    description = "Long while the lookback return is above the threshold; flat (or short) below minus the threshold."

    lookback = param.Integer(20, bounds=(1, None), doc="Bars over which the return is measured.")
    threshold = param.Number(0.0, bounds=(0.0, None), doc="Return (0.01 = 1%) that must be exceeded to act.")
    short = param.Boolean(False, doc="Go short when the return is below −threshold instead of flat.")

    def _all_bars(self, close):
        r = ind.roc(close, self._p.lookback)
        w = self._w(close.shape[1])
        out = np.full(close.shape, np.nan)
        out[r > self._p.threshold] = w
        out[r < -self._p.threshold] = -w if self._p.short else 0.0
        return out

    def _series(self, close):
        return ind.roc(close, self._p.lookback)

    def explain_many(self, data: MarketData, bars) -> list[str]:
        """:meth:`explain` for many bars at once: the texts :meth:`_one_bar` writes, from
        the whole series' rate of change (element-wise, so the same values)."""
        bars = np.asarray(bars, dtype=int)
        if len(bars) == 0:
            return []
        if self._explained is None or self._explained[0] is not data:
            self._explained = (data, self._series(np.asarray(data.close)))
        n, th = self._p.lookback, self._p.threshold
        w = self._w(data.n_symbols)
        below = side_text(-w if self._p.short else 0.0)
        out = []
        for t, rs in zip(bars.tolist(), self._explained[1][bars].tolist(), strict=True):
            parts = []
            for sym, x in zip(data.symbols, rs, strict=True):
                if x != x:  # NaN: fewer than lookback + 1 bars
                    parts.append(f"{sym}: warming up ({t + 1} of {n + 1} bars)")
                elif x > th:
                    parts.append(f"{sym}: {n}-bar return {x:+.2%} > {th:+.2%} → {side_text(w)}")
                elif x < -th:
                    parts.append(f"{sym}: {n}-bar return {x:+.2%} < {-th:+.2%} → {below}")
                else:
                    parts.append(f"{sym}: {n}-bar return {x:+.2%} within ±{th:.2%}, no change")
            out.append("; ".join(parts))
        return out

    def _one_bar(self, close, symbols, remember, full=None):
        n = self._p.lookback
        r = ind.roc(close[-(n + 1):], n)[-1] if len(close) else np.full(len(symbols), np.nan)
        w = self._w(len(symbols))
        th = self._p.threshold
        targets = np.full(len(symbols), np.nan)
        parts = []
        for j, sym in enumerate(symbols):
            x = r[j]
            if np.isnan(x):
                parts.append(f"{sym}: warming up ({len(close)} of {n + 1} bars)")
                continue
            if x > th:
                targets[j] = w
                parts.append(f"{sym}: {n}-bar return {x:+.2%} > {th:+.2%} → {side_text(w)}")
            elif x < -th:
                targets[j] = -w if self._p.short else 0.0
                parts.append(f"{sym}: {n}-bar return {x:+.2%} < {-th:+.2%} → {side_text(targets[j])}")
            else:
                parts.append(f"{sym}: {n}-bar return {x:+.2%} within ±{th:.2%}, no change")
        return targets, "; ".join(parts)


# -- stateful (hysteresis) agents ----------------------------------------------------


@nb.njit(cache=True)
def next_state(prev, go_long, go_short, exit_long, exit_short):
    """Position state (−1, 0, 1) after one bar: entries win over exits."""
    if go_long:
        return 1.0
    if go_short:
        return -1.0
    if prev > 0 and exit_long:
        return 0.0
    if prev < 0 and exit_short:
        return 0.0
    return prev


@nb.njit(cache=True)
def _state_path(valid, go_long, go_short, exit_long, exit_short):
    """``next_state`` run forward over every bar and symbol; invalid bars keep the state."""
    n, k = valid.shape
    out = np.zeros((n, k))
    for j in range(k):
        s = 0.0
        for i in range(n):
            if valid[i, j]:
                s = next_state(s, go_long[i, j], go_short[i, j], exit_long[i, j], exit_short[i, j])
            out[i, j] = s
    return out


class StateAgent(RuleAgent):
    """An indicator with entry and exit levels and a remembered position (hysteresis).

    The target is emitted on every bar where the indicator is defined (state-based;
    the portfolio trades only changes). Subclasses give the indicator, the four
    conditions and the words for the reasoning.
    """

    def _indicator(self, close) -> np.ndarray:
        raise NotImplementedError

    def _conditions(self, x):
        """(go_long, go_short, exit_long, exit_short) for indicator values ``x``."""
        raise NotImplementedError

    def _why(self, x: float, prev: float, new: float) -> str:
        raise NotImplementedError

    def _states(self, x: np.ndarray) -> np.ndarray:
        go_long, go_short, exit_long, exit_short = (
            np.broadcast_to(c, x.shape) for c in self._conditions(x)
        )
        return _state_path(~np.isnan(x), go_long, go_short, exit_long, exit_short)

    def _all_bars(self, close):
        x = self._indicator(close)
        out = self._states(x) * self._w(close.shape[1])
        out[np.isnan(x)] = np.nan
        return out

    def _series(self, close):
        x = self._indicator(close)
        return x, self._states(x)

    def _state_before(self, close) -> np.ndarray:
        """Position state after bar t−1 (close holds bars 0..t): remembered from the
        previous decide if that was bar t−1 of the same history, else recomputed."""
        t = len(close) - 1
        memo = self._memo
        if memo is not None and memo[0] == t - 1 and np.array_equal(memo[1], close[t - 1]):
            return memo[2]
        if t == 0:
            return np.zeros(close.shape[1])
        return self._states(self._indicator(close[:t]))[-1]

    def explain_many(self, data: MarketData, bars) -> list[str]:
        """:meth:`explain` for many bars at once: the texts :meth:`_one_bar` writes, from
        the indicator and the state path as Python floats (five times faster)."""
        bars = np.asarray(bars, dtype=int)
        if len(bars) == 0:
            return []
        if self._explained is None or self._explained[0] is not data:
            self._explained = (data, self._series(np.asarray(data.close)))
        x, states = self._explained[1]
        before = np.where((bars > 0)[:, None], states[np.maximum(bars - 1, 0)], 0.0)
        w = self._w(len(data.symbols))
        out = []
        for t, xs, prevs, news in zip(bars.tolist(), x[bars].tolist(), before.tolist(),
                                      states[bars].tolist(), strict=True):
            parts = []
            for sym, xj, prev, new in zip(data.symbols, xs, prevs, news, strict=True):
                if xj != xj:  # NaN: the indicator is not defined yet
                    parts.append(f"{sym}: warming up ({t + 1} bars)")
                else:  # the state path took next_state() from ``prev`` at this bar
                    parts.append(f"{sym}: {self._why(xj, prev, new)} → {side_text(new * w)}")
            out.append("; ".join(parts))
        return out

    def _one_bar(self, close, symbols, remember, full=None):
        t = len(close) - 1
        if full is None:
            prev, x = self._state_before(close), self._indicator(close)[-1]
        else:
            prev = full[1][t - 1] if t > 0 else np.zeros(len(symbols))
            x = full[0][t]
        conds = [np.broadcast_to(c, x.shape) for c in self._conditions(x)]
        w = self._w(len(symbols))
        new = prev.copy()
        targets = np.full(len(symbols), np.nan)
        parts = []
        for j, sym in enumerate(symbols):
            if np.isnan(x[j]):
                parts.append(f"{sym}: warming up ({len(close)} bars)")
                continue
            new[j] = next_state(prev[j], *(bool(c[j]) for c in conds))
            targets[j] = new[j] * w
            parts.append(f"{sym}: {self._why(x[j], prev[j], new[j])} → {side_text(targets[j])}")
        if remember:
            self._memo = (len(close) - 1, close[-1].copy(), new)
        return targets, "; ".join(parts)


def _move(prev: float, new: float) -> str:
    names = {1.0: "long", 0.0: "flat", -1.0: "short"}
    if prev == new:
        return f"stay {names[new]}"
    if new == 0.0:
        return f"exit {names[prev]}"
    return f"enter {names[new]}"


@register("mean_reversion")
class MeanReversion(StateAgent):
    """Bollinger-style mean reversion on the z-score of the close.

    z = (close − mean) / std over ``lookback`` bars (population std). Enter long
    when z < −entry_z, short when z > entry_z (flat instead if ``short`` is off);
    exit a long once z ≥ −exit_z and a short once z ≤ exit_z (with exit_z = 0:
    when the price is back at its mean); otherwise keep the position.
    """

    description = "Buys when the close is far below its rolling mean, sells short when far above; exits near the mean."

    lookback = param.Integer(20, bounds=(2, None), doc="Bars in the rolling mean and standard deviation.")
    entry_z = param.Number(1.0, bounds=(0.0, None), doc="|z| beyond which a position is opened.")
    exit_z = param.Number(0.0, bounds=(0.0, None), doc="|z| within which an open position is closed.")
    short = param.Boolean(True, doc="Go short when z > entry_z (otherwise only exit a long).")

    def _check(self):
        if self.exit_z > self.entry_z:
            raise ValueError(
                f"mean_reversion: exit_z ({self.exit_z}) must not exceed entry_z ({self.entry_z})"
            )

    def _indicator(self, close):
        return ind.zscore(close, self._p.lookback)

    def _conditions(self, z):
        go_short = (z > self._p.entry_z) if self._p.short else np.zeros(np.shape(z), dtype=bool)
        return z < -self._p.entry_z, go_short, z >= -self._p.exit_z, z <= self._p.exit_z

    def _why(self, z, prev, new):
        e, x = self._p.entry_z, self._p.exit_z
        if z < -e:
            rule = f"< {-e:g}"
        elif z > e:
            rule = f"> {e:g}"
        elif prev > 0 and new == 0:
            rule = f"≥ {-x:g}" if x else "≥ 0"
        elif prev < 0 and new == 0:
            rule = f"≤ {x:g}"
        else:
            rule = f"between entry ±{e:g} and exit ±{x:g}"
        return f"z {z:+.2f} {rule}, {_move(prev, new)}"


@register("rsi")
class RsiReversion(StateAgent):
    """Wilder RSI mean reversion: long when RSI < lower, back to flat when RSI > upper."""

    description = "Buys when Wilder's RSI drops below the lower level, sells when it rises above the upper level."

    period = param.Integer(14, bounds=(2, None), doc="Bars in Wilder's RSI.")
    lower = param.Number(30.0, bounds=(0.0, 100.0), doc="Oversold level: go long below it.")
    upper = param.Number(70.0, bounds=(0.0, 100.0), doc="Overbought level: exit above it.")

    def _check(self):
        if self.lower >= self.upper:
            raise ValueError(f"rsi: lower ({self.lower:g}) must be below upper ({self.upper:g})")

    def _indicator(self, close):
        return ind.rsi(close, self._p.period)

    def _conditions(self, r):
        no = np.zeros(np.shape(r), dtype=bool)
        return r < self._p.lower, no, r > self._p.upper, no

    def _why(self, r, prev, new):
        if r < self._p.lower:
            rule = f"< {self._p.lower:g}"
        elif r > self._p.upper:
            rule = f"> {self._p.upper:g}"
        else:
            rule = f"between {self._p.lower:g} and {self._p.upper:g}"
        return f"RSI{self._p.period} {r:.1f} {rule}, {_move(prev, new)}"

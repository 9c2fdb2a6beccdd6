"""The prompt: a compact, configurable text template filled from an Observation.

Templates use :class:`string.Template` placeholders (``$name``; ``$$`` is a
dollar sign), so JSON examples in them need no escaping:

``$time`` ``$bar`` ``$symbols`` ``$max_leverage`` ``$portfolio`` ``$bars``
``$indicators`` ``$lookback`` ``$schema``

Only the observation's history (bars up to the current one) is used.
"""

from __future__ import annotations

import string

import numpy as np

from arena.agents import indicators as ind
from arena.agents.base import Observation

DEFAULT_SYSTEM = ("You are a disciplined portfolio manager in a trading competition. "
                  "Reply with one JSON object and nothing else.")

DEFAULT_TEMPLATE = """\
Time $time (bar $bar). You trade: $symbols.
Rules: target weight per symbol in -1..1 of equity (negative = short); the sum of
absolute weights must not exceed $max_leverage; symbols you leave out keep their
position; "targets": null holds everything. Orders fill at the next bar's open.

Your account: $portfolio

Last $lookback bars per symbol (time,open,high,low,close,volume; oldest first):
$bars

Indicators at the last close:
$indicators

Answer with JSON only, exactly these keys:
$schema"""

SCHEMA_HINT = ('{"targets": {"SYMBOL": weight, ...} or null, "confidence": 0..1, '
               '"reasoning": "one or two sentences"}')
PLACEHOLDERS = ("time", "bar", "symbols", "max_leverage", "portfolio", "bars", "indicators",
                "lookback", "schema")


class PromptError(ValueError):
    """A template with an unknown or malformed placeholder."""


def check_template(template: str) -> None:
    """Raise PromptError if the template names anything but the known placeholders."""
    t = string.Template(template)
    if not t.is_valid():
        raise PromptError("prompt template has a malformed placeholder (use $name or ${name};"
                          " $$ for a dollar sign)")
    unknown = sorted(set(t.get_identifiers()) - set(PLACEHOLDERS))
    if unknown:
        raise PromptError(f"prompt template has unknown placeholder(s) "
                          f"{', '.join('$' + u for u in unknown)}; known: "
                          f"{', '.join('$' + p for p in PLACEHOLDERS)}")


def _num(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.6g}"


def bars_text(obs: Observation, lookback: int) -> str:
    h = obs.history
    n = len(h)
    lo = max(0, n - lookback)
    times = np.datetime_as_string(h.times[lo:n], unit="D" if _daily(h.times) else "m")
    lines = []
    for j, sym in enumerate(obs.symbols):
        lines.append(sym)
        for i, t in enumerate(times):
            r = lo + i
            lines.append(",".join([str(t), _num(h.open[r, j]), _num(h.high[r, j]),
                                   _num(h.low[r, j]), _num(h.close[r, j]),
                                   f"{h.volume[r, j]:.0f}"]))
    return "\n".join(lines)


def _daily(times: np.ndarray) -> bool:
    t = times.astype("datetime64[ns]").astype(np.int64)
    return bool(np.all(t % (86_400 * 10**9) == 0))


def indicators_text(obs: Observation) -> str:
    """Per symbol: close, SMA 10/50, RSI 14, 20-bar return and volatility."""
    close = obs.history.close[-200:]
    n = len(close)
    lines = []
    for j, sym in enumerate(obs.symbols):
        c = close[:, j]
        parts = [f"close {_num(c[-1])}"]
        for w in (10, 50):
            if n >= w:
                parts.append(f"SMA{w} {_num(ind.sma(c, w)[-1])}")
        if n > 14:
            parts.append(f"RSI14 {ind.rsi(c, 14)[-1]:.1f}")
        if n > 20:
            ret = c[1:] / c[:-1] - 1
            parts.append(f"20-bar return {100 * (c[-1] / c[-21] - 1):+.2f}%")
            parts.append(f"20-bar volatility {100 * ret[-20:].std(ddof=1):.2f}%/bar")
        lines.append(f"{sym}: " + ", ".join(parts))
    return "\n".join(lines)


def portfolio_text(obs: Observation) -> str:
    p = obs.portfolio
    if p is None:
        return "no account information"
    held = [f"{s} {p.position(s):g} units (weight {p.weight(s):+.3f}, target {p.target(s):+.3f})"
            for s in obs.symbols if p.position(s) != 0]
    return (f"equity {p.equity:,.2f}, cash {p.cash:,.2f}; positions: "
            + ("; ".join(held) if held else "none"))


def build_prompt(template: str, obs: Observation, lookback: int) -> str:
    """Fill ``template`` from ``obs`` (bars up to the current one only)."""
    return string.Template(template).substitute(
        time=str(obs.time), bar=obs.step, symbols=", ".join(obs.symbols),
        max_leverage=f"{obs.max_leverage:g}", portfolio=portfolio_text(obs),
        bars=bars_text(obs, lookback), indicators=indicators_text(obs), lookback=lookback,
        schema=SCHEMA_HINT)

"""A real recorded run for the export tests (not a test module).

Three agents trade AAPL and MSFT over 2010-2011 (504 daily bars, recorded to
SQLite): buy_and_hold, sma_cross and a hostile agent whose name and reasoning a
spreadsheet would run as formulas and a browser as HTML, with a secret-looking
parameter, and which raises on two bars (two agent_error events).
"""

from __future__ import annotations

from pathlib import Path

import param

from arena.agents.base import Agent, Decision
from arena.data import load
from arena.engine import Competition, CompetitionConfig

HOSTILE_NAME = "@SUM(1+1)*cmd"
FORMULA_REASON = '=HYPERLINK("http://evil.example","click")'
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
SECRET = "sk-test-do-not-leak-4242"
ERROR_STEPS = (7, 8)
SYMBOLS = "AAPL,MSFT"
START, END = "2010-01-01", "2011-12-31"
N_BARS = 504
AGENTS = ("buy_and_hold", "sma_cross")


class HostileAgent(Agent):
    """Long AAPL for 5 bars, flat for 5; formula and HTML reasoning; raises twice."""

    description = "test agent with hostile text"
    registered_name = HOSTILE_NAME
    # the class default, so the agent's label (its name) does not carry it; the
    # recording's agent parameters do, and the report must mask them
    api_key = param.String(default=SECRET, doc="looks like a secret: must never be exported")

    def decide(self, obs):
        if obs.step in ERROR_STEPS:
            raise RuntimeError(f"hostile failure at step {obs.step}")
        long = (obs.step // 5) % 2 == 0
        reason = FORMULA_REASON if long else XSS + "\nsecond line"
        return Decision({"AAPL": 0.5 if long else 0.0}, 0.75, reason)


def record_run(run_dir: Path) -> Competition:
    """Run the competition to the end, recorded under ``run_dir``; return it."""
    comp = Competition(load(SYMBOLS, start=START, end=END),
                       [*AGENTS, HostileAgent()],
                       CompetitionConfig(run_dir=str(run_dir), seed=5,
                                         portfolio=_portfolio()))
    comp.run()
    return comp


def _portfolio():
    from arena.portfolio import PortfolioConfig

    return PortfolioConfig(fee_bps=2.0, slippage_bps=1.0)

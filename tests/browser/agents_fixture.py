"""Agents the browser tests put in a served competition, by dotted path
(``tests.browser.agents_fixture:XssAgent``; the server runs with the repository
on ``PYTHONPATH``)."""

from __future__ import annotations

from arena.agents import Agent, Decision

#: Reasoning that would run script if any view put it into the page as HTML.
XSS_REASONING = ('<script>window.__pwned=1</script>'
                 '<img src=x onerror="window.__pwned=2">')


class XssAgent(Agent):
    """Trades normally (its name and targets are plain), but every decision's
    reasoning is an HTML injection attempt; every decision is logged."""

    description = "test agent: reasoning is an HTML/script injection attempt"
    record_all_decisions = True

    def decide(self, obs):
        weight = 0.5 if obs.step % 2 else 0.25
        return Decision({obs.symbols[0]: weight}, confidence=0.5, reasoning=XSS_REASONING)

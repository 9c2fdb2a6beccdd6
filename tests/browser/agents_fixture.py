"""Agents the browser tests put in a served competition, by dotted path
(``tests.browser.agents_fixture:XssAgent``; the server runs with the repository
on ``PYTHONPATH``)."""

from __future__ import annotations

import param

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


class HostileAgent(Agent):
    """Its label is whatever ``tag`` says (as an LLM agent's label is its ``model``);
    its reasoning holds the whole hostile corpus (tests/hostile.py); with
    ``fail_every`` it raises an error of that text every so many bars."""

    description = "test agent: label, reasoning and errors are hostile text"
    record_all_decisions = True
    tag = param.String(default="hostile", doc="the label shown for this agent")
    fail_every = param.Integer(default=0, bounds=(0, None), doc="raise every N bars (0: never)")

    def label(self) -> str:
        return self.tag

    def decide(self, obs):
        from tests.hostile import ALL

        if self.fail_every and obs.step % self.fail_every == 0:
            raise ValueError(ALL)
        return Decision({obs.symbols[0]: 0.5 if obs.step % 2 else 0.25}, confidence=0.5,
                        reasoning=ALL)

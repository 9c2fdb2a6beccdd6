"""The prompt: filled from the observation, only bars up to the current one."""

from __future__ import annotations

import re

import pytest

from arena.agents.base import History, Observation
from arena.data.synthetic import synthetic
from arena.llm.prompt import DEFAULT_TEMPLATE, PromptError, build_prompt, check_template
from arena.portfolio import Accounts, PortfolioConfig, PortfolioView


def observation(t: int) -> tuple[Observation, object]:
    md = synthetic(("AAA", "BBB"), bars=6, seed=2)
    acc = Accounts(1, md.symbols, PortfolioConfig(cash=1000))
    acc.last_close = md.close[t].copy()
    return Observation(t, md.timestamp(t), md.symbols, History(md, t + 1),
                       PortfolioView(acc, 0), 1.0), md


def test_the_prompt_holds_bars_up_to_now_and_nothing_later():
    obs, md = observation(3)

    text = build_prompt(DEFAULT_TEMPLATE, obs, lookback=2)

    day = lambda t: str(md.timestamp(t).date())  # noqa: E731
    assert f"Time {md.timestamp(3)} (bar 3). You trade: AAA, BBB." in text
    assert day(2) in text and day(3) in text
    assert day(1) not in text  # outside the lookback
    assert day(4) not in text and day(5) not in text  # the future
    assert f"{md.close[3, 0]:.6g}" in text
    assert f"{md.close[4, 0]:.6g}" not in text
    assert "equity 1,000.00, cash 1,000.00; positions: none" in text
    assert "must not exceed 1;" in text


def test_a_custom_template_uses_dollar_placeholders():
    obs, _ = observation(1)

    text = build_prompt('Symbols $symbols; JSON like {"targets": {}}; cost $$5', obs, 5)

    assert text == 'Symbols AAA, BBB; JSON like {"targets": {}}; cost $5'


@pytest.mark.parametrize(("template", "reason"), [
    ("hello $nope", "unknown placeholder(s) $nope"),
    ("price $5", "malformed placeholder"),
])
def test_bad_templates_are_refused_with_the_reason(template, reason):
    with pytest.raises(PromptError, match=re.escape(reason)):
        check_template(template)

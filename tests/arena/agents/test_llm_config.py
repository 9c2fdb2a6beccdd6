"""LLM agents from specs and TOML: quoted values, [llm_prices], clear errors."""

from __future__ import annotations

import pytest

from arena.agents import AgentSpecError, create_agent
from arena.config import ConfigError, agent_spec, spec_from_dict

TEMPLATE = 'Bars, oldest first:\n$bars\nAnswer "JSON": $schema, then stop'
BASE = {"data": {"symbols": ["AAPL"]}}


def test_quoted_values_carry_commas_quotes_and_line_breaks():
    spec = agent_spec("llm", {"model": "qwen2.5:7b", "template": TEMPLATE,
                              "base_url": "http://localhost:11434/v1", "json_mode": True})

    agent = create_agent(spec)

    assert agent.template == TEMPLATE and agent.model == "qwen2.5:7b"
    assert agent.base_url == "http://localhost:11434/v1" and agent.json_mode is True


@pytest.mark.parametrize(("spec", "message"), [
    ('llm:template="unterminated', "llm: bad quoted value for 'template'"),
    ('llm:template="a" b,model=x', "llm: expected ',' after the quoted value of 'template'"),
    ('llm:template="$nope"', "llm: prompt template has unknown placeholder(s) $nope"),
    ("llm:timeout=0", "llm: bad value for timeout: 0.0 is out of bounds"),
])
def test_bad_llm_specs_name_the_problem(spec, message):
    with pytest.raises(AgentSpecError) as info:
        create_agent(spec)

    assert str(info.value).startswith(message)


def test_llm_prices_fill_the_agents_prices_unless_given():
    raw = {**BASE, "llm_prices": {"m1": {"input": 0.15, "output": 0.6}},
           "agents": [{"agent": "llm", "params": {"model": "m1"}},
                      {"agent": "llm", "params": {"model": "m1", "price_in": 9.0,
                                                  "title": "own price"}},
                      {"agent": "llm", "params": {"model": "m2"}}]}

    agents = [create_agent(s) for s in spec_from_dict(raw).agents]

    assert [(a.price_in, a.price_out) for a in agents] == [(0.15, 0.6), (9.0, 0.6), (0.0, 0.0)]


@pytest.mark.parametrize(("prices", "message"), [
    ({"m": 1.0}, "[llm_prices] 'm' must be a table like { input = 0.15, output = 0.60 }"),
    ({"m": {"input": "cheap"}}, "[llm_prices] 'm' input must be a number, got 'cheap'"),
    ({"m": {"inputs": 1}}, "unknown key(s) inputs in [llm_prices] 'm'"),
    ({"m": {"output": -1}}, "[llm_prices] 'm' output must be >= 0, got -1"),
])
def test_bad_price_tables_name_the_model_and_key(prices, message):
    raw = {**BASE, "llm_prices": prices, "agents": [{"agent": "llm"}]}

    with pytest.raises(ConfigError) as info:
        spec_from_dict(raw, "run.toml")

    assert message in str(info.value) and str(info.value).startswith("run.toml: ")


def test_decide_deadline_is_a_run_setting():
    raw = {**BASE, "run": {"decide_deadline": 2.5}, "agents": [{"agent": "rsi"}]}

    assert spec_from_dict(raw).config.decide_deadline == 2.5
    with pytest.raises(ConfigError, match="decide_deadline must be a positive number"):
        spec_from_dict({**raw, "run": {"decide_deadline": 0}})

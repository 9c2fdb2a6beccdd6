"""Answers → decisions: JSON (bare or fenced) checked against the schema, nothing clamped."""

from __future__ import annotations

import json

import pytest

from arena.agents.base import Decision
from arena.llm.answer import AnswerError, extract_json, parse_answer

SYMBOLS = ("AAPL", "MSFT")
GOOD = {"targets": {"AAPL": 0.5, "MSFT": -0.25}, "confidence": 0.7, "reasoning": "trend up"}


def test_a_valid_answer_becomes_a_decision():
    d = parse_answer(json.dumps(GOOD), SYMBOLS, max_leverage=1.0)

    assert d == Decision({"AAPL": 0.5, "MSFT": -0.25}, 0.7, "trend up")


def test_json_in_a_code_fence_with_prose_around_it_is_accepted():
    text = "Sure.\n```json\n" + json.dumps(GOOD, indent=2) + "\n```\nGood luck"

    assert parse_answer(text, SYMBOLS, 1.0).targets == {"AAPL": 0.5, "MSFT": -0.25}
    assert extract_json("```\n{}\n```") == "{}"


@pytest.mark.parametrize("targets", [None, {}])
def test_null_or_empty_targets_hold(targets):
    d = parse_answer(json.dumps({**GOOD, "targets": targets}), SYMBOLS, 1.0)

    assert d.targets is None and d.reasoning == "trend up"


@pytest.mark.parametrize(("answer", "reason"), [
    ("", "the model's answer is empty"),
    ('{"targets": {"AAPL": 0.5', "the answer is not valid JSON"),
    ("[1, 2]", "answer rejected, the answer: [1, 2] is not of type 'object'"),
    (json.dumps({**GOOD, "targets": {"AAPL": 1.5}}),
     "answer rejected, targets.AAPL: 1.5 is greater than the maximum of 1"),
    (json.dumps({**GOOD, "targets": {"AAPL": -2}}),
     "answer rejected, targets.AAPL: -2 is less than the minimum of -1"),
    (json.dumps({**GOOD, "targets": {"TSLA": 0.1}}),
     "answer rejected, targets: unknown symbol(s) 'TSLA'; allowed: AAPL, MSFT"),
    (json.dumps({**GOOD, "targets": {"AAPL": "0.5"}}),
     "answer rejected, targets.AAPL: '0.5' is not of type 'number'"),
    (json.dumps({**GOOD, "targets": {"AAPL": True}}),
     "answer rejected, targets.AAPL: True is not of type 'number'"),
    (json.dumps({**GOOD, "confidence": 1.2}),
     "answer rejected, confidence: 1.2 is greater than the maximum of 1"),
    (json.dumps({"targets": {"AAPL": 0.1}, "confidence": 0.5}),
     "answer rejected, the answer: 'reasoning' is a required property"),
    (json.dumps({**GOOD, "targets": {"AAPL": 0.75, "MSFT": -0.5}}),
     "answer rejected: gross weight 1.25 exceeds the leverage cap 1"),
])
def test_bad_answers_are_rejected_with_the_reason(answer, reason):
    with pytest.raises(AnswerError) as info:
        parse_answer(answer, SYMBOLS, max_leverage=1.0)

    assert str(info.value).startswith(reason)


def test_the_leverage_cap_is_the_competitions():
    text = json.dumps({**GOOD, "targets": {"AAPL": 0.75, "MSFT": -0.5}})

    assert parse_answer(text, SYMBOLS, max_leverage=1.5).targets == {"AAPL": 0.75, "MSFT": -0.5}

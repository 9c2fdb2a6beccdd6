"""A model's answer → a :class:`Decision`, checked against a JSON schema.

The answer is one JSON object, bare or inside a Markdown code fence::

    {"targets": {"AAPL": 0.5, "MSFT": -0.2}, "confidence": 0.7, "reasoning": "..."}

``targets`` may be ``null`` or ``{}`` (hold). Nothing is clamped: a weight
outside −1..1, an unknown symbol, a confidence outside 0..1 or a gross weight
above the leverage cap rejects the whole answer with the reason.
"""

from __future__ import annotations

import functools
import json
import re

import jsonschema

from arena.agents.base import Decision, DecisionError, validate_decision

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n?(.*?)```", re.DOTALL)


class AnswerError(DecisionError):
    """An answer that is not valid JSON or does not match the schema."""


@functools.lru_cache(maxsize=64)
def answer_schema(symbols: tuple[str, ...]) -> dict:
    """The JSON schema of an answer for these symbols."""
    return {
        "type": "object",
        "required": ["targets", "confidence", "reasoning"],
        "properties": {
            "targets": {
                "type": ["object", "null"],
                "properties": {s: {"type": "number", "minimum": -1, "maximum": 1}
                               for s in symbols},
                "additionalProperties": False,
            },
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "reasoning": {"type": "string"},
        },
    }


@functools.lru_cache(maxsize=64)
def _validator(symbols: tuple[str, ...]):
    return jsonschema.Draft202012Validator(answer_schema(symbols))


def extract_json(text: str) -> str:
    """The JSON text of an answer: the first fenced block, or the whole text."""
    m = _FENCE.search(text)
    return (m.group(1) if m else text).strip()


def parse_answer(text: str | None, symbols: tuple[str, ...], max_leverage: float) -> Decision:
    """Parse and validate a model's answer; raises :class:`AnswerError` naming the fault."""
    if not text or not text.strip():
        raise AnswerError("the model's answer is empty")
    raw = extract_json(text)
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AnswerError(f"the answer is not valid JSON ({exc.msg} at line {exc.lineno} "
                          f"column {exc.colno}): {raw[:120]!r}") from None
    errors = sorted(_validator(symbols).iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(map(str, e.absolute_path)) or "the answer"
        msg = e.message
        if e.validator == "additionalProperties" and list(e.absolute_path) == ["targets"]:
            extra = sorted(set(e.instance) - set(symbols))
            msg = f"unknown symbol(s) {', '.join(map(repr, extra))}; allowed: {', '.join(symbols)}"
        raise AnswerError(f"answer rejected, {where}: {msg}")
    targets = obj["targets"] or None
    decision = Decision({s: float(w) for s, w in targets.items()} if targets else None,
                        float(obj["confidence"]), obj["reasoning"])
    try:
        return validate_decision(decision, symbols, max_leverage)
    except DecisionError as exc:
        raise AnswerError(f"answer rejected: {exc}") from None

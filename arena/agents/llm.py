"""The LLM agent: asks a chat model for target weights at each decision bar.

Any OpenAI-compatible chat-completions endpoint works (``base_url`` + ``model``).
The API key is read from the environment variable named by ``api_key_env`` when
the run starts; it is never a parameter, so it is never recorded.

Every call is kept as a :class:`CallRecord` (prompt, answer, tokens, latency,
cost, error) until the engine collects it with :meth:`LLMAgent.drain_calls`
for the recording. A failed call or an invalid answer raises, so the engine
holds the agent's positions and emits an ``agent_error`` with the reason.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import param

from arena.agents.base import Agent, AgentError, Decision, Observation
from arena.agents.registry import register
from arena.data.market import MarketData
from arena.llm.answer import AnswerError, parse_answer
from arena.llm.client import CallError, ChatClient
from arena.llm.prompt import (
    DEFAULT_SYSTEM,
    DEFAULT_TEMPLATE,
    PromptError,
    build_prompt,
    check_template,
)

__all__ = ["CallRecord", "LLMAgent"]


@dataclass(frozen=True)
class CallRecord:
    """One request to the model and what came of it (no secrets)."""

    bar: int
    model: str
    prompt: str
    response: str | None
    tokens_in: int
    tokens_out: int
    latency: float
    cost: float
    attempts: int
    error: str | None


@register("llm")
class LLMAgent(Agent):
    """Target weights from a chat model, answered as JSON (see arena/llm/answer.py)."""

    description = "Asks an LLM (any OpenAI-compatible endpoint) for target weights each bar."
    concurrent: ClassVar[bool] = True  # blocking I/O: the engine calls it in a worker thread
    record_all_decisions: ClassVar[bool] = True

    model = param.String("gpt-4o-mini", doc="Model name as the endpoint knows it.")
    base_url = param.String("https://api.openai.com/v1",
                            doc="OpenAI-compatible base URL, e.g. http://localhost:11434/v1 (Ollama).")
    api_key_env = param.String("OPENAI_API_KEY",
                               doc="Environment variable holding the API key; empty for none.")
    title = param.String("", doc="Name on the leaderboard (default llm:<model>).")
    timeout = param.Number(30.0, bounds=(0.01, 600), doc="Seconds per HTTP attempt.")
    max_retries = param.Integer(2, bounds=(0, 10), doc="Retries on 429/5xx/timeouts (backoff).")
    max_rpm = param.Number(0.0, bounds=(0, None), doc="Most calls per minute (0 = no limit).")
    temperature = param.Number(0.0, bounds=(0, 2), doc="Sampling temperature.")
    max_tokens = param.Integer(400, bounds=(1, 100_000), doc="Most tokens per answer.")
    json_mode = param.Boolean(False, doc="Ask the endpoint for response_format json_object.")
    lookback = param.Integer(20, bounds=(1, 500), doc="Bars per symbol shown in the prompt.")
    every = param.Integer(1, bounds=(1, None), doc="Ask every N bars; hold in between.")
    warmup = param.Integer(0, bounds=(0, None), doc="Bars to wait before the first call.")
    system = param.String(DEFAULT_SYSTEM, doc="System message.")
    template = param.String(DEFAULT_TEMPLATE, doc="Prompt template ($placeholders, see arena/llm/prompt.py).")
    price_in = param.Number(0.0, bounds=(0, None), doc="USD per million prompt tokens.")
    price_out = param.Number(0.0, bounds=(0, None), doc="USD per million answer tokens.")

    def __init__(self, **params):
        super().__init__(**params)
        check = self._check_template()
        if check:
            raise ValueError(check)
        self._client: ChatClient | None = None
        self._setup_error: str | None = None
        self._calls: collections.deque[CallRecord] = collections.deque()
        self._lock = threading.Lock()
        self._zero()

    def _check_template(self) -> str | None:
        try:
            check_template(self.template)
        except PromptError as exc:
            return f"llm: {exc}"
        return None

    def _zero(self) -> None:
        self._usage = {"calls": 0, "failed": 0, "answered": 0, "tokens_in": 0,
                       "tokens_out": 0, "latency": 0.0, "cost": 0.0}

    def label(self) -> str:
        return self.title or f"llm:{self.model}"

    # -- lifecycle ---------------------------------------------------------------
    def reset(self, data: MarketData, seed: int) -> None:
        self.close()
        self._zero()
        self._calls.clear()
        self._setup_error = None
        key = None
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                self._setup_error = (f"environment variable {self.api_key_env} is not set "
                                     f"(the API key for {self.base_url}); holding all run")
                raise AgentError(self._setup_error)
        self._client = ChatClient(self.base_url, self.model, key, timeout=self.timeout,
                                  max_retries=self.max_retries, max_rpm=self.max_rpm,
                                  temperature=self.temperature, max_tokens=self.max_tokens,
                                  json_mode=self.json_mode)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- deciding ------------------------------------------------------------------
    def decide(self, obs: Observation) -> Decision:
        if self._client is None:  # reset failed (reported once); hold quietly
            return Decision.hold()
        if obs.step < self.warmup or (obs.step - self.warmup) % self.every:
            return Decision.hold()
        prompt = build_prompt(self.template, obs, self.lookback)
        t0 = time.monotonic()
        try:
            res = self._client.chat(self.system, prompt)
        except CallError as exc:
            self._record(CallRecord(obs.step, self.model, prompt, None, 0, 0,
                                    time.monotonic() - t0, 0.0, exc.attempts, str(exc)))
            raise AgentError(str(exc)) from None
        cost = (res.tokens_in * self.price_in + res.tokens_out * self.price_out) / 1e6
        try:
            decision = parse_answer(res.text, obs.symbols, obs.max_leverage)
        except AnswerError as exc:
            self._record(CallRecord(obs.step, self.model, prompt, res.text, res.tokens_in,
                                    res.tokens_out, res.latency, cost, res.attempts, str(exc)))
            raise
        self._record(CallRecord(obs.step, self.model, prompt, res.text, res.tokens_in,
                                res.tokens_out, res.latency, cost, res.attempts, None))
        return decision

    def _record(self, rec: CallRecord) -> None:
        with self._lock:
            u = self._usage
            u["calls"] += 1
            u["failed"] += rec.error is not None
            u["tokens_in"] += rec.tokens_in
            u["tokens_out"] += rec.tokens_out
            if rec.response is not None:  # latency of answers, not of failures
                u["answered"] += 1
                u["latency"] += rec.latency
            u["cost"] += rec.cost
            self._calls.append(rec)

    def drain_calls(self) -> list[CallRecord]:
        """Calls completed since the last drain, oldest first (engine thread)."""
        with self._lock:
            out = list(self._calls)
            self._calls.clear()
        return out

    def usage(self) -> dict:
        """Totals so far: calls, failed, answered, tokens in/out, cost (USD) and the
        mean latency of answered calls in seconds (NaN before the first answer)."""
        with self._lock:
            u = dict(self._usage)
        answered = u["answered"]
        u["mean_latency"] = u["latency"] / answered if answered else float("nan")
        return u

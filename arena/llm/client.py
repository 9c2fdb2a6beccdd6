"""One OpenAI-compatible chat-completions endpoint, with timeouts, retries and a rate limit.

Works with anything that speaks ``POST {base_url}/chat/completions`` (OpenAI,
Ollama, vLLM, llama.cpp server, LM Studio, ...) through the ``openai`` client.
Retries (429, 408, 409, 5xx, timeouts, refused connections) are the client
library's (``openai``, imported on first use): exponential backoff from 0.5 s to at most 8 s with jitter, or the
server's ``Retry-After``. The API key is passed in, used for the
``Authorization`` header and scrubbed from every error message; it is never
stored anywhere else.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


class CallError(RuntimeError):
    """A call that produced no usable answer; the message says why (no secrets)."""

    def __init__(self, message: str, attempts: int = 0):
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True)
class ChatResult:
    """One completed call: the answer text, token counts, wall time and attempts."""

    text: str
    tokens_in: int
    tokens_out: int
    latency: float
    attempts: int


class ChatClient:
    """Calls one model; thread-safe, one call at a time is what agents do.

    timeout: seconds per attempt; max_retries: extra attempts after a failure;
    max_rpm: most calls per minute (0 = unlimited), enforced by waiting.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout: float = 30.0, max_retries: int = 2, max_rpm: float = 0.0,
                 temperature: float | None = None, max_tokens: int | None = None,
                 json_mode: bool = False):
        self.base_url, self.model = base_url, model
        self.timeout, self.max_retries, self.max_rpm = timeout, max_retries, max_rpm
        self.temperature, self.max_tokens, self.json_mode = temperature, max_tokens, json_mode
        self._secret = api_key or ""
        self._attempts = 0
        self._lock = threading.Lock()
        self._next_slot = 0.0
        import openai  # slow to import: only when an LLM agent runs

        http = openai.DefaultHttpxClient(event_hooks={"request": [self._count]})
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed",
                                     timeout=timeout, max_retries=max_retries, http_client=http)

    def _count(self, _request) -> None:
        self._attempts += 1

    def close(self) -> None:
        self._client.close()

    def _wait_for_slot(self) -> None:
        """Rate limit: calls start at least 60 / max_rpm seconds apart."""
        if self.max_rpm <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_slot)
            self._next_slot = start + 60.0 / self.max_rpm
        if start > now:
            time.sleep(start - now)

    def redact(self, text: str) -> str:
        """``text`` with the API key (and its long fragments) replaced by ``***``."""
        key = self._secret
        if len(key) >= 8:
            text = text.replace(key, "***")
            # providers echo keys partly masked ("sk-abc...wxyz"): drop long fragments
            for n in range(len(key) - 1, 7, -1):
                for i in range(len(key) - n + 1):
                    if key[i:i + n] in text:
                        text = text.replace(key[i:i + n], "***")
        return text

    def chat(self, system: str, prompt: str) -> ChatResult:
        """Send one prompt; returns the answer or raises :class:`CallError`."""
        self._wait_for_slot()
        messages = [{"role": "user", "content": prompt}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        extra = {}
        if self.temperature is not None:
            extra["temperature"] = self.temperature
        if self.max_tokens:
            extra["max_tokens"] = self.max_tokens
        if self.json_mode:
            extra["response_format"] = {"type": "json_object"}
        import openai

        self._attempts = 0
        t0 = time.monotonic()
        try:
            resp = self._client.chat.completions.create(model=self.model, messages=messages,
                                                        **extra)
        except openai.APITimeoutError:
            raise CallError(*self._why(f"no answer within the {self.timeout:g} s timeout",
                                      t0)) from None
        except openai.APIStatusError as exc:
            raise CallError(*self._why(self._status_text(exc), t0)) from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise CallError(*self._why(f"cannot connect to {self.base_url}: "
                                      f"{self.redact(str(cause))[:200]}", t0)) from None
        except openai.OpenAIError as exc:
            raise CallError(*self._why(f"{type(exc).__name__}: {self.redact(str(exc))[:300]}",
                                      t0)) from None
        latency = time.monotonic() - t0
        if not resp.choices:
            raise CallError(*self._why("the response has no choices", t0))
        text = resp.choices[0].message.content or ""
        usage = resp.usage
        return ChatResult(text, int(getattr(usage, "prompt_tokens", 0) or 0),
                          int(getattr(usage, "completion_tokens", 0) or 0), latency,
                          max(1, self._attempts))

    def _status_text(self, exc) -> str:
        code = exc.status_code
        if code in (401, 403):
            return f"HTTP {code} from {self.base_url}: not authorised (check the API key)"
        body = exc.response.text if exc.response is not None else ""
        return f"HTTP {code} from {self.base_url}: {self.redact(' '.join(body.split()))[:300]}"

    def _why(self, what: str, t0: float) -> tuple[str, int]:
        return (f"{what} ({self._attempts} attempt(s) in {time.monotonic() - t0:.2f} s, "
                f"model {self.model})", self._attempts)

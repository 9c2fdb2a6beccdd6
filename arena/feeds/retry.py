"""Retrying a call that may fail for a while: bounded attempts, exponential backoff,
and the server's ``Retry-After`` when it sends one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from arena.feeds.errors import FetchError

T = TypeVar("T")


@dataclass(frozen=True)
class Transient:
    """Why an attempt failed in a way worth retrying, and the server's wait, if any."""

    reason: str
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request.

    attempts: tries in all (1 = no retry); backoff: the first wait in seconds,
    doubled after each failure up to max_backoff; a ``Retry-After`` from the server
    replaces the backoff, but one longer than max_retry_after gives up at once.
    """

    attempts: int = 6
    backoff: float = 1.0
    max_backoff: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, got {self.attempts}")
        if not 0 <= self.backoff <= self.max_backoff:
            raise ValueError("RetryPolicy needs 0 <= backoff <= max_backoff, got "
                             f"{self.backoff} and {self.max_backoff}")

    def wait(self, failures: int, retry_after: float | None) -> float:
        """Seconds to wait after the ``failures``-th failure in a row."""
        if retry_after is not None:
            return max(0.0, retry_after)
        return min(self.max_backoff, self.backoff * 2 ** (failures - 1))


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, what: str,
                      transient: Callable[[BaseException], Transient | None],
                      on_retry: Callable[[str], None] | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, tried again while ``transient(error)`` says the error may pass.

    Gives up with :class:`FetchError` ("``what``: gave up after N attempts in S s:
    reason") when the attempts are spent or the server asks for a longer wait than
    the policy allows; an error that is not transient is raised as is.
    ``on_retry`` receives a one-line note before each wait.
    """
    started = time.monotonic()
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - transient() decides
            why = transient(exc)
            if why is None:
                raise
            spent = time.monotonic() - started
            if attempt == policy.attempts:
                raise FetchError(f"{what}: gave up after {attempt} attempts in {spent:.1f} s: "
                                 f"{why.reason}") from None
            if why.retry_after is not None and why.retry_after > policy.max_retry_after:
                raise FetchError(f"{what}: the exchange asks to wait {why.retry_after:.0f} s "
                                 f"(more than {policy.max_retry_after:.0f} s): {why.reason}") from None
            wait = policy.wait(attempt, why.retry_after)
            if on_retry is not None:
                on_retry(f"{what}: {why.reason}; retrying in {wait:.1f} s "
                         f"(attempt {attempt + 1} of {policy.attempts})")
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover

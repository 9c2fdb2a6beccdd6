"""Retries: bounded, exponential backoff, the server's Retry-After."""

import pytest

from arena.feeds.errors import FetchError
from arena.feeds.retry import RetryPolicy, Transient, call_with_retries


class Flaky:
    """Fails ``n`` times with ``error``, then answers 42."""

    def __init__(self, n: int, error: Exception):
        self.n, self.error, self.calls = n, error, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.n:
            raise self.error
        return 42


def transient(exc):
    return Transient(str(exc), getattr(exc, "retry_after", None))


def test_backoff_doubles_up_to_its_cap_and_retry_after_replaces_it():
    policy = RetryPolicy(attempts=6, backoff=1.0, max_backoff=5.0)
    assert [policy.wait(n, None) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.wait(1, 7.5) == 7.5


def test_a_passing_failure_is_retried_with_notes_and_waits():
    # Arrange
    fn, waits, notes = Flaky(2, ConnectionError("refused")), [], []
    # Act
    result = call_with_retries(fn, RetryPolicy(backoff=0.5), "x BTC/USDT", transient,
                               notes.append, waits.append)
    # Assert
    assert result == 42 and fn.calls == 3
    assert waits == [0.5, 1.0]
    assert notes[0] == "x BTC/USDT: refused; retrying in 0.5 s (attempt 2 of 6)"


def test_giving_up_names_what_how_often_and_why():
    fn = Flaky(10, ConnectionError("HTTP 503 from GET /klines"))
    with pytest.raises(FetchError, match=r"^x BTC/USDT: gave up after 3 attempts in .* s: "
                                         r"HTTP 503 from GET /klines$"):
        call_with_retries(fn, RetryPolicy(attempts=3), "x BTC/USDT", transient,
                          sleep=lambda s: None)
    assert fn.calls == 3


def test_a_retry_after_longer_than_allowed_gives_up_at_once():
    error = ConnectionError("HTTP 418")
    error.retry_after = 3600.0
    fn = Flaky(10, error)
    with pytest.raises(FetchError, match="asks to wait 3600 s"):
        call_with_retries(fn, RetryPolicy(max_retry_after=60), "x", transient,
                          sleep=lambda s: None)
    assert fn.calls == 1


def test_an_error_that_will_not_pass_is_raised_at_once():
    fn = Flaky(10, KeyError("bad"))
    with pytest.raises(KeyError):
        call_with_retries(fn, RetryPolicy(), "x", lambda exc: None, sleep=lambda s: None)
    assert fn.calls == 1


def test_a_policy_needs_at_least_one_attempt():
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)

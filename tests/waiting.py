"""Waiting in tests for something another thread or process does."""

from __future__ import annotations

import time


def until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 20 ms until it is truthy; AssertionError after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")

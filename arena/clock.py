"""Clocks: the engine paces itself through one, so tests can drive time."""

from __future__ import annotations

import threading
import time


class RealClock:
    """Wall-clock time; ``wait`` sleeps on a condition so commands wake it early."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, cond: threading.Condition, seconds: float) -> None:
        cond.wait(timeout=max(0.0, seconds))


class TestClock:
    """A clock that only moves when told to (or when the engine waits on it).

    ``wait`` advances the clock by the requested time instead of sleeping, so a
    paced run executes instantly while its timing logic is still exercised.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, start: float = 0.0):
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def wait(self, cond: threading.Condition, seconds: float) -> None:
        self.now += max(0.0, seconds)
        cond.wait(timeout=0)

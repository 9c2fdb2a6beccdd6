"""A live run's status in words: the feed's state, "live since …", the age of the
last candle and the time to the next one, from ``status()["live"]`` (docs/live.md).

One place that words them, for the summary bar and the control panel alike. The
feed's state is the exchange's side (``connected``, ``reconnecting`` since T during
an outage, ``stale`` since T while a symbol's candle is late, ``finished``), shown
apart from the browser's own connection to the server (:mod:`arena.ui.connection`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: feed states and what the badge says about them
FEED_STATES = {"connecting": "connecting", "connected": "connected",
               "reconnecting": "reconnecting", "stale": "stale", "finished": "finished"}


def short_time(iso: str | None) -> str:
    """``2025-01-01T10:00:00+00:00`` → ``2025-01-01 10:00`` (UTC); ``–`` for none."""
    return (iso or "–")[:16].replace("T", " ")


def duration(seconds) -> str:
    """``12 s``, ``3 min 5 s``, ``2 h 10 min``, ``1 d 3 h``."""
    if seconds is None or not math.isfinite(float(seconds)):
        return "–"
    s = int(round(float(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


@dataclass(frozen=True)
class LiveStatus:
    """The words for one ``status()["live"]``."""

    state: str  # the feed's state (a FEED_STATES key)
    since: str  # when that state began ("" when it has no start: connected)
    live_since: str
    last_candle: str
    last_age: str
    next_in: str
    exchange: str

    @classmethod
    def of(cls, live: dict) -> LiveStatus:
        state = str(live.get("feed_state") or "connecting")
        return cls(state=state if state in FEED_STATES else "connecting",
                   since=short_time(live["feed_since"]) if live.get("feed_since") else "",
                   live_since=short_time(live.get("live_since")),
                   last_candle=short_time(live.get("last_candle")),
                   last_age=duration(live.get("last_candle_age")),
                   next_in=duration(live.get("next_candle_in")),
                   exchange=f"{live.get('exchange', '')} {live.get('timeframe', '')}".strip())

    @property
    def feed_text(self) -> str:
        """``reconnecting since 2025-01-01 10:03`` / ``connected``."""
        return f"{self.state} since {self.since}" if self.since else self.state

    @property
    def timing(self) -> str:
        """``last candle 12 s ago · next in 48 s`` (after the end: the last only)."""
        if self.state == "finished":
            return f"last candle {self.last_candle}"
        return f"last candle {self.last_age} ago · next in {self.next_in}"

"""The feed side of a competition: bars that arrive over time (docs/live.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.engine.states import State

if TYPE_CHECKING:
    from arena.feeds.live import Feed


class FeedSide:
    """Where a live :class:`~arena.engine.Competition` gets its bars (a mixin)."""

    @property
    def feed(self) -> Feed | None:
        """The live feed (None for a competition on a fixed history)."""
        return self._feed

    def live_meta(self) -> dict:
        """What the recording keeps of the feed (``meta["live"]``), with the
        ``decide_deadline`` the bars wait (the config's, else the feed's)."""
        return {**self._feed.describe(), "decide_deadline": self._deadline()}

    def _feed_update(self) -> None:
        """The feed has more bars, or has finished (any thread)."""
        with self._cond:
            self._cond.notify_all()

    def _feed_event(self, kind: str, message: str) -> None:
        self._emit(kind, message=message)

    def _feed_behind(self) -> bool:
        """Live: the run wants a bar the feed has not made yet (caller holds the lock)."""
        return (self._feed is not None and self._state in (State.RUNNING, State.PAUSED)
                and (self._state is State.RUNNING or self._step_budget > 0)
                and self._t >= self._feed.available())

    def _start_feed(self) -> None:
        if self._feed is not None:
            self._feed.start(self._feed_update, self._feed_event)

    def _stop_feed(self) -> None:
        if self._feed is not None:
            self._feed.stop()

    def _live_status(self) -> dict:
        """``status()["live"]``: live since, last candle and its age, feed state..."""
        return {} if self._feed is None else {"live": self._feed.status()}

    def _live_extent(self) -> dict:
        """Meta at the end of a live run: the bars it held and the last one's time."""
        if self._feed is None or not self._t:
            return {}
        return {"n_bars": self._t, "end": str(self.data.timestamp(self._t - 1))}

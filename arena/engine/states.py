"""The state machine: idle → running ⇄ paused → stopped | finished, and the commands
that move it (safe from any thread; an invalid one raises :class:`StateError`)."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from enum import StrEnum

import pandas as pd

from arena.publisher import wall_time
from arena.recorder import RecordingError


class State(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"


class StateError(RuntimeError):
    """A command that the competition's current state does not allow."""




class StateMachine:
    """Commands and state changes of :class:`~arena.engine.Competition` (a mixin: the
    bar loop runs in the thread :meth:`_launch` starts)."""

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, bars_per_second: float) -> None:
        v = float(bars_per_second)
        if not v >= 0 or not math.isfinite(v):
            raise ValueError(f"speed must be >= 0 bars per second, got {bars_per_second!r}")
        with self._cond:
            self._speed = v
            self._pace_origin = None
            self._rate_samples.clear()
            self._cond.notify_all()

    def start(self) -> None:
        """Run from idle; continuous until paused, stopped or finished."""
        with self._cond:
            if self._state is not State.IDLE:
                raise StateError(f"cannot start: the competition is {self._state.value}"
                                 + (" (use resume)" if self._state is State.PAUSED else
                                    " (use reset for a new run)"))
            self._set_state(State.RUNNING, "competition_started")
            self._launch()

    def pause(self) -> None:
        with self._cond:
            if self._state is not State.RUNNING:
                raise StateError(f"cannot pause: the competition is {self._state.value}")
            self._set_state(State.PAUSED, "competition_paused")
            self._cond.notify_all()
            if threading.current_thread() is not self._thread:
                # the bar in progress completes; after that nothing moves
                self._cond.wait_for(lambda: not self._advancing, timeout=10)

    def resume(self) -> None:
        with self._cond:
            if self._state is not State.PAUSED:
                raise StateError(f"cannot resume: the competition is {self._state.value}")
            self._pace_origin = None
            self._rate_samples.clear()
            self._set_state(State.RUNNING, "competition_resumed")
            self._cond.notify_all()

    def step(self, bars: int = 1, wait: bool = True, timeout: float | None = 60) -> int:
        """Process ``bars`` more bars from idle or paused (it stays paused).

        With ``wait`` it returns once they are done; returns the bar count.
        """
        if bars < 1:
            raise ValueError(f"step needs bars >= 1, got {bars}")
        with self._cond:
            if self._state not in (State.IDLE, State.PAUSED):
                raise StateError(f"cannot step: the competition is {self._state.value}"
                                 + (" (pause first)" if self._state is State.RUNNING else ""))
            target = self._t + bars if self._feed else min(self._t + bars, self.n_bars)
            self._step_budget += bars
            if self._state is State.IDLE:
                self._set_state(State.PAUSED, "competition_started",
                                message="started by a single step")
                self._launch()
            self._cond.notify_all()
            if wait:
                self._cond.wait_for(
                    lambda: (self._t >= target and not self._advancing)  # decisions too
                    or self._state in (State.STOPPED, State.FINISHED)
                    or self._step_budget == 0, timeout)
            return self._t

    def stop(self) -> None:
        """End the run; the recording is completed and closed."""
        with self._cond:
            if self._state in (State.STOPPED, State.FINISHED):
                return
            if self._thread is None:  # idle: nothing ran
                self._set_state(State.STOPPED, "competition_stopped")
                self._finalise("stopped")
                return
            self._stop_requested = True
            self._cond.notify_all()
        self.join()

    def reset(self) -> None:
        """Stop if needed and start afresh: new run id, empty streams, idle."""
        if self._feed is not None:
            raise StateError("a live competition cannot be reset: its feed has moved on; "
                             "start a new live run")
        if self._state not in (State.IDLE, State.STOPPED, State.FINISHED):
            self.stop()
        self.join()
        with self._cond:
            self.streams.clear()
            self._init_run()
            self._emit("competition_reset", message="new run " + self.run_id)

    def join(self, timeout: float | None = None) -> None:
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run is stopped or finished; True if it is."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._state in (State.STOPPED, State.FINISHED) and not self._busy,
                timeout)

    def run(self, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
        """Start (if idle) and run to the end in the background thread, waiting for
        it here; ``progress(bar, n_bars)`` is called about ten times a second.
        Returns the final leaderboard."""
        if self._state is State.IDLE:
            self.start()
        elif self._state is State.PAUSED:
            self.resume()
        while not self.wait(0.1):
            if progress:
                progress(self._t, self.n_bars)
        if progress:
            progress(self._t, self.n_bars)
        if self._error:
            raise (RecordingError if self._error_kind == "recording_error"
                   else RuntimeError)(self._error)
        return self.leaderboard()

    # -- internals -------------------------------------------------------------
    def _launch(self) -> None:
        self._open_recording()
        self._thread = threading.Thread(target=self._loop, name=f"arena-{self.run_id}",
                                        daemon=True)
        self._busy = True
        self._thread.start()
        self._start_feed()

    def _set_state(self, state: State, kind: str, message: str = "") -> None:
        self._state = state
        self._emit(kind, message=message or f"{kind.replace('competition_', '')} at bar {self._t}")
        self._cond.notify_all()

    def _fail(self, kind: str, message: str) -> None:
        """End the run on an error: an event, the error in :meth:`status`, stopped."""
        self._error = message
        self._error_kind = kind
        self._emit(kind, message=message)
        self._state = State.STOPPED
        self._finalise("failed")

    def _finalise(self, status: str) -> None:
        """End the run: the feed, the agents' pool and connections, the recording."""
        self._stop_feed()
        if self._pool is not None:  # calls in flight finish in the background, unrecorded
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._collect_calls()
        for s in self._slots:  # e.g. an LLM agent's HTTP connections
            try:
                s.agent.close()
            except Exception as exc:  # noqa: BLE001 - the run is over either way
                self._agent_error(s, None, f"close() raised {type(exc).__name__}: {exc}")
        self._pub.board(self._t, force=True)
        rec = self._pub.recorder
        if rec is not None:
            board = self.leaderboard()
            leader = board["agent"].iloc[0] if not board.empty else ""
            try:
                self._pub.hand_over()
                rec.set_meta(status=status, finished=wall_time(), bars_processed=self._t,
                             leader=leader, leaderboard=board.to_dict("records"),
                             **self._live_extent())
                rec.close()
            except RecordingError as exc:
                rec.close_quietly()
                if self._error is None:  # else it is already reported
                    self._error = f"recording failed at bar {self._t}: {exc}"
                    self._error_kind = "recording_error"
                    self._emit("recording_error", message=self._error)
            finally:
                self._pub.recorder = None
        if self._claim is not None:  # a resumed run: the next resume may come
            os.close(self._claim)
            self._claim = None

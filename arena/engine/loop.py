"""The bar loop (engine thread): how many bars may run now (pacing, steps, waiting
for a live feed), and running them on the compiled block path or bar by bar."""

from __future__ import annotations

import contextlib

import numpy as np

from arena.agents import indicators
from arena.engine.states import State
from arena.recorder import RecordingError

_NO_DECISIONS = np.zeros((1, 1, 1))

#: A paced run that has fallen behind its schedule catches up (the bars it owes run
#: as one block, up to a second's worth at a time) while it is at most this many
#: seconds behind, so a pause of the engine thread costs no bars: the garbage
#: collector holds the GIL for a second or more in a server with many sessions, a
#: busy machine deschedules the thread. Further behind (a suspended machine, agents
#: slower than the set speed) it drops the debt rather than burst through it.
CATCH_UP_SECONDS = 5.0


class BarLoop:
    """The engine thread's loop of :class:`~arena.engine.Competition` (a mixin)."""

    def _loop(self) -> None:
        # signals() and the reasoning of their decisions share indicators of the closes
        # (not live: there the closes' array fills up as candles close)
        live = self._feed is not None
        with contextlib.nullcontext() if live else indicators.shared(self.data.close):
            self._loop_bars()

    def _loop_bars(self) -> None:
        try:
            if not self._prepared:
                self._prepare()
            while True:
                budget, stepping = self._next_budget()
                if budget == 0:
                    break
                t_before = self._t
                try:
                    self._advance(budget, stepping)
                    if stepping or self._state is not State.RUNNING:
                        self._pub.board(self._t, force=True)  # a stepped/paused bar is exact
                finally:
                    with self._cond:
                        self._advancing = False
                        if stepping:
                            self._step_budget = max(0, self._step_budget - (self._t - t_before))
                        self._cond.notify_all()
                self._note_rate()
                if self._t >= self.n_bars and (self._feed is None or self._feed.finished()):
                    with self._cond:
                        self._step_budget = 0
                        self._set_state(State.FINISHED, "competition_finished",
                                        message=f"finished after {self._t} bars")
                        self._finalise("finished")
                    break
        except RecordingError as exc:  # disk full, unwritable file: the run stops
            with self._cond:
                self._fail("recording_error", f"recording failed at bar {self._t}, the run "
                                              f"stopped: {exc}")
        except Exception as exc:  # noqa: BLE001 - reported as an event, run ends cleanly
            with self._cond:
                self._fail("engine_error",
                           f"engine error at bar {self._t}: {type(exc).__name__}: {exc}")
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _next_budget(self) -> tuple[int, bool]:
        """Wait until bars may be processed: (how many, whether they are steps).
        0 bars means the loop should end. Marks the engine as advancing."""
        with self._cond:
            while True:
                self._pub.record(force=self._state is not State.RUNNING)
                if self._stop_requested:
                    self._step_budget = 0
                    self._set_state(State.STOPPED, "competition_stopped")
                    self._finalise("stopped")
                    return 0, False
                if self._feed_behind():
                    if self._feed.finished():  # nothing more will come
                        self._step_budget = 0
                        self._set_state(State.FINISHED, "competition_finished",
                                        message=f"finished after {self._t} bars")
                        self._finalise("finished")
                        return 0, False
                    self._cond.wait(0.5)  # the feed notifies when a bar closes
                    continue
                if self._state is State.RUNNING:
                    if self._speed <= 0 or self._feed is not None:  # live: as bars come
                        self._advancing = True
                        return self.n_bars, False
                    now = self.clock.monotonic()
                    if self._pace_origin is None:
                        self._pace_origin = (now, self._t)
                    t0, b0 = self._pace_origin
                    due = int((now - t0) * self._speed) + 1 - (self._t - b0)
                    if due > max(2.0, self._speed * CATCH_UP_SECONDS):  # far behind:
                        self._pace_origin = (now, self._t)  # drop the debt, no burst
                        due = 1
                    if due > 0:
                        self._advancing = True
                        return min(due, max(1, int(self._speed))), False
                    wake = t0 + (self._t - b0) / self._speed
                    self.clock.wait(self._cond, wake - now)
                    continue
                if self._state is State.PAUSED and self._step_budget > 0:
                    self._advancing = True
                    return self._step_budget, True
                if self._state in (State.STOPPED, State.FINISHED):
                    return 0, False
                self._cond.wait()

    def _advance(self, budget: int, stepping: bool) -> None:
        """Process up to ``budget`` bars (a block on the fast path, else bar by bar);
        a run (not a step) stops early once paused or stopped."""
        n = self.n_bars
        if self._vector:
            t0 = self._t
            t1 = min(n, t0 + min(budget, self.config.block_bars))
            while self._t < t1:
                self._run_bars(self._t, t1, use_decisions=True)
            return
        limit = min(budget, n - self._t)
        started = self.clock.monotonic()
        for _ in range(limit):
            t = self._t
            self._run_bars(t, t + 1, use_decisions=False)
            self._decide(t)
            if self._stop_requested or (not stepping and self._state is not State.RUNNING) \
                    or self.clock.monotonic() - started > 0.2:
                break

    def _run_bars(self, t0: int, t1: int, use_decisions: bool) -> None:
        acc = self.accounts
        eq = self._equity[:, t0:t1]
        inv = self._invested[:, t0:t1]
        decisions = self._decisions if use_decisions else _NO_DECISIONS
        done, nf = acc.run(t0, t1, self.data.open, self.data.close, decisions, use_decisions,
                           eq, inv, self._fills, out_cash=self._cash[:, t0:t1])
        t1 = t0 + done
        with self._cond:
            self._pub.bars(t0, t1, self._fills[:nf])
            self._t = t1
            self._cond.notify_all()

    def _note_rate(self) -> None:
        """Remember (time, bar) for the achieved bars per second (last 2 s)."""
        now = self.clock.monotonic()
        samples = self._rate_samples
        samples.append((now, self._t))
        while len(samples) > 2 and now - samples[0][0] > 2.0:
            samples.popleft()

    def _rate(self) -> float:
        """Bars per second actually achieved over the last couple of seconds."""
        samples = list(self._rate_samples)
        if len(samples) < 2 or samples[-1][0] - samples[0][0] <= 0:
            return 0.0
        return (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])

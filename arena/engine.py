"""Competition: agents trade the same bars; a state machine runs it in a thread.

States: idle → running ⇄ paused → stopped | finished; ``reset`` returns to idle
with a new run. Commands (:meth:`start`, :meth:`pause`, :meth:`resume`,
:meth:`step`, :meth:`stop`, :meth:`reset`, :attr:`speed`) are safe from any thread.

Per bar ``t``: pending targets (decided at ``t−1``'s close) fill at ``t``'s
open, equity is marked at ``t``'s close, then every agent decides on the bars
up to ``t``. Agents that implement ``signals`` have their decisions computed up
front; when every agent does, bars run in compiled blocks
(:func:`arena.portfolio.run_block`), which is the fast path.

On the per-bar path, agents marked ``concurrent`` (blocking I/O, e.g. LLM calls)
decide in a thread pool owned by the competition while the others decide in the
engine thread; results are applied in agent (slot) order. As fast as possible
(speed 0) a bar waits for every answer; paced (speed > 0) it waits at most
``decide_deadline`` seconds, and an agent that has not answered holds (an
``agent_error``); its late answer is discarded, and it is not asked again until
that call has returned. See docs/llm.md.

Live (docs/live.md): given a :class:`arena.feeds.live.Feed` instead of a
:class:`MarketData`, the competition runs on the bars the feed has made available
so far, all agents on the per-bar path (``signals`` would need the future), and
waits at the last available bar until the feed offers the next one or finishes.
The feed's data is allocated for the whole run and filled row by row; the
backtest path is untouched.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import datetime as dt
import math
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from arena import shared
from arena.agents.base import (
    Agent,
    AgentError,
    Decision,
    DecisionError,
    History,
    Observation,
    validate_decision,
)
from arena.channels import CompetitionStreams
from arena.clock import RealClock
from arena.data.market import MarketData
from arena.metrics import (
    RunningStats,
    buy_and_hold_equity,
    buy_and_hold_return,
    compute_stats,
    infer_periods_per_year,
)
from arena.portfolio import (
    FILL_COLUMNS,
    Accounts,
    PortfolioConfig,
    PortfolioView,
)
from arena.publisher import Publisher, format_targets, wall_time
from arena.recorder import Recorder, RecordingError
from streams.decimate import envelope_indices

if TYPE_CHECKING:
    from arena.feeds.live import Feed

_NO_DECISIONS = np.zeros((1, 1, 1))

#: A paced run that has fallen behind its schedule catches up (the bars it owes run
#: as one block, up to a second's worth at a time) while it is at most this many
#: seconds behind, so a pause of the engine thread costs no bars: the garbage
#: collector holds the GIL for a second or more in a server with many sessions, a
#: busy machine deschedules the thread. Further behind (a suspended machine, agents
#: slower than the set speed) it drops the debt rather than burst through it.
CATCH_UP_SECONDS = 5.0


class State(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"


class StateError(RuntimeError):
    """A command that the competition's current state does not allow."""


@dataclass(frozen=True)
class CompetitionConfig:
    """Everything that defines a run besides its data and agents.

    speed: bars per second; 0 runs as fast as possible.
    record: write the run to ``<run_dir>/<run_id>/arena.sqlite``.
    block_bars: most bars per compiled block on the fast path.
    stream_maxlen: rows each append-only stream keeps (the recording keeps all).
    decide_deadline: seconds a paced bar (speed > 0) waits for concurrent agents'
        answers; None waits one bar period (1 / speed), or in a live run the
        feed's default (half a candle). Backtests wait for all.
    """

    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)
    seed: int = 0
    speed: float = 0.0
    record: bool = True
    run_dir: str = "runs"
    run_id: str | None = None
    block_bars: int = 2048
    stream_maxlen: int | None = 200_000
    progress_every: float = 0.05
    decide_deadline: float | None = None

    def __post_init__(self):
        if not self.speed >= 0 or not math.isfinite(self.speed):
            raise ValueError(f"speed must be >= 0 bars per second (0 = as fast as possible), got {self.speed!r}")
        if not self.block_bars >= 1:
            raise ValueError(f"block_bars must be >= 1, got {self.block_bars!r}")
        if self.decide_deadline is not None and not (
                self.decide_deadline > 0 and math.isfinite(self.decide_deadline)):
            raise ValueError("decide_deadline must be a positive number of seconds (or unset "
                             f"for one bar period), got {self.decide_deadline!r}")


def _new_run_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


class _Slot:
    """One competitor: the agent, its name, and its bookkeeping."""

    def __init__(self, index: int, agent: Agent, name: str, spec: str):
        self.index = index
        self.agent = agent
        self.name = name
        self.spec = spec
        self.signals: np.ndarray | None = None
        self.errors = 0
        self.last_action = ""
        self.stats: RunningStats | None = None
        self.peak = 0.0
        self.seed = 0
        self.changes = np.zeros(0, dtype=int)
        self.concurrent = False
        self.future: cf.Future | None = None
        self.future_bar = -1
        self.late_bars: set[int] = set()


class Competition:
    """Several agents trading the same :class:`MarketData`, each with its own account.

    >>> comp = Competition(load("AAPL"), ["buy_and_hold", "sma_cross"])  # doctest: +SKIP
    >>> comp.run()  # to the end, in this thread; returns the leaderboard  # doctest: +SKIP
    """

    def __init__(self, data: MarketData | Feed, agents: Sequence[Agent | str],
                 config: CompetitionConfig | None = None, clock=None,
                 data_source: str | None = None):
        from arena.agents import create_agent  # registry imports the built-ins

        self._feed: Feed | None = None
        if not isinstance(data, MarketData):  # a feed: bars arrive over time
            self._feed, data = data, data.data
        have = self._feed.available() if self._feed else len(data)
        if have < 2:
            raise ValueError(f"need at least 2 bars to compete, the data has {have}")
        if not agents:
            raise ValueError("a competition needs at least one agent")
        self.data = data
        self.data_source = data_source or data.source
        self.config = config or CompetitionConfig()
        self.clock = clock or RealClock()
        self._specs = [a if isinstance(a, str) else getattr(type(a), "registered_name",
                                                               type(a).__name__) for a in agents]
        self._agents = [create_agent(a) if isinstance(a, str) else a for a in agents]
        self.streams = CompetitionStreams(maxlen=self.config.stream_maxlen)
        self._cond = threading.Condition(threading.RLock())
        self._speed = float(self.config.speed)
        self._thread: threading.Thread | None = None
        self._init_run()

    # -- public state --------------------------------------------------------
    @property
    def state(self) -> State:
        return self._state

    @property
    def bar(self) -> int:
        """Number of bars processed so far."""
        return self._t

    @property
    def n_bars(self) -> int:
        """Bars to run: all of the data, or in a live run those available so far."""
        return len(self.data) if self._feed is None else self._feed.available()

    @property
    def feed(self) -> Feed | None:
        """The live feed (None for a competition on a fixed history)."""
        return self._feed

    @property
    def current_time(self) -> pd.Timestamp | None:
        return self.data.timestamp(self._t - 1) if self._t else None

    @property
    def agent_names(self) -> list[str]:
        return [s.name for s in self._slots]

    @property
    def run_path(self) -> Path | None:
        return self._run_path

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

    def status(self) -> dict:
        """State, progress and throughput, as plain values (for UIs and APIs)."""
        with self._cond:
            t = self._t
            out = {
                "run_id": self.run_id, "state": self._state.value, "bar": t,
                "bars": self.n_bars,
                "time": None if not t else self.data.timestamp(t - 1).isoformat(),
                "progress": t / self.n_bars, "speed": self._speed,
                "bars_per_second": self._rate() if self._state is State.RUNNING else 0.0,
                "error": self._error,
            }
        if self._feed is not None:  # live since, last candle and its age, feed state...
            out["live"] = self._feed.status()
        return out

    # -- commands --------------------------------------------------------------
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

    # -- results ---------------------------------------------------------------
    def leaderboard(self) -> pd.DataFrame:
        """Agents ranked by equity, with their live statistics."""
        df = self.streams.leaderboard.snapshot()
        if df.empty:
            return df
        return df.sort_values("rank").reset_index(drop=True)

    def equity_frame(self) -> pd.DataFrame:
        """Equity per agent (columns) at each processed bar's close (UTC index)."""
        idx = pd.DatetimeIndex(self.data.times[: self._t]).tz_localize("UTC")
        return pd.DataFrame(self._equity[:, : self._t].T, index=idx,
                            columns=[s.name for s in self._slots])

    def trades_frame(self) -> pd.DataFrame:
        """Every fill so far (from the in-memory log, not bounded like the stream)."""
        columns = list(self.streams.trades.columns)
        if not self._pub.fills_log:
            return pd.DataFrame(columns=columns)
        df = pd.concat([pd.DataFrame(c) for c in self._pub.fills_log], ignore_index=True)
        df["time"] = pd.DatetimeIndex(df["time"]).tz_localize("UTC")
        return df[columns]

    def history(self, name: str, max_points: int = 2000) -> tuple[pd.DataFrame, int]:
        """Rows of the ``equity``, ``benchmark`` or ``prices`` stream for every bar
        so far, decimated to about ``max_points`` bars (each line's extremes are
        kept; equity's bars keep the benchmark's too, the dashboard draws it with
        them), and the stream cursor they cover: a viewer that joins late draws
        these, then pulls ``since(cursor)`` for what comes next."""
        if name not in ("equity", "benchmark", "prices"):
            raise ValueError(f"no history for {name!r}; have equity, benchmark, prices")
        with self._cond:
            t = self._t
            cursor = getattr(self.streams, name).total
            if name == "equity":  # with the benchmark line, drawn on the same chart
                values = np.column_stack([self._equity[:, :t].T,
                                          buy_and_hold_equity(self.data.close, slice(0, t), 1.0)])
            elif name == "prices":
                values = self.data.close[:t]
            else:
                values = self.data.close[:t] / self.data.close[0]
            idx = envelope_indices(values, max_points)
            rows = self._history_rows(name, idx)
        return rows, cursor

    def _history_rows(self, name: str, idx: np.ndarray) -> pd.DataFrame:
        cash0 = self.config.portfolio.cash
        times = pd.DatetimeIndex(self.data.times[idx]).tz_localize("UTC")
        if name == "benchmark":
            eq = buy_and_hold_equity(self.data.close, idx, cash0)
            return pd.DataFrame({"bar": idx, "time": times, "equity": eq,
                                 "return_pct": (eq / cash0 - 1) * 100})
        if name == "prices":
            k = self.data.n_symbols
            cols = {f: getattr(self.data, f)[idx].ravel()
                    for f in ("open", "high", "low", "close", "volume")}
            return pd.DataFrame({"bar": np.repeat(idx, k), "time": np.repeat(times, k),
                                 "symbol": np.tile(self.data.symbols, len(idx)), **cols})
        t = self._t
        frames = []
        for s in self._slots:
            e_all = self._equity[s.index, :t]
            peak = np.maximum.accumulate(e_all)[idx]
            e = e_all[idx]
            frames.append(pd.DataFrame({
                "bar": idx, "time": times, "agent": s.name, "equity": e,
                "cash": self._cash[s.index, idx],
                "return_pct": (e / cash0 - 1) * 100, "drawdown_pct": (e / peak - 1) * 100}))
        out = pd.concat(frames) if frames else pd.DataFrame(columns=self.streams.equity.columns)
        return out.sort_values(["bar"], kind="stable").reset_index(drop=True)

    def stats(self, agent: str | None = None) -> pd.DataFrame | pd.Series:
        """Full statistics computed from scratch (see ``arena.metrics``)."""
        eq = self.equity_frame()
        trades = self.trades_frame()
        bench = buy_and_hold_return(self.data.close[: self._t]) if self._t else math.nan
        out = {}
        for s in self._slots:
            if agent is not None and s.name != agent:
                continue
            out[s.name] = compute_stats(
                eq[s.name], trades[trades["agent"] == s.name],
                invested=self._invested[s.index, : self._t], benchmark=bench,
                periods_per_year=self._periods)
        if agent is not None:
            if agent not in out:
                raise KeyError(f"unknown agent {agent!r}; have {', '.join(self.agent_names)}")
            return out[agent]
        return pd.DataFrame(out)

    # -- internals: set-up -----------------------------------------------------
    def _init_run(self) -> None:
        cfg = self.config
        self.run_id = cfg.run_id if (cfg.run_id and not hasattr(self, "run_id")) else _new_run_id()
        self._state = State.IDLE
        self._t = 0
        self._thread = None
        self._busy = False
        self._advancing = False
        self._stop_requested = False
        self._step_budget = 0
        self._pace_origin: tuple[float, int] | None = None
        self._rate_samples: collections.deque[tuple[float, int]] = collections.deque()
        self._error: str | None = None
        self._error_kind = ""
        n, a, k = len(self.data), len(self._agents), self.data.n_symbols
        seeds = np.random.SeedSequence(cfg.seed).generate_state(a)
        names: dict[str, int] = {}
        self._slots = []
        for i, (agent, spec) in enumerate(zip(self._agents, self._specs, strict=True)):
            base = str(agent.label() if hasattr(agent, "label") else spec)
            names[base] = names.get(base, 0) + 1
            name = base if names[base] == 1 else f"{base} #{names[base]}"
            slot = _Slot(i, agent, name, spec)
            slot.seed = int(seeds[i])
            self._slots.append(slot)
        self.accounts = Accounts(a, self.data.symbols, cfg.portfolio)
        # (agents, bars) histories; shared memory when recorded: the writer reads them
        self._equity, self._invested, self._cash, self._drawdown = (
            shared.empty if cfg.record else shared.zeros)(
            [((a, n), np.float64), ((a, n), np.bool_), ((a, n), np.float64), ((a, n), np.float64)])
        self._fills = np.zeros((max(4096, a * k * 2 * 64), FILL_COLUMNS))
        self._periods = infer_periods_per_year(
            pd.DatetimeIndex(self.data.times[: min(self.n_bars, 500)]).tz_localize("UTC"))
        bounded = self._feed is None or self._feed.bounded
        self._pub = Publisher(self.data, self._slots, self.accounts, self._equity,
                              self._invested, self._cash, self._drawdown, self.streams,
                              cfg.portfolio.cash,  # live until stopped: no progress events
                              cfg.progress_every if bounded else math.inf, self._cond,
                              self.clock)
        self._run_path: Path | None = None
        self._recording_error: RecordingError | None = None
        self._prepared = False
        self._pool: cf.ThreadPoolExecutor | None = None

    def _open_recording(self) -> None:
        """Start the recording's writer process (before the engine thread, by the
        thread that launches it: a process started from the engine thread can leave
        the engine sharing a core with the writer's start-up, docs/engine.md). Once per
        run: a run is launched once, from idle."""
        if not self.config.record:
            return
        self._run_path = Path(self.config.run_dir) / self.run_id
        regions = {id(r): r for r in map(shared.region_of, (self.data.close, self._equity))
                   if r is not None}
        try:
            self._pub.start_recording(Recorder(self._run_path, regions=list(regions.values())))
        except RecordingError as exc:  # the engine thread reports it (_prepare)
            self._recording_error = exc

    def _prepare(self) -> None:
        """Reset agents, precompute signals, record the run's meta (engine thread)."""
        cfg = self.config
        if self._recording_error is not None:
            raise self._recording_error
        for s in self._slots:
            try:
                s.agent.reset(self.data, s.seed)
            except Exception as exc:  # noqa: BLE001 - any agent failure is reported
                self._agent_error(s, None, f"reset failed: {type(exc).__name__}: {exc}")
            # live: signals() would need bars that have not closed yet
            s.signals = self._checked_signals(s) if self._feed is None else None
            if s.signals is not None:
                s.changes = _target_changes(s.signals)
            s.stats = RunningStats(cfg.portfolio.cash, self.data.timestamp(0), self._periods)
            s.peak = cfg.portfolio.cash
            s.concurrent = s.signals is None and bool(getattr(s.agent, "concurrent", False))
        self._vector = all(s.signals is not None for s in self._slots)
        n_pooled = sum(s.concurrent for s in self._slots)
        if n_pooled:
            self._pool = cf.ThreadPoolExecutor(max_workers=n_pooled,
                                               thread_name_prefix=f"arena-agents-{self.run_id}")
        if self._vector:
            self._decisions = np.stack([s.signals for s in self._slots])
        if cfg.record:
            rec = self._pub.recorder
            n = self.n_bars
            rec.set_meta(
                run_id=self.run_id, created=wall_time(), status="running",
                data_source=self.data_source, symbols=list(self.data.symbols),
                start=str(self.data.timestamp(0)), end=str(self.data.timestamp(n - 1)),
                n_bars=n, seed=cfg.seed, config=_config_dict(cfg),
                agents=[s.name for s in self._slots], periods_per_year=self._periods,
                **({} if self._feed is None else {"live": self._feed.describe()}),
            )
            rec.add_agents((s.index, s.name, s.spec, _params(s.agent)) for s in self._slots)
            self._pub.flush_events()
        self._prepared = True

    def _checked_signals(self, s: _Slot) -> np.ndarray | None:
        try:
            sig = s.agent.signals(self.data)
        except Exception as exc:  # noqa: BLE001
            self._agent_error(s, None, f"signals() failed, deciding bar by bar instead: "
                                       f"{type(exc).__name__}: {exc}")
            return None
        if sig is None:
            return None
        sig = np.asarray(sig, dtype=float)
        shape = (len(self.data), self.data.n_symbols)
        if sig.shape != shape:
            self._agent_error(s, None, f"signals() returned shape {sig.shape}, expected {shape};"
                                       " deciding bar by bar instead")
            return None
        bad = ~np.isnan(sig) & ~((sig >= -1) & (sig <= 1))
        held = pd.DataFrame(sig).ffill().fillna(0.0).abs().sum(axis=1).to_numpy()
        over = held > self.config.portfolio.max_leverage + 1e-9
        if bad.any() or over.any():
            row = int(np.argmax(bad.any(axis=1) | over))
            self._agent_error(s, row, f"signals() row {row} has weights outside -1..1 or above "
                                      f"the leverage cap; deciding bar by bar instead")
            return None
        return sig

    # -- internals: thread and state -------------------------------------------
    def _launch(self) -> None:
        self._open_recording()
        self._thread = threading.Thread(target=self._loop, name=f"arena-{self.run_id}",
                                        daemon=True)
        self._busy = True
        self._thread.start()
        if self._feed is not None:
            self._feed.start(self._feed_update, self._feed_event)

    def _feed_update(self) -> None:
        """The feed has more bars, or has finished (any thread)."""
        with self._cond:
            self._cond.notify_all()

    def _feed_event(self, kind: str, message: str) -> None:
        self._emit(kind, message=message)

    def _set_state(self, state: State, kind: str, message: str = "") -> None:
        self._state = state
        self._emit(kind, message=message or f"{kind.replace('competition_', '')} at bar {self._t}")
        self._cond.notify_all()

    def _loop(self) -> None:
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
                if self._feed is not None and self._state in (State.RUNNING, State.PAUSED) \
                        and (self._state is State.RUNNING or self._step_budget > 0) \
                        and self._t >= self._feed.available():
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

    def _fail(self, kind: str, message: str) -> None:
        """End the run on an error: an event, the error in :meth:`status`, stopped."""
        self._error = message
        self._error_kind = kind
        self._emit(kind, message=message)
        self._state = State.STOPPED
        self._finalise("failed")

    def _finalise(self, status: str) -> None:
        if self._feed is not None:
            self._feed.stop()
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
                live = {} if self._feed is None or not self._t else {
                    "n_bars": self._t, "end": str(self.data.timestamp(self._t - 1))}
                rec.set_meta(status=status, finished=wall_time(), bars_processed=self._t,
                             leader=leader, leaderboard=board.to_dict("records"), **live)
                rec.close()
            except RecordingError as exc:
                rec.close_quietly()
                if self._error is None:  # else it is already reported
                    self._error = f"recording failed at bar {self._t}: {exc}"
                    self._error_kind = "recording_error"
                    self._emit("recording_error", message=self._error)
            finally:
                self._pub.recorder = None

    # -- internals: events -----------------------------------------------------
    def _emit(self, kind: str, agent: str | None = None, message: str = "",
              bar: int | None = None) -> None:
        """An event at ``bar`` (default: the last bar processed)."""
        if bar is None and self._t:
            bar = self._t - 1
        self._pub.emit(kind, bar, agent, message)

    def _agent_error(self, s: _Slot, bar: int | None, message: str) -> None:
        s.errors += 1
        self._emit("agent_error", agent=s.name, message=message, bar=bar)

    # -- internals: the bar loop -----------------------------------------------
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

    def _decide(self, t: int) -> None:
        """Ask every agent for its decision at bar ``t``'s close (per-bar path):
        concurrent agents in the pool, the others here; applied in slot order."""
        hist = History(self.data, t + 1)
        time = self.data.timestamp(t)
        lev = self.config.portfolio.max_leverage
        acc = self.accounts
        outcome: dict[int, tuple[str, object]] = {}
        pooled = []
        frozen = None
        for s in self._slots:  # submit first, so that they run while the others decide
            if not s.concurrent:
                continue
            if s.future is not None and not s.future.done():
                outcome[s.index] = ("error", f"still waiting for its answer to bar "
                                             f"{s.future_bar}; holding")
                continue
            if frozen is None:  # a copy: workers must not see the accounts move on
                frozen = acc.frozen()
            obs = Observation(t, time, self.data.symbols, hist, PortfolioView(frozen, s.index),
                              lev)
            s.future, s.future_bar = self._pool.submit(s.agent.decide, obs), t
            pooled.append(s)
        for s in self._slots:
            if s.signals is not None:
                row = s.signals[t]
                if not np.isnan(row).all():
                    acc.pending[s.index] = row
            elif not s.concurrent:
                obs = Observation(t, time, self.data.symbols, hist, PortfolioView(acc, s.index),
                                  lev)
                outcome[s.index] = _call(s.agent.decide, obs)
        if pooled:
            cf.wait([s.future for s in pooled], timeout=self._deadline())
            for s in pooled:
                if s.future.done():
                    outcome[s.index] = _result(s.future)
                else:
                    s.late_bars.add(t)
                    outcome[s.index] = ("error", f"no answer within the "
                                                 f"{self._deadline():.3g} s deadline of a live "
                                                 "bar; holding (a late answer is discarded)")
        rows = []
        for s in self._slots:
            if s.index not in outcome:
                continue
            kind, value = outcome[s.index]
            if kind == "error":
                self._agent_error(s, t, value)
                continue
            try:
                d = validate_decision(value, self.data.symbols, lev)
            except DecisionError as exc:
                self._agent_error(s, t, f"invalid decision, holding: {exc}")
                continue
            if d.targets is not None:
                for sym, w in d.targets.items():
                    acc.pending[s.index, self.data.column(sym)] = float(w)
                acc.pending_force[s.index] = d.rebalance
            if self._is_news(s, d):
                rows.append((t, s, format_targets(d.targets), float(d.confidence),
                             str(d.reasoning)))  # a str subclass would not record
        self._pub.decisions(rows)
        if pooled:
            self._collect_calls()

    def _deadline(self) -> float | None:
        """Seconds a bar waits for concurrent agents: None (all) when as fast as possible."""
        if self._feed is not None:  # live: the config's, else the feed's (half a candle)
            return self.config.decide_deadline or self._feed.decide_deadline
        if self._speed <= 0:
            return None
        return self.config.decide_deadline or 1.0 / self._speed

    def _collect_calls(self) -> None:
        """Move finished LLM calls (prompts, answers, usage) to the recording."""
        rows = []
        for s in self._slots:
            drain = getattr(s.agent, "drain_calls", None)
            if drain is None:
                continue
            for c in drain():
                rows.append((s, c, c.bar in s.late_bars))
        self._pub.llm_calls(rows)

    def _is_news(self, s: _Slot, d: Decision) -> bool:
        """A decision worth a row: it changes a target, or the agent asks to log all."""
        if (getattr(s.agent, "record_all_decisions", False) and d.reasoning) or d.rebalance:
            return True
        if d.targets is None:
            return False
        tgt = self.accounts.target[s.index]
        return any(float(w) != tgt[self.data.column(sym)] for sym, w in d.targets.items())



def _call(decide, obs: Observation) -> tuple[str, object]:
    """("ok", decision) or ("error", why) from one decide() call."""
    try:
        return "ok", decide(obs)
    except Exception as exc:  # noqa: BLE001 - the competition goes on
        return _failure(exc)


def _result(future: cf.Future) -> tuple[str, object]:
    """The same for a decide() call that ran in the pool."""
    try:
        return "ok", future.result()
    except Exception as exc:  # noqa: BLE001
        return _failure(exc)


def _failure(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, DecisionError):
        return "error", f"invalid decision, holding: {exc}"
    if isinstance(exc, AgentError):
        return "error", f"{exc}; holding"
    return "error", f"decide() raised {type(exc).__name__}: {exc}; holding"


def _target_changes(signals: np.ndarray) -> np.ndarray:
    """Bars whose signal row changes some symbol's effective target (start: 0)."""
    held = pd.DataFrame(signals).ffill().fillna(0.0).to_numpy()
    before = np.vstack([np.zeros((1, signals.shape[1])), held[:-1]])
    changed = ~np.isnan(signals) & (signals != before)
    return np.flatnonzero(changed.any(axis=1))


def _params(agent: Agent) -> dict:
    try:
        return {k: v for k, v in agent.param.values().items() if k != "name"}
    except AttributeError:
        return {}


def _config_dict(cfg: CompetitionConfig) -> dict:
    d = asdict(cfg)
    d.pop("run_dir", None)
    return d

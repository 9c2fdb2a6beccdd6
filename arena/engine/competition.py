"""Competition: agents trade the same bars, each with its own account.

This module holds the class and its set-up (agents, accounts, histories, the
recording's meta); the state machine, bar loop, decisions, feed side and results are
mixins in the sibling modules (see :mod:`arena.engine`).
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import functools
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from arena import shared
from arena.agents import indicators
from arena.agents.base import Agent
from arena.channels import CompetitionStreams
from arena.clock import RealClock
from arena.data.market import MarketData
from arena.engine.config import CompetitionConfig, config_dict, new_run_id
from arena.engine.decisions import ConcurrentDecisions
from arena.engine.feed import FeedSide
from arena.engine.loop import BarLoop
from arena.engine.results import Results
from arena.engine.resume import (
    CheckpointPublisher,
    ResumeError,
    SavedRun,
    claim,
    engine_state,
    record_resume,
    restore,
)
from arena.engine.signals import signal_fault, target_changes
from arena.engine.states import State, StateMachine
from arena.metrics import RunningStats, infer_periods_per_year
from arena.portfolio import FILL_COLUMNS, Accounts
from arena.publisher import wall_time
from arena.recorder import Recorder, RecordingError

if TYPE_CHECKING:
    from arena.feeds.live import Feed


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


class Competition(StateMachine, BarLoop, ConcurrentDecisions, FeedSide, Results):
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
        self._saved: SavedRun | None = None  # a recorded run this one continues
        self._claim: int | None = None  # its lock (resume.claim)
        self._init_run()

    @classmethod
    def continue_run(cls, saved: SavedRun, feed: Feed, clock=None) -> Competition:
        """The recorded live run ``saved`` (:func:`arena.engine.load_saved_run`) going on
        with ``feed``, which holds the recorded bars and continues after them
        (:func:`arena.feeds.resume.resume_live` makes both). Same run id, recording,
        agents, config and accounts; idle until :meth:`start`."""
        from arena.agents import create_agent

        t = saved.bars
        if feed.available() < t or tuple(feed.data.symbols) != saved.symbols \
                or not np.array_equal(feed.data.times[:t], saved.times) \
                or not np.array_equal(feed.data.close[:t], saved.ohlcv[3]):
            raise ResumeError(f"run {saved.run_id}: the feed does not start with the "
                              f"{saved.bars} recorded bars of {', '.join(saved.symbols)}")
        agents = []
        for name, spec, params in saved.agents:
            try:
                agents.append(create_agent(spec, **params))
            except Exception as exc:  # noqa: BLE001 - a user's agent spec or params
                raise ResumeError(f"run {saved.run_id}: agent {name} ({spec}) cannot be "
                                  f"rebuilt: {exc}") from None
        comp = cls(feed, agents, saved.config, clock=clock,
                   data_source=saved.meta.get("data_source"))
        comp._claim = claim(saved)  # one resume at a time; released when the run ends
        comp._saved = saved
        try:
            restore(comp, saved)
        except BaseException:
            comp.stop()  # idle: releases the claim, records nothing
            raise
        comp._emit("run_resumed", message=(
            f"resumed at bar {t:,} ({comp.data.timestamp(t - 1):%Y-%m-%d %H:%M} UTC) after it "
            f"was {saved.status}"))
        return comp

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
    def current_time(self) -> pd.Timestamp | None:
        return self.data.timestamp(self._t - 1) if self._t else None

    @property
    def agent_names(self) -> list[str]:
        return [s.name for s in self._slots]

    @property
    def run_path(self) -> Path | None:
        return self._run_path

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
        out.update(self._live_status())
        return out

    # -- internals: set-up -----------------------------------------------------
    def _init_run(self) -> None:
        cfg = self.config
        self.run_id = cfg.run_id if (cfg.run_id and not hasattr(self, "run_id")) else new_run_id()
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
        names = slot_names([agent.label() if hasattr(agent, "label") else spec
                            for agent, spec in zip(self._agents, self._specs, strict=True)])
        self._slots = []
        for i, (agent, spec, name) in enumerate(zip(self._agents, self._specs, names,
                                                    strict=True)):
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
            pd.DatetimeIndex(self.data.times[: min(self.n_bars, 500)]).tz_localize("UTC"),
            calendar=self.data.calendar)
        bounded = self._feed is None or self._feed.bounded
        self._pub = CheckpointPublisher(self.data, self._slots, self.accounts, self._equity,
                              self._invested, self._cash, self._drawdown, self.streams,
                              cfg.portfolio.cash,  # live until stopped: no progress events
                              cfg.progress_every if bounded else math.inf, self._cond,
                              self.clock)
        if self._feed is not None:  # live: the state a resume needs, at each hand-over
            self._pub.checkpoint = functools.partial(engine_state, self)
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
        self._run_path = (Path(self.config.run_dir) / self.run_id if self._saved is None
                          else self._saved.path)
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
        with indicators.shared(self.data.close):  # e.g. one SMA per window for a grid
            for s in self._slots:
                # live: signals() would need bars that have not closed yet
                s.signals = self._checked_signals(s) if self._feed is None else None
                if s.signals is not None:
                    s.changes = target_changes(s.signals)
        for s in self._slots:
            if self._saved is None:  # else restored (resume.restore)
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
        if cfg.record and self._saved is not None:
            record_resume(self, self._saved)
            self._pub.flush_events()
        elif cfg.record:
            rec = self._pub.recorder
            n = self.n_bars
            rec.set_meta(
                run_id=self.run_id, created=wall_time(), status="running",
                data_source=self.data_source, symbols=list(self.data.symbols),
                start=str(self.data.timestamp(0)), end=str(self.data.timestamp(n - 1)),
                n_bars=n, seed=cfg.seed, config=config_dict(cfg), calendar=self.data.calendar,
                agents=[s.name for s in self._slots], periods_per_year=self._periods,
                **({} if self._feed is None else {"live": self.live_meta()}),
            )
            rec.add_agents((s.index, s.name, s.spec, agent_params(s.agent)) for s in self._slots)
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
        fault = signal_fault(sig, self.config.portfolio.max_leverage)
        if fault is not None:
            self._agent_error(s, *fault)
            return None
        return sig

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


def slot_names(labels: Sequence) -> list[str]:
    """The names a competition gives agents with these labels (``#2``, ``#3``... for
    repeats)."""
    seen: dict[str, int] = {}
    out = []
    for base in map(str, labels):
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base} #{seen[base]}")
    return out


def agent_params(agent: Agent) -> dict:
    """An agent's parameters as recorded (its ``name`` left out)."""
    try:
        return {k: v for k, v in agent.param.values().items() if k != "name"}
    except AttributeError:
        return {}


"""Competition: agents trade the same bars; a state machine runs it in a thread.

States: idle → running ⇄ paused → stopped | finished; ``reset`` returns to idle
with a new run. Commands (:meth:`start`, :meth:`pause`, :meth:`resume`,
:meth:`step`, :meth:`stop`, :meth:`reset`, :attr:`speed`) are safe from any thread.

Per bar ``t``: pending targets (decided at ``t−1``'s close) fill at ``t``'s
open, equity is marked at ``t``'s close, then every agent decides on the bars
up to ``t``. Agents that implement ``signals`` have their decisions computed up
front; when every agent does, bars run in compiled blocks
(:func:`arena.portfolio.run_block`), which is the fast path.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from arena.agents.base import (
    Agent,
    Decision,
    DecisionError,
    History,
    Observation,
    validate_decision,
)
from arena.channels import CompetitionStreams
from arena.clock import RealClock
from arena.data.market import MarketData
from arena.metrics import RunningStats, buy_and_hold_return, compute_stats, infer_periods_per_year
from arena.portfolio import (
    F_AGENT,
    F_BAR,
    F_EXIT,
    F_FEE,
    F_PNL,
    F_POS,
    F_PRICE,
    F_QTY,
    F_SIDE,
    F_SYMBOL,
    FILL_COLUMNS,
    Accounts,
    PortfolioConfig,
    PortfolioView,
)
from arena.recorder import Recorder, iso

_NO_DECISIONS = np.zeros((1, 1, 1))


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

    def __post_init__(self):
        if not self.speed >= 0 or not math.isfinite(self.speed):
            raise ValueError(f"speed must be >= 0 bars per second (0 = as fast as possible), got {self.speed!r}")
        if not self.block_bars >= 1:
            raise ValueError(f"block_bars must be >= 1, got {self.block_bars!r}")


def _new_run_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def _fmt_targets(targets) -> str | None:
    if targets is None:
        return None
    return json.dumps({s: round(float(w), 6) for s, w in targets.items()})


def _wall_time() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


class Competition:
    """Several agents trading the same :class:`MarketData`, each with its own account.

    >>> comp = Competition(load("AAPL"), ["buy_and_hold", "sma_cross"])  # doctest: +SKIP
    >>> comp.run()  # to the end, in this thread; returns the leaderboard  # doctest: +SKIP
    """

    def __init__(self, data: MarketData, agents: Sequence[Agent | str],
                 config: CompetitionConfig | None = None, clock=None,
                 data_source: str | None = None):
        from arena.agents import create_agent  # registry imports the built-ins

        if len(data) < 2:
            raise ValueError(f"need at least 2 bars to compete, the data has {len(data)}")
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
        return len(self.data)

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
            self._cond.notify_all()

    def status(self) -> dict:
        """State, progress and throughput, as plain values (for UIs and APIs)."""
        with self._cond:
            t = self._t
            return {
                "run_id": self.run_id, "state": self._state.value, "bar": t,
                "bars": self.n_bars,
                "time": None if not t else self.data.timestamp(t - 1).isoformat(),
                "progress": t / self.n_bars, "speed": self._speed,
                "bars_per_second": self._bars_per_second, "error": self._error,
            }

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

    def resume(self) -> None:
        with self._cond:
            if self._state is not State.PAUSED:
                raise StateError(f"cannot resume: the competition is {self._state.value}")
            self._pace_origin = None
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
            target = min(self._t + bars, self.n_bars)
            self._step_budget += bars
            if self._state is State.IDLE:
                self._set_state(State.PAUSED, "competition_started",
                                message="started by a single step")
                self._launch()
            self._cond.notify_all()
            if wait:
                self._cond.wait_for(
                    lambda: self._t >= target or self._state in (State.STOPPED, State.FINISHED)
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
            raise RuntimeError(self._error)
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
        return pd.DataFrame(self._fills_log, columns=list(self.streams.trades.columns))

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
        self._stop_requested = False
        self._step_budget = 0
        self._pace_origin: tuple[float, int] | None = None
        self._bars_per_second = 0.0
        self._error: str | None = None
        self._fills_log: list[tuple] = []
        self._pending_events: list[tuple] = []
        self._last_board = -1.0
        n, a, k = len(self.data), len(self._agents), self.data.n_symbols
        seeds = np.random.SeedSequence(cfg.seed).generate_state(a)
        names: dict[str, int] = {}
        self._slots = []
        for i, (agent, spec) in enumerate(zip(self._agents, self._specs, strict=True)):
            base = agent.label() if hasattr(agent, "label") else spec
            names[base] = names.get(base, 0) + 1
            name = base if names[base] == 1 else f"{base} #{names[base]}"
            slot = _Slot(i, agent, name, spec)
            slot.seed = int(seeds[i])
            self._slots.append(slot)
        self.accounts = Accounts(a, self.data.symbols, cfg.portfolio)
        self._equity = np.zeros((a, n))
        self._invested = np.zeros((a, n), dtype=bool)
        self._fills = np.zeros((max(4096, a * k * 2 * 64), FILL_COLUMNS))
        self._periods = infer_periods_per_year(
            pd.DatetimeIndex(self.data.times[: min(n, 500)]).tz_localize("UTC"))
        self._bench_start = self.data.close[0].copy()
        self._recorder: Recorder | None = None
        self._run_path: Path | None = None
        self._prepared = False
        self._next_progress = cfg.progress_every

    def _prepare(self) -> None:
        """Reset agents, precompute signals, open the recording (engine thread)."""
        cfg = self.config
        for s in self._slots:
            try:
                s.agent.reset(self.data, s.seed)
            except Exception as exc:  # noqa: BLE001 - any agent failure is reported
                self._agent_error(s, None, f"reset failed: {type(exc).__name__}: {exc}")
            s.signals = self._checked_signals(s)
            if s.signals is not None:
                s.changes = _target_changes(s.signals)
            s.stats = RunningStats(cfg.portfolio.cash, self.data.timestamp(0), self._periods)
            s.peak = cfg.portfolio.cash
        self._vector = all(s.signals is not None for s in self._slots)
        if self._vector:
            self._decisions = np.stack([s.signals for s in self._slots])
        if cfg.record:
            self._run_path = Path(cfg.run_dir) / self.run_id
            self._recorder = Recorder(self._run_path)
            self._recorder.set_meta(
                run_id=self.run_id, created=_wall_time(), status="running",
                data_source=self.data_source, symbols=list(self.data.symbols),
                start=str(self.data.timestamp(0)), end=str(self.data.timestamp(len(self.data) - 1)),
                n_bars=len(self.data), seed=cfg.seed, config=_config_dict(cfg),
                agents=[s.name for s in self._slots], periods_per_year=self._periods,
            )
            self._recorder.add_agents(
                (s.index, s.name, s.spec, _params(s.agent)) for s in self._slots)
            self._flush_events()
            self._recorder.flush(force=True)
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
        self._thread = threading.Thread(target=self._loop, name=f"arena-{self.run_id}",
                                        daemon=True)
        self._busy = True
        self._thread.start()

    def _set_state(self, state: State, kind: str, message: str = "") -> None:
        self._state = state
        self._emit(kind, message=message or f"{kind.replace('competition_', '')} at bar {self._t}")
        self._cond.notify_all()

    def _loop(self) -> None:
        try:
            if not self._prepared:
                self._prepare()
            while True:
                budget = self._next_budget()
                if budget == 0:
                    break
                t_before = self._t
                started = self.clock.monotonic()
                self._advance(budget)
                with self._cond:
                    if self._state is State.PAUSED:
                        self._step_budget = max(0, self._step_budget - (self._t - t_before))
                    else:
                        self._step_budget = 0
                    self._cond.notify_all()
                elapsed = self.clock.monotonic() - started
                if elapsed > 0:
                    inst = (self._t - t_before) / elapsed
                    self._bars_per_second = inst if not self._bars_per_second else (
                        0.7 * self._bars_per_second + 0.3 * inst)
                if self._t >= self.n_bars:
                    with self._cond:
                        self._step_budget = 0
                        self._set_state(State.FINISHED, "competition_finished",
                                        message=f"finished after {self._t} bars")
                        self._finalise("finished")
                    break
        except Exception as exc:  # noqa: BLE001 - reported as an event, run ends cleanly
            with self._cond:
                self._error = f"engine error at bar {self._t}: {type(exc).__name__}: {exc}"
                self._emit("engine_error", message=self._error)
                self._state = State.STOPPED
                self._finalise("failed")
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _next_budget(self) -> int:
        """Wait until bars may be processed; 0 means the loop should end."""
        with self._cond:
            while True:
                if self._recorder is not None:
                    self._flush_events()
                    self._recorder.flush(force=self._state is not State.RUNNING)
                if self._stop_requested:
                    self._step_budget = 0
                    self._set_state(State.STOPPED, "competition_stopped")
                    self._finalise("stopped")
                    return 0
                if self._state is State.RUNNING:
                    if self._speed <= 0:
                        return self.n_bars
                    now = self.clock.monotonic()
                    if self._pace_origin is None:
                        self._pace_origin = (now, self._t)
                    t0, b0 = self._pace_origin
                    due = int((now - t0) * self._speed) + 1 - (self._t - b0)
                    if due > 0:
                        return min(due, max(1, int(self._speed)))
                    wake = t0 + (self._t - b0) / self._speed
                    self.clock.wait(self._cond, wake - now)
                    continue
                if self._state is State.PAUSED and self._step_budget > 0:
                    return self._step_budget
                if self._state in (State.STOPPED, State.FINISHED):
                    return 0
                self._cond.wait()

    def _finalise(self, status: str) -> None:
        self._publish_board(force=True)
        rec = self._recorder
        if rec is not None:
            board = self.leaderboard()
            leader = board["agent"].iloc[0] if not board.empty else ""
            self._flush_events()
            rec.set_meta(status=status, finished=_wall_time(), bars_processed=self._t,
                         leader=leader, leaderboard=board.to_dict("records"))
            rec.close()
            self._recorder = None

    # -- internals: events -----------------------------------------------------
    def _emit(self, kind: str, agent: str | None = None, message: str = "",
              bar: int | None = None) -> None:
        bar = (self._t - 1 if self._t else None) if bar is None else bar
        time = None if bar is None else self.data.times[bar]
        wall = _wall_time()
        agent_id = None if agent is None else self.agent_names.index(agent)
        with self._cond:
            self.streams.events.append((wall, bar, time, kind, agent, message))
            self._pending_events.append((wall, bar, kind, agent_id, message))

    def _flush_events(self) -> None:
        """Write queued events (engine thread only: it owns the recording)."""
        with self._cond:
            rows, self._pending_events = self._pending_events, []
        if self._recorder is not None and rows:
            self._recorder.add_events(rows)

    def _agent_error(self, s: _Slot, bar: int | None, message: str) -> None:
        s.errors += 1
        self._emit("agent_error", agent=s.name, message=message, bar=bar)

    # -- internals: the bar loop -----------------------------------------------
    def _advance(self, budget: int) -> None:
        """Process up to ``budget`` bars (a block on the fast path, else bar by bar)."""
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
            if self._stop_requested or self.clock.monotonic() - started > 0.2:
                break

    def _run_bars(self, t0: int, t1: int, use_decisions: bool) -> None:
        acc = self.accounts
        eq = self._equity[:, t0:t1]
        inv = self._invested[:, t0:t1]
        decisions = self._decisions if use_decisions else _NO_DECISIONS
        done, nf = acc.run(t0, t1, self.data.open, self.data.close, decisions, use_decisions,
                           eq, inv, self._fills)
        t1 = t0 + done
        with self._cond:
            self._publish(t0, t1, self._fills[:nf])
            self._t = t1
            self._cond.notify_all()

    def _decide(self, t: int) -> None:
        """Ask every agent for its decision at bar ``t``'s close (per-bar path)."""
        hist = History(self.data, t + 1)
        time = self.data.timestamp(t)
        lev = self.config.portfolio.max_leverage
        acc = self.accounts
        rows, rec_rows = [], []
        for s in self._slots:
            if s.signals is not None:
                row = s.signals[t]
                if not np.isnan(row).all():
                    acc.pending[s.index] = row
                continue
            obs = Observation(t, time, self.data.symbols, hist, PortfolioView(acc, s.index), lev)
            try:
                d = validate_decision(s.agent.decide(obs), self.data.symbols, lev)
            except DecisionError as exc:
                self._agent_error(s, t, f"invalid decision, holding: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - the competition goes on
                self._agent_error(s, t, f"decide() raised {type(exc).__name__}: {exc}; holding")
                continue
            if d.targets is not None:
                for sym, w in d.targets.items():
                    acc.pending[s.index, self.data.column(sym)] = float(w)
                acc.pending_force[s.index] = d.rebalance
            if self._is_news(s, d):
                rows.append((t, self.data.times[t], s.name, _fmt_targets(d.targets),
                             float(d.confidence), d.reasoning))
                rec_rows.append((t, s.index, _fmt_targets(d.targets), float(d.confidence),
                                 d.reasoning, None))
        self._publish_decisions(rows, rec_rows)

    def _is_news(self, s: _Slot, d: Decision) -> bool:
        """A decision worth a row: it changes a target, or the agent asks to log all."""
        if getattr(s.agent, "record_all_decisions", False) or d.rebalance:
            return True
        if d.targets is None:
            return False
        tgt = self.accounts.target[s.index]
        return any(float(w) != tgt[self.data.column(sym)] for sym, w in d.targets.items())

    def _vector_decisions(self, t0: int, t1: int) -> None:
        """Decision rows of signal-driven agents for bars ``t0..t1-1`` (changes only)."""
        rows, rec_rows = [], []
        for s in self._slots:
            if s.signals is None:
                continue
            lo, hi = np.searchsorted(s.changes, [t0, t1])
            for t in s.changes[lo:hi].tolist():
                row = s.signals[t]
                targets = {sym: float(row[j]) for j, sym in enumerate(self.data.symbols)
                           if not np.isnan(row[j])}
                reason = s.agent.explain(self.data, t)
                text = _fmt_targets(targets)
                rows.append((t, self.data.times[t], s.name, text, 1.0, reason))
                rec_rows.append((t, s.index, text, 1.0, reason, None))
        rows.sort(key=lambda r: r[0])
        rec_rows.sort(key=lambda r: r[0])
        self._publish_decisions(rows, rec_rows)

    def _publish_decisions(self, rows, rec_rows) -> None:
        if not rows:
            return
        self.streams.decisions.extend(rows)
        for r in rows:
            self._emit("decision", agent=r[2], message=f"targets {r[3]}: {r[5]}"[:300], bar=r[0])
        if self._recorder is not None:
            self._recorder.add_decisions(rec_rows)

    # -- internals: publishing -------------------------------------------------
    def _publish(self, t0: int, t1: int, fills: np.ndarray) -> None:
        if t1 <= t0:
            return
        data, st, rec = self.data, self.streams, self._recorder
        k, a = data.n_symbols, len(self._slots)
        times = data.times[t0:t1]
        m = t1 - t0
        bars = np.arange(t0, t1)
        # prices
        sym = np.tile(np.array(data.symbols, dtype=object), m)
        pb, pt = np.repeat(bars, k), np.repeat(times, k)
        cols = [data.open[t0:t1].ravel(), data.high[t0:t1].ravel(), data.low[t0:t1].ravel(),
                data.close[t0:t1].ravel(), data.volume[t0:t1].ravel()]
        st.prices.extend({"bar": pb, "time": pt, "symbol": sym, "open": cols[0],
                          "high": cols[1], "low": cols[2], "close": cols[3], "volume": cols[4]})
        if rec is not None:
            rec.add_bars(list(zip(pb.tolist(), iso(pt), sym.tolist(),
                                  *(c.tolist() for c in cols), strict=True)))
        # benchmark: equal-weight buy and hold from bar 0's close
        cash0 = self.config.portfolio.cash
        bench = cash0 * (data.close[t0:t1] / self._bench_start).mean(axis=1)
        st.benchmark.extend({"bar": bars, "time": times, "equity": bench,
                             "return_pct": (bench / cash0 - 1) * 100})
        # equity with running drawdown, per agent
        eq = self._equity[:, t0:t1]
        e_rows = {"bar": [], "time": [], "agent": [], "equity": [], "cash": [],
                  "return_pct": [], "drawdown_pct": []}
        rec_eq = []
        fills_by_agent = self._split_fills(fills)
        for s in self._slots:
            e = eq[s.index]
            peak = np.maximum.accumulate(np.concatenate(([s.peak], e)))[1:]
            s.peak = float(peak[-1])
            dd = (e / peak - 1) * 100
            cash = self._cash_path(s.index, t0, t1, fills_by_agent.get(s.index))
            e_rows["bar"].append(bars)
            e_rows["time"].append(times)
            e_rows["agent"].append(np.full(m, s.name, dtype=object))
            e_rows["equity"].append(e)
            e_rows["cash"].append(cash)
            e_rows["return_pct"].append((e / cash0 - 1) * 100)
            e_rows["drawdown_pct"].append(dd)
            if rec is not None:
                rec_eq.append((bars, np.full(m, s.index), e, cash, dd,
                               self._invested[s.index, t0:t1].astype(int)))
            self._update_stats(s, t0, t1, fills_by_agent.get(s.index))
        # interleave agents per bar: (bar0: a0, a1, ...), (bar1: ...)
        order = np.arange(m * a).reshape(a, m).T.ravel()
        st.equity.extend({c: np.concatenate(v)[order] for c, v in e_rows.items()})
        if rec is not None:
            stacked = [np.concatenate(col)[order] for col in zip(*rec_eq, strict=True)]
            rec.add_equity(zip(*(c.tolist() for c in stacked), strict=True))
        self._publish_fills(fills)
        self._vector_decisions(t0, t1)
        self._publish_progress(t1)
        self._publish_board(force=False)
        if rec is not None:
            rec.flush()

    def _split_fills(self, fills: np.ndarray) -> dict[int, np.ndarray]:
        if not len(fills):
            return {}
        ag = fills[:, F_AGENT].astype(int)
        return {int(i): fills[ag == i] for i in np.unique(ag)}

    def _cash_path(self, a: int, t0: int, t1: int, fills: np.ndarray | None) -> np.ndarray:
        """Cash at each close of a block, rebuilt backwards from the final cash."""
        m = t1 - t0
        flow = np.zeros(m)
        if fills is not None and len(fills):
            signed = np.where(fills[:, F_SIDE] > 0, -1.0, 1.0) * fills[:, F_QTY] * fills[:, F_PRICE]
            np.add.at(flow, fills[:, F_BAR].astype(int) - t0, signed - fills[:, F_FEE])
        end = self.accounts.cash[a]
        # cash after bar i = end - sum of flows after bar i
        after = np.concatenate((np.cumsum(flow[::-1])[::-1][1:], [0.0]))
        return end - after

    def _update_stats(self, s: _Slot, t0: int, t1: int, fills: np.ndarray | None) -> None:
        e = self._equity[s.index, t0:t1]
        inv = self._invested[s.index, t0:t1]
        fees = np.zeros(t1 - t0)
        pnls: dict[int, list[float]] = {}
        if fills is not None and len(fills):
            off = fills[:, F_BAR].astype(int) - t0
            np.add.at(fees, off, fills[:, F_FEE])
            for o, x, p in zip(off, fills[:, F_EXIT], fills[:, F_PNL], strict=True):
                if x:
                    pnls.setdefault(int(o), []).append(float(p))
        start = 1 if t0 == 0 else 0  # bar 0 is the stats' starting point
        if start < t1 - t0:
            s.stats.update_many(self.data.times[t0 + start:t1], e[start:], inv[start:],
                                fees[start:], {o - start: v for o, v in pnls.items()
                                               if o >= start})

    def _publish_fills(self, fills: np.ndarray) -> None:
        if not len(fills):
            return
        data = self.data
        rows, rec_rows = [], []
        for f in fills:
            a, bar, j = int(f[F_AGENT]), int(f[F_BAR]), int(f[F_SYMBOL])
            s = self._slots[a]
            side = "buy" if f[F_SIDE] > 0 else "sell"
            action = "exit" if f[F_EXIT] else "entry"
            pnl = None if math.isnan(f[F_PNL]) else float(f[F_PNL])
            row = (bar, data.times[bar], s.name, data.symbols[j], side, float(f[F_QTY]),
                   float(f[F_PRICE]), float(f[F_FEE]), action, pnl, float(f[F_POS]))
            rows.append(row)
            rec_rows.append((bar, a, data.symbols[j], side, float(f[F_QTY]), float(f[F_PRICE]),
                             float(f[F_FEE]), action, pnl, float(f[F_POS])))
            s.last_action = f"{side} {f[F_QTY]:g} {data.symbols[j]} @ {f[F_PRICE]:.2f}"
            msg = f"{s.last_action} ({action}" + (f", pnl {pnl:+.2f})" if pnl is not None else ")")
            self._emit("trade", agent=s.name, message=msg, bar=bar)
        self._fills_log.extend(rows)
        self.streams.trades.extend(rows)
        if self._recorder is not None:
            self._recorder.add_trades(rec_rows)

    def _publish_progress(self, t1: int) -> None:
        frac = t1 / self.n_bars
        if frac >= self._next_progress and t1 < self.n_bars:
            self._emit("progress", message=f"{frac:.0%} ({t1}/{self.n_bars} bars)")
            while self._next_progress <= frac:
                self._next_progress += self.config.progress_every

    def _publish_board(self, force: bool) -> None:
        """Leaderboard and positions; at most 10 times a second unless forced."""
        now = self.clock.monotonic()
        if not force and now - self._last_board < 0.1 and self._t < self.n_bars:
            return
        self._last_board = now
        if not self._t or self._slots[0].stats is None:
            return
        bench = buy_and_hold_return(self.data.close[: self._t])
        cash0 = self.config.portfolio.cash
        board = []
        for s in self._slots:
            snap = s.stats.snapshot(benchmark=bench)
            eq = float(self._equity[s.index, self._t - 1])
            board.append({
                "agent": s.name, "equity": eq, "pnl": eq - cash0,
                "return_pct": snap["return_pct"], "sharpe": snap["sharpe"],
                "max_drawdown_pct": snap["max_drawdown_pct"],
                "win_rate_pct": snap["win_rate_pct"], "trades": int(snap["trades"]),
                "fees": snap["fees"], "exposure_pct": snap["exposure_pct"],
                "errors": s.errors, "last_action": s.last_action,
            })
        order = sorted(range(len(board)), key=lambda i: -board[i]["equity"])
        for rank, i in enumerate(order, 1):
            board[i]["rank"] = rank
        self.streams.leaderboard.upsert_many(board)
        acc, last = self.accounts, self.data.close[self._t - 1]
        pos = []
        for s in self._slots:
            unreal = acc.unrealised(s.index, last)
            for j, sym in enumerate(self.data.symbols):
                q = float(acc.qty[s.index, j])
                pos.append({"agent": s.name, "symbol": sym, "quantity": q,
                            "avg_price": float(acc.avg[s.index, j]), "last_price": float(last[j]),
                            "market_value": q * float(last[j]),
                            "unrealised_pnl": float(unreal[j]),
                            "realised_pnl": float(acc.realised[s.index, j])})
        self.streams.positions.upsert_many(pos)


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

"""Replay a recording like a video, through the same streams a live competition feeds.

``Replay(run)`` opens ``runs/<run-id>/arena.sqlite`` (or a directory or file) and
offers what the dashboard uses from a :class:`~arena.engine.Competition` —
``streams``, ``status()``, ``start/pause/resume/step/stop/reset``, ``speed``,
``history()``, ``agent_names``, ``data``, ``leaderboard()``, ``trades_frame()`` —
plus :meth:`Replay.seek`. The position ``t`` counts bars shown, as
``Competition.bar`` counts bars processed: at ``t`` the streams hold exactly
what a live competition had published after ``t`` bars (equity, trades and
decisions of bars ``< t``, the leaderboard and positions as of bar ``t − 1``'s
close), never anything later. A seek clears every stream (their epochs bump,
so viewers reload) and refills it from the recording.

A recording that is still being written is followed: playing past its last
bar waits for the writer's next commit (``follow``), and :meth:`Replay.refresh`
reads what was committed since.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from arena.channels import CompetitionStreams
from arena.data.market import MarketData
from arena.engine import CompetitionConfig, State, StateError
from arena.metrics import RunningStats, compute_stats
from arena.portfolio import PortfolioConfig
from arena.recorder import DB_NAME, Recording, RecordingError
from streams.decimate import envelope_indices

__all__ = ["DEFAULT_BASE_SPEED", "Replay", "resolve_run"]

#: bars per second of "1x" for a run recorded as fast as possible
DEFAULT_BASE_SPEED = 20.0
_MAX_CHUNK = 2048  # bars per step of the playing thread at "as fast as possible"
_BOARD_EVERY = 0.1  # seconds between leaderboard updates while playing
_FOLLOW_POLL = 0.5  # seconds between reads of a recording still being written


def resolve_run(run: str | Path, run_dir: str | Path = "runs") -> Path:
    """The database of ``run``: a run directory, an ``arena.sqlite`` file, or a run
    id under ``run_dir``. Raises :class:`RecordingError` naming what was tried."""
    p = Path(run)
    for candidate in (p, Path(run_dir) / str(run)):
        if candidate.is_file():
            return candidate
        if (candidate / DB_NAME).is_file():
            return candidate / DB_NAME
    root = Path(run_dir)
    known = sorted(d.parent.name for d in root.glob(f"*/{DB_NAME}")) if root.is_dir() else []
    hint = (f"; runs in {root}/: {', '.join(known[-5:])}" if known
            else f"; {root}/ holds no recordings")
    raise RecordingError(f"no recording {str(run)!r} (looked for {p / DB_NAME} and "
                         f"{Path(run_dir) / str(run) / DB_NAME}){hint}")


class _Table:
    """Rows of trades, decisions or events with the bar count at which each becomes
    visible; ``upto(t)`` are the rows visible after ``t`` bars, in recording order."""

    def __init__(self, frame: pd.DataFrame, visible_at: np.ndarray):
        self.frame = frame.reset_index(drop=True)
        self.cols = {c: self.frame[c].to_numpy() for c in self.frame.columns}
        self.visible_at = np.asarray(visible_at, dtype=np.int64)
        self.order = np.argsort(self.visible_at, kind="stable")
        self.sorted_at = self.visible_at[self.order]

    def upto(self, t: int) -> np.ndarray:
        """Row positions visible after ``t`` bars (a visible row never disappears)."""
        return self.order[: np.searchsorted(self.sorted_at, t, side="right")]

    def between(self, t0: int, t1: int) -> np.ndarray:
        """Rows that become visible when going from ``t0`` to ``t1`` bars."""
        lo, hi = np.searchsorted(self.sorted_at, [t0, t1], side="right")
        return self.order[lo:hi]


class _Tape:
    """Everything read from the recording, as arrays (bars × agents)."""

    def __init__(self, rec: Recording):
        self.rec = rec
        self.meta = rec.meta
        agents = rec.agents()
        self.agent_ids = agents["id"].to_numpy()
        self.names = agents["name"].tolist()
        self.name_array = np.array(self.names, dtype=object)
        self._pos = {int(i): k for k, i in enumerate(self.agent_ids)}
        self.symbols = tuple(self.meta.get("symbols") or ())
        self.n_bars = 0
        self.last_ids = {"trades": 0, "decisions": 0, "events": 0}
        a, k = len(self.names), len(self.symbols)
        self.times = np.zeros(0, dtype="datetime64[ns]")
        self.ohlcv = {f: np.zeros((0, k)) for f in ("open", "high", "low", "close", "volume")}
        self.equity = np.zeros((a, 0))
        self.cash = np.zeros((a, 0))
        self.drawdown = np.zeros((a, 0))
        self.invested = np.zeros((a, 0), dtype=bool)
        self.fees = np.zeros((a, 0))
        self.raw = {name: pd.DataFrame() for name in self.last_ids}
        self._index_tables()
        self.read()

    # -- reading ---------------------------------------------------------------------
    def read(self) -> bool:
        """Read what was committed since the last read; True if bars were added."""
        rec = self.rec
        with rec.snapshot():
            status = rec.db.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()
            bars = rec.bar_rows(self.n_bars)
            eq = rec.equity_arrays(self.n_bars)
            new = {name: rec.rows_after(name, self.last_ids[name]) for name in self.last_ids}
        self.status = json.loads(status[0]) if status else "running"
        a = len(self.names)
        if not a:
            return False
        counts = np.bincount(eq["bar"] - self.n_bars) if len(eq) else np.zeros(0, int)
        complete = np.flatnonzero(counts != a)
        n_eq = self.n_bars + (int(complete[0]) if len(complete) else len(counts))
        n_px = int(bars["bar"].max()) + 1 if len(bars) else self.n_bars
        n = min(n_eq, n_px)
        if n <= self.n_bars:
            return False
        self._add_bars(bars[bars["bar"] < n], n)
        self._add_equity(eq[eq["bar"] < n], n)
        for name, df in new.items():
            if len(df):
                self.last_ids[name] = int(df["id"].max())
                self.raw[name] = pd.concat([self.raw[name], df], ignore_index=True) \
                    if len(self.raw[name]) else df
        self.n_bars = n
        self._index_tables()
        return True

    def _add_bars(self, bars: pd.DataFrame, n: int) -> None:
        m, k = n - self.n_bars, len(self.symbols)
        col = bars["symbol"].map({s: j for j, s in enumerate(self.symbols)}).to_numpy()
        row = bars["bar"].to_numpy() - self.n_bars
        for f in self.ohlcv:
            block = np.full((m, k), np.nan)
            block[row, col] = bars[f].to_numpy(dtype=float)
            self.ohlcv[f] = np.concatenate([self.ohlcv[f], block])
        first = bars.drop_duplicates("bar")
        times = pd.to_datetime(first["time"], utc=True).dt.tz_localize(None)
        self.times = np.concatenate([self.times, times.to_numpy(dtype="datetime64[ns]")])

    def _add_equity(self, eq: np.ndarray, n: int) -> None:
        m, a = n - self.n_bars, len(self.names)
        order = np.argsort([self._pos[int(i)] for i in eq["agent"][:a]]) if a > 1 else [0]
        def grid(field):
            return eq[field].reshape(m, a)[:, order].T
        self.equity = np.concatenate([self.equity, grid("equity")], axis=1)
        self.cash = np.concatenate([self.cash, grid("cash")], axis=1)
        self.drawdown = np.concatenate([self.drawdown, grid("drawdown_pct")], axis=1)
        self.invested = np.concatenate([self.invested, grid("invested").astype(bool)], axis=1)

    def _index_tables(self) -> None:
        """Visibility, positions and per-bar fees from the raw rows (all of them)."""
        n, a = self.n_bars, len(self.names)
        tr = self.raw["trades"]
        if len(tr):
            tr = tr[tr["bar"] < n]
        self.trades = _Table(tr, (tr["bar"].to_numpy() + 1) if len(tr) else [])
        self.fees = np.zeros((a, n))
        self.trade_pos = self.trade_sym = np.zeros(0, dtype=np.int64)
        self.trade_avg = self.trade_realised = np.zeros(0)
        if len(tr):
            pos = tr["agent"].map(self._pos).to_numpy()
            np.add.at(self.fees, (pos, tr["bar"].to_numpy()), tr["fee"].to_numpy(dtype=float))
            self._book_positions(tr, pos)
        dec = self.raw["decisions"]
        if len(dec):
            dec = dec[dec["bar"] < n]
        # a decision at bar b's close is known once bar b is shown
        self.decisions = _Table(dec, (dec["bar"].to_numpy() + 1) if len(dec) else [])
        ev = self.raw["events"]
        bar = ev["bar"].to_numpy(dtype=float) if len(ev) else np.zeros(0)
        keep = np.isnan(bar) | (bar < n)
        ev, bar = ev[keep], bar[keep]
        # an event without a bar shows once every event recorded before it shows
        at = np.where(np.isnan(bar), -1, bar + 1)
        before = np.maximum.accumulate(np.concatenate(([0.0], at[:-1]))) if len(at) else at
        at = np.where(np.isnan(bar), np.maximum(before, 0), at)
        self.events = _Table(ev, at.astype(np.int64))

    def _book_positions(self, tr: pd.DataFrame, pos: np.ndarray) -> None:
        """Quantity, average price and realised pnl of each (agent, symbol) after each
        fill, by the accounting kernel's rules (arena/portfolio.py ``_fill``)."""
        m = len(tr)
        sym = tr["symbol"].map({s: j for j, s in enumerate(self.symbols)}).to_numpy()
        side = np.where(tr["side"].to_numpy() == "buy", 1.0, -1.0)
        qty = tr["quantity"].to_numpy(dtype=float)
        px = tr["price"].to_numpy(dtype=float)
        exit_ = tr["action"].to_numpy() == "exit"
        pnl = tr["pnl"].to_numpy(dtype=float)
        after_q = tr["position"].to_numpy(dtype=float)
        avg_out, real_out = np.zeros(m), np.zeros(m)
        avg: dict[tuple, float] = {}
        real: dict[tuple, float] = {}
        held: dict[tuple, float] = {}
        for i in range(m):
            key = (pos[i], sym[i])
            q, p = held.get(key, 0.0), avg.get(key, 0.0)
            if exit_[i]:
                real[key] = real.get(key, 0.0) + pnl[i]
                if after_q[i] == 0.0:
                    p = 0.0
            else:
                p = (p * abs(q) + px[i] * qty[i]) / abs(after_q[i]) if q * side[i] >= 0 else px[i]
            avg[key], held[key] = p, after_q[i]
            avg_out[i], real_out[i] = p, real.get(key, 0.0)
        self.trade_pos, self.trade_sym = pos, sym
        self.trade_avg, self.trade_realised = avg_out, real_out

    def position_of(self, agent_ids) -> np.ndarray:
        """Agent ids → positions in ``names``."""
        return np.array([self._pos[int(i)] for i in agent_ids], dtype=np.int64)

    def market_data(self) -> MarketData:
        o = self.ohlcv
        return MarketData(self.times, self.symbols, o["open"], o["high"], o["low"], o["close"],
                          o["volume"], source=str(self.meta.get("data_source", "recording")))


def _config(meta: dict) -> CompetitionConfig:
    raw = dict(meta.get("config") or {})
    pf = PortfolioConfig(**raw.pop("portfolio", {}))
    known = {f for f in CompetitionConfig.__dataclass_fields__}
    return CompetitionConfig(portfolio=pf, **{k: v for k, v in raw.items() if k in known})


class Replay:
    """A recording played through :class:`~arena.channels.CompetitionStreams`.

    ``run``: a run directory, its ``arena.sqlite``, or a run id under ``run_dir``.
    ``at``: the first position (bars shown, or ``"end"``). ``speed``: bars per
    second (0 = as fast as possible; default 1x = :attr:`base_speed`).
    ``follow``: keep reading a recording that is still being written.
    """

    def __init__(self, run: str | Path, run_dir: str | Path = "runs", at: int | str = 0,
                 speed: float | None = None, follow: bool = True,
                 stream_maxlen: int | None = 200_000):
        self.path = resolve_run(run, run_dir)
        self.recording = Recording(self.path)
        try:
            self._tape = _Tape(self.recording)
        except Exception as exc:
            self.recording.close()
            raise RecordingError(f"{self.path}: cannot be replayed: {type(exc).__name__}: "
                                 f"{exc}") from exc
        meta = self._tape.meta
        if not self._tape.names:
            self.recording.close()
            raise RecordingError(f"{self.path}: the recording has no agents")
        self.run_id = str(meta.get("run_id", self.path.parent.name))
        self.data_source = str(meta.get("data_source", ""))
        self.config = _config(meta)
        self.follow = follow
        self.streams = CompetitionStreams(maxlen=stream_maxlen)
        self._periods = float(meta.get("periods_per_year") or 252.0)
        self._cond = threading.Condition(threading.RLock())
        recorded = float(self.config.speed or 0.0)
        self.base_speed = recorded if recorded > 0 else DEFAULT_BASE_SPEED
        self._speed = self.base_speed if speed is None else self._checked_speed(speed)
        self._state = State.PAUSED
        self._t = 0
        self._closing = False
        self._thread: threading.Thread | None = None
        self._pace: tuple[float, int] | None = None
        self._board_at = 0.0
        self._stats: list[RunningStats] = []
        self._data = self._tape.market_data()
        self.seek(self.n_bars if at == "end" else int(at))

    # -- what the dashboard reads ------------------------------------------------------
    @property
    def data(self) -> MarketData:
        """The recorded bars (so far) as market data."""
        return self._data

    @property
    def agent_names(self) -> list[str]:
        return list(self._tape.names)

    @property
    def state(self) -> State:
        return self._state

    @property
    def bar(self) -> int:
        """Bars shown so far (the position ``t``)."""
        return self._t

    @property
    def n_bars(self) -> int:
        """Bars in the recording so far."""
        return self._tape.n_bars

    @property
    def recording_status(self) -> str:
        """The writer's status: running, finished, stopped or failed."""
        return self._tape.status

    @property
    def live(self) -> bool:
        """True while the recording is still being written."""
        return self._tape.status == "running"

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, bars_per_second: float) -> None:
        v = self._checked_speed(bars_per_second)
        with self._cond:
            self._speed = v
            self._pace = None
            self._cond.notify_all()

    @staticmethod
    def _checked_speed(value) -> float:
        v = float(value)
        if not v >= 0 or not math.isfinite(v):
            raise ValueError(f"speed must be >= 0 bars per second (0 = as fast as possible), "
                             f"got {value!r}")
        return v

    def status(self) -> dict:
        """State, position and speed as plain values (the shape of Competition.status)."""
        with self._cond:
            t, n = self._t, self.n_bars
            return {
                "run_id": self.run_id, "state": self._state.value, "bar": t, "bars": n,
                "time": None if not t else self._data.timestamp(t - 1).isoformat(),
                "progress": t / n if n else 0.0, "speed": self._speed,
                "bars_per_second": self._speed if self._state is State.RUNNING else 0.0,
                "error": None, "mode": "replay", "recording": self._tape.status,
                "base_speed": self.base_speed,
            }

    # -- commands ------------------------------------------------------------------------
    def start(self) -> None:
        """Play from the current position (from the start if at the end)."""
        with self._cond:
            if self._state is State.RUNNING:
                raise StateError("cannot start: the replay is already playing")
            if self._state is State.STOPPED:
                raise StateError("cannot start: the replay is closed")
            if self._t >= self.n_bars and not (self.follow and self.live):
                self.seek(0)
            self._state = State.RUNNING
            self._pace = None
            self._launch()
            self._cond.notify_all()

    resume = start

    def pause(self) -> None:
        with self._cond:
            if self._state is not State.RUNNING:
                raise StateError(f"cannot pause: the replay is {self._state.value}")
            self._state = State.PAUSED
            self._publish_board(force=True)
            self._cond.notify_all()

    def step(self, bars: int = 1, wait: bool = True, timeout: float | None = None) -> int:
        """Show ``bars`` more bars (paused or at the end); returns the position."""
        if bars < 1:
            raise ValueError(f"step needs bars >= 1, got {bars}")
        with self._cond:
            if self._state is State.RUNNING:
                raise StateError("cannot step: the replay is playing (pause first)")
            if self._state is State.STOPPED:
                raise StateError("cannot step: the replay is closed")
            if self._t >= self.n_bars and self.follow:
                self.refresh()
            self._advance(min(self.n_bars, self._t + bars))
            self._publish_board(force=True)
            self._state = State.FINISHED if self._at_end() else State.PAUSED
            return self._t

    def seek(self, bar: int) -> int:
        """Show the state after ``bar`` bars (clamped to 0..n_bars); keeps playing if
        it was. Every stream is rebuilt: its epoch bumps and readers reload."""
        with self._cond:
            if self._state is State.STOPPED:
                raise StateError("cannot seek: the replay is closed")
            t = max(0, min(int(bar), self.n_bars))
            self._t = t
            self._rebuild()
            self._pace = None
            if self._state is not State.RUNNING:
                self._state = State.FINISHED if self._at_end() else State.PAUSED
            self._cond.notify_all()
            return t

    def seek_time(self, when) -> int:
        """Seek to the last bar at or before ``when`` (a time; UTC if naive)."""
        ts = pd.Timestamp(when)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        t = int(np.searchsorted(self._data.times, ts.tz_localize(None).to_datetime64(),
                                side="right"))
        return self.seek(t)

    def stop(self) -> None:
        """Stop playing and close the recording."""
        with self._cond:
            if self._state is State.STOPPED:
                return
            self._closing = True
            self._state = State.STOPPED
            self._cond.notify_all()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(5)
        self.recording.close()

    close = stop

    def reset(self) -> None:
        """Back to bar 0, paused."""
        with self._cond:
            if self._state is State.RUNNING:
                self._state = State.PAUSED
            self.seek(0)

    def refresh(self) -> bool:
        """Read rows the writer committed since the last read; True if bars were added."""
        with self._cond:
            if self._state is State.STOPPED or not self._tape.read():
                return False
            self._data = self._tape.market_data()
            if self._state is State.FINISHED and self._t < self.n_bars:
                self._state = State.PAUSED
            return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self) -> str:
        return (f"Replay({self.run_id!r}, bar {self._t}/{self.n_bars}, {self._state.value}, "
                f"agents {', '.join(self.agent_names)})")

    # -- results at the position ---------------------------------------------------------
    def leaderboard(self) -> pd.DataFrame:
        """The leaderboard as of the position (ranked by equity)."""
        df = self.streams.leaderboard.snapshot()
        return df if df.empty else df.sort_values("rank").reset_index(drop=True)

    def positions(self) -> pd.DataFrame:
        return self.streams.positions.snapshot()

    def equity_frame(self) -> pd.DataFrame:
        """Equity per agent (columns) at each shown bar's close (UTC index)."""
        with self._cond:
            t = self._t
            idx = pd.DatetimeIndex(self._tape.times[:t]).tz_localize("UTC")
            return pd.DataFrame(self._tape.equity[:, :t].T, index=idx, columns=self.agent_names)

    def trades_frame(self) -> pd.DataFrame:
        """Every fill shown so far (not bounded like the stream)."""
        with self._cond:
            rows = self._trade_rows(np.sort(self._tape.trades.upto(self._t)))
        out = pd.DataFrame(rows, columns=list(self.streams.trades.columns))
        out["time"] = pd.DatetimeIndex(out["time"]).tz_localize("UTC")
        return out

    def stats(self, agent: str | None = None) -> pd.DataFrame | pd.Series:
        """Full statistics at the position, from scratch (``arena.metrics``)."""
        from arena.metrics import buy_and_hold_return

        with self._cond:
            t = self._t
            if not t:
                raise ValueError("no bars shown yet: seek forward first")
            eq, trades = self.equity_frame(), self.trades_frame()
            bench = buy_and_hold_return(self._tape.ohlcv["close"][:t])
            out = {name: compute_stats(eq[name], trades[trades["agent"] == name],
                                       invested=self._tape.invested[i, :t], benchmark=bench,
                                       periods_per_year=self._periods)
                   for i, name in enumerate(self.agent_names)
                   if agent is None or name == agent}
        if agent is not None:
            if agent not in out:
                raise KeyError(f"unknown agent {agent!r}; have {', '.join(self.agent_names)}")
            return out[agent]
        return pd.DataFrame(out)

    def history(self, name: str, max_points: int = 2000) -> tuple[pd.DataFrame, int]:
        """Decimated rows of ``equity``, ``benchmark`` or ``prices`` for every bar shown
        so far and the stream cursor they cover (as :meth:`Competition.history`)."""
        if name not in ("equity", "benchmark", "prices"):
            raise ValueError(f"no history for {name!r}; have equity, benchmark, prices")
        tape = self._tape
        with self._cond:
            t = self._t
            cursor = getattr(self.streams, name).total
            close = tape.ohlcv["close"][:t]
            values = {"equity": tape.equity[:, :t].T, "prices": close,
                      "benchmark": close / close[0] if t else close}[name]
            idx = envelope_indices(values, max_points) if t else np.zeros(0, dtype=int)
            rows = {"equity": self._equity_rows, "prices": self._price_rows,
                    "benchmark": self._benchmark_rows}[name](idx)
        frame = pd.DataFrame(rows)
        frame["time"] = pd.DatetimeIndex(frame["time"]).tz_localize("UTC")
        return frame, cursor

    # -- internals: rows -----------------------------------------------------------------
    def _at_end(self) -> bool:
        return self._t >= self.n_bars and not (self.follow and self.live)

    def _price_rows(self, idx: np.ndarray) -> dict:
        tape, k = self._tape, len(self._tape.symbols)
        return {
            "bar": np.repeat(idx, k), "time": np.repeat(tape.times[idx], k),
            "symbol": np.tile(np.array(tape.symbols, dtype=object), len(idx)),
            **{f: tape.ohlcv[f][idx].ravel() for f in ("open", "high", "low", "close", "volume")}}

    def _benchmark_rows(self, idx: np.ndarray) -> dict:
        tape, cash0 = self._tape, self.config.portfolio.cash
        close = tape.ohlcv["close"]
        eq = cash0 * (close[idx] / close[0]).mean(axis=1) if len(idx) else np.zeros(0)
        return {"bar": idx, "time": tape.times[idx], "equity": eq,
                "return_pct": (eq / cash0 - 1) * 100}

    def _equity_rows(self, idx: np.ndarray) -> dict:
        """Rows for bars ``idx``, agents interleaved per bar (as the engine publishes)."""
        tape, cash0 = self._tape, self.config.portfolio.cash
        a = len(tape.names)
        e = tape.equity[:, idx].T.ravel()
        return {
            "bar": np.repeat(idx, a), "time": np.repeat(tape.times[idx], a),
            "agent": np.tile(np.array(tape.names, dtype=object), len(idx)),
            "equity": e, "cash": tape.cash[:, idx].T.ravel(),
            "return_pct": (e / cash0 - 1) * 100, "drawdown_pct": tape.drawdown[:, idx].T.ravel()}

    def _trade_rows(self, rows: np.ndarray) -> dict:
        tape = self._tape
        cols = tape.trades.cols
        if not cols:
            return {c: np.zeros(0, dtype=object) for c in self.streams.trades.columns}
        bars = cols["bar"][rows].astype(np.int64)
        out = {"bar": bars, "time": tape.times[bars], "agent": tape.name_array[tape.trade_pos[rows]]}
        for c in ("symbol", "side", "quantity", "price", "fee", "action", "pnl", "position"):
            out[c] = cols[c][rows]
        out["pnl"] = out["pnl"].astype(float)
        return out

    def _decision_rows(self, rows: np.ndarray) -> dict:
        tape = self._tape
        cols = tape.decisions.cols
        bars = cols["bar"][rows].astype(np.int64)
        return {"bar": bars, "time": tape.times[bars],
                "agent": tape.name_array[tape.position_of(cols["agent"][rows])],
                "targets": cols["targets"][rows], "confidence": cols["confidence"][rows],
                "reasoning": cols["reasoning"][rows]}

    def _event_rows(self, rows: np.ndarray) -> dict:
        tape = self._tape
        df = tape.events.frame.iloc[rows]
        bars = [None if b != b else int(b) for b in df["bar"].tolist()]
        agents = [None if a is None or a != a else tape.names[tape._pos[int(a)]]
                  for a in df["agent"].tolist()]
        return {"wall_time": df["wall_time"].tolist(), "bar": bars,
                "time": [None if b is None else tape.times[b] for b in bars],
                "kind": df["kind"].tolist(), "agent": agents, "message": df["message"].tolist()}

    def _append(self, t0: int, t1: int, keep: int | None) -> None:
        """Append to the streams what bars ``t0..t1-1`` add (only the newest ``keep``
        bars of the append-only chart streams when given)."""
        st, tape = self.streams, self._tape
        lo = t0 if keep is None else max(t0, t1 - keep)
        idx = np.arange(lo, t1)
        if len(idx):
            st.prices.extend(self._price_rows(idx))
            st.benchmark.extend(self._benchmark_rows(idx))
            st.equity.extend(self._equity_rows(idx))
        for table, rows_of in ((tape.trades, self._trade_rows),
                               (tape.decisions, self._decision_rows),
                               (tape.events, self._event_rows)):
            rows = table.between(t0, t1)
            if keep is not None:
                rows = rows[-(st.events_maxlen if table is tape.events else st.maxlen):]
            if len(rows):
                data = rows_of(rows)
                (st.trades if table is tape.trades else
                 st.decisions if table is tape.decisions else st.events).extend(data)

    def _rebuild(self) -> None:
        """Streams and statistics as of ``self._t``, from the recording."""
        t, tape = self._t, self._tape
        self.streams.clear()
        maxlen = self.streams.maxlen
        keep = None if maxlen is None else max(1, maxlen // max(len(tape.names),
                                                                len(tape.symbols), 1))
        self._append(0, t, keep)
        self._stats = []
        self._update_stats(1, t)
        self._publish_board(force=True)

    def _update_stats(self, t0: int, t1: int) -> None:
        """Add bars ``t0..t1-1`` (never bar 0, the starting point) to the statistics."""
        tape = self._tape
        if not self._stats and t1 > 0:
            start = pd.Timestamp(tape.times[0]).tz_localize("UTC")
            self._stats = [RunningStats(self.config.portfolio.cash, start, self._periods)
                           for _ in tape.names]
        t0 = max(t0, 1)
        if t1 <= t0:
            return
        tr = tape.trades
        rows = tr.between(t0, t1)  # trades of bars t0..t1-1
        frame = tr.frame.iloc[rows]
        exits = frame[frame["action"] == "exit"] if len(frame) else frame
        by_agent: dict[int, dict[int, list[float]]] = {}
        for aid, b, p in zip(exits.get("agent", []), exits.get("bar", []), exits.get("pnl", []),
                             strict=True):
            by_agent.setdefault(tape._pos[int(aid)], {}).setdefault(int(b) - t0, []).append(
                float(p))
        times = tape.times[t0:t1]
        for i, s in enumerate(self._stats):
            s.update_many(times, tape.equity[i, t0:t1], tape.invested[i, t0:t1],
                          tape.fees[i, t0:t1], by_agent.get(i, {}))

    def _publish_board(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._board_at < _BOARD_EVERY:
            return
        self._board_at = now
        t, tape = self._t, self._tape
        if not t or not self._stats:
            return
        cash0 = self.config.portfolio.cash
        trades = tape.trades.upto(t)
        errors = self._errors(t)
        last_action = {}
        frame = tape.trades.frame
        if len(trades):
            last = frame.iloc[trades].groupby("agent", sort=False).tail(1)
            for aid, side, q, sym, p in zip(last["agent"], last["side"], last["quantity"],
                                            last["symbol"], last["price"], strict=True):
                last_action[tape._pos[int(aid)]] = f"{side} {q:g} {sym} @ {p:.2f}"
        board = []
        for i, (name, s) in enumerate(zip(tape.names, self._stats, strict=True)):
            snap = s.snapshot()
            eq = float(tape.equity[i, t - 1])
            board.append({
                "agent": name, "equity": eq, "pnl": eq - cash0,
                "return_pct": snap["return_pct"], "sharpe": snap["sharpe"],
                "max_drawdown_pct": snap["max_drawdown_pct"],
                "win_rate_pct": snap["win_rate_pct"], "trades": int(snap["trades"]),
                "fees": snap["fees"], "exposure_pct": snap["exposure_pct"],
                "errors": errors.get(name, 0), "last_action": last_action.get(i, "")})
        order = sorted(range(len(board)), key=lambda i: -board[i]["equity"])
        for rank, i in enumerate(order, 1):
            board[i]["rank"] = rank
        self.streams.leaderboard.upsert_many(board)
        self.streams.positions.upsert_many(self._positions(trades))

    def _errors(self, t: int) -> dict[str, int]:
        ev = self._tape.events
        rows = ev.frame.iloc[ev.upto(t)]
        errs = rows[rows["kind"] == "agent_error"] if len(rows) else rows
        counts = errs["agent"].value_counts() if len(errs) else {}
        names = self._tape.names
        return {names[self._tape._pos[int(a)]]: int(c) for a, c in dict(counts).items()}

    def _positions(self, trades: np.ndarray) -> list[dict]:
        tape, t = self._tape, self._t
        last = tape.ohlcv["close"][t - 1]
        k = len(tape.symbols)
        qty = np.zeros((len(tape.names), k))
        avg, real = np.zeros_like(qty), np.zeros_like(qty)
        if len(trades):
            done = np.sort(trades)  # recording order: the last fill of a pair wins
            pos, sym = tape.trade_pos[done], tape.trade_sym[done]
            qty[pos, sym] = tape.trades.frame["position"].to_numpy(dtype=float)[done]
            avg[pos, sym] = tape.trade_avg[done]
            real[pos, sym] = tape.trade_realised[done]
        out = []
        for i, name in enumerate(tape.names):
            for j, symbol in enumerate(tape.symbols):
                q, lp = float(qty[i, j]), float(last[j])
                out.append({"agent": name, "symbol": symbol, "quantity": q,
                            "avg_price": float(avg[i, j]), "last_price": lp,
                            "market_value": q * lp,
                            "unrealised_pnl": q * (lp - float(avg[i, j])) if q else 0.0,
                            "realised_pnl": float(real[i, j])})
        return out

    # -- internals: playing ---------------------------------------------------------------
    def _advance(self, t1: int) -> None:
        t0 = self._t
        if t1 <= t0:
            return
        self._append(t0, t1, keep=None)
        self._update_stats(t0, t1)
        self._t = t1
        self._publish_board(force=False)
        self._cond.notify_all()

    def _launch(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name=f"replay-{self.run_id}")
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closing or self._state is not State.RUNNING:
                    return
                if self._t >= self.n_bars:
                    if not (self.follow and self.live):
                        self._state = State.FINISHED
                        self._publish_board(force=True)
                        self._cond.notify_all()
                        return
                    self._cond.wait(_FOLLOW_POLL)
                    self.refresh()
                    continue
                due = self._due()
                if due > 0:
                    self._advance(min(self.n_bars, self._t + due))
                    continue
                t0, b0 = self._pace
                self._cond.wait(max(0.001, t0 + (self._t - b0 + 1) / self._speed
                                    - time.monotonic()))
            time.sleep(0)

    def _due(self) -> int:
        """Bars to show now to keep to the speed (all up to a chunk at speed 0)."""
        if self._speed <= 0:
            return _MAX_CHUNK
        now = time.monotonic()
        if self._pace is None:
            self._pace = (now, self._t)
        t0, b0 = self._pace
        due = int((now - t0) * self._speed) + 1 - (self._t - b0)
        if due > max(2.0, self._speed):  # over a second behind: drop the debt
            self._pace = (now, self._t)
            due = 1
        return min(due, max(1, int(self._speed)))

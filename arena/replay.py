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

import math
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from arena.channels import CompetitionStreams
from arena.data.market import MarketData
from arena.engine import State, StateError
from arena.engine.config import config_from_dict
from arena.metrics import RunningStats, buy_and_hold_equity, compute_stats
from arena.publisher import fill_text
from arena.recorder import DB_NAME, Recording, RecordingError, status_text
from arena.tape import Tape
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


class Replay:
    """A recording played through :class:`~arena.channels.CompetitionStreams`.

    ``run``: a run directory, its ``arena.sqlite``, or a run id under ``run_dir``.
    ``at``: the first position (bars shown, or ``"end"``). ``speed``: bars per
    second (0 = as fast as possible; default 1x = :attr:`base_speed`).
    ``follow``: keep reading a recording that is still being written.
    ``seek_rows``: rows each stream is refilled with after a seek (the newest;
    viewers draw charts from :meth:`history`, as a viewer that joins a live
    competition late does); playing on appends to them as the engine would.
    ``feed_rows``: the same for decisions and events, which a seek reads from the
    recording's database (their feeds show the newest 200 by default).
    """

    def __init__(self, run: str | Path, run_dir: str | Path = "runs", at: int | str = 0,
                 speed: float | None = None, follow: bool = True,
                 stream_maxlen: int | None = 200_000, seek_rows: int = 10_000,
                 feed_rows: int = 2_000):
        self.path = resolve_run(run, run_dir)
        self.recording = Recording(self.path)
        meta = self.recording.meta
        try:
            self.config = config_from_dict(meta.get("config"))
            self._periods = float(meta.get("periods_per_year") or 252.0)
            self._tape = Tape(self.recording, self.config.portfolio.cash, self._periods)
        except Exception as exc:
            self.recording.close()
            raise RecordingError(f"{self.path}: cannot be replayed: {type(exc).__name__}: "
                                 f"{exc}") from exc
        if not self._tape.names:
            self.recording.close()
            raise RecordingError(f"{self.path}: the recording has no agents")
        self.run_id = str(meta.get("run_id", self.path.parent.name))
        self.run_path = self.path.parent  # the run's folder, as Competition.run_path
        self.data_source = str(meta.get("data_source", ""))
        self.follow = follow
        self.streams = CompetitionStreams(maxlen=stream_maxlen)
        self.seek_rows = min(seek_rows, stream_maxlen or seek_rows)
        self.feed_rows = min(feed_rows, self.seek_rows)
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
        """The recording's status: running, finished, stopped, failed, or interrupted
        (its writer is gone without finishing: killed, or the machine restarted; see
        :meth:`arena.recorder.Recording.status`). In words, with the last bar:
        :attr:`recording_summary`."""
        return self._tape.status

    @property
    def recording_summary(self) -> str:
        """The status in words, e.g. ``interrupted at bar 1,234 (2005-03-01)``: the
        highest bar recorded (``n_bars - 1``) and its time."""
        n = self._tape.n_bars
        when = (str(np.datetime_as_string(self._tape.times[n - 1], unit="s")) + "Z" if n
                else None)
        return status_text(self._tape.status, n - 1 if n else None, when)

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
            if not t:
                values = close
            elif name == "equity":  # with the benchmark line, drawn on the same chart
                values = np.column_stack([tape.equity[:, :t].T,
                                          buy_and_hold_equity(close, slice(0, t), 1.0)])
            else:
                values = close if name == "prices" else close / close[0]
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
        eq = buy_and_hold_equity(close, idx, cash0) if len(idx) else np.zeros(0)
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
        out = {"bar": bars, "time": tape.times[bars],
               "agent": tape.name_array[tape.trades.apos[rows]]}
        for c in ("symbol", "side", "quantity", "price", "fee", "action", "pnl", "position"):
            out[c] = cols[c][rows]
        out["pnl"] = out["pnl"].astype(float)
        return out

    def _decision_rows(self, cols: dict) -> dict:
        tape = self._tape
        bars = cols["bar"].astype(np.int64)
        return {"bar": bars, "time": tape.times[bars],
                "agent": tape.name_array[tape.agent_pos(cols["agent"])],
                "targets": cols["targets"], "confidence": cols["confidence"],
                "reasoning": cols["reasoning"]}

    def _event_rows(self, cols: dict) -> dict:
        tape = self._tape
        bar = cols["bar"]
        known = ~np.isnan(bar)
        bars = np.full(len(bar), None, dtype=object)
        bars[known] = bar[known].astype(np.int64)
        times = np.full(len(bar), None, dtype=object)
        times[known] = list(tape.times[bar[known].astype(np.int64)])
        return {"wall_time": cols["wall_time"], "bar": bars, "time": times,
                "kind": cols["kind"], "agent": tape.name_array[tape.agent_pos(cols["agent"])],
                "message": cols["message"]}

    def _append(self, t0: int, t1: int, keep: int | None, feed: int | None = None) -> None:
        """Append to the streams what bars ``t0..t1-1`` add (with ``keep``: only the
        newest ``keep`` rows of each stream, ``feed`` of decisions and events)."""
        st, tape = self.streams, self._tape
        per_bar = max(len(tape.names), len(tape.symbols), 1)
        lo = t0 if keep is None else max(t0, t1 - max(1, keep // per_bar))
        idx = np.arange(lo, t1)
        if len(idx):
            st.prices.extend(self._price_rows(idx))
            st.benchmark.extend(self._benchmark_rows(idx))
            st.equity.extend(self._equity_rows(idx))
        rows = tape.trades.between(t0, t1)
        if keep is not None:
            rows = rows[-keep:]
        if len(rows):
            st.trades.extend(self._trade_rows(rows))
        # decisions and events from the recording: the newest before t1 after a seek
        n = None if keep is None else min(feed or keep, keep)
        for table, stream, rows_of, most in (
                (tape.decisions, st.decisions, self._decision_rows, n),
                (tape.events, st.events, self._event_rows,
                 None if n is None else min(n, st.events_maxlen))):
            cols = table.between(t0, t1) if most is None else table.newest(t1, most)
            if len(cols["id"]):
                stream.extend(rows_of(cols))

    def _rebuild(self) -> None:
        """Streams and statistics as of ``self._t``, from the recording."""
        t = self._t
        self.streams.clear()
        self._append(0, t, self.seek_rows, self.feed_rows)
        self._stats = self._tape.stats_at(t)
        self._publish_board(force=True)

    def _publish_board(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._board_at < _BOARD_EVERY:
            return
        self._board_at = now
        t, tape = self._t, self._tape
        if not t or not self._stats:
            return
        cash0 = self.config.portfolio.cash
        trades = np.sort(tape.trades.upto(t))  # recording order
        last_fill = self._last_of(tape.trades.apos[trades], trades)
        cols = tape.trades.cols
        last_action = {a: fill_text(cols["side"][r], cols["quantity"][r], cols["symbol"][r],
                                    cols["price"][r]) for a, r in last_fill.items()}
        errors = tape.errors(t)
        tokens, latency, cost = tape.llm_usage(t)
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
                "errors": int(errors[i]), "last_action": last_action.get(i, ""),
                "tokens": int(tokens[i]), "latency_ms": float(latency[i]),
                "cost_usd": float(cost[i])})
        order = sorted(range(len(board)), key=lambda i: -board[i]["equity"])
        for rank, i in enumerate(order, 1):
            board[i]["rank"] = rank
        self.streams.leaderboard.upsert_many(board)
        self.streams.positions.upsert_many(self._positions(trades))

    @staticmethod
    def _last_of(keys: np.ndarray, rows: np.ndarray) -> dict[int, int]:
        """For each key (a small integer), the largest of ``rows`` that has it."""
        if not len(rows):
            return {}
        last = np.full(int(keys.max()) + 1, -1, dtype=np.int64)
        np.maximum.at(last, keys, rows)
        return {k: int(r) for k, r in enumerate(last.tolist()) if r >= 0}

    def _positions(self, trades: np.ndarray) -> list[dict]:
        """Every (agent, symbol) after the fills ``trades`` (recording order)."""
        tape, t = self._tape, self._t
        last = tape.ohlcv["close"][t - 1]
        k = len(tape.symbols)
        qty = np.zeros((len(tape.names), k))
        avg, real = np.zeros_like(qty), np.zeros_like(qty)
        if len(trades):
            pair = tape.trades.apos[trades] * k + tape.trade_sym[trades]
            for key, r in self._last_of(pair, trades).items():
                i, j = divmod(key, k)
                qty[i, j] = tape.trades.cols["position"][r]
                avg[i, j], real[i, j] = tape.avg_price(r), tape.trade_realised[r]
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
        if not self._stats:
            self._stats = self._tape.stats_at(t1)
        else:
            self._tape.advance_stats(self._stats, t0, t1)
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

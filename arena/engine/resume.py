"""Resume: a live run that was stopped or killed continues into the same recording.

While a live run is recorded, every hand-over to the recorder that carries new bars
ends with meta ``engine_state`` (:func:`engine_state`): what the engine holds per agent
at the last bar handed over — the accounts (cash, positions, average prices, entry
fees, realised PnL, last traded targets, fees, pending targets that fill at the next
open), error counts, last actions, running statistics and equity peaks. Frames reach
the writer in order, so a recorded ``engine_state`` for bar ``T`` means every row of
bars ``0..T-1`` is recorded too.

:func:`load_saved_run` reads a run back (refusing what cannot continue exactly) and
:meth:`arena.engine.Competition.continue_run` builds the competition from it: the same
run id, recording, agents and config; prices and equity histories from the recording,
the state from ``engine_state``. The agents are built from their recorded specs and
parameters and reset with their recorded seeds (the built-ins decide from the history
alone). A feed continues after the last recorded bar (``arena.feeds.resume``).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from arena.engine.config import CompetitionConfig, config_from_dict
from arena.publisher import Publisher, wall_time
from arena.recorder import DB_NAME, Recording, RecordingError

if TYPE_CHECKING:
    from arena.engine.competition import Competition

#: the meta key of the engine's state at the last bar handed over (live runs)
STATE_KEY = "engine_state"
STATE_VERSION = 1
#: recording statuses a run can resume from
RESUMABLE = ("stopped", "interrupted")
#: meta keys of an interruption, cleared when the run continues
_STALE_KEYS = ("interrupted", "interrupted_reason", "last_bar", "last_bar_time", "finished")


class ResumeError(RecordingError):
    """A run that cannot be resumed; the message says which and why."""


@dataclass(frozen=True)
class SavedRun:
    """A recorded live run, read back to continue it (:func:`load_saved_run`).

    ``times`` and ``ohlcv`` (five ``(bars, symbols)`` arrays) are its recorded bars;
    ``equity``, ``cash``, ``drawdown`` and ``invested`` its ``(agents, bars)`` histories;
    ``agents`` ``(name, spec, params)`` by id; ``state`` the last ``engine_state``.
    """

    path: Path
    meta: dict
    config: CompetitionConfig
    agents: list[tuple[str, str, dict]]
    symbols: tuple[str, ...]
    times: np.ndarray
    ohlcv: list[np.ndarray]
    equity: np.ndarray
    cash: np.ndarray
    drawdown: np.ndarray
    invested: np.ndarray
    state: dict
    trades: pd.DataFrame
    decisions: pd.DataFrame
    status: str

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    @property
    def bars(self) -> int:
        """Bars recorded (and processed): the run continues at this bar index."""
        return len(self.times)

    @property
    def live(self) -> dict:
        """The recorded ``live`` meta: exchange, symbols, timeframe, warm-up, duration..."""
        return self.meta["live"]


def find_run(run: str | Path, run_dir: str | Path = "runs") -> Path:
    """The folder of ``run``: a run id under ``run_dir``, a run folder or its database."""
    p = Path(run)
    for cand in (p, Path(run_dir) / p):
        if cand.is_file() and cand.name == DB_NAME:
            return cand.parent
        if (cand / DB_NAME).is_file():
            return cand
    raise ResumeError(f"no run {str(run)!r}: neither a run folder nor a run id under "
                      f"{run_dir} (`arena runs --run-dir {run_dir}` lists them)")


def load_saved_run(run: str | Path, run_dir: str | Path = "runs") -> SavedRun:
    """Read a live run that can continue; :class:`ResumeError` says why one cannot: not
    a live run, finished or failed, still being written, or recorded without (or with an
    incomplete) engine state."""
    path = find_run(run, run_dir)
    with Recording(path) as rec, rec.snapshot():
        meta = {k: json.loads(v) for k, v in rec.db.execute("SELECT key, value FROM meta")}
        name = meta.get("run_id", path.name)
        status = rec.status()
        if "live" not in meta:
            source = meta.get("data_source", "a fixed history")
            raise ResumeError(f"run {name} is not a live run ({source}); only live runs "
                              "can be resumed")
        if status == "running":
            w = rec.writer() or {}
            raise ResumeError(f"run {name} is still being written by a live process (writer "
                              f"pid {w.get('pid')}, engine pid {w.get('engine_pid')} on "
                              f"{w.get('host')}); stop it first")
        if status not in RESUMABLE:
            why = {"finished": "its duration is over",
                   "failed": "it ended with an error, see its events"}.get(status, "")
            raise ResumeError(f"run {name} is {status}" + (f" ({why})" if why else "")
                              + "; only a stopped or interrupted live run can be resumed")
        state = meta.get(STATE_KEY)
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ResumeError(f"run {name} was recorded without the engine state a resume "
                              "needs (made by an older Trading Arena); start a new run")
        last, _ = rec.last_bar()
        n = 0 if last is None else last + 1
        t = int(state["bar"])
        late = rec.db.execute("SELECT (SELECT count(*) FROM trades WHERE bar >= ?) + "
                              "(SELECT count(*) FROM decisions WHERE bar >= ?)",
                              (t, t)).fetchone()[0]
        if n != t or late:
            raise ResumeError(
                f"run {name}: the recording holds {n} bars but its engine state is of bar "
                f"{t} (the process died in the middle of handing rows over); it cannot "
                "continue exactly")
        grid = rec.bar_grid()
        eq = rec.equity_grid()
        agents = [(str(r.name), str(r.spec), json.loads(r.params))
                  for r in rec.agents().itertuples()]
        trades = rec._frame("SELECT bar, agent, symbol, side, quantity, price, fee, action, "
                            "pnl, position FROM trades ORDER BY id")
        decisions = rec._frame("SELECT bar, agent, targets, confidence, reasoning FROM "
                               "decisions ORDER BY id")
    if len(grid.bars) != t or len(eq.bars) != t or not np.array_equal(grid.bars, np.arange(t)):
        raise ResumeError(f"run {name}: bars 0..{t - 1} are not all recorded")
    if len(agents) != len(state["agents"]) or eq.equity.shape[1] != len(agents):
        raise ResumeError(f"run {name}: {len(agents)} agents recorded, the engine state has "
                          f"{len(state['agents'])}")
    config = config_from_dict(meta.get("config"), run_id=meta["run_id"],
                              run_dir=str(path.parent), record=True)  # the same folder
    return SavedRun(
        path=path, meta=meta, config=config, agents=agents,
        symbols=grid.symbols, times=grid.times,
        ohlcv=[grid.prices[f] for f in ("open", "high", "low", "close", "volume")],
        equity=eq.equity.T.copy(), cash=eq.cash.T.copy(), drawdown=eq.drawdown_pct.T.copy(),
        invested=eq.invested.T.copy(), state=state, trades=trades, decisions=decisions,
        status=status)


def claim(saved: SavedRun) -> int:
    """Lock ``saved``'s run folder for one resume at a time (``.resume.lock``, an
    exclusive ``flock`` held until the run ends) and check that the recording has not
    changed since it was read; returns the lock's descriptor."""
    fd = os.open(saved.path / ".resume.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ResumeError(f"run {saved.run_id} is being resumed by another process") from None
    with Recording(saved.path) as rec:
        now = rec.status(), rec.last_bar()[0]
    if now != (saved.status, saved.bars - 1):
        os.close(fd)
        raise ResumeError(f"run {saved.run_id} changed since it was read (it is {now[0]} at "
                          f"bar {now[1]}); read it again")
    return fd


# -- the engine's side ---------------------------------------------------------------
def engine_state(comp: Competition, bar: int) -> dict:
    """What the engine holds per agent after bar ``bar - 1`` (JSON-safe; floats exact)."""
    acc = comp.accounts
    return {
        "version": STATE_VERSION, "bar": int(bar),
        "accounts": {k: v.tolist() for k, v in vars(acc).items() if isinstance(v, np.ndarray)},
        "agents": [{"name": s.name, "errors": s.errors, "last_action": s.last_action,
                    "peak": s.peak, "stats": s.stats.state()} for s in comp._slots],
        "next_progress": comp._pub._next_progress,
    }


class CheckpointPublisher(Publisher):
    """A :class:`Publisher` that ends each hand-over carrying new bars with the
    engine's state (meta ``engine_state``), when given a ``checkpoint`` function."""

    checkpoint = None

    def hand_over(self) -> None:
        before = self._recorded
        super().hand_over()
        if self.checkpoint is not None and self._recorded > before:
            self.recorder.set_meta(**{STATE_KEY: self.checkpoint(self._recorded)})

    def resume_at(self, t: int, next_progress: float) -> None:
        """Bars ``0..t-1`` are published and recorded already (a resumed run)."""
        self._recorded = self._published = t
        self._next_progress = next_progress


def restore(comp: Competition, saved: SavedRun) -> None:
    """Put ``saved``'s bars, histories and state into ``comp`` (idle, just built)."""
    t, st = saved.bars, saved.state
    names = [s.name for s in comp._slots]
    recorded = [a[0] for a in saved.agents]
    if names != recorded:
        raise ResumeError(f"run {saved.run_id}: the agents rebuilt are named {names}, the "
                          f"recording has {recorded}")
    for hist, values in ((comp._equity, saved.equity), (comp._cash, saved.cash),
                         (comp._drawdown, saved.drawdown), (comp._invested, saved.invested)):
        hist[:, :t] = values
    acc = comp.accounts
    for k, v in st["accounts"].items():
        arr = getattr(acc, k)
        arr[...] = np.asarray(v, dtype=arr.dtype).reshape(arr.shape)
    from arena.metrics import RunningStats

    for s, a in zip(comp._slots, st["agents"], strict=True):
        s.errors, s.last_action, s.peak = int(a["errors"]), str(a["last_action"]), a["peak"]
        s.stats = RunningStats.from_state(a["stats"])
    comp._periods = float(saved.meta.get("periods_per_year", comp._periods))
    comp._t = t
    comp._pub.resume_at(t, float(st["next_progress"]))
    _refill_streams(comp, saved)
    comp._pub.board(t, force=True)


def _refill_streams(comp: Competition, saved: SavedRun) -> None:
    """The recorded trades and decisions into the streams and the trades log (a viewer
    and :meth:`Competition.trades_frame` see the whole run); prices and equity are in
    the histories, which :meth:`Competition.history` reads."""
    data, names = comp.data, np.array([s.name for s in comp._slots], dtype=object)
    tr = saved.trades
    if len(tr):
        bar = tr["bar"].to_numpy(dtype=int)
        cols = {"bar": bar, "time": data.times[bar], "agent": names[tr["agent"].to_numpy(int)],
                "symbol": tr["symbol"].to_numpy(object), "side": tr["side"].to_numpy(object),
                "quantity": tr["quantity"].to_numpy(float), "price": tr["price"].to_numpy(float),
                "fee": tr["fee"].to_numpy(float), "action": tr["action"].to_numpy(object),
                "pnl": tr["pnl"].to_numpy(float), "position": tr["position"].to_numpy(float)}
        comp._pub.fills_log.extend(cols)
        comp.streams.trades.extend(cols)
    dec = saved.decisions
    if len(dec):
        bar = dec["bar"].to_numpy(dtype=int)
        comp.streams.decisions.extend({
            "bar": bar, "time": data.times[bar], "agent": names[dec["agent"].to_numpy(int)],
            "targets": dec["targets"].to_numpy(object),
            "confidence": dec["confidence"].to_numpy(float),
            "reasoning": dec["reasoning"].to_numpy(object)})


def record_resume(comp: Competition, saved: SavedRun) -> None:
    """The recording's meta says the run goes on (engine thread, at its start)."""
    rec = comp._pub.recorder
    rec.delete_meta(*_STALE_KEYS)
    history = list(saved.meta.get("resumed") or [])
    history.append({"at": wall_time(), "bar": saved.bars, "after": saved.status})
    live = {} if comp.feed is None else {"live": comp.live_meta()}
    rec.set_meta(status="running", resumed=history, **live)

"""Tape: a recording read into arrays (bars × agents) for replay, and kept up to date.

:class:`Tape` reads a recording's bars, equity, trades, decisions and events once
(and then only what the writer committed since, for a recording still being
written) and knows, for each trade, decision and event, after how many bars it
becomes visible. Bars and equity come as arrays straight from the recording's
column blocks (:meth:`Recording.bar_grid`, :meth:`Recording.equity_grid`). It also
keeps each agent's running statistics every ``CHECKPOINT`` bars, so that a seek
advances them over at most that many bars.

Trades, decisions and events come out of SQLite row by row, which with the
statistics is most of an open (about 2 s for a run with 200,000 of them). So
once a recording is complete, those tables, each fill's average price and
realised pnl and the statistics checkpoints are kept next to it in
``<run>/replay-index/`` (Arrow IPC, numpy and JSON files, written atomically; a
reader's cache, never touched by the writer) and later opens load them instead.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from arena.data.market import MarketData
from arena.metrics import RunningStats
from arena.recorder import BarGrid, EquityGrid, Recording

__all__ = ["INDEX_DIR", "Tape", "TimedRows"]

INDEX_DIR = "replay-index"
INDEX_VERSION = 2  # 1 also held bars and equity (before column blocks): rebuilt
CHECKPOINT = 4096  # bars between kept copies of the statistics (a seek starts from one)
FIELDS = ("open", "high", "low", "close", "volume")
TABLES = ("trades", "decisions", "events")
FINAL = ("finished", "stopped", "failed")  # statuses after which a recording never changes


def _run_length(bars: np.ndarray, start: int) -> int:
    """How many consecutive bars from ``start`` the ascending ``bars`` begin with."""
    if not len(bars) or bars[0] != start:
        return 0
    breaks = np.flatnonzero(np.diff(bars) != 1)
    return int(breaks[0]) + 1 if len(breaks) else len(bars)


class TimedRows:
    """Rows of one table with the bar count at which each becomes visible.

    ``cols`` holds each column as a numpy array, ``apos`` each row's agent as a
    position in the tape's agent list (−1 for none); :meth:`upto` and
    :meth:`between` answer row positions in recording order within a bar.
    """

    def __init__(self, frame: pd.DataFrame, visible_at, apos: np.ndarray):
        self.frame = frame.reset_index(drop=True)
        self.cols = _Columns(self.frame)
        self.apos = np.asarray(apos, dtype=np.int64)
        self.visible_at = np.asarray(visible_at, dtype=np.int64)
        self.order = np.argsort(self.visible_at, kind="stable")
        self.sorted_at = self.visible_at[self.order]

    def where(self, column: str, value: str) -> np.ndarray:
        """Boolean mask of the rows whose ``column`` equals ``value`` (vectorised)."""
        if column not in self.frame:
            return np.zeros(len(self.frame), dtype=bool)
        return self.frame[column].eq(value).to_numpy(dtype=bool, na_value=False)

    def __len__(self) -> int:
        return len(self.frame)

    def upto(self, t: int) -> np.ndarray:
        """Rows visible after ``t`` bars (a visible row never disappears)."""
        return self.order[: np.searchsorted(self.sorted_at, t, side="right")]

    def between(self, t0: int, t1: int) -> np.ndarray:
        """Rows that become visible when going from ``t0`` to ``t1`` bars."""
        lo, hi = np.searchsorted(self.sorted_at, [t0, t1], side="right")
        return self.order[lo:hi]


def _book(apos, sym, side, qty, px, exit_, pnl, after_q, a, k):
    """Average price and realised pnl of each fill's (agent, symbol) after the fill,
    by the accounting kernel's rules (arena/portfolio.py ``_fill``)."""
    m = len(apos)
    held, avg, real = np.zeros((a, k)), np.zeros((a, k)), np.zeros((a, k))
    avg_out, real_out = np.zeros(m), np.zeros(m)
    for i, (r, c, sd, q_abs, p, ex, pl, q_after) in enumerate(zip(
            apos.tolist(), sym.tolist(), side.tolist(), qty.tolist(), px.tolist(),
            exit_.tolist(), pnl.tolist(), after_q.tolist(), strict=True)):
        q = held[r, c]
        if ex:
            real[r, c] += pl
            if q_after == 0.0:
                avg[r, c] = 0.0
        elif q * sd >= 0:
            avg[r, c] = (avg[r, c] * abs(q) + p * q_abs) / abs(q_after)
        else:
            avg[r, c] = p
        held[r, c] = q_after
        avg_out[i], real_out[i] = avg[r, c], real[r, c]
    return avg_out, real_out


class _Text:
    """A text column kept as one Arrow array: indexing converts only the rows asked
    for into Python strings (an array of them, or one value)."""

    def __init__(self, series: pd.Series):
        arr = pa.array(series, from_pandas=True)
        self._arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr

    def __getitem__(self, rows):
        if np.ndim(rows) == 0:
            return self._arr[int(rows)].as_py()
        taken = self._arr.take(pa.array(np.asarray(rows, dtype=np.int64)))
        return taken.to_numpy(zero_copy_only=False).astype(object)


class _Columns(dict):
    """A frame's columns, each prepared once, on first use: numbers as numpy arrays,
    text as :class:`_Text`."""

    def __init__(self, frame: pd.DataFrame):
        super().__init__()
        self._frame = frame

    def __missing__(self, name: str):
        series = self._frame[name]
        numeric = isinstance(series.dtype, np.dtype) and series.dtype.kind in "biufM"
        value = self[name] = series.to_numpy() if numeric else _Text(series)
        return value

    def __bool__(self) -> bool:
        return len(self._frame.columns) > 0

    def warm(self) -> None:
        """Prepare every column now (so that no later read pays for it)."""
        for name in self._frame.columns:
            self[name]


class Tape:
    """Every row of one recording as arrays; :meth:`read` adds newly committed rows."""

    def __init__(self, rec: Recording, cash: float, periods_per_year: float,
                 cache: bool = True):
        self.rec = rec
        self.meta = rec.meta
        self.cash0, self.periods = float(cash), float(periods_per_year)
        self.checkpoints: dict[int, list[RunningStats]] = {}
        agents = rec.agents()
        self.names = agents["name"].tolist()
        self.name_array = np.array(self.names + [None], dtype=object)  # [-1] → None
        ids = agents["id"].to_numpy(dtype=np.int64)
        self._lookup = np.full(int(ids.max()) + 2 if len(ids) else 1, -1, dtype=np.int64)
        self._lookup[ids] = np.arange(len(ids))
        self.symbols = tuple(self.meta.get("symbols") or ())
        self.status = str(self.meta.get("status", "running"))
        a, k = len(self.names), len(self.symbols)
        self.n_bars = 0
        self.last_ids = dict.fromkeys(TABLES, 0)
        self.times = np.zeros(0, dtype="datetime64[ns]")
        self.ohlcv = {f: np.zeros((0, k)) for f in FIELDS}
        self.equity, self.cash, self.drawdown = np.zeros((a, 0)), np.zeros((a, 0)), np.zeros((a, 0))
        self.invested = np.zeros((a, 0), dtype=bool)
        self.raw = {name: pd.DataFrame() for name in TABLES}
        self._booked: tuple[np.ndarray, np.ndarray] | None = None
        self.from_index = cache and self._load_index()
        self._index_tables()
        self.read()
        self.stats_at(self.n_bars)  # every checkpoint now: each seek is then short
        if cache and not self.from_index and self.status in FINAL and self.n_bars:
            self._save_index()

    # -- positions of agents ------------------------------------------------------------
    def agent_pos(self, ids) -> np.ndarray:
        """Agent ids (NaN/None for none) → positions in ``names`` (−1 for none)."""
        ids = pd.to_numeric(pd.Series(ids, dtype=object), errors="coerce").to_numpy(float)
        out = np.full(len(ids), -1, dtype=np.int64)
        ok = ~np.isnan(ids)
        out[ok] = self._lookup[ids[ok].astype(np.int64)]
        return out

    # -- reading ---------------------------------------------------------------------
    def read(self) -> bool:
        """Read what was committed since the last read; True if bars were added."""
        rec = self.rec
        if self.from_index and self.status in FINAL:
            return False
        with rec.snapshot():
            status = rec.db.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()
            bars = rec.bar_grid(self.n_bars)
            eq = rec.equity_grid(self.n_bars)
            new = {name: rec.rows_after(name, self.last_ids[name]) for name in TABLES}
        self.status = json.loads(status[0]) if status else "running"
        a = len(self.names)
        if not a or eq.equity.shape[1] != a:
            return False
        # whole bars only: the consecutive bars from n_bars that both tables hold
        n = self.n_bars + min(_run_length(bars.bars, self.n_bars),
                              _run_length(eq.bars, self.n_bars))
        if n <= self.n_bars:
            return False
        self._add_bars(bars, n)
        self._add_equity(eq, n)
        for name, df in new.items():
            if len(df):
                self.last_ids[name] = int(df["id"].max())
                self.raw[name] = pd.concat([self.raw[name], df], ignore_index=True) \
                    if len(self.raw[name]) else df
        self.n_bars = n
        self._index_tables()
        return True

    def _add_bars(self, bars: BarGrid, n: int) -> None:
        m = n - self.n_bars
        cols = [bars.symbols.index(s) if s in bars.symbols else -1 for s in self.symbols]
        for f in FIELDS:
            block = np.full((m, len(self.symbols)), np.nan)
            have = [j for j, c in enumerate(cols) if c >= 0]
            block[:, have] = bars.prices[f][:m, [cols[j] for j in have]]
            self.ohlcv[f] = np.concatenate([self.ohlcv[f], block])
        self.times = np.concatenate([self.times, bars.times[:m]])

    def _add_equity(self, eq: EquityGrid, n: int) -> None:
        m = n - self.n_bars
        order = np.argsort(self._lookup[eq.agents])  # columns in the order of names
        self.equity = np.concatenate([self.equity, eq.equity[:m, order].T], axis=1)
        self.cash = np.concatenate([self.cash, eq.cash[:m, order].T], axis=1)
        self.drawdown = np.concatenate([self.drawdown, eq.drawdown_pct[:m, order].T], axis=1)
        self.invested = np.concatenate([self.invested, eq.invested[:m, order].T], axis=1)

    def _index_tables(self) -> None:
        """Visibility, agent positions, fees per bar, positions after each fill."""
        n, a, k = self.n_bars, len(self.names), len(self.symbols)
        tr = self.raw["trades"]
        tr = tr[tr["bar"] < n] if len(tr) else tr
        apos = self.agent_pos(tr["agent"]) if len(tr) else np.zeros(0, np.int64)
        self.trades = TimedRows(tr, tr["bar"].to_numpy() + 1 if len(tr) else [], apos)
        self.fees = np.zeros((a, n))
        self.trade_sym = np.zeros(0, dtype=np.int64)
        self.trade_avg = self.trade_realised = np.zeros(0)
        if len(tr):
            bar = tr["bar"].to_numpy(dtype=np.int64)
            np.add.at(self.fees, (apos, bar), tr["fee"].to_numpy(dtype=float))
            sym = tr["symbol"].map({s: j for j, s in enumerate(self.symbols)}).to_numpy(np.int64)
            self.trade_sym = sym
            self.trade_avg, self.trade_realised = _book(
                apos, sym, np.where(tr["side"].to_numpy() == "buy", 1.0, -1.0),
                tr["quantity"].to_numpy(float), tr["price"].to_numpy(float),
                tr["action"].to_numpy() == "exit", tr["pnl"].to_numpy(float), tr["position"].to_numpy(float), a, k)
        dec = self.raw["decisions"]
        dec = dec[dec["bar"] < n] if len(dec) else dec
        # a decision at bar b's close is known once bar b is shown
        self.decisions = TimedRows(dec, dec["bar"].to_numpy() + 1 if len(dec) else [],
                                   self.agent_pos(dec["agent"]) if len(dec) else [])
        ev = self.raw["events"]
        bar = ev["bar"].to_numpy(dtype=float) if len(ev) else np.zeros(0)
        keep = np.isnan(bar) | (bar < n)
        ev, bar = (ev[keep], bar[keep]) if len(ev) else (ev, bar)
        # an event without a bar shows once every event recorded before it shows
        at = np.where(np.isnan(bar), -1, bar + 1)
        before = np.maximum.accumulate(np.concatenate(([0.0], at[:-1]))) if len(at) else at
        at = np.where(np.isnan(bar), np.maximum(before, 0), at)
        self.events = TimedRows(ev, at.astype(np.int64),
                                self.agent_pos(ev["agent"]) if len(ev) else [])
        for rows in (self.trades, self.decisions, self.events):
            rows.cols.warm()
        self.trade_exit = self.trades.where("action", "exit")
        self.event_error = self.events.where("kind", "agent_error")

    # -- statistics ----------------------------------------------------------------------
    def stats_at(self, t: int) -> list[RunningStats]:
        """Each agent's statistics after ``t`` bars: a copy of the nearest checkpoint at
        or before ``t`` (one every ``CHECKPOINT`` bars, made on the way), advanced."""
        if not t or not self.names:
            return []
        if not self.checkpoints:
            start = pd.Timestamp(self.times[0]).tz_localize("UTC")
            self.checkpoints[1] = [RunningStats(self.cash0, start, self.periods)
                                   for _ in self.names]
        b = max(k for k in self.checkpoints if k <= t)
        stats = [copy.copy(s) for s in self.checkpoints[b]]
        while (nxt := (b // CHECKPOINT + 1) * CHECKPOINT) <= t:
            self.advance_stats(stats, b, nxt)
            self.checkpoints[nxt] = [copy.copy(s) for s in stats]
            b = nxt
        self.advance_stats(stats, b, t)
        return stats

    def advance_stats(self, stats: list[RunningStats], t0: int, t1: int) -> None:
        """Add bars ``t0..t1-1`` (never bar 0, the starting point) to ``stats``."""
        t0 = max(t0, 1)
        if t1 <= t0 or not stats:
            return
        tr = self.trades
        rows = tr.between(t0, t1)  # trades of bars t0..t1-1
        by_agent: dict[int, dict[int, list[float]]] = {}
        if len(rows):
            rows = rows[self.trade_exit[rows]]
            for a, b, p in zip(tr.apos[rows].tolist(), tr.cols["bar"][rows].tolist(),
                               tr.cols["pnl"][rows].tolist(), strict=True):
                by_agent.setdefault(a, {}).setdefault(b - t0, []).append(p)
        times = self.times[t0:t1]
        for i, s in enumerate(stats):
            s.update_many(times, self.equity[i, t0:t1], self.invested[i, t0:t1],
                          self.fees[i, t0:t1], by_agent.get(i, {}))

    def market_data(self) -> MarketData:
        o = self.ohlcv
        return MarketData(self.times, self.symbols, o["open"], o["high"], o["low"], o["close"],
                          o["volume"], source=str(self.meta.get("data_source", "recording")))

    # -- the on-disk index ------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.rec.run_path / INDEX_DIR

    def _load_index(self) -> bool:
        """Load what an earlier open kept, and bars and equity from the recording;
        False if nothing is kept (or it is stale)."""
        path = self.index_path
        try:
            info = json.loads((path / "index.json").read_text())
            if info.get("version") != INDEX_VERSION or info.get("status") not in FINAL \
                    or info.get("ends") != self._ends():
                return False
            with np.load(path / "booked.npz") as z:
                booked = z["trade_avg"], z["trade_realised"]
            raw = {name: pd.read_feather(path / f"{name}.arrow") for name in TABLES}
            checkpoints = {int(b): [RunningStats.from_state(s) for s in states]
                           for b, states in info["checkpoints"].items()}
            n = int(info["n_bars"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        bars, eq = self.rec.bar_grid(), self.rec.equity_grid()
        if min(_run_length(bars.bars, 0), _run_length(eq.bars, 0)) < n \
                or eq.equity.shape[1] != len(self.names):
            return False
        self._add_bars(bars, n)
        self._add_equity(eq, n)
        self.raw, self._booked, self.checkpoints = raw, booked, checkpoints
        self.n_bars = n
        self.last_ids = {k: int(v) for k, v in info["last_ids"].items()}
        self.status = info["status"]
        return True

    def _ends(self) -> list:
        """The last equity bar and the last trade, decision and event ids in the
        database (primary-key look-ups): an index that disagrees is stale."""
        db = self.rec.db
        last_bar = ("SELECT max(t0 + n_bars) - 1 FROM equity_blocks" if self.rec.blocks
                    else "SELECT max(bar) FROM equity")
        return [db.execute(last_bar).fetchone()[0],
                *(db.execute(f"SELECT max(id) FROM {t}").fetchone()[0] for t in TABLES)]

    def _save_index(self) -> None:
        """Keep the tables, the fills' book and the checkpoints next to the recording
        (best effort: a read-only run directory simply has no index)."""
        final = self.index_path
        try:
            tmp = Path(tempfile.mkdtemp(prefix=".replay-index-", dir=self.rec.run_path))
        except OSError:
            return
        try:
            np.savez(tmp / "booked.npz", trade_avg=self.trade_avg,
                     trade_realised=self.trade_realised)
            for name in TABLES:
                self.raw[name].reset_index(drop=True).to_feather(tmp / f"{name}.arrow")
            (tmp / "index.json").write_text(json.dumps({
                "version": INDEX_VERSION, "n_bars": self.n_bars, "last_ids": self.last_ids,
                "status": self.status, "ends": self._ends(),
                "checkpoints": {b: [s.state() for s in stats]
                                for b, stats in self.checkpoints.items()}}))
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        except (OSError, ValueError, ImportError):
            shutil.rmtree(tmp, ignore_errors=True)

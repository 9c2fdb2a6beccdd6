"""Tape: a recording read for replay (bars × agents arrays), and kept up to date.

:class:`Tape` reads what a seek must not wait for, and then only what the writer
committed since (for a recording still being written): bars and equity as
arrays straight from the recording's column blocks (:meth:`Recording.bar_grid`,
:meth:`Recording.equity_grid`), and the trades (the leaderboard's statistics and
the positions are computed from them). Decisions and events stay in SQLite
(:class:`ShownRows`): a seek asks for the newest rows before its bar and playing
on for the rows of the bars it adds, through the tables' indexes on ``bar``.
Each agent's running statistics are kept every ``CHECKPOINT`` bars (made at
open, and by the first seek past them in bars read later), so that a seek
advances them over at most that many bars.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pyarrow as pa

from arena.data.market import MarketData
from arena.metrics import RunningStats
from arena.recorder import BarGrid, EquityGrid, Recording

__all__ = ["ShownRows", "Tape", "TimedRows"]

CHECKPOINT = 4096  # bars between kept copies of the statistics (a seek starts from one)
FIELDS = ("open", "high", "low", "close", "volume")


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


class ShownRows:
    """Decisions or events left in the recording, read when shown.

    A row of bar ``b`` is visible after ``b + 1`` bars; an event without a bar
    (e.g. "started") once every event recorded before it is. Rows come as a dict
    of numpy arrays (``bar`` as float, NaN for none), ordered by the bar count at
    which they become visible, then recording order.
    """

    def __init__(self, rec: Recording, table: str):
        self.rec, self.table = rec, table
        self.columns = Recording.columns_of(table)
        self._select = f"SELECT {', '.join(self.columns)} FROM {table}"
        self._barless: dict[int, int] = {}  # id of an event without a bar → visible at

    def newest(self, t: int, n: int) -> dict[str, np.ndarray]:
        """The newest ``n`` rows visible after ``t`` bars."""
        if n <= 0 or t <= 0:
            return self._rows([])
        rows = self.rec.db.execute(f"{self._select} WHERE bar < ? ORDER BY bar DESC, id DESC"
                                   " LIMIT ?", (int(t), int(n))).fetchall()[::-1]
        return self._rows(rows, self._without_bar(0, t), keep=n)

    def between(self, t0: int, t1: int) -> dict[str, np.ndarray]:
        """Rows that become visible when going from ``t0`` to ``t1`` bars."""
        rows = self.rec.db.execute(f"{self._select} WHERE bar >= ? AND bar < ? ORDER BY bar, id",
                                   (int(t0), int(t1))).fetchall()
        return self._rows(rows, self._without_bar(t0, t1))

    def visible_at(self, ids, bars) -> np.ndarray:
        """The bar count at which each row (``id``, ``bar`` or None) becomes visible."""
        return np.array([self._visible_at(i) if b is None else b + 1
                         for i, b in zip(ids, bars, strict=True)], dtype=np.int64)

    def _visible_at(self, row_id: int) -> int:
        at = self._barless.get(row_id)
        if at is None:  # the rows before it are committed: the answer never changes
            last = self.rec.db.execute(f"SELECT max(bar) FROM {self.table} WHERE id < ?",
                                       (row_id,)).fetchone()[0]
            at = self._barless[row_id] = 0 if last is None else int(last) + 1
        return at

    def _without_bar(self, t0: int, t1: int) -> list[tuple]:
        """Rows without a bar that become visible after ``t0 < at <= t1`` bars."""
        if self.table != "events":
            return []
        ids = [i for (i,) in self.rec.db.execute(
            f"SELECT id FROM {self.table} WHERE bar IS NULL ORDER BY id")]
        shown = [i for i in ids if t0 < self._visible_at(i) <= t1]
        if not shown:
            return []
        marks = ", ".join("?" * len(shown))
        return self.rec.db.execute(f"{self._select} WHERE id IN ({marks}) ORDER BY id",
                                   shown).fetchall()

    def _rows(self, rows: list[tuple], barless: list[tuple] = (),
              keep: int | None = None) -> dict[str, np.ndarray]:
        if barless:
            i_id, i_bar = self.columns.index("id"), self.columns.index("bar")
            rows = rows + list(barless)
            at = self.visible_at([r[i_id] for r in rows], [r[i_bar] for r in rows])
            order = np.lexsort(([r[i_id] for r in rows], at))
            rows = [rows[i] for i in order]
            if keep is not None:
                rows = rows[-keep:]
        out = {}
        for name, values in zip(self.columns, zip(*rows, strict=True) if rows
                                else [()] * len(self.columns), strict=True):
            if name in ("bar", "confidence"):  # None → NaN
                out[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
            else:
                out[name] = np.array(values, dtype=object)
        return out


class Tape:
    """A recording's bars, equity and trades as arrays; :meth:`read` adds newly
    committed rows. Decisions and events: :attr:`decisions`, :attr:`events`."""

    def __init__(self, rec: Recording, cash: float, periods_per_year: float):
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
        self._last_trade = self._last_event = 0
        self.times = np.zeros(0, dtype="datetime64[ns]")
        self.ohlcv = {f: np.zeros((0, k)) for f in FIELDS}
        self.equity, self.cash, self.drawdown = np.zeros((a, 0)), np.zeros((a, 0)), np.zeros((a, 0))
        self.invested = np.zeros((a, 0), dtype=bool)
        self.raw_trades = pd.DataFrame()
        self.decisions = ShownRows(rec, "decisions")
        self.events = ShownRows(rec, "events")
        self.error_at = self.error_apos = np.zeros(0, dtype=np.int64)
        # LLM calls: visible after bar + 1 bars; agent position, tokens, latency, cost
        self._has_calls = rec.db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'llm_calls'").fetchone() is not None
        self._last_call = 0
        self.calls = np.zeros((0, 6))  # at, apos, tokens, latency_ms, cost_usd, answered
        self._index_trades()
        self.read()
        self.stats_at(self.n_bars)  # every checkpoint now: each seek is then short

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
        # the status first: a writer gone by now has committed all it ever will, so the
        # snapshot below holds the whole recording of a run that reads interrupted
        status = rec.status()
        with rec.snapshot():
            bars = rec.bar_grid(self.n_bars)
            eq = rec.equity_grid(self.n_bars)
            trades = self._new_trades()
            last_event = rec.db.execute("SELECT max(id) FROM events").fetchone()[0] or 0
            errors = rec.db.execute(
                "SELECT id, bar, agent FROM events WHERE kind = 'agent_error' AND id > ?"
                " AND id <= ? ORDER BY id", (self._last_event, last_event)).fetchall()
            calls = rec.db.execute(
                "SELECT id, bar, agent, tokens_in + tokens_out, latency_ms, cost_usd,"
                " response IS NOT NULL FROM llm_calls WHERE id > ? ORDER BY id",
                (self._last_call,)).fetchall() if self._has_calls else []
        self.status = status
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
        if len(trades):
            self._last_trade = int(trades["id"].max())
            self.raw_trades = pd.concat([self.raw_trades, trades], ignore_index=True) \
                if len(self.raw_trades) else trades
        if errors:
            ids, bars_, agents = zip(*errors, strict=True)
            self.error_at = np.concatenate([self.error_at, self.events.visible_at(ids, bars_)])
            self.error_apos = np.concatenate([self.error_apos, self.agent_pos(agents)])
        self._last_event = int(last_event)
        if calls:
            c = np.array(calls, dtype=float)
            c[:, 1] += 1  # visible once the call's bar is shown
            c[:, 2] = self.agent_pos(c[:, 2])
            self.calls = np.concatenate([self.calls, c[:, 1:]])
            self._last_call = int(c[-1, 0])
        self.n_bars = n
        self._index_trades()
        return True

    def _new_trades(self) -> pd.DataFrame:
        """Trades recorded since the last read (the columns of ``rows_after``). SQLite
        hands symbol, side and action over as a known word's place in its vocabulary
        (other words are read apart), so that every value is a number and the rows
        become one float array in C: much faster than text."""
        words = {"symbol": self.symbols, "side": ("buy", "sell"), "action": ("entry", "exit")}
        names = Recording.columns_of("trades")
        select, params = [], []
        for c in names:
            if c in words:
                whens = " ".join(f"WHEN ? THEN {i}" for i in range(len(words[c])))
                select.append(f"CASE {c} {whens} END" if whens else "NULL")
                params += words[c]
            else:
                select.append(c)
        after = self._last_trade
        rows = self.rec.db.execute(f"SELECT {', '.join(select)} FROM trades WHERE id > ?"
                                   " ORDER BY id", [*params, after]).fetchall()
        grid = np.array(rows, dtype=float).reshape(len(rows), len(names))  # None → NaN
        df = pd.DataFrame({c: grid[:, i] for i, c in enumerate(names)})
        for c in ("id", "bar", "agent"):
            df[c] = df[c].astype(np.int64)
        for c, vocab in words.items():
            codes = df[c].to_numpy()
            odd = np.isnan(codes)
            out = np.array(vocab, dtype=object)[np.where(odd, 0, codes).astype(np.int64)] \
                if vocab else np.full(len(codes), None, dtype=object)
            if odd.any():  # words outside the vocabulary, as recorded
                marks = ", ".join("?" * len(vocab))
                other = dict(self.rec.db.execute(
                    f"SELECT id, {c} FROM trades WHERE id > ? AND id <= ?"
                    + (f" AND {c} NOT IN ({marks})" if vocab else ""),
                    [after, int(df["id"].iloc[-1]), *vocab]))
                out[odd] = [other[i] for i in df["id"].to_numpy()[odd].tolist()]
            df[c] = out
        return df

    def _add_bars(self, bars: BarGrid, n: int) -> None:
        m = n - self.n_bars
        cols = [bars.symbols.index(s) if s in bars.symbols else -1 for s in self.symbols]
        have = [j for j, c in enumerate(cols) if c >= 0]
        for f in FIELDS:
            block = np.full((m, len(self.symbols)), np.nan)
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

    def errors(self, t: int) -> np.ndarray:
        """``agent_error`` events per agent visible after ``t`` bars."""
        shown = self.error_apos[(self.error_at <= t) & (self.error_apos >= 0)]
        return np.bincount(shown, minlength=len(self.names))

    def llm_usage(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per agent, from the LLM calls visible after ``t`` bars: tokens (in + out),
        mean latency in ms of the answered calls (NaN before the first answer) and
        cost in USD: what the live leaderboard showed (an answer that came after its
        live bar's deadline counts from its bar on here, later there)."""
        a = len(self.names)
        c = self.calls[(self.calls[:, 0] <= t) & (self.calls[:, 1] >= 0)]
        apos = c[:, 1].astype(np.int64)
        tokens = np.bincount(apos, weights=c[:, 2], minlength=a)
        cost = np.bincount(apos, weights=c[:, 4], minlength=a)
        answered = c[:, 5] > 0
        n = np.bincount(apos[answered], minlength=a)
        total = np.bincount(apos[answered], weights=c[answered, 3], minlength=a)
        latency = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        return tokens.astype(np.int64), latency, cost

    def _index_trades(self) -> None:
        """Visibility, agent and symbol positions, fees per bar, realised pnl after
        each fill and where each fill's holding was last flat."""
        n, a, k = self.n_bars, len(self.names), len(self.symbols)
        tr = self.raw_trades
        tr = tr[tr["bar"] < n] if len(tr) else tr
        apos = self.agent_pos(tr["agent"]) if len(tr) else np.zeros(0, np.int64)
        self.trades = TimedRows(tr, tr["bar"].to_numpy() + 1 if len(tr) else [], apos)
        self.fees = np.zeros((a, n))
        self.trade_sym = np.zeros(0, dtype=np.int64)
        self.trade_exit = np.zeros(len(tr), dtype=bool)
        self.trade_realised = np.zeros(len(tr))
        self.trade_lot = np.zeros(len(tr), dtype=np.int64)
        self.trade_avg = np.full(len(tr), np.nan)  # filled in by avg_price
        if not len(tr):
            return
        bar = tr["bar"].to_numpy(dtype=np.int64)
        np.add.at(self.fees, (apos, bar), tr["fee"].to_numpy(dtype=float))
        sym = {s: j for j, s in enumerate(self.symbols)}
        self.trade_sym = np.array([sym[s] for s in tr["symbol"].tolist()], dtype=np.int64)
        self.trade_exit = self.trades.where("action", "exit")
        pnl = np.where(self.trade_exit, tr["pnl"].to_numpy(dtype=float, na_value=np.nan), 0.0)
        flat = tr["position"].to_numpy(dtype=float) == 0.0
        pair = apos * k + self.trade_sym
        for key in np.unique(pair):
            rows = np.flatnonzero(pair == key)  # this holding's fills, in recording order
            self.trade_realised[rows] = np.cumsum(pnl[rows])
            # the first fill of the lot each fill belongs to (after the last flat fill)
            last_flat = np.maximum.accumulate(np.where(flat[rows], np.arange(len(rows)), -1))
            before = np.concatenate(([-1], last_flat[:-1]))
            self.trade_lot[rows] = rows[before + 1]

    def avg_price(self, r: int) -> float:
        """Average price of fill ``r``'s holding after it, by the accounting kernel's
        rules (arena/portfolio.py ``_fill``), from the first fill of its lot (or the
        last one worked out before: each fill's is kept)."""
        cols, k = self.trades.cols, len(self.symbols)
        pair = self.trades.apos * k + self.trade_sym
        rows = np.arange(self.trade_lot[r], r + 1)
        rows = rows[pair[rows] == pair[r]]
        held = avg = 0.0
        known = rows[~np.isnan(self.trade_avg[rows])]
        if len(known):  # go on from the last fill worked out before
            held, avg = float(cols["position"][known[-1]]), float(self.trade_avg[known[-1]])
            rows = rows[rows > known[-1]]
        out = []
        for sd, q_abs, p, ex, q_after in zip(
                np.where(cols["side"][rows] == "buy", 1.0, -1.0).tolist(),
                cols["quantity"][rows].tolist(), cols["price"][rows].tolist(),
                self.trade_exit[rows].tolist(), cols["position"][rows].tolist(), strict=True):
            if ex:
                if q_after == 0.0:
                    avg = 0.0
            elif held * sd >= 0:
                avg = (avg * abs(held) + p * q_abs) / abs(q_after)
            else:
                avg = p
            held = q_after
            out.append(avg)
        self.trade_avg[rows] = out
        return avg

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
        rows = tr.between(t0, t1)  # trades of bars t0..t1-1, in recording order
        rows = rows[self.trade_exit[rows]]
        apos, pnl = tr.apos[rows], tr.cols["pnl"][rows] if len(rows) else np.zeros(0)
        times = self.times[t0:t1]
        for i, s in enumerate(stats):
            s.update_many(times, self.equity[i, t0:t1], self.invested[i, t0:t1],
                          self.fees[i, t0:t1])
            s.add_closed_trades(pnl[apos == i])

    def market_data(self) -> MarketData:
        o = self.ohlcv
        return MarketData(self.times, self.symbols, o["open"], o["high"], o["low"], o["close"],
                          o["volume"], source=str(self.meta.get("data_source", "recording")))

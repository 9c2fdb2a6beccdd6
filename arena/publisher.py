"""Publishing: the rows a block of processed bars adds to the streams and the recording.

The engine thread calls :meth:`Publisher.bars` after each block (or bar); views
read the streams, the recorder persists the same rows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading

import numpy as np

from arena.channels import CompetitionStreams
from arena.data.market import MarketData
from arena.metrics import buy_and_hold_return
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
    Accounts,
)
from arena.recorder import Recorder, iso


def wall_time() -> str:
    """Now, as ISO 8601 UTC with milliseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_targets(targets) -> str | None:
    """Targets as compact JSON (None when the decision holds)."""
    if targets is None:
        return None
    return json.dumps({s: round(float(w), 6) for s, w in targets.items()})


class Publisher:
    """Turns processed bars into stream rows and recording rows.

    ``equity``, ``invested`` and ``cash`` are the run's ``(agents, bars)`` arrays
    that the accounting kernel fills; ``slots`` are the competitors. Events may be
    emitted from any thread; they are queued and written by the engine thread
    (which owns the recording) in :meth:`flush_events`.
    """

    def __init__(self, data: MarketData, slots, accounts: Accounts, equity: np.ndarray,
                 invested: np.ndarray, cash: np.ndarray, streams: CompetitionStreams, start_cash: float,
                 progress_every: float, lock: threading.RLock, clock):
        self.data, self.slots, self.accounts = data, slots, accounts
        self.equity, self.invested = equity, invested
        self.cash_history = cash
        self.streams, self.cash, self.lock, self.clock = streams, start_cash, lock, clock
        self.n_bars = len(data)
        self.progress_every = progress_every
        self.recorder: Recorder | None = None
        self.fills_log: list[tuple] = []
        self._events: list[tuple] = []
        self._last_board = -1.0
        self._next_progress = progress_every
        self._bench_start = data.close[0].copy()
        self._agent_ids = {s.name: s.index for s in slots}

    # -- events ---------------------------------------------------------------
    def emit(self, kind: str, bar: int | None, agent: str | None = None,
             message: str = "") -> None:
        """Publish an event now; it reaches the recording at the next flush."""
        time = None if bar is None else self.data.times[bar]
        wall = wall_time()
        with self.lock:
            self.streams.events.append((wall, bar, time, kind, agent, message))
            self._events.append((wall, bar, kind, self._agent_ids.get(agent), message))

    def flush_events(self) -> None:
        """Write queued events (engine thread only: it owns the recording)."""
        with self.lock:
            rows, self._events = self._events, []
        if self.recorder is not None and rows:
            self.recorder.add_events(rows)

    # -- bars, decisions, trades -------------------------------------------------
    def vector_decisions(self, t0: int, t1: int) -> None:
        """Decision rows of signal-driven agents for bars ``t0..t1-1`` (changes only)."""
        rows, rec_rows = [], []
        for s in self.slots:
            if s.signals is None:
                continue
            lo, hi = np.searchsorted(s.changes, [t0, t1])
            for t in s.changes[lo:hi].tolist():
                row = s.signals[t]
                targets = {sym: float(row[j]) for j, sym in enumerate(self.data.symbols)
                           if not np.isnan(row[j])}
                reason = s.agent.explain(self.data, t)
                text = format_targets(targets)
                rows.append((t, self.data.times[t], s.name, text, 1.0, reason))
                rec_rows.append((t, s.index, text, 1.0, reason, None))
        rows.sort(key=lambda r: r[0])
        rec_rows.sort(key=lambda r: r[0])
        self.decisions(rows, rec_rows)

    def decisions(self, rows, rec_rows) -> None:
        if not rows:
            return
        self.streams.decisions.extend(rows)
        for r in rows:
            self.emit("decision", agent=r[2], message=f"targets {r[3]}: {r[5]}"[:300], bar=r[0])
        if self.recorder is not None:
            self.recorder.add_decisions(rec_rows)

    # -- internals: publishing -------------------------------------------------
    def bars(self, t0: int, t1: int, fills: np.ndarray) -> None:
        if t1 <= t0:
            return
        data, st, rec = self.data, self.streams, self.recorder
        k, a = data.n_symbols, len(self.slots)
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
        cash0 = self.cash
        bench = cash0 * (data.close[t0:t1] / self._bench_start).mean(axis=1)
        st.benchmark.extend({"bar": bars, "time": times, "equity": bench,
                             "return_pct": (bench / cash0 - 1) * 100})
        # equity with running drawdown, per agent
        eq = self.equity[:, t0:t1]
        e_rows = {"bar": [], "time": [], "agent": [], "equity": [], "cash": [],
                  "return_pct": [], "drawdown_pct": []}
        rec_eq = []
        fills_by_agent = self._split_fills(fills)
        for s in self.slots:
            e = eq[s.index]
            peak = np.maximum.accumulate(np.concatenate(([s.peak], e)))[1:]
            s.peak = float(peak[-1])
            dd = (e / peak - 1) * 100
            cash = self.cash_history[s.index, t0:t1]
            e_rows["bar"].append(bars)
            e_rows["time"].append(times)
            e_rows["agent"].append(np.full(m, s.name, dtype=object))
            e_rows["equity"].append(e)
            e_rows["cash"].append(cash)
            e_rows["return_pct"].append((e / cash0 - 1) * 100)
            e_rows["drawdown_pct"].append(dd)
            if rec is not None:
                rec_eq.append((bars, np.full(m, s.index), e, cash, dd,
                               self.invested[s.index, t0:t1].astype(int)))
            self._update_stats(s, t0, t1, fills_by_agent.get(s.index))
        # interleave agents per bar: (bar0: a0, a1, ...), (bar1: ...)
        order = np.arange(m * a).reshape(a, m).T.ravel()
        st.equity.extend({c: np.concatenate(v)[order] for c, v in e_rows.items()})
        if rec is not None:
            stacked = [np.concatenate(col)[order] for col in zip(*rec_eq, strict=True)]
            rec.add_equity(zip(*(c.tolist() for c in stacked), strict=True))
        self._trades(fills)
        self.vector_decisions(t0, t1)
        self._progress(t1)
        self.board(t1, force=False)
        if rec is not None:
            rec.flush()

    def _split_fills(self, fills: np.ndarray) -> dict[int, np.ndarray]:
        if not len(fills):
            return {}
        ag = fills[:, F_AGENT].astype(int)
        return {int(i): fills[ag == i] for i in np.unique(ag)}

    def _update_stats(self, s, t0: int, t1: int, fills: np.ndarray | None) -> None:
        e = self.equity[s.index, t0:t1]
        inv = self.invested[s.index, t0:t1]
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

    def _trades(self, fills: np.ndarray) -> None:
        if not len(fills):
            return
        data = self.data
        rows, rec_rows = [], []
        for f in fills:
            a, bar, j = int(f[F_AGENT]), int(f[F_BAR]), int(f[F_SYMBOL])
            s = self.slots[a]
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
            self.emit("trade", agent=s.name, message=msg, bar=bar)
        self.fills_log.extend(rows)
        self.streams.trades.extend(rows)
        if self.recorder is not None:
            self.recorder.add_trades(rec_rows)

    def _progress(self, t1: int) -> None:
        frac = t1 / self.n_bars
        if frac >= self._next_progress and t1 < self.n_bars:
            self.emit("progress", bar=t1 - 1, message=f"{frac:.0%} ({t1}/{self.n_bars} bars)")
            while self._next_progress <= frac:
                self._next_progress += self.progress_every

    def board(self, t: int, force: bool) -> None:
        """Leaderboard and positions; at most 10 times a second unless forced."""
        now = self.clock.monotonic()
        if not force and now - self._last_board < 0.1 and t < self.n_bars:
            return
        self._last_board = now
        if not t or self.slots[0].stats is None:
            return
        bench = buy_and_hold_return(self.data.close[: t])
        cash0 = self.cash
        board = []
        for s in self.slots:
            snap = s.stats.snapshot(benchmark=bench)
            eq = float(self.equity[s.index, t - 1])
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
        acc, last = self.accounts, self.data.close[t - 1]
        pos = []
        for s in self.slots:
            unreal = acc.unrealised(s.index, last)
            for j, sym in enumerate(self.data.symbols):
                q = float(acc.qty[s.index, j])
                pos.append({"agent": s.name, "symbol": sym, "quantity": q,
                            "avg_price": float(acc.avg[s.index, j]), "last_price": float(last[j]),
                            "market_value": q * float(last[j]),
                            "unrealised_pnl": float(unreal[j]),
                            "realised_pnl": float(acc.realised[s.index, j])})
        self.streams.positions.upsert_many(pos)

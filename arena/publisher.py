"""Publishing: the rows a block of processed bars adds to the streams and the recording.

The engine thread calls :meth:`Publisher.bars` after each block (or bar); views
read the streams, the recorder persists the same rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import threading
import time

import numpy as np
import pandas as pd

from arena.channels import TRADE_COLUMNS, CompetitionStreams
from arena.data.market import MarketData
from arena.metrics import RunningStats, buy_and_hold_equity, buy_and_hold_return
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
from arena.recorder import Recorder
from streams import StreamFrame

#: the publisher hands the recorder what it published at least this often (bars)...
RECORD_BARS = 16384
#: ...or rows (trades, decisions and events: the writer's work is in them)...
RECORD_ROWS = 4096
#: ...or seconds (wall time), whichever comes first, and whenever the engine pauses
RECORD_SECONDS = 0.2


_SIDES = np.array(["sell", "buy"], dtype=object)  # shared strings, not one per fill
_ACTIONS = np.array(["entry", "exit"], dtype=object)


def wall_time() -> str:
    """Now, as ISO 8601 UTC with milliseconds."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=4096)
def _json_key(symbol: str) -> str:
    return json.dumps(symbol)


def _usage(agent) -> dict:
    """Leaderboard columns of an agent that calls a model (zeros/NaN for others)."""
    usage = getattr(agent, "usage", None)
    if usage is None:
        return {"tokens": 0, "latency_ms": math.nan, "cost_usd": 0.0}
    u = usage()
    return {"tokens": int(u["tokens_in"] + u["tokens_out"]),
            "latency_ms": u["mean_latency"] * 1000, "cost_usd": float(u["cost"])}


def _amount(x: float, sign: str = "") -> str:
    """A trade's price or pnl for its text: two decimals, or six significant digits
    from a thousand billion on (there, float64's cents are noise): ``10.50``,
    ``+3.50``, ``3.32518e+44``."""
    return f"{x:{sign}.2f}" if abs(x) < 1e12 else f"{x:{sign}.6g}"


def fill_text(side: str, quantity: float, symbol: str, price: float) -> str:
    """A fill as the event log and the leaderboard's last action say it (live and in a
    replay): ``buy 94 XYZ @ 10.50``."""
    return f"{side} {quantity:g} {symbol} @ {_amount(price)}"


def format_targets(targets) -> str | None:
    """Targets as compact JSON, e.g. ``{"AAPL": 0.5}`` (None when the decision holds)."""
    if targets is None:
        return None
    return "{" + ", ".join(f"{_json_key(s)}: {round(float(w), 6)!r}"
                           for s, w in targets.items()) + "}"


@functools.lru_cache(maxsize=4096)
def _row_targets(symbols: tuple[str, ...], row: tuple[float, ...]) -> str:
    """:func:`format_targets` of a signals row (NaN: no target for that symbol); signal
    agents repeat a few rows, so most are formatted once. (A row holding NaN never
    hits the cache: NaN equals nothing, so it is formatted each time, still right.)"""
    return format_targets({sym: w for sym, w in zip(symbols, row, strict=True) if w == w})


class Publisher:
    """Turns processed bars into stream rows and recording rows.

    ``equity``, ``invested`` and ``cash`` are the run's ``(agents, bars)`` arrays
    that the accounting kernel fills; ``slots`` are the competitors. Events may be
    emitted from any thread; they are queued and written by the engine thread
    (which owns the recording) in :meth:`flush_events`.
    """

    def __init__(self, data: MarketData, slots, accounts: Accounts, equity: np.ndarray,
                 invested: np.ndarray, cash: np.ndarray, drawdown: np.ndarray,
                 streams: CompetitionStreams, start_cash: float, progress_every: float,
                 lock: threading.RLock, clock):
        self.data, self.slots, self.accounts = data, slots, accounts
        self.equity, self.invested = equity, invested
        self.cash_history, self.drawdown = cash, drawdown
        self.streams, self.cash, self.lock, self.clock = streams, start_cash, lock, clock
        self.n_bars = len(data)
        self.progress_every = progress_every
        self.recorder: Recorder | None = None
        # every fill of the run (trades_frame, stats): unbounded, unlike the trades
        # stream, but stored as compact columns (about 90 bytes a fill)
        self.fills_log = StreamFrame(TRADE_COLUMNS, name="fills")
        # published, not yet handed to the recorder: bars from _recorded, trades, decisions
        self._recorded = self._published = 0
        self._trade_blocks: list[np.ndarray] = []
        self._decision_cols: list[list] = [[] for _ in range(5)]
        self._last_record = float("-inf")
        self._events: list[list] = [[] for _ in range(5)]  # columns, as recorder.add_event_columns
        self._last_board = -1.0
        self._next_progress = progress_every
        self._agent_ids = {s.name: s.index for s in slots}
        self._names = np.array([s.name for s in slots], dtype=object)

    # -- events ---------------------------------------------------------------
    def emit(self, kind: str, bar: int | None, agent: str | None = None,
             message: str = "") -> None:
        """Publish an event now; it reaches the recording at the next flush."""
        self.emit_many([(kind, bar, agent, message)])

    def emit_many(self, events: list[tuple[str, int | None, str | None, str]]) -> None:
        """Publish events ``(kind, bar, agent, message)`` at once, with one wall time."""
        if not events:
            return
        wall = wall_time()
        kinds, bars, agents, messages = zip(*events, strict=True)
        times = [None if b is None else self.data.times[b] for b in bars]
        ids = self._agent_ids
        with self.lock:
            self.streams.events.extend({
                "wall_time": [wall] * len(events), "bar": list(bars), "time": times,
                "kind": list(kinds), "agent": list(agents), "message": list(messages)})
            walls, at, kind, agent, message = self._events
            walls += [wall] * len(events)
            at += bars
            kind += kinds
            agent += [ids.get(a) for a in agents]
            message += messages

    def flush_events(self) -> None:
        """Write queued events (engine thread only: it owns the recording)."""
        with self.lock:
            cols, self._events = self._events, [[] for _ in range(5)]
        if self.recorder is not None and cols[0]:
            self.recorder.add_event_columns(cols)

    # -- the recording ------------------------------------------------------------
    def start_recording(self, recorder: Recorder) -> None:
        """Record to ``recorder`` from now on: it gets the run's histories once and
        then, at each hand-over, the range of bars published since the last."""
        data = self.data
        recorder.use_histories(data.times, data.symbols, [
            data.open, data.high, data.low, data.close, data.volume],
            self.equity, self.cash_history, self.drawdown, self.invested)
        self.recorder = recorder

    def record(self, force: bool = False) -> None:
        """Hand the recorder what was published since the last hand-over once
        :data:`RECORD_BARS` bars, :data:`RECORD_ROWS` rows or :data:`RECORD_SECONDS`
        have passed, or now with ``force`` (the engine pauses, steps or stops: then
        also wait for the commit). Batching costs the engine fewer calls than handing
        over each block; bounding the rows bounds the writer's work on the last batch,
        which ``close()`` waits for; a reader following the recording sees bars at
        most that much later (plus the writer's commit interval). Engine thread only."""
        rec = self.recorder
        if rec is None:
            return
        now = time.monotonic()  # real time, whatever clock paces the bars
        if force or self._published - self._recorded >= RECORD_BARS \
                or now - self._last_record >= RECORD_SECONDS \
                or self._pending_rows() >= RECORD_ROWS:
            self._last_record = now
            self.hand_over()
            rec.flush(force=force)

    def _pending_rows(self) -> int:
        """Trades, decisions and events published and not handed over yet."""
        return (sum(len(b) for b in self._trade_blocks) + len(self._decision_cols[0])
                + len(self._events[0]))

    def hand_over(self) -> None:
        """Give the recorder every bar, trade, decision and event published since the
        last hand-over (prices and equity as views of shared memory)."""
        rec, data = self.recorder, self.data
        t0, t1 = self._recorded, self._published
        if t1 > t0:
            rec.add_bars(t0, t1)
            self._recorded = t1
        if self._trade_blocks:  # columns as recorder.TRADE_BLOCK
            rec.add_trade_block(np.concatenate(self._trade_blocks), data.symbols)
            self._trade_blocks = []
        cols = self._decision_cols
        if cols[0]:
            rec.add_decision_columns([*cols, [None] * len(cols[0])])
            self._decision_cols = [[] for _ in range(5)]
        self.flush_events()

    # -- bars, decisions, trades -------------------------------------------------
    def vector_decisions(self, t0: int, t1: int) -> None:
        """Decision rows of signal-driven agents for bars ``t0..t1-1`` (changes only)."""
        rows = []
        symbols = self.data.symbols
        for s in self.slots:
            if s.signals is None:
                continue
            lo, hi = np.searchsorted(s.changes, [t0, t1])
            bars = s.changes[lo:hi]
            if not len(bars):
                continue
            reasons = s.agent.explain_many(self.data, bars)
            for t, row, reason in zip(bars.tolist(), s.signals[bars].tolist(), reasons,
                                      strict=True):
                rows.append((t, s, _row_targets(symbols, tuple(row)), 1.0, str(reason)))
        rows.sort(key=lambda r: r[0])
        self.decisions(rows)

    def decisions(self, rows: list[tuple]) -> None:
        """Publish decisions ``(bar, slot, targets_json, confidence, reasoning)``."""
        if not rows:
            return
        bars, slots, targets, confidence, reasoning = (list(c) for c in zip(*rows, strict=True))
        names = [s.name for s in slots]
        self.streams.decisions.extend({
            "bar": bars, "time": list(self.data.times[bars]), "agent": names,
            "targets": targets, "confidence": confidence, "reasoning": reasoning})
        if self.recorder is not None:
            for pending, col in zip(self._decision_cols, (
                    bars, [s.index for s in slots], targets, confidence, reasoning), strict=True):
                pending += col

    def llm_calls(self, rows: list[tuple]) -> None:
        """Record LLM calls ``(slot, CallRecord, late)`` (engine thread)."""
        if self.recorder is None or not rows:
            return
        self.recorder.add_llm_calls(
            (c.bar, s.index, c.model, c.prompt, c.response, c.tokens_in, c.tokens_out,
             round(c.latency * 1000, 3), c.cost, c.attempts, c.error, int(late))
            for s, c, late in rows)

    # -- internals: publishing -------------------------------------------------
    def bars(self, t0: int, t1: int, fills: np.ndarray) -> None:
        if t1 <= t0:
            return
        data, st = self.data, self.streams
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
        # benchmark: equal-weight buy and hold from bar 0's close
        cash0 = self.cash
        bench = buy_and_hold_equity(data.close, slice(t0, t1), cash0)
        st.benchmark.extend({"bar": bars, "time": times, "equity": bench,
                             "return_pct": (bench / cash0 - 1) * 100})
        # equity with running drawdown, all agents at once (rows: agents, in slot order)
        eq = self.equity[:, t0:t1]
        peaks = np.array([s.peak for s in self.slots])
        peak = np.maximum.accumulate(np.concatenate((peaks[:, None], eq), axis=1), axis=1)[:, 1:]
        dd = self.drawdown[:, t0:t1]
        np.multiply(np.subtract(np.divide(eq, peak), 1, out=dd), 100, out=dd)
        for s, p in zip(self.slots, peak[:, -1].tolist(), strict=True):
            s.peak = p
        self._update_all_stats(t0, t1, fills)
        # interleaved per bar: (bar0: a0, a1, ...), (bar1: ...)
        st.equity.extend({
            "bar": np.repeat(bars, a), "time": np.repeat(times, a),
            "agent": np.tile(self._names, m), "equity": eq.T.ravel(),
            "cash": self.cash_history[:, t0:t1].T.ravel(),
            "return_pct": ((eq / cash0 - 1) * 100).T.ravel(), "drawdown_pct": dd.T.ravel()})
        self._trades(fills)
        self.vector_decisions(t0, t1)
        self._progress(t1)
        self.board(t1, force=False)
        self._published = t1

    def _update_all_stats(self, t0: int, t1: int, fills: np.ndarray) -> None:
        """Every agent's running statistics for bars ``t0..t1-1`` (bar 0 is their
        starting point): a block at once for all agents, a single bar agent by agent."""
        start = 1 if t0 == 0 else 0
        if t1 - t0 == 1 and start == 0:  # the per-bar path: the scalar update is cheaper
            by_agent = self._split_fills(fills)
            for s in self.slots:
                self._update_stats(s, t0, t1, by_agent.get(s.index))
            return
        lo = t0 + start
        if lo >= t1 or self.slots[0].stats is None:
            return
        a = len(self.slots)
        fees = np.zeros((a, t1 - lo))
        pnls: list = [()] * a
        if len(fills):
            ag = fills[:, F_AGENT].astype(np.intp)
            off = fills[:, F_BAR].astype(np.intp) - lo
            ok = off >= 0
            np.add.at(fees, (ag[ok], off[ok]), fills[ok, F_FEE])
            exits = ok & (fills[:, F_EXIT] > 0)
            if exits.any():
                order = np.argsort(ag[exits], kind="stable")  # per agent, in fill order
                agents, pnl = ag[exits][order], fills[exits, F_PNL][order]
                bounds = np.flatnonzero(np.diff(agents)) + 1
                for idx, chunk in zip(agents[np.r_[0, bounds]].tolist(),
                                      np.split(pnl, bounds), strict=True):
                    pnls[idx] = chunk
        RunningStats.update_agents(
            [s.stats for s in self.slots], self.data.times[lo:t1], self.equity[:, lo:t1],
            self.invested[:, lo:t1], fees, pnls)

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
        if t1 - t0 == 1 and start == 0:  # the per-bar path: the scalar update is cheaper
            s.stats.update(self.data.timestamp(t0), float(e[0]), bool(inv[0]), float(fees[0]),
                           pnls.get(0, ()))
        elif start < t1 - t0:
            s.stats.update_many(self.data.times[t0 + start:t1], e[start:], inv[start:],
                                fees[start:], {o - start: v for o, v in pnls.items()
                                               if o >= start})

    def _trades(self, fills: np.ndarray) -> None:
        """Trade rows (and trade events) for the block's fills."""
        if not len(fills):
            return
        data = self.data
        agent = fills[:, F_AGENT].astype(int)
        bar = fills[:, F_BAR].astype(int)
        names = np.array([s.name for s in self.slots], dtype=object)[agent]
        symbols = np.array(data.symbols, dtype=object)[fills[:, F_SYMBOL].astype(int)]
        side = _SIDES[(fills[:, F_SIDE] > 0).astype(np.intp)]
        action = _ACTIONS[(fills[:, F_EXIT] > 0).astype(np.intp)]
        cols = {"bar": bar, "time": data.times[bar], "agent": names, "symbol": symbols,
                "side": side, "quantity": fills[:, F_QTY].copy(),
                "price": fills[:, F_PRICE].copy(), "fee": fills[:, F_FEE].copy(),
                "action": action, "pnl": fills[:, F_PNL].copy(), "position": fills[:, F_POS].copy()}
        self.fills_log.extend(cols)
        self.streams.trades.extend(cols)
        qty, price, pnl = fills[:, F_QTY].tolist(), fills[:, F_PRICE].tolist(), fills[:, F_PNL].tolist()
        did = [fill_text(sd, q, sym, p) for sd, q, sym, p in zip(side, qty, symbols, price,
                                                                 strict=True)]
        for a, text in zip(agent.tolist(), did, strict=True):
            self.slots[a].last_action = text
        self.emit_many([
            ("trade", b, n, f"{d} ({act})" if math.isnan(x) else f"{d} ({act}, pnl {_amount(x, '+')})")
            for b, n, d, act, x in zip(bar.tolist(), names, did, action, pnl, strict=True)])
        if self.recorder is not None:  # columns as recorder.TRADE_BLOCK
            self._trade_blocks.append(fills[:, [F_BAR, F_AGENT, F_SYMBOL, F_SIDE, F_QTY,
                                                F_PRICE, F_FEE, F_EXIT, F_PNL, F_POS]])

    def fills_frame(self) -> pd.DataFrame:
        """Every fill so far, in the trades stream's columns (UTC times)."""
        if not self.fills_log.total:
            return pd.DataFrame(columns=list(TRADE_COLUMNS))
        return self.fills_log.to_frame().reset_index(drop=True)

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
                "errors": s.errors, "last_action": s.last_action, **_usage(s.agent),
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

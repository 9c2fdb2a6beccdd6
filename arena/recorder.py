"""Recording a competition to SQLite, and reading a recording back.

One database per run (``<run_dir>/<run_id>/arena.sqlite``) in WAL mode so that
readers can open it while the engine writes. A writer process (see
:class:`Recorder`) commits at least every ``commit_interval`` seconds (sooner
when it has caught up), so a crash of the whole machine loses at most that
much, and a crash of the engine's process loses nothing that the engine had
handed over.

Tables: ``meta`` (key → JSON value: run id, config, data source, status…),
``agents`` (id, name, spec, params), ``bar_blocks`` and ``equity_blocks`` (prices
and equity as column blocks, below), ``trades``, ``decisions``, ``events``,
``llm_calls`` (every prompt and answer of the LLM agents, with tokens, latency,
cost and error; never an API key) and ``writer`` (who writes: **Status**, below).
Rows reference bars by index.

Prices and equity are stored one row per block of at most :data:`BLOCK_CELLS`
values per column (``bars × symbols`` or ``bars × agents``), each column a BLOB
of little-endian numpy values:

``bar_blocks(t0, n_bars, symbols, time, open, high, low, close, volume)``
    bars ``t0 .. t0+n_bars-1``; ``symbols`` a JSON list; ``time`` int64 Unix
    nanoseconds (UTC); OHLCV float64 ``(bars, symbols)`` in bar-major order.
``equity_blocks(t0, n_bars, n_agents, equity, cash, drawdown_pct, invested)``
    agents ``0 .. n_agents-1`` (their ids), agent-major: agent 0's bars, then agent
    1's...; float64, ``invested`` int8. (Agent-major because the run keeps its
    histories so, in shared memory the writer reads without a copy.)

``PRAGMA user_version`` is :data:`SCHEMA_VERSION` (3). Version 2 stored times in
whole seconds and equity blocks bar-major (the agents of each bar); version 0 (before
column blocks) one row per bar and symbol in ``bars`` (ISO time) and per bar and
agent in ``equity``. :class:`Recording` reads them all and returns the same frames.

**Status.** The engine writes meta ``status`` ``running`` at the start and
``finished``, ``stopped`` or ``failed`` at the end. A run whose end never came reads
as ``interrupted`` (:meth:`Recording.status`, :attr:`Recording.meta`,
:func:`list_runs`), with ``last_bar`` (the highest bar index whose prices and equity
are recorded) and ``last_bar_time`` (its bar time, ISO 8601 UTC):

1. The writer process outlives the engine's: when its input ends without a close
   (the engine was killed, or dropped the recorder) or it is sent SIGTERM, it commits
   what it has and stores ``interrupted`` itself (:mod:`arena._sqlite_writer`).
2. When the writer died too (both killed, the machine restarted), the meta still says
   ``running``; a reader then checks the identity the writer stored at its start (the
   one row of table ``writer``, :meth:`Recording.writer`): on the same host (hostname), a different boot id means
   the machine restarted; else, in the same pid namespace, the run is live only if
   process ``pid`` exists with the same start time (field 22 of ``/proc/PID/stat``; a
   reused pid has another). No checks cost the engine anything: the writer does them.
3. A recording written on another machine (a shared folder), or where ``/proc`` tells
   nothing, is live while the writer's ``heartbeat`` (renewed every
   :data:`~arena._sqlite_writer.HEARTBEAT_SECONDS`, 5 s, even while paused) is at
   most :data:`HEARTBEAT_STALE` (60 s) old by the reader's clock (clocks in sync).
4. Recordings made before writers stored their identity (no table ``writer``: schema
   versions 0-3 written by an older Trading Arena) that say ``running`` are live only
   if their database or its log was written in the last :data:`HEARTBEAT_STALE`
   seconds; else interrupted (an older writer still running a paused run reads so too).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import marshal
import os
import select
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from arena import shared
from arena._sqlite_writer import (
    HEADER,
    SCHEMA_VERSION,
    WRITER_COLUMNS,
    EndOfInput,
    boot_id,
    last_bar,
    pid_namespace,
    read_frame,
    start_time,
)

DB_NAME = "arena.sqlite"

BLOCK_CELLS = 1 << 16  # most values per column in one block row (a cap on its size)
MAX_BACKLOG = 64 << 20  # bytes the engine may be ahead of the pipe before it waits
PENDING_MAX = 1 << 20  # bytes handed over before they go to the pipe without a flush
#: seconds without a heartbeat after which a writer on another machine counts as gone
HEARTBEAT_STALE = 60.0
PRICE_FIELDS = ("open", "high", "low", "close", "volume")
EQUITY_FIELDS = ("equity", "cash", "drawdown_pct")
#: columns of :meth:`Recorder.add_trade_block`, in order
TRADE_BLOCK = ("bar", "agent", "symbol", "side", "quantity", "price", "fee", "exit", "pnl",
               "position")


_WRITER = str(Path(__file__).with_name("_sqlite_writer.py"))
_TRADES = ("INSERT INTO trades (bar, agent, symbol, side, quantity, price, fee, action, pnl,"
           " position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_DECISIONS = ("INSERT INTO decisions (bar, agent, targets, confidence, reasoning, detail)"
              " VALUES (?, ?, ?, ?, ?, ?)")
_LLM_CALLS = ("INSERT INTO llm_calls (bar, agent, model, prompt, response, tokens_in, tokens_out,"
              " latency_ms, cost_usd, attempts, error, late) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
              " ?, ?)")
_EVENTS = "INSERT INTO events (wall_time, bar, kind, agent, message) VALUES (?, ?, ?, ?, ?)"


class RecordingError(RuntimeError):
    """A recording that cannot be found, opened or written."""


def _utc(values) -> pd.Series:
    """ISO 8601 strings → datetime64[ns, UTC]."""
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


def iso(times: np.ndarray) -> list[str]:
    """datetime64[ns] (UTC, naive) → ISO 8601 strings with a trailing Z."""
    return [s + "Z" for s in np.datetime_as_string(times, unit="s")]


class Recorder:
    """Writes one run's rows to ``<run_path>/arena.sqlite`` (engine thread only).

    The database, its schema and the inserts are the work of a writer process
    (:mod:`arena._sqlite_writer`, standard library only) that this object feeds
    through a pipe, so SQLite runs on another core and the engine only hands over
    numpy buffers; the run's folder is made here (a folder that cannot be made or
    written raises at once, anything else from the next call). The writer applies
    everything in order and commits at least every ``commit_interval`` seconds while it has
    rows (and a fiftieth of that after its last commit once it has caught up); if
    the engine's process dies, it commits what it received and exits. What a
    full pipe cannot take yet waits here (the engine goes on) and follows with
    the next hand-over or flush; only more than :data:`MAX_BACKLOG` bytes waiting
    makes the engine wait, which bounds how far the writer can lag. The ``add_*``
    calls between two flushes go to the pipe together, in one write, at the
    :meth:`flush` (or once :data:`PENDING_MAX` bytes wait): each write to a pipe
    whose reader sleeps wakes it on the other core, which costs the engine about
    as much as copying 100 KB. Until then the arrays handed over are referenced,
    not copied: they must not change before the next :meth:`flush`.

    ``regions`` are shared-memory regions (:mod:`arena.shared`) the writer maps when
    it starts: arrays handed over that lie in them (the run's histories, see
    :meth:`use_histories`) are read there, at their offsets, instead of being copied
    into the pipe.

    Rows hold plain Python values (None, int, float, str; not numpy scalars, whose
    raw bytes the pipe's marshal format would store): the engine converts what
    agents return. Errors of the writer (disk full, a file it cannot write) come back as
    :class:`RecordingError` from the next :meth:`flush` or :meth:`close` (or an
    ``add_*`` that writes).
    """

    def __init__(self, run_path: Path, commit_interval: float = 0.5,
                 regions: Sequence[shared.Region] = ()):
        self.path = Path(run_path) / DB_NAME
        try:  # the writer creates the database; a folder it could not write fails here
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(self.path.parent, os.W_OK | os.X_OK):
                raise PermissionError(f"no permission to write in {self.path.parent}")
        except OSError as exc:
            raise RecordingError(f"cannot create recording {self.path}: {exc}") from exc
        self.commit_interval = commit_interval
        self.error: str | None = None
        self._token = 0
        # shared-memory regions the writer maps (kept alive here), by their index in
        # its command line
        self._shared = list(regions)
        self._regions = {id(r): i for i, r in enumerate(self._shared)}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", _WRITER, str(self.path), repr(commit_interval),
                 *(f"{r.fd}:{r.size}" for r in self._shared)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                pass_fds=[r.fd for r in self._shared])
        except OSError as exc:
            raise RecordingError(f"cannot start the writer of {self.path}: {exc}") from exc
        self._in, self._out = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        with contextlib.suppress(AttributeError, OSError):  # Linux: a 1 MB pipe
            fcntl.fcntl(self._in, fcntl.F_SETPIPE_SZ, 1 << 20)
        os.set_blocking(self._in, False)  # a full pipe never stalls the engine (_send)
        self._backlog: list[memoryview] = []  # bytes the pipe has not taken yet
        self._pending: list[memoryview] = []  # handed over since the last write (not copied)
        self._pending_bytes = 0
        #: bytes handed to the pipe so far (columns read from shared memory are not)
        self.sent_bytes = 0

    @property
    def backlog_bytes(self) -> int:
        """Bytes handed over that the pipe has not taken yet."""
        return sum(len(p) for p in self._backlog)

    @property
    def pid(self) -> int | None:
        """The writer process's id (None once closed)."""
        return None if self._proc is None else self._proc.pid

    # -- writing -----------------------------------------------------------
    def set_meta(self, **items) -> None:
        self._send(("rows", "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [(k, json.dumps(v, default=str)) for k, v in items.items()]))

    def delete_meta(self, *keys: str) -> None:
        """Remove meta ``keys`` (a resumed run drops those of its interruption)."""
        if keys:
            self._send(("rows", "DELETE FROM meta WHERE key = ?", [(k,) for k in keys]))

    def add_agents(self, rows: Iterable[tuple[int, str, str, dict]]) -> None:
        self._send(("rows", "INSERT INTO agents VALUES (?, ?, ?, ?)",
                    [(i, name, spec, json.dumps(params, default=str))
                     for i, name, spec, params in rows]))

    def use_histories(self, times: np.ndarray, symbols: Sequence[str],
                      ohlcv: Sequence[np.ndarray], equity: np.ndarray, cash: np.ndarray,
                      drawdown_pct: np.ndarray, invested: np.ndarray) -> None:
        """The run's whole histories, once: ``times`` and five ``(bars, symbols)``
        OHLCV arrays, and ``(agents, bars)`` equity, cash, drawdown and invested;
        :meth:`add_bars` then hands over ranges of them. Where they lie in shared
        memory the writer reads them there, at offsets worked out here once."""
        self._bars = _Columns(self._price_columns(times, symbols, ohlcv), 0, self._regions)
        self._equity = _Columns(_equity_columns(equity, cash, drawdown_pct, invested), 1,
                                self._regions)
        self._symbols = json.dumps(list(symbols))

    def add_bars(self, t0: int, t1: int) -> None:
        """Bars ``t0 .. t1-1`` of the histories (:meth:`use_histories`): their prices
        and every agent's equity."""
        a = self._equity.arrays[0].shape[0]
        self._send_blocks("bar_block", self._bars, (self._symbols,), t0, t1)
        self._send_blocks("equity_block", self._equity, (a,), t0, t1)

    def add_bar_block(self, t0: int, times: np.ndarray, symbols: Sequence[str],
                      ohlcv: Sequence[np.ndarray]) -> None:
        """Bars ``t0 .. t0+len(times)-1``: ``times`` datetime64[ns] (UTC, naive) and five
        ``(bars, symbols)`` arrays open, high, low, close, volume."""
        cols = _Columns(self._price_columns(times, symbols, ohlcv), 0, self._regions)
        self._send_blocks("bar_block", cols, (json.dumps(list(symbols)),), 0, len(times),
                          int(t0))

    def add_equity_block(self, t0: int, equity: np.ndarray, cash: np.ndarray,
                         drawdown_pct: np.ndarray, invested: np.ndarray) -> None:
        """Equity of agents ``0 .. n-1`` (the rows) for bars ``t0..`` (the columns):
        ``(agents, bars)`` arrays, e.g. views of the run's histories."""
        cols = _Columns(_equity_columns(equity, cash, drawdown_pct, invested), 1, self._regions)
        a, m = cols.arrays[0].shape
        self._send_blocks("equity_block", cols, (a,), 0, m, int(t0))

    @staticmethod
    def _price_columns(times, symbols, ohlcv) -> list[np.ndarray]:
        times = np.asarray(times, dtype="datetime64[ns]").view("<i8")
        cols = [np.asarray(c, dtype="<f8") for c in ohlcv]
        k = len(symbols)
        if len(cols) != len(PRICE_FIELDS) or any(c.shape != (len(times), k) for c in cols):
            raise ValueError(f"bar block of {len(times)} bars x {k} symbols: got OHLCV shapes "
                             f"{[c.shape for c in cols]}")
        return [times, *cols]

    def _send_blocks(self, kind: str, cols: _Columns, head: tuple, start: int, stop: int,
                     first: int = 0) -> None:
        """Bars ``start..stop-1`` of ``cols`` as ``kind`` messages of at most
        :data:`BLOCK_CELLS` values a column, recorded as bars ``first+start..``."""
        for i, j in _chunks(stop - start, cols.width):
            specs, buffers = cols.range(start + i, start + j)
            self._send((kind, first + start + i, j - i, *head, specs), buffers)

    def add_trades(self, rows: Iterable[tuple]) -> None:
        """Rows ``(bar, agent, symbol, side, quantity, price, fee, action, pnl, position)``."""
        self._send(("rows", _TRADES, list(rows)))

    def add_trade_block(self, trades: np.ndarray, symbols: Sequence[str]) -> None:
        """The rows of :meth:`add_trades` as one numeric ``(n, 10)`` array, columns as
        :data:`TRADE_BLOCK`: ``symbol`` an index into ``symbols``, ``side`` > 0 for a
        buy, ``exit`` > 0 for an exit, ``pnl`` NaN for none. Sent as one buffer; the
        writer makes the rows, so the engine builds no Python objects for them."""
        block = np.ascontiguousarray(trades, dtype="<f8")
        if block.ndim != 2 or block.shape[1] != len(TRADE_BLOCK):
            raise ValueError(f"trade block of shape {block.shape}: expected (n, "
                             f"{len(TRADE_BLOCK)}) columns {TRADE_BLOCK}")
        if len(block):
            self._send(("trade_block", _TRADES, list(symbols), [block.nbytes]), [block])

    def add_decisions(self, rows: Iterable[tuple]) -> None:
        """Rows ``(bar, agent, targets, confidence, reasoning, detail)``."""
        self._send(("rows", _DECISIONS, list(rows)))

    def add_decision_columns(self, columns: Sequence[list]) -> None:
        """The columns of :meth:`add_decisions` as lists of equal length."""
        self._send(("columns", _DECISIONS, list(columns)))

    def add_events(self, rows: Iterable[tuple]) -> None:
        """Rows ``(wall_time, bar, kind, agent, message)``."""
        self._send(("rows", _EVENTS, list(rows)))

    def add_event_columns(self, columns: Sequence[list]) -> None:
        """The columns of :meth:`add_events` as lists of equal length (marshal writes
        a wall time shared by many events once)."""
        self._send(("columns", _EVENTS, list(columns)))

    def add_llm_calls(self, rows: Iterable[tuple]) -> None:
        """Rows ``(bar, agent, model, prompt, response, tokens_in, tokens_out, latency_ms,
        cost_usd, attempts, error, late)``: every prompt and answer of an LLM agent."""
        self._send(("rows", _LLM_CALLS, list(rows)))

    def flush(self, force: bool = False) -> None:
        """Raise the writer's error if it has one; with ``force``, also wait until
        everything sent so far is committed (readable by others)."""
        if self._proc is None:
            raise RecordingError(f"recording {self.path} is closed")
        if force:
            self._request("commit")
            return
        self._write_pending()
        if select.select([self._out], [], [], 0)[0]:  # the writer only talks when it fails
            self._failed()

    def close(self) -> None:
        """Commit everything and stop the writer; raises if it failed on the way.

        Returns once the last rows are committed (the recording is complete and
        readable); the writer then checkpoints the WAL into the database file and
        exits on its own, without holding up the engine."""
        proc = self._proc
        if proc is None:
            return
        committed = False
        try:
            self._request("close")
            committed = True
        finally:
            self._proc = None
            proc.stdin.close()
            proc.stdout.close()
            if not committed:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()

    def close_quietly(self) -> None:
        """Stop the writer without raising (after its error was reported)."""
        with contextlib.suppress(RecordingError):
            self.close()

    # -- the pipe ------------------------------------------------------------
    def _send(self, message: tuple, buffers: Sequence[np.ndarray] = ()) -> None:
        """Hand a message (and its buffers, by reference) to the writer: it goes to
        the pipe with the others at the next :meth:`_write_pending`."""
        if self._proc is None:
            raise RecordingError(f"recording {self.path} is closed")
        if self.error is not None:  # the writer failed: nothing more goes to it
            self._failed()
        try:
            body = marshal.dumps(message)
        except ValueError as exc:
            raise RecordingError(f"recording {self.path}: cannot record a {message[0]!r} "
                                 f"message ({exc}): its values must be None, int, float or "
                                 "str") from exc
        parts = [memoryview(HEADER.pack(len(body))), memoryview(body)]
        parts += [memoryview(b).cast("B") for b in buffers if b.nbytes]
        size = sum(len(p) for p in parts)
        self._pending += parts
        self._pending_bytes += size
        self.sent_bytes += size
        if self._pending_bytes > PENDING_MAX:
            self._write_pending()

    def _write_pending(self) -> None:
        """Into the pipe, in one write, as far as it takes them now: the messages
        handed over since the last write; the rest waits, copied, in
        :attr:`_backlog` (the pipe is full while the writer starts or falls behind)
        and goes with the next writes. Only a backlog over :data:`MAX_BACKLOG` makes
        the engine wait."""
        parts, self._pending, self._pending_bytes = self._pending, [], 0
        if self._backlog:
            self._drain(block=False)
        if not self._backlog and parts:
            parts = self._push(parts, block=False)
        if parts:  # copies: the caller may reuse its arrays
            self._backlog += [memoryview(bytes(p)) for p in parts]
            if self.backlog_bytes > MAX_BACKLOG:
                self._drain(block=True)

    def _drain(self, block: bool) -> None:
        """Write the backlog: what the pipe takes now, or (``block``) all of it."""
        self._backlog = self._push(self._backlog, block)

    def _push(self, parts: list[memoryview], block: bool) -> list[memoryview]:
        """Write ``parts`` in order: all of them (``block``), or as many bytes as the
        pipe takes without waiting; returns what is left."""
        while parts:
            try:
                n = os.writev(self._in, parts[:512])
            except BlockingIOError:
                if not block:
                    break
                select.select([], [self._in], [])
                continue
            except OSError:  # broken pipe: the writer is gone
                self._failed()
            while n:
                if n >= len(parts[0]):
                    n -= len(parts.pop(0))
                else:
                    parts[0], n = parts[0][n:], 0
        return parts

    def _request(self, kind: str) -> None:
        self._token += 1
        self._send((kind, self._token))
        self._write_pending()
        self._drain(block=True)
        answer = self._answer()
        if answer != ("ok", self._token):
            self._failed(answer)

    def _answer(self):
        """The writer's next frame (the same format both ways), or None at its end."""
        try:
            return read_frame(self._out)
        except EndOfInput:
            return None

    def _failed(self, answer=None):
        """Raise the writer's error (reading it from the pipe if not yet read)."""
        if self.error is None:
            if answer is None:
                answer = self._answer()
            if answer is not None and answer[0] == "error":
                self.error = answer[1]
            else:
                code = self._proc.wait() if self._proc is not None else None
                self.error = f"the writer process ended unexpectedly (exit code {code})"
        raise RecordingError(f"recording {self.path} failed: {self.error}")


def _chunks(n_bars: int, width: int):
    """``(start, stop)`` bar ranges of at most :data:`BLOCK_CELLS` // ``width`` bars."""
    step = max(1, BLOCK_CELLS // max(width, 1))
    return [(i, min(i + step, n_bars)) for i in range(0, n_bars, step)]


def _equity_columns(equity, cash, drawdown_pct, invested) -> list[np.ndarray]:
    cols = [np.asarray(x, dtype="<f8") for x in (equity, cash, drawdown_pct)]
    invested = np.asarray(invested)
    cols.append(invested.view(np.int8) if invested.dtype == np.bool_
                else invested.astype(np.int8))
    if cols[0].ndim != 2 or not len(cols[0]) or any(c.shape != cols[0].shape for c in cols):
        raise ValueError(f"equity block of shapes {[c.shape for c in cols]}: expected "
                         "(agents, bars) arrays of one shape")
    return cols


class _Columns:
    """Arrays whose bars lie along ``axis`` (0: ``(bars, ...)``, 1: ``(rows, bars)``),
    handed over a range of bars at a time: where an array is in a shared region the
    writer maps, as that range's offsets (worked out from the array's own, located
    once); else its values, copied after the frame."""

    def __init__(self, arrays: list[np.ndarray], axis: int, regions: dict[int, int]):
        self.arrays, self.axis = arrays, axis
        #: values of one bar per column (symbols or agents): what a block's size counts
        self.width = arrays[-1].shape[1] if axis == 0 else arrays[0].shape[0]
        self.where: list[tuple[int, int] | None] = []
        for a in arrays:
            found = shared.locate(a) if regions and a.size else None
            index = None if found is None else regions.get(id(found[0]))
            inner = a.strides[-1] == a.itemsize and (axis == 1 or a.flags.c_contiguous)
            self.where.append((index, found[1]) if index is not None and inner else None)

    def range(self, i: int, j: int) -> tuple[list[tuple], list[np.ndarray]]:
        """Where the writer finds bars ``i..j-1`` of each array, and the buffers to
        send after the frame for those it cannot read in place."""
        specs, buffers = [], []
        for a, where in zip(self.arrays, self.where, strict=True):
            if where is None:
                c = np.ascontiguousarray(a[i:j] if self.axis == 0 else a[:, i:j])
                specs.append(("pipe", c.nbytes))
                buffers.append(c)
            elif self.axis == 0:
                row = a.strides[0]
                specs.append(("shared", where[0], [(where[1] + i * row, (j - i) * row)]))
            else:
                step, item = a.strides
                specs.append(("shared", where[0], [(where[1] + r * step + i * item, (j - i) * item)
                                                   for r in range(len(a))]))
        return specs, buffers


class Recording:
    """Read access to one run's database; safe while the run is still writing."""

    def __init__(self, path: str | Path):
        p = Path(path)
        if p.is_dir():
            p = p / DB_NAME
        if not p.is_file():
            raise RecordingError(f"no recording at {path} (expected {p})")
        self.path = p
        self.run_path = p.parent
        try:
            self.db = sqlite3.connect(f"file:{p}?mode=ro", uri=True, check_same_thread=False)
            self.db.execute("SELECT 1 FROM meta LIMIT 1")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            tables = {name for (name,) in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            raise RecordingError(f"{p} is not a Trading Arena recording: {exc}") from exc
        if version > SCHEMA_VERSION:
            self.db.close()
            raise RecordingError(f"{p} has schema version {version}, newer than this Trading "
                                 f"Arena reads ({SCHEMA_VERSION}): update Trading Arena")
        #: True for column blocks (``bar_blocks``, ``equity_blocks``); False for a
        #: recording made before them (a row per bar × symbol and bar × agent)
        self.blocks = "bar_blocks" in tables
        self.version = version

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _frame(self, sql: str, params=()) -> pd.DataFrame:
        return pd.read_sql_query(sql, self.db, params=params)

    @property
    def meta(self) -> dict:
        """The run's meta (key → value), its ``status`` as :meth:`status` says: a run
        whose writer is gone without finishing reads ``interrupted``, with
        ``interrupted_reason``, ``last_bar`` and ``last_bar_time``."""
        meta = {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}
        if meta.get("status", "running") == "running":
            why = writer_gone(self.writer(), self.path)
            if why is not None:
                meta.update(status="interrupted", interrupted_reason=why)
        if meta.get("status") == "interrupted" and "last_bar" not in meta:
            meta["last_bar"], meta["last_bar_time"] = self.last_bar()
        return meta

    def status(self) -> str:
        """``running``, ``finished``, ``stopped``, ``failed`` or ``interrupted`` (its
        writer is gone without finishing: see the module's docstring); ``running``
        also before the engine's first meta. Cheap: two small rows and, for a run that
        says ``running``, a look at ``/proc``."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()
        status = json.loads(row[0]) if row else "running"
        if status == "running" and writer_gone(self.writer(), self.path) is not None:
            return "interrupted"
        return str(status)

    def writer(self) -> dict | None:
        """Who writes (or wrote) the recording: its writer process's pid, start time
        (clock ticks after boot), the machine's boot id, host and pid namespace, the
        engine's pid, when it started and its last heartbeat (UTC); None for a
        recording made before writers said so."""
        try:
            row = self.db.execute(f"SELECT {', '.join(WRITER_COLUMNS)} FROM writer").fetchone()
        except sqlite3.OperationalError:  # no such table: an older recording
            return None
        return None if row is None else dict(zip(WRITER_COLUMNS, row, strict=True))

    def last_bar(self) -> tuple[int | None, str | None]:
        """The highest bar index recorded (prices and every agent's equity) and its bar
        time as ISO 8601 UTC; ``(None, None)`` before the first bar."""
        return last_bar(self.db)

    def agents(self) -> pd.DataFrame:
        return self._frame("SELECT id, name, spec, params FROM agents ORDER BY id")

    def _names(self) -> dict[int, str]:
        return dict(self.db.execute("SELECT id, name FROM agents"))

    def _with_names(self, df: pd.DataFrame) -> pd.DataFrame:
        if "agent" in df:
            df["agent"] = df["agent"].map(self._names())
        return df

    def times(self) -> pd.Series:
        """UTC time of each bar index recorded so far."""
        if not self.blocks:
            df = self._frame("SELECT DISTINCT bar, time FROM bars ORDER BY bar")
            times = _utc(df["time"]).rename("time")
            times.index = df["bar"]
            return times
        g = self.bar_grid(prices=False)
        return pd.Series(_utc(g.times), index=pd.Index(g.bars, name="bar"), name="time")

    def bars(self) -> pd.DataFrame:
        """One row per bar and symbol (ordered by bar, then symbol): bar, time, symbol,
        open, high, low, close, volume."""
        if not self.blocks:
            df = self._frame("SELECT * FROM bars ORDER BY bar, symbol")
            df["time"] = _utc(df["time"])
            return df
        return self._bar_frame(0, _utc)

    def _timed(self, df: pd.DataFrame) -> pd.DataFrame:
        times = self.times()
        df.insert(1, "time", times.reindex(df["bar"]).array)
        return self._with_names(df)

    def equity(self) -> pd.DataFrame:
        """One row per bar and agent (ordered by bar, then agent id): bar, time, agent,
        equity, cash, drawdown_pct, invested."""
        df = pd.DataFrame(self.equity_arrays())
        df["invested"] = df["invested"].astype(bool)
        return self._timed(df)

    def trades(self) -> pd.DataFrame:
        return self._timed(self._frame(
            "SELECT bar, agent, symbol, side, quantity, price, fee, action, pnl, position"
            " FROM trades ORDER BY id"))

    def decisions(self) -> pd.DataFrame:
        return self._timed(self._frame(
            "SELECT bar, agent, targets, confidence, reasoning, detail FROM decisions ORDER BY id"))

    def llm_calls(self) -> pd.DataFrame:
        """Every LLM call in order: bar, time, agent, model, prompt, response, tokens,
        latency, cost, attempts, error (None if it was used) and ``late`` (answered
        after a live bar's deadline, so discarded). Empty for older recordings."""
        has = self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'llm_calls'").fetchone()
        cols = ("bar, agent, model, prompt, response, tokens_in, tokens_out, latency_ms,"
                " cost_usd, attempts, error, late")
        if not has:
            df = pd.DataFrame(columns=[c.strip() for c in cols.split(",")])
        else:
            df = self._frame(f"SELECT {cols} FROM llm_calls ORDER BY id")
        df["late"] = df["late"].astype(bool)
        return self._timed(df)

    def events(self) -> pd.DataFrame:
        df = self._frame("SELECT wall_time, bar, kind, agent, message FROM events ORDER BY id")
        df["wall_time"] = _utc(df["wall_time"])
        return self._with_names(df)


    # -- incremental, array readers (replay) ----------------------------------
    _EQUITY_DTYPE = np.dtype([("bar", "i8"), ("agent", "i8"), ("equity", "f8"), ("cash", "f8"),
                              ("drawdown_pct", "f8"), ("invested", "i1")])
    _TABLES = {
        "trades": "id, bar, agent, symbol, side, quantity, price, fee, action, pnl, position",
        "decisions": "id, bar, agent, targets, confidence, reasoning",
        "events": "id, wall_time, bar, kind, agent, message",
    }

    def snapshot(self):
        """A context in which every read sees the same committed state (one read
        transaction), even while the writer commits."""
        return _ReadSnapshot(self.db)

    def bar_grid(self, from_bar: int = 0, prices: bool = True) -> BarGrid:
        """Bars ``>= from_bar`` as arrays (``prices=False``: times only, no OHLCV)."""
        from_bar = int(from_bar)
        if not self.blocks:
            return _rows_to_bar_grid(self.bar_rows(from_bar))
        cols = ", ".join(("symbols", "time", *(PRICE_FIELDS if prices else ())))
        rows = self._block_rows("bar_blocks", cols, from_bar)
        names = rows[0][2] if rows else "[]"
        for t0, _, other, *_ in rows:
            if other != names:
                raise RecordingError(f"{self.path}: bar_blocks row t0={t0} has symbols "
                                     f"{other}, the first block {names}")
        symbols = tuple(json.loads(names))
        bars = _block_bars(rows)
        stamps = self._column(rows, 3, "bar_blocks", "time", "<i8", 1)
        grid = {f: self._column(rows, 4 + i, "bar_blocks", f, "<f8", len(symbols))
                for i, f in enumerate(PRICE_FIELDS if prices else ())}
        s = int(np.searchsorted(bars, from_bar))
        unit = "ns" if self.version >= 3 else "s"  # version 2 stored whole seconds
        times = stamps[s:].view(f"datetime64[{unit}]").astype("datetime64[ns]")
        return BarGrid(bars[s:], times, symbols, {f: v[s:] for f, v in grid.items()})

    def equity_grid(self, from_bar: int = 0) -> EquityGrid:
        """Equity of every bar ``>= from_bar`` as ``(bars, agents)`` arrays; only whole
        bars (every agent's row)."""
        from_bar = int(from_bar)
        if not self.blocks:
            return _rows_to_equity_grid(self.equity_arrays(from_bar))
        rows = self._block_rows("equity_blocks", "n_agents, equity, cash, drawdown_pct, invested",
                                from_bar)
        a = rows[0][2] if rows else 0
        for t0, _, other, *_ in rows:
            if other != a:
                raise RecordingError(f"{self.path}: equity_blocks row t0={t0} has {other} "
                                     f"agents, the first block {a}")
        bars = _block_bars(rows)
        by_agent = self.version >= 3  # version 2 stored each block bar-major
        cols = [self._column(rows, 3 + i, "equity_blocks", f, "<f8", a, by_agent)
                for i, f in enumerate(EQUITY_FIELDS)]
        invested = self._column(rows, 6, "equity_blocks", "invested", "i1", a,
                                by_agent).astype(bool)
        s = int(np.searchsorted(bars, from_bar))
        return EquityGrid(bars[s:], np.arange(a, dtype=np.int64),
                          *(c[s:] for c in cols), invested[s:])

    def _block_rows(self, table: str, cols: str, from_bar: int) -> list[tuple]:
        """Rows ``(t0, n_bars, *cols)`` of the blocks that hold bars ``>= from_bar``."""
        return self.db.execute(
            f"SELECT t0, n_bars, {cols} FROM {table} WHERE t0 >= coalesce("
            f"(SELECT max(t0) FROM {table} WHERE t0 <= ?), 0) ORDER BY t0",
            (from_bar,)).fetchall()

    def _column(self, rows: list[tuple], i: int, table: str, field: str, dtype: str,
                width: int, by_column: bool = False) -> np.ndarray:
        """Column ``i`` (a BLOB) of block ``rows`` → one ``(bars, width)`` array (1-D
        if ``width`` is 1 for time); each BLOB in bar-major order, or (``by_column``)
        ``width`` runs of its bars; a BLOB of the wrong size raises, naming it."""
        dt = np.dtype(dtype)
        n = sum(r[1] for r in rows)
        out = np.empty((n, width), dtype=dt.newbyteorder("="))
        at = 0
        for r in rows:
            m, blob = r[1], r[i]
            if not isinstance(blob, bytes) or len(blob) != m * width * dt.itemsize:
                got = f"{len(blob)} bytes" if isinstance(blob, bytes) else type(blob).__name__
                raise RecordingError(f"{self.path}: {table} row t0={r[0]}: {field} holds {got}, "
                                     f"expected {m} bars x {width} x {dt.itemsize} bytes")
            values = np.frombuffer(blob, dtype=dt)
            out[at:at + m] = values.reshape(width, m).T if by_column else values.reshape(m, width)
            at += m
        return out[:, 0] if field == "time" else out

    def _bar_frame(self, from_bar: int, timefmt) -> pd.DataFrame:
        g = self.bar_grid(from_bar)
        order = np.argsort(np.array(g.symbols, dtype=object), kind="stable")
        m, k = len(g.bars), len(g.symbols)
        return pd.DataFrame({
            "bar": np.repeat(g.bars, k), "time": timefmt(np.repeat(g.times, k)),
            "symbol": np.tile(np.array(g.symbols, dtype=object)[order], m),
            **{f: v[:, order].ravel() for f, v in g.prices.items()}})

    def equity_arrays(self, from_bar: int = 0) -> np.ndarray:
        """Equity rows with ``bar >= from_bar`` as one structured array ordered by
        (bar, agent id)."""
        if not self.blocks:
            cur = self.db.execute(
                "SELECT bar, agent, equity, cash, drawdown_pct, invested FROM equity"
                " WHERE bar >= ? ORDER BY bar, agent", (int(from_bar),))
            return np.fromiter(cur, dtype=self._EQUITY_DTYPE)
        g = self.equity_grid(from_bar)
        m, a = g.equity.shape
        out = np.empty(m * a, dtype=self._EQUITY_DTYPE)
        out["bar"], out["agent"] = np.repeat(g.bars, a), np.tile(g.agents, m)
        for f in EQUITY_FIELDS:
            out[f] = getattr(g, f).ravel()
        out["invested"] = g.invested.ravel()
        return out

    def bar_rows(self, from_bar: int = 0) -> pd.DataFrame:
        """Raw bar rows with ``bar >= from_bar`` (ISO times, missing prices as NaN),
        ordered by bar, then symbol."""
        if not self.blocks:
            return self._frame("SELECT bar, time, symbol, open, high, low, close, volume"
                               " FROM bars WHERE bar >= ? ORDER BY bar, symbol", (int(from_bar),))
        return self._bar_frame(int(from_bar), iso)

    @classmethod
    def columns_of(cls, table: str) -> list[str]:
        """The columns :meth:`rows_after` reads of ``trades``, ``decisions`` or ``events``."""
        return [c.strip() for c in cls._TABLES[table].split(",")]

    def rows_after(self, table: str, after_id: int = 0) -> pd.DataFrame:
        """Rows of ``trades``, ``decisions`` or ``events`` with ``id > after_id``, in id
        order, agents as ids (for readers that follow a recording being written)."""
        if table not in self._TABLES:
            raise ValueError(f"no table {table!r}; have {', '.join(self._TABLES)}")
        return self._frame(f"SELECT {self._TABLES[table]} FROM {table} WHERE id > ? ORDER BY id",
                           (int(after_id),))


@dataclass
class BarGrid:
    """Recorded bars as arrays: ``bars`` (int64 indices, ascending), ``times``
    (datetime64[ns], UTC), ``symbols`` and ``prices`` (open … volume, each
    ``(bars, symbols)`` float64; NaN where a price is missing)."""

    bars: np.ndarray
    times: np.ndarray
    symbols: tuple[str, ...]
    prices: dict[str, np.ndarray]


@dataclass
class EquityGrid:
    """Recorded equity as ``(bars, agents)`` arrays: ``bars`` (int64, ascending),
    ``agents`` (their ids, the columns), equity, cash, drawdown_pct (float64),
    invested (bool)."""

    bars: np.ndarray
    agents: np.ndarray
    equity: np.ndarray
    cash: np.ndarray
    drawdown_pct: np.ndarray
    invested: np.ndarray


def _block_bars(rows: list[tuple]) -> np.ndarray:
    """The bar indices of block rows ``(t0, n_bars, ...)``."""
    if not rows:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(t0, t0 + n, dtype=np.int64) for t0, n, *_ in rows])


def _rows_to_bar_grid(rows: pd.DataFrame) -> BarGrid:
    """Rows of the old ``bars`` table → a :class:`BarGrid` (missing prices NaN)."""
    bars, at = np.unique(rows["bar"].to_numpy(dtype=np.int64), return_inverse=True)
    symbols, col = np.unique(rows["symbol"].to_numpy(dtype=str), return_inverse=True)
    prices = {}
    for f in PRICE_FIELDS:
        grid = np.full((len(bars), len(symbols)), np.nan)
        grid[at, col] = rows[f].to_numpy(dtype=float, na_value=np.nan)
        prices[f] = grid
    first = rows.drop_duplicates("bar")["time"]
    times = _utc(first).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return BarGrid(bars, times, tuple(str(s) for s in symbols), prices)


def _rows_to_equity_grid(rows: np.ndarray) -> EquityGrid:
    """Rows of the old ``equity`` table → an :class:`EquityGrid`, up to the first bar
    that lacks an agent's row."""
    agents, col = np.unique(rows["agent"], return_inverse=True)
    bars, at = np.unique(rows["bar"], return_inverse=True)
    counts = np.bincount(at, minlength=len(bars))
    short = np.flatnonzero(counts != len(agents))
    m = int(short[0]) if len(short) else len(bars)
    keep = at < m
    grids = {}
    for f in (*EQUITY_FIELDS, "invested"):
        grid = np.zeros((m, len(agents)), dtype=rows[f].dtype)
        grid[at[keep], col[keep]] = rows[f][keep]
        grids[f] = grid
    grids["invested"] = grids["invested"].astype(bool)
    return EquityGrid(bars[:m].astype(np.int64), agents.astype(np.int64), **grids)


class _ReadSnapshot:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN")
        return self

    def __exit__(self, *exc):
        self.db.execute("COMMIT")


def list_runs(root: str | Path = "runs") -> pd.DataFrame:
    """One row per recording under ``root``: id, date, agents, data, status, leader,
    path, and ``last_bar`` (the highest bar index recorded) and ``last_bar_time`` (its
    bar time, ISO 8601 UTC). ``status`` is ``interrupted`` for a run whose writer is
    gone without finishing (:meth:`Recording.status`); :func:`status_text` words it
    with its last bar."""
    rows = []
    root = Path(root)
    for db in sorted(root.glob(f"*/{DB_NAME}")) if root.is_dir() else []:
        try:
            with Recording(db) as rec:
                meta = rec.meta
                agents = rec.agents()["name"].tolist()
                bar, when = ((meta["last_bar"], meta.get("last_bar_time")) if "last_bar" in meta
                             else rec.last_bar())
        except (RecordingError, sqlite3.Error):
            rows.append({"run_id": db.parent.name, "status": "unreadable", "path": str(db.parent)})
            continue
        rows.append({
            "run_id": meta.get("run_id", db.parent.name),
            "created": meta.get("created", ""),
            "agents": ", ".join(agents),
            "data": meta.get("data_source", ""),
            "status": meta.get("status", "running?"),
            "leader": meta.get("leader", ""),
            "path": str(db.parent),
            "last_bar": bar,
            "last_bar_time": when,
        })
    cols = ["run_id", "created", "agents", "data", "status", "leader", "path", "last_bar",
            "last_bar_time"]
    df = pd.DataFrame(rows, columns=cols)
    df["last_bar"] = df["last_bar"].astype("Int64")
    return df


def status_text(status: str, last_bar: int | None = None, last_bar_time: str | None = None) -> str:
    """A run's status in words: ``interrupted at bar 1,234 (2005-03-01)`` (the time with
    hours and minutes, UTC, if the bar is not at midnight), else the status itself."""
    if status != "interrupted":
        return str(status)
    try:
        bar = int(last_bar)
    except (TypeError, ValueError):  # None, NaN, pd.NA
        return "interrupted before its first bar"
    when = ""
    if isinstance(last_bar_time, str) and last_bar_time:
        t = pd.Timestamp(last_bar_time)
        t = t.tz_convert("UTC") if t.tzinfo else t
        fmt = "%Y-%m-%d" if t == t.normalize() else "%Y-%m-%d %H:%M:%S UTC" if t.second else (
            "%Y-%m-%d %H:%M UTC")
        when = f" ({t.strftime(fmt)})"
    return f"interrupted at bar {bar:,}{when}"


_HOST = os.uname().nodename if hasattr(os, "uname") else None


def writer_gone(w: dict | None, path: str | Path, now: float | None = None) -> str | None:
    """Why the writer of a recording whose meta says ``running`` is gone (a sentence),
    or None if it may still be writing: ``w`` is its row of table ``writer``
    (:meth:`Recording.writer`; the rules: the module's docstring), ``path`` the
    database (for a recording without one), ``now`` the reader's Unix time."""
    now = time.time() if now is None else now
    if not isinstance(w, dict):  # an older Trading Arena's recording: when was it written?
        path, stamps = Path(path), []
        for f in (path, path.with_name(path.name + "-wal")):
            with contextlib.suppress(OSError):  # no log (or it just went)
                st = f.stat()
                if st.st_size:  # a reader's opening makes an empty log
                    stamps.append(st.st_mtime)
        age = now - max(stamps, default=float("-inf"))
        if age <= HEARTBEAT_STALE:
            return None
        return (f"its writer left no identity (an older recording) and nothing was written for "
                f"{HEARTBEAT_STALE:.0f} s")
    mine = boot_id()
    if w.get("host") == _HOST and mine is not None and w.get("boot_id"):
        if w["boot_id"] != mine:
            return f"the machine ({_HOST}) restarted after its writer started (another boot id)"
        pid, started = w.get("pid"), w.get("start_time")
        if (isinstance(pid, int) and pid > 0 and isinstance(started, int)
                and w.get("pid_ns") == pid_namespace()):
            now_started = start_time(pid)
            if now_started == started:
                return None
            if now_started is not None:
                return f"its writer process {pid} has ended (the pid is now another process's)"
            if not _process_exists(pid) or os.path.exists(f"/proc/{pid}/stat"):
                return f"its writer process {pid} has ended"  # (or is a zombie)
            # it exists, but /proc does not show it (hidepid): the heartbeat decides
    beat = w.get("heartbeat")
    try:
        age = now - dt.datetime.fromisoformat(str(beat)).timestamp()
    except ValueError:
        return "its writer left no heartbeat"
    if age > HEARTBEAT_STALE:
        return (f"its writer on {w.get('host') or 'an unknown host'} has not renewed its "
                f"heartbeat since {beat} ({age:.0f} s)")
    return None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process
        return True
    return True

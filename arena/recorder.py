"""Recording a competition to SQLite, and reading a recording back.

One database per run (``<run_dir>/<run_id>/arena.sqlite``) in WAL mode so that
readers can open it while the engine writes. A writer process (see
:class:`Recorder`) commits at least every ``commit_interval`` seconds, so a
crash of the whole machine loses at most that much, and a crash of the
engine's process loses nothing that the engine had handed over.

Tables: ``meta`` (key → JSON value: run id, config, data source, status…),
``agents`` (id, name, spec, params), ``bars`` (bar index, ISO time, symbol,
OHLCV), ``equity`` (bar, agent id, equity, cash, drawdown), ``trades``,
``decisions``, ``events`` and ``llm_calls`` (every prompt and answer of the
LLM agents, with tokens, latency, cost and error; never an API key). Rows reference bars by index; ``bars`` holds the
ISO 8601 UTC time of each index.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pickle
import select
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

DB_NAME = "arena.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, params TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bars (
    bar INTEGER NOT NULL, time TEXT NOT NULL, symbol TEXT NOT NULL,
    open REAL, high REAL, low REAL, close REAL, volume REAL,
    PRIMARY KEY (bar, symbol)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS equity (
    bar INTEGER NOT NULL, agent INTEGER NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL,
    drawdown_pct REAL NOT NULL, invested INTEGER NOT NULL,
    PRIMARY KEY (bar, agent)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY, bar INTEGER NOT NULL, agent INTEGER NOT NULL, symbol TEXT NOT NULL,
    side TEXT NOT NULL, quantity REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL,
    action TEXT NOT NULL, pnl REAL, position REAL NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY, bar INTEGER NOT NULL, agent INTEGER NOT NULL, targets TEXT,
    confidence REAL, reasoning TEXT NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, wall_time TEXT NOT NULL, bar INTEGER, kind TEXT NOT NULL,
    agent INTEGER, message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY, bar INTEGER NOT NULL, agent INTEGER NOT NULL, model TEXT NOT NULL,
    prompt TEXT NOT NULL, response TEXT, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    latency_ms REAL NOT NULL, cost_usd REAL NOT NULL, attempts INTEGER NOT NULL, error TEXT,
    late INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS trades_bar ON trades (bar);
CREATE INDEX IF NOT EXISTS decisions_bar ON decisions (bar);
CREATE INDEX IF NOT EXISTS events_bar ON events (bar);
"""


_WRITER = str(Path(__file__).with_name("_sqlite_writer.py"))
_HEADER = struct.Struct("<Q")  # as in _sqlite_writer
_BARS = "INSERT INTO bars VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_EQUITY = "INSERT INTO equity VALUES (?, ?, ?, ?, ?, ?)"
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


def unix_seconds(times: np.ndarray) -> np.ndarray:
    """datetime64 (UTC, naive) → whole seconds since the epoch (int64), rounded down
    as :func:`iso` rounds them."""
    return np.asarray(times, dtype="datetime64[ns]").view(np.int64) // 1_000_000_000


class Recorder:
    """Writes one run's rows to ``<run_path>/arena.sqlite`` (engine thread only).

    The database and its schema are created here; the inserts happen in a
    writer process (:mod:`arena._sqlite_writer`, standard library only) that
    this object feeds through a pipe, so SQLite runs on another core and the
    engine only hands over numpy buffers. The writer applies everything in
    order and commits at least every ``commit_interval`` seconds while it has
    rows; if the engine's process dies, it commits what it received and exits.
    A full pipe blocks the sender, which bounds how far the writer can lag.

    Errors of the writer (disk full, a file it cannot write) come back as
    :class:`RecordingError` from the next ``add_*``, :meth:`flush` or
    :meth:`close`.
    """

    def __init__(self, run_path: Path, commit_interval: float = 0.5):
        self.path = Path(run_path) / DB_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            db.commit()
            db.close()
        except (OSError, sqlite3.Error) as exc:
            raise RecordingError(f"cannot create recording {self.path}: {exc}") from exc
        self.commit_interval = commit_interval
        self.error: str | None = None
        self._token = 0
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", _WRITER, str(self.path), repr(commit_interval)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        except OSError as exc:
            raise RecordingError(f"cannot start the writer of {self.path}: {exc}") from exc
        self._in, self._out = self._proc.stdin.fileno(), self._proc.stdout.fileno()
        with contextlib.suppress(AttributeError, OSError):  # Linux: a 1 MB pipe
            fcntl.fcntl(self._in, fcntl.F_SETPIPE_SZ, 1 << 20)

    @property
    def pid(self) -> int | None:
        """The writer process's id (None once closed)."""
        return None if self._proc is None else self._proc.pid

    # -- writing -----------------------------------------------------------
    def set_meta(self, **items) -> None:
        self._send(("rows", "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [(k, json.dumps(v, default=str)) for k, v in items.items()]))

    def add_agents(self, rows: Iterable[tuple[int, str, str, dict]]) -> None:
        self._send(("rows", "INSERT INTO agents VALUES (?, ?, ?, ?)",
                    [(i, name, spec, json.dumps(params, default=str))
                     for i, name, spec, params in rows]))

    def add_bars(self, rows: Iterable[tuple]) -> None:
        """Rows ``(bar, iso_time, symbol, open, high, low, close, volume)``."""
        self._send(("rows", _BARS, list(rows)))

    def add_bar_block(self, t0: int, times: np.ndarray, symbols: Sequence[str],
                      ohlcv: Sequence[np.ndarray]) -> None:
        """Bars ``t0 .. t0+len(times)-1``: ``times`` datetime64[ns] (UTC, naive) and five
        ``(bars, symbols)`` arrays open, high, low, close, volume; one row per bar and
        symbol. Times are stored as :func:`iso` formats them (whole seconds)."""
        secs = np.ascontiguousarray(unix_seconds(times))
        bufs = [secs, *(np.ascontiguousarray(c, dtype=np.float64) for c in ohlcv)]
        self._send(("bars", int(t0), tuple(symbols), [b.nbytes for b in bufs]), bufs)

    def add_equity(self, rows: Iterable[tuple]) -> None:
        """Rows ``(bar, agent, equity, cash, drawdown_pct, invested)``."""
        self._send(("rows", _EQUITY, list(rows)))

    def add_equity_block(self, t0: int, n_agents: int, equity: np.ndarray, cash: np.ndarray,
                         drawdown_pct: np.ndarray, invested: np.ndarray) -> None:
        """Equity rows for bars ``t0..``: 1-D arrays in bar-major order (agents 0..n-1
        of bar ``t0``, then of ``t0+1``, ...)."""
        bufs = [np.ascontiguousarray(x, dtype=np.float64) for x in (equity, cash, drawdown_pct)]
        bufs.append(np.ascontiguousarray(invested, dtype=np.int8))
        if any(len(b) != len(bufs[0]) for b in bufs) or len(bufs[0]) % n_agents:
            raise ValueError(f"equity block of {[len(b) for b in bufs]} rows for {n_agents} agents")
        self._send(("equity", int(t0), int(n_agents), [b.nbytes for b in bufs]), bufs)

    def add_trades(self, rows: Iterable[tuple]) -> None:
        """Rows ``(bar, agent, symbol, side, quantity, price, fee, action, pnl, position)``."""
        self._send(("rows", _TRADES, list(rows)))

    def add_trade_columns(self, columns: Sequence[list]) -> None:
        """The columns of :meth:`add_trades` as lists of equal length."""
        self._send(("columns", _TRADES, list(columns)))

    def add_decisions(self, rows: Iterable[tuple]) -> None:
        """Rows ``(bar, agent, targets, confidence, reasoning, detail)``."""
        self._send(("rows", _DECISIONS, list(rows)))

    def add_events(self, rows: Iterable[tuple]) -> None:
        """Rows ``(wall_time, bar, kind, agent, message)``."""
        self._send(("rows", _EVENTS, list(rows)))

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
        elif select.select([self._out], [], [], 0)[0]:  # the writer only talks when it fails
            self._failed()

    def close(self) -> None:
        """Commit everything and stop the writer; raises if it failed on the way."""
        proc = self._proc
        if proc is None:
            return
        try:
            self._request("close")
            proc.stdin.close()
            proc.wait()
        finally:
            self._proc = None
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdin.close()
            proc.stdout.close()

    def close_quietly(self) -> None:
        """Stop the writer without raising (after its error was reported)."""
        with contextlib.suppress(RecordingError):
            self.close()

    # -- the pipe ------------------------------------------------------------
    def _send(self, message: tuple, buffers: Sequence[np.ndarray] = ()) -> None:
        if self._proc is None:
            raise RecordingError(f"recording {self.path} is closed")
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        parts = [memoryview(_HEADER.pack(len(body))), memoryview(body)]
        parts += [memoryview(b).cast("B") for b in buffers if b.nbytes]
        try:
            while parts:
                n = os.writev(self._in, parts[:64])
                while n:
                    if n >= len(parts[0]):
                        n -= len(parts.pop(0))
                    else:
                        parts[0], n = parts[0][n:], 0
        except OSError:  # broken pipe: the writer is gone
            self._failed()

    def _request(self, kind: str) -> None:
        self._token += 1
        self._send((kind, self._token))
        answer = self._answer()
        if answer != ("ok", self._token):
            self._failed(answer)

    def _answer(self):
        try:
            (size,) = _HEADER.unpack(_read_exact(self._out, _HEADER.size))
            return pickle.loads(_read_exact(self._out, size))
        except EOFError:
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


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


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
        except sqlite3.Error as exc:
            raise RecordingError(f"{p} is not a Trading Arena recording: {exc}") from exc

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
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

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
        df = self._frame("SELECT DISTINCT bar, time FROM bars ORDER BY bar")
        times = _utc(df["time"]).rename("time")
        times.index = df["bar"]
        return times

    def bars(self) -> pd.DataFrame:
        df = self._frame("SELECT * FROM bars ORDER BY bar, symbol")
        df["time"] = _utc(df["time"])
        return df

    def _timed(self, df: pd.DataFrame) -> pd.DataFrame:
        times = self.times()
        df.insert(1, "time", times.reindex(df["bar"]).array)
        return self._with_names(df)

    def equity(self) -> pd.DataFrame:
        df = self._frame("SELECT bar, agent, equity, cash, drawdown_pct, invested FROM equity"
                         " ORDER BY bar, agent")
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

    def equity_arrays(self, from_bar: int = 0) -> np.ndarray:
        """Equity rows with ``bar >= from_bar`` as one structured array ordered by
        (bar, agent id), read without building Python row objects per column."""
        cur = self.db.execute(
            "SELECT bar, agent, equity, cash, drawdown_pct, invested FROM equity"
            " WHERE bar >= ? ORDER BY bar, agent", (int(from_bar),))
        return np.fromiter(cur, dtype=self._EQUITY_DTYPE)

    def bar_rows(self, from_bar: int = 0) -> pd.DataFrame:
        """Raw ``bars`` rows with ``bar >= from_bar`` (ISO times, NULL prices as NaN)."""
        return self._frame("SELECT bar, time, symbol, open, high, low, close, volume FROM bars"
                           " WHERE bar >= ? ORDER BY bar, symbol", (int(from_bar),))

    def rows_after(self, table: str, after_id: int = 0) -> pd.DataFrame:
        """Rows of ``trades``, ``decisions`` or ``events`` with ``id > after_id``, in id
        order, agents as ids (for readers that follow a recording being written)."""
        if table not in self._TABLES:
            raise ValueError(f"no table {table!r}; have {', '.join(self._TABLES)}")
        return self._frame(f"SELECT {self._TABLES[table]} FROM {table} WHERE id > ? ORDER BY id",
                           (int(after_id),))


class _ReadSnapshot:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN")
        return self

    def __exit__(self, *exc):
        self.db.execute("COMMIT")


def list_runs(root: str | Path = "runs") -> pd.DataFrame:
    """One row per recording under ``root``: id, date, agents, data, status, leader."""
    rows = []
    root = Path(root)
    for db in sorted(root.glob(f"*/{DB_NAME}")) if root.is_dir() else []:
        try:
            with Recording(db) as rec:
                meta = rec.meta
                agents = rec.agents()["name"].tolist()
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
        })
    cols = ["run_id", "created", "agents", "data", "status", "leader", "path"]
    return pd.DataFrame(rows, columns=cols)

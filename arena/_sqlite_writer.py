"""The recording's writer process: SQLite inserts off the engine's core.

Run as ``python -I -S _sqlite_writer.py DB_PATH COMMIT_INTERVAL [FD:SIZE ...]`` by
:class:`arena.recorder.Recorder`; standard library only, so it starts in a few
milliseconds and needs nothing from the engine's environment.

It creates the database and its schema (WAL mode), then reads frames from
stdin and applies them in order, inside a transaction that
it commits at least every ``COMMIT_INTERVAL`` seconds while it has uncommitted
rows, and sooner (a fiftieth of the interval after the last commit) whenever it has
caught up with its input; the first rows (the run's meta) commit at once. A frame
is ``<u64 length><marshalled message>`` followed by the raw buffers the message
announces (numpy columns, sent without copying). :mod:`marshal` is three times
faster than pickle for the rows' strings and numbers, and both ends are the same
interpreter (its format is version-specific). Messages hold only None, bool,
int, float, str and lists or tuples of them: marshal writes a subclass with a
buffer (a numpy scalar) as its raw bytes, so the engine hands over plain Python
values. Messages:

``("rows", sql, rows)``
    ``executemany(sql, rows)`` (done :data:`BATCH_ROWS` rows to a statement).
``("columns", sql, columns)``
    the same with ``rows = zip(*columns)``.
``("trade_block", sql, symbols, sizes)`` + one float64 buffer of rows (bar, agent,
    symbol index, side, quantity, price, fee, exit, pnl, position): ``executemany``
    with the trades' rows made from it (side > 0 "buy", exit > 0 "exit", NaN pnl NULL).
``("bar_block", t0, n_bars, symbols_json, columns)``: one ``bar_blocks`` row, its
    time (int64 nanoseconds) and OHLCV (float64) BLOBs where ``columns`` says.
``("equity_block", t0, n_bars, n_agents, columns)``: one ``equity_blocks`` row, its
    equity, cash, drawdown (float64) and invested (int8) BLOBs where ``columns`` says.

A block's ``columns`` say where each BLOB is: ``("pipe", size)``, the next buffer
after the frame; or ``("shared", region, [(offset, size), ...])``, those pieces,
joined, of a shared-memory region the engine passed as a descriptor (the command
line's ``FD:SIZE`` arguments, in order): the engine's arrays, read in place.
``("commit", token)``
    commit now, answer ``("ok", token)``.
``("close", token)``
    commit, answer ``("ok", token)``, then close the database (checkpointing the
    WAL into it) and exit: the engine does not wait for the checkpoint.

Answers and errors go to stdout as frames. On any error it answers
``("error", message)`` and exits 1; at end of input (the engine's process is
gone) it commits what it has and exits 0.

**Who is writing, and is it still?** With the schema the writer stores its
identity in the one row of table ``writer`` (:func:`identity`: its pid, the process's
start time in clock ticks after boot, field 22 of ``/proc/PID/stat``, the machine's
boot id, hostname and pid namespace, the engine's pid, when it started) and a
``heartbeat`` (UTC wall time) that it renews every :data:`HEARTBEAT_SECONDS` while the
recording is open, with a commit or on its own while idle (a paused run). At end of
input without a ``("close", token)`` (the engine's process died or dropped the
recorder) or on SIGTERM, it commits what it has and, if meta ``status`` still says
``running`` (or nothing), sets it to ``interrupted`` with meta ``interrupted`` (wall
time), ``interrupted_reason``, ``last_bar`` and ``last_bar_time`` (:func:`last_bar`).
Readers (:meth:`arena.recorder.Recording.status`) judge a run that says ``running``
but whose writer died with it (SIGKILL of both, a reboot) by the ``writer`` row.
"""

from __future__ import annotations

import functools
import itertools
import marshal
import mmap
import os
import select
import signal
import sqlite3
import struct
import sys
import time

HEADER = struct.Struct("<Q")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, params TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bar_blocks (
    t0 INTEGER PRIMARY KEY, n_bars INTEGER NOT NULL, symbols TEXT NOT NULL, time BLOB NOT NULL,
    open BLOB NOT NULL, high BLOB NOT NULL, low BLOB NOT NULL, close BLOB NOT NULL,
    volume BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS equity_blocks (
    t0 INTEGER PRIMARY KEY, n_bars INTEGER NOT NULL, n_agents INTEGER NOT NULL,
    equity BLOB NOT NULL, cash BLOB NOT NULL, drawdown_pct BLOB NOT NULL,
    invested BLOB NOT NULL);
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
CREATE TABLE IF NOT EXISTS writer (
    pid INTEGER, start_time INTEGER, boot_id TEXT, host TEXT, pid_ns TEXT, engine_pid INTEGER,
    started TEXT, heartbeat TEXT);
CREATE INDEX IF NOT EXISTS trades_bar ON trades (bar);
CREATE INDEX IF NOT EXISTS decisions_bar ON decisions (bar);
CREATE INDEX IF NOT EXISTS events_bar ON events (bar);
"""
# PRAGMA user_version: 3 = column blocks, times in nanoseconds and equity blocks
# agent-major; 2 = times in seconds, equity bar-major; 0 = a row per bar x symbol/agent
SCHEMA_VERSION = 3
WAL_PAGES = 16384  # pages of 4 KiB: 64 MiB
BATCH_ROWS = 100  # rows per INSERT statement (a third less CPU than one row each)
HEARTBEAT_SECONDS = 5.0  # the writer renews its ``heartbeat`` this often while open
_META = "INSERT OR REPLACE INTO meta VALUES (?, ?)"


class EndOfInput(Exception):
    """The pipe closed (possibly in the middle of a frame)."""


class Terminated(Exception):
    """SIGTERM: commit what we have, then go."""


def _terminate(*_):
    raise Terminated


# -- who writes: the process's identity, read back by arena.recorder --------------------
def _json(value) -> str:
    """JSON of None, an int or a str (the ``json`` module's import would cost this
    process a quarter of its start-up)."""
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(int(value))
    import _json  # noqa: PLC0415 - the C half of ``json``, without ``re``

    return _json.encode_basestring_ascii(str(value))


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def boot_id() -> str | None:
    """This boot of the machine (Linux; None elsewhere): it changes at every restart."""
    return _read("/proc/sys/kernel/random/boot_id")


def start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks after boot (field 22 of
    ``/proc/PID/stat``), or None if no such process runs (none, a zombie that has
    ended but is not yet reaped, or no ``/proc``). With the pid it names one process
    for the whole boot: a pid reused later has another start time."""
    stat = _read(f"/proc/{int(pid)}/stat")
    if not stat:
        return None
    fields = stat.rpartition(")")[2].split()  # the name (field 2) may hold anything
    try:
        if fields[0] in ("Z", "X"):  # field 3, the state: zombie or dead
            return None
        return int(fields[19])  # fields 3, 4, ... : field 22 is the 20th
    except (IndexError, ValueError):
        return None


def pid_namespace() -> str | None:
    """The pid namespace this process sees (containers on one machine differ)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


#: the columns of table ``writer``, in order
WRITER_COLUMNS = ("pid", "start_time", "boot_id", "host", "pid_ns", "engine_pid", "started",
                  "heartbeat")


def identity() -> dict:
    """The writer's row of table ``writer``: this process, its start time, the
    machine's boot id, hostname and pid namespace, its parent's pid (the engine's),
    and now (``started``, ``heartbeat``)."""
    now = utc_now()
    return {"pid": os.getpid(), "start_time": start_time(os.getpid()), "boot_id": boot_id(),
            "host": os.uname().nodename if hasattr(os, "uname") else None,
            "pid_ns": pid_namespace(), "engine_pid": os.getppid(), "started": now,
            "heartbeat": now}


def utc_now() -> str:
    """Now, as ISO 8601 UTC with milliseconds (as the engine's wall times)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def last_bar(db: sqlite3.Connection) -> tuple[int | None, str | None]:
    """The highest bar index recorded (its prices and every agent's equity: what a
    replay shows) and its bar time, ISO 8601 UTC (``2005-03-01T00:00:00Z``); ``(None,
    None)`` before the first bar. Any schema version: 3 (nanoseconds), 2 (seconds), 0
    (a ``bars`` and an ``equity`` row per bar and symbol or agent)."""
    tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "bar_blocks" in tables:
        ends = [db.execute(f"SELECT t0 + n_bars FROM {t} ORDER BY t0 DESC LIMIT 1").fetchone()
                for t in ("bar_blocks", "equity_blocks")]
        if None in ends:
            return None, None
        bar = min(e[0] for e in ends) - 1
        row = db.execute("SELECT substr(time, (? - t0) * 8 + 1, 8) FROM bar_blocks WHERE t0 <= ?"
                         " ORDER BY t0 DESC LIMIT 1", (bar, bar)).fetchone()
        if row is None or not isinstance(row[0], bytes) or len(row[0]) != 8:
            return bar, None
        (stamp,) = struct.unpack("<q", row[0])
        version = db.execute("PRAGMA user_version").fetchone()[0]
        seconds = stamp if version < 3 else stamp // 1_000_000_000
        return bar, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    if "bars" in tables and "equity" in tables:
        ends = [db.execute(f"SELECT max(bar) FROM {t}").fetchone()[0] for t in ("bars", "equity")]
        if None in ends:
            return None, None
        bar = min(ends)
        row = db.execute("SELECT time FROM bars WHERE bar = ? LIMIT 1", (bar,)).fetchone()
        return bar, None if row is None else str(row[0])
    return None, None


def heartbeat(db: sqlite3.Connection) -> None:
    """Renew the ``writer`` row's ``heartbeat`` (inside the caller's transaction)."""
    db.execute("UPDATE writer SET heartbeat = ?", (utc_now(),))


def mark_interrupted(db: sqlite3.Connection, why: str) -> None:
    """Commit what is pending; then, if the meta still says ``running`` (or nothing
    yet), say ``interrupted``, when, why, and the last bar recorded and its time."""
    if db.in_transaction:
        db.execute("COMMIT")
    row = db.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()
    if row is not None and row[0].replace(" ", "") != '"running"':
        return  # finished, stopped or failed: the engine had the last word
    bar, when = last_bar(db)
    db.execute("BEGIN")
    db.executemany(_META, [("status", _json("interrupted")), ("interrupted", _json(utc_now())),
                           ("interrupted_reason", _json(why)), ("last_bar", _json(bar)),
                           ("last_bar_time", _json(when))])
    heartbeat(db)
    db.execute("COMMIT")


def read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EndOfInput
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int):
    (size,) = HEADER.unpack(read_exact(fd, HEADER.size))
    return marshal.loads(read_exact(fd, size))


def write_frame(fd: int, message) -> None:
    body = marshal.dumps(message)
    os.write(fd, HEADER.pack(len(body)) + body)


def trade_rows(symbols: list[str], block: bytes):
    """Rows of the trades table from a trade block: float64 rows of (bar, agent,
    symbol index, side > 0 for a buy, quantity, price, fee, exit > 0, pnl or NaN,
    position)."""
    values = memoryview(block).cast("d").tolist()
    for i in range(0, len(values), 10):
        bar, agent, sym, side, qty, price, fee, exit_, pnl, pos = values[i:i + 10]
        yield (int(bar), int(agent), symbols[int(sym)], "buy" if side > 0 else "sell", qty,
               price, fee, "exit" if exit_ > 0 else "entry", None if pnl != pnl else pnl, pos)


@functools.lru_cache(maxsize=64)
def batched(sql: str) -> str:
    """``INSERT ... VALUES (?, ...)`` for :data:`BATCH_ROWS` rows at once."""
    head, _, group = sql.rpartition(" VALUES ")
    return f"{head} VALUES {', '.join([group] * BATCH_ROWS)}"


class Writer:
    def __init__(self, db: sqlite3.Connection, fd_in: int, regions: list[mmap.mmap]):
        self.db, self.fd = db, fd_in
        self.regions = [memoryview(r) for r in regions]

    def buffers(self, sizes: list[int]) -> list[bytes]:
        return [read_exact(self.fd, s) for s in sizes]

    def blobs(self, columns: list[tuple]) -> list:
        """A block's BLOBs: read from the pipe or from shared memory, in order."""
        out = []
        for where in columns:
            if where[0] == "pipe":
                out.append(read_exact(self.fd, where[1]))
                continue
            region, pieces = self.regions[where[1]], where[2]
            if len(pieces) == 1:
                (at, size), = pieces
                out.append(region[at:at + size])
            else:
                out.append(b"".join(region[at:at + size] for at, size in pieces))
        return out

    def insert(self, sql: str, rows) -> None:
        """``executemany(sql, rows)``, in order, :data:`BATCH_ROWS` rows a statement."""
        rows = rows if isinstance(rows, list) else list(rows)
        whole = len(rows) - len(rows) % BATCH_ROWS
        if whole:
            values = list(itertools.chain.from_iterable(rows[:whole]))
            step = len(values) // whole * BATCH_ROWS
            self.db.executemany(batched(sql), (values[i:i + step]
                                               for i in range(0, len(values), step)))
        if whole < len(rows):
            self.db.executemany(sql, rows[whole:])

    def apply(self, msg) -> None:
        kind = msg[0]
        if kind == "rows":
            self.insert(msg[1], msg[2])
        elif kind == "columns":
            self.insert(msg[1], list(zip(*msg[2], strict=True)))
        elif kind == "trade_block":
            self.insert(msg[1], trade_rows(msg[2], self.buffers(msg[3])[0]))
        elif kind == "bar_block":
            self.db.execute("INSERT INTO bar_blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (*msg[1:4], *self.blobs(msg[4])))
        elif kind == "equity_block":
            self.db.execute("INSERT INTO equity_blocks VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (*msg[1:4], *self.blobs(msg[4])))
        else:
            raise ValueError(f"unknown message {kind!r}")


def main(path: str, interval: float, shared: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    signal.signal(signal.SIGTERM, _terminate)  # commit what we have, say so, then go
    fd_in, fd_out = sys.stdin.fileno(), sys.stdout.fileno()
    db = None
    try:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        # copy the WAL into the database (and sync it) every 64 MB rather than every
        # 4 MB: during a run the writer mostly appends; the rest is copied at close,
        # after the engine has its answer
        db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        db.executescript(f"BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION};")
        me = identity()  # who writes (the module's docstring)
        db.execute("DELETE FROM writer")
        db.execute(f"INSERT INTO writer ({', '.join(me)}) VALUES ({', '.join('?' * len(me))})",
                   tuple(me.values()))
        db.execute("COMMIT")
        regions = []
        for arg in shared:  # FD:SIZE of the engine's shared-memory regions
            fd, size = (int(x) for x in arg.split(":"))
            regions.append(mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ))
            os.close(fd)
        writer = Writer(db, fd_in, regions)
        pending, last_commit = False, float("-inf")  # the first rows commit at once
        next_beat = time.monotonic() + HEARTBEAT_SECONDS

        def commit():
            nonlocal pending, last_commit, next_beat
            if time.monotonic() >= next_beat:
                heartbeat(db)
                next_beat = time.monotonic() + HEARTBEAT_SECONDS
            db.execute("COMMIT")
            pending, last_commit = False, time.monotonic()

        while True:
            if pending:
                since = time.monotonic() - last_commit
                idle = not select.select([fd_in], [], [], 0)[0]
                if since >= interval or idle and (
                        since >= interval / 50
                        or not select.select([fd_in], [], [], interval - since)[0]):
                    commit()
                    continue
            elif not select.select([fd_in], [], [], max(0.0, next_beat - time.monotonic()))[0]:
                db.execute("BEGIN")  # nothing to write for a while (a paused run): still here
                pending = True
                commit()
                continue
            msg = read_frame(fd_in)
            if msg[0] in ("commit", "close"):
                if pending:
                    commit()
                write_frame(fd_out, ("ok", msg[1]))  # committed: readable, complete
                if msg[0] == "close":
                    return 0  # closing the database (its checkpoint) is left to `finally`
                continue
            if not pending:
                db.execute("BEGIN")
                pending = True
            writer.apply(msg)
    except (EndOfInput, Terminated) as end:
        # the engine's process is gone (or dropped the recorder) without closing, or we
        # are told to go: keep what we have and say so in the meta
        why = ("the writer was terminated (SIGTERM)" if isinstance(end, Terminated)
               else "the engine's process ended without closing the recording")
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish saying so
        try:
            if db is not None:
                mark_interrupted(db, why)
        except sqlite3.Error:
            pass  # readers still tell from the writer's identity and heartbeat
        return 0
    except Exception as exc:  # noqa: BLE001 - reported to the engine, which raises it
        try:
            code = getattr(exc, "sqlite_errorname", "")
            write_frame(fd_out, ("error", f"{type(exc).__name__}: {exc}"
                                          + (f" ({code})" if code else "")))
        except OSError:
            pass
        return 1
    finally:
        if db is not None:
            try:
                if db.in_transaction:
                    db.execute("COMMIT")
                db.close()
            except sqlite3.Error:
                pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]), sys.argv[3:]))

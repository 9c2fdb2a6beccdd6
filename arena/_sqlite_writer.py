"""The recording's writer process: SQLite inserts off the engine's core.

Run as ``python -I -S _sqlite_writer.py DB_PATH COMMIT_INTERVAL`` by
:class:`arena.recorder.Recorder`; standard library only, so it starts in a few
milliseconds and needs nothing from the engine's environment.

It reads frames from stdin and applies them in order, inside a transaction that
it commits at least every ``COMMIT_INTERVAL`` seconds while it has uncommitted
rows. A frame is ``<u64 length><pickled message>`` followed by the raw buffers
the message announces (numpy columns, sent without copying). Messages:

``("rows", sql, rows)``
    ``executemany(sql, rows)``.
``("columns", sql, columns)``
    the same with ``rows = zip(*columns)``.
``("bars", t0, symbols, sizes)`` + int64 seconds and OHLCV float64 buffers
    bar rows for bars ``t0..``, ``len(symbols)`` rows per bar (bar-major).
``("equity", t0, n_agents, sizes)`` + equity, cash, drawdown (float64) and
    invested (int8) buffers: equity rows, ``n_agents`` per bar, bar-major.
``("commit", token)``
    commit now, answer ``("ok", token)``.
``("close", token)``
    commit, close the database, answer ``("ok", token)`` and exit.

Answers and errors go to stdout as frames. On any error it answers
``("error", message)`` and exits 1; at end of input (the engine's process is
gone) it commits what it has and exits 0.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import pickle
import select
import signal
import sqlite3
import struct
import sys
import time

HEADER = struct.Struct("<Q")
ROWS_PER_STATEMENT = 64  # multi-row INSERTs: the per-statement cost paid once per 64 rows
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


class EndOfInput(Exception):
    """stdin closed (possibly in the middle of a frame)."""


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
    return pickle.loads(read_exact(fd, size))


def write_frame(fd: int, message) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    os.write(fd, HEADER.pack(len(body)) + body)


class IsoSeconds:
    """Unix seconds → ``YYYY-MM-DDTHH:MM:SSZ``; days and times of day are cached
    (bars share both), so a bar costs two dict look-ups and a concatenation."""

    def __init__(self):
        self._days: dict[int, str] = {}
        self._clock: dict[int, str] = {}

    def __call__(self, seconds: list[int]) -> list[str]:
        days, clock, out = self._days, self._clock, []
        for s in seconds:
            d, r = divmod(s, 86400)
            day = days.get(d)
            if day is None:
                day = days[d] = dt.date.fromordinal(_EPOCH_ORDINAL + d).isoformat() + "T"
            hms = clock.get(r)
            if hms is None:
                hms = clock[r] = f"{r // 3600:02d}:{r // 60 % 60:02d}:{r % 60:02d}Z"
            out.append(day + hms)
        return out


def _repeat_each(values, k: int):
    """``[v0, v0, .., v1, v1, ..]`` (each ``k`` times); ``values`` itself when k is 1."""
    return values if k == 1 else [v for v in values for _ in range(k)]


def insert_rows(db: sqlite3.Connection, table: str, ncols: int, rows) -> None:
    """``INSERT INTO table VALUES (..), (..), ..`` for ``rows`` (tuples of ``ncols``),
    ``ROWS_PER_STATEMENT`` rows per statement."""
    flat = list(itertools.chain.from_iterable(rows))
    one = "(" + ", ".join("?" * ncols) + ")"
    step = ROWS_PER_STATEMENT * ncols
    full = len(flat) // step * step
    if full:
        sql = f"INSERT INTO {table} VALUES " + ", ".join([one] * ROWS_PER_STATEMENT)
        db.executemany(sql, (flat[i:i + step] for i in range(0, full, step)))
    if full < len(flat):
        db.execute(f"INSERT INTO {table} VALUES " + ", ".join([one] * ((len(flat) - full) // ncols)),
                   flat[full:])


def _floats(buf: bytes) -> list[float]:
    return memoryview(buf).cast("d").tolist()


class Writer:
    def __init__(self, db: sqlite3.Connection, fd_in: int):
        self.db, self.fd = db, fd_in
        self.iso = IsoSeconds()

    def buffers(self, sizes: list[int]) -> list[bytes]:
        return [read_exact(self.fd, s) for s in sizes]

    def apply(self, msg) -> None:
        kind = msg[0]
        if kind == "rows":
            self.db.executemany(msg[1], msg[2])
        elif kind == "columns":
            self.db.executemany(msg[1], zip(*msg[2], strict=True))
        elif kind == "bars":
            _, t0, symbols, sizes = msg
            secs, *ohlcv = self.buffers(sizes)
            k = len(symbols)
            seconds = memoryview(secs).cast("q").tolist()
            m = len(seconds)
            rows = zip(_repeat_each(range(t0, t0 + m), k), _repeat_each(self.iso(seconds), k),
                       list(symbols) * m, *(_floats(c) for c in ohlcv), strict=True)
            insert_rows(self.db, "bars", 8, rows)
        elif kind == "equity":
            _, t0, a, sizes = msg
            eq, cash, dd, inv = self.buffers(sizes)
            eq, cash, dd = _floats(eq), _floats(cash), _floats(dd)
            m = len(eq) // a
            rows = zip(_repeat_each(range(t0, t0 + m), a),
                       list(range(a)) * m, eq, cash, dd, memoryview(inv).cast("b").tolist(),
                       strict=True)
            insert_rows(self.db, "equity", 6, rows)
        else:
            raise ValueError(f"unknown message {kind!r}")


def main(path: str, interval: float) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # commit what we have, then go
    fd_in, fd_out = sys.stdin.fileno(), sys.stdout.fileno()
    db = None
    try:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        writer = Writer(db, fd_in)
        pending, last_commit = False, time.monotonic()
        while True:
            if pending:
                wait = last_commit + interval - time.monotonic()
                if wait <= 0 or not select.select([fd_in], [], [], wait)[0]:
                    db.execute("COMMIT")
                    pending, last_commit = False, time.monotonic()
                    continue
            msg = read_frame(fd_in)
            if msg[0] in ("commit", "close"):
                if pending:
                    db.execute("COMMIT")
                    pending, last_commit = False, time.monotonic()
                if msg[0] == "close":
                    db.close()
                    db = None
                write_frame(fd_out, ("ok", msg[1]))
                if msg[0] == "close":
                    return 0
                continue
            if not pending:
                db.execute("BEGIN")
                pending = True
            writer.apply(msg)
    except EndOfInput:
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
    sys.exit(main(sys.argv[1], float(sys.argv[2])))

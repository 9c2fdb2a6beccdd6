"""Recordings in the row schema used before column blocks (not a test module).

Until schema version 2, ``bars`` held one row per bar and symbol (ISO time) and
``equity`` one per bar and agent. :func:`write_legacy` makes such a file with plain
SQL, so tests can check that :class:`arena.recorder.Recording` still reads it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# arena/recorder.py SCHEMA before column blocks (PRAGMA user_version 0)
OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE agents (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, params TEXT NOT NULL);
CREATE TABLE bars (
    bar INTEGER NOT NULL, time TEXT NOT NULL, symbol TEXT NOT NULL,
    open REAL, high REAL, low REAL, close REAL, volume REAL,
    PRIMARY KEY (bar, symbol)) WITHOUT ROWID;
CREATE TABLE equity (
    bar INTEGER NOT NULL, agent INTEGER NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL,
    drawdown_pct REAL NOT NULL, invested INTEGER NOT NULL,
    PRIMARY KEY (bar, agent)) WITHOUT ROWID;
CREATE TABLE trades (
    id INTEGER PRIMARY KEY, bar INTEGER NOT NULL, agent INTEGER NOT NULL, symbol TEXT NOT NULL,
    side TEXT NOT NULL, quantity REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL,
    action TEXT NOT NULL, pnl REAL, position REAL NOT NULL);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY, bar INTEGER NOT NULL, agent INTEGER NOT NULL, targets TEXT,
    confidence REAL, reasoning TEXT NOT NULL, detail TEXT);
CREATE TABLE events (
    id INTEGER PRIMARY KEY, wall_time TEXT NOT NULL, bar INTEGER, kind TEXT NOT NULL,
    agent INTEGER, message TEXT NOT NULL);
CREATE TABLE llm_calls (
    id INTEGER PRIMARY KEY, bar INTEGER NOT NULL, agent INTEGER NOT NULL, model TEXT NOT NULL,
    prompt TEXT NOT NULL, response TEXT, tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
    latency_ms REAL NOT NULL, cost_usd REAL NOT NULL, attempts INTEGER NOT NULL, error TEXT,
    late INTEGER NOT NULL);
"""
COPIED = ("meta", "agents", "trades", "decisions", "events", "llm_calls")


def write_legacy(db_path: Path, bar_rows, equity_rows, copy_from: Path | None = None,
                 meta: dict[str, str] | None = None) -> Path:
    """An old-schema database at ``db_path``: ``bar_rows`` ``(bar, iso_time, symbol,
    open, high, low, close, volume)``, ``equity_rows`` ``(bar, agent, equity, cash,
    drawdown_pct, invested)``, the other tables copied from the database
    ``copy_from`` (if given) and ``meta`` (key → JSON text) added."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(OLD_SCHEMA)
    if copy_from is not None:
        db.execute("ATTACH DATABASE ? AS src", (str(copy_from),))
        for table in COPIED:
            db.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table}")
        db.commit()
        db.execute("DETACH DATABASE src")
    db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", (meta or {}).items())
    db.executemany("INSERT INTO bars VALUES (?, ?, ?, ?, ?, ?, ?, ?)", bar_rows)
    db.executemany("INSERT INTO equity VALUES (?, ?, ?, ?, ?, ?)", equity_rows)
    db.commit()
    db.close()
    return db_path

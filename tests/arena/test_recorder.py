"""Recording to SQLite and reading it back: round trip, commits, live reads, crashes."""

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from arena import Decision, publisher, shared, synthetic
from arena._sqlite_writer import BATCH_ROWS
from arena.agents import Agent
from arena.data import load_bundled
from arena.engine import Competition, CompetitionConfig, State
from arena.recorder import (
    BLOCK_CELLS,
    DB_NAME,
    SCHEMA_VERSION,
    TRADE_BLOCK,
    Recorder,
    Recording,
    RecordingError,
    iso,
    list_runs,
)
from tests.arena.legacy_recording import write_legacy

# ----------------------------------------------------------------------------- fixture rows

META = {"run_id": "r1", "created": "2024-01-05T10:00:00.000Z", "status": "finished",
        "data_source": "XYZ", "leader": "beta", "config": {"seed": 3}}
AGENTS = [(0, "alpha", "alpha:x=1", {"x": 1}), (1, "beta", "beta", {})]
BARS = [(0, "2024-01-02T00:00:00Z", "XYZ", 10.0, 11.0, 9.0, 10.5, 1000.0),
        (1, "2024-01-03T00:00:00Z", "XYZ", 10.5, 12.0, 10.0, 11.5, 1500.0)]
EQUITY = [(0, 0, 1000.0, 1000.0, 0.0, 0), (0, 1, 1000.0, 1000.0, 0.0, 0),
          (1, 0, 990.0, 10.0, -1.0, 1), (1, 1, 1010.0, 1010.0, 0.0, 0)]
TRADES = [(1, 0, "XYZ", "buy", 94.0, 10.5, 0.99, "entry", None, 94.0)]
DECISIONS = [(0, 0, '{"XYZ": 1.0}', 0.8, "go long", None)]
EVENTS = [("2024-01-05T10:00:00.000Z", None, "competition_started", None, "started at bar 0"),
          ("2024-01-05T10:00:00.100Z", 1, "trade", 0, "buy 94 XYZ @ 10.50 (entry)")]

PRICES = ["open", "high", "low", "close", "volume"]
RUNS_COLUMNS = ["run_id", "created", "agents", "data", "status", "leader", "path", "last_bar",
                "last_bar_time"]

# A competition in a child process that reports, every 0.1 s, how many bars the
# engine has processed and when (time.monotonic is system-wide on Linux).
KILL_CHILD = """
import sys, time
from arena.data import load_bundled
from arena.engine import Competition, CompetitionConfig

comp = Competition(load_bundled(["AAPL", "MSFT"]), ["buy_and_hold", "sma_cross", "random"],
                   CompetitionConfig(speed=300, run_dir=sys.argv[1], seed=3))
comp.start()
while comp.run_path is None:
    time.sleep(0.01)
print("run_path", comp.run_path, flush=True)
while True:
    print("bar", comp.bar, time.monotonic(), flush=True)
    time.sleep(0.1)
"""


def add_bars(rec: Recorder, rows) -> None:
    """Hand over rows ``(bar, iso_time, symbol, OHLCV...)`` (consecutive bars, every
    symbol of each) as one bar block."""
    df = pd.DataFrame(rows, columns=["bar", "time", "symbol", *PRICES])
    symbols = list(dict.fromkeys(df["symbol"]))
    first = df.drop_duplicates("bar")
    times = pd.to_datetime(first["time"]).dt.tz_localize(None).to_numpy("datetime64[ns]")
    rec.add_bar_block(int(first["bar"].iloc[0]), times, symbols,
                      [df.pivot(index="bar", columns="symbol", values=f)[symbols].to_numpy()
                       for f in PRICES])


def add_equity(rec: Recorder, rows) -> None:
    """Hand over rows ``(bar, agent, equity, cash, drawdown_pct, invested)`` (bar-major,
    agents 0..n-1 of each bar) as one equity block."""
    bar, agent, *cols = (np.array(c) for c in zip(*rows, strict=True))
    add_bar_major(rec, int(bar[0]), int(agent.max()) + 1, *cols)


def add_bar_major(rec: Recorder, t0: int, a: int, *cols: np.ndarray) -> None:
    """Hand over equity, cash, drawdown and invested given bar-major (agents 0..a-1 of
    bar ``t0``, then of ``t0+1``...) as the ``(agents, bars)`` views the engine passes."""
    rec.add_equity_block(t0, *(np.asarray(c).reshape(-1, a).T for c in cols))


def write_recording(run_path: Path, **meta) -> None:
    rec = Recorder(run_path)
    rec.set_meta(**{**META, **meta})
    rec.add_agents(AGENTS)
    add_bars(rec, BARS)
    add_equity(rec, EQUITY)
    rec.add_trades(TRADES)
    rec.add_decisions(DECISIONS)
    rec.add_events(EVENTS)
    rec.close()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ----------------------------------------------------------------------------- round trip


def test_rows_come_back_with_agent_names_and_utc_times(tmp_path):
    # Arrange
    write_recording(tmp_path / "r1")
    # Act
    with Recording(tmp_path / "r1") as rec:
        meta, agents, times = rec.meta, rec.agents(), rec.times()
        bars, equity, trades = rec.bars(), rec.equity(), rec.trades()
        decisions, events = rec.decisions(), rec.events()
    # Assert
    assert meta == META
    assert agents["name"].tolist() == ["alpha", "beta"]
    assert agents["params"].tolist() == ['{"x": 1}', "{}"]
    assert times.tolist() == [pd.Timestamp("2024-01-02", tz="UTC"),
                              pd.Timestamp("2024-01-03", tz="UTC")]
    assert bars[["bar", "symbol", "close"]].values.tolist() == [[0, "XYZ", 10.5],
                                                                 [1, "XYZ", 11.5]]
    assert equity[["bar", "agent", "equity", "invested"]].values.tolist() == [
        [0, "alpha", 1000.0, False], [0, "beta", 1000.0, False],
        [1, "alpha", 990.0, True], [1, "beta", 1010.0, False]]
    assert equity["time"].tolist()[2] == pd.Timestamp("2024-01-03", tz="UTC")
    (trade,) = trades.to_dict("records")
    assert trade == {"bar": 1, "time": pd.Timestamp("2024-01-03", tz="UTC"), "agent": "alpha",
                     "symbol": "XYZ", "side": "buy", "quantity": 94.0, "price": 10.5,
                     "fee": 0.99, "action": "entry", "pnl": None, "position": 94.0}
    assert decisions[["bar", "agent", "targets", "confidence", "reasoning"]].values.tolist() == [
        [0, "alpha", '{"XYZ": 1.0}', 0.8, "go long"]]
    assert events["kind"].tolist() == ["competition_started", "trade"]
    assert events["agent"].tolist()[1] == "alpha"
    assert events["wall_time"].tolist()[1] == pd.Timestamp("2024-01-05T10:00:00.100", tz="UTC")


def test_recording_accepts_the_folder_or_the_database_file(tmp_path):
    # Arrange
    write_recording(tmp_path / "r1")
    # Act / Assert
    with Recording(tmp_path / "r1") as by_folder, \
            Recording(tmp_path / "r1" / DB_NAME) as by_file:
        assert by_folder.path == by_file.path == tmp_path / "r1" / DB_NAME
        assert by_folder.run_path == tmp_path / "r1"


def test_recorded_times_are_nanosecond_utc(tmp_path):
    write_recording(tmp_path / "r1")
    with Recording(tmp_path / "r1") as rec:
        assert str(rec.bars()["time"].dtype) == "datetime64[ns, UTC]"
        assert str(rec.equity()["time"].dtype) == "datetime64[ns, UTC]"
        assert str(rec.events()["wall_time"].dtype) == "datetime64[ns, UTC]"


def test_database_is_in_wal_mode_with_the_current_schema(tmp_path):
    # Arrange
    write_recording(tmp_path / "r1")
    # Act
    db = sqlite3.connect(tmp_path / "r1" / DB_NAME)
    mode, version = (db.execute(f"PRAGMA {p}").fetchone()[0]
                     for p in ("journal_mode", "user_version"))
    db.close()
    # Assert: the writer process made the file (the engine only made its folder)
    assert (mode, version) == ("wal", SCHEMA_VERSION)


# ----------------------------------------------------------------------------- commits


def test_rows_are_committed_within_the_interval_without_asking(tmp_path):
    # Arrange
    rec = Recorder(tmp_path / "r1", commit_interval=0.3)
    rec.set_meta(**META)
    rec.flush(force=True)
    reader = Recording(tmp_path / "r1")
    # Act: the writer commits on its own clock; the engine hands over and flushes (as
    # after every block), never asking for a commit
    sent = time.monotonic()
    add_bars(rec, BARS)
    rec.flush()
    wait_for(lambda: len(reader.bars()) == 2, 5, "the bars to be committed")
    # Assert
    assert time.monotonic() - sent < 1.0
    reader.close()
    rec.close()


def test_forced_flush_commits_at_once_and_nothing_shows_before_a_commit(tmp_path):
    # Arrange: an interval far longer than the test
    rec = Recorder(tmp_path / "r1", commit_interval=60)
    rec.set_meta(**META)
    rec.flush(force=True)
    reader = Recording(tmp_path / "r1")
    # Act / Assert
    add_bars(rec, BARS)
    add_equity(rec, EQUITY)
    rec.flush()  # not forced: only checks for errors
    time.sleep(0.3)
    assert len(reader.bars()) == 0
    rec.flush(force=True)
    assert len(reader.bars()) == 2
    assert len(reader.equity()) == 4
    reader.close()
    rec.close()


def test_default_commit_interval_is_half_a_second(tmp_path):
    rec = Recorder(tmp_path / "r1")
    assert rec.commit_interval == 0.5
    rec.close()


def test_recording_opens_while_the_run_is_writing(tmp_path):
    # Arrange: 200 bars/s over 3270 bars runs for ~16 s unless stopped
    comp = Competition(load_bundled("AAPL"), ["buy_and_hold", "sma_cross"],
                       CompetitionConfig(speed=200, run_dir=str(tmp_path), seed=1))
    comp.start()
    try:
        wait_for(lambda: comp.run_path is not None and (comp.run_path / DB_NAME).is_file(),
                 20, "the recording file")
        wait_for(lambda: comp.bar >= 150, 20, "150 bars")
        # Act: the bars so far are committed within the writer's interval (0.5 s)
        rec = Recording(comp.run_path)
        wait_for(lambda: len(rec.equity()) > 0, 2, "committed equity")
        first = rec.equity()
        time.sleep(1.0)
        second = rec.equity()
        # Assert
        assert comp.state is State.RUNNING
        assert rec.meta["status"] == "running"
        assert len(first) > 0
        assert len(second) > len(first)
        assert (second.groupby("bar").size() == 2).all()
        assert second["bar"].tolist() == sorted(second["bar"].tolist())
    finally:
        comp.stop()
    assert rec.meta["status"] == "stopped"
    final = rec.equity()
    assert final["bar"].nunique() == rec.meta["bars_processed"] == comp.bar
    rec.close()


@pytest.mark.slow
def test_killed_run_keeps_every_bar_committed_a_second_before(tmp_path):
    # Arrange
    script = tmp_path / "child.py"
    script.write_text(KILL_CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "runs")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reports: list[tuple[int, float]] = []
    found: dict[str, Path] = {}

    def read():
        for line in proc.stdout:
            kind, *rest = line.split()
            if kind == "run_path":
                found["run_path"] = Path(rest[0])
            elif kind == "bar":
                reports.append((int(rest[0]), float(rest[1])))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(bar > 0 for bar, _ in reports), 60, "the child's first bars")
        time.sleep(3.0)
        # Act
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    # Assert
    assert proc.returncode == -signal.SIGKILL
    promised = max(bar for bar, at in reports if at <= killed_at - 1.0)
    assert 100 < promised < 3270, promised
    with Recording(found["run_path"]) as rec:
        # never finalised: the writer says so once it has committed what it was sent
        wait_for(lambda: rec.meta["status"] == "interrupted", 10, "the run marked interrupted")
        equity, bars = rec.equity(), rec.bars()
    recorded = sorted(equity["bar"].unique())
    assert recorded == list(range(len(recorded)))  # contiguous from bar 0
    assert len(recorded) >= promised
    assert (equity.groupby("bar")["agent"].nunique() == 3).all()
    assert (equity.groupby("bar").size() == 3).all()
    assert set(equity["agent"]) == {"buy_and_hold", "sma_cross", "random"}
    per_bar = bars.groupby("bar")["symbol"].apply(sorted)
    assert set(recorded) <= set(per_bar.index)
    assert all(per_bar[b] == ["AAPL", "MSFT"] for b in recorded)
    # the writer outlives the engine: every bar the engine had handed over ends up
    # committed, not only those a second old; the engine hands over at least every
    # RECORD_SECONDS, so every bar it reported processed that long before the kill
    handed_over = killed_at - publisher.RECORD_SECONDS - 0.05
    reported = max(bar for bar, at in reports if at <= handed_over)
    assert reported > promised

    def committed_bars():
        with Recording(found["run_path"]) as rec:
            return rec.equity()["bar"].nunique()

    wait_for(lambda: committed_bars() >= reported, 10, f"all {reported} reported bars")


# ----------------------------------------------------------------------------- listing runs


def test_list_runs_on_a_missing_or_empty_folder_is_empty(tmp_path):
    # Arrange
    (tmp_path / "empty").mkdir()
    # Act
    missing, empty = list_runs(tmp_path / "nothing"), list_runs(tmp_path / "empty")
    # Assert
    for runs in (missing, empty):
        assert runs.empty and runs.columns.tolist() == RUNS_COLUMNS


def test_list_runs_shows_each_run_and_marks_unreadable_ones(tmp_path):
    # Arrange
    write_recording(tmp_path / "a_done")
    live = Recorder(tmp_path / "b_live")  # still open: its writer is alive
    live.set_meta(**{**META, "run_id": "r2", "status": "running", "leader": ""})
    live.add_agents(AGENTS)
    live.flush(force=True)
    (tmp_path / "c_corrupt").mkdir()
    (tmp_path / "c_corrupt" / DB_NAME).write_bytes(b"this is not an SQLite database" * 10)
    (tmp_path / "d_no_db").mkdir()
    # Act
    try:
        runs = list_runs(tmp_path)
    finally:
        live.close()
    # Assert
    assert runs["run_id"].tolist() == ["r1", "r2", "c_corrupt"]
    assert runs["status"].tolist() == ["finished", "running", "unreadable"]
    first = runs.iloc[0]
    assert (first["created"], first["agents"], first["data"], first["leader"]) == (
        "2024-01-05T10:00:00.000Z", "alpha, beta", "XYZ", "beta")
    assert runs["path"].tolist() == [str(tmp_path / d) for d in ("a_done", "b_live",
                                                                 "c_corrupt")]


def test_list_runs_reads_a_recording_without_status_as_running_until_its_writer_is_gone(
        tmp_path):
    # Arrange: a run that has written no status yet, then crashes (its pipe to the
    # writer closes without a close request)
    rec = Recorder(tmp_path / "crashed")
    rec.set_meta(run_id="crashed", created="2024-01-05T10:00:00.000Z")
    rec.flush(force=True)
    # Act
    (before,) = list_runs(tmp_path).to_dict("records")
    rec._proc.stdin.close()
    rec._proc.wait(10)
    (after,) = list_runs(tmp_path).to_dict("records")
    # Assert
    assert before["status"] == "running?"
    assert after["status"] == "interrupted" and after["last_bar"] is None


# ----------------------------------------------------------------------------- errors


def test_recording_of_a_missing_path_names_it(tmp_path):
    missing = tmp_path / "no_such_run"
    with pytest.raises(RecordingError, match="no recording at") as err:
        Recording(missing)
    assert str(missing) in str(err.value)


def test_recording_of_a_folder_without_a_database_names_the_file_expected(tmp_path):
    with pytest.raises(RecordingError) as err:
        Recording(tmp_path)
    assert str(tmp_path / DB_NAME) in str(err.value)


def test_recording_of_a_corrupt_file_says_it_is_not_a_recording(tmp_path):
    # Arrange
    (tmp_path / DB_NAME).write_bytes(b"garbage" * 100)
    # Act / Assert
    with pytest.raises(RecordingError, match="is not a Trading Arena recording"):
        Recording(tmp_path)


def test_recording_of_another_sqlite_database_says_it_is_not_a_recording(tmp_path):
    # Arrange
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("CREATE TABLE other (x INTEGER)")
    db.commit()
    db.close()
    # Act / Assert
    with pytest.raises(RecordingError, match="is not a Trading Arena recording"):
        Recording(tmp_path)


def test_recorder_that_cannot_create_its_folder_raises_recording_error(tmp_path):
    # Arrange: a file where the run folder's parent should be
    (tmp_path / "taken").write_text("a file")
    # Act / Assert
    with pytest.raises(RecordingError, match="cannot create recording"):
        Recorder(tmp_path / "taken" / "run1")


# ----------------------------------------------------------------------------- columnar blocks

# Bar times on both sides of the epoch, a leap day and the last datetime64[ns] second
# (whole seconds: the old row schema stored ISO text to the second).
BLOCK_TIMES = np.array(["1969-12-31T23:59:59", "1970-01-01T00:00:00",
                        "2024-02-29T16:30:05", "2262-04-11T23:47:16"], dtype="datetime64[ns]")
BLOCK_SYMBOLS = ("AAA", "BBB")
BLOCK_OHLCV = [np.arange(8.0).reshape(4, 2) + base for base in (10.1, 11.2, 9.3, 10.4, 1e6 / 3)]
BLOCK_AGENTS = 3
# bar-major: (bar 5: agents 0, 1, 2), (bar 6: ...), ...
BLOCK_EQUITY = 1000 + np.arange(12) / 7
BLOCK_CASH = 500 - np.arange(12) / 3
BLOCK_DD = -np.arange(12) / 11
BLOCK_INVESTED = np.arange(12) % 2 == 0


BLOCK_BAR_ROWS = [(5 + i, t, sym, *(float(c[i, j]) for c in BLOCK_OHLCV))
                  for i, t in enumerate(iso(BLOCK_TIMES)) for j, sym in enumerate(BLOCK_SYMBOLS)]
BLOCK_EQUITY_ROWS = [(5 + i // BLOCK_AGENTS, i % BLOCK_AGENTS, float(BLOCK_EQUITY[i]),
                      float(BLOCK_CASH[i]), float(BLOCK_DD[i]), int(BLOCK_INVESTED[i]))
                     for i in range(12)]


def assert_same_reads(a: Recording, b: Recording, from_bar: int) -> None:
    """Every bar and equity reader of ``a`` and ``b`` returns the same."""
    pd.testing.assert_series_equal(a.times(), b.times())
    pd.testing.assert_frame_equal(a.bars(), b.bars())
    pd.testing.assert_frame_equal(a.equity(), b.equity())
    pd.testing.assert_frame_equal(a.bar_rows(from_bar), b.bar_rows(from_bar))
    assert a.equity_arrays(from_bar).tolist() == b.equity_arrays(from_bar).tolist()
    ga, gb = a.bar_grid(from_bar), b.bar_grid(from_bar)
    assert ga.symbols == gb.symbols
    for x, y in [(ga.bars, gb.bars), (ga.times, gb.times),
                 *((ga.prices[f], gb.prices[f]) for f in PRICES)]:
        np.testing.assert_array_equal(x, y)
    ea, eb = a.equity_grid(from_bar), b.equity_grid(from_bar)
    for f in ("bars", "agents", "equity", "cash", "drawdown_pct", "invested"):
        np.testing.assert_array_equal(getattr(ea, f), getattr(eb, f), err_msg=f)


def test_blocks_read_back_as_the_old_row_schema_does(tmp_path):
    # Arrange: the same bars and equity as blocks, and as rows of the old schema
    rec = Recorder(tmp_path / "block")
    rec.set_meta(**META)
    rec.add_agents([(0, "a0", "a0", {}), (1, "a1", "a1", {}), (2, "a2", "a2", {})])
    rec.add_bar_block(5, BLOCK_TIMES, BLOCK_SYMBOLS, BLOCK_OHLCV)
    add_bar_major(rec, 5, BLOCK_AGENTS, BLOCK_EQUITY, BLOCK_CASH, BLOCK_DD, BLOCK_INVESTED)
    rec.close()
    write_legacy(tmp_path / "rows" / DB_NAME, BLOCK_BAR_ROWS, BLOCK_EQUITY_ROWS,
                 copy_from=tmp_path / "block" / DB_NAME)
    # Act
    with Recording(tmp_path / "block") as blocks, Recording(tmp_path / "rows") as rows:
        # Assert
        assert blocks.blocks and not rows.blocks
        for from_bar in (0, 5, 7, 8):
            assert_same_reads(blocks, rows, from_bar)
        assert len(blocks.bar_rows(9)) == len(blocks.equity_arrays(9)) == 0
        assert len(blocks.bar_grid(9).bars) == len(blocks.equity_grid(9).bars) == 0
        times = blocks.bar_rows()["time"].tolist()[::2]
        equity = blocks.equity()
    assert times == ["1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2024-02-29T16:30:05Z",
                     "2262-04-11T23:47:16Z"]
    assert equity[["bar", "agent", "equity", "invested"]].values.tolist()[:4] == [
        [5, "a0", 1000.0, True], [5, "a1", 1000 + 1 / 7, False], [5, "a2", 1000 + 2 / 7, True],
        [6, "a0", 1000 + 3 / 7, False]]


def as_version_2(path: Path) -> None:
    """Rewrite a recording as version 2 wrote it: times in whole seconds (rounded
    down), equity blocks bar-major (the agents of each bar)."""
    db = sqlite3.connect(path)
    for t0, blob in db.execute("SELECT t0, time FROM bar_blocks").fetchall():
        secs = np.frombuffer(blob, "<i8") // 1_000_000_000
        db.execute("UPDATE bar_blocks SET time = ? WHERE t0 = ?", (secs.tobytes(), t0))
    cols = ("equity", "cash", "drawdown_pct", "invested")
    for t0, m, a, *blobs in db.execute(
            f"SELECT t0, n_bars, n_agents, {', '.join(cols)} FROM equity_blocks").fetchall():
        flipped = [np.frombuffer(b, "<f8" if c != "invested" else "i1").reshape(a, m).T.tobytes()
                   for c, b in zip(cols, blobs, strict=True)]
        db.execute(f"UPDATE equity_blocks SET {', '.join(f'{c} = ?' for c in cols)}"
                   " WHERE t0 = ?", (*flipped, t0))
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()


def test_a_version_2_recording_reads_as_it_did(tmp_path):
    # Arrange: the same blocks, written now and rewritten as version 2 stored them,
    # with bar times that have fractions of a second
    times = BLOCK_TIMES + np.array([999_999_999, 0, 500_000_000, 0], dtype="timedelta64[ns]")
    for name in ("v3", "v2"):
        rec = Recorder(tmp_path / name)
        rec.set_meta(**META)
        rec.add_agents([(0, "a0", "a0", {}), (1, "a1", "a1", {}), (2, "a2", "a2", {})])
        rec.add_bar_block(5, times, BLOCK_SYMBOLS, BLOCK_OHLCV)
        add_bar_major(rec, 5, BLOCK_AGENTS, BLOCK_EQUITY, BLOCK_CASH, BLOCK_DD, BLOCK_INVESTED)
        rec.close()
    as_version_2(tmp_path / "v2" / DB_NAME)
    # Act
    with Recording(tmp_path / "v3") as v3, Recording(tmp_path / "v2") as v2:
        new, old = v3.equity_grid(6), v2.equity_grid(6)
        new_times, old_times = v3.bar_grid().times, v2.bar_grid().times
        frames = [(a.equity(), b.equity()) for a, b in [(v3, v2)]]
    # Assert: equity identical; version 2's times are the seconds it stored
    for f in ("bars", "agents", "equity", "cash", "drawdown_pct", "invested"):
        np.testing.assert_array_equal(getattr(new, f), getattr(old, f), err_msg=f)
    np.testing.assert_array_equal(new.equity, (1000 + np.arange(3, 12) / 7).reshape(3, 3))
    np.testing.assert_array_equal(new_times, times)
    np.testing.assert_array_equal(old_times, times.astype("datetime64[s]").astype("datetime64[ns]"))
    for a, b in frames:
        pd.testing.assert_frame_equal(a.drop(columns="time"), b.drop(columns="time"))


def test_a_recording_in_the_old_row_schema_reads_as_before(tmp_path):
    # Arrange: made with plain SQL, as the recorder wrote it before column blocks
    meta = {k: json.dumps(v) for k, v in META.items()}
    write_legacy(tmp_path / "old" / DB_NAME, BARS, EQUITY, meta=meta)
    db = sqlite3.connect(tmp_path / "old" / DB_NAME)
    db.executemany("INSERT INTO agents VALUES (?, ?, ?, ?)",
                   [(i, n, s, json.dumps(p)) for i, n, s, p in AGENTS])
    db.commit()
    db.close()
    # Act
    with Recording(tmp_path / "old") as rec:
        bars, equity, times = rec.bars(), rec.equity(), rec.times()
        grid = rec.equity_grid(1)
    # Assert
    assert bars[["bar", "symbol", "close"]].values.tolist() == [[0, "XYZ", 10.5],
                                                                 [1, "XYZ", 11.5]]
    assert str(bars["time"].dtype) == "datetime64[ns, UTC]"
    assert equity[["bar", "agent", "equity", "invested"]].values.tolist() == [
        [0, "alpha", 1000.0, False], [0, "beta", 1000.0, False],
        [1, "alpha", 990.0, True], [1, "beta", 1010.0, False]]
    assert times.tolist() == [pd.Timestamp("2024-01-02", tz="UTC"),
                              pd.Timestamp("2024-01-03", tz="UTC")]
    assert grid.bars.tolist() == [1] and grid.equity.tolist() == [[990.0, 1010.0]]


def test_the_writer_stores_one_row_per_block_and_caps_its_size(tmp_path):
    # Arrange: 3 agents over 50,000 bars: BLOCK_CELLS // 3 = 21,845 bars per row at most
    rec = Recorder(tmp_path / "r")
    n, a = 50_000, 3
    values = np.arange(n * a, dtype=float)
    # Act
    add_bar_major(rec, 0, a, values, values, values, values % 2 == 0)
    add_bar_major(rec, n, a, values[:a], values[:a], values[:a], values[:a] > 0)
    rec.close()
    # Assert
    db = sqlite3.connect(tmp_path / "r" / DB_NAME)
    blocks = db.execute("SELECT t0, n_bars, n_agents, length(equity), length(invested)"
                        " FROM equity_blocks ORDER BY t0").fetchall()
    first = np.frombuffer(db.execute("SELECT equity FROM equity_blocks WHERE t0 = 0").fetchone()[0])
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    step = BLOCK_CELLS // a
    assert blocks == [(0, step, a, step * a * 8, step * a), (step, step, a, step * a * 8, step * a),
                      (2 * step, n - 2 * step, a, (n - 2 * step) * a * 8, (n - 2 * step) * a),
                      (n, 1, a, a * 8, a)]
    assert version == SCHEMA_VERSION == 3
    # agent-major: agent 0's bars of the block, then agent 1's...
    assert first.tolist() == values[:step * a].reshape(step, a).T.ravel().tolist()
    with Recording(tmp_path / "r") as read:
        grid = read.equity_grid(step - 1)
    assert grid.bars.tolist() == list(range(step - 1, n + 1))
    assert grid.equity.ravel().tolist() == [*values[(step - 1) * a:].tolist(), 0.0, 1.0, 2.0]


@st.composite
def blocks(draw):
    """A run of random bar and equity blocks: sizes, symbols, agents, NaNs, times."""
    k, a = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    sizes = draw(st.lists(st.integers(1, 30), min_size=1, max_size=4))
    n = sum(sizes)
    floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
    start = draw(st.integers(-(2**62), 2**62))
    steps = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 10**15)))
    times = (start + np.cumsum(steps)).astype("datetime64[ns]")
    prices = [draw(hnp.arrays(np.float64, (n, k), elements=floats)) for _ in PRICES]
    equity = [draw(hnp.arrays(np.float64, n * a, elements=floats)) for _ in range(3)]
    invested = draw(hnp.arrays(np.bool_, n * a))
    return k, a, sizes, times, prices, equity, invested


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks(), st.integers(0, 130))
def test_blocks_round_trip_exactly(case, from_bar):
    # Arrange
    k, a, sizes, times, prices, (equity, cash, dd), invested = case
    symbols = [f"S{j}" for j in range(k)]
    with tempfile.TemporaryDirectory() as tmp:
        rec = Recorder(Path(tmp))
        t0 = 0
        for m in sizes:  # one hand-over per block, as the engine does
            rec.add_bar_block(t0, times[t0:t0 + m], symbols, [p[t0:t0 + m] for p in prices])
            add_bar_major(rec, t0, a, *(x[t0 * a:(t0 + m) * a] for x in (equity, cash, dd)),
                          invested[t0 * a:(t0 + m) * a])
            t0 += m
        rec.close()
        # Act
        with Recording(tmp) as read:
            bars, eq = read.bar_grid(from_bar), read.equity_grid(from_bar)
            rows = read.equity_arrays(from_bar)
    # Assert: bit for bit (NaN included), times to the nanosecond
    n, s = len(times), min(from_bar, len(times))
    assert bars.bars.tolist() == eq.bars.tolist() == list(range(s, n))
    assert bars.symbols == tuple(symbols) and eq.agents.tolist() == list(range(a))
    np.testing.assert_array_equal(bars.times, times[s:])
    assert iso(bars.times) == iso(times[s:])
    for f, p in zip(PRICES, prices, strict=True):
        assert bars.prices[f].tobytes() == p[s:].tobytes(), f
    for f, x in (("equity", equity), ("cash", cash), ("drawdown_pct", dd)):
        assert getattr(eq, f).tobytes() == x[s * a:].reshape(-1, a).tobytes(), f
    np.testing.assert_array_equal(eq.invested, invested[s * a:].reshape(-1, a))
    assert rows["bar"].tolist() == np.repeat(np.arange(s, n), a).tolist()
    assert rows["equity"].tobytes() == equity[s * a:].tobytes()


def test_a_damaged_block_is_named(tmp_path):
    # Arrange: a block whose equity BLOB is one value short
    write_recording(tmp_path / "r1")
    db = sqlite3.connect(tmp_path / "r1" / DB_NAME)
    db.execute("UPDATE equity_blocks SET equity = substr(equity, 1, 24)")
    db.commit()
    db.close()
    # Act / Assert
    with Recording(tmp_path / "r1") as rec, pytest.raises(RecordingError) as err:
        rec.equity()
    assert "equity_blocks row t0=0: equity holds 24 bytes" in str(err.value)
    assert str(tmp_path / "r1" / DB_NAME) in str(err.value)


def test_a_recording_of_a_newer_schema_is_refused_by_name(tmp_path):
    write_recording(tmp_path / "r1")
    db = sqlite3.connect(tmp_path / "r1" / DB_NAME)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(RecordingError, match=f"schema version {SCHEMA_VERSION + 1}, newer than"):
        Recording(tmp_path / "r1")


@pytest.mark.parametrize("shared_memory", [True, False], ids=["shared memory", "pipe only"])
def test_recording_of_a_run_holds_exactly_the_engines_rows(tmp_path, monkeypatch, shared_memory):
    # Arrange: prices and equity reach the writer through shared memory (Linux), or
    # through the pipe where there is none
    if not shared_memory:
        monkeypatch.setattr(shared, "available", lambda: False)
    data = load_bundled(["AAPL", "MSFT"])
    comp = Competition(data, ["buy_and_hold", "sma_cross", "random"],
                       CompetitionConfig(run_dir=str(tmp_path), seed=4, block_bars=500))
    # Act
    comp.run()
    with Recording(comp.run_path) as rec:
        bars, equity, trades, decisions = rec.bars(), rec.equity(), rec.trades(), rec.decisions()
    # Assert: bars are the data, row for row
    for j, sym in enumerate(data.symbols):
        mine = bars[bars["symbol"] == sym]
        assert mine["bar"].tolist() == list(range(len(data)))
        assert (mine["time"].dt.tz_localize(None).to_numpy() == data.times).all()
        for field in ("open", "high", "low", "close", "volume"):
            assert mine[field].tolist() == getattr(data, field)[:, j].tolist(), field
    # equity, cash and drawdown are the streams' rows, exactly
    streamed = comp.streams.equity.to_frame()
    for col in ("bar", "agent", "equity", "cash", "drawdown_pct"):
        assert equity[col].tolist() == streamed[col].tolist(), col
    assert equity.pivot(index="bar", columns="agent", values="equity")[
        comp.agent_names].to_numpy().tolist() == comp.equity_frame().to_numpy().tolist()
    # trades and decisions in the engine's order
    fills = comp.trades_frame()
    assert len(trades) == len(fills) > 0
    for col in ("bar", "agent", "symbol", "side", "quantity", "price", "fee", "action",
                "position"):
        assert trades[col].tolist() == fills[col].tolist(), col
    assert trades["pnl"].astype(float).fillna(-1.0).tolist() == fills["pnl"].fillna(-1.0).tolist()
    shown = comp.streams.decisions.to_frame()
    for col in ("bar", "agent", "targets", "confidence", "reasoning"):
        assert decisions[col].tolist() == shown[col].tolist(), col
    assert shared.available() == shared_memory


def test_the_engine_hands_over_in_batches_of_record_bars(tmp_path, monkeypatch):
    # Arrange: blocks of 250 bars, a hand-over due every 1,000 bars (never by time
    # or rows)
    monkeypatch.setattr(publisher, "RECORD_BARS", 1000)
    monkeypatch.setattr(publisher, "RECORD_SECONDS", 1e9)
    monkeypatch.setattr(publisher, "RECORD_ROWS", 1 << 30)
    ranges = []
    add = Recorder.add_bars

    def adding(self, t0, t1):
        ranges.append((t0, t1))
        add(self, t0, t1)

    monkeypatch.setattr(Recorder, "add_bars", adding)
    data = load_bundled(["AAPL"])
    comp = Competition(data, ["sma_cross"], CompetitionConfig(run_dir=str(tmp_path),
                                                              block_bars=250))
    # Act
    comp.run()
    # Assert: four batches, the last at the end of the run; every bar recorded once
    assert ranges == [(0, 1000), (1000, 2000), (2000, 3000), (3000, 3270)]
    assert len(data) == 3270
    with Recording(comp.run_path) as rec:
        assert rec.bar_grid().bars.tolist() == list(range(len(data)))
        assert rec.equity_grid().equity[:, 0].tolist() == comp.equity_frame().iloc[:, 0].tolist()


def test_the_engine_hands_over_once_record_rows_wait(tmp_path, monkeypatch):
    # Arrange: blocks of 100 bars; hand-overs due by rows only (trades, decisions and
    # events), at 150; note the rows waiting at each check and whether it handed over
    monkeypatch.setattr(publisher, "RECORD_BARS", 1 << 30)
    monkeypatch.setattr(publisher, "RECORD_SECONDS", 1e9)
    monkeypatch.setattr(publisher, "RECORD_ROWS", 150)
    checks = []
    record = publisher.Publisher.record

    def recording(self, force=False):
        waiting, before = self._pending_rows(), self._recorded
        record(self, force)
        checks.append((force, waiting, self._recorded > before))

    monkeypatch.setattr(publisher.Publisher, "record", recording)
    data = load_bundled(["AAPL", "MSFT"])
    comp = Competition(data, ["sma_cross", "rsi", "momentum"],
                       CompetitionConfig(run_dir=str(tmp_path), block_bars=100))
    # Act
    comp.run()
    # Assert: between blocks, a hand-over exactly when 150 rows or more wait
    running = [(waiting, handed) for force, waiting, handed in checks if not force]
    assert len(running) >= len(data) // 100
    assert [handed for _, handed in running] == [waiting >= 150 for waiting, _ in running]
    assert 5 <= sum(handed for _, handed in running) < len(running) - 5
    with Recording(comp.run_path) as rec:  # and every row and bar was recorded
        assert rec.bar_grid().bars.tolist() == list(range(len(data)))
        assert len(rec.trades()) == len(comp.trades_frame())
        assert len(rec.decisions()) == len(comp.streams.decisions.to_frame())


def test_prices_and_equity_reach_the_writer_through_shared_memory(tmp_path, monkeypatch):
    # Arrange: the same run recorded with shared memory, then through the pipe alone
    piped = []
    close = Recorder.close

    def closing(self):
        piped.append(self.sent_bytes)
        close(self)

    monkeypatch.setattr(Recorder, "close", closing)
    grids = []
    for name in ("shared", "pipe"):
        if name == "pipe":
            monkeypatch.setattr(shared, "available", lambda: False)
        data = load_bundled(["AAPL", "MSFT"])
        comp = Competition(data, ["buy_and_hold", "sma_cross", "random"],
                           CompetitionConfig(run_dir=str(tmp_path), run_id=name, seed=4,
                                             block_bars=500))
        # Act
        comp.run()
        with Recording(comp.run_path) as rec:
            grids.append((rec.bar_grid(), rec.equity_grid()))
    # Assert: the pipe carried the prices and equity (a bar's time 8 bytes, OHLCV 40 a
    # symbol, equity 25 an agent) only without shared memory (give or take the frames'
    # headers); the recordings are the same
    values = len(data) * (8 + 40 * 2 + 25 * 3)
    assert values * 0.95 < piped[1] - piped[0] < values * 1.05, (piped, values)
    (bars, equity), (bars_piped, equity_piped) = grids
    for f in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(bars.prices[f], bars_piped.prices[f])
    np.testing.assert_array_equal(bars.times, bars_piped.times)
    for f in ("bars", "equity", "cash", "drawdown_pct", "invested"):
        np.testing.assert_array_equal(getattr(equity, f), getattr(equity_piped, f), err_msg=f)


# ----------------------------------------------------------------------------- writer failures

# A competition in a child process whose files may not grow past FILE_LIMIT bytes
# (RLIMIT_FSIZE): the recording's writes fail as they would on a full disk.
FULL_DISK_CHILD = """
import json, sys
from arena.data import load_bundled
from arena.engine import Competition, CompetitionConfig
comp = Competition(load_bundled(["AAPL", "MSFT"]), ["buy_and_hold", "sma_cross", "random"],
                   CompetitionConfig(run_dir=sys.argv[1], block_bars=256))
try:
    comp.run()
    raised = None
except Exception as exc:
    raised = [type(exc).__name__, str(exc)]
events = comp.streams.events.to_frame()
print(json.dumps({"raised": raised, "status": comp.status(), "run_path": str(comp.run_path),
                  "events": events[events["kind"].str.endswith("error")][
                      ["kind", "message"]].values.tolist()}))
"""
FILE_LIMIT = 300_000


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def test_full_disk_stops_the_run_with_a_recording_error(tmp_path):
    # Arrange
    script = tmp_path / "child.py"
    script.write_text(FULL_DISK_CHILD)
    # Act
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "runs")],
                         capture_output=True, text=True, timeout=120,
                         preexec_fn=limit_file_size)
    # Assert
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    db = str(Path(result["run_path"]) / DB_NAME)
    kind, message = result["raised"]
    assert kind == "RecordingError"
    assert message.startswith("recording failed at bar ")
    assert db in message and "disk I/O error" in message
    # the writer may trail the engine by up to its pipe's 1 MB, so the engine can have
    # processed every bar before the failure comes back (then it surfaces at close)
    assert result["status"]["state"] in ("stopped", "finished")
    assert result["status"]["error"] == message
    assert 0 < result["status"]["bar"] <= 3270
    assert result["events"] == [["recording_error", message]]


def test_a_writer_that_dies_is_reported_on_the_next_flush(tmp_path):
    # Arrange
    rec = Recorder(tmp_path / "r1")
    rec.set_meta(**META)
    rec.flush(force=True)
    # Act
    os.kill(rec.pid, signal.SIGKILL)
    time.sleep(0.2)
    # Assert
    with pytest.raises(RecordingError, match="ended unexpectedly") as err:
        rec.flush()
    assert str(rec.path) in str(err.value)
    with pytest.raises(RecordingError, match="ended unexpectedly"):
        add_bars(rec, BARS)
    rec.close_quietly()
    assert rec.pid is None


def test_a_database_the_writer_cannot_create_fails_the_run_naming_the_file(tmp_path):
    # Arrange: the folder can be made, but a directory sits where the file should go
    comp = Competition(load_bundled("AAPL"), ["buy_and_hold"],
                       CompetitionConfig(run_dir=str(tmp_path), run_id="blocked"))
    (tmp_path / "blocked" / DB_NAME).mkdir(parents=True)
    # Act
    with pytest.raises(RecordingError, match="unable to open database file") as err:
        comp.run()
    # Assert: the writer reports it at the first hand-over after it started, which a
    # 2,000-bar backtest may have finished by then
    assert str(tmp_path / "blocked" / DB_NAME) in str(err.value)
    assert comp.state in (State.STOPPED, State.FINISHED)
    assert comp.status()["error"] == str(err.value)
    events = comp.streams.events.to_frame()
    assert events[events["kind"] == "recording_error"]["message"].tolist() == [str(err.value)]


def test_run_whose_folder_cannot_be_created_stops_with_a_recording_error(tmp_path):
    # Arrange: a file where the run folder should go
    (tmp_path / "taken").write_text("a file")
    comp = Competition(load_bundled("AAPL"), ["buy_and_hold"],
                       CompetitionConfig(run_dir=str(tmp_path / "taken")))
    # Act
    with pytest.raises(RecordingError, match="cannot create recording") as err:
        comp.run()
    # Assert
    assert comp.state is State.STOPPED
    events = comp.streams.events.to_frame()
    assert events[events["kind"] == "recording_error"]["message"].tolist() == [str(err.value)]


def test_the_writer_is_started_by_the_thread_that_starts_the_run(tmp_path, monkeypatch):
    # Arrange: note which thread starts each writer process (docs/engine.md: started
    # from the engine thread, the engine could share a core with the writer's start-up)
    started_by = []
    popen = subprocess.Popen

    def spy(*args, **kwargs):
        started_by.append(threading.current_thread())
        return popen(*args, **kwargs)

    monkeypatch.setattr("arena.recorder.subprocess.Popen", spy)
    stepped = Competition(load_bundled("AAPL"), ["buy_and_hold"],
                          CompetitionConfig(run_dir=str(tmp_path)))
    run = Competition(load_bundled("AAPL"), ["buy_and_hold"],
                      CompetitionConfig(run_dir=str(tmp_path)))
    # Act: the first step launches one engine thread, run() the other
    stepped.step(3)
    stepped.stop()
    run.run()
    # Assert: this thread started both writers, not their engine threads
    assert started_by == [threading.current_thread()] * 2
    for comp in (stepped, run):
        with Recording(comp.run_path) as rec:
            assert rec.meta["status"] in ("stopped", "finished")
            assert len(rec.equity_grid().bars) == (3 if comp is stepped else len(comp.data))


def test_trade_block_is_stored_as_the_trade_rows_it_stands_for(tmp_path):
    # Arrange: columns as TRADE_BLOCK; a buy entry (no pnl) and a sell exit with a loss
    block = np.array([
        [1, 0, 1, 1.0, 94.0, 10.5, 0.99, 0.0, np.nan, 94.0],
        [2, 1, 0, -1.0, 0.125, 11.25, 0.0, 1.0, -0.3125, 0.0],
    ])
    rec = Recorder(tmp_path / "r1")
    rec.set_meta(**META)
    rec.add_agents(AGENTS)
    # Act
    rec.add_trade_block(block, ["XYZ", "ABC"])
    rec.add_trade_block(block[:0], ["XYZ", "ABC"])  # no trades: nothing to send
    rec.close()
    # Assert
    db = sqlite3.connect(tmp_path / "r1" / DB_NAME)
    rows = db.execute("SELECT bar, agent, symbol, side, quantity, price, fee, action, pnl,"
                      " position FROM trades ORDER BY id").fetchall()
    db.close()
    assert rows == [(1, 0, "ABC", "buy", 94.0, 10.5, 0.99, "entry", None, 94.0),
                    (2, 1, "XYZ", "sell", 0.125, 11.25, 0.0, "exit", -0.3125, 0.0)]
    assert len(TRADE_BLOCK) == block.shape[1]
    other = Recorder(tmp_path / "r2")
    with pytest.raises(ValueError, match=r"expected \(n, 10\)"):
        other.add_trade_block(block[:, :9], ["XYZ"])
    other.close()


def test_a_writer_that_is_behind_never_stalls_the_hand_overs_and_loses_nothing(tmp_path):
    # Arrange: a writer that cannot read (stopped), so the 1 MB pipe fills up
    rec = Recorder(tmp_path / "r1")
    rec.set_meta(**META)
    rec.flush(force=True)
    os.kill(rec.pid, signal.SIGSTOP)
    times = np.arange(8192).astype("datetime64[D]").astype("datetime64[ns]")
    closes = np.arange(8192 * 4, dtype=float).reshape(-1, 4)


    def hand_over():  # 5 blocks of 1.5 MB each, then the flush after which arrays are free
        for k in range(5):
            rec.add_bar_block(k * 8192, times + np.timedelta64(k * 8192, "D"),
                              ["A", "B", "C", "D"], [closes + k] * 5)
        rec.flush()

    try:
        # Act: hand over while the writer is stopped; then the engine reuses its array
        sender = threading.Thread(target=hand_over)
        sender.start()
        sender.join(30)
        done_while_stopped = not sender.is_alive()
        backlog = rec.backlog_bytes
        closes[:] = -1.0
    finally:
        os.kill(rec.pid, signal.SIGCONT)
    sender.join()
    rec.close()

    # Assert: the hand-overs did not wait for the writer; every value arrived as sent
    assert done_while_stopped and backlog > 4 << 20
    with Recording(tmp_path / "r1") as read:
        grid = read.bar_grid()
    assert grid.bars.tolist() == list(range(5 * 8192))
    expected = np.concatenate([np.arange(8192 * 4, dtype=float).reshape(-1, 4) + k
                               for k in range(5)])
    np.testing.assert_array_equal(grid.prices["close"], expected)


class NumpyTalk(Agent):
    """Answers in numpy types: a label, confidences and reasoning as numpy scalars."""

    def label(self):
        return np.str_("numpy talk")

    def decide(self, obs):
        return Decision({obs.symbols[0]: 0.5}, np.float64(0.25), np.str_(f"bar {obs.step}"))


class NumpySignals(Agent):
    """Signals whose explanations are numpy strings (a vectorised explain_many)."""

    def signals(self, data):
        return np.where(np.arange(len(data))[:, None] % 2 == 0, 1.0, 0.0)

    def explain_many(self, data, bars):
        return np.char.add("bar ", np.asarray(bars).astype(str))


def test_numpy_values_from_agents_are_recorded_as_text_and_numbers(tmp_path):
    # Arrange: the pipe's marshal format would store a numpy scalar as its raw bytes
    data = synthetic(["XYZ"], bars=6, seed=1)
    comp = Competition(data, [NumpyTalk(), NumpySignals()],
                       CompetitionConfig(run_dir=str(tmp_path)))
    # Act
    comp.run()
    # Assert
    db = sqlite3.connect(comp.run_path / DB_NAME)
    assert db.execute("SELECT name FROM agents ORDER BY id").fetchall() == [
        ("numpy talk",), ("NumpySignals",)]
    rows = db.execute("SELECT agent, confidence, reasoning FROM decisions ORDER BY bar, agent"
                      ).fetchall()
    assert (0, 0.25, "bar 0") in rows
    assert [r for r in rows if r[0] == 1] == [(1, 1.0, f"bar {t}") for t in range(6)]
    assert {type(c) for _, c, r in rows} == {float} and {type(r) for *_, r in rows} == {str}


def test_rows_in_statements_of_many_keep_their_order_and_values(tmp_path):
    # Arrange: more rows than one INSERT statement takes (BATCH_ROWS), and a remainder
    n = 2 * BATCH_ROWS + 37
    decisions = [list(range(n)), [i % 3 for i in range(n)],
                 [None if i % 5 else f'{{"X": {i / 7}}}' for i in range(n)],
                 [i / 3 for i in range(n)], [f"why {i} → é" for i in range(n)], [None] * n]
    events = [("2026-12-02T09:00:00.000Z", i, "trade", i % 2, f"buy {i}") for i in range(n)]
    trades = np.array([[i, 0, 0, 1, 1.5, 10 + i, 0, i % 2, np.nan if i % 2 == 0 else -1.0 * i,
                        1.5] for i in range(n)])
    rec = Recorder(tmp_path / "r1")
    rec.set_meta(**META)
    # Act
    rec.add_decision_columns(decisions)
    rec.add_events(events)
    rec.add_trade_block(trades, ["XYZ"])
    rec.close()
    # Assert
    db = sqlite3.connect(tmp_path / "r1" / DB_NAME)
    got = db.execute("SELECT id, bar, agent, targets, confidence, reasoning, detail"
                     " FROM decisions ORDER BY id").fetchall()
    got_events = db.execute("SELECT wall_time, bar, kind, agent, message FROM events"
                            " ORDER BY id").fetchall()
    got_trades = db.execute("SELECT bar, price, action, pnl FROM trades ORDER BY id").fetchall()
    db.close()
    assert got == [(i + 1, *row) for i, row in enumerate(zip(*decisions, strict=True))]
    assert got_events == events
    assert got_trades == [(i, 10.0 + i, "exit" if i % 2 else "entry",
                           -1.0 * i if i % 2 else None) for i in range(n)]


def test_a_value_marshal_cannot_write_is_a_clear_recording_error(tmp_path):
    # Arrange
    rec = Recorder(tmp_path / "r1")
    # Act / Assert: the writer is not handed a frame it could not read
    with pytest.raises(RecordingError, match="cannot record a 'rows' message.*None, int"):
        rec.add_decisions([(0, 0, None, 1.0, object(), None)])
    rec.add_decisions(DECISIONS)
    rec.close()
    assert sqlite3.connect(tmp_path / "r1" / DB_NAME).execute(
        "SELECT count(*) FROM decisions").fetchone() == (1,)

"""Recording to SQLite and reading it back: round trip, commits, live reads, crashes."""

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena._sqlite_writer import IsoSeconds
from arena.data import load_bundled
from arena.engine import Competition, CompetitionConfig, State
from arena.recorder import (
    DB_NAME,
    Recorder,
    Recording,
    RecordingError,
    iso,
    list_runs,
    unix_seconds,
)

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

RUNS_COLUMNS = ["run_id", "created", "agents", "data", "status", "leader", "path"]

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


def write_recording(run_path: Path, **meta) -> None:
    rec = Recorder(run_path)
    rec.set_meta(**{**META, **meta})
    rec.add_agents(AGENTS)
    rec.add_bars(BARS)
    rec.add_equity(EQUITY)
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


def test_database_is_in_wal_mode(tmp_path):
    # Arrange
    write_recording(tmp_path / "r1")
    # Act
    db = sqlite3.connect(tmp_path / "r1" / DB_NAME)
    mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    # Assert
    assert mode == "wal"


# ----------------------------------------------------------------------------- commits


def test_rows_are_committed_within_the_interval_without_asking(tmp_path):
    # Arrange
    rec = Recorder(tmp_path / "r1", commit_interval=0.3)
    rec.set_meta(**META)
    rec.flush(force=True)
    reader = Recording(tmp_path / "r1")
    # Act: the writer commits on its own clock; the engine never calls flush here
    sent = time.monotonic()
    rec.add_bars(BARS)
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
    rec.add_bars(BARS)
    rec.add_equity(EQUITY)
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
        wait_for(lambda: comp.bar >= 150, 20, "150 bars")  # > 0.5 s of bars: committed
        # Act
        rec = Recording(comp.run_path)
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
        assert rec.meta["status"] == "running"  # never finalised
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
    # the writer outlives the engine: every bar the engine had reported processed
    # (and so handed over) ends up committed, not only those a second old
    reported = max(bar for bar, _ in reports)

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
    write_recording(tmp_path / "b_live", run_id="r2", status="running", leader="")
    (tmp_path / "c_corrupt").mkdir()
    (tmp_path / "c_corrupt" / DB_NAME).write_bytes(b"this is not an SQLite database" * 10)
    (tmp_path / "d_no_db").mkdir()
    # Act
    runs = list_runs(tmp_path)
    # Assert
    assert runs["run_id"].tolist() == ["r1", "r2", "c_corrupt"]
    assert runs["status"].tolist() == ["finished", "running", "unreadable"]
    first = runs.iloc[0]
    assert (first["created"], first["agents"], first["data"], first["leader"]) == (
        "2024-01-05T10:00:00.000Z", "alpha, beta", "XYZ", "beta")
    assert runs["path"].tolist() == [str(tmp_path / d) for d in ("a_done", "b_live",
                                                                 "c_corrupt")]


def test_list_runs_reads_a_recording_without_status_as_running(tmp_path):
    # Arrange: a run that crashed before any status was written
    rec = Recorder(tmp_path / "crashed")
    rec.set_meta(run_id="crashed", created="2024-01-05T10:00:00.000Z")
    rec.close()
    # Act
    (row,) = list_runs(tmp_path).to_dict("records")
    # Assert
    assert row["status"] == "running?"


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

# Bar times on both sides of the epoch, with fractions of a second (stored rounded
# down to the second, as iso() does), a leap day and the last datetime64[ns] second.
BLOCK_TIMES = np.array(["1969-12-31T23:59:59.999999999", "1970-01-01T00:00:00",
                        "2024-02-29T16:30:05.5", "2262-04-11T23:47:16"], dtype="datetime64[ns]")
BLOCK_SYMBOLS = ("AAA", "BBB")
BLOCK_OHLCV = [np.arange(8.0).reshape(4, 2) + base for base in (10.1, 11.2, 9.3, 10.4, 1e6 / 3)]
BLOCK_AGENTS = 3
# bar-major: (bar 5: agents 0, 1, 2), (bar 6: ...), ...
BLOCK_EQUITY = 1000 + np.arange(12) / 7
BLOCK_CASH = 500 - np.arange(12) / 3
BLOCK_DD = -np.arange(12) / 11
BLOCK_INVESTED = np.arange(12) % 2 == 0


def raw_rows(run_path: Path, table: str) -> list[tuple]:
    db = sqlite3.connect(run_path / DB_NAME)
    rows = db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
    db.close()
    return rows


def test_blocks_write_the_same_rows_as_row_by_row(tmp_path):
    # Arrange
    bars_rows = [(5 + i, t, sym, *(float(c[i, j]) for c in BLOCK_OHLCV))
                 for i, t in enumerate(iso(BLOCK_TIMES)) for j, sym in enumerate(BLOCK_SYMBOLS)]
    equity_rows = [(5 + i // BLOCK_AGENTS, i % BLOCK_AGENTS, float(BLOCK_EQUITY[i]),
                    float(BLOCK_CASH[i]), float(BLOCK_DD[i]), int(BLOCK_INVESTED[i]))
                   for i in range(12)]
    by_rows, by_block = Recorder(tmp_path / "rows"), Recorder(tmp_path / "block")
    # Act
    by_rows.add_bars(bars_rows)
    by_rows.add_equity(equity_rows)
    by_rows.close()
    by_block.add_bar_block(5, BLOCK_TIMES, BLOCK_SYMBOLS, BLOCK_OHLCV)
    by_block.add_equity_block(5, BLOCK_AGENTS, BLOCK_EQUITY, BLOCK_CASH, BLOCK_DD,
                              BLOCK_INVESTED)
    by_block.close()
    # Assert
    assert raw_rows(tmp_path / "block", "bars") == raw_rows(tmp_path / "rows", "bars")
    assert raw_rows(tmp_path / "block", "equity") == raw_rows(tmp_path / "rows", "equity")
    times = [r[1] for r in raw_rows(tmp_path / "block", "bars")[::2]]
    assert times == ["1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2024-02-29T16:30:05Z",
                     "2262-04-11T23:47:16Z"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(2**63) + 1, 2**63 - 1), min_size=1, max_size=50))
def test_writer_formats_times_exactly_as_iso(nanoseconds):
    # Arrange
    times = np.array(nanoseconds, dtype="datetime64[ns]")
    # Act
    written = IsoSeconds()(unix_seconds(times).tolist())
    # Assert
    assert written == iso(times)


def test_recording_of_a_run_holds_exactly_the_engines_rows(tmp_path):
    # Arrange
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
        rec.add_bars(BARS)
    rec.close_quietly()
    assert rec.pid is None


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

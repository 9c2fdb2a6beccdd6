"""Recording to SQLite and reading it back: round trip, commits, live reads, crashes."""

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from arena.data import load_bundled
from arena.engine import Competition, CompetitionConfig, State
from arena.recorder import DB_NAME, Recorder, Recording, RecordingError, list_runs

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


def test_flush_commits_once_the_interval_has_passed(tmp_path):
    # Arrange
    rec = Recorder(tmp_path / "r1", commit_interval=0.3)
    rec.set_meta(**META)
    rec.add_agents(AGENTS)
    rec.flush(force=True)
    reader = Recording(tmp_path / "r1")
    # Act / Assert: rows are invisible until a commit, visible once flush commits
    rec.add_bars(BARS)
    rec.flush()  # well within the interval: no commit yet
    assert len(reader.bars()) == 0
    time.sleep(0.35)
    rec.flush()
    assert len(reader.bars()) == 2
    rec.add_equity(EQUITY)
    rec.flush(force=True)
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

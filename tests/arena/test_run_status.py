"""A run's honest status: running while its writer lives, finished when it ends, and
``interrupted`` (with its last bar and that bar's time) when its process is killed or
the machine restarts; read the same by ``list_runs``, ``Recording``, ``Replay``, the
``arena runs`` command, the run picker and the report."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from arena import _sqlite_writer
from arena.recorder import (
    DB_NAME,
    HEARTBEAT_STALE,
    Recorder,
    Recording,
    RecordingError,
    list_runs,
    status_text,
    writer_gone,
)
from arena.replay import Replay
from tests.arena.legacy_recording import write_legacy

_SCRIPT = Path(sys.executable).with_name("arena")
ARENA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "arena.cli"]

# A competition in a child process, slow enough to be killed in the middle: 100 bars/s
# over AAPL and MSFT (3,270 bars, half a minute); it says where it records and how far
# the engine is.
CHILD = """
import sys, time
from arena.data import load_bundled
from arena.engine import Competition, CompetitionConfig

comp = Competition(load_bundled(["AAPL", "MSFT"]), ["buy_and_hold", "sma_cross", "random"],
                   CompetitionConfig(speed=100, run_dir=sys.argv[1], seed=3))
comp.start()
while comp.run_path is None:
    time.sleep(0.01)
print("run_path", comp.run_path, flush=True)
while True:
    print("bar", comp.bar, flush=True)
    time.sleep(0.1)
"""

BARS = [(0, "2024-01-02T00:00:00Z", "XYZ", 10.0, 11.0, 9.0, 10.5, 1000.0),
        (1, "2024-01-03T00:00:00Z", "XYZ", 10.5, 12.0, 10.0, 11.5, 1500.0)]
EQUITY = [(0, 0, 1000.0, 1000.0, 0.0, 0), (1, 0, 990.0, 10.0, -1.0, 1)]
LIVE_META = {"run_id": "r1", "created": "2024-01-05T10:00:00.000Z", "status": "running"}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Child:
    """The competition of :data:`CHILD` in a subprocess (``session``: its own process
    group, so that it can be killed together with its writer)."""

    def __init__(self, tmp_path: Path, session: bool = False):
        script = tmp_path / "child.py"
        script.write_text(CHILD)
        self.run_dir = tmp_path / "runs"
        self.proc = subprocess.Popen([sys.executable, str(script), str(self.run_dir)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, start_new_session=session)
        self.bar, self.run_path = 0, None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            kind, value = line.split()
            if kind == "run_path":
                self.run_path = Path(value)
            else:
                self.bar = int(value)

    def wait_recorded(self, bars: int) -> Path:
        """Until the recording holds ``bars`` bars (committed); the run's folder."""
        wait_for(lambda: self.run_path is not None and (self.run_path / DB_NAME).is_file(),
                 60, "the recording")

        def recorded():
            try:
                with Recording(self.run_path) as rec:
                    bar, _ = rec.last_bar()
            except RecordingError:  # the writer has not made its schema yet
                return False
            return bar is not None and bar >= bars

        wait_for(recorded, 60, f"{bars} recorded bars")
        return self.run_path

    def kill(self, group: bool = False) -> None:
        if group:
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def recorded_last_bar(run_path: Path) -> tuple[int, pd.Timestamp]:
    """The highest bar with prices and every agent's equity, and its time, read from
    the rows themselves."""
    with Recording(run_path) as rec:
        equity, bars = rec.equity(), rec.bars()
    last = min(equity["bar"].max(), bars["bar"].max())
    assert (equity.groupby("bar").size() == 3).all()
    return int(last), bars.loc[bars["bar"] == last, "time"].iloc[0]


def stored_status(run_path: Path) -> str:
    """Meta ``status`` as stored in the file (not as a reader judges it)."""
    db = sqlite3.connect(run_path / DB_NAME)
    try:
        return json.loads(db.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()[0])
    finally:
        db.close()


def arena_runs(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ARENA, "runs", "--run-dir", str(run_dir), *args],
                          capture_output=True, text=True, timeout=120, check=False)


def closed_recording(run_path: Path, **writer) -> Path:
    """A recording of two bars whose meta says ``running``, closed; then its ``writer``
    row changed to ``writer`` (as if someone else had written it)."""
    rec = Recorder(run_path)
    rec.set_meta(**LIVE_META)
    rec.add_agents([(0, "alpha", "alpha", {})])
    rec.close()
    db = sqlite3.connect(run_path / DB_NAME)
    with db:
        for column, value in writer.items():
            db.execute(f"UPDATE writer SET {column} = ?", (value,))
    db.close()
    return run_path


def utc(seconds_ago: float) -> str:
    t = pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=seconds_ago)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------- real runs


@pytest.mark.slow
def test_a_killed_run_reads_interrupted_at_its_last_recorded_bar_everywhere(tmp_path):
    # Arrange: a run in another process, recording
    child = Child(tmp_path)
    try:
        run_path = child.wait_recorded(50)
        while_live = list_runs(child.run_dir).iloc[0]
        cli_live = arena_runs(child.run_dir)
        # Act
        child.kill()
    finally:
        child.close()
    # the writer outlives the engine: it commits what it was sent, then says so
    wait_for(lambda: stored_status(run_path) == "interrupted", 10, "the writer's mark")
    last, when = recorded_last_bar(run_path)
    with Recording(run_path) as rec:
        meta, status = rec.meta, rec.status()
    runs = list_runs(child.run_dir)
    with Replay(run_path) as rp:
        replay_status, replay_text = rp.recording_status, rp.recording_summary
        replay_bars, replay_live = rp.n_bars, rp.live
    cli_table, cli_json = arena_runs(child.run_dir), arena_runs(child.run_dir, "--format", "json")
    from arena.ui.report import report_html
    from arena.ui.runs import run_options

    labels = list(run_options(child.run_dir))
    with Recording(run_path) as rec:
        report = report_html(rec, max_rows=10)
    # Assert: while it ran
    assert while_live["status"] == "running" and while_live["last_bar"] >= 50
    assert cli_live.returncode == 0 and " running " in cli_live.stdout
    # Assert: after the kill, every reader says interrupted at the last bar recorded
    assert 50 <= last < 3270 and when == when.normalize()  # daily bars: midnight UTC
    text = f"interrupted at bar {last:,} ({when:%Y-%m-%d})"
    iso = f"{when:%Y-%m-%dT%H:%M:%S}Z"
    assert status == meta["status"] == "interrupted"
    assert (meta["last_bar"], meta["last_bar_time"]) == (last, iso)
    assert "without closing" in meta["interrupted_reason"]
    (row,) = runs.to_dict("records")
    assert (row["status"], row["last_bar"], row["last_bar_time"]) == ("interrupted", last, iso)
    assert row["leader"] == ""  # it never finished: no leader
    assert (replay_status, replay_text, replay_bars, replay_live) == (
        "interrupted", text, last + 1, False)
    assert cli_table.returncode == 0, cli_table.stderr
    assert text in cli_table.stdout
    assert cli_json.returncode == 0, cli_json.stderr
    (listed,) = json.loads(cli_json.stdout)
    assert (listed["status"], listed["last_bar"], listed["last_bar_time"]) == (
        "interrupted", last, iso)
    assert len(labels) == 1 and text in labels[0]
    assert text in report


@pytest.mark.slow
def test_a_run_killed_with_its_writer_reads_interrupted_from_the_writers_identity(tmp_path):
    # Arrange
    child = Child(tmp_path, session=True)
    try:
        run_path = child.wait_recorded(50)
        # Act: the engine and its writer at once (nobody is left to mark the meta)
        child.kill(group=True)
    finally:
        child.close()
    with Recording(run_path) as rec:
        writer = rec.writer()
    wait_for(lambda: _sqlite_writer.start_time(writer["pid"]) is None, 10, "the writer's end")
    last, when = recorded_last_bar(run_path)
    with Recording(run_path) as rec:
        meta, status = rec.meta, rec.status()
    (row,) = list_runs(child.run_dir).to_dict("records")
    # Assert
    assert stored_status(run_path) == "running"  # as the file says
    assert status == meta["status"] == row["status"] == "interrupted"
    assert f"writer process {writer['pid']} has ended" in meta["interrupted_reason"]
    assert meta["last_bar"] == row["last_bar"] == last
    assert meta["last_bar_time"] == row["last_bar_time"] == f"{when:%Y-%m-%dT%H:%M:%S}Z"


@pytest.mark.slow
def test_a_finished_run_reads_finished_with_its_last_bar(tmp_path):
    # Arrange
    run_dir = tmp_path / "runs"
    done = subprocess.run([*ARENA, "run", "--symbol", "AAPL", "--start", "2012-01-01",
                           "--agent", "buy_and_hold", "--agent", "sma_cross", "--run-dir",
                           str(run_dir), "--format", "json"],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    # Act
    (row,) = list_runs(run_dir).to_dict("records")
    listed = arena_runs(run_dir)
    # Assert
    with Recording(row["path"]) as rec:
        n, times = rec.meta["bars_processed"], rec.times()
    assert row["status"] == "finished" and row["leader"]
    assert row["last_bar"] == n - 1 == times.index[-1]
    assert row["last_bar_time"] == f"{times.iloc[-1]:%Y-%m-%dT%H:%M:%S}Z"
    assert listed.returncode == 0 and " finished " in listed.stdout
    assert "interrupted" not in listed.stdout


def test_a_writer_sent_sigterm_marks_the_run_interrupted(tmp_path):
    # Arrange: a live recording of two bars
    rec = Recorder(tmp_path / "r1")
    rec.set_meta(**LIVE_META)
    rec.add_agents([(0, "alpha", "alpha", {})])
    rec.flush(force=True)
    with Recording(tmp_path / "r1") as reader:
        before = reader.status()
    # Act
    rec._proc.send_signal(signal.SIGTERM)
    rec._proc.wait(10)
    rec.close_quietly()
    # Assert
    with Recording(tmp_path / "r1") as reader:
        meta = reader.meta
    assert before == "running"
    assert stored_status(tmp_path / "r1") == meta["status"] == "interrupted"
    assert "SIGTERM" in meta["interrupted_reason"]
    assert meta["last_bar"] is None and status_text(meta["status"]) == (
        "interrupted before its first bar")


@pytest.mark.slow
def test_an_idle_writer_renews_its_heartbeat(tmp_path):
    # Arrange: a recording with nothing to write (a paused run)
    rec = Recorder(tmp_path / "r1")
    rec.set_meta(**LIVE_META)
    rec.flush(force=True)
    try:
        with Recording(tmp_path / "r1") as reader:
            first = reader.writer()["heartbeat"]
            # Act
            renewed = wait_for(lambda: reader.writer()["heartbeat"] != first,
                               _sqlite_writer.HEARTBEAT_SECONDS + 3, "a new heartbeat")
            writer = reader.writer()
    finally:
        rec.close()
    # Assert
    assert renewed and writer["heartbeat"] > first
    assert writer["pid"] != os.getpid() and writer["engine_pid"] == os.getpid()
    assert writer["boot_id"] == _sqlite_writer.boot_id()


# ----------------------------------------------------------------------------- the rules


def test_a_recording_from_before_a_restart_reads_interrupted(tmp_path):
    # Arrange: its writer looks alive (this very process, same start time) but ran in
    # another boot of this machine
    me = _sqlite_writer.identity()
    run = closed_recording(tmp_path / "r1", pid=me["pid"], start_time=me["start_time"],
                           boot_id="00000000-0000-0000-0000-000000000000",
                           heartbeat=utc(0))
    # Act
    with Recording(run) as rec:
        status, meta = rec.status(), rec.meta
    # Assert
    assert status == meta["status"] == "interrupted"
    assert "restarted" in meta["interrupted_reason"]


def test_a_reused_pid_does_not_keep_a_dead_writer_alive(tmp_path):
    # Arrange: the writer's pid now names another process (this one) started at
    # another time; the same pid and start time is the writer itself
    me = _sqlite_writer.identity()
    reused = closed_recording(tmp_path / "reused", pid=me["pid"],
                              start_time=me["start_time"] - 1, heartbeat=utc(0))
    alive = closed_recording(tmp_path / "alive", pid=me["pid"], start_time=me["start_time"])
    # Act
    with Recording(reused) as a, Recording(alive) as b:
        (reused_status, reason), alive_status = (a.status(), a.meta["interrupted_reason"]), \
            b.status()
    # Assert
    assert reused_status == "interrupted"
    assert f"writer process {me['pid']} has ended" in reason and "another process" in reason
    assert alive_status == "running"


def test_a_writer_on_another_host_is_judged_by_its_heartbeat():
    # Arrange
    elsewhere = {"pid": 1, "start_time": 1, "boot_id": "x", "host": "another-host",
                 "pid_ns": None, "heartbeat": utc(0)}
    now = time.time()
    # Act
    fresh = writer_gone(elsewhere, "unused", now=now + HEARTBEAT_STALE - 5)
    stale = writer_gone(elsewhere, "unused", now=now + HEARTBEAT_STALE + 5)
    # Assert
    assert fresh is None
    assert "another-host" in stale and "heartbeat" in stale


def test_an_older_recording_that_says_running_is_interrupted_unless_just_written(tmp_path):
    # Arrange: schema version 0, no writer row; one file last written long ago
    old = write_legacy(tmp_path / "old" / DB_NAME, BARS, EQUITY,
                       meta={k: json.dumps(v) for k, v in LIVE_META.items()})
    recent = write_legacy(tmp_path / "recent" / DB_NAME, BARS, EQUITY,
                          meta={k: json.dumps(v) for k, v in LIVE_META.items()})
    long_ago = time.time() - 3600
    for f in old.parent.iterdir():
        os.utime(f, (long_ago, long_ago))
    # Act
    with Recording(old) as a, Recording(recent) as b:
        old_meta, recent_meta, writer = a.meta, b.meta, a.writer()
    runs = list_runs(tmp_path)
    # Assert
    assert writer is None
    assert old_meta["status"] == "interrupted" and recent_meta["status"] == "running"
    assert (old_meta["last_bar"], old_meta["last_bar_time"]) == (1, "2024-01-03T00:00:00Z")
    assert sorted(runs["status"]) == ["interrupted", "running"]


def test_status_text_says_the_last_bar_and_its_time():
    # Act / Assert
    assert status_text("finished", 9, "2024-01-03T00:00:00Z") == "finished"
    assert status_text("interrupted", 1234, "2005-03-01T00:00:00Z") == (
        "interrupted at bar 1,234 (2005-03-01)")
    assert status_text("interrupted", 7, "2005-03-01T14:30:00Z") == (
        "interrupted at bar 7 (2005-03-01 14:30 UTC)")
    assert status_text("interrupted", pd.NA, None) == "interrupted before its first bar"

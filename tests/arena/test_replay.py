"""Replay: seek forward and back against statistics computed straight from the recording,
against a live competition stepped to the same bar, play/pause/step, following a
recording that is still being written, and clear errors for bad runs."""

from __future__ import annotations

import math
import sqlite3
import threading
import time

import numpy as np
import pandas as pd
import pytest

from arena.agents.base import Agent, Decision
from arena.data import synthetic
from arena.engine import Competition, CompetitionConfig, State, StateError
from arena.metrics import compute_stats
from arena.portfolio import PortfolioConfig
from arena.recorder import Recording, RecordingError, iso
from arena.replay import Replay, resolve_run
from tests.arena.legacy_recording import write_legacy

SYMBOLS = ("AAA", "BBB")
N_BARS = 420
SEED = 11
SEEKS = (250, 37, 419, 1, 180, 420, 2, 0, 300)  # forward and back, both ends
STAT_COLUMNS = ("return_pct", "sharpe", "max_drawdown_pct", "win_rate_pct", "fees",
                "exposure_pct")


class FlipAgent(Agent):
    """Per-bar agent: long AAA on even weeks, short BBB otherwise; raises on every
    50th bar (an ``agent_error`` the competition survives)."""

    def decide(self, obs):
        if obs.step % 50 == 49:
            raise RuntimeError(f"boom at {obs.step}")
        if obs.step % 10 == 0:
            return Decision({"AAA": 0.6, "BBB": 0.0}, 0.7, f"week {obs.step // 5}: long AAA")
        if obs.step % 10 == 5:
            return Decision({"AAA": 0.0, "BBB": -0.4}, 0.5, "short BBB <b>now</b>")
        return Decision.hold("wait")


def agents():
    return ["buy_and_hold", "sma_cross:fast=5,slow=20", "random:trade_prob=0.2", FlipAgent()]


def config(tmp, record=True, speed=0.0):
    return CompetitionConfig(portfolio=PortfolioConfig(fee_bps=5, slippage_bps=3), seed=SEED,
                             run_dir=str(tmp), record=record, speed=speed)


def market():
    return synthetic(SYMBOLS, bars=N_BARS, seed=SEED)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A finished recording of four agents (one per-bar, one failing now and then)."""
    comp = Competition(market(), agents(), config(tmp_path_factory.mktemp("runs")))
    comp.run()
    return comp.run_path


def expected_stats(rec: Recording, t: int) -> dict[str, pd.Series]:
    """compute_stats on the recording's own equity and trades, cut at t bars."""
    eq, trades = rec.equity(), rec.trades()
    eq, trades = eq[eq["bar"] < t], trades[trades["bar"] < t]
    periods = rec.meta["periods_per_year"]
    out = {}
    for name, rows in eq.groupby("agent", sort=False):
        series = pd.Series(rows["equity"].to_numpy(), index=pd.DatetimeIndex(rows["time"]))
        out[name] = compute_stats(series, trades[trades["agent"] == name],
                                  invested=rows["invested"].to_numpy(), periods_per_year=periods)
    return out


def same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    a, b = float(a), float(b)
    if math.isnan(a):
        return math.isnan(b)
    return b == pytest.approx(a, rel=1e-9, abs=1e-9)


# -------------------------------------------------------------------------- seeking

def test_seek_forward_and_back_matches_statistics_computed_from_the_recording(recorded):
    rec = Recording(recorded)
    with Replay(recorded) as rp:
        for t in SEEKS:
            # Act
            assert rp.seek(t) == t
            board = rp.leaderboard()
            # Assert
            if t == 0:
                assert board.empty
                continue
            want = expected_stats(rec, t)
            assert sorted(board["agent"]) == sorted(want)
            for row in board.to_dict("records"):
                w = want[row["agent"]]
                assert row["equity"] == w["equity_final"], (t, row["agent"])
                assert row["trades"] == w["trades"], (t, row["agent"])
                for col in STAT_COLUMNS:
                    assert same(float(w[col]), float(row[col])), (t, row["agent"], col)
            by_equity = board.sort_values("equity", ascending=False, kind="stable")
            assert list(by_equity["rank"]) == list(range(1, len(board) + 1))


def test_seek_matches_a_live_competition_stepped_to_the_same_bar(recorded, tmp_path):
    """Leaderboard and positions at t are what the engine itself showed after t bars."""
    with Replay(recorded) as rp:
        for t in (97, 333, 12):
            live = Competition(market(), agents(), config(tmp_path, record=False))
            live.step(t)
            rp.seek(t)
            want = live.leaderboard().set_index("agent")
            got = rp.leaderboard().set_index("agent")
            for agent in want.index:
                for col in ("rank", "equity", "trades", "errors", "last_action", *STAT_COLUMNS):
                    assert same(want.loc[agent, col], got.loc[agent, col]), (t, agent, col)
            wp = live.streams.positions.snapshot().set_index(["agent", "symbol"])
            gp = rp.positions().set_index(["agent", "symbol"])
            assert list(wp.index) == list(gp.index)
            for col in wp.columns:
                np.testing.assert_allclose(gp[col].to_numpy(float), wp[col].to_numpy(float),
                                           rtol=1e-12, atol=1e-9, err_msg=f"{t} {col}")
            live.stop()


def test_at_the_end_the_leaderboard_is_the_one_the_engine_recorded(recorded):
    final = pd.DataFrame(Recording(recorded).meta["leaderboard"]).set_index("agent")
    with Replay(recorded, at="end") as rp:
        board = rp.leaderboard().set_index("agent")
        assert rp.status()["state"] == "finished" and rp.bar == N_BARS
    for agent in final.index:
        for col in ("rank", "equity", "trades", "errors", "last_action", *STAT_COLUMNS):
            assert same(final.loc[agent, col], board.loc[agent, col]), (agent, col)


def test_streams_never_hold_anything_after_the_position(recorded):
    rec = Recording(recorded)
    n_events = len(rec.events())
    with Replay(recorded) as rp:
        for t in (300, 45, 1):
            rp.seek(t)
            st = rp.streams
            for name in ("prices", "equity", "benchmark", "trades", "decisions"):
                rows, _ = getattr(st, name).since(0)
                assert rows.empty or rows["bar"].max() < t, (name, t)
            events, _ = st.events.since(0)
            assert (events["bar"].dropna() < t).all()
            assert len(events) < n_events
            equity, _ = st.equity.since(0)
            assert len(equity) == t * 4 and equity["bar"].max() == t - 1
            hist, cursor = rp.history("equity", 50)
            assert hist["bar"].max() == t - 1 and cursor == st.equity.total
            assert rp.status()["time"] == str(rp.data.timestamp(t - 1).isoformat())


def test_seek_bumps_every_stream_epoch_so_viewers_reload(recorded):
    with Replay(recorded, at=100) as rp:
        before = [s.epoch for s in rp.streams.all()]
        rp.seek(50)
        after = [s.epoch for s in rp.streams.all()]
    assert all(b > a for a, b in zip(before, after, strict=True))


def test_trades_decisions_and_errors_up_to_t_are_the_recordings(recorded):
    rec = Recording(recorded)
    trades, decisions, events = rec.trades(), rec.decisions(), rec.events()
    with Replay(recorded, at=260) as rp:
        got = rp.trades_frame()
        dec, _ = rp.streams.decisions.since(0)
        board = rp.leaderboard().set_index("agent")
    want = trades[trades["bar"] < 260].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert len(dec) == (decisions["bar"] < 260).sum()
    errors = events[(events["kind"] == "agent_error") & (events["bar"] < 260)]
    assert board.loc["FlipAgent", "errors"] == len(errors) == 5  # bars 49, 99, ..., 249


def test_after_a_seek_the_feeds_hold_the_newest_decisions_and_events_before_t(recorded):
    rec = Recording(recorded)
    decisions, events = rec.decisions(), rec.events()
    with Replay(recorded, feed_rows=60) as rp:
        for t in (300, 7):
            rp.seek(t)
            dec, _ = rp.streams.decisions.since(0)
            ev, _ = rp.streams.events.since(0)
            want = decisions[decisions["bar"] < t].tail(60)
            assert len(dec) == len(want) == min(60, (decisions["bar"] < t).sum())
            assert list(dec["bar"]) == list(want["bar"])
            assert list(dec["agent"]) == list(want["agent"])
            assert list(dec["reasoning"]) == list(want["reasoning"])
            want_ev = events[events["bar"] < t].tail(60)
            assert list(ev["message"]) == list(want_ev["message"])
            assert list(ev["kind"]) == list(want_ev["kind"])
        rp.step(25)  # playing on appends the rows of the bars it shows
        dec, _ = rp.streams.decisions.since(0)
        assert list(dec["reasoning"]) == list(decisions[decisions["bar"] < 32]["reasoning"])


# -------------------------------------------------------------------------- playing

def test_step_play_pause_and_speed(recorded):
    with Replay(recorded, at=10) as rp:
        assert rp.step() == 11 and rp.step(5) == 16
        rp.speed = 50
        rp.start()
        with pytest.raises(StateError):
            rp.step()
        time.sleep(0.5)
        rp.pause()
        t = rp.bar
        assert 16 + 10 <= t <= 16 + 40  # about 25 bars in 0.5 s at 50 bars/s
        time.sleep(0.3)
        assert rp.bar == t and rp.state is State.PAUSED
        rows, _ = rp.streams.equity.since(0)
        assert len(rows) == t * 4 and list(rows["bar"].drop_duplicates()) == list(range(t))
        rp.speed = 0
        rp.resume()
        end = time.monotonic() + 20
        while rp.state is State.RUNNING and time.monotonic() < end:
            time.sleep(0.05)
        assert rp.state is State.FINISHED and rp.bar == N_BARS
        with pytest.raises(ValueError, match="speed"):
            rp.speed = -1


def test_playing_to_the_end_gives_the_same_streams_as_seeking_there(recorded):
    with Replay(recorded, speed=0) as played, Replay(recorded, at="end") as sought:
        played.start()
        end = time.monotonic() + 20
        while played.state is State.RUNNING and time.monotonic() < end:
            time.sleep(0.05)
        for name in ("equity", "trades", "decisions", "prices"):
            a, _ = getattr(played.streams, name).since(0)
            b, _ = getattr(sought.streams, name).since(0)
            pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
        pd.testing.assert_frame_equal(played.leaderboard(), sought.leaderboard())


@pytest.mark.slow
def test_follows_a_recording_while_it_is_being_written(tmp_path):
    comp = Competition(market(), agents(), config(tmp_path, speed=150))
    comp.start()
    while comp.bar < 100:  # about 0.7 s: the writer has committed at least once
        time.sleep(0.02)
    rp = Replay(comp.run_path, speed=0)
    try:
        assert rp.live and 0 < rp.n_bars < N_BARS
        rp.start()
        seen = []
        while rp.state is State.RUNNING:
            seen.append((rp.bar, comp.bar))
            time.sleep(0.05)
        comp.wait(30)
        assert rp.state is State.FINISHED and rp.bar == N_BARS
        assert all(shown <= done for shown, done in seen)  # never ahead of the writer
        assert any(0 < shown < N_BARS for shown, _ in seen)
        final = pd.DataFrame(Recording(comp.run_path).meta["leaderboard"]).set_index("agent")
        board = rp.leaderboard().set_index("agent")
        assert board["equity"].to_dict() == final["equity"].to_dict()
    finally:
        rp.stop()
        comp.stop()


def test_a_replay_can_be_driven_from_another_thread_while_seeking(recorded):
    with Replay(recorded, speed=50) as rp:
        rp.start()
        errors = []

        def seek_around():
            try:
                for t in (400, 10, 200, 5, 300):
                    rp.seek(t)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
        worker = threading.Thread(target=seek_around)
        worker.start()
        worker.join(10)
        assert not errors
        rp.pause()  # from bar 300 at 50 bars/s it is still playing for about 2 s
        rows, _ = rp.streams.equity.since(0)
        assert list(rows["bar"].drop_duplicates()) == list(range(rp.bar))


# -------------------------------------------------------------------------- bad input

def test_a_missing_run_names_what_was_tried_and_the_runs_there(recorded):
    with pytest.raises(RecordingError) as err:
        resolve_run("no-such-run", recorded.parent)
    message = str(err.value)
    assert "no-such-run" in message and recorded.name in message


def test_a_run_id_under_the_run_dir_opens(recorded):
    with Replay(recorded.name, run_dir=recorded.parent) as rp:
        assert rp.run_id == recorded.name and rp.n_bars == N_BARS


def test_a_file_that_is_not_a_recording_is_refused(tmp_path):
    bad = tmp_path / "x" / "arena.sqlite"
    bad.parent.mkdir()
    sqlite3.connect(bad).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(RecordingError, match="not a Trading Arena recording"):
        Replay(bad.parent)


def test_a_replay_reads_the_recording_and_writes_nothing_beside_it(recorded):
    before = {p.name: p.read_bytes() for p in recorded.iterdir()
              if p.is_file() and p.suffix == ".sqlite"}
    listing = sorted(p.name for p in recorded.iterdir() if not p.name.endswith(("-wal", "-shm")))
    with Replay(recorded, at=260) as rp:
        rp.seek(419)
        rp.seek(3)
    assert sorted(p.name for p in recorded.iterdir()
                  if not p.name.endswith(("-wal", "-shm"))) == listing
    assert {p.name: p.read_bytes() for p in recorded.iterdir()
            if p.is_file() and p.suffix == ".sqlite"} == before


def test_trade_words_outside_the_usual_vocabulary_come_back_as_recorded(recorded, tmp_path):
    # Arrange: a copy whose first fill's side is spelled differently
    copy = tmp_path / "odd" / "arena.sqlite"
    copy.parent.mkdir()
    src = sqlite3.connect(recorded / "arena.sqlite")
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.execute("UPDATE trades SET side = 'BUY' WHERE id = (SELECT min(id) FROM trades)")
    dst.commit()
    dst.close()
    want = Recording(copy).trades()
    # Act
    with Replay(copy.parent, at="end") as rp:
        got = rp.trades_frame()
    # Assert
    assert got["side"].iloc[0] == "BUY" and set(got["side"].iloc[1:]) <= {"buy", "sell"}
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_a_recording_in_the_old_row_schema_replays_the_same(recorded, tmp_path):
    # Arrange: the same run as an old-schema file (a row per bar x symbol and per bar
    # x agent, written with plain SQL), its other tables copied
    data = market()
    times = iso(data.times)
    bar_rows = [(i, times[i], sym, *(float(getattr(data, f)[i, j])
                                      for f in ("open", "high", "low", "close", "volume")))
                for i in range(len(data)) for j, sym in enumerate(data.symbols)]
    with Recording(recorded) as rec:
        eq = rec.equity_arrays()
    old = write_legacy(tmp_path / "old" / "arena.sqlite", bar_rows, eq.tolist(),
                       copy_from=recorded / "arena.sqlite")
    # Act / Assert
    with Replay(recorded) as new, Replay(old.parent) as legacy:
        assert new.recording.blocks and not legacy.recording.blocks
        assert legacy.n_bars == new.n_bars == N_BARS
        for t in (419, 3, 260, 420):
            new.seek(t)
            legacy.seek(t)
            pd.testing.assert_frame_equal(new.leaderboard(), legacy.leaderboard())
            pd.testing.assert_frame_equal(new.positions(), legacy.positions())
            for name in ("equity", "trades", "decisions", "events", "prices"):
                a, _ = getattr(new.streams, name).since(0)
                b, _ = getattr(legacy.streams, name).since(0)
                pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))

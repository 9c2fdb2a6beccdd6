"""Rolling windows and tasks: windows checked against pandas date arithmetic, task ids
that change exactly when a result could."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from arena.data import load_bundled
from arena.engine import CompetitionConfig
from arena.sweep.tasks import data_key, plan_tasks
from arena.sweep.windows import WindowError, rolling_windows

TIMES = pd.date_range("2020-01-01", periods=10, freq="D").to_numpy()
GOOG = load_bundled(["GOOG"])


def test_windows_in_bars_step_and_keep_only_whole_windows():
    ws = rolling_windows(TIMES, 4, 3)
    assert [(w.lo, w.hi) for w in ws] == [(0, 4), (3, 7), (6, 10)]
    assert ws[1].start == pd.Timestamp("2020-01-04", tz="UTC")
    assert ws[1].end == pd.Timestamp("2020-01-07", tz="UTC")
    assert [(w.lo, w.hi) for w in rolling_windows(TIMES, 4)] == [(0, 4), (4, 8)]


def test_no_window_is_the_whole_data():
    (w,) = rolling_windows(TIMES)
    assert (w.lo, w.hi) == (0, 10)


def test_calendar_windows_match_pandas_date_arithmetic():
    ws = rolling_windows(GOOG.times, "2y", "6m")
    idx = pd.DatetimeIndex(GOOG.times).tz_localize("UTC")
    first, last = idx[0], idx[-1]
    starts = []
    k = 0
    while first + pd.DateOffset(months=6 * k) + pd.DateOffset(years=2) <= last:
        starts.append(first + pd.DateOffset(months=6 * k))
        k += 1
    assert len(ws) == len(starts) == 14
    for w, s in zip(ws, starts, strict=True):
        inside = np.flatnonzero((idx >= s) & (idx < s + pd.DateOffset(years=2)))
        assert (w.lo, w.hi) == (inside[0], inside[-1] + 1)
        assert (w.start, w.end) == (idx[inside[0]], idx[inside[-1]])


@pytest.mark.parametrize("window, step, message", [
    ("2x", None, "bad --window '2x'"),
    ("0", None, "bad --window '0'"),
    ("2y", "10", "must both be bars or both durations"),
    (None, "6m", "--step needs --window"),
    ("20y", None, "no whole --window 20y fits in the data"),
])
def test_bad_windows_are_clear_errors(window, step, message):
    with pytest.raises(WindowError, match=message.replace("(", r"\(")):
        rolling_windows(GOOG.times, window, step)


def test_tasks_are_grids_times_markets_times_windows_times_seeds():
    markets = {"GOOG": GOOG.slice(0, 300), "AAPL": load_bundled(["AAPL"]).slice(0, 300)}
    plan = plan_tasks(["sma_cross:fast=5|10,slow=20", "random:trade_prob=0.2"], markets,
                      CompetitionConfig(), window=100, seeds=(0, 1))
    assert len(plan.tasks) == 3 * 2 * 3 * 2
    assert plan.combinations == 3 and plan.skipped == 0
    assert len({t.id for t in plan.tasks}) == len(plan.tasks)
    t = plan.tasks[0]
    assert (t.spec, t.market, t.lo, t.hi, t.seed) == ("sma_cross:fast=5,slow=20", "GOOG", 0,
                                                      100, 0)


def test_a_task_id_changes_exactly_when_its_result_could():
    markets = {"GOOG": GOOG.slice(0, 300)}
    cfg = CompetitionConfig()
    ids = [t.id for t in plan_tasks(["rsi"], markets, cfg, window=100).tasks]

    assert ids == [t.id for t in plan_tasks(["rsi"], markets, cfg, window=100).tasks]
    # how it runs does not count: speed, where it would record, the run id
    same = replace(cfg, speed=5.0, run_dir="elsewhere", run_id="x", record=False)
    assert ids == [t.id for t in plan_tasks(["rsi"], markets, same, window=100).tasks]
    fees = replace(cfg, portfolio=replace(cfg.portfolio, fee_bps=5.0))
    assert not set(ids) & {t.id for t in plan_tasks(["rsi"], markets, fees, window=100).tasks}
    other = {"GOOG": GOOG.slice(1, 301)}  # other bars under the same name
    assert not set(ids) & {t.id for t in plan_tasks(["rsi"], other, cfg, window=100).tasks}
    assert data_key(GOOG.slice(0, 300)) == data_key(markets["GOOG"])


def test_the_same_spec_from_two_grids_is_one_task():
    plan = plan_tasks(["sma_cross:fast=5|10,slow=20", "sma_cross:fast=10,slow=20"],
                      {"GOOG": GOOG.slice(0, 100)}, CompetitionConfig())
    assert [t.spec for t in plan.tasks] == ["sma_cross:fast=5,slow=20",
                                            "sma_cross:fast=10,slow=20"]

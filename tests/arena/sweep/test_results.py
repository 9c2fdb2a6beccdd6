"""The results folder without Dask: parts, the table, resume, a task that fails."""

import pandas as pd
import pytest

from arena.data import load_bundled
from arena.engine import CompetitionConfig
from arena.sweep import load_results, plan_tasks, run_tasks
from arena.sweep.results import PARTS, RESULTS, ResultsWriter, to_frame
from arena.sweep.tasks import Task

CONFIG = CompetitionConfig()
MARKETS = {"GOOG": load_bundled(["GOOG"]).slice(0, 400)}
TASKS = plan_tasks(["sma_cross:fast=5|10,slow=20|30", "random:trade_prob=0.2"], MARKETS,
                   CONFIG, window=100, seeds=(0, 1)).tasks


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no sweep results folder"):
        load_results(tmp_path / "nothing")


def test_rows_reach_disk_in_parts_and_the_table_at_the_end(tmp_path):
    writer = ResultsWriter(tmp_path)
    writer.add({"task_id": "a", "sharpe": 1.0})
    writer.add({"task_id": "b", "sharpe": 2.0})
    writer.flush()
    writer.add({"task_id": "a", "sharpe": 9.0})  # a task again: the first row counts
    writer.flush()
    (tmp_path / PARTS / ".part-x.parquet.tmp").write_bytes(b"half a file")  # killed mid-write

    assert len(list((tmp_path / PARTS).glob("part-*.parquet"))) == 2
    assert load_results(tmp_path).to_dict("list") == {"task_id": ["a", "b"],
                                                      "sharpe": [1.0, 2.0]}
    frame = writer.finish(["b", "a"])
    assert list(frame["task_id"]) == ["b", "a"]
    assert not list((tmp_path / PARTS).glob("part-*.parquet"))
    assert list(pd.read_parquet(tmp_path / RESULTS)["task_id"]) == ["b", "a"]


def test_a_column_of_mixed_kinds_becomes_text_and_mixed_numbers_floats():
    df = to_frame([{"p": 1, "q": 1}, {"p": "x", "q": 2.5}, {"p": None, "q": None}])
    assert list(df["p"])[:2] == ["1", "x"] and pd.isna(df["p"].iloc[2])
    assert list(df["q"])[:2] == [1.0, 2.5]


def test_a_resumed_sweep_here_runs_only_the_rest_and_matches_a_fresh_one(tmp_path):
    first = run_tasks(TASKS[:7], MARKETS, CONFIG, out=tmp_path / "a")
    again = run_tasks(TASKS, MARKETS, CONFIG, out=tmp_path / "a")
    fresh = run_tasks(TASKS, MARKETS, CONFIG, out=tmp_path / "b")
    in_memory = run_tasks(TASKS, MARKETS, CONFIG)

    assert first.attrs == {"ran": 7, "resumed": 0}
    assert again.attrs == {"ran": len(TASKS) - 7, "resumed": 7}
    pd.testing.assert_frame_equal(again, fresh)
    pd.testing.assert_frame_equal(in_memory, fresh)
    assert list(fresh["task_id"]) == [t.id for t in TASKS]


def test_the_table_has_what_a_task_is_and_every_leaderboard_statistic():
    frame = run_tasks(TASKS[:1], MARKETS, CONFIG)
    row = frame.iloc[0]
    t = TASKS[0]
    assert (row["agent"], row["spec"], row["market"], row["seed"], row["bars"]) == (
        "sma_cross", "sma_cross:fast=5,slow=20", "GOOG", 0, 100)
    assert (row["param_fast"], row["param_slow"]) == (5, 20)
    assert row["window_start"] == t.start and row["window_end"] == t.end
    for col in ("equity", "pnl", "return_pct", "sharpe", "max_drawdown_pct", "win_rate_pct",
                "trades", "fees", "exposure_pct", "errors", "sortino", "calmar",
                "buy_hold_return_pct"):
        assert col in frame
    assert row["pnl"] == pytest.approx(row["equity"] - CONFIG.portfolio.cash)


def test_a_task_that_cannot_run_is_a_row_that_says_why_and_the_others_go_on():
    good = TASKS[0]
    bad = Task(good.agent, good.spec, good.params, "GOOG", 5000, 5100, good.start, good.end,
               0, "x", "y")
    frame = run_tasks([bad, good], MARKETS, CONFIG)
    assert "need at least 2 bars" in frame["failure"].iloc[0]
    assert pd.isna(frame["sharpe"].iloc[0])
    assert pd.isna(frame["failure"].iloc[1]) and frame["sharpe"].notna().iloc[1]

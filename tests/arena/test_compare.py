"""Comparing recordings: equity overlaid across runs, leaderboards side by side."""

from __future__ import annotations

import pandas as pd
import pytest

from arena.compare import compare
from arena.data import synthetic
from arena.engine import Competition, CompetitionConfig
from arena.portfolio import PortfolioConfig
from arena.recorder import Recording, RecordingError

AGENTS = ["buy_and_hold", "sma_cross:fast=5,slow=20", "momentum"]
RUNS = {  # seed → (bars, starting cash)
    1: (150, 100_000.0),
    2: (200, 50_000.0),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    paths = []
    for seed, (bars, cash) in RUNS.items():
        comp = Competition(synthetic("SYN", bars=bars, seed=seed), AGENTS,
                           CompetitionConfig(portfolio=PortfolioConfig(cash=cash), seed=seed,
                                             run_dir=str(root)))
        comp.run()
        paths.append(comp.run_path)
    return paths


def test_equity_overlays_the_chosen_agents_of_every_run(runs):
    cmp = compare(runs, agents=["momentum", "buy_and_hold"])
    eq = cmp.equity()
    assert list(eq.columns) == [cmp.label(r.name, a) for r in runs
                                for a in ("momentum", "buy_and_hold")]
    for path in runs:
        rec = Recording(path).equity()
        mine = rec[rec["agent"] == "momentum"].set_index("time")["equity"]
        col = eq[cmp.label(path.name, "momentum")].dropna()
        pd.testing.assert_series_equal(col, mine, check_names=False, check_freq=False)


def test_relative_equity_is_percent_of_each_runs_starting_cash(runs):
    cmp = compare(runs, agents=["buy_and_hold"])
    absolute, relative = cmp.equity(), cmp.equity(relative=True)
    for path, (_, cash) in zip(runs, RUNS.values(), strict=True):
        col = cmp.label(path.name, "buy_and_hold")
        expected = (absolute[col] / cash - 1) * 100
        pd.testing.assert_series_equal(relative[col], expected)
        assert relative[col].dropna().iloc[0] == 0.0  # bar 0: nothing traded yet


def test_leaderboards_side_by_side_are_each_runs_final_leaderboard(runs):
    board = compare(runs).leaderboard()
    assert list(board["run_id"].unique()) == [p.name for p in runs]
    for path in runs:
        final = pd.DataFrame(Recording(path).meta["leaderboard"]).set_index("agent")
        mine = board[board["run_id"] == path.name].set_index("agent")
        assert mine["equity"].to_dict() == pytest.approx(final["equity"].to_dict(), rel=1e-12)
        assert mine["rank"].to_dict() == final["rank"].to_dict()


def test_bad_requests_name_what_is_wrong(runs, tmp_path):
    with pytest.raises(ValueError, match="nobody"):
        compare(runs, agents=["nobody"])
    with pytest.raises(ValueError, match="twice"):
        compare([runs[0], runs[0]])
    with pytest.raises(RecordingError, match="nope"):
        compare([runs[0], "nope"], run_dir=tmp_path)

"""Rule agents of one window run in one compiled grid pass: each row equals the agent's
own single-agent run (equity, fills, counts, drawdowns, returns bit for bit; sums and
moments of returns, added in another order, to 1e-9 relative); agents that use the
seed run alone."""

import math

import pytest

from arena.data import load_bundled
from arena.engine import CompetitionConfig
from arena.portfolio import PortfolioConfig
from arena.sweep.batch import run_chunk, run_group, seed_free
from arena.sweep.compete import run_task
from arena.sweep.tasks import plan_tasks

CONFIG = CompetitionConfig(portfolio=PortfolioConfig(fee_bps=2, slippage_bps=3))
GRIDS = ["sma_cross:fast=2..20/6,slow=22..40/6,short=true|false", "sma_cross:fast=5",
         "sma_cross:fast=5,slow=20",  # the same label as the one before: "sma_cross(fast=5)"
         "momentum:lookback=10|50", "rsi:period=7", "macd", "mean_reversion", "buy_and_hold",
         "random:trade_prob=0.3", "ml:retrain_every=60"]


#: sums and moments over bars or fills, which the grid pass adds in another order
MOMENTS = {"volatility_ann_pct", "sharpe", "sortino", "skew", "kurtosis", "omega",
           "ulcer_index", "kelly", "calmar", "return_ann_pct", "profit_factor", "avg_trade",
           "fees"}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k]))
        or (k in MOMENTS and a[k] == pytest.approx(b[k], rel=1e-9, abs=0))
        for k in a)


@pytest.mark.parametrize("symbols", [["GOOG"], ["AAPL", "MSFT"]])
def test_grouped_rows_equal_single_runs(symbols):
    data = load_bundled(symbols).slice(0, 900)
    tasks = plan_tasks(GRIDS, {"m": data}, CONFIG, window=300, step=300, seeds=(0, 3)).tasks
    assert len(tasks) == (4 * 4 * 2 + 1 + 1 + 2 + 4 + 1 + 1) * 3 * 2

    rows = run_chunk(tasks, data, CONFIG)

    assert [r["task_id"] for r in rows] == [t.id for t in tasks]
    for t, row in zip(tasks, rows, strict=True):
        assert same(row, run_task(t, data, CONFIG)), t.spec


def test_one_competition_of_a_window_s_rule_agents_gives_their_single_rows():
    data = load_bundled(["AAPL", "MSFT"]).slice(200, 700)
    tasks = plan_tasks(GRIDS[:8], {"m": data}, CONFIG, seeds=(5,)).tasks
    assert len(tasks) == 40 and all(seed_free(t.spec) for t in tasks)

    rows = run_group(tasks, data, CONFIG)

    for t, row in zip(tasks, rows, strict=True):
        assert same(row, run_task(t, data, CONFIG)), t.spec
    assert rows[32]["label"] == rows[33]["label"] == "sma_cross(fast=5)"


def test_only_agents_that_ignore_the_seed_are_grouped():
    assert seed_free("sma_cross:fast=5") and seed_free("buy_and_hold") and seed_free("rsi")
    assert not seed_free("random") and not seed_free("ml") and not seed_free("llm")
    assert not seed_free("nosuch")


def test_rule_agents_run_in_the_grid_pass_not_a_competition(monkeypatch):
    import arena.sweep.batch as batch

    def no_competition(*_a, **_k):
        raise AssertionError("the grid pass should have run these")

    data = load_bundled(["GOOG"]).slice(0, 400)
    tasks = plan_tasks(GRIDS[:1] + ["rsi:period=7|14"], {"m": data}, CONFIG).tasks
    monkeypatch.setattr(batch, "Competition", no_competition)
    rows = run_group(tasks, data, CONFIG)
    monkeypatch.undo()
    assert len(rows) == 34
    for t, row in zip(tasks, rows, strict=True):
        assert same(row, run_task(t, data, CONFIG)), t.spec

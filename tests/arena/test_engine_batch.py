"""Grids in one compiled pass (arena.engine.batch): each combination's fills, equity and
statistics equal a one-agent Competition of the same agent, data and config."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from arena import Competition, CompetitionConfig, PortfolioConfig
from arena.agents import Agent, AgentSpecError, Decision, indicators
from arena.data import load_bundled
from arena.engine import batch
from arena.engine.batch import run_grid, run_param_grid
from arena.metrics import STAT_KEYS

#: statistics that are sums or moments of many returns: equal up to summation order
MOMENT_KEYS = {"volatility_ann_pct", "sharpe", "sortino", "skew", "kurtosis", "omega",
               "ulcer_index", "kelly", "calmar", "return_ann_pct", "profit_factor",
               "avg_trade", "fees"}
CONFIGS = {
    "whole, no costs": PortfolioConfig(),
    "fractional, fees and slippage": PortfolioConfig(fee_bps=10, slippage_bps=5,
                                                     whole_units=False),
    "whole, fees, leverage 2": PortfolioConfig(fee_bps=3, slippage_bps=2, max_leverage=2.0),
}


@pytest.fixture(scope="module")
def goog():
    return load_bundled(["GOOG"])


@pytest.fixture(scope="module")
def three():
    return load_bundled(["GOOG", "AAPL", "IBM"]).slice(0, 900)


def _single(data, spec, portfolio):
    comp = Competition(data, [spec], CompetitionConfig(portfolio=portfolio, record=False))
    comp.run()
    return comp


def _assert_same_stats(ours: pd.Series, theirs: pd.Series) -> None:
    for key in STAT_KEYS:
        a, b = ours[key], theirs[key]
        if isinstance(b, float) and math.isnan(b):
            assert isinstance(a, float) and math.isnan(a), key
        elif key in MOMENT_KEYS:
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12), key
        else:
            assert a == b, key


def _assert_same_run(grid, i: int, comp: Competition) -> None:
    """Row ``i`` of ``grid`` against the one-agent competition ``comp``."""
    row = grid.stats.iloc[i]
    assert row["agent"] == comp.agent_names[0]
    assert np.array_equal(grid.equity[i], comp.equity_frame().iloc[:, 0].to_numpy())
    ours = grid.trades[grid.trades["agent"] == row["agent"]].reset_index(drop=True)
    theirs = comp.trades_frame().reset_index(drop=True)
    assert len(theirs) > 0
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
    _assert_same_stats(row, comp.stats().iloc[:, 0])
    board = comp.leaderboard().iloc[0]
    assert row["equity_final"] == board["equity"] and row["trades"] == board["trades"]
    for key in ("return_pct", "max_drawdown_pct", "win_rate_pct", "exposure_pct"):
        assert row[key] == pytest.approx(board[key], rel=1e-12, nan_ok=True), key
    assert row["sharpe"] == pytest.approx(board["sharpe"], rel=1e-9)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_sma_grid_equals_single_runs(goog, name):
    portfolio = CONFIGS[name]
    combos = [{"fast": f, "slow": s} for f in (3, 5, 10, 25) for s in (8, 20, 60, 150) if f < s]
    grid = run_param_grid(goog, "sma_cross", combos, CompetitionConfig(portfolio=portfolio),
                          keep_paths=True)
    assert len(grid.stats) == len(combos) == len(grid.params)
    assert grid.params[["fast", "slow"]].to_dict("records") == combos
    for i in (0, 5, len(combos) - 1):
        c = combos[i]
        _assert_same_run(grid, i, _single(goog, f"sma_cross:fast={c['fast']},slow={c['slow']}",
                                          portfolio))


def test_other_rule_agents_and_several_symbols(three):
    portfolio = CONFIGS["fractional, fees and slippage"]
    specs = ["macd:fast=8,slow=30,signal=5", "momentum:lookback=15,threshold=0.01,short=true",
             "mean_reversion:lookback=25,entry_z=1.5", "rsi:period=10,lower=25,upper=75",
             "buy_and_hold", "sma_cross:fast=7,slow=40,short=true,weight=0.6"]
    grid = run_grid(three, specs, CompetitionConfig(portfolio=portfolio), keep_paths=True)
    for i, spec in enumerate(specs):
        _assert_same_run(grid, i, _single(three, spec, portfolio))
    # the same agents through the parameter-set path (no agent per set)
    by_params = run_param_grid(three, "rsi", [{"period": 10, "lower": 25.0, "upper": 75.0}],
                               CompetitionConfig(portfolio=portfolio))
    pd.testing.assert_series_equal(by_params.stats.iloc[0].drop(["spec", "rank"]),
                                   grid.stats.iloc[3].drop(["spec", "rank"]), check_names=False)


def test_many_agent_competition_equals_grid(goog):
    """A 60-agent competition (the engine's own path, shared indicators) gives each
    agent the grid's equity and statistics; ranks are the leaderboard's."""
    combos = [{"fast": f, "slow": s} for f in range(2, 40, 4) for s in (10, 30, 50, 90, 200, 400)
              if f < s]
    portfolio = PortfolioConfig(fee_bps=5, slippage_bps=5)
    cfg = CompetitionConfig(portfolio=portfolio, record=False)
    grid = run_param_grid(goog, "sma_cross", combos, cfg, keep_paths=True)
    comp = Competition(goog, list(grid.stats["spec"]), cfg)
    board = comp.run().set_index("agent")
    assert comp.agent_names == list(grid.stats["agent"])
    assert np.array_equal(comp.equity_frame().to_numpy().T, grid.equity)
    assert board.loc[grid.stats["agent"], "rank"].tolist() == grid.stats["rank"].tolist()
    full = comp.stats()
    for i in (0, 17, len(combos) - 1):
        _assert_same_stats(grid.stats.iloc[i], full.iloc[:, i])


def test_chunks_give_the_same_results(goog, monkeypatch):
    combos = [{"fast": f, "slow": 50} for f in range(2, 30)]
    cfg = CompetitionConfig(portfolio=CONFIGS["whole, fees, leverage 2"])
    whole = run_param_grid(goog, "sma_cross", combos, cfg, keep_paths=True)
    monkeypatch.setattr(batch, "CHUNK_CELLS", 5 * len(goog))  # 5 agents a chunk
    chunked = run_param_grid(goog, "sma_cross", combos, cfg, keep_paths=True)
    pd.testing.assert_frame_equal(whole.stats, chunked.stats)
    assert np.array_equal(whole.equity, chunked.equity)
    pd.testing.assert_frame_equal(whole.trades, chunked.trades)


def test_indicators_are_shared_within_a_block(goog, monkeypatch):
    """Inside shared(), each (array, window) is computed once (counted at the rolling
    window function the SMA calls) and every caller gets an equal copy it may write into."""
    close = goog.close
    calls = []
    rolling = indicators._rolling
    monkeypatch.setattr(indicators, "_rolling", lambda *a: calls.append(1) or rolling(*a))
    outside = indicators.sma(close, 20)
    with indicators.shared():
        first = indicators.sma(close, 20)
        again = indicators.sma(close, 20)
        assert len(calls) == 2  # once outside, once inside
        assert np.array_equal(first, again, equal_nan=True) and first is not again
        first[:] = 0.0  # a caller's copy: the shared one is untouched
        assert np.array_equal(indicators.sma(close, 20), outside, equal_nan=True)
        indicators.sma(close, 21)
        indicators.sma(close.copy(), 20)  # by identity, not by value: computed again
        assert len(calls) == 4
    indicators.sma(close, 20)
    assert len(calls) == 5  # the table is gone with the block


def test_hand_worked_two_bar_cross():
    """Prices 10, 10, 12, 9 ... a 1/2-bar crossover: long at bar 2's cross, filled at
    bar 3's open; checked by hand, not by another engine run."""
    from arena.data.market import MarketData

    times = pd.date_range("2024-01-01", periods=6, freq="D").to_numpy()
    close = np.array([[10.0], [9.0], [12.0], [13.0], [11.0], [10.0]])
    open_ = np.array([[10.0], [9.5], [11.0], [12.5], [12.0], [10.5]])
    data = MarketData(times, ("X",), open_, np.maximum(open_, close) + 1,
                      np.minimum(open_, close) - 1, close, np.ones_like(close), source="test")
    grid = run_param_grid(data, "sma_cross", [{"fast": 1, "slow": 2}],
                          CompetitionConfig(portfolio=PortfolioConfig(cash=1000.0)),
                          keep_paths=True)
    # sma2: nan, 9.5, 10.5, 12.5, 12, 10.5; close crosses above at bar 2 (9 < 9.5, 12 > 10.5)
    # and below at bar 4 (13 > 12.5, 11 < 12): buy floor(1000 / 12.5) = 80 at bar 3's open
    # 12.5, sell 80 at bar 5's open 10.5: pnl 80 × (10.5 − 12.5) = −160
    t = grid.trades
    assert t["bar"].tolist() == [3, 5] and t["quantity"].tolist() == [80, 80]
    assert t["pnl"].iloc[1] == -160.0
    assert grid.equity[0].tolist() == [1000, 1000, 1000, 1000 + 80 * 0.5, 1000 - 80 * 1.5, 840]
    row = grid.stats.iloc[0]
    assert row["trades"] == 1 and row["win_rate_pct"] == 0 and row["equity_final"] == 840
    assert row["max_drawdown_pct"] == pytest.approx((840 / 1040 - 1) * 100)
    assert row["exposure_pct"] == pytest.approx(2 / 6 * 100)


class NoSignals(Agent):
    description = "decides bar by bar"

    def decide(self, obs):
        return Decision.hold()


def test_bad_input_is_named(goog):
    with pytest.raises(AgentSpecError, match=r"fast \(30\) must be shorter than slow \(20\)"):
        run_param_grid(goog, "sma_cross", [{"fast": 5, "slow": 20}, {"fast": 30, "slow": 20}])
    with pytest.raises(AgentSpecError, match="unknown parameter 'speed'"):
        run_param_grid(goog, "sma_cross", [{"speed": 3}])
    with pytest.raises(AgentSpecError, match="fast"):
        run_param_grid(goog, "sma_cross", [{"fast": 2.5, "slow": 20}])
    with pytest.raises(AgentSpecError, match="unknown agent 'sma'"):
        run_param_grid(goog, "sma", [{}])
    with pytest.raises(ValueError, match=r"agent NoSignals has no signals\(\)"):
        run_grid(goog, ["buy_and_hold", NoSignals()])
    with pytest.raises(ValueError, match="above the leverage cap"):
        run_grid(goog, ["buy_and_hold"],
                 CompetitionConfig(portfolio=PortfolioConfig(max_leverage=0.5)))
    with pytest.raises(ValueError, match="at least one agent"):
        run_grid(goog, [])


def test_shared_only_keeps_the_arrays_named(goog, monkeypatch):
    close = goog.close
    calls = []
    rolling = indicators._rolling
    monkeypatch.setattr(indicators, "_rolling", lambda *a: calls.append(1) or rolling(*a))
    with indicators.shared(close):
        indicators.sma(close, 10)
        indicators.sma(close, 10)
        assert len(calls) == 1
        prefix = close[:500]  # what a per-bar agent passes: not kept
        indicators.sma(prefix, 10)
        indicators.sma(prefix, 10)
        assert len(calls) == 3


def test_block_statistics_equal_bar_by_bar():
    """RunningStats.update_many (compiled returns and drawdowns, months with numpy) gives
    update()'s drawdowns, months and counts exactly and its moments to rounding, on a
    curve with long drawdowns, new peaks and a block that spans several months."""
    from arena.metrics import RunningStats

    rng = np.random.default_rng(3)
    times = pd.date_range("2021-01-04", periods=700, freq="D")
    equity = 1000 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, 700)))
    invested = rng.random(700) > 0.3
    per_bar = RunningStats(equity[0], times[0], 365)
    for i in range(1, 700):
        per_bar.update(times[i], equity[i], invested[i])
    blocks = RunningStats(equity[0], times[0], 365)
    for lo, hi in ((1, 2), (2, 130), (130, 131), (131, 700)):
        blocks.update_many(times[lo:hi].to_numpy(), equity[lo:hi], invested[lo:hi])
    a, b = per_bar.snapshot(), blocks.snapshot()
    for key in STAT_KEYS:
        if isinstance(a[key], float) and math.isnan(a[key]):
            assert math.isnan(b[key]), key
        elif key in MOMENT_KEYS:
            assert b[key] == pytest.approx(a[key], rel=1e-9), key
        else:
            assert b[key] == a[key], key
    assert a["max_drawdown_bars"] > 50 and a["positive_months_pct"] > 0


def test_a_rule_agent_with_its_own_reset_is_built_per_set(goog):
    """A subclass that overrides reset() may keep state there: it is built per set (not
    run from a parameter snapshot) and still equals its one-agent competition."""
    from arena.agents.rules import SmaCross

    class LateCross(SmaCross):
        def reset(self, data, seed):
            super().reset(data, seed)
            self.skip = self.fast  # state a snapshot would not have

        def signals(self, data):
            out = super().signals(data)
            out[: self.skip * 10] = np.nan  # no trade in the first 10 × fast bars
            return out

    grid = run_param_grid(goog, LateCross, [{"fast": 4, "slow": 30}, {"fast": 9, "slow": 30}],
                          keep_paths=True)
    for i, fast in enumerate((4, 9)):
        assert grid.trades[grid.trades["agent"] == grid.stats["agent"][i]]["bar"].min() \
            > fast * 10
        _assert_same_run(grid, i, _single(goog, LateCross(fast=fast, slow=30), PortfolioConfig()))


def test_update_agents_equals_update_many_per_agent():
    """The competition's block update of all agents at once leaves each agent's running
    statistics exactly as its own update_many does (same state, bit for bit)."""
    from arena.metrics import RunningStats

    rng = np.random.default_rng(5)
    times = pd.date_range("2022-01-03", periods=400, freq="D").to_numpy()
    equity = 1000 * np.exp(np.cumsum(rng.normal(0, 0.02, (3, 400)), axis=1))
    equity[2, 150:] = np.linspace(-5, 10, 250)  # an account that goes bust: returns stop
    invested = rng.random((3, 400)) > 0.5
    fees = rng.random((3, 400)) * (rng.random((3, 400)) > 0.8)
    pnls = [[5.0, -2.0], [], [1.5]]
    one = [RunningStats(1000.0, times[0] - np.timedelta64(1, "D"), 252) for _ in range(3)]
    many = [RunningStats(1000.0, times[0] - np.timedelta64(1, "D"), 252) for _ in range(3)]
    for lo, hi in ((0, 130), (130, 400)):
        for i in range(3):
            one[i].update_many(times[lo:hi], equity[i, lo:hi], invested[i, lo:hi],
                               fees[i, lo:hi], {0: pnls[i]} if pnls[i] else None)
        RunningStats.update_agents(many, times[lo:hi], equity[:, lo:hi], invested[:, lo:hi],
                                   fees[:, lo:hi], pnls)
    for a, b in zip(one, many, strict=True):
        sa, sb = a.state(), b.state()
        assert sa.keys() == sb.keys()
        for key in sa:
            assert sa[key] == sb[key] or (sa[key] != sa[key] and sb[key] != sb[key]), key
    assert not many[2]._returns_ok and many[0].snapshot()["trades"] == 4
    with pytest.raises(ValueError, match="must be"):
        RunningStats.update_agents(many, times[:5], equity[:2, :5], invested[:2, :5],
                                   fees[:2, :5], pnls[:2])

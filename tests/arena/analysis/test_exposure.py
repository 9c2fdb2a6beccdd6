"""Positions and exposure rebuilt from fills, by hand and against the engine's own
books; the table of every statistic against the exported leaderboard; streak runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arena.analysis import risk
from arena.analysis.exposure import Closes, exposure, positions
from arena.analysis.runs import run_frames
from arena.analysis.summary import stats_table
from arena.analysis.trades import excursions, round_trips, streak_runs, streaks
from arena.export import leaderboard
from arena.metrics import STAT_KEYS
from arena.recorder import Recording
from arena.replay import Replay
from tests.arena.analysis_fixture import recorded_run

T0 = pd.Timestamp("2024-01-01", tz="UTC")
TIMES = [T0 + pd.Timedelta(days=b) for b in range(4)]
# X closes 10, 11, 12, 13; Y 20, 19, 18, 17
BARS = pd.DataFrame({"bar": np.repeat(range(4), 2), "time": np.repeat(TIMES, 2),
                     "symbol": ["X", "Y"] * 4, "close": [10, 20, 11, 19, 12, 18, 13, 17],
                     "high": np.nan, "low": np.nan})
# bar 1: long 10 X; bar 2: 4 X then 6 X (the last fill of the bar counts), short 5 Y;
# bar 3: X closed. Held at the closes: (0, 0), (10, 0), (6, -5), (0, -5).
FILLS = pd.DataFrame({"agent": "a", "bar": [1, 2, 2, 2, 3], "symbol": ["X", "X", "Y", "X", "X"],
                      "position": [10.0, 4.0, -5.0, 6.0, 0.0]})
EQUITY = pd.Series([1000.0, 1000.0, 990.0, 1005.0], index=pd.DatetimeIndex(TIMES))


def test_positions_by_hand():
    held = positions(FILLS, BARS)
    assert list(held.columns) == ["X", "Y"] and list(held.index) == [0, 1, 2, 3]
    np.testing.assert_array_equal(held.to_numpy(), [[0, 0], [10, 0], [6, -5], [0, -5]])
    assert positions(FILLS.iloc[:0], BARS).to_numpy().sum() == 0


def test_exposure_by_hand():
    out = exposure(FILLS, BARS, EQUITY)
    # values at the close: bar 1 X 10 × 11 = 110; bar 2 X 6 × 12 = 72, Y −5 × 18 = −90;
    # bar 3 Y −5 × 17 = −85
    want = pd.DataFrame({"long": [0, 110 / 1000, 72 / 990, 0],
                         "short": [0, 0, -90 / 990, -85 / 1005]}, index=EQUITY.index)
    want["gross"] = [0, 0.11, 162 / 990, 85 / 1005]
    want["net"] = [0, 0.11, -18 / 990, -85 / 1005]
    pd.testing.assert_frame_equal(out, want, rtol=1e-12, atol=1e-15)
    pd.testing.assert_frame_equal(exposure(FILLS, Closes(BARS), EQUITY), out)


@pytest.mark.parametrize(("fills", "bars", "equity", "message"), [
    (pd.concat([FILLS, FILLS.assign(agent="b")]), BARS, EQUITY, "2 agents' trades"),
    (FILLS.assign(symbol="Z"), BARS, EQUITY, "symbol 'Z'"),
    (FILLS.assign(bar=[1, 2, 2, 2, 9]), BARS, EQUITY, "bar 9"),
    (FILLS.drop(columns="position"), BARS, EQUITY, r"missing column\(s\) \['position'\]"),
    (FILLS, BARS, EQUITY.iloc[1:], "equity has 3 values but the bars 4"),
], ids=["two_agents", "unknown_symbol", "unknown_bar", "no_position", "short_equity"])
def test_exposure_bad_input_names_the_problem(fills, bars, equity, message):
    with pytest.raises(ValueError, match=message):
        exposure(fills, bars, equity)


def test_streak_runs_by_hand():
    pnl = [1, 2, -1, 0, 0, -3, -2, -1, 5, 0, 4]
    runs = streak_runs(pnl)
    assert runs.to_dict("list") == {"kind": ["win", "loss", "loss", "win", "win"],
                                    "length": [2, 1, 3, 1, 1], "first": [0, 2, 5, 8, 10]}
    longest = runs.groupby("kind")["length"].max()
    assert (longest["win"], longest["loss"]) == tuple(streaks(pnl))
    assert streak_runs([]).empty and streak_runs([0.0, 0.0]).empty
    with pytest.raises(ValueError, match="NaN"):
        streak_runs([1.0, np.nan])


def test_excursions_of_many_trades_equal_a_loop_over_their_bars():
    rng = np.random.default_rng(3)
    n = 400
    times = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    low = 100 + rng.normal(size=n).cumsum()
    bars = pd.DataFrame({"time": times, "symbol": "X", "low": low,
                         "high": low + rng.uniform(0, 2, n)})
    first = np.sort(rng.choice(n - 30, 60, replace=False))
    trips = pd.DataFrame({"symbol": "X", "direction": rng.choice(["long", "short"], 60),
                          "entry_time": times[first],
                          "exit_time": times[first + rng.integers(0, 30, 60)],
                          "entry_price": 100.0})
    out = excursions(trips, bars)
    for _, t in out.iterrows():
        held = bars[(bars["time"] >= t["entry_time"]) & (bars["time"] <= t["exit_time"])]
        lo, hi = held["low"].min(), held["high"].max()
        assert (t["mae_price"], t["mfe_price"]) == ((lo, hi) if t["direction"] == "long"
                                                    else (hi, lo))


# -- a real run ------------------------------------------------------------------------

AGENTS = ["buy_and_hold", "sma_cross:fast=5,slow=20,short=True", "random:trade_prob=0.2"]


@pytest.fixture(scope="module")
def comp(tmp_path_factory):
    return recorded_run(tmp_path_factory.mktemp("runs"), AGENTS)


def test_exposure_agrees_with_the_engines_cash_and_invested_flags(comp):
    with Recording(comp.run_path) as rec:
        equity, fills, bars = run_frames(rec)
        grid = rec.equity_grid()
    shorted = False
    for j, name in enumerate(equity.columns):
        out = exposure(fills[fills["agent"] == name], bars, equity[name])
        e = equity[name].to_numpy()
        # equity = cash + market value of the positions, at every close
        np.testing.assert_allclose(grid.cash[:, j] + out["net"].to_numpy() * e, e, rtol=1e-12)
        assert ((out["gross"] > 0).to_numpy() == grid.invested[:, j]).all(), name
        shorted |= bool((out["short"] < 0).any())
    assert shorted  # the sma_cross agent goes short: both sides are exercised


def test_stats_table_equals_the_exported_leaderboard_and_adds_the_tail_statistics(comp):
    with Recording(comp.run_path) as rec:
        table = stats_table(rec, var_level=0.9)
        board = leaderboard(rec)  # compute_stats with the recorded invested flags
        equity, *_ = run_frames(rec)
    assert list(table["agent"]) == list(board["agent"]) and list(table["rank"]) == [1, 2, 3]
    for key in STAT_KEYS:
        pd.testing.assert_series_equal(table[key], board[key], check_dtype=False, obj=key)
    for _, row in table.iterrows():
        r = risk.returns_of(equity[row["agent"]])
        assert row["var_pct"] == pytest.approx(100 * risk.var(r, 0.9), abs=1e-12)
        assert row["cvar_pct"] == pytest.approx(100 * risk.cvar(r, 0.9), abs=1e-12)
    assert table.loc[table["agent"] == "buy_and_hold", "beta"].item() == pytest.approx(1, abs=0.01)
    with Replay(comp.run_path, at="end") as replay:
        pd.testing.assert_frame_equal(stats_table(replay, var_level=0.9), table)
    pd.testing.assert_frame_equal(stats_table(comp, var_level=0.9), table)


def test_stats_table_of_a_replay_is_as_of_its_bar(comp):
    t = 120
    with Replay(comp.run_path, at=t) as replay:
        table = stats_table(replay)
    full = comp.equity_frame()
    assert (table["bars"] == t).all()
    for _, row in table.iterrows():
        assert row["equity_final"] == full[row["agent"]].iloc[t - 1]
        assert row["end"] == full.index[t - 1]


def test_round_trips_of_the_real_run_have_excursions_inside_their_bars(comp):
    equity, fills, bars = run_frames(comp)
    name = comp.agent_names[1]
    trips = excursions(round_trips(fills[fills["agent"] == name]), bars)
    assert len(trips) > 5 and set(trips["direction"]) == {"long", "short"}
    assert (trips["mae"] <= trips["mfe"]).all()

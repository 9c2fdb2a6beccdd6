"""Round trips, excursions and streaks by hand; run_frames on a real recorded run
(Competition, Recording and Replay give the same tables; a Replay shows nothing
past its position)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from arena.analysis.runs import BAR_COLUMNS, benchmark_equity, run_frames
from arena.analysis.tables import (
    drawdown_periods,
    monthly_returns,
    return_correlations,
    yearly_returns,
)
from arena.analysis.trades import excursions, round_trips, streaks
from arena.recorder import Recording
from arena.replay import Replay
from tests.arena.analysis_fixture import recorded_run

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def at(bar: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=bar)


def fill(bar, agent, symbol, side, qty, price, fee, action, pnl, position):
    return {"bar": bar, "time": at(bar), "agent": agent, "symbol": symbol, "side": side,
            "quantity": qty, "price": price, "fee": fee, "action": action, "pnl": pnl,
            "position": position}


# Agent a, symbol X: buys 10 @ 100 and 10 @ 110 (average 105, entry fees 2.1), sells 5
# @ 120: pnl 5 × (120 − 105) − 0.6 − 2.1 × 5/20 = 73.875; sells 15 @ 90: 15 × (90 −
# 105) − 1.35 − 1.575 = −227.925, flat. The same bar reverses: short 8 @ 90, covered
# at 80 on bar 7: 8 × 10 − 0.64 − 0.72 = 78.64. Agent a, symbol Y: still open.
# Agent b, symbol X: 1 @ 105 on bar 3, out at 100 on bar 6: −5.
FILLS = pd.DataFrame([
    fill(1, "a", "X", 1, 10, 100, 1.0, "entry", np.nan, 10),
    fill(2, "a", "X", 1, 10, 110, 1.1, "entry", np.nan, 20),
    fill(3, "b", "X", 1, 1, 105, 0.0, "entry", np.nan, 1),
    fill(4, "a", "X", -1, 5, 120, 0.6, "exit", 73.875, 15),
    fill(5, "a", "X", -1, 15, 90, 1.35, "exit", -227.925, 0),
    fill(5, "a", "X", -1, 8, 90, 0.72, "entry", np.nan, -8),
    fill(6, "b", "X", -1, 1, 100, 0.0, "exit", -5.0, 0),
    fill(7, "a", "X", 1, 8, 80, 0.64, "exit", 78.64, 0),
    fill(8, "a", "Y", 1, 3, 50, 0.15, "entry", np.nan, 3),
])

# Bars of X; bar 0's low (50) and bar 8's high (200) lie outside every trade.
LOW = [50, 98, 104, 101, 115, 88, 92, 79, 85]
HIGH = [102, 103, 112, 108, 125, 96, 99, 91, 200]
BARS = pd.DataFrame({"bar": range(9), "time": [at(b) for b in range(9)], "symbol": "X",
                     "open": np.nan, "high": HIGH, "low": LOW, "close": np.nan, "volume": 0.0})


def test_round_trips_by_hand():
    trips = round_trips(FILLS)
    assert list(trips["agent"]) == ["a", "b", "a"]  # by exit bar: 5, 6, 7
    assert list(trips["direction"]) == ["long", "long", "short"]
    assert list(trips["entry_bar"]) == [1, 3, 5]
    assert list(trips["exit_bar"]) == [5, 6, 7]
    assert list(trips["holding"]) == [pd.Timedelta(days=4), pd.Timedelta(days=3),
                                      pd.Timedelta(days=2)]
    np.testing.assert_allclose(trips["entry_price"], [105, 105, 90])  # (1000 + 1100) / 20
    np.testing.assert_allclose(trips["exit_price"], [97.5, 100, 80])  # (600 + 1350) / 20
    np.testing.assert_allclose(trips["quantity"], [20, 1, 8])
    np.testing.assert_allclose(trips["fees"], [4.05, 0.0, 1.36])
    np.testing.assert_allclose(trips["pnl"], [-154.05, -5.0, 78.64])
    np.testing.assert_allclose(trips["return"], [-154.05 / 2100, -5 / 105, 78.64 / 720])


def test_round_trips_empty_and_bad_input():
    assert round_trips(FILLS.iloc[:0]).empty
    with pytest.raises(ValueError, match="missing column"):
        round_trips(FILLS.drop(columns="position"))
    bad = FILLS.copy()
    bad.loc[2, "action"] = "buy"
    with pytest.raises(ValueError, match="row 2: action must be 'entry' or 'exit'"):
        round_trips(bad)


def test_excursions_by_hand():
    out = excursions(round_trips(FILLS), BARS)
    # long a, bars 1..5: lows 98 104 101 115 88, highs 103 112 108 125 96
    # long b, bars 3..6: lows 101 115 88 92, highs 108 125 96 99
    # short a, bars 5..7: adverse is the highest high (96 99 91), favourable the lowest low
    np.testing.assert_allclose(out["mae_price"], [88, 88, 99])
    np.testing.assert_allclose(out["mfe_price"], [125, 125, 79])
    np.testing.assert_allclose(out["mae"], [88 / 105 - 1, 88 / 105 - 1, -(99 / 90 - 1)])
    np.testing.assert_allclose(out["mfe"], [125 / 105 - 1, 125 / 105 - 1, 1 - 79 / 90])


def test_excursions_equal_the_extremes_of_the_trades_bars():
    out = excursions(round_trips(FILLS), BARS)
    for _, t in out.iterrows():
        held = BARS[(BARS["bar"] >= t["entry_bar"]) & (BARS["bar"] <= t["exit_bar"])]
        lo, hi = held["low"].min(), held["high"].max()
        assert (t["mae_price"], t["mfe_price"]) == ((lo, hi) if t["direction"] == "long"
                                                    else (hi, lo))


def test_excursions_bad_input():
    with pytest.raises(ValueError, match="no rows for symbol 'X'"):
        excursions(round_trips(FILLS), BARS.assign(symbol="Z"))
    with pytest.raises(ValueError, match="pass round_trips"):
        excursions(FILLS, BARS)


def test_streaks_by_hand():
    # wins: 1, 2 | losses: -1, -2, -3 | 0 breaks | wins 4, 5 | loss -1
    assert streaks([1, 2, -1, -2, -3, 0, 4, 5, -1]).to_dict() == {"wins": 2, "losses": 3}
    assert streaks([3, 1, 0, 2, 2, 2]).to_dict() == {"wins": 3, "losses": 0}
    assert streaks([]).to_dict() == {"wins": 0, "losses": 0}
    with pytest.raises(ValueError, match="NaN"):
        streaks([1.0, np.nan])


# -- a real run, three ways -------------------------------------------------------------

AGENTS = ["buy_and_hold", "sma_cross:fast=5,slow=20", "random:trade_prob=0.2"]


@pytest.fixture(scope="module")
def comp(tmp_path_factory):
    return recorded_run(tmp_path_factory.mktemp("runs"), AGENTS)


def tables(frames):
    equity, trades, bars = frames
    out = {"corr": return_correlations(equity),
           "bench": yearly_returns(equity.iloc[:, 0], benchmark_equity(bars, 1.0))}
    for name in equity.columns:
        out[f"monthly {name}"] = monthly_returns(equity[name])
        out[f"dd {name}"] = drawdown_periods(equity[name], top=None)
        trips = round_trips(trades[trades["agent"] == name])
        out[f"trips {name}"] = excursions(trips, bars)
    return out


def test_run_frames_give_the_same_tables_for_all_three_kinds(comp):
    frames = run_frames(comp)
    equity, trades, bars = frames
    assert list(equity.columns) == comp.agent_names and len(equity) == comp.bar
    assert list(bars.columns) == list(BAR_COLUMNS) and bars["bar"].max() == comp.bar - 1
    expected = tables(frames)
    assert len(expected[f"trips {comp.agent_names[1]}"]) > 5  # sma_cross trades
    with Recording(comp.run_path) as rec:
        rec_frames = run_frames(rec)
    with Replay(comp.run_path, at="end") as replay:
        replay_frames = run_frames(replay)
    for got in (rec_frames, replay_frames):
        pd.testing.assert_frame_equal(got[0], equity, check_freq=False)
        for key, table in tables(got).items():
            pd.testing.assert_frame_equal(table, expected[key], obj=key)


def test_real_run_tables_agree_with_compute_stats(comp):
    equity, trades, bars = run_frames(comp)
    stats = comp.stats()
    for name in equity.columns:
        dd = drawdown_periods(equity[name], top=None)
        if dd.empty:
            assert stats[name]["max_drawdown_pct"] == 0
            continue
        assert dd["depth"].iloc[0] * 100 == pytest.approx(stats[name]["max_drawdown_pct"])
        assert dd["length"].max() == stats[name]["max_drawdown_duration"]
        months = monthly_returns(equity[name])["year"]
        assert np.prod(1 + months) * 100 - 100 == pytest.approx(stats[name]["return_pct"])
        trips = excursions(round_trips(trades[trades["agent"] == name]), bars)
        assert (trips["mae"] <= trips["mfe"]).all()
        assert (trips["exit_time"] >= trips["entry_time"]).all()


def test_a_replay_shows_nothing_past_its_position(comp):
    t = 150
    full_eq, full_trades, full_bars = run_frames(comp)
    with Replay(comp.run_path, at=t) as replay:
        equity, trades, bars = run_frames(replay)
    assert len(equity) == t and equity.index[-1] == full_eq.index[t - 1]
    pd.testing.assert_frame_equal(equity, full_eq.iloc[:t], check_freq=False)
    assert trades["bar"].max() < t and len(trades) == (full_trades["bar"] < t).sum()
    assert bars["bar"].max() == t - 1
    pd.testing.assert_frame_equal(bars, full_bars[full_bars["bar"] < t])
    assert round_trips(trades)["exit_bar"].max() < t


def test_run_frames_rejects_other_objects():
    with pytest.raises(TypeError, match="Competition, Recording or Replay"):
        run_frames("runs/x")

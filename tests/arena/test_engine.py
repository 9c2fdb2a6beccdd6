"""Competition: a hand-worked run to the cent, the state machine, errors, paths agree."""

import math
import threading
import time

import numpy as np
import pandas as pd
import pytest

from arena import Competition, CompetitionConfig, Decision, PortfolioConfig, State, synthetic
from arena.agents import Agent, create_agent
from arena.clock import TestClock
from arena.data import MarketData
from arena.engine import CATCH_UP_SECONDS, StateError
from arena.recorder import Recording

# ----------------------------------------------------------------------------- hand-worked

TIMES = pd.date_range("2024-01-01", periods=6, freq="D").values
OPENS = [10.0, 11.0, 12.0, 10.0, 9.0, 9.2]
CLOSES = [10.5, 11.5, 11.0, 10.0, 9.5, 9.0]
HAND = MarketData(TIMES, ("XYZ",), OPENS, [12.5, 12.0, 12.5, 11.0, 10.0, 9.5],
                  [9.5, 10.5, 10.5, 9.5, 8.5, 8.8], CLOSES, [1e6] * 6, source="hand")


class Script(Agent):
    """Long at bar 0's close, reverse to short at bar 2, flat at bar 4."""

    def decide(self, obs):
        plan = {0: 1.0, 2: -1.0, 4: 0.0}
        if obs.step in plan:
            return Decision({"XYZ": plan[obs.step]}, 0.8, f"plan for bar {obs.step}")
        return Decision.hold()


def test_hand_worked_run_to_the_cent(tmp_path):
    # Arrange: cash 1000, fee 10 bps, slippage 5 bps, whole shares
    config = CompetitionConfig(
        portfolio=PortfolioConfig(cash=1000.0, fee_bps=10, slippage_bps=5),
        run_dir=str(tmp_path))
    comp = Competition(HAND, [Script()], config)

    # Act
    board = comp.run()

    # Assert: fills
    # bar 1: buy floor(1000 / (11 * 1.0005 * 1.001)) = 90 at 11.0055, fee 0.990495
    # bar 3: equity at open 8.514505 + 900 = 908.514505 -> target -90: sell 180 at 9.995
    #        exit 90 (fee 0.89955, pnl 90 * (9.995 - 11.0055) - 0.89955 - 0.990495 = -92.835045)
    #        entry short 90 (fee 0.89955)
    # bar 5: buy 90 at 9.2 * 1.0005 = 9.2046, fee 0.828414
    #        pnl 90 * (9.995 - 9.2046) - 0.828414 - 0.89955 = 69.408036
    trades = comp.trades_frame()
    assert trades[["bar", "side", "quantity", "action"]].values.tolist() == [
        [1, "buy", 90.0, "entry"], [3, "sell", 90.0, "exit"], [3, "sell", 90.0, "entry"],
        [5, "buy", 90.0, "exit"]]
    assert trades["price"].tolist() == pytest.approx([11.0055, 9.995, 9.995, 9.2046])
    assert trades["fee"].tolist() == pytest.approx([0.990495, 0.89955, 0.89955, 0.828414])
    assert trades["pnl"].iloc[[1, 3]].tolist() == pytest.approx([-92.835045, 69.408036],
                                                                 abs=0.005)
    # equity at each close
    equity = [1000.0, 1043.514505, 998.514505, 905.815405, 950.815405, 976.572991]
    assert comp.equity_frame()["Script"].tolist() == pytest.approx(equity, abs=0.005)

    # every metric, from the literal equity curve above
    stats = comp.stats("Script")
    r = [equity[i] / equity[i - 1] - 1 for i in range(1, 6)]
    mean = sum(r) / 5
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 4)
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in r) / 5)
    total = 976.572991 / 1000 - 1
    ann = (1 + total) ** (252 / 5) - 1
    max_dd = 905.815405 / 1043.514505 - 1
    assert stats["equity_final"] == pytest.approx(976.572991, abs=0.005)
    assert stats["equity_peak"] == pytest.approx(1043.514505, abs=0.005)
    assert stats["return_pct"] == pytest.approx(total * 100, rel=1e-9)
    assert stats["return_ann_pct"] == pytest.approx(ann * 100, rel=1e-9)
    assert stats["volatility_ann_pct"] == pytest.approx(std * math.sqrt(252) * 100, rel=1e-9)
    assert stats["sharpe"] == pytest.approx(mean / std * math.sqrt(252), rel=1e-9)
    assert stats["sortino"] == pytest.approx(mean / downside * math.sqrt(252), rel=1e-9)
    assert stats["calmar"] == pytest.approx(ann / abs(max_dd), rel=1e-9)
    assert stats["max_drawdown_pct"] == pytest.approx(max_dd * 100, rel=1e-9)
    assert stats["max_drawdown_duration"] == pd.Timedelta(days=4)  # peak at bar 1, no recovery
    assert stats["max_drawdown_bars"] == 4
    assert stats["trades"] == 2
    assert stats["win_rate_pct"] == pytest.approx(50.0)
    assert stats["profit_factor"] == pytest.approx(69.408036 / 92.835045, rel=1e-6)
    assert stats["avg_trade"] == pytest.approx((69.408036 - 92.835045) / 2, abs=0.005)
    assert stats["best_trade"] == pytest.approx(69.408036, abs=0.005)
    assert stats["worst_trade"] == pytest.approx(-92.835045, abs=0.005)
    assert stats["exposure_pct"] == pytest.approx(400 / 6)
    assert stats["fees"] == pytest.approx(0.990495 + 2 * 0.89955 + 0.828414, abs=0.005)
    assert stats["buy_hold_return_pct"] == pytest.approx((9.0 / 10.5 - 1) * 100, rel=1e-9)
    assert stats["bars"] == 6

    # the live leaderboard (incremental) agrees with the from-scratch statistics
    row = board.iloc[0]
    assert row["equity"] == pytest.approx(976.572991, abs=0.005)
    assert row["sharpe"] == pytest.approx(stats["sharpe"], rel=1e-9)
    assert row["max_drawdown_pct"] == pytest.approx(stats["max_drawdown_pct"], rel=1e-9)
    assert row["trades"] == 2 and row["win_rate_pct"] == pytest.approx(50.0)

    # the recording holds the same rows
    with Recording(comp.run_path) as rec:
        assert rec.meta["status"] == "finished"
        assert rec.equity()["equity"].tolist() == pytest.approx(equity, abs=0.005)
        pd.testing.assert_frame_equal(
            rec.trades().drop(columns=["time"]).reset_index(drop=True),
            trades.drop(columns=["time"]).astype({"pnl": float}).reset_index(drop=True),
            check_dtype=False)
        decisions = rec.decisions()
        assert decisions["bar"].tolist() == [0, 2, 4]
        assert decisions["reasoning"].tolist() == ["plan for bar 0", "plan for bar 2",
                                                   "plan for bar 4"]
        assert decisions["confidence"].tolist() == [0.8, 0.8, 0.8]


# ----------------------------------------------------------------------------- paths agree

class PerBar(Agent):
    """Wraps an agent and hides its signals, forcing the per-bar decide path."""

    def __init__(self, inner, **params):
        super().__init__(**params)
        self.inner = inner

    def label(self):
        return self.inner.label()

    def reset(self, data, seed):
        self.inner.reset(data, seed)

    def decide(self, obs):
        return self.inner.decide(obs)


AGENT_SPECS = ["buy_and_hold", "sma_cross:fast=5,slow=15", "momentum:lookback=10,short=true",
               "mean_reversion", "rsi", "macd", "random:trade_prob=0.2"]


@pytest.mark.slow
def test_vectorised_and_per_bar_paths_give_identical_runs():
    # Arrange
    data = synthetic(("AAA", "BBB"), bars=300, seed=3)
    config = CompetitionConfig(portfolio=PortfolioConfig(fee_bps=2, slippage_bps=3), seed=9,
                               record=False, block_bars=37)

    # Act
    fast = Competition(data, [create_agent(s) for s in AGENT_SPECS], config)
    fast.run()
    slow = Competition(data, [PerBar(create_agent(s)) for s in AGENT_SPECS], config)
    slow.run()

    # Assert
    pd.testing.assert_frame_equal(fast.equity_frame(), slow.equity_frame())
    pd.testing.assert_frame_equal(fast.trades_frame(), slow.trades_frame())
    pd.testing.assert_frame_equal(fast.leaderboard(), slow.leaderboard())
    assert len(fast.trades_frame()) > 50


def test_same_seed_same_run_and_streams_match_the_in_memory_results():
    data = synthetic(("AAA",), bars=200, seed=1)
    config = CompetitionConfig(seed=5, record=False)
    a = Competition(data, ["random", "sma_cross", "momentum"], config)
    b = Competition(data, ["random", "sma_cross", "momentum"], config)
    a.run()
    b.run()
    pd.testing.assert_frame_equal(a.equity_frame(), b.equity_frame())
    pd.testing.assert_frame_equal(a.trades_frame(), b.trades_frame())
    # the equity stream holds every (bar, agent) once, in bar order
    eq, _ = a.streams.equity.since(0)
    assert len(eq) == 200 * 3
    wide = eq.pivot(index="bar", columns="agent", values="equity")
    np.testing.assert_allclose(wide[a.agent_names].to_numpy(), a.equity_frame().to_numpy())
    trades, _ = a.streams.trades.since(0)
    assert len(trades) == len(a.trades_frame())
    # leaderboard (incremental) equals the from-scratch statistics
    stats = a.stats()
    for _, row in a.leaderboard().iterrows():
        assert row["sharpe"] == pytest.approx(stats[row["agent"]]["sharpe"], rel=1e-9,
                                              nan_ok=True)
        assert row["trades"] == stats[row["agent"]]["trades"]
    c = Competition(data, ["random", "sma_cross", "momentum"],
                    CompetitionConfig(seed=6, record=False))
    c.run()
    assert not c.trades_frame()[c.trades_frame()["agent"] == "random"].equals(
        a.trades_frame()[a.trades_frame()["agent"] == "random"])


# ----------------------------------------------------------------------------- agent errors

class Faulty(Agent):
    """Raises on some bars, returns garbage or invalid decisions on others."""

    def decide(self, obs):
        match obs.step % 5:
            case 0:
                raise RuntimeError("model exploded")
            case 1:
                return "buy everything"
            case 2:
                return Decision({"NOPE": 0.5})
            case 3:
                return Decision({"AAA": 3.0})
        return Decision({"AAA": 0.5}, reasoning="fine")


def test_a_failing_agent_holds_and_the_others_go_on(tmp_path):
    data = synthetic(("AAA",), bars=60, seed=2)
    config = CompetitionConfig(run_dir=str(tmp_path))
    alone = Competition(data, ["sma_cross:fast=3,slow=8"], CompetitionConfig(record=False))
    alone.run()
    comp = Competition(data, [Faulty(), "sma_cross:fast=3,slow=8"], config)
    comp.run()

    assert comp.state is State.FINISHED
    events, _ = comp.streams.events.since(0)
    errors = events[events["kind"] == "agent_error"]
    assert len(errors) == 48  # 4 of every 5 bars
    messages = " | ".join(errors["message"])
    assert "model exploded" in messages
    assert "expected a Decision" in messages
    assert "unknown symbol 'NOPE'" in messages
    assert "must be in -1..1" in messages
    assert set(errors["agent"]) == {"Faulty"}
    # the faulty agent still trades on its good bars; the other agent is unaffected
    trades = comp.trades_frame()
    assert (trades["agent"] == "Faulty").sum() >= 1
    np.testing.assert_array_equal(comp.equity_frame()["sma_cross(fast=3,slow=8)"],
                                  alone.equity_frame()["sma_cross(fast=3,slow=8)"])
    assert comp.leaderboard().set_index("agent").loc["Faulty", "errors"] == 48
    with Recording(comp.run_path) as rec:
        assert (rec.events()["kind"] == "agent_error").sum() == 48


def test_signals_with_bad_weights_fall_back_to_per_bar_and_are_reported():
    class BadSignals(Agent):
        def signals(self, data):
            return np.full((len(data), data.n_symbols), 2.0)

        def decide(self, obs):
            return Decision({"AAA": 1.0})

    comp = Competition(synthetic(("AAA",), bars=20), [BadSignals()],
                       CompetitionConfig(record=False))
    comp.run()
    events, _ = comp.streams.events.since(0)
    assert "signals() row 0" in events[events["kind"] == "agent_error"]["message"].iloc[0]
    assert len(comp.trades_frame()) == 1  # decide() took over


# ----------------------------------------------------------------------------- state machine

def wait_until(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_controls_start_pause_step_resume_stop_reset(tmp_path):
    data = synthetic(("AAA", "BBB"), bars=5000, seed=4)
    comp = Competition(data, ["sma_cross", "momentum"],
                       CompetitionConfig(speed=200, run_dir=str(tmp_path)))
    assert comp.state is State.IDLE
    with pytest.raises(StateError, match="cannot pause"):
        comp.pause()

    comp.start()
    assert wait_until(lambda: comp.bar >= 20)
    comp.pause()
    assert comp.state is State.PAUSED
    paused_at = comp.bar
    time.sleep(0.3)
    assert comp.bar == paused_at  # no bars while paused

    assert comp.step() == paused_at + 1  # exactly one more bar
    assert comp.step(5) == paused_at + 6
    with pytest.raises(StateError, match="use resume"):
        comp.start()

    comp.resume()
    assert wait_until(lambda: comp.bar >= paused_at + 20)
    with pytest.raises(StateError, match="pause first"):
        comp.step()
    comp.stop()
    assert comp.state is State.STOPPED
    stopped_at = comp.bar
    first_run = comp.run_path
    with Recording(first_run) as rec:
        assert rec.meta["status"] == "stopped"
        assert rec.meta["bars_processed"] == stopped_at
        assert rec.equity()["bar"].max() == stopped_at - 1
        assert len(rec.equity()) == stopped_at * 2
        kinds = rec.events()["kind"].tolist()
    assert kinds[0] == "competition_started"
    assert "competition_paused" in kinds and "competition_resumed" in kinds
    assert kinds[-1] == "competition_stopped"

    old_id = comp.run_id
    comp.reset()
    assert comp.state is State.IDLE and comp.bar == 0 and comp.run_id != old_id
    assert comp.streams.equity.since(0)[0].empty and comp.leaderboard().empty
    comp.step(3)
    assert comp.bar == 3 and comp.state is State.PAUSED
    assert comp.run_path != first_run
    comp.stop()


def test_speed_paces_bars_on_the_injected_clock():
    clock = TestClock()
    comp = Competition(synthetic(("AAA",), bars=50), ["momentum"],
                       CompetitionConfig(speed=10, record=False), clock=clock)
    comp.run()
    assert comp.bar == 50
    assert clock.now == pytest.approx(4.9, abs=0.11)  # 50 bars at 10 bars per second


class PausingClock(TestClock):
    """A TestClock whose ``pause_at``-th wait returns ``pause`` seconds late, as when
    the engine thread does not get to run (the garbage collector holds the GIL)."""

    __test__ = False

    def __init__(self, pause_at: int, pause: float):
        super().__init__()
        self.pause_at, self.pause, self.waits = pause_at, pause, 0

    def wait(self, cond, seconds):
        self.waits += 1
        if self.waits == self.pause_at:
            self.now += self.pause
        super().wait(cond, seconds)


@pytest.mark.parametrize("pause", [0.5, 3.0])
def test_a_paced_run_catches_up_after_a_pause(pause):
    # Arrange: 100 bars at 8 bars/s (times exact in binary); the engine thread is held
    # up for `pause` s at bar 20
    clock = PausingClock(pause_at=20, pause=pause)
    comp = Competition(synthetic(("AAA",), bars=100), ["momentum"],
                       CompetitionConfig(speed=8, record=False), clock=clock)
    # Act
    comp.run()
    # Assert: the bars it owed ran at once, so the run ends on schedule (no time lost)
    assert pause < CATCH_UP_SECONDS
    assert comp.bar == 100
    assert clock.now == pytest.approx(99 / 8, abs=0.13)


def test_a_paced_run_far_behind_drops_the_debt():
    # Arrange: a pause longer than CATCH_UP_SECONDS (a suspended machine)
    pause = CATCH_UP_SECONDS + 5
    clock = PausingClock(pause_at=20, pause=pause)
    comp = Competition(synthetic(("AAA",), bars=100), ["momentum"],
                       CompetitionConfig(speed=8, record=False), clock=clock)
    # Act
    comp.run()
    # Assert: it goes on at its pace from where it is, without a burst: the pause is added
    assert comp.bar == 100
    assert clock.now == pytest.approx(99 / 8 + pause, abs=0.26)


def test_commands_are_safe_from_many_threads():
    comp = Competition(synthetic(("AAA",), bars=3000), ["sma_cross", "rsi"],
                       CompetitionConfig(speed=2000, record=False))
    comp.start()
    errors = []

    def hammer():
        for _ in range(50):
            for cmd in (comp.pause, comp.resume, lambda: comp.step(1)):
                try:
                    cmd()
                except StateError:
                    pass
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if comp.state is State.PAUSED:
        comp.resume()
    comp.speed = 0
    assert comp.wait(30)
    assert not errors
    assert comp.state is State.FINISHED and comp.bar == 3000
    eq, _ = comp.streams.equity.since(0)
    assert eq["bar"].tolist() == sorted(eq["bar"].tolist())
    assert len(eq) == 3000 * 2


def test_history_is_decimated_complete_and_joins_the_stream():
    data = synthetic(("AAA", "BBB"), bars=3000, seed=8)
    comp = Competition(data, ["sma_cross", "momentum"], CompetitionConfig(record=False))
    comp.step(2000)
    rows, cursor = comp.history("equity", max_points=300)
    assert rows["bar"].nunique() <= 300
    assert rows["bar"].max() == 1999 and rows["bar"].min() == 0
    eq = comp.equity_frame()
    for agent in comp.agent_names:  # extremes and values match the run
        mine = rows[rows["agent"] == agent]
        assert mine["equity"].max() == eq[agent].max()
        assert mine["equity"].min() == eq[agent].min()
        np.testing.assert_allclose(mine["equity"], eq[agent].iloc[mine["bar"]].to_numpy())
    full, _ = comp.streams.equity.since(0)
    merged = full.set_index(["bar", "agent"])
    np.testing.assert_allclose(rows.set_index(["bar", "agent"])["cash"],
                               merged.loc[rows.set_index(["bar", "agent"]).index, "cash"])
    comp.step(10)
    new, _ = comp.streams.equity.since(cursor)
    assert new["bar"].tolist() == sorted(list(range(2000, 2010)) * 2)
    prices, pcur = comp.history("prices", max_points=100)
    assert prices["bar"].nunique() <= 100 and set(prices["symbol"]) == {"AAA", "BBB"}
    assert pcur == comp.streams.prices.total
    comp.stop()


# ----------------------------------------------------------------------------- resume

def test_a_stopped_run_on_a_feed_continues_exactly_where_it_stopped(tmp_path):
    from arena.engine import ResumeError, load_saved_run
    from arena.feeds.live import HistoryFeed

    # Arrange: a run that never stops, and the same run stopped at bar 250
    data = synthetic(("AAA", "BBB"), bars=400, seed=4)
    config = CompetitionConfig(portfolio=PortfolioConfig(fee_bps=5, slippage_bps=2,
                                                         whole_units=False),
                               seed=11, run_dir=str(tmp_path))
    specs = ["sma_cross:fast=5,slow=12", "momentum:lookback=8", "random:trade_prob=0.2",
             "rsi:period=6", "buy_and_hold"]
    whole = Competition(HistoryFeed(data), specs, config)
    whole.run()
    first = Competition(HistoryFeed(data, start=250), specs, config)
    first.step(250)
    first.stop()
    saved = load_saved_run(first.run_path)
    assert saved.bars == 250 and saved.status == "stopped"
    assert np.isfinite(np.array(saved.state["accounts"]["pending"], dtype=float)).any()

    # Act: continued on a feed that offers the rest
    second = Competition.continue_run(saved, HistoryFeed(data))
    assert second.bar == 250 and second.run_id == first.run_id
    with pytest.raises(ResumeError, match="is being resumed by another process"):
        Competition.continue_run(saved, HistoryFeed(data))
    second.run()

    # Assert: the same run, bit for bit, in memory and in the one recording
    pd.testing.assert_frame_equal(second.equity_frame(), whole.equity_frame(), check_exact=True)
    pd.testing.assert_frame_equal(second.trades_frame(), whole.trades_frame(), check_exact=True)
    pd.testing.assert_frame_equal(second.leaderboard(), whole.leaderboard(), check_exact=True)
    pd.testing.assert_frame_equal(second.stats(), whole.stats())
    assert (whole.trades_frame()["bar"] > 250).sum() > 10
    with Recording(second.run_path) as got, Recording(whole.run_path) as want:
        assert got.status() == "finished" and got.meta["resumed"][0]["bar"] == 250
        pd.testing.assert_frame_equal(got.trades(), want.trades(), check_exact=True)
        pd.testing.assert_frame_equal(got.equity(), want.equity(), check_exact=True)
        pd.testing.assert_frame_equal(got.bars(), want.bars(), check_exact=True)
    # a finished run, and a backtest, are refused; so is a stale read of a run
    with pytest.raises(ResumeError, match="changed since it was read"):
        Competition.continue_run(saved, HistoryFeed(data))
    with pytest.raises(ResumeError, match="is finished"):
        load_saved_run(second.run_path)
    backtest = Competition(data, specs, config)
    backtest.run()
    with pytest.raises(ResumeError, match="is not a live run"):
        load_saved_run(backtest.run_id, tmp_path)


def test_invested_frame_says_when_each_agent_held_a_position():
    # buy and hold fills at the second bar's open: flat at the first close, invested after;
    # the exposure statistic counts the same bars
    comp = Competition(synthetic(("AAA",), bars=30, seed=2), ["buy_and_hold", "random"],
                       CompetitionConfig(record=False, seed=1))
    comp.run()
    inv = comp.invested_frame()
    assert list(inv.columns) == comp.agent_names and inv.index.equals(comp.equity_frame().index)
    assert inv["buy_and_hold"].tolist() == [False] + [True] * 29
    board = comp.leaderboard().set_index("agent")
    for name in comp.agent_names:
        assert board.loc[name, "exposure_pct"] == pytest.approx(100 * inv[name].mean())

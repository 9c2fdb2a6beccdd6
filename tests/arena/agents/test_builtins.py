"""Every built-in agent: no look-ahead, decide == signals, valid output, determinism;
plus hand-worked cases and a bar-for-bar comparison with backtesting.py."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from arena.agents import History, Observation, available, create_agent
from arena.agents.base import validate_decision
from arena.agents.rules import _num
from arena.data.market import MarketData

N_BARS = 400
SEED = 7


def gbm(n_bars: int, symbols: tuple[str, ...], seed: int, vol: float = 0.02) -> MarketData:
    """Geometric Brownian motion daily bars with consistent OHLC."""
    rng = np.random.default_rng(seed)
    k = len(symbols)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0002, vol, (n_bars, k)), axis=0))
    prev = np.vstack([np.full((1, k), 100.0), close[:-1]])
    open_ = prev * np.exp(rng.normal(0.0, vol / 4, (n_bars, k)))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, vol / 4, (n_bars, k))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, vol / 4, (n_bars, k))))
    volume = rng.integers(1_000, 10_000, (n_bars, k)).astype(float)
    times = pd.date_range("2022-01-03", periods=n_bars, freq="D").values
    return MarketData(times, symbols, open_, high, low, close, volume, source="gbm")


DATASETS = {
    "1sym": gbm(N_BARS, ("AAA",), seed=1),
    "3sym": gbm(N_BARS, ("AAA", "BBB", "CCC"), seed=2),
}
BUILTINS = ["buy_and_hold", "macd", "mean_reversion", "ml", "momentum", "random", "rsi", "sma_cross"]
SPECS = [
    *BUILTINS,
    "sma_cross:fast=5,slow=12,short=true",
    "momentum:lookback=10,threshold=0.02,short=true",
    "mean_reversion:lookback=10,entry_z=1.5,exit_z=0.5,short=false",
    "rsi:period=7,lower=35,upper=60,weight=0.5",
    "macd:fast=5,slow=13,signal=4,short=true",
    "random:trade_prob=0.3,weight=0.6",
]
PROBE_BARS = (0, 1, 5, 13, 19, 20, 21, 27, 34, 35, 50, 101, 250, N_BARS - 2, N_BARS - 1)


def fresh(spec: str, data: MarketData, seed: int = SEED):
    agent = create_agent(spec)
    agent.reset(data, seed)
    return agent


def run_decide(spec: str, data: MarketData):
    """Call decide on every bar like the engine's per-bar path."""
    agent = fresh(spec, data)
    decisions = []
    for t in range(len(data)):
        obs = Observation(step=t, time=data.timestamp(t), symbols=data.symbols,
                          history=History(data, t + 1), portfolio=None, max_leverage=1.0)
        decisions.append(agent.decide(obs))
    return decisions


def as_array(decisions, symbols) -> np.ndarray:
    out = np.full((len(decisions), len(symbols)), np.nan)
    for t, d in enumerate(decisions):
        for sym, w in (d.targets or {}).items():
            out[t, symbols.index(sym)] = w
    return out


_DECIDED: dict = {}


def decided(spec: str, key: str):
    if (spec, key) not in _DECIDED:
        _DECIDED[(spec, key)] = run_decide(spec, DATASETS[key])
    return _DECIDED[(spec, key)]


def with_bars_after(data: MarketData, t: int, factor: float) -> MarketData:
    """A copy whose prices after bar t are multiplied by factor."""
    fields = {}
    for name in ("open", "high", "low", "close"):
        a = getattr(data, name).copy()
        a[t + 1:] *= factor
        fields[name] = a
    return MarketData(data.times, data.symbols, volume=data.volume, **fields)


params = pytest.mark.parametrize("spec", SPECS)
datasets = pytest.mark.parametrize("key", list(DATASETS))


# -- properties of every built-in ----------------------------------------------------


def test_every_registered_builtin_is_covered():
    assert set(BUILTINS) <= set(available())
    assert {s.split(":")[0] for s in SPECS} == set(BUILTINS)


@params
@datasets
def test_signals_have_no_look_ahead(spec, key):
    data = DATASETS[key]
    full = fresh(spec, data).signals(data)

    for t in PROBE_BARS:
        prefix = fresh(spec, data).signals(data.slice(0, t + 1))
        shocked = fresh(spec, data).signals(with_bars_after(data, t, 1.5))

        np.testing.assert_array_equal(prefix, full[: t + 1], err_msg=f"prefix to bar {t}")
        np.testing.assert_array_equal(shocked[: t + 1], full[: t + 1], err_msg=f"shock after bar {t}")


@params
@datasets
def test_decide_agrees_with_signals_bar_for_bar(spec, key):
    data = DATASETS[key]

    per_bar = as_array(decided(spec, key), data.symbols)
    vectorised = fresh(spec, data).signals(data)

    assert vectorised.shape == (len(data), data.n_symbols)
    np.testing.assert_array_equal(per_bar, vectorised)


@params
@datasets
def test_every_decision_is_valid(spec, key):
    data = DATASETS[key]

    for t, d in enumerate(decided(spec, key)):
        validate_decision(d, data.symbols, 1.0)
        assert d.confidence == 1.0
        assert d.reasoning, f"bar {t}: empty reasoning"


@params
@datasets
def test_targets_are_the_split_weight_long_flat_or_short(spec, key):
    data = DATASETS[key]
    agent = fresh(spec, data)
    w = agent.weight / data.n_symbols

    sig = agent.signals(data)

    targets = sig[~np.isnan(sig)]
    assert targets.size > 0, "the agent never set a target on this data"
    assert set(np.unique(targets)) <= {-w, 0.0, w}
    assert (np.nansum(np.abs(sig), axis=1) <= 1.0 + 1e-12).all()


@params
@datasets
def test_explain_gives_decides_reasoning(spec, key):
    data = DATASETS[key]
    decisions = decided(spec, key)
    agent = fresh(spec, data)
    sig = agent.signals(data)
    with_target = np.flatnonzero(~np.isnan(sig).all(axis=1))

    for t in [*with_target[:15], *PROBE_BARS]:
        assert agent.explain(data, int(t)) == decisions[t].reasoning, f"bar {t}"
    # the batched form the engine uses gives the same text for every bar
    bars = np.array([*with_target, *PROBE_BARS])
    assert agent.explain_many(data, bars) == [decisions[t].reasoning for t in bars]


@params
def test_same_seed_same_signals(spec):
    data = DATASETS["3sym"]

    first = fresh(spec, data, seed=3).signals(data)
    second = fresh(spec, data, seed=3).signals(data)

    np.testing.assert_array_equal(first, second)


def test_random_agent_differs_between_seeds_and_ignores_prices():
    data = DATASETS["3sym"]

    a = fresh("random", data, seed=1).signals(data)
    b = fresh("random", data, seed=2).signals(data)
    shocked = fresh("random", data, seed=1).signals(with_bars_after(data, 0, 2.0))

    assert not np.array_equal(a, b, equal_nan=True)
    np.testing.assert_array_equal(a, shocked)


def test_random_agent_trades_about_trade_prob_of_the_time():
    data = DATASETS["3sym"]

    sig = fresh("random:trade_prob=0.25", data).signals(data)

    share = (~np.isnan(sig)).mean()
    assert 0.2 < share < 0.3  # 1200 draws: 4 standard deviations either side


def test_reset_restarts_the_random_stream_for_decide():
    data = DATASETS["1sym"]
    agent = fresh("random:trade_prob=0.5", data, seed=5)

    def first_50():
        return [agent.decide(Observation(step=t, time=data.timestamp(t), symbols=data.symbols,
                                         history=History(data, t + 1), portfolio=None))
                for t in range(50)]

    before = first_50()
    agent.reset(data, 5)
    after = first_50()

    assert after == before
    assert any(d.targets for d in before)


def test_stateful_decide_recovers_when_bars_are_skipped():
    # The engine may start late or skip bars: decide must rebuild its state.
    data = DATASETS["3sym"]
    expected = fresh("mean_reversion", data).signals(data)
    agent = fresh("mean_reversion", data)

    for t in (30, 31, 200, 120, 399):
        obs = Observation(step=t, time=data.timestamp(t), symbols=data.symbols,
                          history=History(data, t + 1), portfolio=None)
        got = as_array([agent.decide(obs)], data.symbols)[0]
        np.testing.assert_array_equal(got, expected[t], err_msg=f"bar {t}")


def test_changing_a_parameter_refreshes_cached_explanations():
    data = DATASETS["1sym"]
    agent = fresh("rsi", data)
    before = agent.explain(data, 100)

    agent.period = 7

    after = agent.explain(data, 100)
    assert after != before
    assert after == fresh("rsi:period=7", data).explain(data, 100)


@params
def test_agents_survive_pickling(spec):
    # Sweeps ship agents to worker processes.
    data = DATASETS["3sym"]
    agent = fresh(spec, data)

    clone = pickle.loads(pickle.dumps(agent))
    clone.reset(data, SEED)

    np.testing.assert_array_equal(clone.signals(data), agent.signals(data))


# -- hand-worked ---------------------------------------------------------------------

# fast SMA2 / slow SMA3 of these closes (bar: SMA2, SMA3):
#   0: -, -        1: 10.5, -       2: 11.5, 11.0     3: 11.5, 11.33
#   4: 10.5, 11.0  5: 9.5, 10.0     6: 9.5, 9.67      7: 10.5, 10.0
#   8: 11.5, 11.0  9: 12.5, 12.0
# SMA2 − SMA3: bar 3 +0.17 → bar 4 −0.5: cross below at 4;
#              bar 6 −0.17 → bar 7 +0.5: cross above at 7. Bar 2 has no SMA3 at 1.
CROSS_CLOSES = [10.0, 11.0, 12.0, 11.0, 10.0, 9.0, 10.0, 11.0, 12.0, 13.0]


def literal_data(closes) -> MarketData:
    c = np.asarray(closes, dtype=float)
    times = pd.date_range("2024-01-01", periods=len(c), freq="D").values
    return MarketData(times, ("XYZ",), c, c, c, c, np.ones_like(c))


@pytest.mark.parametrize(("short", "on_cross_below"), [(False, 0.0), (True, -1.0)])
def test_sma_cross_hand_worked_bars(short, on_cross_below):
    data = literal_data(CROSS_CLOSES)
    agent = fresh(f"sma_cross:fast=2,slow=3,short={short}", data)

    sig = agent.signals(data)[:, 0]

    assert np.flatnonzero(~np.isnan(sig)).tolist() == [4, 7]
    assert sig[4] == on_cross_below
    assert sig[7] == 1.0
    assert agent.explain(data, 7) == "XYZ: SMA2 10.50 crossed above SMA3 10.00 → long 1.00"


@pytest.mark.parametrize(("value", "text"), [
    (1234.5678, "1,234.57"), (-1.0, "-1.00"), (999_999_999_999.99, "999,999,999,999.99"),
    (0.0012345, "0.001234"), (0.0, "0"), (-0.5, "-0.5"), (1e12, "1e+12"),
    (3.3251765e44, "3.325e+44"), (-2.5e15, "-2.5e+15"), (float("nan"), "nan"),
    (float("inf"), "inf"), (np.float64(10.5), "10.50")])
def test_reasoning_numbers_are_readable_at_any_magnitude(value, text):
    assert _num(value) == text


def test_sma_cross_reasoning_while_warming_up_and_between_crosses():
    data = literal_data(CROSS_CLOSES)
    agent = fresh("sma_cross:fast=2,slow=3", data)

    assert agent.explain(data, 0) == "warming up: a crossover needs 4 bars, have 1"
    assert agent.explain(data, 2) == "no crossover: XYZ warming up (3 of 4 bars)"
    assert agent.explain(data, 5) == "no crossover: XYZ SMA2 9.50 below SMA3 10.00"


def test_buy_and_hold_splits_once_at_the_first_bar():
    decisions = decided("buy_and_hold", "3sym")

    assert decisions[0].targets == {"AAA": 1 / 3, "BBB": 1 / 3, "CCC": 1 / 3}
    assert all(d.targets is None for d in decisions[1:])


def test_momentum_hand_worked():
    # 2-bar returns: bar 2: 12/10 − 1 = +20%, bar 3: 9/11 − 1 = −18.2%,
    # bar 4: 9.1/12 − 1 = −24.2%, bar 5: 9.2/9 − 1 = +2.2% (inside ±5%: no target)
    data = literal_data([10.0, 11.0, 12.0, 9.0, 9.1, 9.2])
    agent = fresh("momentum:lookback=2,threshold=0.05,short=true", data)

    sig = agent.signals(data)[:, 0]

    np.testing.assert_array_equal(sig, [np.nan, np.nan, 1.0, -1.0, -1.0, np.nan])
    assert agent.explain(data, 2) == "XYZ: 2-bar return +20.00% > +5.00% → long 1.00"
    assert agent.explain(data, 5) == "XYZ: 2-bar return +2.22% within ±5.00%, no change"


def test_mean_reversion_hysteresis_hand_worked():
    # lookback 2, population z of the last two closes is ±1 (or 0 when equal):
    # bar 1: 10 → 8, z = −1 < −0.5 → long; bar 2: 8 → 8, z = 0 ≥ −0 → exit;
    # bar 3: 8 → 9, z = +1 > 0.5 → short; bar 4: 9 → 9, z = 0 ≤ 0 → exit.
    data = literal_data([10.0, 8.0, 8.0, 9.0, 9.0])
    agent = fresh("mean_reversion:lookback=2,entry_z=0.5", data)

    sig = agent.signals(data)[:, 0]

    np.testing.assert_array_equal(sig, [np.nan, 1.0, 0.0, -1.0, 0.0])
    assert agent.explain(data, 1) == "XYZ: z -1.00 < -0.5, enter long → long 1.00"
    assert agent.explain(data, 4) == "XYZ: z +0.00 ≤ 0, exit short → flat 0.00"


def test_rsi_agent_holds_between_the_levels():
    # period 2 on a fall, a partial rebound and a rally (avg gain/loss by Wilder):
    # bar 2: changes −2, −2 → RSI 0 < 30: enter long
    # bar 3: +1 → gain 0.5, loss 1.0 → RSI 33.3: between, stay long
    # bar 4: +3 → gain 1.75, loss 0.5 → RSI 77.8 > 70: exit to flat
    # bar 5: −1 → gain 0.875, loss 0.75 → RSI 53.8: between, stay flat
    data = literal_data([14.0, 12.0, 10.0, 11.0, 14.0, 13.0])
    agent = fresh("rsi:period=2", data)

    sig = agent.signals(data)[:, 0]

    np.testing.assert_array_equal(sig, [np.nan, np.nan, 1.0, 1.0, 0.0, 0.0])
    assert agent.explain(data, 3) == "XYZ: RSI2 33.3 between 30 and 70, stay long → long 1.00"
    assert agent.explain(data, 4) == "XYZ: RSI2 77.8 > 70, exit long → flat 0.00"


# -- parity with backtesting.py ------------------------------------------------------


def test_sma_cross_trades_like_backtesting_py():
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    data = gbm(1000, ("XYZ",), seed=3, vol=0.015)
    frame = data.frame("XYZ").rename(columns=str.capitalize).tz_localize(None)

    class SmaCross(Strategy):  # backtesting.py's README example
        def init(self):
            self.ma1 = self.I(SMA, self.data.Close, 10)
            self.ma2 = self.I(SMA, self.data.Close, 20)

        def next(self):
            if crossover(self.ma1, self.ma2):
                self.position.close()
                self.buy()
            elif crossover(self.ma2, self.ma1):
                self.position.close()
                self.sell()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(frame, SmaCross, cash=10_000_000, finalize_trades=True).run()
    trades = stats._trades

    sig = fresh("sma_cross:short=true", data).signals(data)[:, 0]
    bars = np.flatnonzero(~np.isnan(sig))
    filled = bars[bars < len(data) - 1]  # a signal at the last bar has no next open

    assert len(trades) > 20
    np.testing.assert_array_equal(trades["EntryBar"].to_numpy(), filled + 1)
    np.testing.assert_array_equal(np.sign(trades["Size"].to_numpy()), sig[filled])
    a, b = SMA(data.close[:, 0], 10).to_numpy(), SMA(data.close[:, 0], 20).to_numpy()
    flagged = [t for t in range(len(data)) if crossover(a[: t + 1], b[: t + 1])
               or crossover(b[: t + 1], a[: t + 1])]
    assert flagged == bars.tolist()

"""Tests for arena.metrics: hand-worked examples, independent definitions,
edge cases, and RunningStats against compute_stats on random histories."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.metrics import (
    STAT_KEYS,
    RunningStats,
    buy_and_hold_equity,
    buy_and_hold_return,
    compute_stats,
    infer_periods_per_year,
)

# Any RuntimeWarning (division by zero, invalid value, overflow) fails a test.
pytestmark = pytest.mark.filterwarnings("error")

CURRENCY = {"abs": 0.005}
RATIO = {"rel": 1e-9}

# --- Example 1: six daily bars, two round trips (the brief's example) -------------
DAILY = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
EQUITY_1 = pd.Series([10000.0, 10100.0, 9900.0, 10200.0, 10150.0, 10300.0], index=DAILY)
TRADES_1 = pd.DataFrame({
    "time": DAILY[[1, 2, 3, 5]],
    "symbol": ["AAPL", "AAPL", "MSFT", "MSFT"],
    "side": ["buy", "sell", "buy", "sell"],
    "quantity": [10.0, 10.0, 20.0, 20.0],
    "price": [100.0, 115.5, 50.0, 47.75],
    "fee": [2.5, 2.5, 2.5, 2.5],
    "action": ["entry", "exit", "entry", "exit"],
    "pnl": [np.nan, 150.0, np.nan, -50.0],
})
INVESTED_1 = [False, True, True, False, True, False]
CLOSE_1 = np.array([  # two symbols: +12 % and +10 % over the run
    [100.0, 50.0],
    [101.0, 51.0],
    [99.0, 52.0],
    [104.0, 53.0],
    [108.0, 54.0],
    [112.0, 55.0],
])

# --- Example 2: quarterly, risk-free 4 %/year, never regains its peak ---------
QUARTERS = pd.DatetimeIndex(
    ["2024-01-01", "2024-04-01", "2024-07-01", "2024-10-01"], tz="UTC")
EQUITY_2 = pd.Series([100.0, 105.0, 99.75, 104.7375], index=QUARTERS)

# --- Example 3: irregular bars, new peak on the last bar ----------------------
IRREGULAR = pd.DatetimeIndex(
    ["2024-03-01", "2024-03-02", "2024-03-11", "2024-03-12", "2024-03-13", "2024-03-14"],
    tz="UTC")
EQUITY_3 = pd.Series([100.0, 95.0, 100.0, 99.0, 98.0, 101.0], index=IRREGULAR)


def test_hand_worked_daily_example_every_statistic():
    # Arrange
    benchmark = buy_and_hold_return(CLOSE_1)

    # Act
    stats = compute_stats(EQUITY_1, TRADES_1, INVESTED_1, benchmark=benchmark)

    # Assert
    assert list(stats.index) == list(STAT_KEYS)
    assert stats["start"] == pd.Timestamp("2024-01-01", tz="UTC")
    assert stats["end"] == pd.Timestamp("2024-01-06", tz="UTC")
    assert stats["duration"] == pd.Timedelta(days=5)
    assert stats["bars"] == 6
    assert stats["equity_start"] == pytest.approx(10000.00, **CURRENCY)
    assert stats["equity_final"] == pytest.approx(10300.00, **CURRENCY)
    assert stats["equity_peak"] == pytest.approx(10300.00, **CURRENCY)
    # total return: 10300 / 10000 - 1 = 0.03 -> 3 %
    assert stats["return_pct"] == pytest.approx(3.0, **RATIO)
    # daily spacing -> P = 252; N = 5 returns; 1.03 ** (252 / 5) = exp(50.4 * ln 1.03)
    # ln 1.03 = 0.029558802241544403; x 50.4 = 1.489763632973838; exp(..) = 4.436046859870143
    assert stats["return_ann_pct"] == pytest.approx(343.6046859870143, **RATIO)
    # returns r_t = E_t / E_(t-1) - 1:
    #   r1 = 10100/10000 - 1 =  1/100  =  0.01
    #   r2 =  9900/10100 - 1 = -2/101  = -0.019801980198019802
    #   r3 = 10200/9900  - 1 =  1/33   =  0.030303030303030303
    #   r4 = 10150/10200 - 1 = -1/204  = -0.004901960784313725
    #   r5 = 10300/10150 - 1 =  3/203  =  0.014778325123152709
    # sum = 0.030377414443849485; mean = sum / 5 = 0.006075482888769897
    # squared deviations from the mean:
    #   ( 0.003924517111230103)^2 = 0.0000154018345563379
    #   (-0.025877463086789699)^2 = 0.0006696430958081635
    #   ( 0.024227547414260406)^2 = 0.0005869740537102361
    #   (-0.010977443673083622)^2 = 0.0001205042695957237
    #   ( 0.008702842234382812)^2 = 0.0000757394629565572
    # sum = 0.0014682627166270183; / (N - 1 = 4) = 0.0003670656791567546
    # std = sqrt(0.0003670656791567546) = 0.019158958196017720
    # sqrt(252) = 15.874507866387544
    # volatility = 0.019158958196017720 * 15.874507866387544 = 0.304139032594473 -> 30.41 %
    assert stats["volatility_ann_pct"] == pytest.approx(30.4139032594473398, **RATIO)
    # sharpe (rf = 0) = 0.006075482888769897 / 0.019158958196017720 * 15.874507866387544
    assert stats["sharpe"] == pytest.approx(5.0339533038872259, **RATIO)
    # downside: only r2 and r4 are negative
    #   r2^2 = 0.000392118419762768; r4^2 = 0.0000240292195309496
    #   mean over all 5 returns = 0.000416147639293718 / 5 = 0.0000832295278587436
    #   sqrt = 0.009123021860038679
    # sortino = 0.006075482888769897 / 0.009123021860038679 * 15.874507866387544
    assert stats["sortino"] == pytest.approx(10.571639791014569, **RATIO)
    # drawdown: peak 10100 (bar 1) -> 9900 (bar 2): 9900/10100 - 1 = -2/101 = -1.980198 %;
    # peak 10200 (bar 3) -> 10150 (bar 4): -0.490196 %; so max drawdown = -1.98019801980198 %
    assert stats["max_drawdown_pct"] == pytest.approx(-1.9801980198019802, **RATIO)
    # calmar = 3.436046859870143 / 0.019801980198019802 = 173.52036642344224
    assert stats["calmar"] == pytest.approx(173.52036642344224, **RATIO)
    # drawdowns run bar 1 -> bar 3 (regained 10200 >= 10100) and bar 3 -> bar 5: 2 days each
    assert stats["max_drawdown_duration"] == pd.Timedelta(days=2)
    assert stats["max_drawdown_bars"] == 2
    # trades: +150 (winner), -50 (loser)
    assert stats["trades"] == 2
    assert stats["win_rate_pct"] == pytest.approx(50.0, **RATIO)  # 1 / 2
    assert stats["profit_factor"] == pytest.approx(3.0, **RATIO)  # 150 / |-50|
    assert stats["avg_trade"] == pytest.approx(50.00, **CURRENCY)  # (150 - 50) / 2
    assert stats["best_trade"] == pytest.approx(150.00, **CURRENCY)
    assert stats["worst_trade"] == pytest.approx(-50.00, **CURRENCY)
    assert stats["fees"] == pytest.approx(10.00, **CURRENCY)  # 4 fills x 2.50
    assert stats["exposure_pct"] == pytest.approx(50.0, **RATIO)  # 3 of 6 bars
    # buy & hold: (112/100 - 1 + 55/50 - 1) / 2 = (0.12 + 0.10) / 2 = 0.11
    assert stats["buy_hold_return_pct"] == pytest.approx(11.0, **RATIO)


def test_hand_worked_quarterly_example_with_risk_free_rate():
    # Arrange: P = 4 given explicitly; rf = 4 %/year -> 1 % per bar

    # Act
    stats = compute_stats(EQUITY_2, periods_per_year=4, risk_free=0.04)

    # Assert
    # returns: 105/100 - 1 = 0.05; 99.75/105 - 1 = -0.05; 104.7375/99.75 - 1 = 0.05
    # total: 104.7375 / 100 - 1 = 4.7375 %
    assert stats["return_pct"] == pytest.approx(4.7375, **RATIO)
    # annualised: 1.047375 ** (4 / 3) - 1; ln 1.047375 = 0.046287033951313473
    # x 4/3 = 0.061716045268417964; exp(..) - 1 = 0.063660270475759331
    assert stats["return_ann_pct"] == pytest.approx(6.3660270475759331, **RATIO)
    # mean r = 0.05/3 = 0.016667; deviations 0.033333, -0.066667, 0.033333
    # squares 0.0011111 + 0.0044444 + 0.0011111 = 0.0066667; / 2 = 1/300
    # std = sqrt(1/300) = 0.057735026918962576; volatility = std * sqrt(4) = 11.547 %
    assert stats["volatility_ann_pct"] == pytest.approx(11.547005383792515, **RATIO)
    # excess = r - 0.01 = 0.04, -0.06, 0.04; mean = 0.02/3 = 1/150
    # sharpe = (1/150) / 0.057735026918962576 * 2 = 0.23094010767585031
    assert stats["sharpe"] == pytest.approx(0.23094010767585031, **RATIO)
    # downside: (0 + 0.0036 + 0) / 3 = 0.0012; sqrt = 0.034641016151377546
    # sortino = (1/150) / 0.034641016151377546 * 2 = 0.38490017945975051
    assert stats["sortino"] == pytest.approx(0.38490017945975051, **RATIO)
    # max drawdown: 99.75 / 105 - 1 = -5 %; calmar = 0.063660270475759331 / 0.05
    assert stats["max_drawdown_pct"] == pytest.approx(-5.0, **RATIO)
    assert stats["calmar"] == pytest.approx(1.2732054095151866, **RATIO)
    # never regains 105: the drawdown runs from 2024-04-01 to the end, 2024-10-01
    assert stats["max_drawdown_duration"] == pd.Timedelta(days=183)
    assert stats["max_drawdown_bars"] == 2
    assert stats["equity_peak"] == pytest.approx(105.00, **CURRENCY)
    assert stats["duration"] == pd.Timedelta(days=274)


def test_duration_and_bars_are_separate_maxima_and_last_bar_is_a_new_peak():
    # Arrange: drawdown A = bar 0 -> bar 2 (10 days, 2 bars);
    #          drawdown B = bar 2 -> bar 5 (3 days, 3 bars), regained by a new peak on the last bar

    # Act
    stats = compute_stats(EQUITY_3, periods_per_year=252)

    # Assert
    assert stats["max_drawdown_duration"] == pd.Timedelta(days=10)
    assert stats["max_drawdown_bars"] == 3
    assert stats["max_drawdown_pct"] == pytest.approx(-5.0, **RATIO)  # 95 / 100 - 1
    assert stats["equity_peak"] == pytest.approx(101.00, **CURRENCY)
    assert stats["return_pct"] == pytest.approx(1.0, **RATIO)


# --- Edge cases -----------------------------------------------------------------

def test_constant_equity_has_zero_risk_and_undefined_ratios():
    # Arrange
    equity = pd.Series(5000.0, index=DAILY)

    # Act
    stats = compute_stats(equity, invested=[False] * 6)

    # Assert
    assert stats["return_pct"] == 0.0
    assert stats["return_ann_pct"] == 0.0
    assert stats["volatility_ann_pct"] == 0.0
    assert stats["max_drawdown_pct"] == 0.0
    assert stats["max_drawdown_duration"] == pd.Timedelta(0)
    assert stats["max_drawdown_bars"] == 0
    assert stats["exposure_pct"] == 0.0
    for key in ("sharpe", "sortino", "calmar"):
        assert math.isnan(stats[key]), key


def test_single_bar_has_no_returns():
    # Arrange
    equity = pd.Series([10000.0], index=DAILY[:1])

    # Act
    stats = compute_stats(equity, invested=[False])

    # Assert
    assert stats["bars"] == 1
    assert stats["duration"] == pd.Timedelta(0)
    assert stats["return_pct"] == 0.0
    assert stats["max_drawdown_pct"] == 0.0
    for key in ("return_ann_pct", "volatility_ann_pct", "sharpe", "sortino", "calmar"):
        assert math.isnan(stats[key]), key


def test_no_trades_leaves_trade_statistics_undefined():
    # Arrange
    empty = TRADES_1.iloc[:0]

    # Act
    for trades in (None, empty):
        stats = compute_stats(EQUITY_1, trades)

        # Assert
        assert stats["trades"] == 0
        assert stats["fees"] == 0.0
        for key in ("win_rate_pct", "profit_factor", "avg_trade", "best_trade", "worst_trade",
                    "exposure_pct", "buy_hold_return_pct"):
            assert math.isnan(stats[key]), key


def test_all_winning_trades_give_infinite_profit_factor():
    # Arrange
    trades = TRADES_1.assign(pnl=[np.nan, 150.0, np.nan, 30.0])

    # Act
    stats = compute_stats(EQUITY_1, trades)

    # Assert
    assert stats["win_rate_pct"] == 100.0
    assert stats["profit_factor"] == math.inf
    assert stats["avg_trade"] == pytest.approx(90.00, **CURRENCY)
    assert stats["worst_trade"] == pytest.approx(30.00, **CURRENCY)


def test_break_even_trades_are_not_winners_and_profit_factor_is_undefined():
    # Arrange
    trades = TRADES_1.assign(pnl=[np.nan, 0.0, np.nan, 0.0])

    # Act
    stats = compute_stats(EQUITY_1, trades)

    # Assert
    assert stats["win_rate_pct"] == 0.0
    assert math.isnan(stats["profit_factor"])


def test_only_losing_trades_give_zero_profit_factor():
    # Arrange
    trades = TRADES_1.assign(pnl=[np.nan, -20.0, np.nan, -30.0])

    # Act
    stats = compute_stats(EQUITY_1, trades)

    # Assert
    assert stats["profit_factor"] == 0.0
    assert stats["win_rate_pct"] == 0.0


def test_never_recovering_runs_to_the_end():
    # Arrange: peak on bar 0, below it ever after
    equity = pd.Series([100.0, 90.0, 80.0, 85.0, 95.0, 99.0], index=DAILY)

    # Act
    stats = compute_stats(equity)

    # Assert
    assert stats["max_drawdown_pct"] == pytest.approx(-20.0, **RATIO)  # 80 / 100 - 1
    assert stats["max_drawdown_duration"] == pd.Timedelta(days=5)
    assert stats["max_drawdown_bars"] == 5
    assert stats["equity_peak"] == 100.0


def test_only_rising_equity_has_undefined_sortino_and_calmar():
    # Arrange
    equity = pd.Series([100.0, 101.0, 103.0, 104.0, 107.0, 108.0], index=DAILY)

    # Act
    stats = compute_stats(equity)

    # Assert
    assert stats["max_drawdown_pct"] == 0.0
    assert stats["sharpe"] > 0
    assert math.isnan(stats["sortino"])
    assert math.isnan(stats["calmar"])


def test_bankrupt_equity_leaves_return_statistics_undefined():
    # Arrange
    equity = pd.Series([100.0, 50.0, 0.0, 0.0, 0.0, 0.0], index=DAILY)

    # Act
    stats = compute_stats(equity)

    # Assert
    assert stats["return_pct"] == -100.0
    assert stats["return_ann_pct"] == -100.0
    assert stats["max_drawdown_pct"] == -100.0
    for key in ("volatility_ann_pct", "sharpe", "sortino"):
        assert math.isnan(stats[key]), key


def test_steep_short_run_annualises_to_infinity_without_warnings():
    # Arrange: one-minute bars, +50 % in one bar
    minutes = pd.date_range("2024-01-02 14:30", periods=2, freq="min", tz="UTC")
    equity = pd.Series([100.0, 150.0], index=minutes)

    # Act
    stats = compute_stats(equity)

    # Assert
    assert stats["return_ann_pct"] == math.inf
    assert math.isnan(stats["sharpe"])  # one return: no standard deviation


# --- Independent definitions --------------------------------------------------

RANDOM_INDEX = pd.bdate_range("2024-01-01", periods=80, tz="UTC")
RANDOM_EQUITY = pd.Series(
    10000 * np.cumprod(1 + np.r_[0, np.random.default_rng(7).normal(0.001, 0.012, 79)]),
    index=RANDOM_INDEX)
RANDOM_CLOSE = 100 * np.cumprod(1 + np.r_[0, np.random.default_rng(8).normal(0, 0.01, 79)])


def test_matches_a_pandas_implementation_of_the_definitions():
    # Arrange
    returns = RANDOM_EQUITY.pct_change().dropna()
    drawdown = RANDOM_EQUITY / RANDOM_EQUITY.cummax() - 1

    # Act
    stats = compute_stats(RANDOM_EQUITY)

    # Assert
    assert stats["volatility_ann_pct"] == pytest.approx(returns.std() * 252**0.5 * 100, **RATIO)
    assert stats["sharpe"] == pytest.approx(returns.mean() / returns.std() * 252**0.5, **RATIO)
    downside = returns.clip(upper=0).pow(2).mean() ** 0.5
    assert stats["sortino"] == pytest.approx(returns.mean() / downside * 252**0.5, **RATIO)
    assert stats["max_drawdown_pct"] == pytest.approx(drawdown.min() * 100, **RATIO)
    growth = (1 + returns).prod()
    assert stats["return_ann_pct"] == pytest.approx((growth ** (252 / len(returns)) - 1) * 100,
                                                    **RATIO)
    # longest stretch of bars with equity below its running peak, plus the bar it ends on
    underwater = (drawdown < 0).astype(int).to_numpy()
    longest, run = 0, 0
    for flag in underwater:
        run = run + 1 if flag else 0
        longest = max(longest, run)
    ends_underwater = underwater[-1] == 1 and run == longest
    assert stats["max_drawdown_bars"] == longest + (0 if ends_underwater else 1)


def test_matches_backtesting_py_where_definitions_coincide():
    # Arrange
    _stats = pytest.importorskip("backtesting._stats")
    bt_trades = pd.DataFrame({
        "PnL": [10.0, -5.0, 3.0], "ReturnPct": [0.01, -0.005, 0.003],
        "EntryBar": [1, 5, 9], "ExitBar": [3, 7, 11],
        "Duration": pd.to_timedelta([2, 2, 2], unit="D"),
    })
    fills = pd.DataFrame({"action": ["entry", "exit"] * 3, "fee": 0.0,
                          "pnl": [np.nan, 10.0, np.nan, -5.0, np.nan, 3.0]})
    invested = np.zeros(len(RANDOM_EQUITY), dtype=bool)
    for entry, exit_ in [(1, 3), (5, 7), (9, 11)]:  # backtesting.py counts both ends
        invested[entry:exit_ + 1] = True

    # Act
    ours = compute_stats(RANDOM_EQUITY, fills, invested,
                         benchmark=buy_and_hold_return(RANDOM_CLOSE))
    with warnings.catch_warnings():  # their warnings are not under test here
        warnings.simplefilter("ignore")
        theirs = _stats.compute_stats(bt_trades, RANDOM_EQUITY.to_numpy(),
                                      pd.DataFrame({"Close": RANDOM_CLOSE}, index=RANDOM_INDEX),
                                      None)

    # Assert
    assert ours["start"] == theirs["Start"]
    assert ours["end"] == theirs["End"]
    assert ours["duration"] == theirs["Duration"]
    assert ours["equity_final"] == pytest.approx(theirs["Equity Final [$]"], **RATIO)
    assert ours["equity_peak"] == pytest.approx(theirs["Equity Peak [$]"], **RATIO)
    assert ours["return_pct"] == pytest.approx(theirs["Return [%]"], **RATIO)
    # business-day bars: their geometric daily mean compounded over 252 days is our
    # (E_final / E_start) ** (252 / N) - 1, and their Calmar divides it by |max drawdown|
    assert ours["return_ann_pct"] == pytest.approx(theirs["Return (Ann.) [%]"], **RATIO)
    assert ours["calmar"] == pytest.approx(theirs["Calmar Ratio"], **RATIO)
    assert ours["max_drawdown_pct"] == pytest.approx(theirs["Max. Drawdown [%]"], **RATIO)
    # daily bars, so their rounding of the duration up to whole days changes nothing
    assert ours["max_drawdown_duration"] == theirs["Max. Drawdown Duration"]
    assert ours["buy_hold_return_pct"] == pytest.approx(theirs["Buy & Hold Return [%]"], **RATIO)
    assert ours["trades"] == theirs["# Trades"]
    assert ours["win_rate_pct"] == pytest.approx(theirs["Win Rate [%]"], **RATIO)
    assert ours["exposure_pct"] == pytest.approx(theirs["Exposure Time [%]"], **RATIO)
    # Not compared, defined differently there: volatility (a geometric variance
    # formula), Sharpe (annualised geometric return / that volatility), Sortino
    # (annualised geometric return over downside), profit factor (from trade
    # percentage returns, not currency pnl), best/worst trade (percent, not currency).


# --- Periods per year, buy & hold, input errors ---------------------------------

@pytest.mark.parametrize(("index", "expected"), [
    # every day, weekends included: a 24/7 market (tests/arena/test_annualisation.py)
    (pd.date_range("2024-01-01", periods=30, freq="D", tz="UTC"), 365.0),
    (pd.bdate_range("2024-01-01", periods=30, tz="UTC"), 252.0),
    (pd.date_range("2024-01-01", periods=30, freq="W", tz="UTC"), 52.0),
    (pd.date_range("2024-01-01", periods=30, freq="MS", tz="UTC"), 12.0),
    # 30 hours without a break: no exchange session is that long, so 24/7: 365 x 24
    (pd.date_range("2024-01-02 14:30", periods=30, freq="h", tz="UTC"), 8760.0),
    # within one 6.5-hour session: trading days
    (pd.date_range("2024-01-02 14:30", periods=6, freq="h", tz="UTC"), 1638.0),  # 252 x 6.5
    (pd.date_range("2024-01-02 14:30", periods=30, freq="5min", tz="UTC"), 19656.0),  # x 78
    (pd.date_range("2024-01-02 14:30", periods=30, freq="min", tz="UTC"), 98280.0),  # x 390
])
def test_infer_periods_per_year(index, expected):
    # Act
    periods = infer_periods_per_year(index)

    # Assert
    assert periods == pytest.approx(expected, **RATIO)


def test_infer_periods_per_year_needs_two_timestamps():
    with pytest.raises(ValueError, match="at least 2"):
        infer_periods_per_year(DAILY[:1])


def test_buy_and_hold_uses_each_symbols_first_and_last_price():
    # Arrange: the second symbol lists on bar 1 and has a gap
    close = np.array([[10.0, np.nan], [11.0, 20.0], [12.0, np.nan], [15.0, 25.0]])

    # Act
    result = buy_and_hold_return(close)

    # Assert: (15/10 - 1 + 25/20 - 1) / 2 = (0.5 + 0.25) / 2
    assert result == pytest.approx(0.375, **RATIO)


def test_buy_and_hold_equity_is_cash_split_equally_at_the_first_close_and_held():
    close = np.array([[10.0, 20.0], [12.0, 30.0], [8.0, 10.0]])

    line = buy_and_hold_equity(close, np.array([0, 2, 1]), 1000.0)

    # 500 into each at bar 0: 50 and 25 shares; bar 2: 50*8 + 25*10, bar 1: 50*12 + 25*30
    np.testing.assert_allclose(line, [1000.0, 650.0, 1350.0], rtol=1e-12)
    np.testing.assert_allclose(buy_and_hold_equity(close, slice(1, 3), 1000.0), [1350.0, 650.0])


@pytest.mark.parametrize(("call", "message"), [
    (lambda: compute_stats(EQUITY_1.iloc[:0]), "equity is empty"),
    (lambda: compute_stats(EQUITY_1.to_numpy()), "DatetimeIndex"),
    (lambda: compute_stats(EQUITY_1.iloc[::-1]), "strictly increasing"),
    (lambda: compute_stats(EQUITY_1.where(EQUITY_1 != 9900.0)), r"2024-01-03.*bar 2"),
    (lambda: compute_stats(EQUITY_1 - 10000.0), "starting capital must be positive"),
    (lambda: compute_stats(EQUITY_1, invested=[True, False]), "invested has 2 values for 6"),
    (lambda: compute_stats(EQUITY_1, TRADES_1.drop(columns="fee")), r"missing column.*fee"),
    (lambda: compute_stats(EQUITY_1, TRADES_1.assign(action="close")), "trades row 0: action"),
    (lambda: compute_stats(EQUITY_1, TRADES_1.assign(pnl=np.nan)), "trades row 1: an exit"),
    (lambda: compute_stats(EQUITY_1, periods_per_year=0), "periods_per_year"),
    (lambda: buy_and_hold_return(np.array([[1.0, np.nan]])), "close column 1"),
    (lambda: RunningStats(0.0, DAILY[0], 252), "start_equity"),
])
def test_bad_input_names_what_is_wrong(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_running_stats_rejects_time_that_does_not_advance():
    # Arrange
    running = RunningStats(100.0, DAILY[1], 252)

    # Act / Assert
    with pytest.raises(ValueError, match="not after the previous bar"):
        running.update(DAILY[1], 101.0, invested=False)


def test_running_stats_rejects_naive_time_after_a_utc_start():
    # Arrange
    running = RunningStats(100.0, DAILY[0], 252)

    # Act / Assert
    with pytest.raises(ValueError, match="use UTC throughout"):
        running.update(pd.Timestamp("2024-01-02"), 101.0, invested=False)


# --- RunningStats == compute_stats --------------------------------------------

def _assert_same(snapshot: dict, stats: pd.Series) -> None:
    assert list(snapshot) == list(stats.index)
    for key, expected in stats.items():
        got = snapshot[key]
        if isinstance(expected, float):
            if math.isnan(expected):
                assert math.isnan(got), key
            else:
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-9), key
        else:
            assert got == expected, key


def test_running_stats_match_the_hand_worked_example_at_every_bar():
    # Arrange
    periods = 252.0
    running = RunningStats(EQUITY_1.iloc[0], DAILY[0], periods)
    fills_at = TRADES_1.groupby("time")

    # Act / Assert
    for bar in range(1, len(EQUITY_1)):
        time = DAILY[bar]
        fills = fills_at.get_group(time) if time in fills_at.groups else TRADES_1.iloc[:0]
        running.update(time, EQUITY_1.iloc[bar], INVESTED_1[bar], fees=fills["fee"].sum(),
                       closed_pnls=fills["pnl"].dropna().tolist())
        expected = compute_stats(EQUITY_1.iloc[:bar + 1], TRADES_1[TRADES_1["time"] <= time],
                                 INVESTED_1[:bar + 1], periods_per_year=periods)
        _assert_same(running.snapshot(), expected)


def test_running_stats_after_bankruptcy_match_compute_stats():
    # Arrange
    equity = pd.Series([100.0, 50.0, 0.0, 0.0, 10.0, 5.0], index=DAILY)
    running = RunningStats(100.0, DAILY[0], 252)

    # Act
    for time, value in equity.iloc[1:].items():
        running.update(time, value, invested=True)

    # Assert
    _assert_same(running.snapshot(), compute_stats(equity, invested=[False] + [True] * 5,
                                                   periods_per_year=252))


@st.composite
def histories(draw):
    """Random equity path (returns in whole basis points), fills and flags."""
    n = draw(st.integers(min_value=1, max_value=40))
    steps = draw(st.lists(st.integers(min_value=1, max_value=5 * 24 * 60), min_size=n, max_size=n))
    times = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.cumsum(steps), unit="min")
    bps = draw(st.lists(st.integers(min_value=-2000, max_value=2000), min_size=n - 1,
                        max_size=n - 1))
    start = draw(st.sampled_from([1000.0, 10000.0, 123456.78]))
    equity = start * np.cumprod(np.r_[1.0, 1.0 + np.array(bps, dtype=float) / 1e4])
    invested = [False] + draw(st.lists(st.booleans(), min_size=n - 1, max_size=n - 1))
    cents = st.integers(min_value=-100_000, max_value=100_000).map(lambda c: c / 100)
    fees = st.integers(min_value=0, max_value=500).map(lambda c: c / 100)
    rows = []
    for bar in range(1, n):
        for pnl in draw(st.lists(cents, max_size=3)):
            rows.append((times[bar], "exit", pnl, draw(fees)))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            rows.append((times[bar], "entry", np.nan, draw(fees)))
    trades = pd.DataFrame(rows, columns=["time", "action", "pnl", "fee"])
    periods = draw(st.sampled_from([252.0, 52.0, 12.0, 1638.0, 98280.0]))
    risk_free = draw(st.sampled_from([0.0, 0.03, -0.01]))
    cuts = sorted(set(draw(st.lists(st.integers(min_value=1, max_value=n), min_size=1,
                                    max_size=4))) | {n})
    return pd.Series(equity, index=times), trades, invested, periods, risk_free, cuts


@settings(max_examples=150, deadline=None)
@given(histories())
def test_running_stats_equal_compute_stats_at_every_cut(history):
    # Arrange
    equity, trades, invested, periods, risk_free, cuts = history
    running = RunningStats(equity.iloc[0], equity.index[0], periods, risk_free=risk_free)
    snapshots = {}
    if 1 in cuts:
        snapshots[1] = running.snapshot()

    # Act
    for bar in range(1, len(equity)):
        time = equity.index[bar]
        fills = trades[trades["time"] == time]
        running.update(time, equity.iloc[bar], invested[bar], fees=fills["fee"].sum(),
                       closed_pnls=fills["pnl"].dropna().tolist())
        if bar + 1 in cuts:
            snapshots[bar + 1] = running.snapshot()

    # Assert
    for cut, snapshot in snapshots.items():
        expected = compute_stats(equity.iloc[:cut], trades[trades["time"] <= equity.index[cut - 1]],
                                 invested[:cut], periods_per_year=periods, risk_free=risk_free)
        _assert_same(snapshot, expected)


@settings(max_examples=150, deadline=None)
@given(histories())
def test_running_stats_in_blocks_equal_compute_stats_at_every_cut(history):
    # Arrange: the engine's fast path feeds whole blocks through update_many
    equity, trades, invested, periods, risk_free, cuts = history
    running = RunningStats(equity.iloc[0], equity.index[0], periods, risk_free=risk_free)
    bounds = [1] + cuts

    # Act / Assert
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi <= lo:
            continue
        times = equity.index[lo:hi]
        block = trades[trades["time"].isin(times)]
        fees = block.groupby("time")["fee"].sum().reindex(times, fill_value=0.0).to_numpy()
        pnls = {int(times.get_loc(t)): g["pnl"].dropna().tolist()
                for t, g in block.groupby("time")}
        running.update_many(times.tz_localize(None).to_numpy(), equity.iloc[lo:hi].to_numpy(),
                            np.asarray(invested[lo:hi]), fees, pnls)
        expected = compute_stats(equity.iloc[:hi], trades[trades["time"] <= equity.index[hi - 1]],
                                 invested[:hi], periods_per_year=periods, risk_free=risk_free)
        _assert_same(running.snapshot(), expected)


def test_running_stats_state_round_trips_through_json_and_continues_the_same():
    import json

    # Arrange: a few bars with a drawdown, fees and closed trades
    times = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    equity = [100.0, 104.0, 99.0, 101.0, 97.0, 108.0]
    live = RunningStats(equity[0], times[0], periods_per_year=252)
    for t, e, pnl in zip(times[1:4], equity[1:4], [(), (3.0,), (-1.5,)], strict=True):
        live.update(t, e, True, 0.25, pnl)

    # Act
    copy = RunningStats.from_state(json.loads(json.dumps(live.state())))
    for stats in (live, copy):
        stats.update(times[4], equity[4], False, 0.0, (2.0,))
        stats.update(times[5], equity[5], True, 0.5, ())

    # Assert
    a, b = live.snapshot(benchmark=0.1), copy.snapshot(benchmark=0.1)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key] or (a[key] != a[key] and b[key] != b[key]), key


def test_running_stats_closed_trades_added_at_once_match_per_bar_and_a_hand_count():
    times = pd.date_range("2024-01-02", periods=4, freq="D", tz="UTC")
    equity, invested = np.array([100.0, 101.0, 99.0]), np.array([True, True, False])
    per_bar = RunningStats(100.0, times[0], 252)
    per_bar.update_many(times[1:].tz_localize(None).to_numpy(), equity, invested,
                        np.array([0.1, 0.2, 0.0]), {0: [1.5, -2.0], 2: [3.0, 0.0]})
    at_once = RunningStats(100.0, times[0], 252)
    at_once.update_many(times[1:].tz_localize(None).to_numpy(), equity, invested,
                        np.array([0.1, 0.2, 0.0]))
    at_once.add_closed_trades([1.5, -2.0, 3.0, 0.0])
    at_once.add_closed_trades([])
    a, b = per_bar.snapshot(), at_once.snapshot()
    assert a == b or all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)
    # by hand: 4 trades, 2 winners (1.5 and 3.0), profit 4.5, loss -2.0, 0.0 neither
    assert b["trades"] == 4 and b["win_rate_pct"] == 50.0
    assert b["profit_factor"] == 4.5 / 2.0 and b["avg_trade"] == 2.5 / 4
    assert b["best_trade"] == 3.0 and b["worst_trade"] == -2.0
    with pytest.raises(ValueError, match="finite"):
        at_once.add_closed_trades([1.0, math.nan])


# --- the tear sheet's statistics (skew ... positive months) -------------------
# Eight daily returns from 2024-01-28: four in January, four in February.
R_8 = [0.02, -0.01, 0.03, -0.04, 0.01, 0.09, -0.02, 0.00]
DAYS_8 = pd.date_range("2024-01-27", periods=9, freq="D", tz="UTC")
EQUITY_8 = pd.Series(100.0 * np.cumprod([1.0, *(1.0 + np.array(R_8))]), index=DAYS_8)


def test_tear_sheet_statistics_by_hand():
    from arena.analysis import risk

    stats = compute_stats(EQUITY_8, periods_per_year=252)
    # mean 0.01; central sums of d = r - 0.01: d^2 0.0108, d^3 360e-6, d^4 4836e-8 (n = 8)
    # skew G1 = sqrt(56) / 6 * (45e-6 / 0.00135^1.5); kurtosis G2 = 7/30 * 239/27 = 1673/810
    assert stats["skew"] == pytest.approx(1.1315001715940345, **RATIO)
    assert stats["kurtosis"] == pytest.approx(1673 / 810, **RATIO)
    # omega: gains 0.15 / losses 0.07; kelly = 0.01 / (0.0108 / 7) = 175 / 27
    assert stats["omega"] == pytest.approx(15 / 7, **RATIO)
    assert stats["kelly"] == pytest.approx(175 / 27, **RATIO)
    # equity 100 102 100.98 104.0094 99.849024 100.84751424 109.9237905216 107.7253... x2
    # drawdowns % 0 0 -1 0 -4 -3.04 0 -2 -2: mean of squares (1 + 16 + 9.2416 + 4 + 4) / 9
    assert stats["ulcer_index"] == pytest.approx(math.sqrt(34.2416 / 9), **RATIO)
    # total return 7.725314711168 % / max drawdown 4 %
    assert stats["recovery_factor"] == pytest.approx(0.07725314711168 / 0.04, **RATIO)
    # January: 1.02 * 0.99 * 1.03 * 0.96 - 1 = -0.150976 %; February: 1.01 * 1.09 * 0.98 - 1
    # = 7.8882 %; one month of two is up
    assert stats["best_month_pct"] == pytest.approx(7.8882, **RATIO)
    assert stats["worst_month_pct"] == pytest.approx(-0.150976, **RATIO)
    assert stats["positive_months_pct"] == 50.0
    # the same numbers from arena.analysis.risk's own definitions
    r = risk.returns_of(EQUITY_8)
    for key, value in [("skew", risk.skew(r)), ("kurtosis", risk.kurtosis(r)),
                       ("omega", risk.omega(r)), ("kelly", risk.kelly_fraction(r)),
                       ("ulcer_index", risk.ulcer_index(EQUITY_8)),
                       ("recovery_factor", risk.recovery_factor(EQUITY_8)),
                       ("best_month_pct", 100 * risk.monthly_returns(EQUITY_8).max())]:
        assert stats[key] == pytest.approx(value, **RATIO), key


def test_tear_sheet_statistics_running_per_bar_and_in_blocks_match():
    per_bar = RunningStats(100.0, DAYS_8[0], 252)
    blocks = RunningStats(100.0, DAYS_8[0], 252)
    for bar in range(1, 9):
        per_bar.update(DAYS_8[bar], EQUITY_8.iloc[bar], invested=False)
        expected = compute_stats(EQUITY_8.iloc[:bar + 1], invested=[False] * (bar + 1),
                                 periods_per_year=252)
        _assert_same(per_bar.snapshot(), expected)
    for lo, hi in [(1, 3), (3, 4), (4, 9)]:  # blocks crossing the month boundary
        blocks.update_many(DAYS_8[lo:hi].tz_localize(None).to_numpy(),
                           EQUITY_8.iloc[lo:hi].to_numpy(), np.zeros(hi - lo, bool))
    _assert_same(blocks.snapshot(), compute_stats(EQUITY_8, invested=[False] * 9,
                                                  periods_per_year=252))


def test_running_stats_from_a_state_saved_before_the_tear_sheet_statistics():
    live = RunningStats(100.0, DAYS_8[0], 252)
    for bar in range(1, 5):
        live.update(DAYS_8[bar], EQUITY_8.iloc[bar], invested=False)
    new = ("_extra_ok", "_m3", "_m4", "_gain", "_loss", "_drawdown_sq", "_month", "_next_month_ns",
           "_month_base", "_months", "_months_up", "_best_month", "_worst_month")
    old = {k: v for k, v in live.state().items() if k not in new}

    resumed = RunningStats.from_state(old)
    resumed.update(DAYS_8[5], EQUITY_8.iloc[5], invested=False)

    got = resumed.snapshot()
    expected = compute_stats(EQUITY_8.iloc[:6], invested=[False] * 6, periods_per_year=252)
    for key in STAT_KEYS:  # the old statistics continue; the new ones are unknown (NaN)
        if key in ("skew", "kurtosis", "omega", "ulcer_index", "best_month_pct",
                   "worst_month_pct", "positive_months_pct"):
            assert math.isnan(got[key]), key
        elif isinstance(expected[key], float):
            assert got[key] == pytest.approx(expected[key], rel=1e-9, nan_ok=True), key
        else:
            assert got[key] == expected[key], key


def test_months_before_and_after_1970_running_and_from_scratch_agree():
    # month numbers count from 1970-01, so December 1969 is month -1
    times = pd.DatetimeIndex(["1969-11-30", "1969-12-15", "1969-12-31", "1970-01-02"], tz="UTC")
    equity = pd.Series([100.0, 90.0, 99.0, 108.9], index=times)
    stats = compute_stats(equity, periods_per_year=52)
    # December: 99 / 100 - 1 = -1 %; January: 108.9 / 99 - 1 = +10 %
    assert stats["worst_month_pct"] == pytest.approx(-1.0, **RATIO)
    assert stats["best_month_pct"] == pytest.approx(10.0, **RATIO)
    assert stats["positive_months_pct"] == 50.0
    per_bar, block = RunningStats(100.0, times[0], 52), RunningStats(100.0, times[0], 52)
    for t, e in equity.iloc[1:].items():
        per_bar.update(t, e, invested=False)
    block.update_many(times[1:].tz_localize(None).to_numpy(), equity.iloc[1:].to_numpy(),
                      np.zeros(3, bool))
    for running in (per_bar, block):
        snap = running.snapshot()
        for key in ("best_month_pct", "worst_month_pct", "positive_months_pct"):
            assert snap[key] == pytest.approx(stats[key], **RATIO), key

"""Tear-sheet tables against hand-worked examples and against arena.metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from arena.analysis.tables import (
    MONTHS,
    drawdown_periods,
    monthly_returns,
    return_correlations,
    rolling_stats,
    underwater,
    yearly_returns,
)
from arena.metrics import compute_stats


def series(values, times) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=pd.DatetimeIndex(times, tz="UTC"))


def daily(values, start="2024-01-01") -> pd.Series:
    return series(values, pd.date_range(start, periods=len(values), freq="D"))


def random_walk(n=700, seed=3) -> pd.Series:
    rng = np.random.default_rng(seed)
    return daily(1000 * np.cumprod(1 + rng.normal(0.0004, 0.02, n)), "2023-03-17")


# -- monthly and yearly ---------------------------------------------------------------

def test_monthly_returns_by_hand():
    # Jan: 100 -> 110 (+10 %); Feb: 110 -> 99 -> 108.9 = 108.9/110 - 1 = -1 %;
    # 2025 Jan: 108.9 -> 119.79 = +10 %. 2024 total: 1.1 * 0.99 - 1 = 8.9 %.
    eq = series([100, 110, 99, 108.9, 119.79],
                ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-29", "2025-01-02"])
    table = monthly_returns(eq)
    assert list(table.columns) == [*MONTHS, "year"]
    assert list(table.index) == [2024, 2025]
    assert table.loc[2024, "Jan"] == pytest.approx(0.10)
    assert table.loc[2024, "Feb"] == pytest.approx(-0.01)
    assert table.loc[2024, MONTHS[2:]].isna().all()
    assert table.loc[2024, "year"] == pytest.approx(0.089)
    assert table.loc[2025, "Jan"] == pytest.approx(0.10)
    assert table.loc[2025, "year"] == pytest.approx(0.10)


def test_monthly_returns_compound_to_the_total_return():
    eq = random_walk()
    table = monthly_returns(eq)
    total = eq.iloc[-1] / eq.iloc[0] - 1
    months = table[list(MONTHS)].stack().dropna()  # months without bars dropped
    assert len(months) == 24  # 2023-03 .. 2025-02
    assert np.prod(1 + months.to_numpy()) - 1 == pytest.approx(total, rel=1e-10)
    assert np.prod(1 + table["year"].to_numpy()) - 1 == pytest.approx(total, rel=1e-10)
    # a month is its last equity over the previous month's last equity
    assert table.loc[2024, "Jul"] == pytest.approx(eq["2024-07"].iloc[-1] / eq["2024-06"].iloc[-1] - 1)


def test_yearly_returns_with_benchmark():
    eq = series([100, 110, 99, 108.9, 119.79],
                ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-29", "2025-01-02"])
    bench = eq * 0 + [100, 100, 105, 105, 84]  # 2024: +5 %; 2025: 84/105 - 1 = -20 %
    table = yearly_returns(eq, bench)
    assert list(table.columns) == ["equity", "benchmark"]
    np.testing.assert_allclose(table["equity"], [0.089, 0.10])
    np.testing.assert_allclose(table["benchmark"], [0.05, -0.20])
    assert list(yearly_returns(eq).columns) == ["equity"]


# -- drawdowns --------------------------------------------------------------------------

def test_underwater_by_hand():
    dd = underwater(daily([100, 120, 90, 120, 130, 117]))
    # 90/120 - 1 = -25 %, 117/130 - 1 = -10 %
    np.testing.assert_allclose(dd.to_numpy(), [0, 0, -0.25, 0, 0, -0.10])


DD_VALUES = [100, 120, 90, 96, 120, 130, 117, 125, 104, 140, 126]
DD_DAYS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20]  # the last bar comes 11 days later


def dd_equity():
    return series(DD_VALUES, pd.Timestamp("2024-01-01") + pd.to_timedelta(DD_DAYS, "D"))


def test_drawdown_periods_by_hand():
    table = drawdown_periods(dd_equity())
    day = lambda d: pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=d)  # noqa: E731
    # A: peak 120 at bar 1, trough 90 at bar 2 (-25 %), back at 120 on bar 4: 3 bars
    # B: peak 130 at bar 5, trough 104 at bar 8 (-20 %), back above on bar 9: 4 bars
    # C: peak 140 at bar 9, 126 at bar 10 (-10 %), never back: runs to the last bar
    assert list(table["start"]) == [day(1), day(5), day(9)]
    assert list(table["trough"]) == [day(2), day(8), day(20)]
    assert list(table["recovery"][:2]) == [day(4), day(9)]
    assert pd.isna(table["recovery"].iloc[2])
    np.testing.assert_allclose(table["depth"], [-0.25, -0.20, -0.10])
    assert list(table["bars"]) == [3, 4, 1]
    assert list(table["length"]) == [pd.Timedelta(days=3), pd.Timedelta(days=4),
                                      pd.Timedelta(days=11)]
    assert len(drawdown_periods(dd_equity(), top=2)) == 2


def test_drawdown_periods_agree_with_compute_stats():
    for eq in (dd_equity(), random_walk(), random_walk(300, seed=9)):
        stats = compute_stats(eq, periods_per_year=365)
        table = drawdown_periods(eq, top=None)
        assert table["depth"].iloc[0] * 100 == pytest.approx(stats["max_drawdown_pct"])
        assert table["depth"].min() == table["depth"].iloc[0]
        longest = table.loc[table["length"].idxmax()]
        assert longest["length"] == stats["max_drawdown_duration"]
        assert table["bars"].max() == stats["max_drawdown_bars"]
    # the hand example: the longest in time (C, 11 days) is not the longest in bars (B, 4)
    stats = compute_stats(dd_equity(), periods_per_year=365)
    assert stats["max_drawdown_duration"] == pd.Timedelta(days=11)
    assert stats["max_drawdown_bars"] == 4


def test_drawdown_periods_of_a_rising_curve_is_empty():
    table = drawdown_periods(daily([100, 101, 101, 102]))
    assert table.empty
    assert list(table.columns) == ["start", "trough", "recovery", "depth", "length", "bars"]


# -- rolling statistics -----------------------------------------------------------------

def test_rolling_stats_by_hand():
    r = [0.10, -0.02, 0.04, 0.01]
    rb = [0.05, -0.01, 0.02, 0.005]  # the last three are half of r's: beta 2
    eq = daily(100 * np.cumprod([1, *(1 + np.array(r))]))
    bench = daily(100 * np.cumprod([1, *(1 + np.array(rb))]))
    out = rolling_stats(eq, 3, bench, periods_per_year=252)
    assert out.index.equals(eq.index)
    assert out.iloc[:3].isna().all().all()
    # last window: -0.02, 0.04, 0.01: mean 0.01, deviations -0.03, 0.03, 0,
    # sample variance 0.0018 / 2 = 0.0009, std 0.03
    last = out.iloc[-1]
    assert last["sharpe"] == pytest.approx(0.01 / 0.03 * math.sqrt(252))
    assert last["volatility"] == pytest.approx(0.03 * math.sqrt(252))
    assert last["beta"] == pytest.approx(2.0)
    assert rolling_stats(eq, 3, periods_per_year=252)["beta"].isna().all()


def test_rolling_stats_last_row_is_compute_stats_of_the_window():
    eq = random_walk(200)
    out = rolling_stats(eq, 30, risk_free=0.03)
    stats = compute_stats(eq.iloc[-31:], risk_free=0.03, periods_per_year=365)
    assert out["sharpe"].iloc[-1] == pytest.approx(stats["sharpe"], rel=1e-9)
    assert out["volatility"].iloc[-1] * 100 == pytest.approx(stats["volatility_ann_pct"], rel=1e-9)
    assert out["sharpe"].iloc[:30].isna().all() and out["sharpe"].iloc[30:].notna().all()


def test_rolling_stats_bad_input():
    eq = daily([100, 101, 102])
    with pytest.raises(ValueError, match="window"):
        rolling_stats(eq, 1, periods_per_year=252)
    with pytest.raises(ValueError, match="same timestamps"):
        rolling_stats(eq, 2, daily([1, 2, 3], "2020-01-01"), periods_per_year=252)


# -- correlations and bad input -----------------------------------------------------------

def test_return_correlations_by_hand():
    frame = pd.DataFrame({
        "a": [100, 110, 99, 108.9],        # r: +10 %, -10 %, +10 %
        "b": [100, 90, 99, 89.1],          # r: -10 %, +10 %, -10 %
        "c": [100, 102, 102, 103.02],      # r: +2 %, 0, +1 %
    }, index=pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC"))
    corr = return_correlations(frame)
    assert corr.loc["a", "b"] == pytest.approx(-1.0)
    # centred: a = (1, -2, 1) / 15, c = (1, -1, 0) / 100: 3 / (√6 √2) = √3 / 2
    assert corr.loc["a", "c"] == pytest.approx(math.sqrt(3) / 2)
    assert corr.loc["c", "b"] == pytest.approx(-math.sqrt(3) / 2)
    np.testing.assert_allclose(np.diag(corr), 1.0)


def test_bad_equity_is_a_clear_error():
    with pytest.raises(TypeError, match="equity must be a pandas Series"):
        monthly_returns([100, 101])
    with pytest.raises(ValueError, match="must be finite"):
        underwater(daily([100, np.nan, 101]))
    with pytest.raises(ValueError, match="at or below zero"):
        monthly_returns(daily([100, 0, 101]))
    with pytest.raises(ValueError, match="top"):
        drawdown_periods(daily([100, 90]), top=0)

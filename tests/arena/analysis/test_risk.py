"""arena.analysis.risk: each statistic against a hand-worked example, and the moments
against scipy's and pandas' independent definitions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.analysis import risk

pytestmark = pytest.mark.filterwarnings("error")
EXACT = {"rel": 1e-9, "abs": 1e-12}

# Eight per-bar returns; sorted: -0.04 -0.02 -0.01 0.00 0.01 0.02 0.03 0.09.
R = np.array([0.02, -0.01, 0.03, -0.04, 0.01, 0.09, -0.02, 0.00])
# mean = (0.15 - 0.07) / 8 = 0.01; deviations d = 0.01 -0.02 0.02 -0.05 0 0.08 -0.03 -0.01
# sum d^2 = (1 + 4 + 4 + 25 + 0 + 64 + 9 + 1)e-4 = 0.0108
# sum d^3 = (1 - 8 + 8 - 125 + 0 + 512 - 27 - 1)e-6 = 360e-6
# sum d^4 = (1 + 16 + 16 + 625 + 0 + 4096 + 81 + 1)e-8 = 4836e-8
B = np.array([0.01, 0.00, 0.02, -0.02, 0.01, 0.04, -0.01, 0.01])
# benchmark: mean 0.06 / 8 = 0.0075; deviations 0.0025 -0.0075 0.0125 -0.0275 0.0025
# 0.0325 -0.0175 0.0025


def test_var_and_cvar_are_historical_linear_quantiles_as_positive_losses():
    # 5 % quantile: position 0.05 * (8 - 1) = 0.35 between -0.04 and -0.02:
    # -0.04 + 0.35 * 0.02 = -0.033 -> VaR 0.033; returns <= -0.033: only -0.04 -> CVaR 0.04
    assert risk.var(R) == pytest.approx(0.033, **EXACT)
    assert risk.cvar(R) == pytest.approx(0.04, **EXACT)
    # 25 %: position 1.75 between -0.02 and -0.01: -0.02 + 0.75 * 0.01 = -0.0125;
    # returns <= -0.0125: -0.04, -0.02 -> mean -0.03
    assert risk.var(R, level=0.75) == pytest.approx(0.0125, **EXACT)
    assert risk.cvar(R, level=0.75) == pytest.approx(0.03, **EXACT)
    # independent: pandas' quantile (linear) of the same series
    assert risk.var(R) == pytest.approx(-pd.Series(R).quantile(0.05), **EXACT)


def test_omega_tail_ratio_and_kelly_by_hand():
    # omega: gains 0.02 + 0.03 + 0.01 + 0.09 = 0.15; losses 0.01 + 0.04 + 0.02 = 0.07
    assert risk.omega(R) == pytest.approx(15 / 7, **EXACT)
    # threshold 0.01 (r - 0.01 = the deviations d): gains 0.01 + 0.02 + 0.08 = 0.11;
    # losses 0.02 + 0.05 + 0.03 + 0.01 = 0.11 -> 1 (at the mean, Omega is always 1)
    assert risk.omega(R, threshold=0.01) == pytest.approx(1.0, **EXACT)
    # 95 % quantile: position 6.65 between 0.03 and 0.09: 0.03 + 0.65 * 0.06 = 0.069;
    # tail ratio = 0.069 / 0.033 = 23 / 11
    assert risk.tail_ratio(R) == pytest.approx(23 / 11, **EXACT)
    # kelly = mean / sample variance = 0.01 / (0.0108 / 7) = 175 / 27
    assert risk.kelly_fraction(R) == pytest.approx(175 / 27, **EXACT)
    # with a per-bar risk-free of 0.001: 0.009 / (0.0108 / 7) = 35 / 6
    assert risk.kelly_fraction(R, 0.001) == pytest.approx(35 / 6, **EXACT)


def test_skew_and_kurtosis_by_hand_and_against_scipy_and_pandas():
    # m2 = 0.0108 / 8 = 0.00135, m3 = 360e-6 / 8 = 45e-6, m4 = 4836e-8 / 8 = 6.045e-6
    # G1 = sqrt(8 * 7) / 6 * 45e-6 / 0.00135^1.5 = 1.1315001715940345
    assert risk.skew(R) == pytest.approx(1.1315001715940345, **EXACT)
    # m4 / m2^2 = 6.045e-6 / 1.8225e-6 = 806 / 243; G2 = 7 / (6 * 5) * (9 * 806 / 243 - 21)
    # = 7 / 30 * 239 / 27 = 1673 / 810
    assert risk.kurtosis(R) == pytest.approx(1673 / 810, **EXACT)
    assert risk.skew(R) == pytest.approx(scipy.stats.skew(R, bias=False), **EXACT)
    assert risk.kurtosis(R) == pytest.approx(scipy.stats.kurtosis(R, bias=False), **EXACT)
    assert risk.skew(R) == pytest.approx(pd.Series(R).skew(), **EXACT)
    assert risk.kurtosis(R) == pytest.approx(pd.Series(R).kurt(), **EXACT)


def test_beta_and_alpha_by_hand():
    # cov sum = 0.01*0.0025 + 0.02*0.0075 + 0.02*0.0125 + 0.05*0.0275 + 0 + 0.08*0.0325
    #           + 0.03*0.0175 - 0.01*0.0025 = 0.0049; var sum of b = 0.00235
    # beta = 0.0049 / 0.00235 = 98 / 47; alpha = (0.01 - 98/47 * 0.0075) * 252 = -66.78 / 47
    beta, alpha = risk.beta_alpha(R, B, 252)
    assert beta == pytest.approx(98 / 47, **EXACT)
    assert alpha == pytest.approx(-66.78 / 47, **EXACT)
    # independent: numpy's least-squares slope of r on b
    assert beta == pytest.approx(np.polyfit(B, R, 1)[0], **EXACT)


# Six bars across three months, a 20 % drawdown, a flat February.
MONTHS = pd.DatetimeIndex(["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-15",
                           "2024-02-29", "2024-03-01"], tz="UTC")
EQUITY = pd.Series([100.0, 110.0, 99.0, 88.0, 110.0, 104.5], index=MONTHS)


def test_ulcer_index_recovery_factor_and_months_by_hand():
    # peaks 100 110 110 110 110 110; drawdowns % 0 0 -10 -20 0 -5
    # mean of squares over 6 bars = (100 + 400 + 25) / 6 = 87.5
    assert risk.ulcer_index(EQUITY) == pytest.approx(math.sqrt(87.5), **EXACT)
    # total return 4.5 % over max drawdown 20 %
    assert risk.recovery_factor(EQUITY) == pytest.approx(0.225, **EXACT)
    # Jan: 110 / 100 - 1 = 10 %; Feb: 110 / 110 - 1 = 0; Mar: 104.5 / 110 - 1 = -5 %
    months = risk.monthly_returns(EQUITY)
    assert [str(p) for p in months.index] == ["2024-01", "2024-02", "2024-03"]
    assert months.to_numpy() == pytest.approx([0.10, 0.0, -0.05], **EXACT)
    # independent: compounding the bar returns per month with pandas
    by_month = (1 + risk.returns_of(EQUITY)).groupby(MONTHS[1:].tz_localize(None).to_period("M")).prod() - 1
    assert months.to_numpy() == pytest.approx(by_month.to_numpy(), **EXACT)


def test_months_are_utc_calendar_months():
    # 2024-01-31 20:00 in New York is 2024-02-01 01:00 UTC: a February bar
    times = pd.DatetimeIndex(["2024-01-30 12:00", "2024-01-31 12:00", "2024-01-31 20:00"],
                             tz="America/New_York")
    months = risk.monthly_returns(pd.Series([100.0, 105.0, 84.0], index=times))
    assert [str(p) for p in months.index] == ["2024-01", "2024-02"]
    assert months.to_numpy() == pytest.approx([0.05, -0.2], **EXACT)


def test_undefined_values_are_nan_and_bad_input_is_named():
    flat = np.zeros(5)
    assert math.isnan(risk.omega(np.array([0.01, 0.02])))  # no loss
    assert math.isnan(risk.skew(flat)) and math.isnan(risk.kurtosis(flat))
    assert math.isnan(risk.kelly_fraction(flat)) and math.isnan(risk.tail_ratio(flat))
    assert math.isnan(risk.skew(R[:2])) and math.isnan(risk.kurtosis(R[:3]))
    assert math.isnan(risk.var(np.empty(0))) and math.isnan(risk.cvar(np.empty(0)))
    assert math.isnan(risk.recovery_factor(pd.Series([1.0, 2.0], index=MONTHS[:2])))
    assert all(math.isnan(x) for x in risk.beta_alpha(R, np.full(8, 0.01), 252))
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        risk.var(R, level=95)
    with pytest.raises(ValueError, match="one benchmark return per bar"):
        risk.beta_alpha(R, B[:5], 252)
    with pytest.raises(ValueError, match="returns must be finite"):
        risk.omega(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="at or below zero"):
        risk.monthly_returns(pd.Series([100.0, 0.0, 5.0], index=MONTHS[:3]))


def test_tear_sheet_stats_add_the_history_statistics_to_compute_stats():
    from arena.metrics import STAT_KEYS, compute_stats

    days = pd.date_range("2024-01-27", periods=9, freq="D", tz="UTC")
    equity = pd.Series(100.0 * np.cumprod([1.0, *(1.0 + R)]), index=days)
    bench = pd.Series(50.0 * np.cumprod([1.0, *(1.0 + B)]), index=days)

    stats = risk.tear_sheet_stats(equity, benchmark_equity=bench, periods_per_year=252)

    assert list(stats.index) == [*STAT_KEYS, "var_pct", "cvar_pct", "tail_ratio", "beta",
                                 "alpha_ann_pct"]
    base = compute_stats(equity, periods_per_year=252, benchmark=bench.iloc[-1] / 50.0 - 1)
    assert stats[list(STAT_KEYS)].equals(base)
    # the hand-worked numbers above, from the equity's own returns
    assert stats["var_pct"] == pytest.approx(3.3, rel=1e-9)
    assert stats["cvar_pct"] == pytest.approx(4.0, rel=1e-9)
    assert stats["tail_ratio"] == pytest.approx(23 / 11, rel=1e-9)
    assert stats["beta"] == pytest.approx(98 / 47, rel=1e-9)
    assert stats["alpha_ann_pct"] == pytest.approx(-6678 / 47, rel=1e-9)
    # 75 % level: VaR 1.25 %, CVaR 3 %; without a benchmark beta and alpha are NaN
    at75 = risk.tear_sheet_stats(equity, var_level=0.75, periods_per_year=252)
    assert at75["var_pct"] == pytest.approx(1.25, rel=1e-9)
    assert at75["cvar_pct"] == pytest.approx(3.0, rel=1e-9)
    assert math.isnan(at75["beta"]) and math.isnan(at75["alpha_ann_pct"])
    with pytest.raises(ValueError, match="same index"):
        risk.tear_sheet_stats(equity, benchmark_equity=bench.iloc[1:])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=-2000, max_value=2000), min_size=1, max_size=60))
def test_leaderboard_moments_and_months_equal_the_series_definitions(bps):
    from arena.metrics import compute_stats

    r = np.array(bps, dtype=float) / 1e4
    times = pd.date_range("2024-01-20", periods=len(r) + 1, freq="3D", tz="UTC")
    equity = pd.Series(1000.0 * np.cumprod(np.r_[1.0, 1.0 + r]), index=times)
    stats = compute_stats(equity, periods_per_year=121.67)
    rets = risk.returns_of(equity).to_numpy()
    months = risk.monthly_returns(equity)
    flat = len(rets) < 2 or np.std(rets, ddof=1) < 1e-12  # NaN here; scipy has its own rules
    expected = {"skew": math.nan if flat or len(rets) < 3 else scipy.stats.skew(rets, bias=False),
                "kurtosis": (math.nan if flat or len(rets) < 4
                             else scipy.stats.kurtosis(rets, bias=False)),
                "omega": risk.omega(rets), "ulcer_index": risk.ulcer_index(equity),
                "best_month_pct": 100 * months.max(), "worst_month_pct": 100 * months.min(),
                "positive_months_pct": 100 * (months > 0).mean()}
    for key, value in expected.items():
        assert stats[key] == pytest.approx(value, rel=1e-7, abs=1e-9, nan_ok=True), key

"""Indicators against hand-worked values and independent pandas/numpy versions."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from arena.agents import indicators as ind

RNG = np.random.default_rng(11)
PRICES = 100 * np.exp(np.cumsum(RNG.normal(0.0, 0.02, (300, 3)), axis=0))
ONE = PRICES[:, 0]

# StockCharts' RSI example (ChartSchool), 16 closes.
RSI_CLOSES = [44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42,
              45.84, 46.08, 45.89, 46.03, 45.61, 46.28, 46.28, 46.00]

price_paths = st.lists(
    st.floats(min_value=1.0, max_value=1000.0, allow_nan=False), min_size=2, max_size=80
).map(np.array)


# -- hand-worked ---------------------------------------------------------------


def test_rsi_matches_hand_computed_wilder_values():
    # Changes 1..14: -0.25 +0.06 -0.54 +0.72 +0.50 +0.27 +0.32 +0.42 +0.24 -0.19
    #                +0.14 -0.42 +0.67 0.00   → gains 3.34, losses 1.40
    # bar 14: avg gain 3.34/14 = 0.238571, avg loss 1.40/14 = 0.1
    #         RSI = 100 − 100/(1 + 2.385714) = 70.464135
    # bar 15: change −0.28 → avg gain 0.238571·13/14 = 0.221531,
    #         avg loss (0.1·13 + 0.28)/14 = 0.112857 → RSI = 66.249619
    out = ind.rsi(np.array(RSI_CLOSES), 14)

    assert np.isnan(out[:14]).all()
    assert out[14] == pytest.approx(70.464135021097, abs=1e-9)
    assert out[15] == pytest.approx(66.249618553555, abs=1e-9)


def test_rsi_edge_values_all_gains_and_no_movement():
    rising = np.arange(1.0, 11.0)
    flat = np.full(10, 5.0)

    assert ind.rsi(rising, 3)[3:].tolist() == [100.0] * 7
    assert ind.rsi(flat, 3)[3:].tolist() == [50.0] * 7


def test_sma_hand_worked():
    # SMA3 of 1, 2, 4, 8, 16: (1+2+4)/3, (2+4+8)/3, (4+8+16)/3
    out = ind.sma(np.array([1.0, 2.0, 4.0, 8.0, 16.0]), 3)

    np.testing.assert_allclose(out, [np.nan, np.nan, 7 / 3, 14 / 3, 28 / 3])


def test_ema_hand_worked():
    # span 3 → alpha 0.5, seeded with the first value, NaN until 3 values seen:
    # 2, 0.5·4 + 0.5·2 = 3, 0.5·8 + 0.5·3 = 5.5, 0.5·0 + 0.5·5.5 = 2.75
    out = ind.ema(np.array([2.0, 4.0, 8.0, 0.0]), 3)

    np.testing.assert_array_equal(out, [np.nan, np.nan, 5.5, 2.75])


def test_cross_above_and_below_hand_worked():
    a = np.array([1.0, 3.0, 3.0, 1.0, 2.0, 4.0, np.nan, 4.0])
    b = np.array([2.0, 2.0, 3.0, 2.0, 2.0, 3.0, 3.0, 3.0])
    # bar 1: 1 < 2 then 3 > 2 → cross above. Bar 2 touches (3 = 3), so the drop at
    # bar 3 (1 < 2) is no strict cross below; bar 4 touches (2 = 2), so the rise at
    # bar 5 is no cross above; the NaN at bar 6 blocks bars 6 and 7.

    assert np.flatnonzero(ind.cross_above(a, b)).tolist() == [1]
    assert np.flatnonzero(ind.cross_below(a, b)).tolist() == []
    assert np.flatnonzero(ind.cross_below(b, a)).tolist() == [1]


def test_zscore_hand_worked_and_flat_window():
    # window 2, 4: mean 3, population std 1 → z = (4 − 3)/1 = 1
    out = ind.zscore(np.array([2.0, 4.0, 4.0]), 2)

    assert np.isnan(out[0])
    assert out[1] == 1.0
    assert out[2] == 0.0  # flat window: z is 0, not NaN


# -- against independent implementations ---------------------------------------


def test_sma_equals_backtesting_and_window_means():
    from backtesting.test import SMA

    out = ind.sma(ONE, 10)

    np.testing.assert_array_equal(out, SMA(ONE, 10).to_numpy())
    np.testing.assert_allclose(out[9:], sliding_window_view(ONE, 10).mean(axis=1), rtol=1e-12)


@pytest.mark.parametrize("ddof", [0, 1])
def test_rolling_std_equals_numpy_per_window(ddof):
    out = ind.rolling_std(PRICES, 15, ddof=ddof)

    expected = sliding_window_view(PRICES, 15, axis=0).std(axis=-1, ddof=ddof)
    assert np.isnan(out[:14]).all()
    np.testing.assert_allclose(out[14:], expected, rtol=1e-9)


def test_zscore_equals_pandas_formula():
    s = pd.DataFrame(PRICES)
    expected = (s - s.rolling(20).mean()) / s.rolling(20).std(ddof=0)

    np.testing.assert_allclose(ind.zscore(PRICES, 20), expected.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("span", [1, 5, 26])
def test_ema_equals_pandas_ewm(span):
    expected = pd.DataFrame(PRICES).ewm(span=span, adjust=False, min_periods=span).mean()

    np.testing.assert_allclose(ind.ema(PRICES, span), expected.to_numpy(), rtol=1e-12)


def test_ema_skips_leading_nans_like_pandas():
    x = np.r_[np.full(7, np.nan), ONE[:50]]
    expected = pd.Series(x).ewm(span=9, adjust=False, min_periods=9).mean()

    np.testing.assert_allclose(ind.ema(x, 9), expected.to_numpy(), rtol=1e-12)


def test_macd_equals_pandas_ewm_composition():
    s = pd.Series(ONE)

    def ewm(x, n):
        return x.ewm(span=n, adjust=False, min_periods=n).mean()

    line = ewm(s, 12) - ewm(s, 26)
    sig = ewm(line, 9)

    got_line, got_sig, got_hist = ind.macd(ONE)

    np.testing.assert_allclose(got_line, line.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(got_sig, sig.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(got_hist, (line - sig).to_numpy(), rtol=1e-10, atol=1e-12)
    assert np.isnan(got_sig[:33]).all() and not np.isnan(got_sig[33])


def _wilder_rsi_loop(closes, period):
    """Textbook Wilder RSI, one value at a time (independent of the kernel)."""
    out = [float("nan")] * len(closes)
    changes = [closes[i] - closes[i - 1] for i in range(1, len(closes))]
    gains = [max(c, 0.0) for c in changes]
    losses = [max(-c, 0.0) for c in changes]
    avg_g = sum(gains[:period]) / period
    avg_l = sum(losses[:period]) / period
    for i in range(period, len(closes)):
        if i > period:
            avg_g = (avg_g * (period - 1) + gains[i - 1]) / period
            avg_l = (avg_l * (period - 1) + losses[i - 1]) / period
        out[i] = 100.0 - 100.0 / (1.0 + avg_g / avg_l) if avg_l else 100.0
    return np.array(out)


def test_rsi_equals_textbook_loop():
    np.testing.assert_allclose(ind.rsi(ONE, 14), _wilder_rsi_loop(list(ONE), 14), rtol=1e-10)


def test_roc_equals_pandas_pct_change():
    expected = pd.DataFrame(PRICES).pct_change(20)

    np.testing.assert_allclose(ind.roc(PRICES, 20), expected.to_numpy(), rtol=1e-12)


def test_cross_above_equals_backtesting_crossover_every_bar():
    from backtesting.lib import crossover

    a, b = ind.sma(ONE, 5), ind.sma(ONE, 15)
    expected = [bool(crossover(a[: t + 1], b[: t + 1])) for t in range(len(a))]

    assert ind.cross_above(a, b).tolist() == expected


# -- shape and prefix properties -------------------------------------------------

ALL = {
    "sma": lambda x: ind.sma(x, 7),
    "rolling_std": lambda x: ind.rolling_std(x, 7),
    "zscore": lambda x: ind.zscore(x, 7),
    "roc": lambda x: ind.roc(x, 7),
    "ema": lambda x: ind.ema(x, 7),
    "rsi": lambda x: ind.rsi(x, 7),
    "macd_signal": lambda x: ind.macd(x, 3, 7, 4)[1],
}


@pytest.mark.parametrize("name", list(ALL))
def test_two_dimensional_input_equals_each_column_alone(name):
    f = ALL[name]

    out = f(PRICES)

    assert out.shape == PRICES.shape
    for j in range(PRICES.shape[1]):
        np.testing.assert_array_equal(out[:, j], f(PRICES[:, j]))


@pytest.mark.parametrize("name", list(ALL))
@settings(max_examples=25, deadline=None)
@given(x=price_paths, cut=st.integers(min_value=1, max_value=80))
def test_indicator_of_a_prefix_is_the_prefix_of_the_indicator(name, x, cut):
    f = ALL[name]
    cut = min(cut, len(x))

    np.testing.assert_array_equal(f(x[:cut]), f(x)[:cut])


@settings(max_examples=50, deadline=None)
@given(x=price_paths)
def test_rsi_stays_within_0_and_100(x):
    r = ind.rsi(x, 3)

    valid = r[~np.isnan(r)]
    assert ((valid >= 0) & (valid <= 100)).all()
    assert np.isnan(r[:3]).all() and (len(x) <= 3 or len(valid) == len(x) - 3)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_window_is_rejected_with_its_value(bad):
    with pytest.raises(ValueError, match="sma window must be a positive integer"):
        ind.sma(ONE, bad)

"""Accounting: a hand-worked example to the cent, and invariants under hypothesis."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from arena.portfolio import (
    F_BAR,
    F_EXIT,
    F_FEE,
    F_PNL,
    F_POS,
    F_PRICE,
    F_QTY,
    F_SIDE,
    FILL_COLUMNS,
    Accounts,
    PortfolioConfig,
    PortfolioView,
)

NO_DECISIONS = np.zeros((1, 1, 1))


def run_bar_by_bar(config, opens, closes, decisions, force=None):
    """Drive the kernel one bar at a time like the engine's per-bar path.

    ``decisions[t]`` (weights per symbol, NaN = keep) is decided at bar t's close.
    Returns (accounts, equity per bar, fills, states before each bar).
    """
    n, k = closes.shape
    acc = Accounts(1, tuple(f"S{j}" for j in range(k)), config)
    equity = np.zeros((1, n))
    invested = np.zeros((1, n), dtype=bool)
    fills = np.zeros((64, FILL_COLUMNS))
    all_fills, before = [], []
    for t in range(n):
        before.append((acc.cash[0], acc.qty[0].copy()))
        _, nf = acc.run(t, t + 1, opens, closes, NO_DECISIONS, False,
                        equity[:, t:t + 1], invested[:, t:t + 1], fills)
        all_fills.extend(fills[:nf].copy())
        acc.pending[0] = decisions[t]
        if force is not None:
            acc.pending_force[0] = force[t]
    return acc, equity[0], np.array(all_fills).reshape(-1, FILL_COLUMNS), before


# A long, then a reversal into a short, with fees (10 bps) and slippage (5 bps).
OPENS = np.array([[10.0], [11.0], [12.0], [10.0], [9.0]])
CLOSES = np.array([[10.5], [11.5], [11.0], [10.0], [9.5]])
DECISIONS = np.array([[1.0], [np.nan], [-1.0], [np.nan], [0.0]])
COSTS = PortfolioConfig(cash=1000.0, fee_bps=10, slippage_bps=5)


def test_hand_worked_long_then_short_to_the_cent():
    acc, equity, fills, _ = run_bar_by_bar(COSTS, OPENS, CLOSES, DECISIONS)

    # bar 1: buy. equity 1000; qty = floor(1000 / (11 * 1.0005 * 1.001)) = floor(90.77) = 90
    #   price 11 * 1.0005 = 11.0055; fee 90 * 11.0055 * 0.001 = 0.990495
    #   cash 1000 - 990.495 - 0.990495 = 8.514505; equity at 11.5 = 8.514505 + 1035
    # bar 3: reverse. equity at open 10: 8.514505 + 900 = 908.514505
    #   target = -floor(908.514505 / (10 * 1.0005 * 1.001)) = -90, so sell 180 at 9.995
    #   exit 90: fee 0.89955, pnl 90 * (9.995 - 11.0055) - 0.89955 - 0.990495 = -92.835045
    #   entry short 90 at 9.995, fee 0.89955
    #   cash 8.514505 + 1799.1 - 1.7991 = 1805.815405; equity at 10 = 905.815405
    # bar 4 (decided at bar 3? no: bar 4's decision is 0 at its close, never filled)
    #   equity at 9.5 = 1805.815405 - 855 = 950.815405
    assert equity == pytest.approx([1000.0, 1043.514505, 998.514505, 905.815405, 950.815405],
                                   abs=0.005)
    assert len(fills) == 3
    buy, exit_, short = fills
    assert (buy[F_BAR], buy[F_SIDE], buy[F_QTY], buy[F_EXIT]) == (1, 1, 90, 0)
    assert buy[F_PRICE] == pytest.approx(11.0055)
    assert buy[F_FEE] == pytest.approx(0.990495)
    assert (exit_[F_BAR], exit_[F_SIDE], exit_[F_QTY], exit_[F_EXIT]) == (3, -1, 90, 1)
    assert exit_[F_PRICE] == pytest.approx(9.995)
    assert exit_[F_PNL] == pytest.approx(-92.835045, abs=0.005)
    assert (short[F_QTY], short[F_EXIT], short[F_POS]) == (90, 0, -90)
    assert short[F_FEE] == pytest.approx(0.89955)
    assert acc.cash[0] == pytest.approx(1805.815405, abs=0.005)
    assert acc.qty[0, 0] == -90
    assert acc.avg[0, 0] == pytest.approx(9.995)
    assert acc.fees[0] == pytest.approx(0.990495 + 2 * 0.89955, abs=0.005)
    assert acc.realised[0, 0] == pytest.approx(-92.835045, abs=0.005)
    view = PortfolioView(acc, 0)
    assert view.unrealised_pnl == pytest.approx(-90 * (9.5 - 9.995), abs=0.005)


def test_unchanged_target_is_not_retraded_but_rebalance_is():
    opens = np.array([[10.0], [10.0], [20.0], [20.0]])
    closes = opens.copy()
    decisions = np.array([[0.5], [0.5], [0.5], [np.nan]])
    config = PortfolioConfig(cash=1000.0)

    _, _, plain, _ = run_bar_by_bar(config, opens, closes, decisions)
    _, _, forced, _ = run_bar_by_bar(config, opens, closes, decisions,
                                     force=[False, False, True, False])

    assert len(plain) == 1  # one buy of 50 at bar 1, nothing when the target repeats
    assert plain[0][F_QTY] == 50
    # forced at bar 2's close -> bar 3: equity 500 + 50*20 = 1500, target 750/20 = 37.5 -> 37
    assert len(forced) == 2
    assert forced[1][F_SIDE] == -1 and forced[1][F_QTY] == 13


def test_buys_are_cut_to_buying_power():
    # two symbols each targeted at 0.5, but after a price jump between decision and
    # fill nothing may take cash below zero with leverage 1
    opens = np.array([[10.0, 10.0], [10.0, 10.0]])
    closes = opens.copy()
    decisions = np.array([[0.6, 0.4], [np.nan, np.nan]])
    acc, _, fills, _ = run_bar_by_bar(PortfolioConfig(cash=1000.0, fee_bps=100), opens, closes,
                                      decisions)
    assert acc.cash[0] >= 0
    assert acc.qty[0].tolist() == [59.0, 39.0]  # floor(600/10.1), floor(400/10.1)


# ----------------------------------------------------------------------------- properties

weights = st.one_of(st.just(float("nan")), st.floats(-1.0, 1.0, allow_nan=False))


@st.composite
def markets(draw, k=None):
    k = k or draw(st.integers(1, 3))
    n = draw(st.integers(3, 30))
    price = st.floats(1.0, 500.0, allow_nan=False)
    closes = draw(hnp.arrays(np.float64, (n, k), elements=price))
    opens = draw(hnp.arrays(np.float64, (n, k), elements=price))
    raw = draw(hnp.arrays(np.float64, (n, k), elements=weights))
    lev = draw(st.sampled_from([1.0, 1.5, 2.0]))
    # scale rows so that the gross of the held targets respects the cap
    held = np.zeros(k)
    decisions = raw.copy()
    for t in range(n):
        nxt = np.where(np.isnan(raw[t]), held, raw[t])
        gross = np.abs(nxt).sum()
        if gross > lev:
            decisions[t] = np.where(np.isnan(raw[t]), np.nan, raw[t] * lev / gross)
            nxt = np.where(np.isnan(raw[t]), held, decisions[t])
            if np.abs(nxt).sum() > lev + 1e-12:  # kept weights alone exceed: flatten all
                decisions[t] = np.where(held != 0, 0.0, decisions[t] * 0)
                nxt = np.where(np.isnan(decisions[t]), held, decisions[t])
        held = nxt
    config = PortfolioConfig(
        cash=draw(st.floats(100.0, 1e6)), fee_bps=draw(st.sampled_from([0.0, 1.0, 25.0])),
        slippage_bps=draw(st.sampled_from([0.0, 5.0, 50.0])), max_leverage=lev,
        whole_units=draw(st.booleans()))
    return config, opens, closes, decisions


@settings(max_examples=150, deadline=None)
@given(markets())
def test_equity_is_cash_plus_positions_at_every_close(market):
    config, opens, closes, decisions = market
    n, k = closes.shape
    acc = Accounts(1, tuple(f"S{j}" for j in range(k)), config)
    equity = np.zeros((1, n))
    invested = np.zeros((1, n), dtype=bool)
    fills = np.zeros((64, FILL_COLUMNS))
    for t in range(n):
        acc.run(t, t + 1, opens, closes, NO_DECISIONS, False, equity[:, t:t + 1],
                invested[:, t:t + 1], fills)
        expected = acc.cash[0] + (acc.qty[0] * closes[t]).sum()
        assert equity[0, t] == pytest.approx(expected, rel=1e-12, abs=1e-9)
        # and it equals start + realised + unrealised - fees still attached to open positions
        unreal = (acc.qty[0] * (closes[t] - acc.avg[0])).sum()
        assert equity[0, t] == pytest.approx(
            config.cash + acc.realised[0].sum() + unreal - acc.entry_fee[0].sum(),
            rel=1e-9, abs=1e-9 * config.cash * 1000)  # float rounding of large notionals
        acc.pending[0] = decisions[t]


@settings(max_examples=150, deadline=None)
@given(markets())
def test_fills_use_the_next_open_only(market):
    config, opens, closes, decisions = market
    s = config.slippage_bps / 1e4
    _, _, fills, _ = run_bar_by_bar(config, opens, closes, decisions)
    for f in fills:
        t = int(f[F_BAR])
        assert t >= 1  # nothing fills on the bar the first decision is made
        expected = opens[t] * (1 + s) if f[F_SIDE] > 0 else opens[t] * (1 - s)
        assert f[F_PRICE] in expected  # the price of its own bar's open, never later

    # changing every price after bar t leaves fills up to t untouched
    t = len(closes) // 2
    later_opens, later_closes = opens.copy(), closes.copy()
    later_opens[t + 1:] *= 1.7
    later_closes[t + 1:] *= 0.6
    _, _, fills2, _ = run_bar_by_bar(config, later_opens, later_closes, decisions)
    early = fills[fills[:, F_BAR] <= t] if len(fills) else fills
    early2 = fills2[fills2[:, F_BAR] <= t] if len(fills2) else fills2
    np.testing.assert_array_equal(early, early2)


@settings(max_examples=150, deadline=None)
@given(markets())
def test_leverage_cap_and_buying_power_hold_after_every_fill(market):
    config, opens, closes, decisions = market
    lev = config.max_leverage
    acc, _, fills, before = run_bar_by_bar(config, opens, closes, decisions)
    fill_bars = sorted({int(f[F_BAR]) for f in fills})
    # replay the account bar by bar to check the state right after each fill bar
    n, k = closes.shape
    acc2 = Accounts(1, tuple(f"S{j}" for j in range(k)), config)
    eq = np.zeros((1, n))
    inv = np.zeros((1, n), dtype=bool)
    buf = np.zeros((64, FILL_COLUMNS))
    for t in range(n):
        equity_open = acc2.cash[0] + (acc2.qty[0] * opens[t]).sum()
        gross_before = np.abs(acc2.qty[0] * opens[t]).sum()
        cash_before = acc2.cash[0]
        acc2.run(t, t + 1, opens, closes, NO_DECISIONS, False, eq[:, t:t + 1],
                 inv[:, t:t + 1], buf)
        if t in fill_bars and equity_open > 0:
            gross = np.abs(acc2.qty[0] * opens[t]).sum()
            tol = 1e-9 * max(1.0, gross)
            # a trade never lifts exposure above the cap (drift may have done so before)
            assert gross <= max(lev * equity_open, gross_before) + tol
            # buys never take cash below the buying-power floor; sells only add cash
            floor = -(lev - 1) * equity_open
            assert acc2.cash[0] >= min(cash_before, floor) - 1e-9 * max(1.0, equity_open)
        acc2.pending[0] = decisions[t]


@settings(max_examples=100, deadline=None)
@given(st.floats(1.0, 1000.0), st.floats(0.05, 1.0), st.booleans(), st.integers(1, 3))
def test_zero_cost_round_trip_at_one_price_leaves_equity_unchanged(price, w, whole, k):
    opens = np.full((4, k), price)
    closes = opens.copy()
    decisions = np.full((4, k), np.nan)
    decisions[0] = w / k
    decisions[1] = 0.0
    acc, equity, fills, _ = run_bar_by_bar(PortfolioConfig(cash=10_000.0, whole_units=whole),
                                           opens, closes, decisions)
    assert equity == pytest.approx(np.full(4, 10_000.0), rel=1e-12)
    assert acc.cash[0] == pytest.approx(10_000.0, rel=1e-12)
    exits = fills[fills[:, F_EXIT] == 1] if len(fills) else fills
    assert np.allclose(exits[:, F_PNL], 0.0, atol=1e-9)

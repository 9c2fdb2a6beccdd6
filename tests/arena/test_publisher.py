"""Trade texts (the event log, the leaderboard's last action) at any price."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from arena.data.market import MarketData
from arena.engine import Competition, CompetitionConfig
from arena.portfolio import PortfolioConfig
from arena.publisher import _amount
from arena.replay import Replay


@pytest.mark.parametrize(("value", "sign", "text"), [
    (10.5, "", "10.50"), (999_999_999_999.994, "", "999999999999.99"),
    (1e12, "", "1e+12"), (3.3251765e44, "", "3.32518e+44"), (3.5, "+", "+3.50"),
    (-1234.5, "+", "-1234.50"), (-2.5e15, "+", "-2.5e+15"), (float("inf"), "", "inf")])
def test_a_trade_price_or_pnl_reads_to_the_cent_below_a_thousand_billion(value, sign, text):
    assert _amount(value, sign) == text


def sawtooth(scale: float, n: int = 120) -> MarketData:
    """Prices that swing every 10 bars, so an SMA crossover trades often."""
    close = scale * (100 + 10 * np.sin(np.arange(n) / 10 * np.pi))[:, None]
    times = pd.date_range("2024-01-01", periods=n, freq="D").values
    return MarketData(times, ("XYZ",), close, close * 1.01, close * 0.99, close,
                      np.full((n, 1), 1e6), source="sawtooth")


@pytest.mark.parametrize(("scale", "price"), [(1.0, r"\d+\.\d\d"), (1e20, r"\d\.\d+e\+2\d")])
def test_trade_events_show_prices_readably_at_any_magnitude(scale, price):
    comp = Competition(sawtooth(scale), ["sma_cross:fast=2,slow=5"],
                       CompetitionConfig(record=False,
                                         portfolio=PortfolioConfig(cash=1e6 * scale)))
    comp.run()
    events = comp.streams.events.to_frame()
    texts = events[events["kind"] == "trade"]["message"].tolist()
    assert len(texts) > 4
    pattern = rf"(buy|sell) \d+ XYZ @ {price} \((entry|exit, pnl \+{price})\)"
    for text in texts:
        assert re.fullmatch(pattern, text), text


def test_a_replay_says_each_last_action_as_the_live_run_did_at_any_magnitude(tmp_path):
    comp = Competition(sawtooth(1e20), ["sma_cross:fast=2,slow=5", "sma_cross:fast=3,slow=7"],
                       CompetitionConfig(run_dir=str(tmp_path),
                                         portfolio=PortfolioConfig(cash=1e26)))
    live = comp.run().set_index("agent")["last_action"]
    with Replay(comp.run_path) as rp:
        rp.seek(comp.n_bars)
        replayed = rp.leaderboard().set_index("agent")["last_action"]
    assert all(re.fullmatch(r"(buy|sell) \d+ XYZ @ \d\.\d+e\+2\d", a) for a in live), live
    assert replayed.to_dict() == live.to_dict()

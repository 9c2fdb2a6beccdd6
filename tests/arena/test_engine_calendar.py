"""The engine annualises by the data's calendar (goes green once arena/engine/competition.py
passes ``calendar=self.data.calendar`` to infer_periods_per_year)."""

import math

import numpy as np
import pytest

from arena import Competition, CompetitionConfig
from arena.data import load_bundled, synthetic
from arena.recorder import Recording


def test_the_engine_annualises_one_minute_24_7_bars_by_525_600(tmp_path):
    # Arrange: two days of 1-minute bars from a Monday: the first 500 bars (the engine's
    # sample for the bar spacing) are 8 h of one weekday, too few to tell a 24/7 market
    data = synthetic(bars=2 * 1440, freq="min", start="2024-03-04", seed=3)
    assert data.calendar == "24/7"
    comp = Competition(data, ["buy_and_hold"], CompetitionConfig(run_dir=str(tmp_path)))

    # Act
    comp.run()
    stats = comp.stats("buy_and_hold")

    # Assert
    meta = Recording(comp.run_path).meta
    assert meta["periods_per_year"] == pytest.approx(525_600, rel=1e-12)
    eq = comp.equity_frame()["buy_and_hold"].to_numpy()
    r = eq[1:] / eq[:-1] - 1.0
    assert stats["volatility_ann_pct"] == pytest.approx(
        r.std(ddof=1) * math.sqrt(525_600) * 100, rel=1e-9)


def test_the_engine_keeps_252_for_bundled_daily_stocks(tmp_path):
    data = load_bundled("GOOG")
    comp = Competition(data, ["buy_and_hold"], CompetitionConfig(run_dir=str(tmp_path)))
    comp.run()
    assert Recording(comp.run_path).meta["periods_per_year"] == 252
    assert np.isfinite(comp.stats("buy_and_hold")["sharpe"])

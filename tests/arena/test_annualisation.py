"""Intraday and 24/7 statistics: bars per year follow the timeframe and the market's
calendar (arena.data.calendars), and time figures are real time. Every figure is worked
out by hand or computed independently with numpy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from arena.cli import _parser, _spec_from_args
from arena.config import ConfigError, RunSpec, spec_from_dict
from arena.data import MarketData, load, load_bundled, synthetic
from arena.data.calendars import CALENDARS, bars_per_year, infer_calendar, market_year
from arena.metrics import RunningStats, compute_stats, infer_periods_per_year

pytestmark = pytest.mark.filterwarnings("error")

RATIO = {"rel": 1e-12}


def sessions(freq: str, days: int = 10, start="2024-01-08") -> pd.DatetimeIndex:
    """New York's regular session (14:30-21:00 UTC in winter) on ``days`` weekdays."""
    out = [pd.date_range(day + pd.Timedelta("14:30:00"), day + pd.Timedelta("21:00:00"),
                         freq=freq, inclusive="left")
           for day in pd.bdate_range(start, periods=days, tz="UTC")]
    return out[0].append(out[1:])


def minutes(start: str, n: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="min", tz="UTC")


# --- bars per year: 1m, 1h, 1d x 24/7 and trading days ---------------------------

HAND = [  # timeframe, calendar, the hand-worked figure
    ("1min", "24/7", 365 * 24 * 60),        # 525,600: the issue's own figure
    ("1h", "24/7", 365 * 24),               # 8,760
    ("1D", "24/7", 365),
    ("1min", "trading-days", 252 * 390),    # 98,280: 390 minutes a session
    ("1h", "trading-days", 252 * 6.5),      # 1,638
    ("1D", "trading-days", 252),
]

# the same markets as bar times, for the inference: a crypto market trades
# every minute of every day, New York only in its sessions on weekdays
INDEXES = {
    ("1min", "24/7"): minutes("2024-03-04", 2 * 1440),  # Monday and Tuesday
    ("1h", "24/7"): pd.date_range("2024-03-04", periods=10 * 24, freq="h", tz="UTC"),
    ("1D", "24/7"): pd.date_range("2024-03-04", periods=30, freq="D", tz="UTC"),
    ("1min", "trading-days"): sessions("min"),
    ("1h", "trading-days"): sessions("h"),  # 14:30, 15:30, ... 20:30
    ("1D", "trading-days"): pd.bdate_range("2024-03-04", periods=30, tz="UTC"),
}


@pytest.mark.parametrize(("timeframe", "calendar", "expected"), HAND)
def test_bars_per_year_of_each_timeframe_and_calendar(timeframe, calendar, expected):
    # Act
    explicit = bars_per_year(pd.Timedelta(timeframe), calendar)
    inferred = infer_periods_per_year(INDEXES[timeframe, calendar])
    told = infer_periods_per_year(INDEXES[timeframe, calendar], calendar=calendar)

    # Assert
    assert explicit == pytest.approx(expected, **RATIO)
    assert inferred == pytest.approx(expected, **RATIO)
    assert told == pytest.approx(expected, **RATIO)


def test_a_calendar_given_overrides_what_the_times_look_like():
    every_day = INDEXES["1D", "24/7"]
    in_sessions = INDEXES["1min", "trading-days"]

    assert infer_periods_per_year(every_day, calendar="trading-days") == 252
    assert infer_periods_per_year(in_sessions, calendar="24/7") == pytest.approx(525_600, **RATIO)


@pytest.mark.parametrize(("spacing", "calendar", "expected"), [
    ("4h", "24/7", 365 * 6),
    ("5min", "24/7", 365 * 24 * 12),
    ("3D", "24/7", 365 / 3),           # a 3-day candle on a 24/7 exchange
    ("1s", "trading-days", 252 * 6.5 * 3600),
    ("7D", "24/7", 52), ("7D", "trading-days", 52),
    ("31D", "24/7", 12), ("31D", "trading-days", 12),
    ("91D", "24/7", 365.25 / 91),
])
def test_the_other_spacings(spacing, calendar, expected):
    assert bars_per_year(pd.Timedelta(spacing), calendar) == pytest.approx(expected, **RATIO)


def test_the_market_years():
    assert market_year("24/7") == pd.Timedelta(days=365)
    assert market_year("trading-days") == pd.Timedelta(hours=252 * 6.5)


def test_a_calendar_that_does_not_exist_is_named_in_the_error():
    with pytest.raises(ValueError, match=r"calendar must be one of '24/7', 'trading-days'.*'crypto'"):
        infer_periods_per_year(INDEXES["1D", "24/7"], calendar="crypto")
    with pytest.raises(ValueError, match="'stocks'"):
        compute_stats(pd.Series([1.0], index=INDEXES["1D", "24/7"][:1]), calendar="stocks")
    with pytest.raises(ValueError, match="MarketData.calendar"):
        MarketData(INDEXES["1D", "24/7"].tz_localize(None).values[:2], ("X",), *[[1.0, 1.0]] * 5,
                   calendar="24x7")


# --- which calendar the times look like -------------------------------------------

@pytest.mark.parametrize(("times", "expected"), [
    pytest.param(pd.date_range("2024-03-04", periods=30, freq="D", tz="UTC"), "24/7",
                 id="daily-with-weekends"),
    pytest.param(pd.date_range("2024-03-04", periods=6, freq="D", tz="UTC"), "trading-days",
                 id="monday-to-saturday"),  # a Saturday session alone is not 24/7
    pytest.param(pd.DatetimeIndex([d for d in pd.date_range("2024-03-03", periods=28, freq="D")
                                   if d.day_of_week in (6, 0, 1, 2, 3)], tz="UTC"),
                 "trading-days", id="sunday-to-thursday"),
    pytest.param(pd.bdate_range("2024-03-04", periods=10, tz="Asia/Tokyo"), "trading-days",
                 id="tokyo-midnight-is-sunday-in-utc"),
    pytest.param(sessions("min"), "trading-days", id="new-york-minutes"),
    pytest.param(pd.DatetimeIndex(np.concatenate([
        pd.date_range(d + pd.Timedelta("09:00:00"), d + pd.Timedelta("25:00:00"), freq="min",
                      inclusive="left").values
        for d in pd.bdate_range("2024-01-08", periods=10)])).tz_localize("UTC"),
        "trading-days", id="new-york-extended-hours-16h-ending-saturday-utc"),
    pytest.param(minutes("2024-03-05", 21 * 60), "24/7", id="21-unbroken-hours"),
    pytest.param(minutes("2024-03-05", 21 * 60).delete(slice(600, 690)), "24/7",
                 id="with-a-90-minute-maintenance-gap"),
    pytest.param(minutes("2024-03-05", 21 * 60).delete(slice(600, 780)), "trading-days",
                 id="a-3-hour-gap-breaks-it"),
    pytest.param(minutes("2024-03-05", 8 * 60), "trading-days", id="too-short-to-tell"),
    pytest.param(minutes("2024-03-09 23:59", 3), "24/7", id="saturday-and-sunday-minutes"),
    pytest.param(minutes("2024-03-05", 1), "trading-days", id="one-bar"),
])
def test_the_calendar_inferred_from_bar_times(times, expected):
    assert infer_calendar(times) == expected
    assert infer_calendar(times.tz_convert("UTC").tz_localize(None).values) == expected


def test_bundled_daily_stocks_stay_at_252():
    # Arrange
    goog = load_bundled("GOOG")
    index = pd.DatetimeIndex(goog.times).tz_localize("UTC")

    # Act / Assert: told (bundled data is US stocks) and inferred alike
    assert goog.calendar == "trading-days"
    assert infer_calendar(goog.times) == "trading-days"
    assert infer_periods_per_year(index) == 252
    assert infer_periods_per_year(index[:500], calendar=goog.calendar) == 252  # as the engine


# --- statistics of a 1-minute 24/7 equity curve, by hand -------------------------

def test_sharpe_volatility_and_cagr_of_one_minute_crypto_bars_by_hand():
    # Arrange: three days of 1-minute bars from a Friday, random returns
    rng = np.random.default_rng(16)
    n = 3 * 1440
    returns = rng.normal(2e-6, 4e-4, n - 1)
    values = 10_000.0 * np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    index = minutes("2024-03-01", n)
    equity = pd.Series(values, index=index)
    rf = 0.05

    # Act
    stats = compute_stats(equity, risk_free=rf)  # calendar and P inferred

    # Assert: independently, P = 365 days / 1 minute, and a year of real time
    p = 365 * 24 * 60
    r = values[1:] / values[:-1] - 1.0
    std = r.std(ddof=1)
    elapsed = index[-1] - index[0]
    cagr = (values[-1] / values[0]) ** (pd.Timedelta(days=365) / elapsed) - 1.0
    assert stats["volatility_ann_pct"] == pytest.approx(std * math.sqrt(p) * 100, rel=1e-9)
    assert stats["sharpe"] == pytest.approx((r - rf / p).mean() / std * math.sqrt(p), rel=1e-9)
    assert stats["return_ann_pct"] == pytest.approx(cagr * 100, rel=1e-9)
    running = RunningStats(values[0], index[0], infer_periods_per_year(index), risk_free=rf)
    running.update_many(index[1:].tz_localize(None).values, values[1:], np.ones(n - 1, bool))
    snap = running.snapshot()
    for key in ("volatility_ann_pct", "sharpe", "return_ann_pct", "sortino"):
        assert snap[key] == pytest.approx(stats[key], rel=1e-9)


# --- time figures are real time -------------------------------------------------

def test_drawdown_duration_of_one_minute_bars_is_in_minutes():
    # Arrange: a peak at 23:52 on Saturday, back at it 45 minutes later on Sunday
    index = minutes("2024-03-02 23:50", 60)
    values = np.full(60, 101.0)
    values[0], values[2], values[47], values[48:] = 100.0, 102.0, 102.0, 103.0
    equity = pd.Series(values, index=index)

    # Act
    stats = compute_stats(equity)
    running = RunningStats(values[0], index[0], stats_periods := infer_periods_per_year(index))
    for t, v in zip(index[1:], values[1:], strict=True):
        running.update(t, v, invested=True)

    # Assert
    assert stats_periods == pytest.approx(525_600, **RATIO)
    assert stats["max_drawdown_duration"] == pd.Timedelta(minutes=45)
    assert stats["max_drawdown_bars"] == 45
    assert stats["duration"] == pd.Timedelta(minutes=59)
    assert running.snapshot()["max_drawdown_duration"] == pd.Timedelta(minutes=45)


def test_a_drawdown_over_the_night_is_the_real_time_not_the_bars():
    # Arrange: New York minutes, peak at 15:58 New York on Monday (bar 388), back at
    # it at 09:35 on Tuesday (bar 395): 7 bars, 17 h 37 min
    index = sessions("min", days=2)
    values = np.full(len(index), 99.0)
    values[:389] = np.linspace(90.0, 100.0, 389)
    values[395:] = 100.0

    # Act
    stats = compute_stats(pd.Series(values, index=index))

    # Assert
    assert index[388] == pd.Timestamp("2024-01-08 20:58", tz="UTC")
    assert index[395] == pd.Timestamp("2024-01-09 14:35", tz="UTC")
    assert stats["max_drawdown_duration"] == pd.Timedelta(hours=17, minutes=37)
    assert stats["max_drawdown_bars"] == 7


# --- where the calendar comes from ------------------------------------------------

def frame(index: pd.DatetimeIndex) -> pd.DataFrame:
    close = np.linspace(100.0, 110.0, len(index))
    return pd.DataFrame({"time": index, "open": close, "high": close + 1, "low": close - 1,
                         "close": close, "volume": 1.0})


def test_market_data_carries_its_calendar(tmp_path):
    # Arrange: three hours of 1-minute crypto bars on a Tuesday (too short to tell)
    path = tmp_path / "btc.csv"
    frame(minutes("2024-03-05 09:00", 180)).to_csv(path, index=False)
    path2 = tmp_path / "eth.csv"
    frame(minutes("2024-03-05 09:00", 2 * 1440)).to_csv(path2, index=False)

    # Act / Assert
    assert load(str(path)).calendar == "trading-days"
    told = load(str(path), calendar="24/7")
    assert told.calendar == "24/7"
    assert told.slice(10, 20).calendar == "24/7"
    assert told.between("2024-03-05 10:00", "2024-03-05 11:00").calendar == "24/7"
    assert load(str(path2)).calendar == "24/7"  # two unbroken days
    assert load(str(path2), start="2024-03-05 09:00", end="2024-03-05 12:00").calendar == "24/7"
    assert load("GOOG", calendar="24/7").calendar == "24/7"
    assert synthetic(bars=50).calendar == "trading-days"  # business days
    assert synthetic(bars=50, freq="min").calendar == "24/7"
    assert synthetic(bars=50, freq="h").calendar == "24/7"
    with pytest.raises(ValueError, match="load: calendar"):
        load("GOOG", calendar="nyse")


def test_the_data_table_and_the_run_flag_take_a_calendar(tmp_path):
    # Arrange
    path = tmp_path / "btc.csv"
    frame(minutes("2024-03-05 09:00", 180)).to_csv(path, index=False)
    raw = {"data": {"file": str(path), "calendar": "24/7"}, "agents": [{"agent": "buy_and_hold"}]}

    # Act
    spec = spec_from_dict(raw)
    args = _parser().parse_args(["run", "--data", str(path), "-a", "buy_and_hold",
                                 "--calendar", "24/7"])

    # Assert
    assert spec.calendar == "24/7" and spec.load_data().calendar == "24/7"
    assert _spec_from_args(args).load_data().calendar == "24/7"
    assert RunSpec(symbols=("GOOG",)).load_data().calendar == "trading-days"
    assert RunSpec(symbols=("GOOG",), calendar="24/7").load_data().calendar == "24/7"
    raw["data"]["calendar"] = "crypto"
    with pytest.raises(ConfigError, match=r"\[data\] calendar must be one of '24/7', "
                                          r"'trading-days'.*'crypto'"):
        spec_from_dict(raw)
    assert set(CALENDARS) == {"24/7", "trading-days"}


def test_the_run_flag_refuses_an_unknown_calendar(capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["run", "--symbol", "GOOG", "-a", "buy_and_hold",
                              "--calendar", "crypto"])
    assert exc.value.code == 2
    assert "invalid choice: 'crypto'" in capsys.readouterr().err


def test_a_live_feed_is_24_7_however_few_its_warm_up_bars():
    # Arrange: 40 one-minute candles of a local Binance server (not enough to tell)
    from arena.feeds.live import LiveConfig, LiveFeed
    from tests.arena.feeds.binance_server import BinanceServer

    with BinanceServer() as server:
        feed = LiveFeed(LiveConfig("binance", ("BTC/USDT",), "1m", warmup=40,
                                   exchange_config=server.exchange_config(timeout=2000)))
        try:
            # Act
            data = feed.open()
        finally:
            feed.stop()

    # Assert
    n = feed.available()
    assert n == 40
    assert infer_calendar(data.times[:n]) == "trading-days"
    assert data.calendar == "24/7"
    index = pd.DatetimeIndex(data.times[:n]).tz_localize("UTC")
    assert infer_periods_per_year(index, calendar=data.calendar) == pytest.approx(525_600, **RATIO)

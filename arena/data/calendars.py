"""Market calendars: how much of a year a market trades, to annualise statistics.

Two calendars, small and explicit (``docs/metrics.md``, "Annualisation"):

* ``"24/7"``: open every day around the clock (crypto; every ccxt market):
  365 days × 24 h of trading a year, so daily bars are 365 a year;
* ``"trading-days"``: an exchange session (stocks): 252 sessions × 6.5 h a
  year, so daily bars are 252 a year.

A bar of spacing ``d`` shorter than a day is ``market year / d`` of a year.
:func:`infer_calendar` guesses the calendar from bar times when nobody said.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "CALENDARS",
    "TRADING_DAYS",
    "TWENTY_FOUR_SEVEN",
    "bars_per_year",
    "check_calendar",
    "infer_calendar",
    "market_year",
]

TWENTY_FOUR_SEVEN = "24/7"
TRADING_DAYS = "trading-days"
CALENDARS = (TWENTY_FOUR_SEVEN, TRADING_DAYS)

#: trading days a year and trading hours a day
_DAYS = {TWENTY_FOUR_SEVEN: 365, TRADING_DAYS: 252}
_HOURS = {TWENTY_FOUR_SEVEN: 24.0, TRADING_DAYS: 6.5}
#: shorter spacings are intraday; an unbroken stretch of bars longer than this is
#: no exchange session (4:00-20:00 New York with extended hours is 16 h)
_INTRADAY = pd.Timedelta(hours=20)
#: a gap up to this (or two bar spacings) does not break a stretch: a missing bar,
#: an exchange's maintenance window, an Asian exchange's lunch break
_GAP = pd.Timedelta(hours=2)
_NS_PER_DAY = 86_400 * 10**9
_WINDOW = pd.Timedelta(weeks=4)


def check_calendar(value, where: str = "calendar") -> str | None:
    """``value`` if it names a calendar (or is ``None``); otherwise ``ValueError``
    naming ``where`` and the calendars there are."""
    if value is None or value in CALENDARS:
        return value
    raise ValueError(f"{where} must be one of {', '.join(repr(c) for c in CALENDARS)} "
                     f"(or left out, to infer it from the bar times), got {value!r}")


def market_year(calendar: str) -> pd.Timedelta:
    """Trading time in a year: 365 × 24 h (``"24/7"``) or 252 × 6.5 h."""
    calendar = check_calendar(calendar)
    return pd.Timedelta(hours=_DAYS[calendar] * _HOURS[calendar])


def bars_per_year(spacing: pd.Timedelta, calendar: str) -> float:
    """Bars a year of a market on ``calendar`` with bars every ``spacing``.

    Intraday (``spacing < 20 h``): ``market_year(calendar) / spacing``. Daily
    (``20 h ≤ spacing < 5 days``): 252 on trading days; on a 24/7 market
    365 / spacing in whole days (1d → 365, 3d → 121.67). Weekly
    (``5 ≤ spacing < 20 days``): 52. Monthly (``20 ≤ spacing < 45 days``): 12.
    Longer: 365.25 days / spacing.
    """
    calendar = check_calendar(calendar)
    if calendar is None:
        raise ValueError("bars_per_year needs a calendar")
    if spacing <= pd.Timedelta(0):
        raise ValueError(f"bar spacing must be positive, got {spacing}")
    if spacing < _INTRADAY:
        return float(market_year(calendar) / spacing)
    if spacing < pd.Timedelta(days=5):
        if calendar == TRADING_DAYS:
            return 252.0
        return _DAYS[calendar] / max(1, round(spacing / pd.Timedelta(days=1)))
    if spacing < pd.Timedelta(days=20):
        return 52.0
    if spacing < pd.Timedelta(days=45):
        return 12.0
    return float(pd.Timedelta(days=365.25) / spacing)


def infer_calendar(times) -> str:
    """The calendar bar ``times`` (UTC, increasing) look like, judged on their
    first four weeks (the calendar does not change; this bounds the cost).

    ``"24/7"`` if there are bars on both a Saturday and a Sunday (UTC), or, for
    intraday bars, an unbroken stretch longer than 20 h (gaps of up to
    ``max(2 bar spacings, 2 h)`` do not break it); ``"trading-days"`` otherwise,
    also when there are too few bars to tell. Requiring both weekend days keeps
    a session that ends at midnight UTC on a Friday (New York's evening) or
    starts on a Sunday in UTC (Sydney, Tokyo's Monday morning) on trading days.
    """
    ns = _nanoseconds(times)
    if len(ns) > 2:
        ns = ns[: int(np.searchsorted(ns, ns[0] + _WINDOW.value, "right"))]
    if len(ns) < 2:
        return TRADING_DAYS
    weekday = (ns // _NS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    if np.any(weekday == 5) and np.any(weekday == 6):
        return TWENTY_FOUR_SEVEN
    gaps = np.diff(ns)
    spacing = int(np.median(gaps))
    if spacing <= 0 or spacing >= _INTRADAY.value:
        return TRADING_DAYS
    breaks = np.flatnonzero(gaps > max(2 * spacing, _GAP.value))
    starts = np.concatenate(([0], breaks + 1))
    ends = np.concatenate((breaks, [len(ns) - 1]))
    return TWENTY_FOUR_SEVEN if np.max(ns[ends] - ns[starts]) > _INTRADAY.value else TRADING_DAYS


def _nanoseconds(times) -> np.ndarray:
    """Integer UTC nanoseconds of a DatetimeIndex (naive or aware) or datetime64 array."""
    if isinstance(times, pd.DatetimeIndex):
        if times.tz is not None:
            times = times.tz_convert("UTC").tz_localize(None)
        return times.as_unit("ns").asi8
    return np.asarray(times, dtype="datetime64[ns]").view(np.int64)

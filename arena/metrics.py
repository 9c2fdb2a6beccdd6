"""Performance statistics: one equity curve and its fills in, one Series out.

``compute_stats`` is the pure, from-scratch calculation (the style of
backtesting.py's ``_stats.py``); ``RunningStats`` gives the same numbers bar by
bar in O(1) per bar for a live leaderboard. Both reduce the history to the
same running totals and share one ``_assemble`` step, so keys, units and the
NaN rules cannot drift apart. Definitions, formulas and units:
``docs/metrics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from arena.analysis.risk import moments_stats, monthly_returns
from arena.data.calendars import bars_per_year, check_calendar, infer_calendar
from arena.metrics_block import block_drawdowns, block_returns
from arena.metrics_checks import (  # noqa: F401 - _check_equity: arena.analysis.tables
    _check_equity,
    _check_periods,
    _check_risk_free,
    _closed_pnls_and_fees,
    _exposure,
    _timestamp,
)

__all__ = [
    "STAT_KEYS",
    "RunningStats",
    "buy_and_hold_return",
    "compute_stats",
    "infer_periods_per_year",
]

STAT_KEYS = (
    "start", "end", "duration", "bars",
    "equity_start", "equity_final", "equity_peak",
    "return_pct", "return_ann_pct", "volatility_ann_pct",
    "sharpe", "sortino", "calmar",
    "max_drawdown_pct", "max_drawdown_duration", "max_drawdown_bars",
    "win_rate_pct", "profit_factor", "trades", "avg_trade", "best_trade", "worst_trade",
    "exposure_pct", "fees", "buy_hold_return_pct",
    "skew", "kurtosis", "omega", "ulcer_index", "kelly", "recovery_factor",
    "best_month_pct", "worst_month_pct", "positive_months_pct",
)

# A per-bar standard deviation (or downside deviation) below this is rounding
# noise, e.g. a curve that compounds at a constant rate: it counts as zero.
_NOISE = 1e-12
_NO_MONTH = -(10 ** 9)  # RunningStats before its first return (months count from 1970-01)


def infer_periods_per_year(index: pd.DatetimeIndex, calendar: str | None = None) -> float:
    """Bars per year from the median spacing ``d`` of ``index`` and the market's
    ``calendar`` (``"24/7"`` or ``"trading-days"``; ``None``: inferred from
    ``index`` by :func:`arena.data.calendars.infer_calendar`).

    Intraday (``d < 20 h``): market year / ``d``, the market year being
    365 × 24 h (24/7) or 252 × 6.5 h (trading days); daily: 365 (24/7) or 252;
    weekly: 52; monthly: 12; longer: 365.25 days / ``d``
    (:func:`arena.data.calendars.bars_per_year`).
    """
    calendar = check_calendar(calendar)
    index = pd.DatetimeIndex(index)
    if len(index) < 2:
        raise ValueError(
            f"cannot infer periods per year from {len(index)} timestamp(s): need at least 2; "
            "pass periods_per_year explicitly")
    spacing = pd.Timedelta(np.median(np.diff(index.asi8)), unit=index.unit)
    if spacing <= pd.Timedelta(0):
        raise ValueError(f"cannot infer periods per year: median bar spacing is {spacing}; "
                         "timestamps must increase")
    return bars_per_year(spacing, calendar or infer_calendar(index))


def buy_and_hold_equity(close: np.ndarray, bars, cash: float) -> np.ndarray:
    """The benchmark line: equity at ``bars`` (indices or a slice) of ``cash`` put
    equally into every symbol at bar 0's close and held."""
    return cash * (close[bars] / close[0]).mean(axis=1)


def buy_and_hold_return(close: np.ndarray) -> float:
    """Equal-weight buy & hold: mean over symbols of last close / first close − 1.

    ``close`` is ``(n_bars, n_symbols)`` (or 1-D for one symbol). Per symbol the
    first and last non-NaN closes are used, so symbols that list late count from
    their first price.
    """
    close = np.asarray(close, dtype=float)
    if close.ndim == 1:
        close = close[:, None]
    if close.ndim != 2 or close.shape[0] == 0 or close.shape[1] == 0:
        raise ValueError(f"close must be a non-empty (n_bars, n_symbols) array, got shape {close.shape}")
    returns = []
    for j in range(close.shape[1]):
        prices = close[:, j][~np.isnan(close[:, j])]
        if prices.size == 0:
            raise ValueError(f"close column {j} has no prices (all NaN)")
        if not np.all(np.isfinite(prices) & (prices > 0)):
            raise ValueError(f"close column {j} has a non-positive or infinite price")
        returns.append(prices[-1] / prices[0] - 1.0)
    return float(np.mean(returns))


def compute_stats(
    equity: pd.Series,
    trades: pd.DataFrame | None = None,
    invested: Sequence[bool] | np.ndarray | pd.Series | None = None,
    benchmark: float | None = None,
    periods_per_year: float | None = None,
    risk_free: float = 0.0,
    calendar: str | None = None,
) -> pd.Series:
    """Statistics of one equity curve and its fills (keys: ``STAT_KEYS``).

    ``equity`` is marked at each bar's close on a UTC DatetimeIndex, the first
    value being the starting capital; ``trades`` holds fills (a closed trade is
    an ``action == "exit"`` fill and its ``pnl``; ``fee`` is summed over all
    fills); ``invested`` flags bars with an open position; ``benchmark`` is the
    buy & hold return as a fraction; ``risk_free`` is an annual rate.
    ``periods_per_year`` ``None``: from the index and ``calendar``
    (:func:`infer_periods_per_year`).
    """
    values, index = _check_equity(equity)
    calendar = check_calendar(calendar)
    n_bars = len(values)
    if periods_per_year is None and n_bars >= 2:
        periods_per_year = infer_periods_per_year(index, calendar)
    periods = _check_periods(periods_per_year)
    risk_free = _check_risk_free(risk_free)

    prev, curr = values[:-1], values[1:]
    returns_ok = bool(np.all(prev > 0))
    if returns_ok and n_bars >= 2:
        returns = curr / prev - 1.0
        excess = returns - risk_free / periods
        mean_r = float(returns.mean())
        var_r = float(returns.var(ddof=1)) if n_bars >= 3 else math.nan
        downside_sq = float(np.mean(np.minimum(excess, 0.0) ** 2))
        dev = returns - mean_r
        m2, m3, m4 = float(np.sum(dev ** 2)), float(np.sum(dev ** 3)), float(np.sum(dev ** 4))
        gain, loss = float(np.maximum(returns, 0.0).sum()), float(np.maximum(-returns, 0.0).sum())
        months = monthly_returns(equity).to_numpy()
    else:
        mean_r = var_r = downside_sq = m2 = m3 = m4 = gain = loss = math.nan
        months = np.empty(0)

    peak = np.maximum.accumulate(values)
    drawdown = values / peak - 1.0
    max_drawdown = float(np.min(drawdown))
    # A drawdown runs from the last bar at the running peak to the first bar
    # back at (or above) it, or to the last bar if equity never gets back.
    bar = np.arange(n_bars)
    at_peak = values >= peak
    peak_bar = np.maximum.accumulate(np.where(at_peak, bar, 0))
    in_drawdown = ~at_peak[1:] | ~at_peak[:-1]
    dd_start, dd_end = peak_bar[:-1][in_drawdown], bar[1:][in_drawdown]
    if dd_end.size:
        times = index.asi8  # integers in index.unit
        max_dd_duration = pd.Timedelta(int(np.max(times[dd_end] - times[dd_start])),
                                       unit=index.unit)
        max_dd_bars = int(np.max(dd_end - dd_start))
    else:
        max_dd_duration, max_dd_bars = pd.Timedelta(0), 0

    pnl, fees = _closed_pnls_and_fees(trades)
    exposure = _exposure(invested, n_bars)

    return pd.Series(_assemble(
        start=index[0], end=index[-1], bars=n_bars,
        equity_start=float(values[0]), equity_final=float(values[-1]),
        equity_peak=float(peak[-1]), periods=periods, risk_free=risk_free,
        mean_r=mean_r, var_r=var_r, downside_sq=downside_sq,
        max_drawdown=max_drawdown, max_dd_duration=max_dd_duration, max_dd_bars=max_dd_bars,
        n_trades=int(pnl.size), winners=int(np.sum(pnl > 0)),
        gross_profit=float(pnl[pnl > 0].sum()), gross_loss=float(pnl[pnl < 0].sum()),
        best=float(pnl.max()) if pnl.size else math.nan,
        worst=float(pnl.min()) if pnl.size else math.nan,
        fees=fees, exposure=exposure, benchmark=benchmark,
        m2=m2, m3=m3, m4=m4, gain=gain, loss=loss,
        drawdown_sq=float(np.sum(drawdown ** 2)), n_months=int(months.size),
        positive_months=int(np.sum(months > 0)),
        best_month=float(months.max()) if months.size else math.nan,
        worst_month=float(months.min()) if months.size else math.nan,
    ), dtype=object)


class RunningStats:
    """``compute_stats`` kept up to date one bar at a time, O(1) per bar.

    The constructor is bar 0: the starting capital marked before any fill (not
    invested, no fees). Each ``update`` adds one later bar. ``periods_per_year``
    is required; the engine gets it from ``infer_periods_per_year`` up front.
    """

    def __init__(self, start_equity: float, start_time, periods_per_year: float,
                 risk_free: float = 0.0):
        start_equity = float(start_equity)
        if not (math.isfinite(start_equity) and start_equity > 0):
            raise ValueError(f"start_equity must be a positive finite number, got {start_equity!r}")
        self._periods = _check_periods(periods_per_year)
        if math.isnan(self._periods):
            raise ValueError("periods_per_year is required (see infer_periods_per_year)")
        self._risk_free = _check_risk_free(risk_free)
        self._rf_per_bar = self._risk_free / self._periods
        self._start = self._time = _timestamp(start_time, "start_time")
        self._naive = self._start.tzinfo is None
        self._time_ns = self._start.value  # times are kept as integer nanoseconds
        self._equity_start = self._equity = self._peak = start_equity
        self._bars = 1
        # per-bar returns: Welford mean and M2, and the downside sum of squares
        self._returns_ok = True
        self._mean_r = self._m2 = self._downside_sum = 0.0
        # higher moments (Pebay's running M3, M4), Omega's sums, ulcer's sum of squares,
        # months: the current one (months since 1970-01, UTC), the equity before its
        # first bar, and the completed months' count, positives, best and worst
        self._extra_ok = True  # False for a state saved before these existed
        self._m3 = self._m4 = self._gain = self._loss = self._drawdown_sq = 0.0
        self._month, self._month_base, self._next_month_ns = _NO_MONTH, math.nan, -(2 ** 63)
        self._months = self._months_up = 0
        self._best_month = self._worst_month = math.nan
        # drawdowns
        self._max_drawdown = 0.0
        self._peak_ns, self._peak_bar, self._underwater = self._time_ns, 0, False
        self._max_dd_ns, self._max_dd_bars = 0, 0
        # closed trades, fees, exposure
        self._n_trades = self._winners = 0
        self._gross_profit = self._gross_loss = 0.0
        self._best = self._worst = math.nan
        self._fees = 0.0
        self._invested_bars = 0

    def update(self, time, equity: float, invested: bool, fees: float = 0.0,
               closed_pnls: Sequence[float] = ()) -> None:
        """Add the bar closing at ``time``: its equity, position flag, the fees
        paid and the net pnl of each trade closed on it."""
        time = _timestamp(time, "time")
        if (time.tzinfo is None) != self._naive:
            raise ValueError(f"time {time} and the start {self._start} mix naive and "
                             "time-zone-aware timestamps: use UTC throughout")
        ns = time.value
        if ns <= self._time_ns:
            raise ValueError(f"time {time} is not after the previous bar {self._time}")
        equity = float(equity)
        if not math.isfinite(equity):
            raise ValueError(f"equity at {time} must be finite, got {equity!r}")
        fees = float(fees)
        if not math.isfinite(fees):
            raise ValueError(f"fees at {time} must be finite, got {fees!r}")
        pnls = [float(p) for p in closed_pnls] if closed_pnls else ()
        if pnls and not all(math.isfinite(p) for p in pnls):
            raise ValueError(f"closed_pnls at {time} must be finite, got {pnls!r}")

        if self._equity <= 0:
            self._returns_ok = False
        if self._returns_ok:
            r = equity / self._equity - 1.0
            n = self._bars  # returns so far, including this one
            delta = r - self._mean_r
            dn = delta / n
            term = delta * dn * (n - 1)
            self._m4 += (term * dn * dn * (n * n - 3 * n + 3) + 6 * dn * dn * self._m2
                         - 4 * dn * self._m3)
            self._m3 += term * dn * (n - 2) - 3 * dn * self._m2
            self._mean_r += delta / n
            self._m2 += delta * (r - self._mean_r)
            self._downside_sum += min(r - self._rf_per_bar, 0.0) ** 2
            self._gain += max(r, 0.0)
            self._loss += max(-r, 0.0)
            if ns >= self._next_month_ns:  # a new month (cheap test: its start in ns)
                month = int(np.datetime64(ns, "ns").astype("datetime64[M]").astype(np.int64))
                self._new_month(month, self._equity)

        bar = self._bars
        if equity >= self._peak:
            if self._underwater:
                self._note_drawdown(ns, bar)
            self._peak, self._peak_ns, self._peak_bar = equity, ns, bar
            self._underwater = False
        else:
            self._underwater = True
            drawdown = equity / self._peak - 1.0
            if drawdown < self._max_drawdown:
                self._max_drawdown = drawdown
            self._drawdown_sq += drawdown * drawdown
            self._note_drawdown(ns, bar)

        for p in pnls:
            self._n_trades += 1
            if p > 0:
                self._winners += 1
                self._gross_profit += p
            elif p < 0:
                self._gross_loss += p
            self._best = p if math.isnan(self._best) else max(self._best, p)
            self._worst = p if math.isnan(self._worst) else min(self._worst, p)
        self._fees += fees
        self._invested_bars += bool(invested)
        self._time, self._time_ns, self._equity, self._bars = time, ns, equity, bar + 1

    def update_many(self, times, equity, invested, fees=None,
                    closed_pnls: Mapping[int, Sequence[float]] | None = None) -> None:
        """Add a block of bars at once, with numpy; the same result as calling
        :meth:`update` per bar (up to float rounding of the merged moments).

        ``times`` are ``datetime64`` values (UTC), ``fees`` per bar, and
        ``closed_pnls`` maps a bar's offset in the block to its closed trades' pnl.
        """
        ns = np.asarray(times, dtype="datetime64[ns]").astype(np.int64)
        e = np.asarray(equity, dtype=float)
        m = len(ns)
        if m == 0:
            return
        if len(e) != m or len(invested) != m:
            raise ValueError(f"update_many: {m} times but {len(e)} equity values and "
                             f"{len(invested)} invested flags")
        _check_block(ns, e, self._time_ns)
        self._add_block(ns, _months(ns), e, int(np.count_nonzero(invested)),
                        0.0 if fees is None else float(np.sum(fees)),
                        [p for _, pnls in sorted((closed_pnls or {}).items()) for p in pnls])

    @staticmethod
    def update_agents(stats: Sequence[RunningStats], times, equity, invested, fees,
                      closed_pnls: Sequence[Sequence[float]]) -> None:
        """:meth:`update_many` for many agents' running statistics over the same bars
        (a competition's block): ``equity``, ``invested`` and ``fees`` are
        ``(agents, bars)``, ``closed_pnls`` one list per agent (in bar order). The
        same values as one ``update_many`` per agent, with one set of checks."""
        ns = np.asarray(times, dtype="datetime64[ns]").astype(np.int64)
        e = np.asarray(equity, dtype=float)
        if not len(ns) or not len(stats):
            return
        if e.shape != (len(stats), len(ns)) or np.shape(invested) != e.shape:
            raise ValueError(f"update_agents: equity {e.shape} and invested "
                             f"{np.shape(invested)} must be (agents, bars) = "
                             f"{(len(stats), len(ns))}")
        _check_block(ns, e, max(s._time_ns for s in stats))
        months, counts = _months(ns), np.count_nonzero(invested, axis=1).tolist()
        for i, s in enumerate(stats):
            s._add_block(ns, months, e[i], counts[i], float(np.sum(fees[i])), closed_pnls[i])

    def _add_block(self, ns: np.ndarray, months: np.ndarray, e: np.ndarray, n_invested: int,
                   fees: float, pnls) -> None:
        """Add checked bars: times ``ns`` (their ``months``), equity ``e``, the count of
        invested bars, the fees and the closed trades' pnl (in order)."""
        m = len(ns)
        # returns, merged into the running moments (Chan et al.'s parallel update)
        if self._returns_ok:
            upto, mean_b, m2_b, m3_b, m4_b, down, gain, loss = block_returns(
                e, self._equity, self._rf_per_bar)
            if upto:
                n_a, n_b = self._bars - 1, upto
                delta = mean_b - self._mean_r
                n = n_a + n_b
                self._m4 += (m4_b + delta ** 4 * n_a * n_b * (n_a * n_a - n_a * n_b + n_b * n_b)
                             / n ** 3 + 6 * delta * delta * (n_a * n_a * m2_b + n_b * n_b * self._m2)
                             / n ** 2 + 4 * delta * (n_a * m3_b - n_b * self._m3) / n)
                self._m3 += (m3_b + delta ** 3 * n_a * n_b * (n_a - n_b) / n ** 2
                             + 3 * delta * (n_a * m2_b - n_b * self._m2) / n)
                self._mean_r += delta * n_b / n
                self._m2 += m2_b + delta * delta * n_a * n_b / n
                self._downside_sum += down
                self._gain += gain
                self._loss += loss
                starts = np.flatnonzero(np.diff(np.r_[self._month, months[:upto]]) != 0)
                if len(starts):  # each month's base: the equity before its first bar
                    bases = np.where(starts > 0, e[np.maximum(starts - 1, 0)], self._equity)
                    self._new_months(months[starts], bases)
            if upto < m:
                self._returns_ok = False
        # peaks and drawdowns, bar by bar (compiled)
        (self._peak, self._peak_ns, self._peak_bar, self._underwater, self._max_drawdown,
         self._drawdown_sq, self._max_dd_ns, self._max_dd_bars) = block_drawdowns(
            e, ns, self._bars, float(self._peak), int(self._peak_ns), int(self._peak_bar),
            bool(self._underwater), float(self._max_drawdown), float(self._drawdown_sq),
            int(self._max_dd_ns), int(self._max_dd_bars))
        # trades, fees, exposure
        self.add_closed_trades(pnls)
        self._fees += fees
        self._invested_bars += n_invested
        self._time_ns, self._equity, self._bars = int(ns[-1]), float(e[-1]), self._bars + m
        t = pd.Timestamp(self._time_ns)
        self._time = t if self._naive else t.tz_localize("UTC")

    def add_closed_trades(self, pnls) -> None:
        """Count trades closed on the bars added last (their net pnl, in order), with
        numpy (``update_many`` adds its ``closed_pnls`` through it)."""
        p = np.asarray(pnls, dtype=float)
        if not len(p):
            return
        if not np.all(np.isfinite(p)):
            raise ValueError(f"closed trades' pnl must be finite, got {p[~np.isfinite(p)][:3]}")
        won, lost = p[p > 0], p[p < 0]
        self._n_trades += len(p)
        self._winners += len(won)
        # cumsum adds one at a time, as the per-bar path does (the same float result)
        if len(won):
            self._gross_profit = float(np.cumsum(np.r_[self._gross_profit, won])[-1])
        if len(lost):
            self._gross_loss = float(np.cumsum(np.r_[self._gross_loss, lost])[-1])
        best, worst = float(p.max()), float(p.min())
        self._best = best if math.isnan(self._best) else max(self._best, best)
        self._worst = worst if math.isnan(self._worst) else min(self._worst, worst)

    def state(self) -> dict:
        """The running totals as JSON-safe values (see :meth:`from_state`)."""
        out = {k: (v.item() if hasattr(v, "item") else v) for k, v in vars(self).items()}
        out["_start"], out["_time"] = self._start.isoformat(), self._time.isoformat()
        return out

    @classmethod
    def from_state(cls, state: Mapping) -> RunningStats:
        """A RunningStats that continues from ``state`` (made by :meth:`state`)."""
        obj = cls.__new__(cls)
        if "_extra_ok" not in state:  # saved before the higher moments and months existed
            obj.__dict__.update(vars(cls(1.0, state["_start"], 1.0)), _extra_ok=False)
        obj.__dict__.update(state)
        obj._start, obj._time = pd.Timestamp(state["_start"]), pd.Timestamp(state["_time"])
        return obj

    def _new_month(self, month: int, base: float) -> None:
        """Close the current month (its last equity is ``base``) and open ``month``."""
        if self._month != _NO_MONTH:
            ret = base / self._month_base - 1.0
            self._months += 1
            self._months_up += ret > 0
            self._best_month = ret if self._months == 1 else max(self._best_month, ret)
            self._worst_month = ret if self._months == 1 else min(self._worst_month, ret)
        self._new_month_open(month, base)

    def _new_months(self, months: np.ndarray, bases: np.ndarray) -> None:
        """:meth:`_new_month` for each of ``months`` in turn (with numpy: the same values)."""
        closing = np.r_[self._month_base, bases]
        rets = closing[1:] / closing[:-1] - 1.0
        if self._month == _NO_MONTH:  # the first month opens, none closes
            rets = rets[1:]
        if len(rets):
            best, worst = float(rets.max()), float(rets.min())
            done = self._months
            self._best_month = best if not done else max(self._best_month, best)
            self._worst_month = worst if not done else min(self._worst_month, worst)
            self._months += len(rets)
            self._months_up += int(np.count_nonzero(rets > 0))
        self._new_month_open(int(months[-1]), float(bases[-1]))

    def _new_month_open(self, month: int, base: float) -> None:
        self._month, self._month_base = month, base
        self._next_month_ns = int(np.datetime64(month + 1, "M").astype("datetime64[ns]")
                                  .astype(np.int64))

    def _note_drawdown(self, ns: int, bar: int) -> None:
        """Equity is below (or just back at) the peak of ``_peak_bar``."""
        if ns - self._peak_ns > self._max_dd_ns:
            self._max_dd_ns = ns - self._peak_ns
        if bar - self._peak_bar > self._max_dd_bars:
            self._max_dd_bars = bar - self._peak_bar

    def snapshot(self, benchmark: float | None = None) -> dict:
        """The statistics so far, as ``compute_stats`` would give them."""
        n_returns = self._bars - 1
        ok = self._returns_ok and n_returns >= 1
        return _assemble(
            start=self._start, end=self._time, bars=self._bars,
            equity_start=self._equity_start, equity_final=self._equity,
            equity_peak=self._peak, periods=self._periods, risk_free=self._risk_free,
            mean_r=self._mean_r if ok else math.nan,
            var_r=max(self._m2, 0.0) / (n_returns - 1) if ok and n_returns >= 2 else math.nan,
            downside_sq=self._downside_sum / n_returns if ok else math.nan,
            max_drawdown=self._max_drawdown, max_dd_duration=pd.Timedelta(self._max_dd_ns),
            max_dd_bars=self._max_dd_bars,
            n_trades=self._n_trades, winners=self._winners,
            gross_profit=self._gross_profit, gross_loss=self._gross_loss,
            best=self._best, worst=self._worst, fees=self._fees,
            exposure=self._invested_bars / self._bars, benchmark=benchmark,
            **self._extra(ok),
        )

    def _extra(self, ok: bool) -> dict:
        """The running totals behind the higher moments, Omega, ulcer and months."""
        nan = math.nan
        if not self._extra_ok:
            return dict(m2=nan, m3=nan, m4=nan, gain=nan, loss=nan, drawdown_sq=nan,
                        n_months=0, positive_months=0, best_month=nan, worst_month=nan)
        months = dict(n_months=0, positive_months=0, best_month=nan, worst_month=nan)
        if ok and self._month != _NO_MONTH:  # the current month counts, as far as it has got
            ret = self._equity / self._month_base - 1.0
            done = self._months
            months = dict(n_months=done + 1, positive_months=self._months_up + (ret > 0),
                          best_month=max(self._best_month, ret) if done else ret,
                          worst_month=min(self._worst_month, ret) if done else ret)
        return dict(m2=self._m2 if ok else nan, m3=self._m3 if ok else nan,
                    m4=self._m4 if ok else nan, gain=self._gain if ok else nan,
                    loss=self._loss if ok else nan, drawdown_sq=self._drawdown_sq, **months)


def _check_block(ns: np.ndarray, e: np.ndarray, after_ns: int) -> None:
    if ns[0] <= after_ns or (len(ns) > 1 and np.any(np.diff(ns) <= 0)):
        raise ValueError("update_many: times must increase and follow the previous bar")
    if not np.all(np.isfinite(e)):
        raise ValueError("update_many: equity must be finite")


def _months(ns: np.ndarray) -> np.ndarray:
    """Months since 1970-01 (UTC) of integer nanosecond times."""
    return ns.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)


def _assemble(*, start, end, bars, equity_start, equity_final, equity_peak, periods,
              risk_free, mean_r, var_r, downside_sq, max_drawdown, max_dd_duration,
              max_dd_bars, n_trades, winners, gross_profit, gross_loss, best, worst,
              fees, exposure, benchmark, m2, m3, m4, gain, loss, drawdown_sq, n_months,
              positive_months, best_month, worst_month) -> dict:
    """Turn running totals into the statistics; every NaN/inf rule lives here."""
    n_returns = bars - 1
    growth = equity_final / equity_start
    if n_returns < 1 or growth < 0:
        return_ann = math.nan
    else:
        with np.errstate(over="ignore"):  # a short, steep run may annualise to inf
            return_ann = float(np.power(growth, periods / n_returns)) - 1.0

    sqrt_p = math.sqrt(periods)
    std = math.sqrt(var_r) if var_r == var_r else math.nan
    if std < _NOISE:
        std = 0.0
    mean_excess = mean_r - risk_free / periods
    downside = math.sqrt(downside_sq) if downside_sq == downside_sq else math.nan
    if downside < _NOISE:
        downside = 0.0

    return {
        "start": start,
        "end": end,
        "duration": end - start,
        "bars": bars,
        "equity_start": equity_start,
        "equity_final": equity_final,
        "equity_peak": equity_peak,
        "return_pct": (growth - 1.0) * 100.0,
        "return_ann_pct": return_ann * 100.0,
        "volatility_ann_pct": std * sqrt_p * 100.0,
        "sharpe": mean_excess / std * sqrt_p if std > 0 else math.nan,
        "sortino": (mean_excess / downside * sqrt_p
                    if downside > 0 and n_returns >= 2 else math.nan),
        "calmar": return_ann / -max_drawdown if max_drawdown < 0 else math.nan,
        "max_drawdown_pct": max_drawdown * 100.0,
        "max_drawdown_duration": max_dd_duration,
        "max_drawdown_bars": max_dd_bars,
        "win_rate_pct": winners / n_trades * 100.0 if n_trades else math.nan,
        "profit_factor": _profit_factor(n_trades, gross_profit, gross_loss),
        "trades": n_trades,
        "avg_trade": (gross_profit + gross_loss) / n_trades if n_trades else math.nan,
        "best_trade": best,
        "worst_trade": worst,
        "exposure_pct": exposure * 100.0,
        "fees": fees,
        "buy_hold_return_pct": math.nan if benchmark is None else float(benchmark) * 100.0,
        **moments_stats(n_returns, std, m2, m3, m4),
        "omega": gain / loss if loss > 0 else math.nan,
        "ulcer_index": math.sqrt(drawdown_sq / bars) * 100.0,
        "kelly": mean_excess / std ** 2 if std > 0 else math.nan,
        "recovery_factor": (growth - 1.0) / -max_drawdown if max_drawdown < 0 else math.nan,
        "best_month_pct": best_month * 100.0,
        "worst_month_pct": worst_month * 100.0,
        "positive_months_pct": positive_months / n_months * 100.0 if n_months else math.nan,
    }


def _profit_factor(n_trades: int, gross_profit: float, gross_loss: float) -> float:
    if gross_loss < 0:
        return gross_profit / -gross_loss
    if n_trades and gross_profit > 0:
        return math.inf
    return math.nan  # no trades, or only break-even trades

"""Shared pieces of the benchmarks: the SMA crossover in backtesting.py, the same
strategy in the arena, their trades as comparable round trips, and tiled data.

backtesting.py is an optional dependency (``pip install -e .[bench]``); it is
imported here only, never by the ``arena`` package.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar (tqdm >= 4.66)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from arena import Competition, CompetitionConfig, MarketData, PortfolioConfig  # noqa: E402

try:
    import backtesting
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise SystemExit(
        "the benchmarks need backtesting.py: pip install -e '.[bench]' "
        f"(import failed: {exc})"
    ) from None

CASH = 100_000.0
FAST, SLOW = 10, 20

#: backtesting.py's ``Strategy.buy()`` default size. It *prints* as ``.9999``
#: (its class overrides ``__repr__``) but its value is ``1 - sys.float_info.epsilon``,
#: so an all-in buy gets ``int(margin_available * (1 - 2.2e-16) // price)`` shares,
#: which is ``floor(cash / price)``: our ``weight=1.0``. See docs/benchmarks.md.
BT_DEFAULT_SIZE = float(Strategy._FULL_EQUITY)
WEIGHT = 1.0


def sma_spec(weight: float = WEIGHT, fast: int = FAST, slow: int = SLOW) -> str:
    return f"sma_cross:fast={fast},slow={slow},weight={weight:g}"


#: The mixed competition of engine_speed.py, cycled to ``--agents`` agents.
AGENT_MIX = (
    f"sma_cross:fast={FAST},slow={SLOW},weight={WEIGHT:g}", "buy_and_hold", "macd", "momentum",
    "mean_reversion", "rsi", "random", "sma_cross:fast=5,slow=30",
)


def portfolio_config(cash: float = CASH) -> PortfolioConfig:
    """No fees, no slippage, whole shares: backtesting.py's ``commission=0`` broker."""
    return PortfolioConfig(cash=cash, fee_bps=0, slippage_bps=0, whole_units=True)


# -- backtesting.py ----------------------------------------------------------------


def SMA(values, n):  # noqa: N802 - backtesting.py's tutorial name
    """The moving average of backtesting.py's SmaCross example (pandas rolling mean)."""
    return pd.Series(values).rolling(n).mean()


class SmaCrossBT(Strategy):
    """backtesting.py's canonical SmaCross: buy on a cross above, close on a cross below."""

    n1 = FAST
    n2 = SLOW

    def init(self):
        close = self.data.Close
        self.sma1 = self.I(SMA, close, self.n1)
        self.sma2 = self.I(SMA, close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()


def backtesting_frame(data: MarketData, symbol: str) -> pd.DataFrame:
    """One symbol's bars as backtesting.py wants them: Open..Volume, naive time index."""
    df = data.frame(symbol).rename(columns=str.capitalize)
    df.index = df.index.tz_localize(None)
    return df


_EXPECTED_WARNINGS = (
    "Some trades remain open",  # finalize_trades=False, on purpose
    "Some prices are larger than initial cash",  # tiled data compounds the trend
)


def run_backtesting(df: pd.DataFrame, cash: float = CASH,
                    notes: list[str] | None = None) -> pd.Series:
    """Run :class:`SmaCrossBT` on ``df``; open trades stay open (``finalize_trades=False``).

    ``finalize_trades=True`` would close them at the last bar's *open* and overwrite
    the last equity value with it, so the curves would no longer be comparable.
    Its warnings about cancelled orders go to ``notes`` if given; other warnings
    are re-issued.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bt = Backtest(df, SmaCrossBT, cash=cash, commission=0, exclusive_orders=False,
                      finalize_trades=False)
        stats = bt.run()
    for w in caught:
        msg = str(w.message)
        if msg.startswith(_EXPECTED_WARNINGS) or issubclass(
                w.category, DeprecationWarning | PendingDeprecationWarning | FutureWarning):
            continue  # deprecations inside backtesting.py are not ours to report
        if notes is None or "canceled" not in msg:
            warnings.warn(msg, w.category, stacklevel=2)
        else:
            notes.append(msg)
    return stats


# -- trades as round trips -----------------------------------------------------------

TRIP_COLUMNS = ["entry_bar", "exit_bar", "size", "entry_price", "exit_price"]


def backtesting_trips(stats: pd.Series) -> pd.DataFrame:
    """Closed and still-open trades of a backtesting.py run; exit_bar -1 = still open."""
    rows = [(int(r.EntryBar), int(r.ExitBar), float(r.Size), float(r.EntryPrice),
             float(r.ExitPrice)) for r in stats["_trades"].itertuples()]
    rows += [(int(t.entry_bar), -1, float(t.size), float(t.entry_price), np.nan)
             for t in stats["_strategy"].trades]
    return pd.DataFrame(rows, columns=TRIP_COLUMNS).sort_values("entry_bar", ignore_index=True)


def arena_trips(fills: pd.DataFrame) -> pd.DataFrame:
    """Pair one agent's fills into round trips (entry to flat); exit_bar -1 = still open.

    The SMA crossover only goes flat → long → flat, so each entry is followed by
    one exit of the whole position; anything else is reported, not guessed at.
    """
    rows, open_trip = [], None
    for f in fills.itertuples():
        if f.action == "entry":
            if open_trip is not None:
                raise ValueError(f"bar {f.bar}: entry while a trade is open (adding to a position)")
            open_trip = [int(f.bar), -1, float(f.quantity), float(f.price), np.nan]
        else:
            if open_trip is None or f.position != 0 or f.quantity != open_trip[2]:
                raise ValueError(f"bar {f.bar}: exit that is not a full close of the open trade")
            open_trip[1], open_trip[4] = int(f.bar), float(f.price)
            rows.append(open_trip)
            open_trip = None
    if open_trip is not None:
        rows.append(open_trip)
    return pd.DataFrame(rows, columns=TRIP_COLUMNS)


def trip_differences(ours: pd.DataFrame, theirs: pd.DataFrame) -> pd.DataFrame:
    """Rows where the two trade lists differ (by position in the list), both sides shown."""
    n = max(len(ours), len(theirs))
    a = ours.reindex(range(n))
    b = theirs.reindex(range(n))
    same = pd.Series(True, index=range(n))
    for c in TRIP_COLUMNS:
        x, y = a[c], b[c]
        same &= (x == y) | (x.isna() & y.isna())
    diff = ~same
    out = a[diff].add_prefix("arena_").join(b[diff].add_prefix("bt_"))
    return out


# -- the arena -----------------------------------------------------------------------


def run_arena(data: MarketData, agents: Sequence, record: bool = False,
              run_dir: str | None = None, cash: float = CASH) -> Competition:
    """Build and run a headless competition to the end; returns it."""
    cfg = CompetitionConfig(portfolio=portfolio_config(cash), record=record,
                            run_dir=run_dir or "runs")
    comp = Competition(data, list(agents), cfg)
    comp.run()
    return comp


# -- tiled data ----------------------------------------------------------------------


def tile(data: MarketData, symbol: str, n_bars: int) -> MarketData:
    """At least ``n_bars`` bars: ``symbol``'s real history repeated end to end.

    Each copy is rescaled so that its first open equals the previous copy's last
    close (prices join without a gap; the trend therefore compounds from copy to
    copy). Timestamps are new consecutive business days, or hours if that many
    business days do not fit in ``datetime64[ns]``.
    """
    j = data.column(symbol)
    o, h, lo, c, v = (getattr(data, f)[:, j] for f in ("open", "high", "low", "close", "volume"))
    copies = -(-n_bars // len(c))
    scale = (c[-1] / o[0]) ** np.arange(copies)
    cols = [np.concatenate([x * s for s in scale]) for x in (o, h, lo, c)]
    vol = np.tile(v, copies)
    n = copies * len(c)
    return MarketData(_session_times(n), (symbol,), *cols, vol, source=f"tiled {symbol} x{copies}")


def _session_times(n: int) -> np.ndarray:
    """``n`` increasing bar times: daily on business days from 2000-01-03 if they span
    under 250 years (backtesting.py's statistics subtract timestamps, and a
    ``pd.Timedelta`` holds at most 292 years), else hourly 09:00..16:00 (8 bars per
    business day), else every minute of a 09:30..16:00 session (390 per day)."""
    start = pd.Timestamp("2000-01-03")
    for per_day, offsets in ((1, [pd.Timedelta(0)]),
                             (8, pd.to_timedelta(range(9, 17), unit="h")),
                             (390, pd.Timedelta(hours=9, minutes=30)
                              + pd.to_timedelta(range(390), unit="min"))):
        days = -(-n // per_day)
        if days <= 250 * 260:
            day = pd.bdate_range(start, periods=days).to_numpy()
            t = (day[:, None] + np.asarray(offsets, dtype="timedelta64[ns]")[None, :]).ravel()
            return t[:n]
    raise ValueError(f"--bars {n} is too many for the benchmark's timestamps (max 25 million)")


# -- timing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    best: float
    runs: tuple[float, ...]
    result: object


def best_of(fn: Callable[[], object], repeat: int = 3) -> Timing:
    """Run ``fn`` ``repeat`` times; the best wall time (perf_counter) and the last result."""
    runs, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t)
    return Timing(min(runs), tuple(runs), result)


def quantiles(values: Sequence[float]) -> dict:
    """``n``, ``p50``, ``p95`` and ``max`` of ``values`` (numpy's linear percentiles;
    NaN when there are none)."""
    if not len(values):
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    a = np.asarray(values, dtype=float)
    return {"n": len(a), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "max": float(a.max())}


def versions() -> str:
    import numba

    return (f"backtesting.py {backtesting.__version__}, numba {numba.__version__}, "
            f"pandas {pd.__version__}, numpy {np.__version__}")

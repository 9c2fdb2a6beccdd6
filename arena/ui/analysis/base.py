"""What every tear-sheet view shares: the run read once (``_Run``), thinning of long
histories, and plain-text titles."""

from __future__ import annotations

from functools import cached_property

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend's options)
import numpy as np
import pandas as pd

from arena.analysis.exposure import Closes
from arena.analysis.runs import benchmark_equity, run_frames
from arena.analysis.tables import rolling_stats
from arena.analysis.trades import round_trips
from arena.ui import safe

__all__ = ["HEIGHT", "MAX_POINTS", "MAX_SCATTER", "WIDTH"]

MAX_POINTS = 5000  # above this many bars a curve is thinned to one point per UTC day
MAX_SCATTER = 5000  # above this many trades a scatter draws a seeded sample of them
WIDTH, HEIGHT = 480, 280


class _Run:
    """The frames of a run, read once, with one agent's equity checked; what several
    views need (round trips, the benchmark, the closes) is computed once, on demand."""

    def __init__(self, run, agent: str | None):
        self.run = run
        self.equity_frame, self.trades, self.bars = run_frames(run)
        names = list(self.equity_frame.columns)
        agent = names[0] if agent is None and names else agent
        if agent not in names:
            raise ValueError(f"no agent named {agent!r} in this run (agents: {names})")
        if len(self.equity_frame) < 2:
            raise ValueError("the run has fewer than 2 bars with equity: nothing to plot yet")
        self.agent = agent
        self.equity = self.equity_frame[agent].astype(float)
        self._rolling: dict[tuple, pd.DataFrame] = {}

    @cached_property
    def fills(self) -> pd.DataFrame:
        return self.trades[self.trades["agent"] == self.agent]

    @cached_property
    def trips(self) -> pd.DataFrame:
        """The agent's closed trades (``trades.round_trips``)."""
        return round_trips(self.fills)

    @cached_property
    def closes(self) -> Closes | None:
        return Closes(self.bars) if len(self.bars) else None

    def rolling(self, window: int, agent: str | None = None) -> pd.DataFrame:
        """``tables.rolling_stats`` of ``agent`` (default: this one; beta against
        :attr:`bench` for this one only), computed once per window."""
        agent = self.agent if agent is None else agent
        key = (agent, window)
        if key not in self._rolling:
            bench = self.bench if agent == self.agent else None
            self._rolling[key] = rolling_stats(self.equity_frame[agent].astype(float), window,
                                               benchmark_equity=bench)
        return self._rolling[key]

    @cached_property
    def bench(self) -> pd.Series | None:
        """Buy & hold from the agent's starting equity, on the equity's times (None
        without bars)."""
        if not len(self.bars):
            return None
        bench = benchmark_equity(self.bars, float(self.equity.iloc[0]))
        return bench if bench.index.equals(self.equity.index) else None


def _thin(s: pd.Series, how: str = "last") -> pd.Series:
    """``s`` itself up to :data:`MAX_POINTS` points, else one row per UTC day (the
    day's last row, or the row of its minimum for ``how="min"``), keeping real times.
    Leading NaNs (a rolling window filling up) go; later ones stay, drawn as gaps."""
    first = s.first_valid_index()
    s = s.iloc[:0] if first is None else s.loc[first:]
    if len(s) <= MAX_POINTS:
        return s
    day = s.index.asi8 // _day(s.index)
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])  # the index is in time order
    if how == "min":
        values = s.to_numpy(dtype=float)
        order = np.lexsort((values, day))  # by day, then value; NaN last within a day
        rows = order[starts]
        rows = rows[~np.isnan(values[rows])]  # a day of NaN only has no minimum
        return s.iloc[rows]
    return s.iloc[np.r_[starts[1:] - 1, len(s) - 1]]


def _day(index: pd.DatetimeIndex) -> int:
    """One day in the units of ``index.asi8``."""
    return int(pd.Timedelta(days=1) / pd.Timedelta(1, unit=index.unit))


def _sample(frame: pd.DataFrame, title: str) -> tuple[pd.DataFrame, str]:
    """At most :data:`MAX_SCATTER` rows of ``frame`` (a seeded random sample, in the
    original order), and ``title`` saying so when rows were left out."""
    if len(frame) <= MAX_SCATTER:
        return frame, title
    keep = np.sort(np.random.default_rng(0).choice(len(frame), MAX_SCATTER, replace=False))
    return frame.iloc[keep], f"{title}, {MAX_SCATTER:,} drawn"


def _frame(s: pd.Series, name: str) -> pd.DataFrame:
    return pd.DataFrame({"time": s.index.tz_convert("UTC").tz_localize(None),
                         name: s.to_numpy(dtype=float)})


def _escape(title: str) -> str:
    """HoloViews formats titles (``{label}``): braces from an agent's name are doubled."""
    return title.replace("{", "{{").replace("}", "}}")


def _opts(el, title: str, **kw):
    """``title`` as plain text, at the tear sheet's size."""
    return el.opts(title=_escape(title), width=WIDTH, height=HEIGHT, **kw)


def _window(r: _Run, window: int | None) -> int:
    """Default rolling window: a tenth of the bars, between 2 and 252."""
    return int(min(252, max(2, len(r.equity) // 10))) if window is None else window


def _holding_unit(holding: pd.Series) -> tuple[np.ndarray, str]:
    """Holding times in days, hours or minutes, whichever suits their median."""
    seconds = pd.to_timedelta(holding).dt.total_seconds().to_numpy(float)
    median = float(np.median(seconds)) if len(seconds) else 86400.0
    for unit, size in (("days", 86400.0), ("hours", 3600.0)):
        if median >= size:
            return seconds / size, unit
    return seconds / 60.0, "minutes"


def _table(frame: pd.DataFrame, title: str, height: int = HEIGHT, width: int = WIDTH,
           column_width: int | None = None):
    """``frame`` as an ``hv.Table`` (a Bokeh DataTable: cells are text, its columns sort
    on a click); ``column_width``: columns that wide, scrolled sideways. HoloViews puts a
    table's title into an HTML ``Div``, so it is escaped as markup too."""
    hooks = [] if column_width is None else [lambda plot, _: _fixed(plot, column_width)]
    return hv.Table(frame).opts(title=_escape(safe.text(title)), width=width, height=height,
                                hooks=hooks)


def _fixed(plot, column_width: int) -> None:
    table = plot.handles["table"]
    table.autosize_mode = "none"
    for column in table.columns:
        column.width = column_width


#: Bokeh's DataTable (HoloViews' ``hv.Table``) styled for the dark page: Bokeh themes
#: reach figures, not the table's grid, whose cells are light by default.
DARK_TABLE_CSS = """
.slick-header-column, .slick-header { background: #212121; color: #9aa4ad; }
.slick-row.even, .slick-row.odd, .slick-cell { background: #181818; color: #e6edf3; }
.slick-row.odd .slick-cell { background: #1f1f1f; }
.slick-cell.selected, .slick-row.active .slick-cell { background: #2d333b; }
.slick-cell.bk-cell-index, .slick-row.odd .slick-cell.bk-cell-index { background: #212121;
                                                                      color: #9aa4ad; }
"""


def _dark_table(plot, element) -> None:
    table = plot.handles.get("table")
    if table is not None:
        table.stylesheets = [*table.stylesheets, DARK_TABLE_CSS]


def on_dark(layout):
    """``layout`` with its tables styled for a dark page (the dashboard, the report)."""
    return layout.map(lambda table: table.opts(hooks=[_dark_table], clone=True), hv.Table)

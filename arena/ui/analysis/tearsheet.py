"""The tear sheet of one agent as composable HoloViews objects.

Each function takes a run (Competition, Recording or Replay, read through
``arena.analysis.runs.run_frames``) and an agent name, and draws the matching
``arena.analysis`` table; compose the results with ``+`` / ``*`` and style them with
``.opts(...)``. Agent names go into titles, legends, axes and table cells (plain text
in Bokeh), never into hover templates (no hover tool is set here). Long histories are
thinned to one point per UTC day before plotting (:data:`MAX_POINTS`), scatters of
many trades to a seeded sample (:data:`MAX_SCATTER`).

The views live by idea in ``returns``, ``risk``, ``trades`` and ``across``; this
module gathers them and builds the whole sheet, reading the run once.
"""

from __future__ import annotations

import holoviews as hv

from arena.ui.analysis.across import (
    _correlations,
    _sharpe_overlay,
    _statistics,
    correlation_heatmap,
    rolling_sharpe_overlay,
    statistics_table,
)
from arena.ui.analysis.base import HEIGHT, MAX_POINTS, MAX_SCATTER, WIDTH, _opts, _Run, _thin
from arena.ui.analysis.returns import (
    _cumulative,
    _distribution,
    _monthly,
    _yearly,
    cumulative_returns,
    monthly_heatmap,
    return_distribution,
    yearly_returns_bars,
)
from arena.ui.analysis.risk import (
    _drawdowns,
    _exposure,
    _rolling,
    _underwater,
    drawdown_table,
    exposure_plot,
    rolling_beta,
    rolling_sharpe,
    rolling_volatility,
    underwater,
)
from arena.ui.analysis.trades import (
    _excursions,
    _holding_hist,
    _pnl_hist,
    _scatter,
    _streaks,
    excursion_scatter,
    holding_histogram,
    pnl_histogram,
    streak_bars,
    trade_scatter,
)

__all__ = [
    "HEIGHT",
    "MAX_POINTS",
    "MAX_SCATTER",
    "SECTIONS",
    "VIEWS",
    "WIDTH",
    "correlation_heatmap",
    "cumulative_returns",
    "drawdown_table",
    "excursion_scatter",
    "exposure_plot",
    "holding_histogram",
    "monthly_heatmap",
    "pnl_histogram",
    "return_distribution",
    "rolling_beta",
    "rolling_sharpe",
    "rolling_sharpe_overlay",
    "rolling_volatility",
    "statistics_table",
    "streak_bars",
    "tear_sheet",
    "trade_scatter",
    "underwater",
    "yearly_returns_bars",
]

_KEEP = (_opts, _thin)  # kept importable from here (older callers and tests)

#: The sheet's views in order, by section: name -> builder of (run read once, window,
#: var_level).
SECTIONS = {
    "returns": {
        "cumulative_returns": lambda r, w, v: _cumulative(r),
        "monthly_heatmap": lambda r, w, v: _monthly(r),
        "yearly_returns_bars": lambda r, w, v: _yearly(r),
        "return_distribution": lambda r, w, v: _distribution(r, v),
    },
    "risk": {
        "underwater": lambda r, w, v: _underwater(r),
        "drawdown_table": lambda r, w, v: _drawdowns(r),
        "rolling_sharpe": lambda r, w, v: _rolling(r, w, "sharpe"),
        "rolling_volatility": lambda r, w, v: _rolling(r, w, "volatility"),
        "rolling_beta": lambda r, w, v: _rolling(r, w, "beta"),
        "exposure_plot": lambda r, w, v: _exposure(r),
    },
    "trades": {
        "trade_scatter": lambda r, w, v: _scatter(r),
        "pnl_histogram": lambda r, w, v: _pnl_hist(r),
        "holding_histogram": lambda r, w, v: _holding_hist(r),
        "excursion_scatter": lambda r, w, v: _excursions(r),
        "streak_bars": lambda r, w, v: _streaks(r),
    },
    "across": {
        "correlation_heatmap": lambda r, w, v: _correlations(r),
        "rolling_sharpe_overlay": lambda r, w, v: _sharpe_overlay(r, w),
        "statistics_table": lambda r, w, v: _statistics(r, v),
    },
}


#: Every view's name, in the sheet's order.
VIEWS = tuple(name for section in SECTIONS.values() for name in section)


def tear_sheet(run, agent: str, window: int | None = None, var_level: float = 0.95,
               views=None):
    """The views named in ``views`` (default: all of :data:`VIEWS`; a name of
    :data:`SECTIONS` stands for its views) as one ``hv.Layout`` in two columns, in the
    sheet's order, the run read once."""
    builders = {name: build for section in SECTIONS.values() for name, build in section.items()}
    wanted = set(VIEWS if views is None else ())
    for name in () if views is None else ([views] if isinstance(views, str) else views):
        if name in SECTIONS:
            wanted.update(SECTIONS[name])
        elif name in builders:
            wanted.add(name)
        else:
            raise ValueError(f"unknown tear-sheet view {name!r}; choose from "
                             f"{list(SECTIONS)} or {list(VIEWS)}")
    r = _Run(run, agent)
    return hv.Layout([builders[n](r, window, var_level) for n in VIEWS if n in wanted]).cols(2)


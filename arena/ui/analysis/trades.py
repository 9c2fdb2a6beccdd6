"""Trade views from ``arena.analysis.trades``: PnL against holding time, histograms of
holding time and PnL, MAE/MFE per trade, win and loss streaks."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd

from arena.analysis.trades import excursions, streak_runs, streaks
from arena.ui.analysis.base import _holding_unit, _opts, _Run, _sample

__all__ = ["excursion_scatter", "holding_histogram", "pnl_histogram", "streak_bars",
           "trade_scatter"]

OUTCOME_COLOURS = {"win": "#2ca02c", "loss": "#d62728", "even": "gray"}


def _bins(n: int) -> int:
    return min(50, max(5, n // 5))


def _histogram(values: np.ndarray, dim: hv.Dimension):
    counts, edges = np.histogram(values, bins=_bins(len(values))) if len(values) else (
        np.zeros(1, dtype=int), np.array([0.0, 1.0]))
    return hv.Histogram((edges, counts), kdims=[dim], vdims=["trades"])


def _scatter(r: _Run):
    trips = r.trips
    holding, unit = _holding_unit(trips["holding"])
    data = pd.DataFrame({"holding": holding, "pnl": trips["pnl"].to_numpy(dtype=float)})
    data, title = _sample(data, f"{r.agent}: PnL per trade ({len(trips)} closed")
    scatter = hv.Scatter(data, hv.Dimension("holding", label=f"holding time ({unit})"),
                         hv.Dimension("pnl", label="trade PnL"))
    return _opts(scatter.opts(size=6, alpha=0.6), title + ")")


def _holding_hist(r: _Run):
    holding, unit = _holding_unit(r.trips["holding"])
    hist = _histogram(holding, hv.Dimension("holding", label=f"holding time ({unit})"))
    return _opts(hist.opts(color="#1f77b4"), f"{r.agent}: holding time of trades")


def _pnl_hist(r: _Run):
    hist = _histogram(r.trips["pnl"].to_numpy(dtype=float),
                      hv.Dimension("pnl", label="trade PnL"))
    return _opts(hist.opts(color="#9467bd") * hv.VLine(0.0).opts(color="black", line_width=1),
                 f"{r.agent}: PnL of trades")


def _outcome(pnl: np.ndarray) -> np.ndarray:
    return np.where(pnl > 0, "win", np.where(pnl < 0, "loss", "even"))


def _excursions(r: _Run):
    trips = excursions(r.trips, r.bars) if len(r.trips) else r.trips.assign(mae=[], mfe=[])
    pnl = trips["pnl"].to_numpy(dtype=float)
    data = pd.DataFrame({"mae": trips["mae"].to_numpy(dtype=float) * 100.0,
                         "mfe": trips["mfe"].to_numpy(dtype=float) * 100.0,
                         "outcome": _outcome(pnl)})
    data, title = _sample(data, f"{r.agent}: MAE / MFE ({len(trips)} trades")
    scatter = hv.Scatter(data, hv.Dimension("mae", label="MAE (%, adverse)"),
                         [hv.Dimension("mfe", label="MFE (%, favourable)"), "outcome"])
    scatter = scatter.opts(color="outcome", cmap=OUTCOME_COLOURS, size=5, alpha=0.6,
                           show_legend=True, legend_position="bottom_left")
    return _opts(scatter, title + ")")


def _streaks(r: _Run):
    pnl = r.trips["pnl"].to_numpy(dtype=float)
    runs = streak_runs(pnl)
    longest = streaks(pnl)
    counts = (runs.groupby(["length", "kind"]).size().rename("runs").reset_index()
              if len(runs) else  # no closed trade: no streak of any kind
              pd.DataFrame({"length": [1, 1], "kind": ["win", "loss"], "runs": [0, 0]}))
    counts["length"] = counts["length"].astype(int).astype(str)
    bars = hv.Bars(counts, kdims=[hv.Dimension("length", label="trades in a row"), "kind"],
                   vdims=[hv.Dimension("runs", label="streaks")])
    bars = bars.opts(color="kind", cmap={"win": OUTCOME_COLOURS["win"],
                                         "loss": OUTCOME_COLOURS["loss"]},
                     show_legend=False)
    return _opts(bars, f"{r.agent}: streaks (longest {longest['wins']} wins, "
                       f"{longest['losses']} losses)")


def trade_scatter(run, agent: str):
    """PnL of each ``trades.round_trips`` row against its holding time (days, hours or
    minutes, whichever suits the median; a seeded sample above ``MAX_SCATTER`` trades)."""
    return _scatter(_Run(run, agent))


def holding_histogram(run, agent: str):
    """Histogram of the round trips' holding times."""
    return _holding_hist(_Run(run, agent))


def pnl_histogram(run, agent: str):
    """Histogram of the round trips' PnL, with a line at 0."""
    return _pnl_hist(_Run(run, agent))


def excursion_scatter(run, agent: str):
    """MAE against MFE (%, ``trades.excursions``) of each round trip, coloured by
    outcome (win, loss, even)."""
    return _excursions(_Run(run, agent))


def streak_bars(run, agent: str):
    """How many winning and losing streaks of each length (``trades.streak_runs``);
    the title gives the longest of each (``trades.streaks``)."""
    return _streaks(_Run(run, agent))

"""The tournament ranking with error bars: ``arena.analysis.significance.ranking``'s
mean and bootstrap confidence interval per competitor, best at the top, with buy &
hold marked (an agent that ran, or the results' ``buy_hold_return_pct`` as a line)."""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend's options)
import pandas as pd

from arena.analysis.significance import BUY_HOLD, metric_matrix, ranking
from arena.ui.sweep.table import LOWER_IS_BETTER, select

__all__ = ["BUY_AND_HOLD", "ranked", "ranking_plot"]

BUY_AND_HOLD = "buy_and_hold"  # the agent's name
_BH_COLUMN = "buy_hold_return_pct"
WIDTH = 640
MARK = "#e8a33d"  # buy & hold's colour
BAR = "#8fa6c4"  # the intervals' colour


def _heads(plot, _element) -> None:
    """The bars' end caps in the bars' colour (Bokeh draws them black), on either theme."""
    whisker = plot.handles["glyph"]
    for head in (whisker.lower_head, whisker.upper_head):
        if head is not None:
            head.line_color, head.line_width = BAR, 2


def ranked(results: pd.DataFrame, metric: str, top: int | None = 20, n_boot: int = 10_000,
           level: float = 0.95, seed: int | None = 0) -> pd.DataFrame:
    """``significance.ranking`` of the ``top`` competitors by mean ``metric`` (all with
    None) and buy & hold if it ran: the same numbers as ranking the whole table (the
    bootstrap resamples tasks, the same resamples whoever is in it), computed on fewer
    columns. Failed tasks are left out."""
    rows = select(results, metric, [])
    lower = metric in LOWER_IS_BETTER
    if top is not None:
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        matrix = metric_matrix(rows, metric)
        order = matrix.mean(axis=0).sort_values(ascending=lower, na_position="last")
        keep = set(order.index[:top]) | ({BUY_AND_HOLD} & set(matrix.columns))
        who = rows["spec"] if "spec" in rows.columns else rows["agent"]
        rows = rows[who.astype(str).isin(keep)]
    return ranking(rows, metric, n_boot=n_boot, level=level, seed=seed,
                   higher_is_better=not lower)


def ranking_plot(results: pd.DataFrame, metric: str, top: int | None = 20,
                 n_boot: int = 10_000, level: float = 0.95, seed: int | None = 0,
                 table: pd.DataFrame | None = None):
    """Each competitor's mean ``metric`` (a dot) and its ``level`` bootstrap CI (a bar),
    best at the top (:func:`ranked`; or a ``table`` that ``ranked`` made). Buy & hold is
    drawn in its own colour when it ran; for ``return_pct`` with the results'
    ``buy_hold_return_pct``, its mean over the tasks is a dashed line."""
    table = ranked(results, metric, top, n_boot, level, seed) if table is None else table
    shown = table.iloc[::-1].reset_index(drop=True)  # a categorical axis starts at the bottom
    shown["agent"] = shown["agent"].astype(str)
    shown["neg"] = shown["mean"] - shown["lo"]
    shown["pos"] = shown["hi"] - shown["mean"]
    extra = ["lo", "hi", "n", "p_beat_benchmark", "mean_rank"]
    bars = hv.ErrorBars(shown, kdims=["agent"], vdims=["mean", "neg", "pos"]).opts(
        color=BAR, line_width=2, hooks=[_heads])
    dots = hv.Scatter(shown, kdims=["agent"], vdims=["mean", *extra]).opts(
        size=7, color="#3b78c2", tools=["hover"])
    bh = shown[shown["agent"] == BUY_AND_HOLD]
    layers = [bars, dots]
    if len(bh):
        layers.append(hv.Scatter(bh, kdims=["agent"], vdims=["mean", *extra],
                                 label=BUY_HOLD).opts(size=10, color=MARK, marker="diamond",
                                                      tools=["hover"]))
    elif metric == "return_pct" and _BH_COLUMN in results.columns:
        rows = select(results, metric, [])
        bench = metric_matrix(rows, metric, benchmark=_BH_COLUMN)[BUY_HOLD]
        layers.append(hv.VLine(float(bench.mean()), label=BUY_HOLD).opts(
            color=MARK, line_dash="dashed", line_width=2))
    pct = int(round(level * 100)) if level * 100 == round(level * 100) else level * 100
    title = f"{metric}: mean and {pct}% bootstrap CI over tasks"
    return hv.Overlay(layers).opts(
        invert_axes=True, width=WIDTH, height=max(220, 80 + 22 * len(shown)),
        title=title, xlabel="", ylabel=metric, show_grid=True, show_legend=False)

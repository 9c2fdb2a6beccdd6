"""Views of a sweep over more than two parameters, one point or line per combination
of the parameters (its mean ``metric`` over markets, windows and seeds:
:func:`arena.ui.sweep.table.combination_means`).

* :func:`scatter`: the metric against each parameter, side by side (an ``hv.Layout``
  of ``hv.Scatter``), coloured by the metric, every parameter in the hover;
* :func:`parallel_coordinates`: one line per combination across the parameters'
  axes (each scaled to its own min..max; the metric the last axis), coloured by the
  metric, so the good combinations show as a band of one colour.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend's options)
import numpy as np
import pandas as pd

from arena.ui.sweep.table import LOWER_IS_BETTER, combination_means, label, parameters

__all__ = ["normalised", "parallel_coordinates", "scatter"]

WIDTH, HEIGHT = 300, 260


def _params(results: pd.DataFrame, params) -> list[str]:
    return parameters(results) if params is None else list(params)


def _cmap(metric: str) -> str:
    return "RdYlGn_r" if metric in LOWER_IS_BETTER else "RdYlGn"


def scatter(results: pd.DataFrame, metric: str, params=None):
    """``metric`` against each of ``params`` (default: every parameter that varies),
    one point per combination that ran."""
    params = _params(results, params)
    means = combination_means(results, metric, params)
    finite = means[metric].dropna()
    clim = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    plots = []
    for p in params:
        others = [q for q in params if q != p]
        plots.append(hv.Scatter(means, kdims=[p], vdims=[metric, *others, "n"]).opts(
            color=metric, cmap=_cmap(metric), clim=clim, size=7, tools=["hover"],
            width=WIDTH, height=HEIGHT, title=f"{metric} by {p}", xlabel=p,
            ylabel=f"mean {metric}", jitter=None))
    return hv.Layout(plots).cols(3)


def normalised(means: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Each column scaled to 0..1 over its min..max (0.5 where all values are equal;
    a text column by the order of its sorted values)."""
    out = pd.DataFrame(index=means.index)
    for c in columns:
        values = means[c]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            order = {v: i for i, v in enumerate(sorted(pd.unique(values.dropna())))}
            values = values.map(order).astype(float)
        values = values.astype(float)
        lo, hi = values.min(), values.max()
        out[c] = 0.5 if not hi > lo else (values - lo) / (hi - lo)
    return out


def parallel_coordinates(results: pd.DataFrame, metric: str, params=None):
    """One line per combination of ``params`` (default: every parameter that varies)
    over one vertical axis per parameter, then the metric's; each axis labelled with
    its lowest and highest value."""
    params = _params(results, params)
    means = combination_means(results, metric, params)
    axes = [*params, metric]
    scaled = normalised(means, axes)
    xs = np.arange(len(axes), dtype=float)
    # the best drawn last, on top
    order = means[metric].sort_values(ascending=metric not in LOWER_IS_BETTER).index
    paths = [{"x": xs, "y": scaled.loc[i, axes].to_numpy(dtype=float), metric: means.at[i, metric],
              **{p: label(means.at[i, p]) for p in params}}
             for i in order if np.isfinite(means.at[i, metric])]
    finite = means[metric].dropna()
    clim = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    lines = hv.Path(paths, vdims=[metric, *params]).opts(
        color=metric, cmap=_cmap(metric), clim=clim, colorbar=True, line_width=2, alpha=0.7,
        tools=["hover"])
    ends = []
    for i, c in enumerate(axes):
        values = means[c].dropna()
        if len(values):
            show = (lambda v: f"{v:.3g}") if c == metric else label
            ends += [(i, -0.07, show(min(values))), (i, 1.07, show(max(values)))]
    ticks = hv.Labels(pd.DataFrame(ends, columns=["x", "y", "text"]), ["x", "y"], "text").opts(
        text_font_size="8pt", text_color="#888888", text_baseline="middle")
    rules = hv.VLines(pd.DataFrame({"x": xs}), kdims=["x"]).opts(color="#999999", line_width=1)
    return (rules * lines * ticks).opts(
        width=2 * WIDTH, height=HEIGHT + 60, xticks=list(enumerate(axes)), yaxis=None,
        xlabel="", ylim=(-0.15, 1.15), title=f"mean {metric} per combination of "
                                              f"{', '.join(params)}", show_legend=False)

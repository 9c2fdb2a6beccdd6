"""A metric over two parameters of a sweep, as an ``hv.HeatMap``.

Each cell is :func:`arena.ui.sweep.table.grid_means`' mean over the tasks that ran
with that pair of values (every other parameter, market, window and seed); with
``sliders``, the other parameters that vary get a slider each instead (an
``hv.HoloMap``, which notebooks and ``pn.panel`` show with its widgets).
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend's options)
import numpy as np
import pandas as pd

from arena.ui.sweep.table import LOWER_IS_BETTER, grid_means, label, parameters, select

__all__ = ["MAX_LABELS", "heatmap"]

MAX_LABELS = 225  # cells up to which each shows its value
WIDTH, HEIGHT = 560, 420


def heatmap(results: pd.DataFrame, metric: str, x: str, y: str, sliders: bool = False,
            **fixed):
    """``metric`` over parameters ``x`` and ``y``: the mean over the rows that match
    ``fixed`` (``agent="sma_cross"``, ``market="GOOG"``, ``slow=50``...). With
    ``sliders``, a HoloMap keyed by the other parameters that vary (one slider each)."""
    by = []
    if sliders:
        rows = select(results, metric, [x, y], **fixed)
        by = [p for p in parameters(rows) if p not in (x, y, *fixed)]
    table = grid_means(results, metric, x, y, by=by, **fixed)
    finite = table[metric].dropna()
    clim = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    title = _title(metric, x, y, fixed)
    if not by:
        return _heat(table, metric, x, y, clim, title)
    maps = {key if len(by) > 1 else key[0]: _heat(part, metric, x, y, clim, title)
            for key, part in table.groupby(by, sort=True)}
    return hv.HoloMap(maps, kdims=by)


def _heat(table: pd.DataFrame, metric: str, x: str, y: str, clim, title: str):
    """One heatmap: values as categorical labels (equal cells, in value order)."""
    shown = table[[x, y, metric, "n"]].copy()
    shown[x] = shown[x].map(label)
    shown[y] = shown[y].map(label)
    heat = hv.HeatMap(shown, kdims=[x, y], vdims=[metric, "n"]).opts(
        cmap="RdYlGn_r" if metric in LOWER_IS_BETTER else "RdYlGn", clim=clim,
        colorbar=True, tools=["hover"], width=WIDTH, height=HEIGHT, title=title,
        xlabel=x, ylabel=y, clipping_colors={"NaN": "#00000000"})
    if len(shown) > MAX_LABELS:
        return heat
    text = shown.assign(text=[("" if not np.isfinite(v) else f"{v:.3g}")
                              for v in shown[metric]])
    labels = hv.Labels(text, kdims=[x, y], vdims=["text"]).opts(
        text_font_size="8pt", text_color="black")
    return heat * labels


def _title(metric: str, x: str, y: str, fixed: dict) -> str:
    said = ", ".join(f"{k}={label(v)}" for k, v in fixed.items())
    title = f"mean {metric} by {x} and {y}" + (f" ({said})" if said else "")
    return title.replace("{", "{{").replace("}", "}}")  # HoloViews formats titles

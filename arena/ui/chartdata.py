"""Helpers shared by the live charts: decimate, append to a ColumnDataSource while
keeping what the browser holds bounded, and draw a plain line cheaply."""

from __future__ import annotations

from math import copysign

import numpy as np
from bokeh.models import CDSView, ColumnDataSource, GlyphRenderer, Line

from streams.decimate import envelope_indices


def decimate(columns: dict[str, np.ndarray], max_points: int) -> dict[str, np.ndarray]:
    """At most ``max_points`` rows of ``columns`` (a ``time`` column plus value
    columns), keeping every value column's extremes."""
    n = len(columns["time"])
    if n <= max_points:
        return columns
    values = np.column_stack([v for k, v in columns.items() if k != "time"])
    idx = envelope_indices(np.nan_to_num(values), max_points)
    return {k: np.asarray(v)[idx] for k, v in columns.items()}


def small_as_lists(columns: dict, limit: int = 50) -> dict:
    """A few rows go to the browser cheaper as plain JSON lists than as binary arrays
    (each array carries its own header); whole numbers go without their ``.0``
    (``1107302400000`` for ``1107302400000.0``: the same number in the page)."""
    if len(next(iter(columns.values()))) > limit:
        return columns
    return {k: _whole_as_int(np.asarray(v).tolist()) for k, v in columns.items()}


def _whole_as_int(values: list) -> list:
    return [int(x) if isinstance(x, float) and x.is_integer() and (x or copysign(1, x) > 0)
            else x for x in values]  # (-0.0 stays: it may show as -0.00)


def append_bounded(source: ColumnDataSource, new: dict, max_points: int) -> None:
    """Stream ``new`` rows into ``source``; once it would hold more than twice
    ``max_points``, decimate everything to ``max_points`` and send it whole."""
    n = len(source.data["time"])
    if n + len(new["time"]) > 2 * max_points:
        merged = {k: np.concatenate([np.asarray(source.data[k], dtype=float), v])
                  for k, v in new.items()}
        source.data = decimate(merged, max_points)
    else:
        source.stream(small_as_lists(new))


def plain_line(fig, source: ColumnDataSource, x: str, y, name: str | None = None,
               view: CDSView | None = None, **line) -> GlyphRenderer:
    """A line renderer of ``y`` against ``x`` with just its own glyph. ``figure.line``
    also makes a selection, non-selection and muted copy of each glyph, which the
    live charts never use: a third of the models, and of the server's work to build a
    session's page. ``view``: one to share among the lines of one unfiltered source
    (each line otherwise gets a view and a filter of its own, two more models)."""
    return fig.add_glyph(source, Line(x=x, y=y, **line), name=name,
                         **({"view": view} if view is not None else {}))

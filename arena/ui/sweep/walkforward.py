"""Walk-forward optimisation's out-of-sample equity: the stitched curve with a vertical
line where each out-of-sample window starts, and each window's label at its start.

The input is a DataFrame indexed by UTC time with an ``equity`` column and a
``window`` column naming the window (and the parameters chosen on its in-sample
part); any other column (``params``...) shows in the hover.
"""

from __future__ import annotations

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers the bokeh backend's options)
import pandas as pd

__all__ = ["boundaries", "walk_forward_plot"]

WIDTH, HEIGHT = 760, 320
MAX_LABELS = 20  # windows up to which each is labelled at its start


def _check(oos: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(oos, pd.DataFrame):
        raise TypeError(f"the out-of-sample equity must be a DataFrame, got "
                        f"{type(oos).__name__}")
    missing = [c for c in ("equity", "window") if c not in oos.columns]
    if missing:
        raise ValueError(f"the out-of-sample equity has no column {', '.join(missing)}; it "
                         f"has {', '.join(map(str, oos.columns))}")
    if not isinstance(oos.index, pd.DatetimeIndex):
        raise ValueError("the out-of-sample equity must be indexed by time (a DatetimeIndex)")
    if len(oos) < 2:
        raise ValueError("the out-of-sample equity has fewer than 2 rows: nothing to plot")
    if not oos.index.is_monotonic_increasing:
        raise ValueError("the out-of-sample equity's times are not in order")
    return oos


def boundaries(oos: pd.DataFrame) -> pd.DataFrame:
    """Where each window starts: ``time`` (its first row) and ``window``, in order."""
    oos = _check(oos)
    w = oos["window"].astype(str)
    start = w.ne(w.shift())
    return pd.DataFrame({"time": oos.index[start.to_numpy()], "window": w[start].to_numpy()})


def walk_forward_plot(oos: pd.DataFrame, title: str = "walk-forward: out-of-sample equity"):
    """The stitched equity, a dashed line at each window's start after the first, and
    the windows' labels along the top (up to :data:`MAX_LABELS` windows)."""
    oos = _check(oos)
    index = oos.index.tz_convert("UTC") if oos.index.tz is not None else oos.index
    frame = oos.reset_index(drop=True).assign(time=index.tz_localize(None))
    frame["window"] = frame["window"].astype(str)
    extra = [c for c in frame.columns if c not in ("time", "equity")]
    curve = hv.Curve(frame, "time", ["equity", *extra]).opts(
        tools=["hover"], color="#3b78c2", line_width=2)
    starts = boundaries(oos)
    times = starts["time"].dt.tz_convert("UTC").dt.tz_localize(None) \
        if starts["time"].dt.tz is not None else starts["time"]
    lines = hv.VLines(pd.DataFrame({"time": times.iloc[1:].to_numpy()}), kdims=["time"]).opts(
        color="#999999", line_dash="dashed")
    layers = [curve, lines]
    if len(starts) <= MAX_LABELS:
        top = float(frame["equity"].max())
        labels = pd.DataFrame({"time": times.to_numpy(), "equity": top,
                               "text": starts["window"].to_numpy()})
        layers.append(hv.Labels(labels, ["time", "equity"], "text").opts(
            text_font_size="8pt", text_align="left", text_baseline="bottom",
            text_color="#888888", xoffset=0))
    return hv.Overlay(layers).opts(width=WIDTH, height=HEIGHT, show_grid=True,
                                   title=title.replace("{", "{{").replace("}", "}}"),
                                   ylabel="equity", xlabel="")

"""Colours and small formatting helpers shared by the components."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Colour-blind-friendly, readable on the dark template (Okabe-Ito + extras).
PALETTE = ("#56b4e9", "#e69f00", "#009e73", "#f0e442", "#cc79a7", "#d55e00", "#0072b2",
           "#bbbbbb", "#8dd3c7", "#fb8072", "#80b1d3", "#fdb462")
UP, DOWN, FLAT = "#26a69a", "#ef5350", "#9e9e9e"
EVENT_COLOURS = {
    "lifecycle": "#56b4e9", "trade": "#26a69a", "progress": "#9e9e9e",
    "agent_error": "#ffb74d", "error": "#ef5350",
}
MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}


def event_group(kind: str) -> str:
    """The colour group of an event kind."""
    if kind.startswith("competition_"):
        return "lifecycle"
    if kind in ("data_error", "engine_error", "recording_error"):
        return "error"
    return kind if kind in EVENT_COLOURS else "progress"


def epoch_ms(times) -> np.ndarray:
    """UTC times → float milliseconds since the epoch (Bokeh's datetime unit)."""
    t = pd.DatetimeIndex(times)
    if t.tz is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.values.astype("datetime64[ms]").astype(np.int64).astype(float)

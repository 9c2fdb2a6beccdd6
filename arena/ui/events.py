"""Event log: lifecycle, trades, decisions, progress and errors, newest first,
the kind coloured by its group (``theme.EVENT_COLOURS``); messages shown as text."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param
from bokeh.models import CategoricalColorMapper, StringFormatter

from arena.channels import EVENT_KINDS
from arena.ui.decisions import TEXT_FORMATTER
from arena.ui.feed import SessionFeed
from arena.ui.theme import EVENT_COLOURS, event_group
from arena.ui.trades import feed_table, is_intraday, time_labels

COLUMNS = {"wall": "Wall time", "time": "Bar time", "kind": "Kind", "agent": "Agent",
           "message": "Message"}


def kind_formatter() -> StringFormatter:
    """Kind text in its group's colour (unknown kinds: the progress grey)."""
    mapper = CategoricalColorMapper(
        factors=list(EVENT_KINDS), palette=[EVENT_COLOURS[event_group(k)] for k in EVENT_KINDS],
        nan_color=EVENT_COLOURS["progress"])
    return StringFormatter(text_color={"field": "kind", "transform": mapper}, font_style="bold",
                           null_format="", nan_format="")


def wall_labels(wall: pd.Series) -> list[str]:
    """'2026-01-31T14:30:05.123Z' → '14:30:05' (the log is about now)."""
    return [w[11:19] if isinstance(w, str) and len(w) >= 19 else "" for w in wall]


class EventLog(pn.viewable.Viewer):
    """The competition's events, newest first, bounded."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    max_rows = param.Integer(default=300, bounds=(10, 10_000), doc="newest events kept")
    height = param.Integer(default=300, bounds=(100, 2000), doc="table height in pixels")

    def __init__(self, **params):
        super().__init__(**params)
        self._intraday = is_intraday(self.feed.competition.data.times)
        self.table = feed_table(
            COLUMNS, value=self._empty(), height=self.height,
            widths={"wall": 76, "time": 92, "kind": 160, "agent": 130},
            formatters={"kind": kind_formatter(), "message": dict(TEXT_FORMATTER)},
            css_classes=["arena-events"])
        self.feed.subscribe("events", self._on_rows, self._on_reset)

    @staticmethod
    def _empty() -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})

    def _on_reset(self) -> None:
        self._intraday = is_intraday(self.feed.competition.data.times)
        self.table.value = self._empty()

    def _on_rows(self, rows: pd.DataFrame) -> None:
        df = pd.DataFrame({
            "wall": wall_labels(rows["wall_time"]),
            "time": time_labels(rows["time"], self._intraday),
            "kind": rows["kind"].to_numpy(dtype=object),
            "agent": rows["agent"].fillna("").to_numpy(dtype=object),
            "message": rows["message"].fillna("").to_numpy(dtype=object),
        })
        self.table.stream(df, rollover=self.max_rows)

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("#### Events", margin=(0, 10)), self.table,
                         sizing_mode="stretch_width")

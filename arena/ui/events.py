"""Event log: lifecycle, trades, progress and errors, newest first, the kind
coloured by its group (``theme.EVENT_COLOURS``); messages shown as text."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from arena.ui.feed import SessionFeed
from arena.ui.logview import LogView
from arena.ui.theme import event_group
from arena.ui.trades import is_intraday, time_labels


def wall_labels(wall: pd.Series) -> list[str]:
    """'2026-01-31T14:30:05.123Z' → '14:30:05' (the log is about now)."""
    return [w[11:19] if isinstance(w, str) and len(w) >= 19 else "" for w in wall]


class EventLog(pn.viewable.Viewer):
    """The competition's events, newest first, bounded."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    max_rows = param.Integer(default=200, bounds=(10, 10_000), doc="newest events kept")
    height = param.Integer(default=300, bounds=(100, 2000), doc="table height in pixels")

    def __init__(self, **params):
        super().__init__(**params)
        self._intraday = is_intraday(self.feed.competition.data.times)
        self.table = LogView(
            columns=[["Wall time", "60px", ""], ["Bar time", "80px", ""],
                     ["Kind", "minmax(64px, 140px)", ""], ["Agent", "minmax(50px, 110px)", ""],
                     ["Message", "minmax(100px, 1fr)", "w"]],
            max_rows=self.max_rows, placeholder="No events yet", height=self.height,
            sizing_mode="stretch_width", css_classes=["arena-events"])
        self.feed.subscribe("events", self._on_rows, self._on_reset)

    def _on_reset(self) -> None:
        self._intraday = is_intraday(self.feed.competition.data.times)
        self.table.clear()

    def _on_rows(self, rows: pd.DataFrame) -> None:
        kinds = rows["kind"].astype(str).tolist()
        self.table.append(
            list(zip(wall_labels(rows["wall_time"]),
                     time_labels(rows["time"], self._intraday).tolist(), kinds,
                     rows["agent"].fillna("").astype(str).tolist(),
                     rows["message"].fillna("").astype(str).tolist(), strict=True)),
            [[None, None, "g-" + event_group(k), None, None] for k in kinds])

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("#### Events", margin=(0, 10)), self.table,
                         sizing_mode="stretch_width")

"""Decision feed: what each agent decided and why, newest first, filterable by agent.

Reasoning is free text from agents (and LLMs): it is shown literally (Tabulator's
``textarea`` formatter escapes HTML and wraps lines), never as HTML. Filtering
hides rows in the view only; rows that arrive while filtered are kept.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import panel as pn
import param

from arena.ui.feed import SessionFeed
from arena.ui.trades import feed_table, is_intraday, money, time_labels

COLUMNS = {"time": "Time", "agent": "Agent", "targets": "Targets", "confidence": "Conf.",
           "reasoning": "Reasoning"}
TEXT_FORMATTER = {"type": "textarea"}  # Tabulator escapes the text and wraps it


def targets_text(targets) -> str:
    """'AAPL +50% · MSFT 0%' from the stream's JSON targets; 'hold' when missing."""
    if targets is None or (isinstance(targets, float) and pd.isna(targets)) or targets == "":
        return "hold"
    try:
        weights = json.loads(targets)
    except (TypeError, ValueError):
        return str(targets)
    if not isinstance(weights, dict):
        return str(targets)
    return " · ".join(f"{sym} {100 * float(w):+.0f}%" if w else f"{sym} 0%"
                      for sym, w in weights.items())


class DecisionsFeed(pn.viewable.Viewer):
    """Each decision (targets, confidence, reasoning), newest first, per agent."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    max_rows = param.Integer(default=300, bounds=(10, 10_000), doc="newest decisions kept")
    height = param.Integer(default=320, bounds=(100, 2000), doc="table height in pixels")

    def __init__(self, **params):
        super().__init__(**params)
        comp = self.feed.competition
        self._intraday = is_intraday(comp.data.times)
        self.agent_filter = pn.widgets.MultiChoice(
            label="", options=list(comp.agent_names), placeholder="all agents", width=260,
            margin=(2, 5))
        self.table = feed_table(
            COLUMNS, value=self._empty(), height=self.height,
            widths={"time": 92, "agent": 130, "targets": 160, "confidence": 52},
            formatters={"reasoning": TEXT_FORMATTER, "targets": TEXT_FORMATTER,
                        "confidence": money()},
            css_classes=["arena-decisions"])
        self.table.add_filter(self.agent_filter, "agent")
        self.feed.subscribe("decisions", self._on_rows, self._on_reset)

    @staticmethod
    def _empty() -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "confidence" else object)
                             for c in COLUMNS})

    def _on_reset(self) -> None:
        comp = self.feed.competition
        self._intraday = is_intraday(comp.data.times)
        names = list(comp.agent_names)
        self.agent_filter.param.update(options=names,
                                       value=[a for a in self.agent_filter.value if a in names])
        self.table.value = self._empty()

    def _on_rows(self, rows: pd.DataFrame) -> None:
        df = pd.DataFrame({
            "time": time_labels(rows["time"], self._intraday),
            "agent": rows["agent"].to_numpy(dtype=object),
            "targets": [targets_text(t) for t in rows["targets"].to_numpy(dtype=object)],
            "confidence": np.round(rows["confidence"].to_numpy(dtype=float), 3),
            "reasoning": rows["reasoning"].fillna("").to_numpy(dtype=object),
        })
        self.table.stream(df, rollover=self.max_rows)

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("#### Decisions", margin=(0, 10)), pn.HSpacer(),
                   self.agent_filter, sizing_mode="stretch_width"),
            self.table, sizing_mode="stretch_width")

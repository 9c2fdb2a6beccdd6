"""Decision feed: what each agent decided and why, newest first, filterable by agent.

Reasoning is free text from agents (and LLMs): it is shown literally (the
LogView sets it as text and wraps it), never as HTML. Filtering hides rows in
the view only; rows that arrive while filtered are kept.
"""

from __future__ import annotations

import json

import pandas as pd
import panel as pn
import param

from arena.ui.feed import SessionFeed
from arena.ui.logview import LogView
from arena.ui.safe import MultiChoice
from arena.ui.trades import fmt_number, is_intraday, time_labels


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
    max_rows = param.Integer(default=200, bounds=(10, 10_000), doc="newest decisions kept")
    height = param.Integer(default=320, bounds=(100, 2000), doc="table height in pixels")

    def __init__(self, **params):
        super().__init__(**params)
        comp = self.feed.competition
        self._intraday = is_intraday(comp.data.times)
        self.agent_filter = MultiChoice(
            label="", options=list(comp.agent_names), placeholder="all agents", width=260,
            margin=(2, 5))
        self.table = LogView(
            columns=[["Time", "88px", ""], ["Agent", "minmax(90px, 130px)", ""],
                     ["Targets", "minmax(110px, 170px)", "w"], ["Conf.", "40px", "r"],
                     ["Reasoning", "minmax(160px, 1fr)", "w"]],
            max_rows=self.max_rows, filter_column=1, placeholder="No decisions yet",
            height=self.height, sizing_mode="stretch_width", css_classes=["arena-decisions"])
        self.agent_filter.link(self.table, value="filter_values")
        self.feed.subscribe("decisions", self._on_rows, self._on_reset)

    def _on_reset(self) -> None:
        comp = self.feed.competition
        self._intraday = is_intraday(comp.data.times)
        names = list(comp.agent_names)
        self.agent_filter.param.update(options=names,
                                       value=[a for a in self.agent_filter.value if a in names])
        self.table.clear()

    def _on_rows(self, rows: pd.DataFrame) -> None:
        self.table.append(list(zip(
            time_labels(rows["time"], self._intraday).tolist(),
            rows["agent"].astype(str).tolist(),
            [targets_text(t) for t in rows["targets"].to_numpy(dtype=object)],
            fmt_number(rows["confidence"], 2),
            rows["reasoning"].fillna("").astype(str).tolist(), strict=True)))

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("#### Decisions", margin=(0, 10)), pn.HSpacer(),
                   self.agent_filter, sizing_mode="stretch_width"),
            self.table, sizing_mode="stretch_width")

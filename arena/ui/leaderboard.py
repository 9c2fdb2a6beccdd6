"""Leaderboard: agents ranked by equity, re-ranked live, changes marked.

A :class:`KeyedView` keyed by agent: once a second (``SessionFeed.table_period``)
the page gets only the cells that changed at the precision shown, and the new
order after a re-rank. Medals mark the top three; ▲n / ▼n how many places an
agent moved since the last update; PnL is green or red by its sign.
"""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from arena.ui.feed import SessionFeed
from arena.ui.keyedview import KeyedView

# what decides the ranking first, so that a narrow window still shows it: rank to PnL
# (about 450 px) fit beside the equity chart at 1366 px, the rest scrolls
# name, title, width, format (see KeyedView.columns)
COLUMNS = [
    ("rank", "Rank", "44px", "rank"), ("move", "Δ", "30px", "move"),
    ("agent", "Agent", "minmax(120px, 1.5fr)", "text"),
    ("return_pct", "PnL %", "58px", "n:2:2:s"), ("equity", "Equity", "72px", "n:0:0"),
    ("pnl", "PnL", "66px", "n:0:0:s"), ("sharpe", "Sharpe", "54px", "n:2:2"),
    ("max_drawdown_pct", "Max DD %", "66px", "n:2:2"), ("win_rate_pct", "Win %", "54px", "n:2:2"),
    ("trades", "Trades", "50px", "n:0:0"), ("last_action", "Last action",
                                             "minmax(80px, 1fr)", "text"),
    ("tokens", "Tokens", "62px", "n:0:0"), ("latency_ms", "Latency ms", "74px", "n:2:2"),
    ("cost_usd", "Cost $", "62px", "n:4:4"),
]


class Leaderboard(pn.viewable.Viewer):
    """Ranked table: medals for the top three, rank moves since the last update."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")

    def __init__(self, **params):
        super().__init__(**params)
        self._previous: dict[str, int] = {}
        self.table = KeyedView(columns=[list(c) for c in COLUMNS], key=["agent"],
                               placeholder="No standings yet", sizing_mode="stretch_width",
                               css_classes=["arena-leaderboard"], name="leaderboard")
        self.feed.subscribe("leaderboard", self._on_board, self._on_reset)

    def _on_reset(self) -> None:
        self._previous = {}
        self.table.clear()

    def _on_board(self, board: pd.DataFrame) -> None:
        agents = board["agent"].tolist()
        ranks = [int(r) for r in board["rank"].tolist()]
        moves = [self._previous.get(a, r) - r for a, r in zip(agents, ranks, strict=True)]
        self._previous = dict(zip(agents, ranks, strict=True))
        columns = {c: board[c] for c in self.table.names if c in board}
        self.table.update({**columns, "rank": ranks, "move": moves},
                          order=sorted(range(len(ranks)), key=ranks.__getitem__))

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("#### Leaderboard", margin=(0, 10)), self.table,
                         sizing_mode="stretch_width")

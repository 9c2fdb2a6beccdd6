"""Open positions per agent: quantity, average and last price, market value and
unrealised PnL (green / red).

The ``positions`` table arrives whole when it changed (at most once a second,
``SessionFeed.table_period``); the open ones (quantity ≠ 0), sorted by agent and
symbol, go into a :class:`KeyedView` keyed by agent and symbol, which sends the
page only the cells that changed at the precision shown (every held symbol's
price moves each bar), the newly opened and closed positions, and the order
when a row came or went.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param

from arena.ui.feed import SessionFeed
from arena.ui.keyedview import KeyedView

# name, title, width, format (see KeyedView.columns): prices to 1/10,000, money to the cent
COLUMNS = [
    ("agent", "Agent", "minmax(110px, 1fr)", "text"), ("symbol", "Sym.", "44px", "text"),
    ("quantity", "Qty", "50px", "n:0:6"), ("avg_price", "Avg px", "62px", "n:2:4"),
    ("last_price", "Last", "62px", "n:2:4"), ("market_value", "Value", "74px", "n:2:2"),
    ("unrealised_pnl", "Unreal. PnL", "78px", "n:2:2:s"),
]


class PositionsTable(pn.viewable.Viewer):
    """Each agent's open positions (quantity ≠ 0), valued at the last price."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    height = param.Integer(default=220, bounds=(100, 2000), doc="table height in pixels")

    def __init__(self, **params):
        super().__init__(**params)
        self.table = KeyedView(columns=[list(c) for c in COLUMNS], key=["agent", "symbol"],
                               placeholder="No open positions", height=self.height,
                               sizing_mode="stretch_width", css_classes=["arena-positions"],
                               name="positions")
        self.feed.subscribe("positions", self._on_table, self._on_reset)

    def _on_reset(self) -> None:
        self.table.clear()

    def _on_table(self, table: pd.DataFrame) -> None:
        held = np.flatnonzero(table["quantity"].to_numpy(dtype=float) != 0)
        agent, symbol = table["agent"].tolist(), table["symbol"].tolist()
        self.table.update(table, order=sorted(held.tolist(),
                                              key=lambda i: (agent[i], symbol[i])))

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("#### Open positions", margin=(0, 10)), self.table,
                         sizing_mode="stretch_width")

"""Open positions per agent: quantity, average and last price, market value and
unrealised PnL (green / red).

The ``positions`` table arrives whole when it changed; when the same positions
are open as before only the changed cells are patched, otherwise the (small)
table is replaced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param

from arena.ui.feed import SessionFeed
from arena.ui.trades import money

COLUMNS = {"agent": "Agent", "symbol": "Sym.", "quantity": "Qty", "avg_price": "Avg px",
           "last_price": "Last", "market_value": "Value", "unrealised_pnl": "Unreal. PnL"}
_NUMERIC = ("quantity", "avg_price", "last_price", "market_value", "unrealised_pnl")


class PositionsTable(pn.viewable.Viewer):
    """Each agent's open positions (quantity ≠ 0), valued at the last price."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    height = param.Integer(default=260, bounds=(100, 2000), doc="table height in pixels")

    def __init__(self, **params):
        super().__init__(**params)
        self.table = pn.widgets.Tabulator(
            self._empty(), show_index=False, disabled=True, selectable=False,
            sizing_mode="stretch_width", height=self.height, titles=COLUMNS,
            layout="fit_columns", header_align="center", sortable=False,
            widths={"symbol": 62, "quantity": 70, "avg_price": 80, "last_price": 80,
                    "market_value": 100, "unrealised_pnl": 104},
            formatters={"quantity": money(fmt="0,0.[0000]"), "avg_price": money(fmt="0,0.00[00]"),
                        "last_price": money(fmt="0,0.00[00]"), "market_value": money(),
                        "unrealised_pnl": money("unrealised_pnl")},
            css_classes=["arena-positions"])
        self.feed.subscribe("positions", self._on_table, self._on_reset)

    @staticmethod
    def _empty() -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=float if c in _NUMERIC else object)
                             for c in COLUMNS})

    def _on_reset(self) -> None:
        self.table.value = self._empty()

    def _on_table(self, table: pd.DataFrame) -> None:
        open_ = table[table["quantity"].to_numpy(dtype=float) != 0]
        df = pd.DataFrame({c: open_[c].to_numpy(dtype=float if c in _NUMERIC else object)
                           for c in COLUMNS}).sort_values(["agent", "symbol"], kind="stable")
        df = df.reset_index(drop=True)
        old = self.table.value
        same_rows = (len(old) == len(df) and
                     (old["agent"].to_numpy() == df["agent"].to_numpy()).all() and
                     (old["symbol"].to_numpy() == df["symbol"].to_numpy()).all())
        if not same_rows:
            self.table.value = df
            return
        patch = {}
        for col in _NUMERIC:
            a, b = old[col].to_numpy(dtype=float), df[col].to_numpy(dtype=float)
            changed = np.flatnonzero(~((a == b) | (np.isnan(a) & np.isnan(b))))
            if len(changed):
                patch[col] = [(int(old.index[i]), float(b[i])) for i in changed]
        if patch:
            self.table.patch(patch)

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("#### Open positions", margin=(0, 10)), self.table,
                         sizing_mode="stretch_width")

"""Open positions per agent: quantity, average and last price, market value and
unrealised PnL (green / red).

The ``positions`` table arrives whole when it changed; the rows (sorted by agent
and symbol) are brought up to date with the cheapest messages: changed cells are
patched, newly opened positions streamed in at the bottom, and rows of closed
positions let go from the top by an empty stream's rollover (the rows below move
up by patches). The table is reloaded when that would cost fewer bytes, or when
so many cells changed that patching them costs the server more (every price
moves each bar, so while agents hold positions that is the usual case).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
import param

from arena.ui.chartdata import small_as_lists
from arena.ui.feed import SessionFeed
from arena.ui.trades import money, signed_money

COLUMNS = {"agent": "Agent", "symbol": "Sym.", "quantity": "Qty", "avg_price": "Avg px",
           "last_price": "Last", "market_value": "Value", "unrealised_pnl": "Unreal. PnL"}
_NUMERIC = ("quantity", "avg_price", "last_price", "market_value", "unrealised_pnl")
_DECIMALS = {"quantity": 6, "avg_price": 4, "last_price": 4, "market_value": 2,
             "unrealised_pnl": 2}  # more than shown, few enough to keep updates short
INLINE_ROWS = 50
PLAIN_TEXT = {"type": "plaintext"}  # Tabulator escapes the text; the cheapest to draw
_PATCH_CELL_BYTES = 16  # about what one patched cell costs on the wire
_MAX_PATCH_CELLS = 24  # Panel's Tabulator.patch costs ~1.5 ms of server CPU per cell


def _reload_bytes(rows: int) -> int:
    """About what sending the whole table costs."""
    return 700 + 60 * rows


class FeedTable(pn.widgets.Tabulator):
    """A Tabulator tuned for small, frequent updates (the positions).

    No pandas Styler is used, so Panel's per-update (empty) ``cell_styles`` message
    is skipped; a small streamed chunk goes to the browser as plain JSON lists
    instead of typed arrays (each array carries ~80 bytes of header, more than a
    few rows of data). Both hooks override private Panel methods (checked by tests/arena/ui/test_views.py).
    """

    def _update_style(self, recompute=True):
        if self.style is not None and getattr(self.style, "_todo", None):
            super()._update_style(recompute)

    def _stream(self, stream, rollover=None, follow=True):
        super()._stream(small_as_lists(stream, INLINE_ROWS) if stream else stream, rollover,
                        follow)

    def stream(self, stream_value, rollover=None, reset_index=True, follow=False):
        super().stream(stream_value, rollover=rollover, reset_index=reset_index, follow=follow)


class PositionsTable(pn.viewable.Viewer):
    """Each agent's open positions (quantity ≠ 0), valued at the last price."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    height = param.Integer(default=220, bounds=(100, 2000), doc="table height in pixels")

    def __init__(self, **params):
        super().__init__(**params)
        self.table = FeedTable(
            self._empty(), show_index=False, disabled=True, selectable=False,
            sizing_mode="stretch_width", height=self.height, titles=COLUMNS,
            layout="fit_columns", header_align="center", sortable=False,
            widths={"symbol": 62, "quantity": 70, "avg_price": 80, "last_price": 80,
                    "market_value": 100, "unrealised_pnl": 104},
            formatters={"agent": dict(PLAIN_TEXT), "symbol": dict(PLAIN_TEXT),
                        "quantity": money(None), "avg_price": money(None),
                        "last_price": money(None), "market_value": money(),
                        "unrealised_pnl": signed_money("unrealised_pnl")},
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
        new = pd.DataFrame({c: np.round(open_[c].to_numpy(dtype=float), _DECIMALS[c])
                            if c in _NUMERIC else open_[c].to_numpy(dtype=object)
                            for c in COLUMNS}).sort_values(["agent", "symbol"], kind="stable")
        new = new.reset_index(drop=True)
        old = self.table.value
        n, m = len(old), len(new)
        if n == 0 or m == 0:
            if n or m:
                self.table.value = new
            return
        drop = max(0, n - m)  # rows to let go from the top (closed positions)
        kept = old.iloc[drop:]
        patch = _changed_cells(kept, new.iloc[:len(kept)])
        cells = sum(map(len, patch.values()))
        if cells > _MAX_PATCH_CELLS or _PATCH_CELL_BYTES * cells > _reload_bytes(m):
            self.table.value = new  # many cells changed: one reload is cheaper
            return
        if patch:
            self.table.patch(patch)
        if m > n:  # newly opened positions go in as new rows at the bottom
            self.table.stream(new.iloc[n:])
        elif drop:  # an empty stream whose rollover drops the top rows
            self.table.stream(new.iloc[:0], rollover=m)

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("#### Open positions", margin=(0, 10)), self.table,
                         sizing_mode="stretch_width")


def _changed_cells(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, list]:
    """``{column: [(row, value), ...]}`` for the cells of ``new`` that differ from ``old``
    (same row positions; NaN equals NaN)."""
    patch = {}
    for col in COLUMNS:
        a, b = old[col].to_numpy(), new[col].to_numpy()
        if col in _NUMERIC:
            a, b = a.astype(float), b.astype(float)
            same = (a == b) | (np.isnan(a) & np.isnan(b))
        else:
            same = a == b
        rows = np.flatnonzero(~same)
        if len(rows):
            patch[col] = [(int(old.index[i]), b[i].item() if hasattr(b[i], "item") else b[i])
                          for i in rows]
    return patch

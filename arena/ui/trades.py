"""Trade feed: every fill, newest first, winners green and losers red, with a CSV
export of the full trade history (safe to open in a spreadsheet).

The table is streamed (each pull sends only the new fills) and bounded to the
newest ``max_rows``; the export reads ``competition.trades_frame()``, which holds
every fill of the run.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import (
    CategoricalColorMapper,
    LinearColorMapper,
    NumberFormatter,
    StringFormatter,
)

from arena.csvsafe import neutralise_formulas as neutralise_formulas  # re-exported
from arena.csvsafe import to_csv as trades_csv
from arena.ui.feed import SessionFeed
from arena.ui.theme import DOWN, FLAT, UP

COLUMNS = {"time": "Time", "agent": "Agent", "symbol": "Symbol", "side": "Side",
           "quantity": "Qty", "price": "Price", "fee": "Fee", "action": "Action", "pnl": "PnL"}
NEWEST_FIRST = [{"field": "index", "dir": "desc"}]  # the index grows with every streamed row
INLINE_ROWS = 50
PLAIN_TEXT = {"type": "plaintext"}  # Tabulator escapes the text; the cheapest to draw


class FeedTable(pn.widgets.Tabulator):
    """A Tabulator tuned for small, frequent updates (the feeds and the positions).

    No pandas Styler is used, so Panel's per-update (empty) ``cell_styles`` message
    is skipped; a small streamed chunk goes to the browser as plain JSON lists
    instead of typed arrays (each array carries ~80 bytes of header, more than a
    few rows of data). Rows stream in at the bottom of ``value``; the feeds show
    them newest first by sorting on the (hidden) index, which grows with every row.
    Both hooks override private Panel methods (checked by tests/arena/ui/test_views.py).
    """

    def _update_style(self, recompute=True):
        if self.style is not None and getattr(self.style, "_todo", None):
            super()._update_style(recompute)

    def _stream(self, stream, rollover=None, follow=True):
        if stream and len(next(iter(stream.values()))) <= INLINE_ROWS:
            stream = {k: np.asarray(v).tolist() for k, v in stream.items()}
        super()._stream(stream, rollover, follow)

    def stream(self, stream_value, rollover=None, reset_index=True, follow=False):
        super().stream(stream_value, rollover=rollover, reset_index=reset_index, follow=follow)


def feed_table(columns: dict[str, str], formatters: dict | None = None,
               **params) -> FeedTable:
    """A read-only, newest-first feed table with ``columns`` (field → title); columns
    without a formatter in ``formatters`` are shown as plain (escaped) text."""
    shown = {c: dict(PLAIN_TEXT) for c in columns} | (formatters or {})
    return FeedTable(show_index=True, hidden_columns=["index"], disabled=True,
                     selectable=False, sortable=False, sorters=NEWEST_FIRST,
                     sizing_mode="stretch_width", titles=columns, layout="fit_columns",
                     header_align="center", formatters=shown, **params)


# -- shared formatting helpers (also used by the decision feed and event log) -----------
def is_intraday(times: np.ndarray) -> bool:
    """True when the bars carry a time of day (not all at midnight)."""
    t = np.asarray(times[:2000], dtype="datetime64[ns]")
    return bool((t != t.astype("datetime64[D]")).any())


def time_labels(times, intraday: bool) -> np.ndarray:
    """Bar times as short UTC text ('2024-01-31' or '2024-01-31 14:30'); missing: ''."""
    t = pd.DatetimeIndex(times)
    if t.tz is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    labels = t.strftime("%Y-%m-%d %H:%M" if intraday else "%Y-%m-%d")
    return np.asarray(labels.fillna(""), dtype=object)


def signed_colour(field: str) -> dict:
    """A Bokeh ``text_color`` spec: ``field`` > 0 green, < 0 red, 0 or missing grey."""
    mapper = LinearColorMapper(palette=[DOWN, FLAT, UP], low=-1e-9, high=1e-9,
                               nan_color=FLAT)
    return {"field": field, "transform": mapper}


def money(decimals: int | None = 2) -> dict:
    """Numbers with thousands separators and ``decimals`` places (None: as sent, for
    values rounded on the server). A plain Tabulator formatter: the cheapest to draw."""
    return {"type": "money", "thousand": ",", "decimal": ".",
            "precision": False if decimals is None else decimals}


def signed_money(field: str) -> NumberFormatter:
    """Money coloured by its sign (green up, red down); missing values left blank."""
    return NumberFormatter(format="0,0.00", nan_format="", null_format="",
                           text_color=signed_colour(field))


class TradeFeed(pn.viewable.Viewer):
    """The newest fills, newest first; the full history downloads as CSV."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    max_rows = param.Integer(default=500, bounds=(10, 20_000), doc="newest fills shown")
    height = param.Integer(default=300, bounds=(100, 2000), doc="table height in pixels")

    def __init__(self, **params):
        super().__init__(**params)
        self._intraday = is_intraday(self.feed.competition.data.times)
        self.table = feed_table(
            COLUMNS, value=self._empty(), height=self.height,
            widths={"time": 88, "symbol": 62, "side": 44, "quantity": 62, "price": 74,
                    "fee": 50, "action": 54, "pnl": 82},
            formatters={
                "quantity": money(None), "price": money(None), "fee": money(),
                "pnl": signed_money("pnl"),
                "side": StringFormatter(text_color={"field": "side", "transform":
                                        CategoricalColorMapper(factors=["buy", "sell"],
                                                               palette=[UP, DOWN],
                                                               nan_color=FLAT)})},
            css_classes=["arena-trades"])
        self.download = pn.widgets.FileDownload(
            callback=self._export, filename=self._filename(), label="Download CSV",
            color="primary", variant="outline", embed=False, width=140,
            margin=(2, 5))
        self.feed.subscribe("trades", self._on_rows, self._on_reset)

    @staticmethod
    def _empty() -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("quantity", "price", "fee", "pnl")
                                          else object) for c in COLUMNS})

    def _filename(self) -> str:
        return f"trades-{self.feed.competition.status()['run_id']}.csv"

    def _on_reset(self) -> None:
        self._intraday = is_intraday(self.feed.competition.data.times)
        self.table.value = self._empty()
        self.download.filename = self._filename()

    def _on_rows(self, rows: pd.DataFrame) -> None:
        df = pd.DataFrame({
            "time": time_labels(rows["time"], self._intraday),
            "agent": rows["agent"].to_numpy(dtype=object),
            "symbol": rows["symbol"].to_numpy(dtype=object),
            "side": rows["side"].to_numpy(dtype=object),
            "quantity": np.round(rows["quantity"].to_numpy(dtype=float), 6),
            "price": np.round(rows["price"].to_numpy(dtype=float), 4),
            "fee": np.round(rows["fee"].to_numpy(dtype=float), 4),
            "action": rows["action"].to_numpy(dtype=object),
            "pnl": np.round(rows["pnl"].to_numpy(dtype=float), 2),
        })
        self.table.stream(df, rollover=self.max_rows)

    def _export(self) -> io.BytesIO:
        return io.BytesIO(trades_csv(self.feed.competition.trades_frame()).encode("utf-8"))

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("#### Trades", margin=(0, 10)), pn.HSpacer(), self.download,
                   sizing_mode="stretch_width"),
            self.table, sizing_mode="stretch_width")

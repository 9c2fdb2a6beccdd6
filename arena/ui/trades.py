"""Trade feed: every fill, newest first, winners green and losers red, with a CSV
export of the full trade history (safe to open in a spreadsheet).

The table is a :class:`LogView` (each pull sends only the new fills), bounded to
the newest ``max_rows``; the export reads ``competition.trades_frame()``, which holds
every fill of the run.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import panel as pn
import param

from arena.csvsafe import neutralise_formulas as neutralise_formulas  # re-exported
from arena.csvsafe import to_csv as trades_csv
from arena.ui.feed import SessionFeed
from arena.ui.logview import LogView


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


def fmt_number(values, decimals: int, sign: bool = False) -> list[str]:
    """Numbers as text with thousands separators (``+`` when ``sign``); NaN → ''."""
    spec = f"{'+' if sign else ''},.{decimals}f"
    return ["" if v != v else format(v, spec) for v in np.asarray(values, dtype=float).tolist()]


def fmt_quantity(values) -> list[str]:
    """Quantities with up to 6 decimals, trailing zeros dropped ('10', '0.5')."""
    return [format(v, ",.6f").rstrip("0").rstrip(".") if v == v else ""
            for v in np.asarray(values, dtype=float).tolist()]


def sign_classes(values) -> list[str]:
    """u(p), d(own) or f(lat) per value (NaN: flat)."""
    v = np.asarray(values, dtype=float)
    return np.where(v > 0, "u", np.where(v < 0, "d", "f")).tolist()


class TradeFeed(pn.viewable.Viewer):
    """The newest fills, newest first (buys green, sells red, PnL by its sign); the
    full history downloads as CSV."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the rows come from")
    max_rows = param.Integer(default=200, bounds=(10, 10_000), doc="newest fills shown")
    height = param.Integer(default=300, bounds=(100, 2000), doc="table height in pixels")

    def __init__(self, **params):
        super().__init__(**params)
        self._intraday = is_intraday(self.feed.competition.data.times)
        self.table = LogView(
            columns=[["Time", "74px", ""], ["Agent", "minmax(56px, 1fr)", ""],
                     ["Trade", "minmax(96px, 1.3fr)", ""], ["Price", "62px", "r"],
                     ["PnL", "72px", "r"]],
            max_rows=self.max_rows, placeholder="No trades yet", height=self.height,
            sizing_mode="stretch_width", css_classes=["arena-trades"])
        self.download = pn.widgets.FileDownload(
            callback=self._export, filename=self._filename(), label="Download CSV",
            color="primary", variant="outline", embed=False, width=140,
            margin=(2, 5))
        self.feed.subscribe("trades", self._on_rows, self._on_reset)

    def _filename(self) -> str:
        return f"trades-{self.feed.competition.status()['run_id']}.csv"

    def _on_reset(self) -> None:
        self._intraday = is_intraday(self.feed.competition.data.times)
        self.table.clear()
        self.download.filename = self._filename()

    def _on_rows(self, rows: pd.DataFrame) -> None:
        """One row per fill: 'buy 138 GOOG' (buys green, sells red), its price, and the
        realised PnL of an exit (blank for an entry). Fees and the rest are in the CSV."""
        side = rows["side"].to_numpy(dtype=object)
        pnl = rows["pnl"].to_numpy(dtype=float)
        trade = [f"{s} {q} {sym}" for s, q, sym in zip(
            side.tolist(), fmt_quantity(rows["quantity"]), rows["symbol"].astype(str).tolist(),
            strict=True)]
        cells = zip(time_labels(rows["time"], self._intraday).tolist(),
                    rows["agent"].astype(str).tolist(), trade, fmt_number(rows["price"], 2),
                    fmt_number(pnl, 2, sign=True), strict=True)
        side_cls = np.where(side == "buy", "u", "d").tolist()
        classes = [[None, None, s, None, p]
                   for s, p in zip(side_cls, sign_classes(pnl), strict=True)]
        self.table.append(list(cells), classes)

    def _export(self) -> io.BytesIO:
        return io.BytesIO(trades_csv(self.feed.competition.trades_frame()).encode("utf-8"))

    def __panel__(self):
        return pn.Column(
            pn.Row(pn.pane.Markdown("#### Trades", margin=(0, 10)), pn.HSpacer(), self.download,
                   sizing_mode="stretch_width"),
            self.table, sizing_mode="stretch_width")

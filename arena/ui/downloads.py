"""Download buttons for the current run's exports (equity, trades and decisions as CSV
and Parquet, the HTML report, the equity chart as PNG).

Each button asks ``arena.export`` for the file when clicked, from the run's
recording (readable while the run writes it), in a worker thread so the page
stays live while Chromium draws a PNG. Until the competition has a recording the
buttons are disabled. A failed export is shown under the buttons.
"""

from __future__ import annotations

import asyncio
import io

import panel as pn
import param

from arena.export import EXTENSIONS, FORMATS, export_bytes
from arena.ui.feed import SessionFeed
from arena.ui.safe import text

DEFAULT_ITEMS = (("equity", "csv"), ("equity", "parquet"), ("trades", "csv"),
                 ("trades", "parquet"), ("decisions", "csv"), ("decisions", "parquet"),
                 ("report", "html"), ("equity", "png"))
LABELS = {"csv": "CSV", "parquet": "Parquet", "html": "HTML", "png": "PNG", "svg": "SVG"}


class RunDownloads(pn.viewable.Viewer):
    """One download button per (item, format) of the competition's current run."""

    feed = param.ClassSelector(class_=SessionFeed, doc="where the competition comes from")
    items = param.List(default=list(DEFAULT_ITEMS), item_type=tuple,
                       doc="(what, format) pairs, see arena.export.FORMATS")
    width = param.Integer(default=1000, bounds=(50, 10_000), doc="PNG/SVG width in pixels")
    height = param.Integer(default=500, bounds=(50, 10_000), doc="PNG/SVG height in pixels")
    error = param.String(default="", doc="the last failed export's message")

    def __init__(self, **params):
        super().__init__(**params)
        for what, fmt in self.items:
            if fmt not in FORMATS.get(what, ()):
                raise ValueError(f"cannot offer {what} as {fmt}; see arena.export.FORMATS")
        self.buttons = {
            (what, fmt): pn.widgets.FileDownload(
                callback=self._callback(what, fmt), label=f"{what.capitalize()} {LABELS[fmt]}",
                filename=f"{what}.{EXTENSIONS[fmt]}", embed=False, color="primary",
                variant="outline", width=150, margin=(2, 4))
            for what, fmt in self.items}
        self._alert = pn.pane.Alert("", alert_type="danger", visible=False,
                                    sizing_mode="stretch_width")
        self._sync(self.feed.status)
        self.feed.param.watch(lambda e: self._sync(e.new), "status")

    @property
    def run_path(self):
        """The current run's folder (None before it records)."""
        return self.feed.competition.run_path

    def _sync(self, status: dict) -> None:
        run_id = (status or {}).get("run_id") or self.feed.competition.run_id
        recorded = self.run_path is not None
        for (what, fmt), button in self.buttons.items():
            button.filename = f"{run_id}-{what}.{EXTENSIONS[fmt]}"
            button.disabled = not recorded

    def content(self, what: str, fmt: str) -> bytes:
        """The file a button serves (raises ``arena.export.ExportError``)."""
        if self.run_path is None:
            raise ValueError("this competition has no recording yet: start it first")
        return export_bytes(self.run_path, what, fmt, width=self.width, height=self.height)

    def _callback(self, what: str, fmt: str):
        async def download() -> io.BytesIO:
            try:
                data = await asyncio.to_thread(self.content, what, fmt)
            except Exception as exc:
                self.error = f"{what} as {fmt}: {exc}"
                raise
            self.error = ""
            return io.BytesIO(data)

        return download

    @param.depends("error", watch=True)
    def _show_error(self) -> None:
        self._alert.object = text(self.error)
        self._alert.visible = bool(self.error)

    def __panel__(self):
        return pn.Column(
            pn.pane.Markdown("#### Downloads", margin=(0, 10)),
            pn.FlexBox(*self.buttons.values(), sizing_mode="stretch_width"),
            self._alert, sizing_mode="stretch_width")

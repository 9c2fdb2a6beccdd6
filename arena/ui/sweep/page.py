"""The sweep page: a results folder (``arena sweep --out DIR``) shown live.

Progress (tasks done of those planned), the heatmap of a metric over two
parameters (metric, x and y chosen from the results' columns), the ranking with
error bars and its table (``arena.analysis.significance.ranking`` of the best
competitors), and downloads (the results as CSV and Parquet, the heatmap as PNG and
HTML). While served, it looks at the folder every second: the progress follows each
new part file, the charts are redrawn at most every ``redraw_s`` seconds while the
sweep runs; the callback stops when the session ends.
"""

from __future__ import annotations

import asyncio
import io
import math
import time

import holoviews as hv
import pandas as pd
import panel as pn
import param
from panel.io.callbacks import PeriodicCallback

from arena.csvsafe import to_csv
from arena.ui.safe import text
from arena.ui.sweep.heatmap import heatmap
from arena.ui.sweep.progress import Snapshot, SweepFolder
from arena.ui.sweep.ranking import ranked, ranking_plot
from arena.ui.sweep.table import column, metrics, parameters

__all__ = ["SweepView"]

N_BOOT = 2000  # resamples for the page's ranking (the CLI and notebooks use 10,000)
PNG_SIZE = (900, 650)


class SweepView(pn.viewable.Viewer):
    """A sweep's results folder: progress, heatmap, ranking and downloads."""

    out = param.String(doc="the results folder (what `arena sweep --out DIR` wrote)")
    metric = param.Selector(objects=[], doc="the statistic shown")
    x = param.Selector(objects=[], doc="the heatmap's horizontal parameter")
    y = param.Selector(objects=[], doc="the heatmap's vertical parameter")
    sliders = param.Boolean(default=False, doc="a slider for each other parameter "
                            "(else the heatmap averages over them)")
    top = param.Integer(default=20, bounds=(1, 200), doc="competitors in the ranking")
    done = param.Integer(default=0, doc="tasks with a result")
    planned = param.Integer(default=None, allow_None=True, doc="tasks the sweep planned")
    period = param.Integer(default=1000, bounds=(100, None), doc="ms between looks")
    redraw_s = param.Number(default=5.0, bounds=(0, None), doc="while a sweep runs, seconds "
                            "at least between redraws of the charts (progress: every look)")

    def __init__(self, **params):
        super().__init__(**params)
        self.folder = SweepFolder(self.out)
        self.snapshot = Snapshot(pd.DataFrame(columns=["task_id"]))
        self.ranking_table = pd.DataFrame()
        self._callback = None
        self._progress = pn.indicators.Progress(value=0, max=1, width=320, margin=(12, 8))
        self._count = pn.pane.HTML("", css_classes=["arena-sweep-progress"], margin=(4, 8))
        self._about = pn.pane.HTML("", sizing_mode="stretch_width")
        self._note = pn.pane.HTML("", css_classes=["arena-sweep-note"],
                                  sizing_mode="stretch_width")
        self._heat = pn.Column(sizing_mode="stretch_width", min_height=440)
        self._rank = pn.pane.HoloViews(None, sizing_mode="fixed")
        self._table = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False,
                                           height=320, sizing_mode="stretch_width",
                                           pagination=None)
        self.downloads = self._downloads()
        self._drawn = -math.inf  # when the charts were last drawn (time.monotonic)
        self._stale = False  # the folder changed since
        self.refresh()

    # -- reading the folder -------------------------------------------------------
    def refresh(self) -> bool:
        """Look at the folder: the progress follows every change, the charts at most
        every ``redraw_s`` seconds while the sweep runs (at once when it is done). True if
        the files had changed."""
        snap = self.folder.changed()
        if snap is not None:
            self.snapshot, self._stale = snap, True
            self.done, self.planned = snap.done, snap.planned
            self._progress.max = max(1, snap.planned or snap.done)
            self._progress.value = min(self._progress.max, snap.done)
            self._count.object = (f"<b>{snap.done:,}</b> of <b>{snap.planned:,}</b> tasks done"
                                  if snap.planned is not None
                                  else f"<b>{snap.done:,}</b> tasks")
            self._about.object = self._describe(snap.manifest)
        due = time.monotonic() - self._drawn >= self.redraw_s or self.snapshot.finished
        if self._stale and due:
            self._choices(self.snapshot.results, self.snapshot.manifest)
            if self._stale:  # (a new choice has drawn them already)
                self._draw()
        return snap is not None

    def _describe(self, m: dict) -> str:
        parts = [f"<b>Sweep</b> <code>{text(self.out)}</code>"]
        for key, name in (("agents", "agents"), ("markets", "markets"), ("seeds", "seeds")):
            if m.get(key):
                parts.append(f"{name}: {text(', '.join(map(str, m[key])))}")
        if m.get("skipped"):
            parts.append(f"{int(m['skipped']):,} invalid combinations skipped")
        return " · ".join(parts)

    def _choices(self, results: pd.DataFrame, manifest: dict) -> None:
        """Metric and parameter options from the results (keeping the choices made)."""
        names = metrics(results)
        params = parameters(results) if len(results) else []
        with param.parameterized.batch_call_watchers(self):
            self.param.metric.objects = names
            if self.metric not in names:
                wanted = manifest.get("metric")
                self.metric = wanted if wanted in names else (
                    "sharpe" if "sharpe" in names else (names[0] if names else None))
            self.param.x.objects = params
            self.param.y.objects = params
            if self.x not in params:
                self.x = params[0] if params else None
            if self.y not in params or self.y == self.x:
                self.y = next((p for p in params if p != self.x), None)

    # -- drawing -------------------------------------------------------------------
    @param.depends("metric", "x", "y", "sliders", "top", watch=True)
    def _draw(self) -> None:
        self._drawn, self._stale = time.monotonic(), False
        results, notes = self.snapshot.results, []
        if self.metric is None or not len(results):
            self._note.object = "No results yet."
            self._heat.objects, self._rank.object = [], None
            return
        try:
            self._heat.objects = [pn.panel(self.heatmap(self.sliders))]
        except ValueError as exc:
            self._heat.objects = []
            notes.append(str(exc))
        try:
            self.ranking_table = ranked(results, self.metric, self.top, n_boot=N_BOOT)
            self._rank.object = ranking_plot(results, self.metric, table=self.ranking_table)
            self._table.value = self.ranking_table.round(6)
        except ValueError as exc:
            self._rank.object = None
            notes.append(str(exc))
        self._note.object = "<br>".join(text(n) for n in notes)

    def heatmap(self, sliders: bool = False):
        """The heatmap on show (averaged over the other parameters unless ``sliders``)."""
        if self.x is None or self.y is None:
            found = parameters(self.snapshot.results) if len(self.snapshot.results) else []
            raise ValueError("the heatmap needs two parameters that vary; this sweep varies "
                             f"{', '.join(found) or 'none'}")
        results = self.snapshot.results
        fixed = {}
        if "agent" in results.columns:
            has = results[results[column(results, self.x)].notna()
                          & results[column(results, self.y)].notna()]
            agents = has["agent"].dropna()
            if agents.nunique() > 1:
                fixed["agent"] = agents.mode().iloc[0]
        return heatmap(results, self.metric, self.x, self.y, sliders=sliders, **fixed)

    # -- downloads -----------------------------------------------------------------
    def _downloads(self) -> pn.Row:
        def button(label, filename, make):
            async def callback():
                return io.BytesIO(await asyncio.to_thread(make))
            return pn.widgets.FileDownload(callback=callback, label=label, filename=filename,
                                           embed=False, color="primary", variant="outline",
                                           width=150, margin=(2, 4))

        return pn.Row(button("Results CSV", "results.csv", self.csv_bytes),
                      button("Results Parquet", "results.parquet", self.parquet_bytes),
                      button("Heatmap PNG", "heatmap.png", lambda: self.heatmap_bytes("png")),
                      button("Heatmap HTML", "heatmap.html",
                             lambda: self.heatmap_bytes("html")),
                      button("Ranking PNG", "ranking.png", lambda: self.ranking_bytes()))

    def csv_bytes(self) -> bytes:
        """The results table as CSV (UTC ISO times, formula-like text neutralised)."""
        return to_csv(self.snapshot.results).encode("utf-8")

    def parquet_bytes(self) -> bytes:
        """The results table as Parquet (as ``arena.sweep.load_results`` reads it)."""
        buf = io.BytesIO()
        self.snapshot.results.to_parquet(buf, index=False)
        return buf.getvalue()

    def heatmap_bytes(self, fmt: str) -> bytes:
        """The heatmap (averaged over the other parameters) as PNG or standalone HTML."""
        return _export(self.heatmap(False), fmt, f"Trading Arena · sweep {self.out} · heatmap")

    def ranking_bytes(self, fmt: str = "png") -> bytes:
        plot = ranking_plot(self.snapshot.results, self.metric, table=self.ranking_table)
        return _export(plot, fmt, f"Trading Arena · sweep {self.out} · ranking")

    # -- serving -------------------------------------------------------------------
    def start(self) -> SweepView:
        """Look at the folder every ``period`` ms in this session; stop when it ends."""
        if self._callback is None and pn.state.curdoc is not None:
            self._callback = PeriodicCallback(callback=self.refresh, period=self.period)
            self._callback.start()
            pn.state.on_session_destroyed(lambda _ctx: self.stop())
        return self

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    @property
    def running(self) -> bool:
        return self._callback is not None

    def controls(self) -> pn.Column:
        return pn.Column(
            pn.widgets.Select.from_param(self.param.metric, width=180),
            pn.widgets.Select.from_param(self.param.x, name="x (parameter)", width=180),
            pn.widgets.Select.from_param(self.param.y, name="y (parameter)", width=180),
            pn.widgets.Checkbox.from_param(self.param.sliders,
                                           name="sliders for the other parameters"),
            pn.widgets.IntInput.from_param(self.param.top, name="ranked competitors",
                                           width=180))

    def __panel__(self):
        return pn.Column(
            self._about, pn.Row(self._progress, self._count), self._note,
            pn.Row(self.controls(), self._heat, sizing_mode="stretch_width"),
            self._rank, self._table, self.downloads, sizing_mode="stretch_width")

    def serve_doc(self, title: str = "Trading Arena sweep") -> None:
        """The served page in this session's document, looking at the folder every second."""
        tpl = pn.template.FastListTemplate(
            title=title, theme="dark", accent="#56b4e9", header_background="#15202b",
            header_color="#e6edf3", sidebar=[self.controls()], sidebar_width=260,
            main=[pn.Column(self._about, pn.Row(self._progress, self._count), self._note,
                            self._heat, self._rank, self._table, self.downloads,
                            sizing_mode="stretch_width")], main_layout=None)
        pn.state.onload(self.start)
        tpl.server_doc(pn.state.curdoc, title=title)


def _export(plot, fmt: str, title: str) -> bytes:
    from arena.ui.export import png_bytes, tear_sheet_html

    if fmt == "html":
        model = hv.render(plot.opts(toolbar=None, clone=True), backend="bokeh")
        return tear_sheet_html(model, title)
    if fmt != "png":
        raise ValueError(f"export as png or html, not {fmt!r}")
    width, height = PNG_SIZE
    model = hv.render(plot.opts(toolbar=None, clone=True), backend="bokeh")
    return png_bytes(model, width, height)


"""The dashboard's Analysis tab: one agent's tear sheet and every agent's statistics,
following the run on show.

The tab builds nothing until it is opened (``active``). While open it follows the
competition (or the replay, as of the bar shown) through the session's feed: when
the bar changed it rebuilds the tear sheet, at most once per ``min_period``, and the
open Analysis tabs of all sessions of the process together take at most ``duty`` of a
core: after a rebuild that took *c* seconds, with *n* tabs open, the next waits at
least *c* · *n* / ``duty``. Drawing a section takes about 0.3–0.5 s of the server's
event loop (docs/benchmarks.md §10), so more tabs each update less often rather than
crowd out every session's live views. Each rebuild reads the run once, held at one
bar: the tear sheet and the "as of" line name the same bar.
"""

from __future__ import annotations

import io
import logging
import time
import weakref

import holoviews as hv
import pandas as pd
import panel as pn
import param
from panel.io.callbacks import PeriodicCallback

from arena.ui.analysis.base import on_dark
from arena.ui.analysis.tearsheet import tear_sheet
from arena.ui.export import tear_sheet_html
from arena.ui.feed import SessionFeed
from arena.ui.safe import text

log = logging.getLogger(__name__)

#: the Analysis tabs on show in this process (their rebuilds share one budget)
OPEN_TABS: weakref.WeakSet = weakref.WeakSet()

VAR_LEVELS = {"90 %": 0.90, "95 %": 0.95, "99 %": 0.99}
#: what the tab can show: a section of the tear sheet (``tearsheet.SECTIONS``) or all
SECTION_LABELS = {"Returns": "returns", "Risk": "risk", "Trades": "trades",
                  "Across agents": "across", "Whole sheet": "all"}


class _AtBar:
    """A run (Competition or Replay) read as of bar ``bar``, whatever it does meanwhile
    (what ``arena.analysis.runs.run_frames`` reads: rows of later bars are cut)."""

    def __init__(self, run, bar: int):
        self._run, self.bar, self.data = run, bar, run.data

    def equity_frame(self) -> pd.DataFrame:
        return self._run.equity_frame()

    def trades_frame(self) -> pd.DataFrame:
        return self._run.trades_frame()


class AnalysisView(pn.viewable.Viewer):
    """The tear sheet of a chosen agent, live or in replay, with its window and VaR level."""

    feed = param.ClassSelector(class_=SessionFeed, doc="the session's reader of the run on show")
    agent = param.Selector(default=None, objects=[], allow_None=True,
                           doc="whose tear sheet (the first agent until one is chosen)")
    window = param.Integer(default=0, bounds=(0, 100_000),
                           doc="bars in the rolling Sharpe and volatility (0: a tenth of "
                               "the run, 2 to 252)")
    section = param.Selector(default="returns", objects=SECTION_LABELS,
                             doc="which part of the tear sheet (a part draws in a fraction of "
                                 "the whole sheet's time)")
    var_level = param.Selector(default=0.95, objects=VAR_LEVELS,
                               doc="confidence level of the VaR and CVaR lines")
    active = param.Boolean(default=False, doc="whether the tab is on show (it builds only then)")
    min_period = param.Number(default=1.0, bounds=(0.1, None),
                              doc="least seconds between two rebuilds while the run moves")
    duty = param.Number(default=0.2, bounds=(0.01, 1.0),
                        doc="most share of a core that the open Analysis tabs of all "
                            "sessions together may take")
    as_of = param.Dict(default={}, doc="run id, bar and time of the tear sheet on show")
    builds = param.Integer(default=0, doc="tear sheets built so far")
    cost = param.Number(default=0.0, doc="seconds the last rebuild took")

    def __init__(self, **params):
        self._shown: tuple | None = None  # (run id, bar, agent, window, level) on show
        self._next = 0.0  # monotonic time the next rebuild may start
        self._callback = None
        self._layout = None
        self._sheet = None  # the hv.Layout on show
        super().__init__(**params)

    # -- the page ---------------------------------------------------------------------
    def __panel__(self):
        if self._layout is None:
            self._layout = self._build_layout()
        return self._layout

    def _build_layout(self) -> pn.Column:
        self.section_buttons = pn.widgets.RadioButtonGroup.from_param(
            self.param.section, name="", color="primary", variant="outline",
            margin=(22, 8, 4, 8))
        self.agent_select = pn.widgets.Select.from_param(
            self.param.agent, name="Agent", width=220, margin=(4, 8),
            css_classes=["arena-analysis-agent"])
        self.window_input = pn.widgets.IntInput.from_param(
            self.param.window, name="Rolling window (bars, 0 = auto)", width=200, margin=(4, 8))
        self.level_select = pn.widgets.Select.from_param(
            self.param.var_level, name="VaR level", width=110, margin=(4, 8))
        self.note = pn.pane.HTML("", sizing_mode="stretch_width", margin=(4, 8),
                                 css_classes=["arena-analysis-note"])
        self.plot = pn.pane.HoloViews(None, sizing_mode="stretch_width", linked_axes=False,
                                      css_classes=["arena-tearsheet"])
        self.download = pn.widgets.FileDownload(
            callback=self._html, filename="tearsheet.html", label="Tear sheet HTML",
            embed=False, color="primary", variant="outline", width=160, margin=(18, 8, 4, 8),
            disabled=True)
        return pn.Column(pn.Row(self.section_buttons, self.agent_select, self.window_input,
                                self.level_select, self.download),
                         self.note, self.plot, sizing_mode="stretch_width")

    def _html(self) -> io.BytesIO:
        """The tear sheet on show as a standalone HTML file (opens offline)."""
        sheet, as_of = self._sheet, self.as_of
        model = hv.render(sheet.opts(toolbar=None, clone=True), backend="bokeh")
        title = (f"Trading Arena · tear sheet of {self.agent} as of bar {as_of.get('bar')} "
                 f"· run {as_of.get('run_id')}")
        return io.BytesIO(tear_sheet_html(model, title))

    # -- following the run ------------------------------------------------------------
    @param.depends("active", watch=True)
    def _follow(self) -> None:
        """While on show: check four times a second whether a rebuild is due."""
        if self.active:
            OPEN_TABS.add(self)
            self.refresh()
            if self._callback is None and pn.state.curdoc is not None:
                self._callback = PeriodicCallback(callback=self.refresh, period=250,
                                                  background=True)
                self._callback.start()
                pn.state.on_session_destroyed(lambda _ctx: self._stop())
        else:
            self._stop()

    def _stop(self) -> None:
        OPEN_TABS.discard(self)
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    @param.depends("agent", "section", "window", "var_level", watch=True)
    def _choice(self) -> None:
        self._next = 0.0  # a person's choice shows at once
        if self.active:
            OPEN_TABS.add(self)
            self.refresh()

    def refresh(self) -> bool:
        """Rebuild the tear sheet if the run moved (or a choice changed) and the rate
        limits allow; True if it rebuilt."""
        if not self.active or time.monotonic() < self._next:
            return False
        comp = self.feed.competition
        names = list(comp.agent_names)
        if list(self.param.agent.objects) != names:
            self.param.agent.objects = names
            if self.agent not in names:
                self.agent = names[0] if names else None  # (a watcher: rebuilds)
                return True
        bar = int(comp.bar)
        key = (comp.run_id, bar, self.agent, self.section, self.window, self.var_level)
        if key == self._shown:
            return False
        self._rebuild(comp, bar, key)
        return True

    def _rebuild(self, comp, bar: int, key: tuple) -> None:
        started = time.monotonic()
        self.__panel__()
        when = comp.data.timestamp(bar - 1) if bar else None
        self.as_of = {"run_id": comp.run_id, "bar": bar,
                      "time": None if when is None else when.isoformat()}
        try:
            sheet = tear_sheet(_AtBar(comp, bar), self.agent, window=self.window or None,
                               var_level=self.var_level,
                               views=None if self.section == "all" else self.section)
            with pn.io.hold():
                self._sheet = sheet
                self.plot.object = on_dark(sheet)
                self.download.disabled = False
                self.note.object = (f"Tear sheet of <b>{text(self.agent)}</b> as of bar "
                                    f"<b>{bar:,}</b> ({text(when)}) · run {text(comp.run_id)}")
        except ValueError as exc:  # no agent yet, fewer than 2 bars: said, not raised
            self.plot.object = self._sheet = None
            self.download.disabled = True
            self.note.object = f"<i>{text(exc)}</i>"
        except Exception as exc:  # noqa: BLE001 - a view that cannot draw says so
            log.warning("tear sheet of %r at bar %d failed: %s: %s", self.agent, bar,
                        type(exc).__name__, exc)
            self.plot.object = self._sheet = None
            self.download.disabled = True
            self.note.object = (f"<i>The tear sheet could not be drawn at bar {bar:,}: "
                                f"{text(type(exc).__name__)}: {text(exc)}</i>")
        self._shown = key
        self.builds += 1
        done = time.monotonic()
        self.cost = done - started
        self._next = done + max(self.min_period,
                                self.cost * max(1, len(OPEN_TABS)) / self.duty)

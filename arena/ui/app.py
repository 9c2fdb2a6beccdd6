"""ArenaApp: the dashboard, composed from the components in a dark template.

One ArenaApp per browser session (or notebook); they all read the one shared
competition of the process through their own :class:`SessionFeed`.
"""

from __future__ import annotations

import panel as pn
import param

from arena.ui.analysis.tab import AnalysisView
from arena.ui.compare import CompareView
from arena.ui.connection import ConnectionIndicator, configure_notifications
from arena.ui.controls import ControlPanel
from arena.ui.decisions import DecisionsFeed
from arena.ui.deferred import when_seen
from arena.ui.downloads import RunDownloads
from arena.ui.equity import EquityChart
from arena.ui.events import EventLog
from arena.ui.feed import SessionFeed
from arena.ui.hub import Hub, shared_hub
from arena.ui.leaderboard import Leaderboard
from arena.ui.market import MarketCards, SummaryBar
from arena.ui.positions import PositionsTable
from arena.ui.prices import PriceChart
from arena.ui.replay_controls import ReplayControls
from arena.ui.runs import ReplayHub, RunPicker
from arena.ui.trades import TradeFeed

CSS = """
.arena-card { border-radius: 6px; }
"""


def _card(title: str, body, **kw) -> pn.Card:
    return pn.Card(body, title=title, collapsible=False, sizing_mode="stretch_width",
                   css_classes=["arena-card"], margin=(4, 4), **kw)


def _pair(left: list, right: list, height: int) -> pn.FlexBox:
    """A row of the main area: a wide column and a narrow one side by side while both
    get their basis (1366 px wide screens and up: the equity chart's plot area ~470 px,
    the leaderboard's rank to PnL), the narrow one below the wide one on a narrower
    page. Every row shares the bases, so the columns line up."""
    return pn.FlexBox(
        pn.Column(*left, sizing_mode="stretch_width", height=height,
                  styles={"flex": "3 1 520px"}),
        pn.Column(*right, sizing_mode="stretch_width", height=height,
                  styles={"flex": "2 1 440px"}),
        flex_wrap="wrap", sizing_mode="stretch_width")


class ArenaApp(pn.viewable.Viewer):
    """The whole dashboard for one session."""

    feed = param.ClassSelector(class_=SessionFeed, doc="this session's reader of the streams")

    def __init__(self, hub: Hub | None = None, **params):
        hub = hub or shared_hub()
        super().__init__(feed=params.pop("feed", None) or SessionFeed(hub=hub), **params)
        feed = self.feed
        self.sidebar = self._sidebar(hub)
        self.controls = self.sidebar[-1]
        self.summary = SummaryBar(feed=feed)
        self.market = MarketCards(feed=feed)
        self.equity = EquityChart(feed=feed)
        self.leaderboard = Leaderboard(feed=feed)
        self.prices = PriceChart(feed=feed)
        self.positions = PositionsTable(feed=feed, height=260)  # fills the leaderboard's column
        self.trades = TradeFeed(feed=feed)
        self.decisions = DecisionsFeed(feed=feed)
        self.events = EventLog(feed=feed)
        self.connection = ConnectionIndicator(feed=feed)
        self.downloads = RunDownloads(feed=feed)
        self.compare = CompareView(run_dir=hub.run_dir) if isinstance(hub, ReplayHub) else None
        self.analysis = AnalysisView(feed=feed)

    def _sidebar(self, hub) -> list:
        """The controls: a live competition's control panel, or in replay mode the run
        picker and the replay controls (the last item is ``self.controls``)."""
        if isinstance(hub, ReplayHub):
            return [RunPicker(hub=hub), ReplayControls(feed=self.feed)]
        return [ControlPanel(feed=self.feed)]

    def main(self, lazy: bool = True) -> list:
        """The main area, top to bottom. ``lazy``: the rows below the first screen
        (prices and trades, decisions and events) reach the page when it is scrolled
        near them (:func:`arena.ui.deferred.when_seen`). The replay's comparison is
        not deferred: its table needs Tabulator's scripts, which the page loads only
        for the models it has when it is served."""
        later = when_seen if lazy else (lambda part, height: part)
        return [
            pn.Row(self.summary, sizing_mode="stretch_width"),
            pn.Row(self.market, sizing_mode="stretch_width"),
            _pair([self.equity], [self.leaderboard, self.positions], 660),  # 9 agents
            later(_pair([self.prices], [self.trades], 460), 460),
            later(_pair([self.decisions], [self.events], 420), 420),
            *([pn.Row(self.compare, sizing_mode="stretch_width")] if self.compare else []),
        ]

    def tabs(self, lazy: bool = True) -> pn.Tabs:
        """The arena (:meth:`main`) and the Analysis tab; only the tab on show is in the
        page (the Analysis tab builds and follows the run only while it is shown)."""
        tabs = pn.Tabs(("Arena", pn.Column(*self.main(lazy), sizing_mode="stretch_width")),
                       ("Analysis", self.analysis), dynamic=True, sizing_mode="stretch_width")
        tabs.param.watch(lambda e: setattr(self.analysis, "active", e.new == 1), "active")
        return tabs

    def template(self) -> pn.template.FastListTemplate:
        """The served page: controls in the sidebar, everything else in the main area."""
        configure_notifications()
        tpl = pn.template.FastListTemplate(
            title="Trading Arena", theme="dark", accent="#56b4e9",
            header_background="#15202b", header_color="#e6edf3",
            sidebar=[*self.sidebar, self.downloads], sidebar_width=330, main=[self.tabs()],
            header=[pn.Row(pn.HSpacer(), self.connection, margin=(10, 20))],
            raw_css=[CSS], main_layout=None)
        pn.state.onload(self.feed.start)
        return tpl

    def serve_doc(self, title: str = "Trading Arena") -> None:
        """Build the served page into this session's document in one go. Bokeh then
        walks the document's models once, not once per template root: about a
        third less server CPU for each new session."""
        doc = pn.state.curdoc
        template = self.template()
        with doc.models.freeze():
            template.server_doc(doc, title=title)

    def __panel__(self):
        """For notebooks: the same components in one column (the feed starts here)."""
        self.feed.start()
        return pn.Column(self.connection, *self.sidebar, self.tabs(lazy=False), self.downloads,
                         sizing_mode="stretch_width")

"""ArenaApp: the dashboard, composed from the components in a dark template."""

from __future__ import annotations

import panel as pn
import param

from arena.ui.equity import EquityChart
from arena.ui.feed import SessionFeed
from arena.ui.hub import Hub, shared_hub
from arena.ui.leaderboard import Leaderboard


class ArenaApp(pn.viewable.Viewer):
    """The whole dashboard for one session."""

    feed = param.ClassSelector(class_=SessionFeed)

    def __init__(self, hub: Hub | None = None, **params):
        hub = hub or shared_hub()
        super().__init__(feed=params.pop("feed", None) or SessionFeed(hub=hub), **params)
        self.equity = EquityChart(feed=self.feed)
        self.leaderboard = Leaderboard(feed=self.feed)

    def controls(self):
        comp = self.feed.competition
        start = pn.widgets.Button(name="Start", button_type="success")
        pause = pn.widgets.Button(name="Pause", button_type="warning")
        step = pn.widgets.Button(name="Step", button_type="primary")
        stop = pn.widgets.Button(name="Stop", button_type="danger")
        start.on_click(lambda e: comp.start())
        pause.on_click(lambda e: comp.pause())
        step.on_click(lambda e: comp.step(wait=False))
        stop.on_click(lambda e: comp.stop())
        return pn.Column(start, pause, step, stop)

    def template(self) -> pn.template.FastListTemplate:
        tpl = pn.template.FastListTemplate(
            title="Trading Arena", theme="dark", sidebar=[self.controls()],
            main=[pn.Row(self.equity, sizing_mode="stretch_both"), self.leaderboard],
            accent="#56b4e9")
        pn.state.onload(self.feed.start)
        return tpl

    def __panel__(self):
        return pn.Column(self.leaderboard, self.equity, sizing_mode="stretch_both")

"""The Analysis tab without a browser: a real competition behind a SessionFeed; the tab
builds only while shown, names the bar its tear sheet is of, follows the run within
its rate limits, and says (as text) why there is nothing to draw yet."""

from __future__ import annotations

import io
import time

import pandas as pd

from arena.config import RunSpec
from arena.engine import CompetitionConfig
from arena.ui.analysis.tab import OPEN_TABS, AnalysisView
from arena.ui.feed import SessionFeed
from arena.ui.hub import Hub

SPEC = RunSpec(symbols=("AAPL", "MSFT"), agents=("sma_cross", "momentum", "buy_and_hold"),
               start="2010-01-01", end="2011-12-31", config=CompetitionConfig(record=False))


def make_tab(**params) -> tuple[Hub, AnalysisView]:
    hub = Hub(SPEC)
    return hub, AnalysisView(feed=SessionFeed(hub=hub), **params)


def growth_curve(sheet) -> pd.DataFrame:
    """The tear sheet's cumulative-returns curve of the chosen agent (its first element's
    first curve)."""
    return next(iter(sheet)).values()[0].dframe()


def test_nothing_is_built_until_the_tab_is_shown():
    hub, tab = make_tab()
    hub.competition.step(60, wait=True)
    assert tab.refresh() is False and tab.builds == 0
    tab.active = True
    assert tab.builds == 1 and tab.as_of["bar"] == 60
    tab.active = False
    hub.competition.step(10, wait=True)
    assert tab.refresh() is False and tab.builds == 1


def test_the_sheet_is_of_the_bar_it_names_and_follows_the_run():
    hub, tab = make_tab(min_period=0.1)
    comp = hub.competition
    comp.step(120, wait=True)
    tab.active = True
    assert tab.agent == "sma_cross"  # the first agent until one is chosen
    curve = growth_curve(tab._sheet)
    equity = comp.equity_frame()["sma_cross"]
    assert len(curve) == 120 and tab.as_of["bar"] == 120
    assert curve["growth"].iloc[-1] == equity.iloc[119] / equity.iloc[0]
    assert "as of bar <b>120</b>" in tab.note.object
    comp.step(30, wait=True)
    tab._next = 0.0  # (the rate limit is tested below)
    assert tab.refresh() is True and tab.as_of["bar"] == 150
    assert len(growth_curve(tab._sheet)) == 150
    assert tab.refresh() is False  # nothing new: no rebuild


def test_rebuilds_wait_for_the_period_and_the_shared_duty_budget():
    hub, tab = make_tab(min_period=5.0, duty=0.2)
    hub.competition.step(80, wait=True)
    tab.active = True
    assert tab in OPEN_TABS
    hub.competition.step(5, wait=True)
    assert tab.refresh() is False and tab.builds == 1  # within min_period: waits
    # a duty share so small that the rebuilds' cost sets the wait: the cost times the
    # number of tabs open in the process (they share the budget)
    other = AnalysisView(feed=tab.feed)
    other.active = True
    for n in (len(OPEN_TABS), len(OPEN_TABS) - 1):
        tab.param.update(min_period=0.1, duty=0.01)
        tab._next = 0.0
        hub.competition.step(1, wait=True)
        assert tab.refresh() is True and tab.cost > 0.001
        wait = tab._next - time.monotonic()
        assert tab.cost * n / 0.01 * 0.9 < wait <= tab.cost * n / 0.01, (n, tab.cost, wait)
        other.active = False  # closed: the next wait counts one tab fewer
    assert other not in OPEN_TABS
    tab.active = False
    assert tab not in OPEN_TABS


def test_a_choice_rebuilds_at_once_and_a_bad_moment_is_said_as_text():
    hub, tab = make_tab(min_period=60.0)
    tab.active = True  # bar 0: nothing to draw
    assert tab._sheet is None and "fewer than 2 bars" in tab.note.object
    assert tab.download.disabled
    hub.competition.step(100, wait=True)
    tab._next = 0.0
    tab.refresh()
    tab.agent = "momentum"  # within min_period, yet shown at once
    assert tab.builds == 3 and "momentum" in tab.note.object
    assert tab.as_of["bar"] == 100 and not tab.download.disabled
    html = tab._html().getvalue().decode()
    assert isinstance(tab._html(), io.BytesIO)
    assert "tear sheet of momentum as of bar 100" in html and "<script" in html


def test_the_tabs_tables_are_styled_for_the_dark_page_and_the_download_is_not():
    from bokeh.models import DataTable

    hub, tab = make_tab(section="risk")
    hub.competition.step(300, wait=True)
    tab.active = True
    shown = tab.plot.get_root()
    tables = list(shown.select({"type": DataTable}))
    assert tables and all(any("slick-cell" in str(s) for s in t.stylesheets) for t in tables)
    html = tab._html().getvalue().decode()  # (the file is light, as in a notebook)
    assert "#181818; color: #e6edf3" not in html

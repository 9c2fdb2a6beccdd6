"""One current bar: the summary bar's engine time and bar count are the control
panel's after every update (issue 16: at 20 bars/s the summary showed 2006-02-02
while the control panel showed 2006-03-02).

The cause was two clocks in each pull: the keyed tables (which re-draw the summary)
and the status (which the control panel follows) each had their own once-per-
``table_period`` timer, so one pull could refresh the tables with the previous
status and the next pull the status without the tables; the summary then kept the
older bar until its next table refresh, up to a second of bars later."""

from __future__ import annotations

import re
import time

import pandas as pd
import pytest

from arena.config import RunSpec
from arena.engine import CompetitionConfig
from arena.ui.controls import ControlPanel
from arena.ui.feed import SessionFeed
from arena.ui.hub import Hub
from arena.ui.market import MarketCards, SummaryBar
from arena.ui.prices import PriceChart

SPEC = RunSpec(symbols=("AAPL", "MSFT"), agents=("sma_cross", "buy_and_hold"),
               config=CompetitionConfig(record=False, speed=200.0))
PERIOD_MS = 200


@pytest.fixture
def hub():
    hub = Hub(SPEC)
    yield hub
    hub.competition.stop()


def summary_bar_and_time(summary: SummaryBar) -> tuple[int, str]:
    """(bar, time) as the summary bar's cards show them: Progress "N/M bars", Engine time."""
    cards = {c[0]: c for c in summary.strip.shown()}
    bar = int(cards["Progress"][4].split("/")[0])
    return bar, cards["Engine"][4]


def panel_bar_and_date(panel: ControlPanel) -> tuple[int, str]:
    """(bar, date) as the control panel's status line shows them."""
    line = re.sub(r"<[^>]+>", " ", panel.state_pane.object)
    bar = int(re.search(r"bar ([\d,]+)", line).group(1).replace(",", ""))
    date = re.search(r"\d{4}-\d\d-\d\d", line)
    return bar, date.group(0) if date else "–"


def test_the_summary_bar_and_the_control_panel_show_the_same_bar_after_every_pull(hub):
    # Arrange: a session whose tables sometimes take a while to draw (60 ms), pulled
    # on a rhythm that, with two timers, refreshes the tables without the status (Y)
    # and then the status without the tables (Z)
    feed = SessionFeed(hub=hub, table_period=PERIOD_MS)
    summary, panel = SummaryBar(feed=feed), ControlPanel(feed=feed)
    cards, chart = MarketCards(feed=feed), PriceChart(feed=feed)
    close = hub.competition.data.close
    slow = [False]
    feed.subscribe("leaderboard", lambda rows: time.sleep(0.06 if slow[0] else 0))
    hub.competition.start()
    end = time.monotonic() + 30
    while hub.competition.bar < 5 and time.monotonic() < end:  # the first bars load
        time.sleep(0.02)                                         # the agents' signals
    seen = []

    def pull_at(when: float, slowly: bool = False) -> float:
        time.sleep(max(0.0, when - time.monotonic()))
        slow[0], started = slowly, time.monotonic()
        feed.pull()
        seen.append((summary_bar_and_time(summary), panel_bar_and_date(panel)))
        bar = seen[-1][0][0]
        # the price chart ends, and the market cards stand, at that bar too
        last = pd.Timestamp(chart.source.data["time"][-1], unit="ms")
        assert last.strftime("%Y-%m-%d %H:%M") == seen[-1][0][1]
        assert cards.strip.cards[0][1] == f"{close[bar - 1, 0]:,.2f}"
        return started

    # Act
    x = pull_at(time.monotonic(), slowly=True)
    for _ in range(3):
        y = pull_at(x + PERIOD_MS / 1000 + 0.02)
        pull_at(y + 0.05)
        x = pull_at(y + PERIOD_MS / 1000 + 0.005, slowly=True)
    hub.competition.pause()
    # Assert: the engine moved on between pulls, and every pull shows one bar everywhere
    bars = [s[1][0] for s in seen]
    assert len(set(bars)) >= 5, bars
    for (s_bar, s_time), (p_bar, p_date) in seen:
        assert s_bar == p_bar and s_time[:10] == p_date[:10], seen


def test_a_pull_shows_the_tables_and_the_status_of_one_read(hub):
    """The status the views show is read once per pull: the totals and the bar shown
    together come from the same update (a paused engine: both exact)."""
    feed = SessionFeed(hub=hub, table_period=PERIOD_MS)
    summary = SummaryBar(feed=feed)
    comp = hub.competition
    comp.step(37)
    feed.pull()
    cards = {c[0]: c for c in summary.strip.shown()}
    board = comp.leaderboard()
    assert cards["Progress"][4] == f"37/{comp.n_bars} bars"
    assert cards["Engine"][4] == comp.data.timestamp(36).isoformat()[:16].replace("T", " ")
    assert cards["Total equity"][1] == f"{board['equity'].sum():,.0f}"

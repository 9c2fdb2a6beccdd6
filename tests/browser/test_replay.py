"""Replay mode in a browser: a real `arena replay` server on a real recording; the
scrubber is dragged with the mouse, forwards and back, and the page's leaderboard and
equity chart must show the state at the new position, computed here straight from
the recording (compute_stats on its equity and trades cut at that bar)."""

from __future__ import annotations

import pandas as pd
import pytest

from arena.engine import CompetitionConfig
from arena.metrics import compute_stats
from arena.portfolio import PortfolioConfig
from arena.recorder import Recording
from arena.ui.keyedview import number_text
from tests.browser.support import Dashboard, drag_scrubber, start_replay, wait_until

AGENTS = ["buy_and_hold", "sma_cross:fast=5,slow=20", "momentum:lookback=10"]
N_BARS = 600
SETTLE_S = 20


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory):
    """A finished recording and `arena replay` on it, the README's command."""
    server = start_replay(tmp_path_factory.mktemp("replay"), AGENTS, N_BARS,
                          CompetitionConfig(portfolio=PortfolioConfig(fee_bps=2), seed=4))
    yield server
    server.stop()


def board_at(path, t: int) -> dict[str, float]:
    """Each agent's equity and Sharpe after t bars, from the recording itself."""
    rec = Recording(path)
    eq, trades = rec.equity(), rec.trades()
    eq, trades = eq[eq["bar"] < t], trades[trades["bar"] < t]
    out = {}
    for name, rows in eq.groupby("agent"):
        s = compute_stats(pd.Series(rows["equity"].to_numpy(), index=pd.DatetimeIndex(rows["time"])),
                          trades[trades["agent"] == name], invested=rows["invested"].to_numpy(),
                          periods_per_year=rec.meta["periods_per_year"])
        out[name] = (float(s["equity_final"]), float(s["sharpe"]))
    return out


def page_board(dash: Dashboard) -> dict[str, tuple[str, str]]:
    """Each agent's equity and Sharpe as the page's leaderboard shows them."""
    return {r["Agent"]: (r["Equity"], r["Sharpe"]) for r in dash.keyed("arena-leaderboard")}


def shown(board: dict[str, tuple[float, float]]) -> dict[str, tuple[str, str]]:
    """``board`` as the leaderboard shows it: equity to the dollar, Sharpe to 2 places."""
    return {a: (number_text(e, 0, 0), number_text(s, 2, 2)) for a, (e, s) in board.items()}


@pytest.mark.slow
def test_scrubber_seeks_forward_and_back_and_the_page_shows_that_bar(page, replay_server):
    server = replay_server
    dash = Dashboard(page, server).open()
    assert server.status()["bar"] == 0
    assert dash.leaderboard() == {}
    positions = []
    for fraction in (0.7, 0.25):
        before = server.status()["bar"]
        drag_scrubber(page, fraction)
        moved = wait_until(lambda b=before: server.status()["bar"] != b, SETTLE_S)
        assert moved, f"the scrubber did not seek (still bar {before})"
        t = server.status()["bar"]
        assert abs(t / N_BARS - fraction) < 0.1, (t, fraction)
        positions.append(t)
        want = shown(board_at(server.recording, t))
        assert wait_until(lambda w=want: page_board(dash) == w, SETTLE_S), \
            (t, page_board(dash), want)
        last_ms = pd.Timestamp(Recording(server.recording).times()[t - 1]).value // 10**6
        assert wait_until(lambda ms=last_ms: (dash.equity() or {}).get("last") == ms,
                          SETTLE_S), (dash.equity(), last_ms)
    assert positions[1] < positions[0]  # forward, then back
    text = dash.text()
    assert "bar " + f"{positions[1]:,}" in text and "PAUSED" in text.upper()

"""The connection indicator: a page whose server goes away says so within seconds
and offers Reload; once a server answers on the same port again, Reload brings
the dashboard back."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.browser.support import Dashboard, free_port, start_arena_serve

NOTICE_S = 5.0
READY_S = 120.0  # a loaded 2-core machine: imports, the competition, the first session


@pytest.mark.slow
def test_lost_server_shows_disconnected_and_reload_restores(tmp_path, page):
    # Arrange
    port = free_port()
    first = start_arena_serve(tmp_path, port=port, log_name="first.log")
    second = None
    try:
        print(f"\nfirst server ready after {first.wait_ready(timeout=READY_S):.1f} s")
        dash = Dashboard(page, first).open()
        expect(dash.connection()).to_have_text("● live")
        reload = page.locator(".reload")
        expect(reload).to_be_hidden()

        # Act: the server goes away
        first.stop()
        t0 = time.monotonic()

        # Assert: disconnected within seconds, with a Reload button
        expect(dash.connection()).to_have_text("● disconnected", timeout=NOTICE_S * 1000)
        print(f"indicator showed 'disconnected' {time.monotonic() - t0:.1f} s after the "
              "server stopped")
        expect(reload).to_be_visible()

        # Act: a new server on the same port, then Reload
        second = start_arena_serve(tmp_path, port=port, log_name="second.log")
        print(f"second server ready after {second.wait_ready(timeout=READY_S):.1f} s")
        reload.click()
        dash = Dashboard(page, second)
        dash.wait_ready()

        # Assert: the dashboard is back, live, and its server answers
        expect(dash.connection()).to_have_text("● live")
        expect(page.get_by_role("heading", name="Leaderboard", exact=True)).to_be_visible()
        assert {p["title"] for p in dash.plots()} >= {"Equity", "Drawdown %"}
        assert dash.equity()["columns"] == 9  # the default agents
        assert second.status()["sessions"] >= 1
    finally:
        first.stop()
        if second is not None:
            second.stop()

"""Sessions come and go without leaving anything behind: after 50 browser sessions
have opened and closed, the server counts none (every feed stopped its periodic
callback) and its memory is about where it was.

Panel destroys a closed session after its unused-session lifetime (Bokeh's
defaults: checked every 17 s, unused for 15 s); `arena serve` does not expose
those settings, so the test waits up to ``DESTROY_S``. Each session costs the
server seconds of CPU to build, so this test alone takes minutes
(``ARENA_TEST_SESSIONS=N`` runs it with fewer).
"""

from __future__ import annotations

import os
import time

import pytest

from tests.browser.support import Dashboard, start_arena_serve, wait_until

SESSIONS = int(os.environ.get("ARENA_TEST_SESSIONS", "50"))
# The warm-up opens as many sessions as the measured round: the server's RSS is a
# high-water mark of the sessions held at once (closed ones wait up to DESTROY_S to be
# destroyed, and freed memory stays with the process), so a leak shows as growth from
# one equal round to the next, not from a round of 5 to a round of 50.
WARM_UP = SESSIONS
IN_FLIGHT = 3  # pages loading at once (the server builds one session at a time)
DESTROY_S = 60.0
MAX_GROWTH = 0.30
MAX_IDLE_CPU = 0.15
SMALL = {"width": 800, "height": 600}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_arena_serve(tmp_path_factory.mktemp("sessions"))
    server.wait_ready()
    yield server
    server.stop()


def open_and_close(context, server, count: int) -> int:
    """Open ``count`` dashboards (``IN_FLIGHT`` at a time), each until its feed has
    started, then close them; the most sessions the server counted meanwhile."""
    most, done = 0, 0
    while done < count:
        pages = [Dashboard(context.new_page(), server) for _ in range(min(IN_FLIGHT, count - done))]
        for dash in pages:
            dash.page.goto(server.url + "/app", wait_until="commit")
        for dash in pages:
            dash.wait_ready()
        most = max(most, server.status()["sessions"])
        for dash in pages:
            dash.page.close()
        done += len(pages)
    return most


def wait_for_sessions(server, expected: int) -> float:
    """Seconds until the server counts ``expected`` sessions (fails after DESTROY_S)."""
    t0 = time.monotonic()
    assert wait_until(lambda: server.status()["sessions"] == expected, DESTROY_S, 0.5), \
        f"{server.status()['sessions']} sessions still counted after {DESTROY_S:.0f} s"
    return time.monotonic() - t0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_closed_sessions_release_their_callbacks_and_memory(server, browser):
    # Arrange
    context = browser.new_context(viewport=SMALL)
    baseline = server.status()["sessions"]
    assert baseline == 0
    open_and_close(context, server, WARM_UP)
    wait_for_sessions(server, baseline)
    rss_warm = server.rss_kb()

    # Act
    t0, cpu0 = time.monotonic(), server.cpu_seconds()
    most = open_and_close(context, server, SESSIONS)
    opened_s, cpu_s = time.monotonic() - t0, server.cpu_seconds() - cpu0
    released_s = wait_for_sessions(server, baseline)
    rss_after = server.rss_kb()
    idle_cpu = server.cpu_share()
    context.close()

    # Assert
    growth = rss_after / rss_warm - 1
    print(f"\n{SESSIONS} sessions opened and closed in {opened_s:.0f} s "
          f"({opened_s / SESSIONS:.1f} s and {cpu_s / SESSIONS:.1f} s of server CPU each, "
          f"at most {most} counted at once); "
          f"all released {released_s:.0f} s after the last close")
    print(f"server VmRSS after {WARM_UP} warm-up sessions {rss_warm / 1024:.0f} MiB, "
          f"after {SESSIONS} more {rss_after / 1024:.0f} MiB ({growth:+.1%})")
    print(f"server CPU with every session closed: {idle_cpu:.0%} of a core")
    assert most >= 1
    assert server.status()["sessions"] == baseline
    assert idle_cpu < MAX_IDLE_CPU  # 50 forgotten 300 ms pulls would cost far more
    assert growth < MAX_GROWTH

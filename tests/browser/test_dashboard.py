"""The served dashboard in a browser: every panel on the README's command, the run
controls end to end (down to the recording), one competition for every viewer,
the page's responsiveness, and the README's screenshot.

One `arena serve` (the module's ``arena_server``, default config: 9 agents on
AAPL, MSFT, IBM, GOOG) serves every test here; each starts from a reset run.
"""

from __future__ import annotations

import re
import time

import pandas as pd
from playwright.sync_api import expect

from arena.data import load_bundled
from arena.recorder import Recording
from arena.ui.equity import BENCH_COLOUR
from arena.ui.hub import default_spec
from arena.ui.keyedview import number_text
from arena.ui.theme import PALETTE
from tests.browser.support import DEFAULT_SPEED, Dashboard, wait_until

SYMBOLS = ("AAPL", "MSFT", "IBM", "GOOG")
AGENTS = 9
READY_LIMIT_S = 15.0
# From the click on Start to more equity points in the page. The aim is 2 s; on
# this shared 2-core machine a loaded run takes longer, so the test prints the figure and
# only fails past a bound that means "broken" (speed is measured, not asserted).
START_LIMIT_S = 10.0
SETTLE_S = 20.0  # after a pause, every session has pulled the last bars by then
HEADINGS = ("Equity", "Leaderboard", "Open positions", "Prices", "Trades", "Decisions",
            "Events")
BUTTONS = ("Start", "Pause", "Step", "Stop", "Reset")
SUMMARY_LABELS = ("Total equity", "Total PnL", "Trades", "Open positions", "Engine",
                  "Progress")
# The run-control and shared-view tests run slower than the default 20 bars/s: at
# 20 (and at 5) bars/s this page keeps Chromium's main thread busy and clicks do not
# get through (see docs/benchmarks.md section 3).
CONTROL_SPEED = 1.0
SHARED_SPEED = 5.0

_LONG_TASKS_JS = """() => { window.__busy = 0; window.__since = performance.now();
  new PerformanceObserver(list => { for (const e of list.getEntries()) window.__busy += e.duration })
    .observe({entryTypes: ['longtask']}) }"""


def ms(iso_time: str) -> float:
    """An ISO time from /api/status in Bokeh's datetime unit (ms since the epoch)."""
    return pd.Timestamp(iso_time).tz_convert("UTC").tz_localize(None).value / 1e6


def first_bar_ms() -> float:
    return float(load_bundled(list(SYMBOLS)).times[:1].astype("datetime64[ms]")
                 .astype("int64")[0])


def recorded_status(db) -> str | None:
    with Recording(db) as rec:
        return rec.meta.get("status")


def settle(status: dict, *dashes: Dashboard) -> None:
    """Wait until every page shows the paused run's last bar in its equity chart and
    its leaderboard (which refreshes once a second) (prints how long)."""
    t0 = time.monotonic()
    last = ms(status["time"])
    board = {row["agent"]: number_text(row["equity"], 0, 0) for row in status["leaderboard"]}
    ok = wait_until(lambda: all((d.equity() or {}).get("last") == last
                                and d.leaderboard() == board for d in dashes), SETTLE_S)
    print(f"\n{len(dashes)} session(s) caught up with bar {status['bar']} "
          f"{time.monotonic() - t0:.2f} s after the pause")
    assert ok, ([d.equity() for d in dashes], board, [d.leaderboard() for d in dashes])


# -- 1. every panel ------------------------------------------------------------------------
def test_readme_command_serves_every_panel_on_real_data(arena_server, dashboard):
    # Arrange: the module's server was started with the README's command (make run)
    print(f"\narena serve ready (HTTP 200 on /app) after {arena_server.ready_seconds:.1f} s; "
          f"its first bar (POST /api/step) took {arena_server.first_run_seconds:.2f} s")
    status = arena_server.fresh()

    # Act
    dash = dashboard.open()
    page = dash.page

    # Assert: ready in time, on the bundled data with the 9 default agents
    assert arena_server.ready_seconds < READY_LIMIT_S
    assert status["data_source"] == ",".join(SYMBOLS)
    assert len(status["agents"]) == AGENTS
    for label in SUMMARY_LABELS:
        expect(page.get_by_text(label, exact=True).first).to_be_visible()
    text = dash.text()
    for sym in SYMBOLS:  # one market card per symbol: its label, then its price or "–"
        assert re.search(rf"{sym}\s*(–|[\d,]+\.\d\d)", text), f"no market card for {sym}"
    for heading in HEADINGS:
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    plots = {p["title"]: p for p in dash.plots()}
    for title in ("Equity", "Drawdown %", "AAPL close"):
        assert title in plots, f"no visible plot {title!r}; have {sorted(plots)}"
        assert plots[title]["width"] > 200 and plots[title]["height"] > 100, plots[title]
    assert dash.equity()["columns"] == AGENTS
    expect(page.get_by_text("Agent", exact=True).first).to_be_visible()  # leaderboard header
    for label in BUTTONS:
        expect(dash.button(label)).to_be_visible()
    expect(dash.button("Start")).to_be_enabled()
    expect(dash.connection()).to_have_text("● live")


# -- 2. run controls ------------------------------------------------------------------------
def test_start_pause_step_stop_reset_from_the_page(arena_server, dashboard):
    # Arrange
    server = arena_server
    old_run = server.fresh(speed=CONTROL_SPEED)["run_id"]
    dash = dashboard.open()
    assert dash.equity()["n"] == 0 and dash.leaderboard() == {}

    # Act / Assert -- Start: soon more equity points, a leaderboard, prices
    dash.button("Start").click()
    t0 = time.monotonic()
    grown = wait_until(lambda: (e := dash.equity()) is not None and e["n"] > 0, 10)
    took = time.monotonic() - t0
    print(f"\nfirst equity points in the page {took:.2f} s after clicking Start")
    assert grown and took < START_LIMIT_S, f"{took:.2f} s; status {server.status()}"
    board = wait_until(lambda: len(b := dash.leaderboard()) == AGENTS and b, 3)
    assert board, dash.leaderboard()
    assert wait_until(lambda: dash.leaderboard() != board, 3), "leaderboard values stand still"
    text = dash.text()
    for sym in SYMBOLS:
        assert re.search(rf"{sym}\s*[\d,]+\.\d\d", text), f"market card {sym} shows no price"

    # Pause: nothing moves afterwards, and the page has every bar
    dash.button("Pause").click()
    assert wait_until(lambda: server.status()["state"] == "paused", 5)
    bar = server.status()["bar"]
    assert wait_until(lambda: dash.equity()["n"] == bar, SETTLE_S), (dash.equity(), bar)
    time.sleep(1.0)
    assert server.status()["bar"] == bar
    assert dash.equity()["n"] == bar
    expect(dash.button("Resume")).to_be_visible()
    assert f"bar {bar:,} / " in dash.text()

    # Step: exactly one more bar
    dash.button("Step").click()
    assert wait_until(lambda: server.status()["bar"] == bar + 1, 5), server.status()
    assert wait_until(lambda: dash.equity()["n"] == bar + 1, 3), dash.equity()
    time.sleep(1.0)
    assert server.status()["bar"] == bar + 1 and dash.equity()["n"] == bar + 1

    # Stop: the run ends and its recording is complete
    dash.button("Stop").click()
    assert wait_until(lambda: server.status()["state"] == "stopped", 5)
    status = server.status()
    db = server.run_dir / status["run_id"] / "arena.sqlite"
    assert wait_until(lambda: db.exists() and recorded_status(db) == "stopped", 10)
    with Recording(db) as rec:
        meta, equity = rec.meta, rec.equity()
    assert meta["bars_processed"] == status["bar"] == bar + 1
    assert len(equity) == status["bar"] * AGENTS
    assert equity["bar"].nunique() == status["bar"]

    # Reset: a clean slate and a new run
    dash.button("Reset").click()
    assert wait_until(lambda: server.status()["bar"] == 0, 5)
    assert server.status()["state"] == "idle"
    assert server.status()["run_id"] not in (status["run_id"], old_run)
    assert wait_until(lambda: (e := dash.equity()) is not None and e["n"] == 0
                      and dash.leaderboard() == {}, 5), (dash.equity(), dash.leaderboard())


# -- 3. one competition, many viewers ---------------------------------------------------------
def test_every_session_sees_the_same_competition_and_late_ones_get_history(
        arena_server, new_context):
    # Arrange: two viewers from the start
    server = arena_server
    server.fresh(speed=SHARED_SPEED)
    a = Dashboard(new_context().new_page(), server).open()
    b = Dashboard(new_context().new_page(), server).open()

    # Act: run a while (the run's first bar waits for the ML agent's signals), then
    # hold still
    server.command("start")
    assert wait_until(lambda: server.status()["bar"] > 10, 30), server.status()
    server.command("pause")
    status = server.status()
    bar = status["bar"]
    settle(status, a, b)

    # Assert: both show the same bar and the same leaderboard as the server (equity to
    # the dollar, as the page shows it)
    api_board = {row["agent"]: number_text(row["equity"], 0, 0) for row in status["leaderboard"]}
    assert bar > 10
    for dash in (a, b):
        assert f"bar {bar:,} / " in dash.text()
        assert dash.equity()["n"] == bar
        assert dash.leaderboard() == api_board
    assert a.leaderboard() == b.leaderboard()
    assert a.equity() == b.equity()

    # Act: a third viewer joins late
    c = Dashboard(new_context().new_page(), server).open()
    assert wait_until(lambda: c.equity()["n"] > 0, SETTLE_S), c.equity()  # history follows
    late = c.equity()

    # Assert: it has the history from the first bar to the current one
    assert late["first"] == a.equity()["first"] == first_bar_ms()
    assert late["last"] == ms(status["time"])
    assert 1 < late["n"] <= bar
    # (the tables come in messages of their own, once the page's views have rendered)
    assert wait_until(lambda: c.leaderboard() == api_board, SETTLE_S), c.leaderboard()

    # ... and then the live updates, like the others
    server.command("resume")
    assert wait_until(lambda: c.equity()["last"] > late["last"], 5), c.equity()
    server.command("pause")
    now = server.status()
    settle(now, a, b, c)
    assert a.equity()["n"] == now["bar"]
    assert c.equity()["n"] == late["n"] + (now["bar"] - bar)
    assert c.leaderboard() == a.leaderboard() == b.leaderboard()
    # every column (the rank moves aside: each page's are since its own last update) and
    # the open positions: the late page's whole-table sync, the others' changed cells
    def tables():
        return [(strip_moves(d.keyed("arena-leaderboard")), d.keyed("arena-positions"))
                for d in (a, b, c)]
    assert wait_until(lambda: (t := tables())[0] == t[1] == t[2], 5), tables()
    # the feeds (the late page's rows from its sync, the others' as they came) and the
    # cards (bar the session's own update count and speed) read the same on every page
    def feeds():
        return [([d.keyed(f"arena-{f}") for f in ("trades", "decisions", "events")],
                 [c for c in d.cards() if c[0] not in ("Updates", "Speed")]) for d in (a, b, c)]
    assert wait_until(lambda: (f := feeds())[0] == f[1] == f[2], 5), feeds()
    trades, _, _ = feeds()[0][0]
    assert trades and all(r["Time"] and r["Agent"] and r["Trade"] for r in trades)
    cards = {card[0]: card for card in feeds()[0][1]}
    assert set(SYMBOLS) <= set(cards) and cards["Engine"][1] == "paused"
    # the benchmark line: equal weights bought at the first close, held to the last bar
    data = load_bundled(list(SYMBOLS))
    cash = 100_000.0
    bench = cash * (data.close[now["bar"] - 1] / data.close[0]).mean()
    assert a.equity()["bench"] == c.equity()["bench"] == round(bench, 2)

    # a click on a column title sorts that page's table: A to Z, Z to A, then as ranked
    ranked = [r["Agent"] for r in a.keyed("arena-leaderboard")]
    title = a.page.locator(".arena-leaderboard .head span").filter(has_text=re.compile("^Agent$"))
    orders = []
    for _ in range(3):
        title.click()
        orders.append([r["Agent"] for r in a.keyed("arena-leaderboard")])
    assert orders == [sorted(ranked), sorted(ranked, reverse=True), ranked]
    assert [r["Agent"] for r in b.keyed("arena-leaderboard")] == ranked  # only that page


def strip_moves(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "Δ"} for r in rows]


# -- a session is built once ------------------------------------------------------------------
_FIGURES_JS = """() => Array.from(Bokeh.documents[0]._all_models.values())
  .filter(m => Array.isArray(m.renderers) && m.title && m.title.text === 'Equity').length"""


def test_a_new_session_receives_the_equity_figure_once(arena_server, dashboard):
    # Arrange
    arena_server.fresh()

    # Act
    dash = dashboard.open()

    # Assert
    assert dash.page.evaluate(_FIGURES_JS) == 1


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_rows_below_the_first_screen_load_when_scrolled_to(arena_server, dashboard):
    # Arrange: a run with fills and decisions, a page at 1366 x 768 not yet scrolled
    arena_server.fresh()
    arena_server.command("step?bars=40")
    dash = dashboard.open(scroll=False)
    assert wait_until(lambda: (dash.equity() or {"n": 0})["n"] == 40, SETTLE_S), dash.equity()

    # Assert: the prices and trades, decisions and events rows wait as placeholders
    assert dash.placeholders() == 2
    assert "AAPL close" not in {p["title"] for p in dash.plots()}
    assert dash.keyed("arena-trades") == [] and dash.keyed("arena-decisions") == []

    # Act: the reader scrolls down
    dash.scroll_through()

    # Assert: they are there, with the run so far
    assert dash.placeholders() == 0
    assert "AAPL close" in {p["title"] for p in dash.plots()}
    closes = dash.table("c0")  # the price chart's source: a close column per symbol
    assert closes is not None and closes["time"][-1] == dash.equity()["last"], closes
    assert dash.keyed("arena-trades") and dash.keyed("arena-decisions")


def test_legend_shows_each_line_and_a_click_hides_and_shows_its_lines(arena_server, dashboard):
    # Arrange
    arena_server.fresh()
    dash = dashboard.open(scroll=False)
    agents = arena_server.status()["agents"]

    # Assert: an entry per agent (its colour) and the dashed grey benchmark, all on
    entries = dash.legend()
    assert [e["label"] for e in entries] == [*agents, "buy & hold (benchmark)"]
    assert [e["swatch"] for e in entries] == \
        [rgb(PALETTE[i % len(PALETTE)]) for i in range(len(agents))] + [rgb(BENCH_COLOUR)]
    assert all(e["on"] for e in entries)

    # Act: click the second agent's entry
    legend = dash.page.locator(".arena-legend .bk-btn")
    legend.nth(1).click()

    # Assert: its equity and drawdown lines are hidden, no other
    assert wait_until(lambda: not dash.lines_visible()["a1"], 5), dash.lines_visible()
    shown = dash.lines_visible()
    assert sorted(k for k, v in shown.items() if not v) == ["a1", "d1"], shown
    assert [e["on"] for e in dash.legend()] == [i != 1 for i in range(len(entries))]

    # Act / Assert: a second click shows them again
    legend.nth(1).click()
    assert wait_until(lambda: all(dash.lines_visible().values()), 5), dash.lines_visible()


def test_equity_hover_names_the_agent_with_its_equity_and_pnl(arena_server, dashboard):
    # Arrange
    arena_server.fresh()
    arena_server.command("step?bars=30")
    dash = dashboard.open(scroll=False)
    assert wait_until(lambda: (dash.equity() or {"n": 0})["n"] == 30, SETTLE_S), dash.equity()
    agents = arena_server.status()["agents"]
    cash = default_spec().config.portfolio.cash

    # Act: the mouse on the third agent's line
    equity, tip = dash.hover_equity("a2")

    # Assert: its name, equity to the cent and PnL in % of the starting cash
    assert f"agent:\t{agents[2]}" in tip, tip
    assert f"equity:\t{equity:,.2f}" in tip, tip
    assert f"PnL:\t{100 * (equity / cash - 1):.2f} %" in tip, tip


# -- the page keeps up ----------------------------------------------------------------------
def test_page_follows_a_running_competition_and_catches_up(arena_server, dashboard):
    # Arrange
    arena_server.fresh(speed=DEFAULT_SPEED)
    dash = dashboard.open()
    dash.page.evaluate(_LONG_TASKS_JS)

    # Act: once the page shows the first bars, sample its last bar five times while the
    # run goes on at the default speed, then pause
    arena_server.command("start")
    assert wait_until(lambda: (dash.equity() or {"n": 0})["n"] > 0, SETTLE_S), dash.equity()
    shown = []
    for _ in range(5):
        time.sleep(1.2)
        shown.append((dash.equity() or {"n": 0})["n"])
    busy = dash.page.evaluate("() => window.__busy / (performance.now() - window.__since)")
    arena_server.command("pause")
    status = arena_server.status()
    print(f"\nat {DEFAULT_SPEED:g} bars/s the page showed bars {shown}; main thread "
          f"{busy:.0%} in long tasks; engine at bar {status['bar']} when paused")

    # Assert: the page showed a later bar at every sample (it stays live however busy
    # the machine is), then caught up with the paused run. How busy it is and how late
    # it runs are speed, measured by benchmarks/dashboard_stream.py, not asserted here.
    assert all(b > a for a, b in zip(shown, shown[1:], strict=False)), shown
    settle(status, dash)


# -- 8. the README's screenshot ----------------------------------------------------------------
def test_screenshot_of_the_running_dashboard(arena_server, dashboard, screenshots_dir):
    # Arrange
    arena_server.fresh()
    dash = dashboard.open()

    # Act: a few seconds of a running competition (then paused,
    # so that the page catches up: see test_page_follows_a_running_competition_and_catches_up)
    arena_server.command("start")
    time.sleep(3.0)  # the first bar waits for the ML agent's signals: run to bar 10 at least
    assert wait_until(lambda: arena_server.status()["bar"] > 10, 30), arena_server.status()
    arena_server.command("pause")  # so that a loaded machine's page catches up
    settle(arena_server.status(), dash)
    shot = screenshots_dir / "dashboard.png"
    dash.page.screenshot(path=shot)
    dash.page.set_viewport_size({"width": 1366, "height": 2300})  # every panel at once
    dash.page.wait_for_timeout(1500)
    full = screenshots_dir / "dashboard-full.png"
    dash.page.screenshot(path=full)

    # Assert
    for path in (shot, full):
        assert path.stat().st_size > 50_000, f"{path} looks empty"
    print(f"\nscreenshots: {shot} and {full}")

"""The Analysis tab in a browser: a live competition's tear sheet follows the run, and a
replay's shows the bar on show and nothing later (checked against the recording)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from arena.recorder import Recording
from tests.browser.support import Dashboard, drag_scrubber, start_replay, wait_until
from tests.hostile import CORPUS, INJECTED_JS

#: an agent whose label is markup (as an LLM agent's label is its model's name)
HOSTILE = CORPUS["img"]
AGENTS = ["buy_and_hold", "sma_cross:fast=5,slow=20", "momentum:lookback=10",
          f"tests.browser.agents_fixture:HostileAgent:tag={json.dumps(HOSTILE)}"]
N_BARS = 600
SETTLE_S = 30

#: The tear sheet's cumulative-returns curves (HoloViews names their columns by the
#: dimensions: ``time`` and ``growth``), and the latest time any source of the page holds
#: (every time-indexed view of the sheet has a ``time`` column).
_SHEET_JS = """() => {
  // the sources of the glyphs drawn now (a replaced plot's models may stay in the
  // document's model set for a while; only what has a view is on the page)
  const out = {curves: [], latest: null, sources: 0}
  const drawn = new Set()
  for (const doc of Bokeh.documents)
    for (const m of doc.all_models)
      if (m.data_source && Bokeh.index.find_one(m)) drawn.add(m.data_source)
  for (const src of drawn) {
    const data = src.data
    const get = (k) => data instanceof Map ? data.get(k) : data[k]
    const time = get("time")
    if (time === undefined) continue
    out.sources += 1
    const t = Array.from(time).filter((x) => typeof x === "number")
    for (const x of t) if (out.latest === null || x > out.latest) out.latest = x
    if (get("growth") === undefined) continue
    const growth = Array.from(get("growth"))
    out.curves.push({n: t.length, first: t[0], last: t[t.length - 1],
                     value: growth[growth.length - 1]})
  }
  return out
}"""


def tab(dash: Dashboard, name: str):
    """The header of the page's tab ``name`` (a Bokeh Tabs header)."""
    return dash.page.locator(".bk-tab", has_text=name).first


def open_analysis(dash: Dashboard) -> None:
    tab(dash, "Analysis").click()


def sheet(dash: Dashboard) -> dict:
    return dash.page.evaluate(_SHEET_JS)


def ms(t) -> int:
    """A time as Bokeh holds it: milliseconds since the epoch."""
    return pd.Timestamp(t).value // 10**6


def note(dash: Dashboard) -> str:
    """The tab's "as of" line, as shown (the HTML pane's text is in its shadow root)."""
    box = dash.page.locator(".arena-analysis-note")
    if not box.count():
        return ""
    return box.first.evaluate("(el) => (el.shadowRoot || el).textContent")


def show_section(dash: Dashboard, label: str) -> None:
    dash.page.locator(".bk-btn", has_text=label).first.click()


@pytest.mark.slow
def test_the_tear_sheet_follows_a_live_competition(arena_server, dashboard):
    server = arena_server
    server.fresh(speed=20)
    dash = dashboard.open(scroll=False)
    server.command("start")
    assert wait_until(lambda: server.status()["bar"] > 40, SETTLE_S)
    open_analysis(dash)
    first = wait_until(lambda: sheet(dash)["curves"] or None, SETTLE_S)
    assert first, f"no tear sheet drawn: {note(dash)!r}"
    bar_before = int(note(dash).split("as of bar ")[1].split(" ")[0].replace(",", ""))
    # the run goes on: the tab rebuilds, as of a later bar, at most about once a second
    later = wait_until(lambda: "as of bar" in note(dash) and int(
        note(dash).split("as of bar ")[1].split(" ")[0].replace(",", "")) > bar_before + 20,
        SETTLE_S)
    assert later, (bar_before, note(dash))
    server.command("pause")
    st = server.status()
    # paused: the tab settles on the engine's bar and the curve ends at its close
    last_ms = ms(st["time"])
    assert wait_until(lambda: f"as of bar {st['bar']:,} " in note(dash), SETTLE_S), \
        (st["bar"], note(dash))
    assert wait_until(lambda: (sheet(dash)["latest"] or 0) == last_ms, SETTLE_S), \
        (sheet(dash), st)
    # the agent's and the benchmark's growth curves have one point per bar so far
    curves = sheet(dash)["curves"]
    assert len(curves) == 2 and all(c["n"] == st["bar"] and c["last"] == last_ms
                                    for c in curves), (curves, st)
    # back to the arena tab: the tab stops following (its session stays healthy)
    tab(dash, "Arena").click()
    assert wait_until(lambda: "bk-active" in (tab(dash, "Arena").get_attribute("class") or ""),
                      SETTLE_S)


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory):
    """A finished recording and `arena replay` on it."""
    server = start_replay(tmp_path_factory.mktemp("replay"), AGENTS, N_BARS)
    yield server
    server.stop()


@pytest.mark.slow
def test_a_replay_tear_sheet_shows_the_bar_on_show_and_nothing_later(page, replay_server):
    server = replay_server
    dash = Dashboard(page, server).open(scroll=False)
    t = 240
    server.command(f"step?bars={t}")
    assert server.status()["bar"] == t
    open_analysis(dash)
    rec = Recording(server.recording)
    times = rec.times()
    last_ms = ms(times[t - 1])
    assert wait_until(lambda: sheet(dash)["curves"], SETTLE_S), note(dash)
    shown = sheet(dash)
    # nothing after the bar on show, in any of the tab's curves
    assert shown["latest"] == last_ms, (shown, last_ms)
    assert f"as of bar {t:,} " in note(dash)
    # the first agent's growth curve is the recording's equity over the first t bars
    eq = rec.equity()
    first = eq[eq["agent"] == AGENTS[0]].sort_values("bar")["equity"].to_numpy()
    assert any(c["n"] == t and c["value"] == pytest.approx(first[t - 1] / first[0], rel=1e-12)
               for c in shown["curves"]), shown["curves"]
    # on, then back with the scrubber: the tab follows the replay to each bar shown
    server.command("step?bars=100")
    assert wait_until(lambda: f"as of bar {t + 100:,} " in note(dash), SETTLE_S), note(dash)
    assert wait_until(lambda: sheet(dash)["latest"] == ms(times[t + 99]), SETTLE_S)
    tab(dash, "Arena").click()
    drag_scrubber(page, 0.25)
    back = wait_until(lambda: server.status()["bar"] < t and server.status()["bar"], SETTLE_S)
    assert back, server.status()
    open_analysis(dash)
    assert wait_until(lambda: f"as of bar {back:,} " in note(dash), SETTLE_S), (back, note(dash))
    assert wait_until(lambda: sheet(dash)["latest"] == ms(times[back - 1]), SETTLE_S), \
        (back, sheet(dash))
    assert {c["n"] for c in sheet(dash)["curves"]} == {back}
    # the whole sheet of the agent whose label is markup: every view as of the bar, and
    # the label shown as text everywhere (titles, tables, the selector, the note)
    page.locator(".arena-analysis-agent select").select_option(label=HOSTILE)
    show_section(dash, "Whole sheet")
    assert wait_until(lambda: HOSTILE in note(dash), SETTLE_S), note(dash)
    assert wait_until(lambda: sheet(dash)["sources"] >= 8, SETTLE_S), sheet(dash)
    assert sheet(dash)["latest"] == ms(times[back - 1])
    assert page.evaluate(INJECTED_JS) == []
    assert page.evaluate("() => window.__pwned") is None

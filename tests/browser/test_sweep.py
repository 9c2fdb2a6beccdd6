"""The sweep page of `arena serve --sweep DIR` in Chromium: the heatmap and the ranking
are drawn with the results' numbers (read from the browser's Bokeh document), the
progress count moves when a sweep writes a new part file, and the heatmap and the
ranking download as PNG images."""

from __future__ import annotations

import io
import re
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from arena.data import load_bundled
from arena.engine import CompetitionConfig
from arena.sweep import plan_tasks, run_task, run_tasks
from arena.sweep.results import ResultsWriter, load_results, write_manifest
from arena.ui.sweep.page import N_BOOT, PNG_SIZE
from arena.ui.sweep.ranking import ranked
from arena.ui.sweep.table import grid_means
from tests.browser.support import Dashboard, start_arena_serve, wait_until

CONFIG = CompetitionConfig()
GRIDS = ["sma_cross:fast=10|20|40,slow=30|50|80", "buy_and_hold"]
FIRST = 12  # tasks in the folder when the page opens
SETTLE_S = 30

#: the columns of each data source drawn by a plot on show (a redrawn chart leaves its
#: old models in the document; only the new one has a view on the page)
_SOURCES_JS = """() => {
  const out = []
  for (const doc of Bokeh.documents) for (const m of doc._all_models.values()) {
    if (!Array.isArray(m.renderers)) continue
    const view = Bokeh.index.find_one(m)
    if (!view || !view.el || !view.el.isConnected) continue
    for (const r of [...m.renderers, ...(m.center || [])]) {  // (error bars: a Whisker)
      const source = r.data_source || r.source, data = source && source.data
      if (!data) continue
      const keys = data instanceof Map ? Array.from(data.keys()) : Object.keys(data)
      const get = (k) => data instanceof Map ? data.get(k) : data[k]
      out.push(Object.fromEntries(keys.map(k => [k, Array.from(get(k) || [])])))
    }
  }
  return out
}"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A results folder holding the first tasks of a sweep, and `arena serve` on it."""
    tmp = tmp_path_factory.mktemp("sweep")
    markets = {"GOOG": load_bundled(["GOOG"]).slice(0, 1000)}
    plan = plan_tasks(GRIDS, markets, CONFIG, window=400, step=300, seeds=(0,))
    out = tmp / "out"
    run_tasks(plan.tasks[:FIRST], markets, CONFIG, out=out)
    write_manifest(out, {"tasks": len(plan.tasks), "metric": "return_pct",
                         "agents": GRIDS, "markets": ["GOOG"]})
    server = start_arena_serve(tmp, "--sweep", str(out))
    server.wait_ready("/sweep")
    yield server, out, plan, markets
    server.stop()


def sources(page) -> list[dict]:
    return page.evaluate(_SOURCES_JS)


def heat_source(page):
    return next((s for s in sources(page) if "zvalues" in s), None)


def bars_source(page):
    return next((s for s in sources(page) if {"base", "lower", "upper"} <= set(s)), None)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def progress(dash: Dashboard) -> tuple[int, int] | None:
    m = re.search(r"([\d,]+)\s+of\s+([\d,]+)\s+tasks done", dash.text())
    return (int(m[1].replace(",", "")), int(m[2].replace(",", ""))) if m else None


@pytest.mark.slow
def test_the_sweep_page_draws_the_results_and_follows_new_parts(sweep, page):
    server, out, plan, markets = sweep
    dash = Dashboard(page, server)
    page.goto(server.url + "/sweep", timeout=90_000)

    # Progress: the folder's tasks of those planned
    assert wait_until(lambda: progress(dash), SETTLE_S) == (FIRST, len(plan.tasks)) == (12, 27)

    # The heatmap: return_pct (the manifest's metric) by fast and slow, each cell the
    # mean of the folder's rows with that pair
    heat = wait_until(lambda: heat_source(page), SETTLE_S)
    assert heat, "no heatmap drawn"
    results = load_results(out)
    want = grid_means(results, "return_pct", "fast", "slow", agent="sma_cross")
    drawn = pd.DataFrame({"fast": heat["fast"], "slow": heat["slow"], "v": heat["zvalues"]})
    want = want.assign(fast=want["fast"].map("{:g}".format), slow=want["slow"].map("{:g}".format))
    merged = drawn.merge(want, on=["fast", "slow"], how="outer", indicator=True)
    # the first 12 tasks: fast=10 with each slow and fast=20, slow=30, over 3 windows
    assert (merged["_merge"] == "both").all() and len(merged) == 6  # fast 10|20 x slow
    finite = merged["return_pct"].notna()
    assert finite.sum() == 4 and set(merged.loc[finite, "n"]) == {3}
    np.testing.assert_allclose(merged.loc[finite, "v"].astype(float),
                               merged.loc[finite, "return_pct"], rtol=1e-9)
    assert merged.loc[~finite, "v"].isna().all() or \
        all(v is None for v in merged.loc[~finite, "v"])

    # The ranking: each bar is significance.ranking's interval, best at the top
    bars = wait_until(lambda: bars_source(page), SETTLE_S)
    table = ranked(results, "return_pct", 20, n_boot=N_BOOT).set_index("agent")
    assert list(bars["base"])[::-1] == table.index.tolist()
    np.testing.assert_allclose(bars["lower"], table.loc[bars["base"], "lo"], rtol=1e-9)
    np.testing.assert_allclose(bars["upper"], table.loc[bars["base"], "hi"], rtol=1e-9)

    # A new part file appears: the count moves within a few looks (one a second)
    writer = ResultsWriter(out)
    for t in plan.tasks[FIRST:FIRST + 6]:
        writer.add(run_task(t, markets[t.market], CONFIG))
    writer.flush()
    assert wait_until(lambda: progress(dash) == (FIRST + 6, 27), SETTLE_S), progress(dash)
    # ... and the heatmap is redrawn with the new rows
    results = load_results(out)
    want = grid_means(results, "return_pct", "fast", "slow", agent="sma_cross")
    assert wait_until(lambda: sum(np.isfinite(np.asarray(
        (heat_source(page) or {}).get("zvalues", []), dtype=float)))
        == want["return_pct"].notna().sum(), SETTLE_S)


@pytest.mark.slow
@pytest.mark.parametrize("label", ["Heatmap PNG", "Ranking PNG"])
def test_the_heatmap_and_ranking_download_as_png(sweep, page, label):
    server = sweep[0]
    page.goto(server.url + "/sweep", timeout=90_000)
    assert wait_until(lambda: heat_source(page) and bars_source(page), SETTLE_S)

    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=label).click()
    data = Path(info.value.path()).read_bytes()

    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == PNG_SIZE
    # a chart, not a blank page: many colours (the heatmap's cells, the ranking's dots)
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 50


@pytest.mark.slow
def test_a_sessions_look_at_the_folder_stops_when_the_session_ends(sweep, page):
    import panel as pn

    from arena.ui.sweep.page import SweepView
    from tests.browser.support import free_port

    out = sweep[1]
    views: list[SweepView] = []

    def build():
        view = SweepView(out=str(out))
        views.append(view)
        view.serve_doc()

    port = free_port()
    # Bokeh's own settings: look for unused sessions every 0.5 s, end one 3 s after its
    # last connection closed (defaults: 17 s and 15 s)
    server = pn.serve({"sweep": build}, port=port, address="127.0.0.1", threaded=True,
                      show=False, websocket_origin=[f"127.0.0.1:{port}"],
                      check_unused_sessions_milliseconds=500,
                      unused_session_lifetime_milliseconds=3000)
    try:
        assert wait_until(lambda: listening(port), SETTLE_S), "the server never listened"
        page.goto(f"http://127.0.0.1:{port}/sweep", timeout=90_000)
        view = wait_until(lambda: next((v for v in views if v.running), None), SETTLE_S)
        assert view, "never started"
        page.goto("about:blank")  # the session's websocket closes
        assert wait_until(lambda: not view.running, SETTLE_S), "still looking"
    finally:
        server.stop()

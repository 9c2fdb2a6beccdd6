"""An agent's tear sheet exported from a real recorded run: standalone HTML that draws
offline in Chromium with every chart titled for the agent, PNG drawn by Chromium, the
leaderboard's leader by default, and clear errors for a wrong agent or format."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from arena import export
from arena.data import load
from arena.engine import Competition, CompetitionConfig
from arena.export import ExportError
from arena.recorder import Recording
from tests.arena.export_fixture import AGENTS, END, HOSTILE_NAME, START, SYMBOLS, record_run
from tests.arena.test_cli import arena, assert_clean_error
from tests.arena.ui.test_export_plots import EXTERNAL, browser, drawn_canvases, open_offline

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with the chart tests

pytestmark = pytest.mark.slow

TITLES = ("{a}: cumulative returns", "{a}: monthly returns (%)", "{a}: underwater",
          "{a}: bar returns, VaR and CVaR 95%", "{a}: rolling Sharpe",
          "{a}: rolling volatility", "{a}: PnL per trade", "correlation of bar returns")


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    comp = record_run(tmp_path_factory.mktemp("tearsheet") / "runs")
    rec = Recording(comp.run_path)
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def reordered(tmp_path_factory):
    """A run whose leader is not its first agent (so "the first" is not "the leader")."""
    comp = Competition(load(SYMBOLS, start=START, end=END), ["sma_cross", "buy_and_hold"],
                       CompetitionConfig(run_dir=tmp_path_factory.mktemp("order") / "runs"))
    comp.run()
    rec = Recording(comp.run_path)
    yield rec
    rec.close()


def leader_by_final_equity(rec: Recording) -> str:
    """The agent with the highest equity at the last recorded bar (independent of the
    leaderboard code)."""
    equity = rec.equity()
    last = equity[equity["bar"] == equity["bar"].max()]
    return str(last.loc[last["equity"].idxmax(), "agent"])


def test_html_defaults_to_the_leader_and_draws_offline(reordered, tmp_path, browser):
    # Arrange
    rec = reordered
    leader = leader_by_final_equity(rec)
    assert leader != rec.agents()["name"].iloc[0]
    # Act
    path = export.export(rec, "tearsheet", path=tmp_path / "sheet.html")
    html = path.read_text()
    page, requests, errors = open_offline(browser, path)
    canvases = drawn_canvases(page)
    # Assert: html by default, offline, every chart of the leader, drawn
    assert path.suffix == ".html"
    # tags only: the inline bodies of scripts are code (bokeh-tables.js, for the tables,
    # holds strings such as '<img src="..."' in its templates), not tags of this page
    tags = re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", html, flags=re.S | re.I)
    assert EXTERNAL.findall(tags) == [], "the page loads something from outside the file"
    for title in TITLES:
        assert title.format(a=leader) in html, title
    assert requests == [] and errors == []
    assert len([c for c in canvases if c["colours"] > 3]) >= 16, canvases  # 16 charts, 2 tables
    assert page.title() == f"Trading Arena · tear sheet of {leader} · run {rec.meta['run_id']}"
    # the two tables are drawn: every agent is a row of the statistics table
    cells = page.locator(".slick-cell").all_inner_texts()
    assert set(rec.agents()["name"]) <= set(cells), cells[:20]
    page.close()


def test_html_of_a_chosen_agent_keeps_its_name_as_text(rec, tmp_path):
    # Act
    path = export.export(rec, "tearsheet", "html", tmp_path / "h.html", agent=HOSTILE_NAME)
    html = path.read_text()
    # Assert
    assert f"{HOSTILE_NAME}: underwater" in html
    assert f"{AGENTS[1]}: underwater" not in html


def test_cli_png_of_a_chosen_agent(rec, tmp_path):
    # Act
    result = arena("export", rec.run_path, "--what", "tearsheet", "--agent", AGENTS[1],
                   "-o", "sheet.png", cwd=tmp_path)
    # Assert: a PNG of the layout's size (2 columns × 4 rows of 480 × 280 charts), drawn
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sheet.png"
    image = Image.open(io.BytesIO((tmp_path / "sheet.png").read_bytes()))
    assert image.format == "PNG"
    assert image.size[0] >= 2 * 480 and image.size[1] >= 4 * 280, image.size
    pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


@pytest.mark.parametrize(("request_", "names"), [
    (dict(fmt="html", agent="nobody"), ["'nobody'", "'sma_cross'", repr(HOSTILE_NAME)]),
    (dict(fmt="svg"), ["tearsheet", "'svg'", "html or png"]),
], ids=["unknown_agent", "svg"])
def test_bad_tear_sheet_requests_name_the_problem(rec, tmp_path, request_, names):
    with pytest.raises(ExportError) as err:
        export.export(rec, "tearsheet", path=tmp_path / "x.out", **request_)
    for name in names:
        assert name in str(err.value)
    assert not (tmp_path / "x.out").exists()


def test_agent_is_refused_for_other_items(rec, tmp_path):
    with pytest.raises(ExportError, match="only for the tear sheet, not for equity"):
        export.export(rec, "equity", "html", tmp_path / "e.html", agent="sma_cross")


def test_cli_unknown_agent_is_one_paragraph(rec, tmp_path):
    result = arena("export", rec.run_path, "--what", "tearsheet", "--agent", "ghost",
                   cwd=tmp_path)
    assert_clean_error(result, "'ghost'", "'buy_and_hold'")
    assert list(tmp_path.iterdir()) == []

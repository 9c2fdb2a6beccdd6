"""Charts and the report of a recorded run, drawn by a real headless Chromium: PNG of the
requested size that is not blank and has the dashboard's colours, SVG with the lines
in it, standalone HTML (and the report) that render offline in Chromium with agent
text shown as text and secrets masked."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest
from bokeh.models import Column
from PIL import Image
from playwright.sync_api import sync_playwright

from arena import export
from arena.data import load
from arena.engine import Competition, CompetitionConfig
from arena.metrics import STAT_KEYS
from arena.recorder import Recording
from arena.ui.analysis.tearsheet import SECTIONS
from arena.ui.equity import (
    BENCH_COLOUR,
    LEGEND_COLUMNS,
    LEGEND_ROW,
    EquityChart,
    legend_column_width,
)
from arena.ui.export import png_bytes
from arena.ui.feed import SessionFeed
from arena.ui.figures import agent_colours
from arena.ui.hub import Hub, default_spec
from arena.ui.report import AGENT_VIEWS, STAT_LABELS, report_html
from arena.ui.theme import PALETTE
from tests.arena.export_fixture import AGENTS, HOSTILE_NAME, SECRET, XSS, record_run
from tests.arena.test_cli import arena, assert_clean_error

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync"]
EXTERNAL = re.compile(r"""<(?:script|link|img|iframe)[^>]+(?:src|href)=["']?(?!data:)[^"'\s>]+""",
                      re.I)


def outside_refs(html: str) -> list[str]:
    """Tags of the page that load something from outside the file. The inline bodies of
    scripts are code, not tags of the page (bokeh-tables.js, for tables, holds strings
    such as '<img src="..."' in its templates)."""
    tags = re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", html, flags=re.S | re.I)
    return EXTERNAL.findall(tags)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    comp = record_run(tmp_path_factory.mktemp("plots") / "runs")
    rec = Recording(comp.run_path)
    yield rec
    rec.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright (its own downloads are not reachable here)."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


def open_offline(browser, path):
    """Open ``path`` with every non-file request blocked; returns (page, requests, errors)."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    requests, errors = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('*').length && "
                           "Bokeh.documents.every(d => d.is_idle)", timeout=30_000)
    return page, requests, errors


def drawn_canvases(page) -> list[dict]:
    """Size and count of non-background pixels of every canvas (in shadow roots too)."""
    return page.evaluate("""() => {
      const out = [];
      const walk = (root) => root.querySelectorAll('*').forEach(el => {
        if (el.shadowRoot) walk(el.shadowRoot);
        if (el.tagName === 'CANVAS' && el.width > 0 && el.height > 0) {
          const px = el.getContext('2d').getImageData(0, 0, el.width, el.height).data;
          const colours = new Set();
          for (let i = 0; i < px.length; i += 4 * 97) colours.add(px[i] << 16 | px[i+1] << 8 | px[i+2]);
          out.push({w: el.width, h: el.height, colours: colours.size});
        }
      });
      walk(document);
      return out;
    }""")


def near(image: np.ndarray, hex_colour: str, tol: int = 12) -> int:
    """Pixels within ``tol`` of ``hex_colour`` on every channel."""
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image[..., :3].astype(int) - rgb) <= tol).all(axis=-1).sum())


# -- PNG ---------------------------------------------------------------------------------------
def test_equity_png_has_the_requested_size_and_the_agents_lines(rec, tmp_path):
    # Act: through the command line, as a user would
    result = arena("export", rec.run_path, "--what", "equity", "--format", "png",
                   "--width", 640, "--height", 360, "-o", "eq.png", cwd=tmp_path)
    # Assert
    assert result.returncode == 0, result.stderr
    image = Image.open(tmp_path / "eq.png")
    assert image.format == "PNG" and image.size == (640, 360)
    pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 20, "blank image"
    assert np.median(pixels) < 60, "not the dark theme"
    for agent, colour in agent_colours([*AGENTS, HOSTILE_NAME]).items():
        assert near(pixels, colour) > 100, f"no line in {agent}'s colour {colour}"


def test_png_size_follows_width_and_height(rec, tmp_path):
    data = export.export_bytes(rec, "drawdown", "png", width=300, height=500)
    image = Image.open(io.BytesIO(data))
    assert image.size == (300, 500)
    assert np.asarray(image.convert("L")).std() > 10


def test_prices_png_shows_fills_of_the_chosen_symbol(rec):
    data = export.export_bytes(rec, "prices", "png", width=800, height=400, symbol="AAPL")
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert pixels.shape == (400, 800, 3)
    assert near(pixels, "#26a69a", tol=20) > 50, "no buy markers"
    assert near(pixels, "#ef5350", tol=20) > 50, "no sell markers"


# -- SVG ---------------------------------------------------------------------------------------
def test_equity_svg_parses_and_holds_one_path_per_line(rec, tmp_path):
    # Act
    path = export.export(rec, "equity", "svg", tmp_path / "eq.svg", width=700, height=350)
    # Assert
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    assert (root.get("width"), root.get("height")) == ("700", "350")
    paths = [el for el in root.iter() if el.tag.endswith("path")]
    strokes = {el.get("stroke", "").lower() for el in paths}
    for colour in PALETTE[:3]:
        rgb = "rgb({}, {}, {})".format(*(int(colour[i:i + 2], 16) for i in (1, 3, 5)))
        assert colour in strokes or rgb in strokes, f"no line stroked {colour} in the SVG"
    longest = max(len(el.get("d", "")) for el in paths)
    assert longest > 2000, "the equity lines are missing (no long path)"


# -- HTML --------------------------------------------------------------------------------------
def test_equity_html_renders_offline_in_chromium(rec, tmp_path, browser):
    # Arrange
    path = export.export(rec, "equity", "html", tmp_path / "eq.html", width=900, height=450)
    html = path.read_text()
    # Act
    page, requests, errors = open_offline(browser, path)
    canvases = drawn_canvases(page)
    # Assert
    assert outside_refs(html) == [], "the page loads something from outside the file"
    assert requests == [] and errors == []
    assert canvases and max(c["colours"] for c in canvases) > 5, canvases
    assert page.title().startswith("Trading Arena · equity")
    page.close()


def test_report_renders_offline_with_everything_and_escaped_text(rec, tmp_path, browser):
    # Arrange
    result = arena("export", rec.run_path, "--what", "report", "-o", "report.html",
                   cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "report.html"
    html = path.read_text()
    # Act
    page, requests, errors = open_offline(browser, path)
    body = page.inner_text("body")
    canvases = drawn_canvases(page)
    # Assert: offline, the equity and drawdown charts and every agent's tear sheet drawn
    assert outside_refs(html) == [] and requests == [] and errors == []
    sheets = page.locator("h3.tearsheet")
    names = rec.agents()["name"].tolist()
    assert [sheets.nth(i).inner_text() for i in range(sheets.count())] == [
        *names, "Across agents"]  # each agent's in the run's order (names as text), then one
    per_agent = sum(len(SECTIONS[s]) for s in AGENT_VIEWS) - 1  # (one of them is a table)
    drawn = [c for c in canvases if c["colours"] > 5]
    assert len(drawn) >= 2 + per_agent * len(names) + 2, len(drawn)
    # the hostile reasoning is on the page as text and never ran
    assert XSS in body
    assert page.evaluate("() => window.__pwned") is None
    assert "<script>window.__pwned" not in html
    # every statistic for every agent, every trade and decision
    board_rows = page.locator("table.leaderboard tr")
    assert board_rows.count() == 1 + len(STAT_KEYS) + 1
    header = page.locator("table.leaderboard tr").first.inner_text()
    for agent in (*AGENTS, HOSTILE_NAME):
        assert agent in header
    for key in STAT_KEYS:
        assert STAT_LABELS[key] in body
    assert page.locator("table.trades tr").count() == 1 + len(rec.trades())
    assert page.locator("table.decisions tr").count() == 1 + len(rec.decisions())
    # the data source and config; the secret-looking parameter masked
    assert "bundled:AAPL,MSFT" in body and "portfolio.fee_bps" in body
    assert SECRET not in html and "hidden" in body
    page.close()


def test_report_of_a_run_with_entries_only(tmp_path):
    # Arrange: buy and hold never exits: every pnl is missing, no statistic of closed trades
    comp = Competition(load("AAPL", start="2010-01-04", end="2010-01-15"), ["buy_and_hold"],
                       CompetitionConfig(run_dir=str(tmp_path)))
    comp.run()
    # Act
    with Recording(comp.run_path) as rec:
        html = report_html(rec)
    # Assert
    assert "Trades (1)" in html and "Decisions (1)" in html
    assert html.count("<tr>") > len(STAT_KEYS)


def test_unknown_symbol_is_a_clean_cli_error(rec, tmp_path):
    result = arena("export", rec.run_path, "--what", "prices", "--format", "png", "--symbol",
                   "GOOG", cwd=tmp_path)
    assert_clean_error(result, "'GOOG'", "AAPL, MSFT")


def test_dashboard_equity_legend_draws_every_entry_with_its_colour_swatch():
    # Arrange: the live equity chart of the default dashboard (9 agents + the benchmark)
    spec = default_spec()
    hub = Hub(replace(spec, config=replace(spec.config, record=False)))
    chart = EquityChart(feed=SessionFeed(hub=hub))
    legend = chart._legend_pane.object  # one button per entry, in a CSS grid
    labels = legend.labels

    # Act: drawn by Chromium at the legend's own size, on the page's dark background
    page = Column(children=[legend], styles={"background-color": "#181818"})
    pixels = np.asarray(Image.open(io.BytesIO(
        png_bytes(page, legend.width, legend.height))).convert("RGB"))

    # Assert: each entry's swatch (left of its label, in its own cell: the entries fill
    # the columns top to bottom) shows in its line's colour, the benchmark's too, and
    # every entry fits the legend
    agents = list(chart._columns)
    assert labels == [*agents, "buy & hold (benchmark)"]
    rows = -(-len(labels) // LEGEND_COLUMNS)
    column = legend_column_width(labels)
    assert legend.width == 12 + LEGEND_COLUMNS * column
    assert legend.height == 12 + LEGEND_ROW * rows
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(agents))] + [BENCH_COLOUR]
    for i, (label, colour) in enumerate(zip(labels, colours, strict=True)):
        c, r = divmod(i, rows)
        x, y = 6 + c * column, 6 + r * LEGEND_ROW
        swatch = pixels[y:y + LEGEND_ROW, x:x + 24]
        assert near(swatch, colour, tol=40) >= 5, f"no swatch for {label}"
    # ... and no label runs off the legend's right edge (the text is light grey)
    assert not (pixels[:, -3:] > 150).all(axis=-1).any(), "a label runs off the legend"

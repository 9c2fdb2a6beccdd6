"""Charts of a recorded run as PNG, SVG or standalone HTML, the HTML report, and an
agent's tear sheet (``arena.ui.analysis.tearsheet``) as HTML or PNG.

``arena.export`` calls :func:`render` only when a chart or the report is asked
for. PNG and SVG are drawn by a real headless browser: Bokeh's export with
Debian's Chromium and chromedriver through Selenium (``ARENA_CHROMIUM`` and
``ARENA_CHROMEDRIVER`` override their paths). HTML carries Bokeh's JavaScript
inline, so the file opens without a network.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from bokeh.embed import file_html
from bokeh.io.export import get_screenshot_as_png, get_svg
from bokeh.io.state import State
from bokeh.resources import Resources

from arena.export import ExportError
from arena.recorder import Recording
from arena.ui.figures import dark_theme, drawdown_figure, equity_figure, price_figure

CHROMIUM = os.environ.get("ARENA_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ARENA_CHROMEDRIVER", "/usr/bin/chromedriver")
BACKGROUND = "#181818"  # the dashboard's page (Panel's Fast dark style)
PAGE = """{% block preamble %}<style>
html, body { background: BG; margin: 0; padding: 8px; color: #e6edf3; }
</style>{% endblock %}""".replace("BG", BACKGROUND)
RENDER_TIMEOUT = 30  # seconds for Chromium to load and draw one chart


class _Offline(Resources):
    """Bokeh's own JavaScript and CSS inline, nothing else. Bokeh adds the files that
    every registered model class asks for (``__javascript__``) to every page; Panel's
    models ask for scripts on a CDN or Panel's server (MathJax, es-module-shims) that
    a file cannot reach. The charts use core Bokeh models only. (Overrides a private
    Bokeh method; tests/arena/ui/test_export_plots.py checks the pages stay offline.)"""

    def _collect_external_resources(self, resource_attr) -> list[str]:
        return []

    def clone(self, *, components=None) -> _Offline:
        return _Offline(mode=self.mode, minified=self.minified,
                        components=list(self.components if components is None else components))


OFFLINE = _Offline(mode="inline")


def benchmark(rec: Recording, cash: float) -> pd.DataFrame:
    """Equal-weight buy and hold of the run's symbols from the first bar's close, in
    money (the dashboard's dashed line): cash × mean over symbols of close / first close."""
    bars = rec.bars()
    if bars.empty:
        return pd.DataFrame({"time": pd.Series(dtype="datetime64[ns, UTC]"),
                             "equity": pd.Series(dtype=float)})
    close = bars.pivot(index="time", columns="symbol", values="close").sort_index()
    growth = close / close.bfill().iloc[0]
    return pd.DataFrame({"time": close.index, "equity": cash * growth.mean(axis=1).to_numpy()})


def chart(rec: Recording, what: str, *, width: int, height: int, svg: bool = False,
          symbol: str | None = None):
    """The Bokeh figure of ``what`` (equity, drawdown or prices) for a recording."""
    agents = rec.agents()["name"].tolist()
    run_id = rec.meta.get("run_id", rec.run_path.name)
    if what == "equity":
        cash = float(rec.meta.get("config", {}).get("portfolio", {}).get("cash", 100_000))
        return equity_figure(rec.equity(), benchmark(rec, cash), agents, width=width,
                             height=height, svg=svg, title=f"Equity · run {run_id}")
    if what == "drawdown":
        return drawdown_figure(rec.equity(), agents, width=width, height=height, svg=svg,
                               title=f"Drawdown % · run {run_id}")
    if what == "prices":
        bars = rec.bars()
        symbols = list(dict.fromkeys(bars["symbol"]))
        symbol = symbol or (symbols[0] if symbols else None)
        if symbol not in symbols:
            raise ExportError(f"symbol {symbol!r} is not in run {run_id}; it has "
                              f"{', '.join(symbols) or 'no bars yet'}")
        return price_figure(bars, rec.trades(), symbol, agents, width=width, height=height,
                            svg=svg, title=f"{symbol} close · run {run_id}")
    raise ExportError(f"{what} has no chart")


@contextmanager
def chromium() -> Iterator:
    """A headless Chromium driven by chromedriver (quit afterwards)."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for name, path in (("Chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)):
        if not Path(path).is_file():
            raise ExportError(
                f"PNG and SVG export draws the chart in a headless browser and needs {name} "
                f"at {path} (install Debian's chromium and chromium-driver, or set "
                f"ARENA_CHROMIUM / ARENA_CHROMEDRIVER); CSV, Parquet and HTML need no browser")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--force-device-scale-factor=1", "--force-color-profile=srgb",
                "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-sync"):
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        raise ExportError(f"could not start Chromium ({CHROMIUM}) through {CHROMEDRIVER}: "
                          f"{exc.msg or exc}") from None
    try:
        yield driver
    finally:
        driver.quit()


def _themed() -> State:
    state = State()
    state.document.theme = dark_theme()
    return state


def png_bytes(obj, width: int, height: int) -> bytes:
    """``obj`` drawn by Chromium, as a ``width`` × ``height`` PNG."""
    with chromium() as driver:
        image = get_screenshot_as_png(obj, driver=driver, width=width, height=height,
                                      resources=OFFLINE,
                                      timeout=RENDER_TIMEOUT, state=_themed())
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def svg_bytes(obj, width: int, height: int) -> bytes:
    """``obj`` (built with ``output_backend="svg"``) drawn by Chromium, as SVG."""
    with chromium() as driver:
        svgs = get_svg(obj, driver=driver, width=width, height=height, resources=OFFLINE,
                       timeout=RENDER_TIMEOUT, state=_themed())
    if not svgs:
        raise ExportError("Chromium drew no SVG for the chart")
    return svgs[0].encode("utf-8")


def html_bytes(obj, title: str) -> bytes:
    """``obj`` as a standalone HTML page (Bokeh's JavaScript inline, dark theme)."""
    return file_html(obj, resources=OFFLINE, title=title, template=PAGE,
                     theme=dark_theme()).encode("utf-8")


def tear_sheet_model(run, agent: str | None, views=None, dark: bool = False):
    """The Bokeh model of ``agent``'s tear sheet in ``run`` (a Recording, Competition or
    Replay; HoloViews rendered, no toolbar); ``views`` as ``tear_sheet`` takes them;
    ``dark``: its tables styled for a dark page."""
    import holoviews as hv

    from arena.ui.analysis.base import on_dark
    from arena.ui.analysis.tearsheet import tear_sheet

    try:
        layout = tear_sheet(run, agent, views=views)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    layout = on_dark(layout) if dark else layout
    return hv.render(layout.opts(toolbar=None), backend="bokeh")


def tear_sheet_html(model, title: str) -> bytes:
    """A tear sheet's model as a standalone HTML page (light, as in a notebook)."""
    return file_html(model, resources=OFFLINE, title=title).encode("utf-8")


def _tear_sheet(rec: Recording, fmt: str, agent: str) -> bytes:
    """``agent``'s tear sheet as a standalone HTML page (light, as in a notebook) or PNG
    of its natural size."""
    model = tear_sheet_model(rec, agent)
    if fmt == "png":
        with chromium() as driver:
            image = get_screenshot_as_png(model, driver=driver, resources=OFFLINE,
                                          timeout=RENDER_TIMEOUT)
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    run_id = rec.meta.get("run_id", rec.run_path.name)
    return tear_sheet_html(model, f"Trading Arena · tear sheet of {agent} · run {run_id}")


def render(rec: Recording, what: str, fmt: str, *, width: int, height: int,
           symbol: str | None = None, agent: str | None = None) -> bytes:
    """The file content of ``what`` as ``fmt`` (png, svg or html; the report is html;
    the tear sheet, of ``agent``, html or png)."""
    if what == "report":
        from arena.ui.report import report_html

        return report_html(rec).encode("utf-8")
    if what == "tearsheet":
        return _tear_sheet(rec, fmt, agent)
    fig = chart(rec, what, width=width, height=height, svg=fmt == "svg", symbol=symbol)
    if fmt in ("png", "svg"):
        fig.toolbar_location = None  # a picture has no use for the tools
    if fmt == "png":
        return png_bytes(fig, width, height)
    if fmt == "svg":
        return svg_bytes(fig, width, height)
    run_id = rec.meta.get("run_id", rec.run_path.name)
    return html_bytes(fig, f"Trading Arena · {what} · run {run_id}")

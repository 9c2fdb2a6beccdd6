"""What the browser tests share: a served dashboard in a subprocess (:class:`Server`,
with its HTTP API and memory use) and a page object that reads the dashboard's
state from the browser's Bokeh document (:class:`Dashboard`). The fixtures that
use them are in conftest.py."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError

from tests.serverlogs import watch

ROOT = Path(__file__).resolve().parents[2]
ARENA = Path(sys.executable).with_name("arena")  # the console script of this environment
DEFAULT_SPEED = 20.0  # bars per second of the default config (arena.ui.hub.default_spec)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; that value, or the last
    falsy one after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < end:
        time.sleep(interval)
        value = predicate()
    return value


def server_env(run_dir: Path, extra_env: dict | None = None) -> dict:
    """The environment of a served process: the developer's ARENA_*/PANEL_* settings
    removed (the tests name what they need), the repository importable (agents by
    dotted path, e.g. ``tests.browser.agents_fixture:XssAgent``)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ARENA_", "PANEL_", "BOKEH_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["ARENA_RUN_DIR"] = str(run_dir)
    env.update(extra_env or {})
    return env


class Server:
    """A served dashboard in a subprocess on 127.0.0.1."""

    def __init__(self, args: list[str], env: dict, port: int, log: Path):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.args, self.env = args, env
        self.run_dir = Path(env["ARENA_RUN_DIR"])
        self.ready_seconds: float | None = None
        self.auth: tuple[str, str] | None = None  # HTTP Basic credentials for api()
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.watched = watch(log, f"server {' '.join(map(str, args[1:3]))} on port {port}")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self, path: str = "/app", timeout: float = 120) -> float:
        """Seconds until ``path`` answers 200. A request that reached the server waits
        for its answer (building a page takes seconds on a loaded machine; giving up
        and asking again would only pile up sessions for the server to build)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            left = max(1.0, timeout - (time.monotonic() - start))
            try:
                with urllib.request.urlopen(self.url + path, timeout=left) as r:
                    if r.status == 200:
                        self.ready_seconds = time.monotonic() - start
                        return self.ready_seconds
            except OSError:
                time.sleep(0.2)
        self.stop()  # a fixture that fails here never reaches its teardown
        raise TimeoutError(f"server not ready after {timeout}s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Stop the server; fails if it logged an error (while stopping too)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not self._log.closed:
            self._log.close()
            self.watched.close()

    # -- the HTTP API (arena serve only) ----------------------------------------------
    def api(self, method: str, route: str, auth: tuple[str, str] | None = None) -> tuple[int, dict]:
        """``(status code, JSON answer)`` of ``METHOD /api/<route>``."""
        req = urllib.request.Request(f"{self.url}/api/{route}", method=method,
                                     data=b"" if method == "POST" else None)
        auth = auth or self.auth
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def status(self) -> dict:
        code, body = self.api("GET", "status")
        assert code == 200, body
        return body

    def command(self, action: str) -> dict:
        """POST a run command; the new status (fails the test on an error answer)."""
        code, body = self.api("POST", action)
        assert code == 200, f"POST /api/{action}: {code} {body}"
        return body["status"]

    def warm_up(self) -> float:
        """Run one bar and reset; returns the seconds the first bar took. The first run
        of a process loads the compiled accounting kernel and computes every agent's
        signals (about 0.6 s on a quiet machine): tests of the dashboard's latency
        measure the dashboard, not that."""
        t0 = time.monotonic()
        self.command("step?bars=1")
        took = time.monotonic() - t0
        self.command("reset")
        return took

    def fresh(self, speed: float = DEFAULT_SPEED) -> dict:
        """A clean slate: whatever ran before stopped and reset to bar 0 (new run id),
        at ``speed`` bars per second."""
        if self.status()["state"] != "idle":
            self.command("reset")
        self.command(f"speed?value={speed:g}")
        st = self.status()
        assert st["state"] == "idle" and st["bar"] == 0 and st["speed"] == speed, st
        return st

    # -- the process ----------------------------------------------------------------
    def rss_kb(self) -> int:
        """Resident memory of the server process (VmRSS), in kB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_share(self, seconds: float = 3.0) -> float:
        """Share of one core the server uses over the next ``seconds``."""
        before, t0 = self.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        return (self.cpu_seconds() - before) / (time.monotonic() - t0)


def start_panel_serve(tmp_path: Path, extra_env: dict | None = None) -> Server:
    port = free_port()
    env = server_env(tmp_path / "runs", extra_env)
    args = [sys.executable, "-m", "panel", "serve", "app.py", "--port", str(port),
            "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    return Server(args, env, port, tmp_path / "server.log")


def start_arena_serve(tmp_path: Path, *flags: str, port: int | None = None,
                      extra_env: dict | None = None, log_name: str = "arena.log") -> Server:
    """The README's run command (``make run`` = ``arena serve --port P``) in a subprocess."""
    port = port or free_port()
    env = server_env(tmp_path / "runs", extra_env)
    args = [str(ARENA), "serve", "--port", str(port), "--no-show", *flags]
    return Server(args, env, port, tmp_path / log_name)


# -- reading the dashboard from the browser ---------------------------------------------
# The page is Panel/Bokeh: the state of each chart and table is a ColumnDataSource in
# the browser's Bokeh document. A chart that was rebuilt (new run) leaves its old
# models in the document, so "the" equity source is the one drawn by a plot that has
# a live view on the page.
_LEGEND_JS = """() => {
  const hosts = [], walk = root => { for (const el of root.querySelectorAll('*')) {
    if (el.classList.contains('arena-legend')) hosts.push(el)
    if (el.shadowRoot) walk(el.shadowRoot) } }
  walk(document)
  return hosts.flatMap(h => Array.from(h.shadowRoot.querySelectorAll('.bk-btn')))
    .map(b => ({label: b.textContent, on: b.classList.contains('bk-active'),
                swatch: getComputedStyle(b, '::before').borderTopColor}))
}"""
_LINES_JS = """() => Object.fromEntries(Array.from(Bokeh.documents[0]._all_models.values())
  .filter(m => m.glyph && m.name).map(m => [m.name, m.visible]))"""
_SPOT_JS = """([column, back]) => {
  const fig = Array.from(Bokeh.documents[0]._all_models.values())
    .find(m => Array.isArray(m.renderers) && m.title && /Equity|Return/.test(m.title.text))
  const view = Bokeh.index.find_one(fig), r = fig.renderers.find(r => r.name === column)
  const ds = r.data_source, i = ds.get_length() - 1 - back
  const box = view.canvas_view.events_el.getBoundingClientRect()
  return {x: box.left + view.frame.x_scale.compute(ds.data.time[i]),
          y: box.top + view.frame.y_scale.compute(ds.data[column][i]), value: ds.data[column][i]}
}"""
_TOOLTIP_JS = """() => {
  const out = [], walk = root => { for (const el of root.querySelectorAll('*')) {
    if (el.classList.contains('bk-tooltip-content')) out.push(el.innerText)
    if (el.shadowRoot) walk(el.shadowRoot) } }
  walk(document)
  return out.join('\\n')
}"""
_TO_TOP_JS = """() => {
  window.scrollTo(0, 0)
  for (const el of document.querySelectorAll("*")) if (el.scrollTop) el.scrollTop = 0
}"""
_EQUITY_JS = """() => {
  const doc = window.Bokeh && Bokeh.documents && Bokeh.documents[0];
  if (!doc) return null;
  for (const m of doc._all_models.values()) {
    if (!Array.isArray(m.renderers) || !m.title) continue;
    const view = Bokeh.index.find_one(m);
    if (!view || !view.el.isConnected) continue;
    for (const r of m.renderers) {
      const ds = r.data_source;
      if (!ds || !ds.data || !('a0' in ds.data) || !('d0' in ds.data)) continue;
      const n = ds.get_length() || 0, t = ds.data.time;
      return {n, first: n ? t[0] : null, last: n ? t[n - 1] : null,
              columns: Object.keys(ds.data).filter(c => /^a[0-9]+$/.test(c)).length,
              a0: n ? ds.data.a0[n - 1] : null,
              bench: n && ds.data.bench ? ds.data.bench[n - 1] : null};
    }
  }
  return null;
}"""

_TABLE_JS = """(column) => {
  const doc = window.Bokeh && Bokeh.documents && Bokeh.documents[0];
  if (!doc) return null;
  for (const m of doc._all_models.values()) {
    if (m.type !== 'ColumnDataSource' || !(column in m.data)) continue;
    const out = {};
    for (const [k, v] of Object.entries(m.data)) out[k] = Array.from(v);
    return out;
  }
  return null;
}"""

_KEYED_JS = """(cls) => {
  // a KeyedView (leaderboard, positions): its host carries the class; the table is
  // in its shadow root
  const find = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (!el.shadowRoot) continue;
      const box = el.classList.contains(cls) && el.shadowRoot.querySelector('.log');
      if (box) return box;
      const inner = find(el.shadowRoot);
      if (inner) return inner;
    }
    return null;
  };
  const box = find(document);
  if (!box) return null;
  const head = Array.from(box.querySelectorAll('.head span'), s => s.textContent);
  return Array.from(box.querySelectorAll('.body .row'), r => Object.fromEntries(
    Array.from(r.children, (s, i) => [head[i], s.textContent])));
}"""

_CARDS_JS = """() => {
  // the market cards and summary bar (StatStrips): each card's label, value and line
  // under it, as shown
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
    }
    for (const p of root.querySelectorAll('.s > p'))
      out.push(Array.from(p.children).slice(0, 3).map(c => c.textContent));
  };
  walk(document);
  return out;
}"""

_PLOTS_JS = """() => {
  const doc = Bokeh.documents[0], out = [];
  for (const m of doc._all_models.values()) {
    if (!Array.isArray(m.renderers) || !m.title) continue;
    const view = Bokeh.index.find_one(m);
    if (!view || !view.el.isConnected) continue;
    const box = view.el.getBoundingClientRect();
    out.push({title: m.title.text, width: box.width, height: box.height});
  }
  return out;
}"""

_DEEP_TEXT_JS = """() => {
  const parts = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
    }
    parts.push(root === document ? document.body.innerText : Array.from(root.childNodes)
      .map(n => n.textContent || '').join(' '));
  };
  walk(document);
  return parts.join('\\n');
}"""


def start_replay(tmp: Path, agents: list[str], bars: int, config=None) -> Server:
    """A finished recording of ``agents`` on ``bars`` synthetic bars of two symbols (seed
    4) and `arena replay` on it, the README's command, ready; ``server.recording`` is the
    run's folder."""
    from arena.data import synthetic
    from arena.engine import Competition, CompetitionConfig

    run_dir = tmp / "runs"
    config = config or CompetitionConfig(seed=4)
    comp = Competition(synthetic(("AAA", "BBB"), bars=bars, seed=4), agents,
                       replace(config, run_dir=str(run_dir)))
    comp.run()
    port = free_port()
    server = Server([str(ARENA), "replay", comp.run_id, "--run-dir", str(run_dir),
                     "--port", str(port), "--no-show"], server_env(run_dir), port,
                    tmp / "replay.log")
    server.wait_ready()
    server.recording = comp.run_path
    return server


def drag_scrubber(page, fraction: float) -> None:
    """Press the scrubber's handle and drag it to ``fraction`` of the track."""
    track = page.locator(".arena-scrubber .noUi-base").first
    handle = page.locator(".arena-scrubber .noUi-handle").first
    box, knob = track.bounding_box(), handle.bounding_box()
    page.mouse.move(knob["x"] + knob["width"] / 2, knob["y"] + knob["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + fraction * box["width"], knob["y"] + knob["height"] / 2, steps=8)
    page.mouse.up()


class Dashboard:
    """The dashboard in one browser page, read through its Bokeh document."""

    def __init__(self, page, server: Server):
        self.page, self.server = page, server

    def open(self, timeout: float = 90, scroll: bool = True) -> Dashboard:
        """Load /app and wait until this session's feed has started (the equity chart
        has been built with one column per agent); ``scroll``: then scroll down through
        the page, so that the rows that load when seen are there, and back to the top."""
        self.page.goto(self.server.url + "/app", timeout=timeout * 1000)
        self.wait_ready(timeout)
        if scroll:
            self.scroll_through(timeout)
        return self

    def legend(self) -> list[dict]:
        """The equity legend's entries: ``label``, ``on`` (pressed: its lines shown) and
        ``swatch`` (the colour of the line drawn before the label, ``rgb(...)``)."""
        return self.page.evaluate(_LEGEND_JS)

    def lines_visible(self) -> dict[str, bool]:
        """Each equity and drawdown line's ``visible`` (``a0``, ``d0``... ``bench``)."""
        return {k: v for k, v in self.page.evaluate(_LINES_JS).items()
                if k == "bench" or (k[:1] in "ad" and k[1:].isdigit())}

    def hover_equity(self, column: str, back: int = 3) -> tuple[float, str]:
        """Move the mouse onto the equity chart's ``column`` line, ``back`` points before
        its last; the point's equity and the tooltip's text, as the page shows it."""
        spot = self.page.evaluate(_SPOT_JS, [column, back])
        self.page.mouse.move(spot["x"], spot["y"])
        text = ""
        end = time.monotonic() + 5
        while time.monotonic() < end and "equity" not in text:
            self.page.wait_for_timeout(100)
            text = self.page.evaluate(_TOOLTIP_JS)
        return spot["value"], text

    def placeholders(self) -> int:
        """Parts of the page still waiting to be scrolled to (arena.ui.deferred)."""
        return self.page.locator(".arena-placeholder").count()

    def scroll_through(self, timeout: float = 30) -> None:
        """Scroll each part that loads when seen into view, as a reader scrolling down
        does, until every one is there; then back to the top of the page."""
        end = time.monotonic() + timeout
        while (left := self.placeholders()) and time.monotonic() < end:
            try:  # (it may load, and go, meanwhile: one near the viewport does)
                self.page.locator(".arena-placeholder").first.scroll_into_view_if_needed(
                    timeout=2000)
            except PlaywrightError:  # (gone meanwhile, or not yet still)
                continue
            wait_until(lambda: self.placeholders() < left, max(0.1, end - time.monotonic()))
        assert not self.placeholders(), f"{self.placeholders()} parts never loaded"
        self.page.evaluate(_TO_TOP_JS)

    def wait_ready(self, timeout: float = 90) -> None:
        self.page.wait_for_function(f"() => ({_EQUITY_JS})() !== null", timeout=timeout * 1000)

    def equity(self) -> dict | None:
        """The visible equity source: ``n`` points, ``first``/``last`` time (ms since
        the epoch), ``columns`` (agents), ``a0`` (the first agent's last equity),
        ``bench`` (the buy-and-hold line's last equity)."""
        return self.page.evaluate(_EQUITY_JS)

    def table(self, column: str) -> dict | None:
        """Columns of the ColumnDataSource that has ``column``."""
        return self.page.evaluate(_TABLE_JS, column)

    def keyed(self, css_class: str) -> list[dict[str, str]]:
        """The rows a KeyedView or LogView shows, top to bottom, as ``{column title:
        text}`` (``arena-leaderboard``, ``arena-positions``, ``arena-trades``...)."""
        return self.page.evaluate(_KEYED_JS, css_class) or []

    def cards(self) -> list[list[str]]:
        """The market cards' and summary bar's cards as ``[label, value, under]`` text."""
        return self.page.evaluate(_CARDS_JS)

    def leaderboard(self) -> dict[str, str]:
        """Each agent's equity as the leaderboard shows it (whole dollars, e.g. '100,234')."""
        return {row["Agent"]: row["Equity"] for row in self.keyed("arena-leaderboard")}

    def plots(self) -> list[dict]:
        return self.page.evaluate(_PLOTS_JS)

    def text(self) -> str:
        """All text on the page, inside shadow roots too."""
        return self.page.evaluate(_DEEP_TEXT_JS)

    def button(self, label: str):
        return self.page.get_by_role("button", name=label, exact=True)

    def connection(self):
        return self.page.locator(".conn")

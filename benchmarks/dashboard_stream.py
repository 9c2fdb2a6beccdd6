"""Dashboard streaming: what a browser receives per update, on page load, and how
long a bar takes from the engine to the browser, early in a run and at 100,000 bars.

    .venv/bin/python benchmarks/dashboard_stream.py

8 agents x 4 symbols on the bundled history tiled to 100,000+ bars (a Parquet
file in a temporary directory), served by ``arena serve``; Chromium (Playwright)
records every websocket frame the page receives.

Phase A at bar 100, phase B at bar 100,000, each with a fresh page:

* page load: bytes of every frame from the websocket's opening until the session's
  feed has started (its equity chart is built), the trades, decisions and events
  tables have their first rows (they come in messages of their own, seconds
  later) and no data has arrived for 2 s;
* updates: 10 s at 10 bars/s; an update is what one pull of the session sends: a
  Bokeh PATCH-DOC message (header, metadata, content and binary buffer frames)
  that carries chart or table data (ColumnsStreamed / ColumnsPatched /
  ColumnDataChanged) or the feeds' new rows and the keyed tables' changes (custom
  messages, MessageSent: in the same PATCH-DOC, or in one of their own a few ms
  later, counted with it); messages that carry only the heartbeat and status line
  are counted apart;
* latency: paused, then ``POST /api/step`` 30+ times; from just before the POST
  to the first frame that streams data into the page (Python's monotonic clock;
  the POST runs in a thread while Playwright waits, so frame callbacks are timely).

Aims (issue 4): bytes per update about the same in B as in A and under 5 KB;
page load under 1 MB; p95 latency under 250 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from arena.data import load_bundled

ROOT = Path(__file__).resolve().parents[1]
ARENA = Path(sys.executable).with_name("arena")
CHROMIUM = os.environ.get("ARENA_CHROMIUM", "/usr/bin/chromium")
SYMBOLS = ("AAPL", "MSFT", "IBM", "GOOG")
AGENTS = ("buy_and_hold", "sma_cross", "sma_cross:fast=20,slow=50", "momentum",
          "mean_reversion", "rsi", "macd", "random")
# Bokeh's data events, and the custom messages that carry the feeds' new rows
DATA_KEYS = ("ColumnsStreamed", "ColumnsPatched", "ColumnDataChanged", "MessageSent")
UPDATE_GAP_S = 0.05  # data messages closer than this belong to one pull (one update)
FIELDS = ("open", "high", "low", "close", "volume")
QUIET_S = 2.0  # page load ends when no data has arrived for this long

_READY_JS = """() => {
  const doc = window.Bokeh && Bokeh.documents && Bokeh.documents[0];
  if (!doc) return false;
  for (const m of doc._all_models.values()) {
    if (!Array.isArray(m.renderers) || !m.title) continue;
    const view = Bokeh.index.find_one(m);
    if (!view || !view.el.isConnected) continue;
    for (const r of m.renderers) if (r.data_source && 'a0' in r.data_source.data) return true;
  }
  return false;
}"""

_TABLES_JS = """() => {
  // the trade, decision and event feeds (LogViews, in shadow roots) each show a row
  const want = ['arena-trades', 'arena-decisions', 'arena-events'], filled = new Set();
  const walk = (root, feed) => {
    for (const el of root.querySelectorAll('*')) {
      const mine = want.find(c => el.classList.contains(c)) || feed;
      if (mine && el.classList.contains('row')) filled.add(mine);
      if (el.shadowRoot) walk(el.shadowRoot, mine);
    }
  };
  walk(document, null);
  return filled.size === want.length;
}"""


# -- data -------------------------------------------------------------------------------
def tiled_frame(n_bars: int) -> pd.DataFrame:
    """The four bundled symbols' common history repeated end to end to >= ``n_bars``
    bars (each copy rescaled to join the previous one without a gap), in the wide
    layout ``time, open_AAPL, ..., volume_GOOG``; hourly bars on business days."""
    data = load_bundled(list(SYMBOLS))
    copies = -(-n_bars // len(data))
    cols = {}
    for j, sym in enumerate(data.symbols):
        o, c = data.open[:, j], data.close[:, j]
        scale = np.repeat((c[-1] / o[0]) ** np.arange(copies), len(data))
        for f in FIELDS:
            values = np.tile(getattr(data, f)[:, j], copies)
            cols[f"{f}_{sym}"] = values if f == "volume" else values * scale
    n = copies * len(data)
    days = pd.bdate_range("2000-01-03", periods=-(-n // 8))
    hours = pd.to_timedelta(range(9, 17), unit="h").to_numpy()
    times = (days.to_numpy()[:, None] + hours[None, :]).ravel()[:n]
    return pd.DataFrame({"time": pd.DatetimeIndex(times).tz_localize("UTC"), **cols})


def write_config(tmp: Path, n_bars: int) -> Path:
    frame = tiled_frame(n_bars)
    data = tmp / "tiled.parquet"
    frame.to_parquet(data, index=False)
    agents = "\n".join(f'[[agents]]\nagent = "{a.split(":")[0]}"' + (
        "\nparams = { " + ", ".join(a.split(":")[1].split(",")).replace("=", " = ") + " }"
        if ":" in a else "") for a in AGENTS)
    config = tmp / "bench.toml"
    config.write_text(f'[data]\nfile = "{data}"\n\n[run]\nspeed = 10\n\n{agents}\n')
    return config


# -- server -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Arena:
    """``arena serve`` in a subprocess and its HTTP API."""

    def __init__(self, config: Path, tmp: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ARENA_", "PANEL_"))}
        env["ARENA_RUN_DIR"] = str(tmp / "runs")
        # the server imports this checkout's arena (not whatever the console script's
        # environment was installed from)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        self.log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(ARENA), "serve", "--port", str(self.port), "--no-show", "--config", str(config)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"arena serve exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url + "/api/status", timeout=5).close()
                break
            except OSError:
                if time.monotonic() - t0 > 120:
                    raise SystemExit("arena serve did not answer within 120 s") from None
                time.sleep(0.2)

    def status(self) -> dict:
        with urllib.request.urlopen(self.url + "/api/status", timeout=30) as r:
            return json.loads(r.read())

    def post(self, route: str) -> dict:
        req = urllib.request.Request(f"{self.url}/api/{route}", method="POST", data=b"")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())["status"]
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"POST /api/{route}: {exc.code} {exc.read().decode()}") from None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# -- websocket frames -----------------------------------------------------------------------
class Frames:
    """Every frame one page's websockets receive: (monotonic time, bytes, text or None)."""

    def __init__(self, page):
        self.frames: list[tuple[float, int, str | None]] = []
        self.opened: float | None = None
        self.on_data = None  # called with the time of a frame that streams data
        page.on("websocket", self._socket)

    def _socket(self, ws) -> None:
        self.opened = self.opened or time.monotonic()
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        t = time.monotonic()
        if isinstance(payload, str):
            text, size = payload, len(payload.encode())
        else:
            text, size = None, len(payload)
        self.frames.append((t, size, text))
        if self.on_data is not None and text is not None and any(k in text for k in DATA_KEYS):
            self.on_data(t)

    def mark(self) -> int:
        return len(self.frames)

    def messages(self, start: int, end: int | None = None) -> list[tuple[float, int, bool]]:
        """Bokeh messages among frames[start:end]: (time, bytes, carries data?) each. A message
        is a header frame ``{"msgtype": ..., "num_buffers": n}``, a metadata frame, a
        content frame and ``n`` buffer frames."""
        frames = self.frames[start:end]
        out, i = [], 0
        while i < len(frames):
            _, size, text = frames[i]
            try:
                header = json.loads(text) if text else None
            except ValueError:
                header = None
            if not (isinstance(header, dict) and "msgtype" in header):
                i += 1  # a frame of a message that began before ``start``
                continue
            parts = frames[i:i + 3 + int(header.get("num_buffers", 0))]
            content = parts[2][2] if len(parts) > 2 and parts[2][2] else ""
            data = header["msgtype"] == "PATCH-DOC" and any(k in content for k in DATA_KEYS)
            out.append((frames[i][0], sum(p[1] for p in parts), data))
            i += len(parts)
        return out


# -- one phase ------------------------------------------------------------------------------
def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def group_updates(messages: list[tuple[float, int]]) -> list[int]:
    """Bytes per update: one session pull sends its chart changes as one message and
    each feed's new rows as a message of its own, a few ms apart; those are one update."""
    sizes, last = [], None
    for t, size in messages:
        if last is not None and t - last < UPDATE_GAP_S:
            sizes[-1] += size
        else:
            sizes.append(size)
        last = t
    return sizes


def quiet_for(page, frames: Frames, seconds: float, limit: float = 60.0) -> None:
    """Wait until no frame carrying data has arrived for ``seconds``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        data = [t for t, _, text in frames.frames if text and any(k in text for k in DATA_KEYS)]
        if not data or time.monotonic() - data[-1] >= seconds:
            return
        page.wait_for_timeout(100)


def wait_idle(page, limit: float = 60.0) -> float:
    """Seconds until the page answers promptly again (it may be behind on updates)."""
    t0 = time.monotonic()
    quick = 0
    while quick < 3 and time.monotonic() - t0 < limit:
        t = time.monotonic()
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => r(1)))")
        quick = quick + 1 if time.monotonic() - t < 0.1 else 0
    return time.monotonic() - t0


def dump_largest(frames: Frames, start: int, count: int) -> None:
    """Print what the ``count`` largest data messages since ``start`` carry."""
    t0 = frames.frames[start][0] if start < len(frames.frames) else 0.0
    texts = [(t, size, text) for t, size, text in frames.frames[start:]
             if text and any(k in text for k in DATA_KEYS)]
    for t, size, text in sorted(texts, key=lambda x: -x[1])[:count]:
        print(f"  content frame {kb(size)}, {t - t0:.1f} s into the run:")
        for ev in json.loads(text).get("events", []):
            cols = ev.get("data", {}).get("entries") if isinstance(ev.get("data"), dict) else None
            names = [c[0] for c in cols][:6] if cols else ""
            if ev.get("kind") == "MessageSent":  # a LogView's rows or a KeyedView's changes
                names = _message_keys(ev)
            print(f"    {ev.get('kind')} {ev.get('attr', '')} {len(json.dumps(ev)):>7} B {names}")


def _message_keys(event: dict) -> list[str]:
    """The top-level keys of a custom message (``rows``; ``add``/``set``/``order``...)."""
    values = event.get("msg_data", {}).get("values", {})
    for key, value in values.get("entries", []) if isinstance(values, dict) else []:
        if key == "data" and isinstance(value, dict):
            return [k for k, _ in value.get("entries", [])]
    return []


def measure(browser, arena: Arena, label: str, run_seconds: float, steps: int,
            dump: int = 0) -> dict:
    """Open a fresh page on the paused competition and measure it (see module doc)."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    frames = Frames(page)
    bar0 = arena.status()["bar"]

    # page load
    t0 = time.monotonic()
    page.goto(arena.url + "/app", timeout=120_000)
    page.wait_for_function(_READY_JS, timeout=120_000)
    page.wait_for_function(_TABLES_JS, timeout=120_000)  # they come in later messages
    ready_s = time.monotonic() - t0
    quiet_for(page, frames, QUIET_S)
    load_bytes = sum(size for _, size, _ in frames.frames)
    load_frames = len(frames.frames)

    # updates at 10 bars/s
    start = frames.mark()
    arena.post("speed?value=10")
    arena.post("resume")
    page.wait_for_timeout(run_seconds * 1000)
    arena.post("pause")
    bars_run = arena.status()["bar"] - bar0
    page.wait_for_timeout(1000)  # the last pulls arrive
    msgs = frames.messages(start)
    catch_up_s = wait_idle(page)
    updates = group_updates([(t, size) for t, size, data in msgs if data])
    others = [size for _, size, data in msgs if not data]
    window_bytes = sum(size for _, size, _ in msgs)

    # latency: engine step -> first data frame in the browser
    latencies, posts = [], []
    for _ in range(steps):
        got: dict[str, float] = {}
        frames.on_data = lambda t, got=got: got.setdefault("t", t)

        def step(got=got):
            arena.post("step?bars=1")
            got["answered"] = time.monotonic()

        t_post = time.monotonic()
        worker = threading.Thread(target=step)
        worker.start()
        deadline = t_post + 10
        while "t" not in got and time.monotonic() < deadline:
            page.wait_for_timeout(5)  # lets Playwright deliver frame events
        worker.join()
        frames.on_data = None
        if "t" in got:
            latencies.append(got["t"] - t_post)
            posts.append(got["answered"] - t_post)
        page.wait_for_timeout(350)  # the rest of that update; the next step starts cold
    if dump:
        dump_largest(frames, start, dump)
    context.close()
    return {
        "label": label, "bar": bar0, "ready_s": ready_s, "load_bytes": load_bytes,
        "load_frames": load_frames, "bars_run": bars_run, "run_s": run_seconds,
        "updates": updates, "others": others, "window_bytes": window_bytes,
        "latencies": latencies, "posts": posts, "steps": steps, "catch_up_s": catch_up_s,
    }


def advance(arena: Arena, target: int) -> float:
    """Step as fast as possible to bar ``target`` (it stays paused); seconds taken."""
    t0 = time.monotonic()
    arena.post("speed?value=0")
    while (bar := arena.status()["bar"]) < target:
        arena.post(f"step?bars={min(20_000, target - bar)}")
    arena.post("speed?value=10")
    return time.monotonic() - t0


# -- report -----------------------------------------------------------------------------------
def kb(x: float) -> str:
    return f"{x / 1024:,.1f} KB"


def report(a: dict, b: dict) -> str:
    rows = []
    for r in (a, b):
        u, lat = r["updates"], [1000 * x for x in r["latencies"]]
        rows.append((
            f"{r['label']} (bar {r['bar']:,})",
            f"{kb(r['load_bytes'])} / {r['ready_s']:.1f} s",
            f"{len(u)} in {r['run_s']:.0f} s ({r['bars_run']} bars)",
            f"{kb(percentile(u, 50))} / {kb(percentile(u, 95))} / {kb(max(u) if u else 0)}",
            f"{len(r['others'])} x {kb(percentile(r['others'], 50))}",
            f"{kb(r['window_bytes'] / r['run_s'])}/s",
            f"{percentile(lat, 50):.0f} / {percentile(lat, 95):.0f} ms ({len(lat)}/{r['steps']})",
            f"{1000 * percentile(r['posts'], 50):.0f} ms",
            f"{r['catch_up_s']:.1f} s",
        ))
    head = ("phase", "page load / ready", "data updates", "update p50 / p95 / max",
            "heartbeat-only msgs", "bytes/s at 10 bars/s", "latency p50 / p95",
            "POST step p50", "page caught up")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    out = [line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    ua, ub = percentile(a["updates"], 50), percentile(b["updates"], 50)
    lat95 = max(percentile(a["latencies"], 95), percentile(b["latencies"], 95)) * 1000
    per_bar = [r["window_bytes"] / max(r["bars_run"], 1) for r in (a, b)]
    out += [
        "",
        f"bytes per update, median, B / A: {ub / ua:.2f}  (aim ~1; each under 5 KB: "
        f"{'yes' if max(ua, ub) < 5 * 1024 else 'no'})",
        f"bytes per bar at 10 bars/s: A {kb(per_bar[0])}, B {kb(per_bar[1])}",
        f"page load B / A: {b['load_bytes'] / a['load_bytes']:.2f}  (aim: under 1 MB: "
        f"{'yes' if max(a['load_bytes'], b['load_bytes']) < 1024 ** 2 else 'no'})",
        f"latency p95 (worst phase): {lat95:.0f} ms  (aim under 250 ms: "
        f"{'yes' if lat95 < 250 else 'no'})",
    ]
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bars", type=int, default=100_000, help="bar of phase B (default 100,000)")
    p.add_argument("--steps", type=int, default=30, help="latency samples per phase")
    p.add_argument("--seconds", type=float, default=10.0, help="run time per phase at 10 bars/s")
    p.add_argument("--dump", type=int, default=0, metavar="N",
                   help="print what the N largest updates of each phase carry")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"needs Chromium at {CHROMIUM} (ARENA_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    t_all = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="arena-dashboard-bench-"))
    arena = None
    try:
        config = write_config(tmp, args.bars + 2_000)
        arena = Arena(config, tmp)
        st = arena.status()
        print(f"arena serve on {st['data_source']}: {st['bars']:,} bars x 4 symbols, "
              f"{len(st['agents'])} agents")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            arena.post("step?bars=100")
            a = measure(browser, arena, "A", args.seconds, args.steps, args.dump)
            took = advance(arena, args.bars)
            print(f"advanced to bar {arena.status()['bar']:,} in {took:.0f} s")
            b = measure(browser, arena, "B", args.seconds, args.steps, args.dump)
            browser.close()
        print()
        print(report(a, b))
        print(f"\nthe whole benchmark took {time.monotonic() - t_all:.0f} s")
    finally:
        if arena is not None:
            arena.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

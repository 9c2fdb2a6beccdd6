"""Viewers never slow the engine: ``arena serve`` on the default demo (9 agents, 4
symbols, 20 bars/s) with 1, 10, 50 and 100 dashboard sessions.

    .venv/bin/python benchmarks/viewers.py                       # ~6-9 min on 2 cores
    .venv/bin/python benchmarks/viewers.py --sessions 1,10 --window 8 --cycles 20   # ~1.5 min

The server is a real ``arena serve`` subprocess on 127.0.0.1. The viewers are not
browsers but protocol-level clients in this process (one asyncio loop, tornado's
websocket client), so they hardly compete for the cores. Each one does what a page
does: ``GET /app`` (the server builds the session's dashboard and answers the
page with the session's token), opens the websocket with the token, pulls the
document (``PULL-DOC-REQ``), sends BokehJS's ``document_ready`` event (Panel then
runs the session's onload: its feed starts, with a periodic callback), and then
reads every message the server sends until it is closed. The server's
``/api/status`` counts the sessions whose feed started; the figures show the
bytes each client received. Like a reader who never scrolls, a viewer never gets
the rows that load when scrolled to (``arena.ui.deferred``: prices and trades,
decisions and events).

Figures, for each session count N (sessions opened one after the other while the
engine runs at 20 bars/s; the run is reset and restarted before each count):

* engine pace: bars/s over a ``--window`` s window, the slope of the engine's bar
  (``/api/status`` twice a second, at the midpoint of each request) against time,
  against the set 20 bars/s and against the pace with 0 sessions measured first in
  the same server; also the pace while the sessions were being opened (first and
  last status only);
* server CPU: share of a core over the window (``/proc/PID/stat``), and per
  session above the 0-session baseline;
* opening a session: wall time from ``GET /app`` to the first data the session's
  feed streams (median and max), and the server CPU it took (the CPU of the
  opening phase minus the steady rate before it, per session; none when that rate
  was over half a core: the sessions' own work is then held up while one opens);
* bytes each session received per second in the window (median over sessions).

Before those, on a server that has had no session yet: ``--warm-up`` (100) and then
``--cycles`` open/close cycles with the engine paused at bar 300 (one session at a
time, each until its first data, then closed): server RSS fresh, after the warm-up
(the start: closed sessions stay until Bokeh destroys them 15 to 32 s later, so
the warm-up holds as many at once as the rest will), after half of the cycles and
at the end, each read once the server has destroyed the closed sessions (its
session count is back to 0), and the server CPU per cycle above its idle rate (the
cleanest figure of what opening, and closing, a session costs).

Aims: the engine keeps its set pace within 2 % at 50 sessions; opening a session
costs under 0.5 s of server CPU; RSS flat within 10 % after 200 cycles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

ROOT = Path(__file__).resolve().parents[1]
ARENA = Path(sys.executable).with_name("arena")
SPEED = 20.0
AIM_PACE, AIM_OPEN_CPU, AIM_RSS = 0.02, 0.5, 0.10
DATA_KEYS = ("ColumnsStreamed", "ColumnsPatched", "ColumnDataChanged", "MessageSent")
TOKEN = re.compile(r'"token":\s*"([^"]+)"')
CLK = os.sysconf("SC_CLK_TCK")
BUSY = 0.5  # share of a core above which opening's own CPU cannot be told apart


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the server ---------------------------------------------------------------------------
class Server:
    """``arena serve`` (the default demo) in a subprocess: its HTTP API and /proc figures."""

    def __init__(self, tmp: Path, extra: list[str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ARENA_", "PANEL_", "BOKEH_"))}
        env["ARENA_RUN_DIR"] = str(tmp / "runs")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        self.log_path = tmp / "server.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(ARENA), "serve", "--port", str(self.port), "--no-show", *extra],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"arena serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                self.status()
                break
            except OSError:
                if time.monotonic() - t0 > 120:
                    raise SystemExit("arena serve did not answer within 120 s") from None
                time.sleep(0.2)

    def status(self) -> dict:
        with urllib.request.urlopen(self.url + "/api/status", timeout=60) as r:
            return json.loads(r.read())

    def timed_bar(self) -> tuple[float, int, dict]:
        """(monotonic midpoint of the request, bar, status)."""
        t0 = time.monotonic()
        st = self.status()
        return (t0 + time.monotonic()) / 2, st["bar"], st

    def post(self, route: str) -> dict:
        req = urllib.request.Request(f"{self.url}/api/{route}", method="POST", data=b"")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read())["status"]
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"POST /api/{route}: {exc.code} {exc.read().decode()}") from None

    def cpu(self) -> float:
        """User + system CPU seconds of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLK

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def restart_run(self, settle: float) -> None:
        """Reset to bar 0 and run at 20 bars/s; wait ``settle`` s (sessions reload)."""
        if self.status()["state"] != "idle":
            self.post("reset")
        self.post(f"speed?value={SPEED:g}")
        self.post("start")
        time.sleep(settle)

    def wait_sessions(self, n: int, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.status()["sessions"] == n:
                return True
            time.sleep(0.5)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


# -- protocol-level viewers ---------------------------------------------------------------
def _message(msgtype: str, content: dict) -> list[str]:
    header = {"msgid": uuid.uuid4().hex, "msgtype": msgtype}
    return [json.dumps(header), "{}", json.dumps(content)]


DOCUMENT_READY = {"events": [{"kind": "MessageSent", "msg_type": "bokeh_event", "msg_data": {
    "type": "event", "name": "document_ready", "values": {"type": "map"}}}]}


def _find_model(tree, name: str) -> dict | None:
    """The first serialized Bokeh model called ``name`` (or ``<module>.name``) in a
    document's JSON."""
    if isinstance(tree, dict):
        if tree.get("type") == "object" and "id" in tree and \
                str(tree.get("name", "")).rpartition(".")[2] == name:
            return tree
        tree = list(tree.values())
    if isinstance(tree, list):
        for item in tree:
            found = _find_model(item, name)
            if found is not None:
                return found
    return None


class Viewer:
    """One dashboard session, as a page holds it (see the module's doc)."""

    def __init__(self, url: str):
        self.url = url
        self.ws = None
        self.bytes = 0  # every frame received after the document
        self.messages: dict[str, int] = {}
        self.data_messages = 0
        self.first_data = asyncio.Event()
        self.closed = asyncio.Event()
        self.t_get = self.t_open = float("nan")
        self.doc: dict = {}
        self._reader = None
        self._expect = 0  # frames left of the message being read
        self._frame = 0
        self._msgtype = ""

    async def open(self, http: AsyncHTTPClient, timeout: float = 300) -> Viewer:
        t0 = time.monotonic()
        resp = await http.fetch(self.url + "/app", request_timeout=timeout)
        self.t_get = time.monotonic() - t0
        token = TOKEN.search(resp.body.decode()).group(1)
        host = self.url.removeprefix("http://")
        req = HTTPRequest(f"ws://{host}/app/ws", headers={"Origin": self.url},
                          request_timeout=timeout)
        self.ws = await websocket_connect(req, subprotocols=["bokeh", token],
                                          max_message_size=1 << 30)
        await self._until("ACK")
        for part in _message("PULL-DOC-REQ", {}):
            await self.ws.write_message(part)
        await self._until("PULL-DOC-REPLY")
        self.bytes = 0
        for part in _message("PATCH-DOC", DOCUMENT_READY):
            await self.ws.write_message(part)
        self._reader = asyncio.ensure_future(self._read_all())
        await asyncio.wait_for(self.first_data.wait(), timeout)
        self.t_open = time.monotonic() - t0
        return self

    async def _until(self, msgtype: str) -> None:
        while True:
            frame = await self.ws.read_message()
            if frame is None:
                raise RuntimeError(f"websocket closed before {msgtype}")
            if self._take(frame) == msgtype:
                return

    def _take(self, frame: str | bytes) -> str | None:
        """Count a frame; the message type when it completes a message."""
        self.bytes += len(frame)
        if self._expect == 0:  # a header
            header = json.loads(frame)
            self._msgtype = header["msgtype"]
            self._expect = 2 + 2 * header.get("num_buffers", 0)
            self._frame = 0
            return None
        self._frame += 1
        self._expect -= 1
        if self._frame == 2 and self._msgtype == "PATCH-DOC" and isinstance(frame, str) \
                and any(k in frame for k in DATA_KEYS):
            self.data_messages += 1
            self.first_data.set()
        if self._frame == 2 and self._msgtype == "PULL-DOC-REPLY":
            self.doc = json.loads(frame)  # the session's document, as the page gets it
        if self._expect == 0:
            self.messages[self._msgtype] = self.messages.get(self._msgtype, 0) + 1
            return self._msgtype
        return None

    async def _read_all(self) -> None:
        try:
            while True:
                frame = await self.ws.read_message()
                if frame is None:
                    break
                self._take(frame)
        finally:
            self.closed.set()

    async def set_property(self, model_name: str, attr: str, value) -> None:
        """Change ``attr`` of the document's (first) ``model_name`` model, as the page
        does when a widget is used (e.g. a Tabs' ``active``: the tab a reader clicks)."""
        model = _find_model(self.doc, model_name)
        if model is None:
            raise RuntimeError(f"no {model_name} model in the session's document")
        event = {"kind": "ModelChanged", "model": {"id": model["id"]}, "attr": attr,
                 "new": value}
        for part in _message("PATCH-DOC", {"events": [event]}):
            await self.ws.write_message(part)

    async def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            if self._reader is not None:
                try:
                    await asyncio.wait_for(self.closed.wait(), 10)
                except TimeoutError:
                    self._reader.cancel()


class Viewers:
    """An asyncio loop in a thread that holds the viewers."""

    def __init__(self, url: str):
        self.url = url
        self.open: list[Viewer] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.http = self.run(self._http())

    async def _http(self):
        return AsyncHTTPClient(max_clients=64)

    def run(self, coro, timeout: float = 600):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def add(self) -> Viewer:
        v = self.run(Viewer(self.url).open(self.http))
        self.open.append(v)
        return v

    def close_one(self, v: Viewer) -> None:
        self.run(v.close())
        self.open.remove(v)

    def close_all(self) -> None:
        for v in list(self.open):
            self.close_one(v)

    def bytes(self) -> list[int]:
        return [v.bytes for v in self.open]

    def stop(self) -> None:
        self.close_all()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# -- measuring --------------------------------------------------------------------------
def pace_fit(samples: list[tuple[float, int]]) -> float:
    """Bars per second: the least-squares slope of bar against time."""
    if len(samples) < 2:
        return float("nan")
    ts = [t for t, _ in samples]
    mt, mb = statistics.fmean(ts), statistics.fmean(b for _, b in samples)
    den = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (b - mb) for t, b in samples) / den if den else float("nan")


def window(server: Server, viewers: Viewers, seconds: float, every: float = 0.5) -> dict:
    """Pace (bars/s), server CPU share and bytes per session per second over ``seconds``.
    The pace is the slope of the engine's bar (``/api/status``, every ``every`` s, at
    the midpoint of each request) against time, so that a late answer (the server is
    busy) moves one sample, not the result."""
    b0 = viewers.bytes()
    c0, w0 = server.cpu(), time.monotonic()
    samples, latency, st = [], [], {}
    end = w0 + seconds
    while True:
        t0 = time.monotonic()
        t, bar, st = server.timed_bar()
        latency.append(2 * (t - t0))
        samples.append((t, bar))
        if time.monotonic() >= end:
            break
        time.sleep(max(0.0, min(every - (time.monotonic() - t0), end - time.monotonic())))
    c1, w1 = server.cpu(), time.monotonic()
    b1 = viewers.bytes()
    dt = w1 - w0
    per = [(y - x) / dt for x, y in zip(b0, b1, strict=True)]
    return {"pace": pace_fit(samples), "cpu": (c1 - c0) / dt, "state": st["state"],
            "engine_rate": st["bars_per_second"], "sessions": st["sessions"],
            "latency_max": max(latency), "latency_med": statistics.median(latency),
            "bytes_s": statistics.median(per) if per else 0.0, "min_bytes_s": min(per, default=0)}


def open_sessions(server: Server, viewers: Viewers, k: int, cpu_rate: float) -> dict:
    """Open ``k`` sessions one after the other; wall per open, net server CPU per open,
    and the engine's pace meanwhile."""
    t0, bar0, _ = server.timed_bar()
    c0 = server.cpu()
    walls, gets = [], []
    for _ in range(k):
        v = viewers.add()
        walls.append(v.t_open)
        gets.append(v.t_get)
    t1, bar1, st = server.timed_bar()
    c1 = server.cpu()
    dt = t1 - t0
    finished = st["state"] != "running"
    # the CPU of the opening phase less what the sessions already open would have
    # taken meanwhile: no figure when they took so much that they were surely held up
    saturated = cpu_rate > BUSY
    return {"wall_med": statistics.median(walls), "wall_max": max(walls),
            "get_med": statistics.median(gets),
            "cpu_open": float("nan") if saturated else max(0.0, (c1 - c0) - cpu_rate * dt) / k,
            "pace_opening": float("nan") if finished else (bar1 - bar0) / dt, "took": dt}


def cycles(server: Server, viewers: Viewers, n: int, warm: int) -> dict:
    """``warm`` then ``n`` open/close cycles. RSS (MB): fresh, after the warm-up and
    after ``n // 2`` and ``n`` more, each read once the server has destroyed the closed
    sessions; the most sessions the server held at once (a closed session stays until
    Bokeh's unused-session check destroys it, 15 to 32 s later: the warm-up reaches
    that many); server CPU per cycle above idle (the measured cycles)."""
    server.wait_sessions(0, 90)
    rss = {"fresh": server.rss_mb()}
    t_idle, c_idle = time.monotonic(), server.cpu()
    time.sleep(3)
    idle = (server.cpu() - c_idle) / (time.monotonic() - t_idle)
    most, walls, per_cycle = 0, [], float("nan")
    marks = {warm: 0, warm + n // 2: n // 2, warm + n: n}
    t0 = c0 = 0.0
    for i in range(1, warm + n + 1):
        if i == warm + 1:
            t0, c0 = time.monotonic(), server.cpu()
        v = viewers.add()
        walls.append(v.t_open)
        viewers.close_one(v)
        if i % 10 == 0:
            most = max(most, server.status()["sessions"])
        if i in marks:
            spent, took = server.cpu() - c0, time.monotonic() - t0
            if not server.wait_sessions(0, 120):
                print(f"  (after {i} cycles the server still counts sessions)", file=sys.stderr)
            rss[marks[i]] = server.rss_mb()
            if i > warm:
                per_cycle = (spent - idle * took) / (i - warm)
            elif i == warm:
                print(f"  RSS fresh {rss['fresh']:.0f} MB, after {warm} warm-up cycles "
                      f"{rss[0]:.0f} MB (at most {most} sessions held at once)", flush=True)
    return {"rss": rss, "cpu_cycle": per_cycle, "wall_med": statistics.median(walls[warm:]),
            "idle": idle, "most": most}


def fmt(x: float, spec: str = ".2f") -> str:
    return "-" if x != x else format(x, spec)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", default="1,10,50,100",
                   help="session counts, ascending (default 1,10,50,100)")
    p.add_argument("--window", type=float, default=15.0, help="s of each pace window")
    p.add_argument("--settle", type=float, default=4.0,
                   help="s after a reset and start before measuring")
    p.add_argument("--idle-window", type=float, default=4.0,
                   help="s of the window with the engine paused")
    p.add_argument("--cycles", type=int, default=200, help="open/close cycles (0: none)")
    p.add_argument("--warm-up", type=int, default=100,
                   help="open/close cycles before the RSS at the start is read")
    p.add_argument("--server-arg", action="append", default=[],
                   help="extra argument for arena serve (repeatable)")
    args = p.parse_args(argv)
    counts = [int(x) for x in args.sessions.split(",") if x.strip()]

    tmp = Path(tempfile.mkdtemp(prefix="arena-viewers-"))
    started = time.monotonic()
    server = Server(tmp, args.server_arg)
    viewers = Viewers(server.url)
    try:
        print(f"arena serve (default demo) on {server.url}, pid {server.proc.pid}; "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}", flush=True)
        server.post("step?bars=1")  # first run: the kernel and every agent's signals load
        server.restart_run(args.settle)
        base = window(server, viewers, args.window)
        server.post("pause")
        time.sleep(1.5)
        base["idle"] = window(server, viewers, args.idle_window)["cpu"]
        print(f"0 sessions: {base['pace']:.2f} bars/s, server CPU {base['cpu']:.1%} of a core "
              f"(paused {base['idle']:.1%})", flush=True)
        cyc = None
        if args.cycles:  # first, on a server that has had no session yet
            server.post("reset")
            server.post("step?bars=300")
            cyc = cycles(server, viewers, args.cycles, args.warm_up)
            rss = cyc["rss"]
            print(f"{args.cycles} open/close cycles: RSS "
                  + ", ".join(f"{k}: {v:.0f} MB" for k, v in rss.items())
                  + f"; server CPU per cycle {cyc['cpu_cycle']:.2f} s", flush=True)
        rows = []
        cpu_rate = base["cpu"]
        for n in counts:
            server.restart_run(1.0)
            rate_before = cpu_rate if not viewers.open else window(server, viewers, 3)["cpu"]
            opened = open_sessions(server, viewers, n - len(viewers.open), rate_before)
            st = server.status()
            settle = args.settle + 0.05 * n  # every session reloads after a reset
            if st["state"] != "running" or \
                    st["bars"] - st["bar"] < SPEED * (args.window + settle + 5):
                server.restart_run(settle)
            else:
                time.sleep(settle)
            w = window(server, viewers, args.window)
            cpu_rate = w["cpu"]
            server.post("pause")  # the sessions' periodic work when there is nothing new
            time.sleep(1.5)
            idle = window(server, viewers, args.idle_window)["cpu"]
            row = {"n": n, **opened, **w, "idle": idle}
            rows.append(row)
            print(f"{n} sessions: pace {w['pace']:.2f} bars/s (while opening "
                  f"{fmt(opened['pace_opening'])}), server CPU {w['cpu']:.1%}, open "
                  f"{opened['wall_med']:.2f} s wall (max {opened['wall_max']:.2f}), "
                  f"{fmt(opened['cpu_open'])} s CPU; {w['bytes_s'] / 1024:.1f} KB/s per "
                  f"session (min {w['min_bytes_s'] / 1024:.1f}); server counts "
                  f"{w['sessions']}; /api/status answered in {w['latency_med'] * 1000:.0f} ms "
                  f"(max {w['latency_max'] * 1000:.0f}); paused: server CPU {idle:.1%}",
                  flush=True)
        viewers.close_all()
    finally:
        viewers.stop()
        server.stop()

    print()
    print(f"engine set to {SPEED:g} bars/s; 0 sessions: {base['pace']:.2f} bars/s, server "
          f"CPU {base['cpu']:.1%} of a core")
    head = (f"{'sessions':>8} {'pace':>6} {'vs set':>7} {'vs 0':>7} {'opening':>8} "
            f"{'CPU':>6} {'CPU/sess':>9} {'idle/sess':>9} {'open wall':>10} {'open max':>9} "
            f"{'CPU/open':>9} {'KB/s/sess':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        per = (r["cpu"] - base["cpu"]) / r["n"]
        idle_per = max(0.0, r["idle"] - base["idle"]) / r["n"]
        print(f"{r['n']:>8} {r['pace']:>6.2f} {r['pace'] / SPEED - 1:>+7.1%} "
              f"{r['pace'] / base['pace'] - 1:>+7.1%} {fmt(r['pace_opening']):>8} "
              f"{r['cpu']:>6.0%} {per * 1000:>7.1f}ms {idle_per * 1000:>7.2f}ms "
              f"{r['wall_med']:>9.2f}s "
              f"{r['wall_max']:>8.2f}s {fmt(r['cpu_open']):>8}s {r['bytes_s'] / 1024:>10.1f}")
    print("(pace: bars/s over the window; opening: pace while the sessions were opened; "
          "CPU/sess: ms of server CPU a second per session above 0 sessions, idle/sess: the "
          "same with the engine paused, above 0 sessions paused)")
    if cyc:
        rss = cyc["rss"]
        marks = ", ".join(f"{k}: {v:.0f} MB" for k, v in rss.items())
        print(f"open/close cycles (engine paused at bar 300; RSS fresh, then after "
              f"{args.warm_up} warm-up cycles (0) and after N more): RSS {marks} "
              f"({rss[args.cycles] / rss[0] - 1:+.1%} since the warm-up, at most "
              f"{cyc['most']} sessions held at once); server CPU per cycle "
              f"{cyc['cpu_cycle']:.2f} s (idle {cyc['idle']:.1%}); open wall median "
              f"{cyc['wall_med']:.2f} s")
    at50 = [r for r in rows if r["n"] == 50]
    if at50:
        print(f"aim: pace within {AIM_PACE:.0%} of {SPEED:g} at 50 sessions: "
              f"{at50[0]['pace'] / SPEED - 1:+.1%}")
    opens = [r["cpu_open"] for r in rows if r["cpu_open"] == r["cpu_open"]] + \
        ([cyc["cpu_cycle"]] if cyc else [])
    if opens:
        print(f"aim: opening a session under {AIM_OPEN_CPU} s of server CPU: "
              f"{min(opens):.2f}-{max(opens):.2f} s")
    if cyc:
        print(f"aim: RSS within {AIM_RSS:.0%} after {args.cycles} cycles: "
              f"{rss[args.cycles] / rss[0] - 1:+.1%} (from fresh: "
              f"{rss[args.cycles] / rss['fresh'] - 1:+.1%})")
    print(f"took {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Live soak: a live competition of 9 agents on accelerated exchange candles for
half an hour, served and watched as users do.

    .venv/bin/python benchmarks/live_soak.py                  # 30 min of live candles
    .venv/bin/python benchmarks/live_soak.py --minutes 3      # a short run
    .venv/bin/python benchmarks/live_soak.py --minutes 3 --json soak.json

The exchange is the local Binance REST server of the tests
(``tests/arena/feeds/binance_server.py``; ccxt's real ``binance`` class pointed at
it) with its clock running ``--rate`` times real time (60: a 1-minute candle
closes every second). The server side is ``arena serve --config live.toml
--exchange-config JSON`` in a subprocess (``--via live``: ``arena live live.toml
--exchange-config JSON``, with no dashboard, API or viewer): BTC/USDT and ETH/USDT
1m candles, a ``--warmup``, a duration of ``--minutes`` of wall time in live
candles (the run ends by itself), and the agents buy_and_hold, sma_cross,
momentum, mean_reversion, rsi, macd, random, ml and an LLM agent asking at every
bar a local chat server (``tests/arena/agents/chat_server.py``, model ``valid``:
an answer in about a millisecond). One dashboard session is held open all along
by a protocol-level Bokeh client in this process (as ``benchmarks/viewers.py``
does), and ``GET /api/status`` is polled every ``--status-every`` s.

Figures:

* **RSS** of the server process (and of it with its children: the recording's
  writer) every ``--sample`` s from the moment the engine has traded the warm-up
  and caught up with the candles that closed meanwhile ("live"): start =
  ``--settle`` s later (default 60: the session open, the ML agent's fits done),
  middle = half-way, end = the last sample before the run finished; the aim is
  end against start.
* **Bars lost, duplicated, reordered or changed**: the recording's bars against
  the exchange's closed candles from the recording's first bar to its last, per
  symbol, and the bar count against warm-up + duration.
* **Latency from a candle's close** (the exchange's clock says when; mapped to
  this process's clock through the clock's rate; from then on the exchange serves
  the candle closed) to: *published*, ``/api/status`` counting the bar (marked to
  market and published; the engine asks the agents right after; ± half the poll
  interval); *the LLM agent's request* for that bar reaching the chat server
  (exact: the prompt names the bar's time); *decided*, the chat server's answer
  for that bar ready to send (the LLM agent is the last to decide: the others
  decide in the engine thread meanwhile, in well under a millisecond each; the
  bar's decisions are applied as its answer is read); *the browser*, the bar's row
  of the equity chart reaching the dashboard session (exact: the row's time is in
  the ``ColumnsStreamed`` message). p50, p95 and max over all live bars, p95
  against the candle's wall length, and p95 and max over the steady bars (closing
  ``--settle`` s after "live" or later; the first live bars wait for the warm-up
  and the server's start). What the latency holds: up to ``--poll`` s until the
  feed's next poll (at 1x the feed wakes 50 ms after each close instead), the
  requests to the exchange, the agents, and for the browser the session's pull
  interval (250 ms while the engine runs).

Aims (issue 16): RSS flat within 10 %, 0 bars lost; the p95 latencies are
reported (no aim given). This process (exchange, chat server, viewer, status
polls) shares the cores with the server; the load average is printed with the
figures. Exit code 1 when a bar was lost, duplicated, reordered or changed, the
recording does not hold warm-up + duration bars, or the server logged an error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from _common import quantiles
from viewers import Server, Viewer, Viewers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' local exchange and chat server

from tests.arena.agents.chat_server import ChatServer  # noqa: E402
from tests.arena.feeds.binance_server import MINUTE, BinanceServer  # noqa: E402
from tests.serverlogs import problems  # noqa: E402

ARENA = Path(sys.executable).with_name("arena")
AIM_RSS = 0.10
SYMBOLS = {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT"}
AGENTS = """
[[agents]]
agent = "buy_and_hold"
[[agents]]
agent = "sma_cross"
[[agents]]
agent = "momentum"
[[agents]]
agent = "mean_reversion"
[[agents]]
agent = "rsi"
[[agents]]
agent = "macd"
[[agents]]
agent = "random"
[[agents]]
agent = "ml"
[[agents]]
agent = "llm"
params = {{ model = "valid", base_url = "{base_url}", api_key_env = "", every = 1 }}
"""
_PROMPT_TIME = re.compile(r"Time (\S+(?: \S+)?) \(bar \d+\)")
FINAL = ("finished", "stopped", "failed")


# -- the pieces in this process --------------------------------------------------------
class Clock:
    """Exchange time (ms) to this process's monotonic clock, for a clock running ``rate``
    times real time from the moment :meth:`run` is called."""

    def __init__(self, exchange: BinanceServer, rate: float):
        exchange.run_clock(rate)
        a = time.monotonic()
        self.x0 = exchange.now_ms
        self.m0 = (a + time.monotonic()) / 2
        self.rate = rate

    def wall(self, exchange_ms: float) -> float:
        return self.m0 + (exchange_ms - self.x0) / 1000 / self.rate


class TimedChat(ChatServer):
    """The tests' chat server, noting when each bar's request arrives and when its
    answer is ready to go (by the bar's open, ms)."""

    def __init__(self):
        super().__init__()
        self.arrivals: dict[int, float] = {}
        self.answered: dict[int, float] = {}

    def respond(self, body: dict, headers: dict):
        t = time.monotonic()
        prompt = "\n".join(m["content"] for m in body["messages"])
        m = _PROMPT_TIME.search(prompt)
        ms = int(pd.Timestamp(m.group(1)).value // 1_000_000) if m else None
        if ms is not None:
            self.arrivals.setdefault(ms, t)
        with self._lock:
            self.requests.clear()  # the base class keeps every body; a soak must not
        out = super().respond(body, headers)
        if ms is not None:
            self.answered.setdefault(ms, time.monotonic())
        return out


class BarViewer(Viewer):
    """A dashboard session that notes when each bar's row of the equity chart (the
    streamed source with agent columns ``a0``...) reaches it, by the row's time (the
    bar's open, ms). (The price chart is below the first screen: a page gets it only
    when scrolled near it, which this session never is.)"""

    def __init__(self, url: str):
        super().__init__(url)
        self.equity: dict[int, float] = {}
        self.resends = 0  # a whole source sent again (decimated) instead of streamed

    def _take(self, frame):
        done = super()._take(frame)
        if self._frame == 2 and self._msgtype == "PATCH-DOC" and isinstance(frame, str) \
                and '"time"' in frame:
            t = time.monotonic()
            for ev in json.loads(frame).get("events", ()):
                if ev.get("kind") == "ColumnDataChanged":
                    self.resends += 1
                if ev.get("kind") != "ColumnsStreamed":
                    continue
                data = ev.get("data", {})
                cols = dict(data.get("entries", ())) if data.get("type") == "map" else data
                times = cols.get("time")
                if not isinstance(times, list):
                    continue
                if "a0" in cols:
                    for ms in times:
                        self.equity.setdefault(int(ms), t)
        return done


class StatusPoller(threading.Thread):
    """``GET /api/status`` every ``every`` s: when each bar (by its open time) was
    first counted (published), as the midpoint between the sample before and the
    first sample after; the last status."""

    def __init__(self, server: Server, every: float, tf_ms: int):
        super().__init__(daemon=True)
        self.server, self.every, self.tf_ms = server, every, tf_ms
        self.published: dict[int, float] = {}
        self.last: dict = {}
        self.errors = 0
        self.slowest = 0.0
        self._halt = threading.Event()
        self._prev: tuple[float, int] | None = None

    def run(self) -> None:
        while not self._halt.is_set():
            t0 = time.monotonic()
            try:
                st = self.server.status()
            except OSError:
                self.errors += 1
                self._halt.wait(self.every)
                continue
            t1 = time.monotonic()
            self.slowest = max(self.slowest, t1 - t0)
            mid, bar = (t0 + t1) / 2, st["bar"]
            if self._prev is not None and bar > self._prev[1] and st.get("time"):
                last_open = int(pd.Timestamp(st["time"]).value // 1_000_000)
                at = (self._prev[0] + mid) / 2
                for k in range(bar - self._prev[1]):
                    self.published.setdefault(last_open - k * self.tf_ms, at)
            self._prev, self.last = (mid, bar), st
            self._halt.wait(max(0.0, self.every - (time.monotonic() - t0)))

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def usage(pid: int) -> tuple[float, float, float]:
    """(RSS MB of ``pid``, RSS MB of it and its children, CPU s of it and its children)."""
    p = psutil.Process(pid)
    procs = [p, *p.children(recursive=True)]
    rss, cpu = [], 0.0
    for q in procs:
        try:
            rss.append(q.memory_info().rss)
            c = q.cpu_times()
            cpu += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return rss[0] / 2**20, sum(rss) / 2**20, cpu


# -- the run -----------------------------------------------------------------------------
def config_text(args, base_url: str) -> str:
    live_minutes = round(args.minutes * args.rate)  # 1m candles: rate/60 a second
    return f"""[live]
exchange = "binance"
symbols = {json.dumps(list(SYMBOLS))}
timeframe = "1m"
warmup = {args.warmup}
duration = "{live_minutes}m"
poll = {args.poll}

[run]
seed = 1
decide_deadline = {round(30 / args.rate, 3)}
""" + AGENTS.format(base_url=base_url)


def settle_s(args) -> float:
    """Seconds after the first live candle before the steady state: ``--settle``, at most
    a fifth of the run."""
    return min(args.settle, args.minutes * 12)


def latencies(arrivals: dict[int, float], opens: list[int], clock: Clock,
              series: bool = False) -> dict:
    """Seconds from each candle's close to its arrival, over ``opens``; how many had none;
    with ``series`` each bar's (ms, None if none)."""
    lat = [arrivals[o] - clock.wall(o + MINUTE) if o in arrivals else None for o in opens]
    got = [x for x in lat if x is not None]
    out = {**quantiles(got), "missing": len(opens) - len(got)}
    if series:
        out["series_ms"] = [None if x is None else round(x * 1000) for x in lat]
    return out


def compare_bars(rec_bars: pd.DataFrame, exchange: BinanceServer) -> dict:
    """The recording's bars against the exchange's closed candles, per symbol."""
    out = {"lost": 0, "duplicated": 0, "reordered": 0, "changed": 0}
    for sym, sid in SYMBOLS.items():
        got = rec_bars[rec_bars["symbol"] == sym].reset_index(drop=True)
        t = got["time"]
        out["duplicated"] += int(t.duplicated().sum())
        out["reordered"] += int((t.diff().dt.total_seconds() < 0).sum())
        want = exchange.candles(sid)
        want = want[(want["time"] >= t.min()) & (want["time"] <= t.max())]
        out["lost"] += int((~want["time"].isin(t)).sum())
        merged = want.merge(got.drop_duplicates("time"), on="time", suffixes=("", "_rec"))
        fields = ["open", "high", "low", "close", "volume"]
        diff = (merged[fields].to_numpy() != merged[[f + "_rec" for f in fields]].to_numpy())
        out["changed"] += int(diff.any(axis=1).sum())
    return out


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="arena-soak-"))
    started = time.monotonic()
    exchange = BinanceServer()
    exchange.start()
    chat = TimedChat().__enter__()
    (tmp / "live.toml").write_text(config_text(args, chat.base_url))
    exconf = json.dumps(exchange.exchange_config(timeout=5000, enableRateLimit=False))
    clock = Clock(exchange, args.rate)
    server = viewers = viewer = poller = proc = None
    samples: list[dict] = []
    live_at = float("nan")
    try:
        if args.via == "serve":
            server = Server(tmp, ["--config", str(tmp / "live.toml"), "--exchange-config", exconf])
            pid = server.proc.pid
            print(f"arena serve pid {pid} on {os.cpu_count()} cores (load "
                  f"{os.getloadavg()[0]:.2f}); exchange {exchange.url} at {args.rate:g}x "
                  f"(a 1m candle every {60 / args.rate:g} s); {args.minutes:g} min; tmp {tmp}",
                  flush=True)
            if server.status()["state"] == "idle":
                server.post("start")
            poller = StatusPoller(server, args.status_every, MINUTE)
            poller.start()
            viewers = Viewers(server.url)
            viewer = viewers.run(BarViewer(server.url).open(viewers.http))
            viewers.open.append(viewer)
            print(f"a dashboard session opened in {viewer.t_open:.1f} s", flush=True)
        else:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed with the process
            proc = subprocess.Popen(
                [str(ARENA), "live", str(tmp / "live.toml"), "--exchange-config", exconf,
                 "--run-dir", str(tmp / "runs"), "--format", "json"],
                cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=log)
            pid = proc.pid
            print(f"arena live pid {pid} on {os.cpu_count()} cores (load "
                  f"{os.getloadavg()[0]:.2f}); exchange {exchange.url} at {args.rate:g}x; "
                  f"{args.minutes:g} min; tmp {tmp}", flush=True)
        live_at = wait_live(args, server, proc, tmp)
        caught = (poller.last.get("live") or {}).get("live_bars") if poller else None
        print(f"live from {live_at - started:.0f} s: the warm-up of {args.warmup} candles "
              f"traded" + (f", and {caught} live ones since" if caught is not None else ""),
              flush=True)
        samples = soak(args, pid, server, proc, poller, chat, viewers, live_at, clock, exchange)
    finally:
        if poller is not None:
            poller.stop()
        if viewers is not None:
            viewers.stop()
        final_status = server.status() if server is not None and server.proc.poll() is None \
            else {}
        if server is not None:
            server.stop()
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(30)
        exchange.run_clock(0)
        chat.__exit__()
    res = figures(args, tmp, exchange, chat, viewer, poller, clock, samples, final_status,
                  live_at)
    res["took_s"] = round(time.monotonic() - started, 1)
    exchange.stop()
    return res


def wait_live(args, server, proc, tmp: Path) -> float:
    """Until the engine has traded the warm-up and caught up with the candles that
    closed meanwhile (``arena serve``), or the run's recording exists (``arena live``);
    the time then."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server is not None:
            st = server.status()
            live = st.get("live") or {}
            if st["state"] in FINAL:
                raise SystemExit(f"the run ended during the warm-up: {st}")
            if live and st["bar"] >= max(live["live_bar"], live["bars_available"]):
                return time.monotonic()
        else:
            if proc.poll() is not None:
                raise SystemExit(f"arena live exited: {(tmp / 'server.log').read_text()[-2000:]}")
            if list((tmp / "runs").glob("*/arena.sqlite")):
                return time.monotonic()
        time.sleep(0.2)
    raise SystemExit("the warm-up did not end within 300 s")


def soak(args, pid, server, proc, poller, chat, viewers, live_at, clock,
         exchange) -> list[dict]:
    """Sample RSS and CPU every ``--sample`` s until the run ends; a progress line a minute.
    (The exchange's log of requests is emptied at each sample: this process stays small.)"""
    me = psutil.Process()
    samples: list[dict] = []
    end = live_at + args.minutes * 60 + 120
    next_line = time.monotonic() + 60
    while time.monotonic() < end:
        now = time.monotonic()
        if proc is not None and proc.poll() is not None:
            break
        try:
            rss, tree, cpu = usage(pid)
        except psutil.NoSuchProcess:
            break
        st = poller.last if poller is not None else {}
        state = st.get("state") if server is not None else "running"
        if state in FINAL:  # the run is over: what the server holds after it is not a soak
            break
        with exchange._lock:
            exchange.requests.clear()
        mine = me.cpu_times()
        samples.append({"t": now - live_at, "rss": rss, "tree": tree, "cpu": cpu,
                        "own_cpu": mine.user + mine.system,
                        "load": os.getloadavg()[0], "bar": st.get("bar"),
                        "available": (st.get("live") or {}).get("bars_available")})
        if now >= next_line:
            next_line += 60
            progress(samples, st, chat, viewers, clock)
        time.sleep(max(0.0, args.sample - (time.monotonic() - now)))
    return samples


def progress(samples, st, chat, viewers, clock) -> None:
    s, first = samples[-1], samples[0]
    cpu = (s["cpu"] - samples[-2]["cpu"]) / (s["t"] - samples[-2]["t"]) if len(samples) > 1 else 0
    recent = [o for o in chat.arrivals if clock.wall(o + MINUTE) > time.monotonic() - 60]
    llm = latencies(chat.answered, recent, clock)
    line = (f"  {s['t'] / 60:5.1f} min: RSS {s['rss']:.0f} MB ({s['rss'] / first['rss'] - 1:+.1%}"
            f" since live), with children {s['tree']:.0f} MB; CPU {cpu:.0%} of a core; "
            f"load {s['load']:.2f}; decided p95 {llm['p95']:.3f} s")
    if st:
        live = st.get("live") or {}
        line += (f"; bar {st['bar']}/{live.get('bars_available')} ({live.get('feed_state')})")
    if viewers is not None and viewers.open:
        v = viewers.open[0]
        line += f"; browser p95 {latencies(v.equity, recent, clock)['p95']:.3f} s"
    print(line, flush=True)


# -- the figures ----------------------------------------------------------------------------
def figures(args, tmp, exchange, chat, v, poller, clock, samples, final_status,
            live_at: float) -> dict:
    from arena.recorder import Recording

    dbs = list((tmp / "runs").glob("*/arena.sqlite"))
    if len(dbs) != 1:
        raise SystemExit(f"expected one recording under {tmp / 'runs'}, found {len(dbs)}")
    rec = Recording(dbs[0].parent)
    bars, status, meta = rec.bars(), rec.status(), rec.meta
    rec.close()
    times = sorted(bars["time"].unique())
    opens = [int(pd.Timestamp(t).value // 1_000_000) for t in times]
    live_opens = opens[args.warmup:]
    res: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "via": args.via,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "minutes": args.minutes, "rate": args.rate, "candle_s": 60 / args.rate,
        "poll_s": args.poll, "warmup": args.warmup, "agents": 9,
        "recording": {"status": status, "bars": len(times),
                      "expected": args.warmup + round(args.minutes * args.rate)},
        "final_state": final_status.get("state"), "commit": commit(),
    }
    res["bars"] = compare_bars(bars, exchange)
    settle = settle_s(args)
    steady = [o for o in live_opens if clock.wall(o + MINUTE) >= live_at + settle]
    if samples:
        live = [s for s in samples if s["t"] >= settle]
        start = live[0] if live else samples[0]
        mid = min(samples, key=lambda s: abs(s["t"] - samples[-1]["t"] / 2))
        end = samples[-1]
        res["rss_mb"] = {k: round(s["rss"], 1) for k, s in
                         (("start", start), ("middle", mid), ("end", end))}
        res["rss_tree_mb"] = {k: round(s["tree"], 1) for k, s in
                              (("start", start), ("middle", mid), ("end", end))}
        res["rss_mb"]["max"] = round(max(s["rss"] for s in samples if s["t"] >= start["t"]), 1)
        res["rss_end_vs_start"] = end["rss"] / start["rss"] - 1
        res["rss_times_min"] = [round(s["t"] / 60, 2) for s in (start, mid, end)]
        steady_samples = [s for s in samples if s["t"] >= start["t"]]
        if len(steady_samples) > 2:  # least squares: MB a minute, KB a live bar
            slope = np.polyfit([s["t"] for s in steady_samples],
                               [s["rss"] for s in steady_samples], 1)[0]
            res["rss_growth"] = {"mb_per_min": round(slope * 60, 3),
                                 "kb_per_bar": round(slope * 1024 * 60 / args.rate, 2)}
        res["cpu_share"] = (end["cpu"] - start["cpu"]) / max(1e-9, end["t"] - start["t"])
        res["own_cpu_share"] = (end["own_cpu"] - start["own_cpu"]) / max(1e-9,
                                                                          end["t"] - start["t"])
        res["load"] = [round(s["load"], 2) for s in (start, mid, end)]
        res["rss_every_min"] = [round(s["rss"], 1) for s in samples
                                if int(s["t"] / 60) != int((s["t"] - args.sample) / 60)]
    res["latency_s"] = {}
    if poller is not None:
        res["latency_s"]["published"] = latencies(poller.published, live_opens, clock, True)
        res["status_poll"] = {"every_s": args.status_every, "slowest_s": round(poller.slowest, 3),
                              "errors": poller.errors}
    res["latency_s"]["llm_request"] = latencies(chat.arrivals, live_opens, clock, True)
    res["latency_s"]["decided"] = latencies(chat.answered, live_opens, clock, True)
    if v is not None:
        res["latency_s"]["browser"] = latencies(v.equity, live_opens, clock, True)
        res["browser_resends"] = v.resends
    steady_set = set(steady)
    for q in res["latency_s"].values():
        vals = [x / 1000 for x, o in zip(q["series_ms"], live_opens, strict=True)
                if x is not None and o in steady_set]
        q["steady"] = quantiles(vals)
    res["live_bars"], res["settle_s"] = len(live_opens), settle
    log = tmp / "server.log"
    res["server_log_problems"] = problems(log.read_text(errors="replace")) if log.exists() else []
    res["meta_live"] = meta.get("live")
    return res


def commit() -> str:
    """The checkout's commit, and whether its tree had changes."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout
    return git("rev-parse", "--short", "HEAD").strip() + (
        " + uncommitted changes" if git("status", "--porcelain", "--", "arena").strip() else "")


def report(res: dict) -> None:
    c = res["candle_s"]
    print()
    print(f"live soak, {res['date']}, {res['machine']}: arena {res['via']}, {res['agents']} "
          f"agents, 2 symbols, 1m candles at {res['rate']:g}x (one every {c:g} s), warm-up "
          f"{res['warmup']}, {res['live_bars']} live bars, feed poll {res['poll_s']:g} s; "
          f"took {res['took_s']:.0f} s; commit {res['commit']}")
    r = res["recording"]
    print(f"recording: {r['bars']} bars (expected {r['expected']}), status {r['status']}")
    b = res["bars"]
    print(f"bars against the exchange: lost {b['lost']}, duplicated {b['duplicated']}, "
          f"reordered {b['reordered']}, changed {b['changed']}   (aim: 0)")
    bad = res["server_log_problems"]
    print(f"server log: {len(bad)} error(s)" + (f", the first:\n{bad[0]}" if bad else ""))
    if "rss_mb" in res:
        m, t, mins = res["rss_mb"], res["rss_tree_mb"], res["rss_times_min"]
        print(f"server RSS: start {m['start']:.0f} MB ({mins[0]:.1f} min), middle "
              f"{m['middle']:.0f} MB ({mins[1]:.1f} min), end {m['end']:.0f} MB ({mins[2]:.1f} "
              f"min), max {m['max']:.0f} MB; end/start {res['rss_end_vs_start']:+.1%}   "
              f"(aim: within {AIM_RSS:.0%})")
        print(f"  with its children (recording writer): {t['start']:.0f} / {t['middle']:.0f} / "
              f"{t['end']:.0f} MB; CPU: server and writer {res['cpu_share']:.0%} of a core, this process "
              f"{res['own_cpu_share']:.0%}; load average {' / '.join(map(str, res['load']))}")
        if res["rss_every_min"]:
            print("  RSS each minute (MB): " + " ".join(f"{x:.0f}" for x in res["rss_every_min"]))
        if "rss_growth" in res:
            g = res["rss_growth"]
            print(f"  RSS trend from the start on: {g['mb_per_min']:+.2f} MB a minute, "
                  f"{g['kb_per_bar']:+.1f} KB a live bar (least squares)")
    head = f"{'from the candle close to':<34} {'bars':>5} {'p50':>7} {'p95':>7} {'max':>7} " \
           f"{'p95/candle':>10} {'missing':>7} {'steady p95':>10} {'max':>7}"
    print(head)
    print("-" * len(head))
    names = {"published": "the bar published (/api/status)",
             "llm_request": "the LLM agent's request", "decided": "decided (the LLM's answer)",
             "browser": "the browser (equity row)"}
    for k, q in res["latency_s"].items():
        if not q["n"]:
            print(f"{names[k]:<34} none arrived")
            continue
        print(f"{names[k]:<34} {q['n']:>5} {q['p50']:>6.3f}s {q['p95']:>6.3f}s {q['max']:>6.3f}s "
              f"{q['p95'] / c:>10.1%} {q['missing']:>7} {q['steady']['p95']:>9.3f}s "
              f"{q['steady']['max']:>6.3f}s")
    print(f"(steady: the bars closing {res['settle_s']:g} s or more after the engine "
          "first caught up; p95/candle: p95 over the candle's wall length)")
    if "status_poll" in res:
        p = res["status_poll"]
        print(f"(published: /api/status every {p['every_s']:g} s, so ± {p['every_s'] / 2:g} s; "
              f"slowest answer {p['slowest_s']:.3f} s; the browser: a chart's data sent whole "
              f"{res.get('browser_resends', 0)} times, not streamed)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30,
                   help="wall minutes of live candles (default 30)")
    p.add_argument("--rate", type=float, default=60,
                   help="the exchange clock's speed: 60 = a 1m candle a second (default 60)")
    p.add_argument("--warmup", type=int, default=500, help="warm-up candles (default 500)")
    p.add_argument("--poll", type=float, default=0.1,
                   help="the feed's most seconds between polls (default 0.1)")
    p.add_argument("--status-every", type=float, default=0.05,
                   help="s between two GET /api/status (default 0.05)")
    p.add_argument("--sample", type=float, default=5, help="s between RSS samples (default 5)")
    p.add_argument("--settle", type=float, default=60,
                   help="s after the first live candle when RSS 'start' is read (default 60; "
                        "at most a fifth of the run)")
    p.add_argument("--via", choices=("serve", "live"), default="serve",
                   help="arena serve (default: dashboard, API, one viewer) or arena live (CLI)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if not 1 <= args.warmup <= 600:
        p.error("--warmup must be 1..600 (the local exchange's history before its clock starts)")
    if args.minutes <= 0 or args.rate <= 0:
        p.error("--minutes and --rate must be positive")
    res = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    report(res)
    return 0 if passed(res) else 1


def passed(res: dict) -> bool:
    """No bar lost, duplicated, reordered or changed, all of them recorded, a quiet server."""
    b, r = res["bars"], res["recording"]
    return not (b["lost"] or b["duplicated"] or b["reordered"] or b["changed"]
                or r["bars"] != r["expected"] or res["server_log_problems"])


if __name__ == "__main__":
    sys.exit(main())

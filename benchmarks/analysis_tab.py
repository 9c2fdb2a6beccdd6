"""The Analysis tab never slows the live page: ``arena serve`` on the default demo (9
agents, 4 symbols, 20 bars/s) with ``--sessions`` dashboard sessions, first all on the
Arena tab, then all on the Analysis tab (each rebuilding its tear sheet as the run
moves: at most once a second and at most a fifth of the time), then back.

    .venv/bin/python benchmarks/analysis_tab.py                  # ~2 min on 2 cores
    .venv/bin/python benchmarks/analysis_tab.py --sessions 1,5 --window 20

The sessions are the protocol-level viewers of ``benchmarks/viewers.py`` (one asyncio
loop in this process); a session "clicks" the tab by sending the change of the page's
Tabs ``active`` property, as the browser does. For each phase (a ``--window`` s
window while the engine runs at 20 bars/s): the engine's pace (bars/s, against the set
pace and the pace with no session in the same server), the server's CPU (share of a
core), how long ``/api/status`` took to answer (median and max: the server's event
loop, which every session's updates also wait for) and the bytes each session
received per second. The ratios are Analysis ÷ Arena for the same sessions.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from viewers import SPEED, Server, Viewers, window


def phase(server: Server, viewers: Viewers, tab: int | None, seconds: float,
          settle: float) -> dict:
    """Every open session on tab ``tab`` (None: as they are), then one window."""
    if tab is not None:
        for v in viewers.open:
            viewers.run(v.set_property("Tabs", "active", tab))
    time.sleep(settle)
    st = server.status()
    if st["state"] != "running" or st["bars"] - st["bar"] < SPEED * (seconds + 5):
        server.restart_run(settle)
    return window(server, viewers, seconds)


def show(label: str, w: dict) -> None:
    print(f"  {label:<22} pace {w['pace']:6.2f} bars/s  server CPU {w['cpu']:6.1%}  "
          f"/api/status {w['latency_med'] * 1000:6.1f} ms median, "
          f"{w['latency_max'] * 1000:7.1f} ms max  {w['bytes_s'] / 1024:8.1f} KB/s per session",
          flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", default="1,5", help="session counts, ascending (default 1,5)")
    p.add_argument("--window", type=float, default=15.0, help="s of each measured window")
    p.add_argument("--settle", type=float, default=4.0, help="s after switching tabs")
    args = p.parse_args(argv)
    counts = [int(x) for x in args.sessions.split(",") if x.strip()]

    tmp = Path(tempfile.mkdtemp(prefix="arena-analysis-"))
    server = Server(tmp, [])
    viewers = Viewers(server.url)
    try:
        print(f"arena serve (default demo) on {server.url}; {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.2f}; set pace {SPEED:g} bars/s", flush=True)
        server.post("step?bars=1")  # the first run loads the kernel and every signal
        server.restart_run(args.settle)
        show("0 sessions", window(server, viewers, args.window))
        for n in counts:
            server.restart_run(1.0)
            while len(viewers.open) < n:
                viewers.add()
            print(f"{n} session(s):", flush=True)
            arena = phase(server, viewers, 0, args.window, args.settle)
            show("Arena tab", arena)
            analysis = phase(server, viewers, 1, args.window, args.settle)
            show("Analysis tab", analysis)
            back = phase(server, viewers, 0, args.window, args.settle)
            show("back on the Arena tab", back)
            print(f"  Analysis ÷ Arena: pace {analysis['pace'] / arena['pace']:.3f}, "
                  f"server CPU {analysis['cpu'] / max(arena['cpu'], 1e-9):.2f}x, "
                  f"/api/status median {analysis['latency_med'] / arena['latency_med']:.2f}x",
                  flush=True)
        errors = [ln for ln in server.log_path.read_text().splitlines()
                  if "Traceback" in ln or " ERROR" in ln]
        if errors:
            print(f"server logged {len(errors)} error line(s): {errors[:3]}", file=sys.stderr)
            return 1
        return 0
    finally:
        viewers.stop()
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())

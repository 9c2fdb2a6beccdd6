"""benchmarks/live_soak.py: its checks of the recording find what is wrong, its clock
maps exchange time to wall time, and a short run of it passes against `arena serve`."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import live_soak  # noqa: E402

from tests.arena.feeds.binance_server import MINUTE, START_MS, BinanceServer  # noqa: E402


def recorded(server: BinanceServer, first_minute: int, n: int):
    """What a faithful recording holds: both symbols' candles ``first_minute`` on, long."""
    import pandas as pd

    frames = []
    for sym, sid in live_soak.SYMBOLS.items():
        c = server.candles(sid)
        c = c[c["time"] >= pd.Timestamp(START_MS + first_minute * MINUTE, unit="ms", tz="UTC")]
        frames.append(c.head(n).assign(symbol=sym))
    return pd.concat(frames, ignore_index=True)


def test_compare_bars_counts_each_fault_and_nothing_on_a_faithful_recording():
    with BinanceServer(now_ms=START_MS + 100 * MINUTE) as server:
        good = recorded(server, 50, 40)
        assert live_soak.compare_bars(good, server) == {
            "lost": 0, "duplicated": 0, "reordered": 0, "changed": 0}
        btc = good["symbol"] == "BTC/USDT"
        lost = good.drop(index=good.index[btc][10])  # one BTC bar missing inside the span
        assert live_soak.compare_bars(lost, server)["lost"] == 1
        dup = good.loc[list(good.index) + [good.index[btc][5]]].sort_index(kind="stable")
        assert live_soak.compare_bars(dup.reset_index(drop=True), server)["duplicated"] == 1
        swapped = good.copy()
        i, j = good.index[btc][3], good.index[btc][4]
        swapped.loc[[i, j]] = good.loc[[j, i]].to_numpy()
        out = live_soak.compare_bars(swapped, server)
        assert out["reordered"] == 1 and out["lost"] == 0 and out["duplicated"] == 0
        changed = good.copy()
        changed.loc[good.index[~btc][7], "close"] *= 1.001
        assert live_soak.compare_bars(changed, server)["changed"] == 1


def test_the_clock_maps_exchange_time_to_this_process_clock():
    with BinanceServer() as server:
        clock = live_soak.Clock(server, 60)
        x = server.now_ms + 30_000  # half a second of wall time at 60x
        assert clock.wall(x) - time.monotonic() == pytest.approx(0.5, abs=0.02)
        time.sleep(max(0.0, clock.wall(x) - time.monotonic()))
        assert server.now_ms == pytest.approx(x, abs=60 * 20)  # within 20 ms of wall time


def test_latencies_over_the_given_bars_count_the_missing_ones():
    with BinanceServer() as server:
        clock = live_soak.Clock(server, 60)
        opens = [START_MS + k * MINUTE for k in range(700, 704)]
        arrivals = {o: clock.wall(o + MINUTE) + d for o, d in zip(opens[:3], (0.1, 0.2, 0.4), strict=True)}
        q = live_soak.latencies(arrivals, opens, clock, series=True)
    assert q["n"] == 3 and q["missing"] == 1 and q["series_ms"] == [100, 200, 400, None]
    assert q["p50"] == pytest.approx(0.2) and q["max"] == pytest.approx(0.4)
    assert q["p95"] == pytest.approx(0.38)  # linear: 0.2 + 0.9 * (0.4 - 0.2)


@pytest.mark.slow
def test_a_short_soak_against_arena_serve_passes_and_reports_every_figure(tmp_path):
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "live_soak.py"), "--minutes", "0.5",
         "--warmup", "300", "--settle", "5", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["recording"] == {"status": "finished", "bars": 330, "expected": 330}
    assert res["bars"] == {"lost": 0, "duplicated": 0, "reordered": 0, "changed": 0}
    assert res["server_log_problems"] == []
    for k in ("published", "llm_request", "decided", "browser"):
        q = res["latency_s"][k]
        assert q["n"] + q["missing"] == 30 and q["n"] >= 25, (k, q)
        assert 0 < q["p50"] <= q["p95"] <= q["max"], (k, q)
    rss = res["rss_mb"]
    assert 100 < rss["start"] <= rss["max"] and 100 < rss["end"] <= rss["max"]
    assert "from the candle close to" in done.stdout and "Traceback" not in done.stderr

"""A live run's decide deadline: the one the engine waits is the one recorded."""

from __future__ import annotations

import time

import pytest

from arena import CompetitionConfig
from arena.engine import load_saved_run
from arena.feeds.liverun import live_config, open_live
from tests.arena.feeds.binance_server import MINUTE, START_MS, BinanceServer

NOW = START_MS + 600 * MINUTE + 30_000


def run_briefly(server, feed_deadline: float | None, config: CompetitionConfig):
    """Open, start and stop a live run; return it and its recorded ``live`` meta."""
    cfg = live_config({"exchange": "binance", "symbols": "BTC/USDT", "warmup": 12,
                       "poll": 0.05}, exchange_config=server.exchange_config(timeout=400),
                      decide_deadline=feed_deadline)
    comp = open_live(cfg, ["buy_and_hold"], config)
    try:
        comp.start()
        end = time.monotonic() + 10
        while comp.bar < 12:
            assert time.monotonic() < end, "the warm-up did not finish"
            time.sleep(0.02)
    finally:
        comp.stop()
        comp.feed.join(5)
    return comp, load_saved_run(comp.run_path).live


@pytest.mark.parametrize(("feed_deadline", "run_deadline", "used"), [
    (None, 0.5, 0.5),  # [run] decide_deadline = 0.5 in the config (was recorded as 30)
    (None, None, 30.0),  # neither: half a 1m candle
    (4.0, None, 4.0),  # only the feed's
    (4.0, 0.5, 0.5),  # both (`arena live --decide-deadline` sets both alike)
])
def test_the_recorded_decide_deadline_is_the_one_the_engine_waits(tmp_path, feed_deadline,
                                                                  run_deadline, used):
    with BinanceServer(now_ms=NOW) as server:
        comp, live = run_briefly(server, feed_deadline, CompetitionConfig(
            run_dir=str(tmp_path), decide_deadline=run_deadline))
    assert comp._deadline() == used  # what a live bar waits for concurrent agents
    assert live["decide_deadline"] == used

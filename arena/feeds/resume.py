"""Resuming a live run: its recording's market, agents and accounts, and a
:class:`~arena.feeds.live.LiveFeed` that continues after the last recorded bar.

``arena live --resume RUN`` and the dashboard's run picker call :func:`resume_live`.
The recorded bars are the agents' history (nothing recorded is fetched again); the
candles that closed while the run was down are fetched and processed in order first,
then live goes on. The exchange config (``--exchange-config``) is not recorded and is
given again; keys come from the environment only, as for any live run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from arena.engine import Competition
from arena.engine.resume import ResumeError, SavedRun, load_saved_run
from arena.feeds.live import LiveConfig, LiveFeed, parse_duration

__all__ = ["ResumeError", "SavedRun", "load_saved_run", "resume_live", "resumed_feed"]


def resumed_feed(saved: SavedRun, exchange_config: Mapping | None = None,
                 duration=None, environ: Mapping[str, str] | None = None) -> LiveFeed:
    """A :class:`LiveFeed` of ``saved``'s market holding its recorded bars, connected
    (:class:`~arena.feeds.errors.FeedError` / ``FetchError`` as for a new live run).

    ``duration``: live time after the last recorded bar (``"2h"``, seconds; the missed
    candles count toward it); None keeps the run's own end (its warm-up plus its
    duration, or its capacity when it had none)."""
    live = saved.live
    if live.get("feed") != "live":
        raise ResumeError(f"run {saved.run_id} was not fed by an exchange ({live.get('feed')} "
                          "feed); continue it with Competition.continue_run and a feed of "
                          "its bars")
    n = saved.bars
    if duration is not None:
        seconds = parse_duration(duration)
        tf_ms = int((saved.times[1] - saved.times[0]) // np.timedelta64(1, "ms"))
        capacity = n + max(1, math.ceil(seconds * 1000 / tf_ms))
    else:
        seconds, capacity = live.get("duration"), int(live["capacity"])
    cfg = LiveConfig(live["exchange"], tuple(live["symbols"]), live["timeframe"],
                     warmup=int(live["warmup"]), duration=seconds, grace=live.get("grace"),
                     poll=live.get("poll"), exchange_config=dict(exchange_config or {}),
                     capacity=capacity, decide_deadline=live.get("decide_deadline"))
    if tuple(cfg.symbols) != saved.symbols:
        raise ResumeError(f"run {saved.run_id}: its live meta names {', '.join(cfg.symbols)}, "
                          f"its bars {', '.join(saved.symbols)}")
    feed = LiveFeed(cfg, environ=environ)
    feed.open(history=(saved.times, saved.ohlcv))
    return feed


def resume_live(run: str | Path, run_dir: str | Path = "runs",
                exchange_config: Mapping | None = None, duration=None,
                environ: Mapping[str, str] | None = None, clock=None) -> Competition:
    """The stopped or interrupted live run ``run`` (a run id under ``run_dir``, or a run
    folder), ready to :meth:`~Competition.start`: same run id, recording, agents and
    accounts; :class:`ResumeError` (a ``RecordingError``) says why a run cannot go on."""
    saved = load_saved_run(run, run_dir)
    feed = resumed_feed(saved, exchange_config, duration, environ)
    try:
        return Competition.continue_run(saved, feed, clock=clock)
    except BaseException:
        feed.stop()
        raise

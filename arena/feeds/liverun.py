"""Building a live competition: what ``arena live`` and ``arena serve`` (and the
dashboard's "Live exchange" data source) share, so a live run is made one way.

``live_config(table)`` turns a ``[live]`` table (or the same keys from flags or a
form) into a :class:`LiveConfig`; :func:`open_live` opens the feed (the warm-up
fetch: :class:`FeedError` for bad input, :class:`FetchError` when the exchange keeps
failing) and returns the :class:`~arena.engine.Competition` on it, not started;
:func:`resume_run` continues a recorded live run (:func:`arena.feeds.resume.resume_live`)
with the exchange config given as ``--exchange-config`` takes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from arena.feeds.exchange import ExchangeConfig
from arena.feeds.live import LiveConfig, LiveFeed

#: keys of a ``[live]`` table, as arena/config.py checks them
LIVE_KEYS = ("exchange", "symbols", "timeframe", "warmup", "duration", "grace", "poll",
             "exchange_config")


def live_config(table: Mapping, exchange_config=None,
                decide_deadline: float | None = None) -> LiveConfig:
    """A :class:`LiveConfig` from a ``[live]`` table; ``exchange_config`` (a dict, JSON
    text or a JSON file, as ``--exchange-config``) replaces the table's."""
    live = dict(table)
    if exchange_config is not None:
        live["exchange_config"] = ExchangeConfig.parse(live.get("exchange", ""),
                                                       exchange_config).params
    symbols = live.get("symbols") or ()
    if isinstance(symbols, str):
        symbols = [symbols]
    return LiveConfig(str(live.get("exchange") or ""), tuple(symbols),
                      live.get("timeframe", "1m"), live.get("warmup", 500),
                      live.get("duration"), live.get("grace"), live.get("poll"),
                      live.get("exchange_config") or {}, decide_deadline=decide_deadline)


def exchange_params(exchange_config) -> dict | None:
    """``--exchange-config`` (a dict, JSON text or a JSON file) as ccxt arguments
    (:class:`FeedError` for bad JSON or a key in it); None stays None."""
    if exchange_config is None:
        return None
    return dict(ExchangeConfig.parse("", exchange_config).params)


def live_source(cfg: LiveConfig) -> str:
    """The run's data source as the dashboard and the leaderboard name it."""
    return f"{cfg.exchange} {','.join(cfg.symbols)} {cfg.timeframe} (live)"


def open_live(cfg: LiveConfig, agents: Sequence, config, environ: Mapping | None = None):
    """The warm-up, then a (not yet started) Competition of ``agents`` on the feed.

    A bar waits the run's ``config.decide_deadline`` (``[run] decide_deadline``) when set,
    else the feed's (``cfg.decide_deadline``, else half a candle); the recording's
    ``meta["live"]["decide_deadline"]`` is the one used (``Competition.live_meta``)."""
    from arena.engine import Competition

    feed = LiveFeed(cfg, environ)
    feed.open()
    try:
        return Competition(feed, list(agents), config, data_source=live_source(cfg))
    except BaseException:
        feed.stop()
        raise


def resume_run(run, run_dir="runs", exchange_config=None, duration=None,
               environ: Mapping | None = None):
    """The stopped or interrupted live run ``run``, idle until ``start()``
    (``ResumeError`` says why it cannot go on; ``FeedError``/``FetchError`` as for
    :func:`open_live`). ``exchange_config`` as ``--exchange-config`` takes it."""
    from arena.feeds.resume import resume_live

    params = exchange_params(exchange_config)
    return resume_live(run, run_dir, params, duration, environ)

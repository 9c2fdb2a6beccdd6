"""Where bars come from beyond the bundled files: exchange history through ccxt.

* :mod:`~arena.feeds.exchange`: the ccxt client of one exchange from a plain config
  (proxies, mirrors, keys from environment variables), with retries;
* :mod:`~arena.feeds.history`: paging through closed candles, each once, in order;
* :mod:`~arena.feeds.cache`: the local Parquet cache, written atomically;
* :mod:`~arena.feeds.fetch`: :func:`fetch_history`, what ``arena data fetch`` runs;
* :mod:`~arena.feeds.live`: bars that arrive over time: the :class:`Feed` protocol a
  :class:`~arena.engine.Competition` runs on, :class:`LiveFeed` (closed candles of an
  exchange, polled in a thread; what ``arena live`` runs) and :class:`HistoryFeed`.

Cached files are ordinary long-format data files: ``arena.data.load(path)`` and
``arena run --data path`` read them. ccxt is imported only when an exchange is used.
"""

from arena.feeds.cache import CandleCache, default_path, list_caches
from arena.feeds.errors import FeedError, FetchError
from arena.feeds.exchange import ExchangeClient, ExchangeConfig
from arena.feeds.fetch import FetchResult, fetch_history
from arena.feeds.history import Timeframe, closed_pages
from arena.feeds.live import Feed, HistoryFeed, LiveConfig, LiveFeed
from arena.feeds.retry import RetryPolicy

__all__ = [
    "CandleCache",
    "ExchangeClient",
    "ExchangeConfig",
    "Feed",
    "FeedError",
    "FetchError",
    "FetchResult",
    "HistoryFeed",
    "LiveConfig",
    "LiveFeed",
    "RetryPolicy",
    "Timeframe",
    "closed_pages",
    "default_path",
    "fetch_history",
    "list_caches",
]

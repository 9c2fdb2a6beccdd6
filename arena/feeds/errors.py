"""The two ways a download fails: a bad request (the user's) and an exchange that kept failing."""

from __future__ import annotations


class FeedError(ValueError):
    """Bad input: unknown exchange, symbol or timeframe, a bad date, config or cache file.

    ``str(err)`` is one line naming the input and what was wrong.
    """


class FetchError(RuntimeError):
    """The exchange kept failing (or refused a request); the message names the exchange,
    the symbol and the request, and never a secret."""

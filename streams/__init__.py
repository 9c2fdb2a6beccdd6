"""Streaming tables between one writer thread and many readers.

``StreamFrame`` is an append-only table read by id cursor; ``KeyedTable``
holds the latest row per key and is read by version. Neither knows what the
rows mean.
"""

from .frame import StreamFrame
from .table import KeyedTable

__all__ = ["KeyedTable", "StreamFrame"]

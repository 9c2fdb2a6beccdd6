"""Keyed "latest value" table: one row per key, readers pull only what changed.

Every change bumps ``version``. A reader keeps the version it was last given
and asks ``changed_since(version)`` for the rows upserted and the keys removed
after it, so a view can patch just those rows::

    board = KeyedTable("agent", ["agent", "equity", "return_pct"])
    board.upsert({"agent": "momentum", "equity": 10_250.0, "return_pct": 2.5})
    rows, removed, version = board.changed_since(version)

A composite key, e.g. ``("agent", "symbol")``, is addressed by a tuple.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from .frame import _build_frame, _check_columns

__all__ = ["KeyedTable"]


class KeyedTable:
    """Thread-safe table holding the latest row for each key.

    Parameters
    ----------
    key
        Key column name, or several names for a composite key.
    columns
        Column names in output order. Key columns not listed are put first.
    name
        Label used in error messages and ``repr``.

    An upsert may give only some columns: the others keep their previous
    value (``None`` for a new key). Rows come out in the order their keys
    were first inserted.
    """

    def __init__(self, key: str | Sequence[str], columns: Sequence[str], name: str = "") -> None:
        self.name = name
        owner = self._owner()
        keys = _check_columns([key] if isinstance(key, str) else key, owner)
        given = _check_columns(columns, owner)
        self._key = keys
        self._columns = tuple(k for k in keys if k not in given) + given
        self._column_set = frozenset(self._columns)
        self._position = {c: i for i, c in enumerate(self._columns)}
        self._lock = threading.Lock()
        self._rows: dict[Hashable, list] = {}  # key -> values in column order
        self._changed: dict[Hashable, int] = {}  # key -> version of its last upsert
        self._removed: dict[Hashable, int] = {}  # key -> version it was removed at
        self._version = 0
        self._epoch = 0

    # -- writer ---------------------------------------------------------

    def upsert(self, row: Mapping[str, Any]) -> None:
        """Insert or update the row of ``row``'s key (key columns required)."""
        key, updates = self._parse(row)
        with self._lock:
            self._version += 1
            self._apply(key, updates)

    def upsert_many(self, rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> None:
        """Upsert several rows as one change (one version step); all or nothing."""
        if isinstance(rows, pd.DataFrame):
            rows = rows.to_dict("records")
        parsed = [self._parse(row, f" row {i}") for i, row in enumerate(rows)]
        if not parsed:
            return
        with self._lock:
            self._version += 1
            for key, updates in parsed:
                self._apply(key, updates)

    def remove(self, key: Any) -> bool:
        """Drop the row of ``key``; return whether it was there."""
        key = self._check_key(key)
        with self._lock:
            if key not in self._rows:
                return False
            self._version += 1
            del self._rows[key], self._changed[key]
            self._removed[key] = self._version
            return True

    def clear(self) -> None:
        """Drop every row and bump ``epoch`` (they count as removed for readers)."""
        with self._lock:
            self._version += 1
            self._epoch += 1
            for key in self._rows:
                self._removed[key] = self._version
            self._rows.clear()
            self._changed.clear()

    # -- readers --------------------------------------------------------

    def snapshot(self) -> pd.DataFrame:
        """All rows, in the order their keys were first inserted."""
        with self._lock:
            rows = list(self._rows.values())
        return self._frame(rows)

    def changed_since(self, version: int) -> tuple[pd.DataFrame, list, int]:
        """Rows upserted and keys removed after ``version``, and the current version.

        Replaying every ``changed_since`` result in turn (upsert the rows,
        drop the removed keys) reproduces ``snapshot()``.
        """
        with self._lock:
            if version > self._version:
                raise ValueError(
                    f"{self._owner()}: version {version} is ahead of this table "
                    f"(version {self._version}); start again from 0"
                )
            rows = [self._rows[k] for k, v in self._changed.items() if v > version]
            removed = [k for k, v in self._removed.items() if v > version]
            current = self._version
        return self._frame(rows), removed, current

    def get(self, key: Any) -> dict | None:
        """The row of ``key`` as a dict, or None."""
        key = self._check_key(key)
        with self._lock:
            values = self._rows.get(key)
            return None if values is None else dict(zip(self._columns, values, strict=True))

    @property
    def key(self) -> list[str]:
        return list(self._key)

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    @property
    def version(self) -> int:
        """Incremented by every change (upsert, upsert_many, remove, clear)."""
        return self._version

    @property
    def epoch(self) -> int:
        """Incremented by every ``clear()``."""
        return self._epoch

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: Any) -> bool:
        return self._check_key(key) in self._rows

    def __repr__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return (
            f"<KeyedTable{label} key={list(self._key)} columns={list(self._columns)} "
            f"rows={len(self)} version={self._version} epoch={self._epoch}>"
        )

    # -- internals --------------------------------------------------------

    def _owner(self) -> str:
        return f"KeyedTable {self.name!r}" if self.name else "KeyedTable"

    def _frame(self, rows: list[list]) -> pd.DataFrame:
        data = [list(column) for column in zip(*rows, strict=True)] if rows else None
        if data is None:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in self._columns})
        return _build_frame(self._columns, data, pd.RangeIndex(len(rows)))

    def _apply(self, key: Hashable, updates: list[tuple[int, Any]]) -> None:
        """Merge ``updates`` into the row of ``key`` (caller holds the lock)."""
        values = self._rows.get(key)
        if values is None:
            values = self._rows[key] = [None] * len(self._columns)
            self._removed.pop(key, None)
        else:
            values = self._rows[key] = list(values)  # readers may hold the old list
        for position, value in updates:
            values[position] = value
        self._changed[key] = self._version

    def _parse(self, row: Any, where: str = "") -> tuple[Hashable, list[tuple[int, Any]]]:
        owner = self._owner()
        if not isinstance(row, Mapping):
            raise TypeError(f"{owner}{where}: a row must be a mapping, got {type(row).__name__}")
        unknown = [c for c in row if c not in self._column_set]
        if unknown:
            raise ValueError(f"{owner}{where}: unknown column(s) {', '.join(map(repr, unknown))}")
        missing = [k for k in self._key if k not in row]
        if missing:
            raise ValueError(
                f"{owner}{where}: key column(s) {', '.join(map(repr, missing))} missing"
            )
        parts = tuple(row[k] for k in self._key)
        key = parts[0] if len(parts) == 1 else parts
        try:
            hash(key)
        except TypeError:
            raise ValueError(f"{owner}{where}: key {key!r} is not hashable") from None
        return key, [(self._position[c], v) for c, v in row.items()]

    def _check_key(self, key: Any) -> Hashable:
        if len(self._key) > 1 and (not isinstance(key, tuple) or len(key) != len(self._key)):
            raise ValueError(
                f"{self._owner()}: key must be a tuple of {len(self._key)} values "
                f"({', '.join(self._key)}), got {key!r}"
            )
        try:
            hash(key)
        except TypeError:
            raise ValueError(f"{self._owner()}: key {key!r} is not hashable") from None
        return key

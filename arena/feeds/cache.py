"""The local candle cache: Parquet files that any loader reads, written atomically.

A cache file holds the candles of one exchange and timeframe for one or more
symbols, in the long layout every loader reads (:mod:`arena.data.files`):
``time`` (UTC), ``symbol``, ``open``, ``high``, ``low``, ``close``, ``volume``,
grouped by symbol, each symbol's times strictly increasing. The exchange and
timeframe are stored in the file's metadata (key ``arena.candles``). By default
each symbol has its own file, ``<cache_dir>/<exchange>/<SYMBOL>-<TF>.parquet``,
with the symbol made filename-safe (``BTC/USDT`` → ``BTC-USDT``,
``BTC/USDT:USDT`` → ``BTC-USDT_USDT``).

Every save writes the whole file to a temporary file next to it and renames it
over the old one (``os.replace``), so a reader, or a fetch killed at any moment,
sees the last complete file. While a :class:`CandleCache` is open it holds a lock
on the file (``.<name>.lock``), so two fetches never write it at once.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from arena.feeds.errors import FeedError
from arena.feeds.history import CANDLE_COLUMNS

META_KEY = b"arena.candles"
FORMAT = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_symbol(symbol: str) -> str:
    """``symbol`` as a file name part: ``/`` → ``-``, ``:`` and other unsafe characters → ``_``."""
    return _UNSAFE.sub("_", symbol.replace("/", "-"))


def default_path(cache_dir: str | os.PathLike, exchange: str, symbol: str, timeframe: str) -> Path:
    """``<cache_dir>/<exchange>/<SYMBOL>-<TF>.parquet``."""
    return Path(cache_dir) / exchange / f"{safe_symbol(symbol)}-{timeframe}.parquet"


def read_meta(path: str | os.PathLike) -> dict | None:
    """The cache metadata of a Parquet file (``exchange``, ``timeframe``), or ``None``."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if META_KEY not in meta:
        return None
    return json.loads(meta[META_KEY])


class CandleCache:
    """One cache file, open for adding candles (``with CandleCache(...) as cache:``).

    Reads the file if it exists (it must be a cache of the same exchange and
    timeframe). :meth:`add` keeps only candles after a symbol's last one, so no
    candle is stored twice; :meth:`save` writes the file atomically.
    """

    def __init__(self, path: str | os.PathLike, exchange: str, timeframe: str):
        self.path = Path(path)
        self.exchange, self.timeframe = exchange, timeframe
        self._parts: dict[str, list[pd.DataFrame]] = {}
        self._last: dict[str, pd.Timestamp] = {}
        self._lock = _lock(self.path)
        try:
            _remove_leftovers(self.path)
            if self.path.exists():
                self._read()
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @property
    def symbols(self) -> list[str]:
        return list(self._parts)

    def last(self, symbol: str) -> pd.Timestamp | None:
        """Open time of ``symbol``'s last cached candle (UTC), or ``None``."""
        return self._last.get(symbol)

    def count(self, symbol: str) -> int:
        return sum(len(p) for p in self._parts.get(symbol, ()))

    def first(self, symbol: str) -> pd.Timestamp | None:
        parts = self._parts.get(symbol)
        return parts[0]["time"].iloc[0] if parts else None

    def add(self, symbol: str, candles: pd.DataFrame) -> int:
        """Append ``candles`` (sorted, unique times) after ``symbol``'s last; returns how many."""
        last = self._last.get(symbol)
        new = candles if last is None else candles[candles["time"] > last]
        if new.empty:
            return 0
        self._parts.setdefault(symbol, []).append(new.loc[:, list(CANDLE_COLUMNS)])
        self._last[symbol] = new["time"].iloc[-1]
        return len(new)

    def frame(self) -> pd.DataFrame:
        """Every cached candle in the file's layout (grouped by symbol, then time)."""
        for symbol, parts in self._parts.items():
            if len(parts) > 1:  # pages collapse into one frame per symbol
                self._parts[symbol] = [pd.concat(parts, ignore_index=True)]
        pieces = [parts[0].assign(symbol=s) for s, parts in self._parts.items()]
        if not pieces:
            return _empty()
        frame = pd.concat(pieces, ignore_index=True)
        return frame[["time", "symbol", *CANDLE_COLUMNS[1:]]]

    def save(self) -> None:
        """Write the file atomically (temporary file, flush to disk, rename)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(self.frame(), preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[META_KEY] = json.dumps({"exchange": self.exchange, "timeframe": self.timeframe,
                                     "format": FORMAT}).encode()
        table = table.replace_schema_metadata(meta)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pq.write_table(table, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _read(self) -> None:
        where = f"cache file {self.path}"
        try:
            meta = read_meta(self.path)
            frame = pd.read_parquet(self.path) if meta is not None else None
        except (OSError, ValueError) as exc:
            raise FeedError(f"{where}: cannot read it ({exc}); delete it to start over") from None
        if meta is None:
            raise FeedError(f"{where} is not a candle cache written by `arena data fetch`; "
                            "choose another file")
        if (meta.get("exchange"), meta.get("timeframe")) != (self.exchange, self.timeframe):
            raise FeedError(f"{where} holds {meta.get('exchange')} {meta.get('timeframe')} "
                            f"candles, not {self.exchange} {self.timeframe}; choose another file")
        frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[ns, UTC]")
        for symbol, rows in frame.groupby("symbol", sort=False):
            self._parts[str(symbol)] = [rows.loc[:, list(CANDLE_COLUMNS)].reset_index(drop=True)]
            self._last[str(symbol)] = rows["time"].max()


def list_caches(cache_dir: str | os.PathLike = "data") -> pd.DataFrame:
    """The cached sets under ``cache_dir``: one row per file and symbol with
    ``exchange, symbol, timeframe, first, last, candles, path`` (times UTC).
    Files that are not readable caches are skipped."""
    rows = []
    for path in sorted(Path(cache_dir).rglob("*.parquet")):
        try:
            meta = read_meta(path)
            if meta is None:
                continue
            frame = pd.read_parquet(path, columns=["time", "symbol"])
        except (OSError, ValueError):
            continue
        times = pd.to_datetime(frame["time"], utc=True)
        for symbol, t in times.groupby(frame["symbol"], sort=False):
            rows.append({"exchange": meta.get("exchange"), "symbol": str(symbol),
                         "timeframe": meta.get("timeframe"), "first": t.min(), "last": t.max(),
                         "candles": len(t), "path": str(path)})
    columns = ["exchange", "symbol", "timeframe", "first", "last", "candles", "path"]
    return pd.DataFrame(rows, columns=columns)


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in CANDLE_COLUMNS[1:]})
    frame.insert(0, "symbol", pd.Series(dtype=object))
    frame.insert(0, "time", pd.Series(dtype="datetime64[ns, UTC]"))
    return frame


def _remove_leftovers(path: Path) -> None:
    """Temporary files of a save that was killed half way (under the lock: none is live)."""
    if path.parent.is_dir():
        for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()


class _Lock:
    """An exclusive lock on ``.<name>.lock`` next to a cache file (POSIX ``flock``)."""

    def __init__(self, path: Path):
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path.with_name(f".{path.name}.lock"), "a")  # noqa: SIM115 - held open
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.close()
            raise FeedError(f"cache file {path} is being written by another fetch; "
                            "wait for it to finish") from None

    def close(self) -> None:
        self._file.close()


def _lock(path: Path) -> _Lock | None:
    try:
        import fcntl  # noqa: F401 - POSIX only
    except ImportError:  # pragma: no cover - Windows: no lock
        return None
    return _Lock(path)

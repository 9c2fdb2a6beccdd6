"""A sweep's results folder as a page reads it while the sweep writes it: a cheap
signature of its files (names, sizes, times) to notice new parts, and the counts
of tasks done and planned (``sweep.json``'s ``tasks``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from arena.sweep.results import MANIFEST, PARTS, RESULTS, load_results, read_manifest

__all__ = ["Snapshot", "SweepFolder"]


@dataclass(frozen=True)
class Snapshot:
    """What the folder held at one look."""

    results: pd.DataFrame
    manifest: dict = field(default_factory=dict)

    @property
    def done(self) -> int:
        """Tasks with a result row (each once)."""
        return int(self.results["task_id"].nunique()) if "task_id" in self.results else 0

    @property
    def planned(self) -> int | None:
        """Tasks the sweep planned (None without a manifest saying so)."""
        n = self.manifest.get("tasks")
        return int(n) if isinstance(n, int) and not isinstance(n, bool) else None

    @property
    def finished(self) -> bool:
        return self.planned is not None and self.done >= self.planned


class SweepFolder:
    """Reads ``out`` again only when its files changed (:meth:`changed`)."""

    def __init__(self, out):
        self.out = Path(out)
        if not self.out.is_dir():
            raise FileNotFoundError(f"no sweep results folder {self.out}")
        self._signature: tuple | None = None

    def signature(self) -> tuple:
        """Name, size and modification time of the manifest, the table and each part."""
        files = [self.out / MANIFEST, self.out / RESULTS]
        parts = self.out / PARTS
        if parts.is_dir():
            files += sorted(parts.glob("part-*.parquet"))
        out = []
        for f in files:
            try:
                st = f.stat()
            except FileNotFoundError:  # (not there, or renamed meanwhile)
                continue
            out.append((f.name, st.st_size, st.st_mtime_ns))
        return tuple(out)

    def read(self) -> Snapshot:
        """The folder now (a part removed while reading: read again)."""
        for _ in range(3):
            try:
                results = load_results(self.out)
                break
            except FileNotFoundError:
                continue
        else:
            results = load_results(self.out)
        return Snapshot(results, read_manifest(self.out))

    def changed(self) -> Snapshot | None:
        """A new snapshot if the files changed since the last call, else None."""
        sig = self.signature()
        if sig == self._signature:
            return None
        snap = self.read()
        self._signature = sig
        return snap

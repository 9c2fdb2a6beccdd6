"""A sweep's results folder: one Parquet table, one row per task.

``OUT/parts/part-*.parquet`` are written while a sweep runs (each atomically: a
temporary name, then a rename), so a sweep that is killed keeps every part it
finished and a re-run into the same folder skips those task ids.
``OUT/results.parquet`` is the whole table, written when a sweep ends (then the
parts are removed); :func:`load_results` reads both, a task once. ``OUT/sweep.json``
describes the sweep (what was asked, how many tasks). The folder keeps every task
ever run into it; a sweep's own frame is the rows of its tasks.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pandas as pd

__all__ = ["MANIFEST", "RESULTS", "ResultsWriter", "load_results", "read_manifest",
           "save_results", "to_frame", "write_manifest"]

RESULTS = "results.parquet"
PARTS = "parts"
MANIFEST = "sweep.json"


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a frame Parquet can store: a column holding several kinds of value
    (a parameter that is a number for one agent, text for another) becomes text."""
    df = pd.DataFrame(rows)
    for col in df.columns[[pd.api.types.is_object_dtype(d) for d in df.dtypes]]:
        kinds = {type(v) for v in df[col] if v is not None and not _isnan(v)}
        if len(kinds) > 1 and kinds <= {int, float}:
            df[col] = df[col].astype(float)
        elif len(kinds) > 1:
            df[col] = [None if v is None or _isnan(v) else str(v) for v in df[col]]
    return df


def _isnan(v) -> bool:
    return isinstance(v, float) and v != v


def load_results(out) -> pd.DataFrame:
    """Every task's row in a results folder (finished sweeps and parts of unfinished
    ones), each task once."""
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"no sweep results folder {out}")
    files = ([out / RESULTS] if (out / RESULTS).exists() else []) + _parts(out)
    frames = [pd.read_parquet(f) for f in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["task_id"])
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return df.drop_duplicates("task_id", keep="first").reset_index(drop=True)


def _parts(out: Path) -> list[Path]:
    return sorted(p for p in (out / PARTS).glob("part-*.parquet")) if (out / PARTS).is_dir() else []


def write_manifest(out, info: dict) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / MANIFEST, lambda p: p.write_text(json.dumps(info, indent=2, default=str)))


def read_manifest(out) -> dict:
    try:
        return json.loads((Path(out) / MANIFEST).read_text())
    except FileNotFoundError:
        return {}


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_results(out, df: pd.DataFrame) -> None:
    """Replace a folder's table with ``df`` (atomically)."""
    df = to_frame(df.to_dict("records")) if len(df) else df
    _atomic(Path(out) / RESULTS, lambda p: df.to_parquet(p, index=False))


class ResultsWriter:
    """Appends result rows to a results folder in parts; :meth:`finish` writes the table."""

    def __init__(self, out):
        self.out = Path(out)
        (self.out / PARTS).mkdir(parents=True, exist_ok=True)
        self._rows: list[dict] = []

    @property
    def pending(self) -> int:
        return len(self._rows)

    def done_ids(self) -> set[str]:
        return set(load_results(self.out)["task_id"])

    def add(self, row: dict) -> None:
        self._rows.append(row)

    def flush(self) -> None:
        """Write the pending rows as one part (atomically)."""
        if not self._rows:
            return
        df = to_frame(self._rows)
        name = f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        _atomic(self.out / PARTS / name, lambda p: df.to_parquet(p, index=False))
        self._rows = []

    def finish(self, order: list[str]) -> pd.DataFrame:
        """Write ``results.parquet`` (the tasks of ``order`` first, in that order, then
        any others the folder holds), remove the parts; the rows of ``order``."""
        self.flush()
        parts = _parts(self.out)
        df = load_results(self.out)
        rank = {tid: i for i, tid in enumerate(order)}
        key = df["task_id"].map(rank).fillna(len(rank) + df.index.to_series())
        df = df.iloc[key.argsort(kind="stable")].reset_index(drop=True)
        save_results(self.out, df)
        for p in parts:
            p.unlink(missing_ok=True)
        df = pd.read_parquet(self.out / RESULTS)  # what a reader gets
        return df[df["task_id"].isin(rank)].reset_index(drop=True)

"""Run a sweep's tasks on Dask: an embedded LocalCluster, or a given scheduler.

:func:`run_tasks` is the one entry point (the CLI, walk-forward and tournaments use
it): it scatters each market's bars to every worker once, submits the tasks in
chunks (a few dozen competitions per Dask task, under a key made from their ids),
gathers results as chunks complete, and writes them in parts under ``out`` (resume:
tasks found there are not run again). A worker that dies has its chunks run
elsewhere by the scheduler; rows are keyed by task id, so none is lost or counted
twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from arena.data.market import MarketData
from arena.engine import CompetitionConfig
from arena.sweep.batch import run_chunk
from arena.sweep.compete import EXTRA_STATS, LEADERBOARD_STATS, LOWER_IS_BETTER, run_task
from arena.sweep.results import ResultsWriter, to_frame
from arena.sweep.tasks import Task

__all__ = ["EXTRA_STATS", "LEADERBOARD_STATS", "LOWER_IS_BETTER", "SchedulerError",
           "open_client", "run_chunk", "run_task", "run_tasks"]

class SchedulerError(ValueError):
    """A Dask scheduler that cannot be reached or used."""


@contextlib.contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None,
                timeout: float = 5.0):
    """A dask.distributed Client: to ``scheduler`` (an address such as
    ``tcp://host:8786``), else to an embedded LocalCluster of ``workers`` (default 2)
    single-threaded worker processes, closed on exit."""
    from distributed import Client, LocalCluster

    if scheduler:
        if workers is not None:
            raise SchedulerError("--workers starts a local cluster; with --scheduler the "
                                 "cluster's own workers run the tasks")
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, ValueError, TypeError) as exc:
            raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler!r}: "
                                 f"{' '.join(str(exc).split()) or type(exc).__name__}") from None
        with client:
            yield client
        return
    if workers is not None and workers < 1:
        raise SchedulerError(f"--workers must be >= 1, got {workers}")
    with _workers_ignore_ctrl_c():
        cluster = LocalCluster(n_workers=workers or 2, processes=True, threads_per_worker=1,
                               dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


@contextlib.contextmanager
def _workers_ignore_ctrl_c():
    """Worker processes started meanwhile ignore SIGINT (an ignored signal stays ignored
    in a child): Ctrl-C in a terminal reaches the whole process group, and the sweep
    closes its cluster itself rather than have each worker print a traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_tasks(tasks: Sequence[Task], markets: Mapping[str, MarketData],
              config: CompetitionConfig, *, client=None, out=None,
              progress: Callable[[int, int], None] | None = None,
              flush_rows: int = 100, flush_seconds: float = 1.0) -> pd.DataFrame:
    """Run ``tasks`` and return their results, one row each in task order.

    ``client``: a dask.distributed Client (None: run here, one after another).
    ``out``: a results folder (:mod:`arena.sweep.results`); tasks already there are
    not run again. ``progress(done, total)`` is called as tasks complete (``done``
    counts the resumed ones). The frame's ``attrs`` say ``ran`` and ``resumed``.
    """
    writer = ResultsWriter(out) if out is not None else None
    done = writer.done_ids() if writer else set()
    todo = list({t.id: t for t in tasks if t.id not in done}.values())
    total, count = len({t.id for t in tasks}), len(done & {t.id for t in tasks})
    rows: list[dict] = []
    last_flush = time.monotonic()

    def take(row: dict) -> None:
        nonlocal count, last_flush
        rows.append(row)
        count += 1
        if writer:
            writer.add(row)
            if writer.pending >= flush_rows or time.monotonic() - last_flush >= flush_seconds:
                writer.flush()
                last_flush = time.monotonic()
        if progress:
            progress(count, total)

    if progress:
        progress(count, total)
    try:
        if client is None:
            for chunk in _chunks(todo, 1):
                for row in run_chunk(chunk, markets[chunk[0].market], config):
                    take(row)
        else:
            _on_dask(client, todo, markets, config, take)
    finally:
        if writer:
            writer.flush()
    if writer:
        frame = writer.finish([t.id for t in tasks])
    else:
        order = {t.id: i for i, t in enumerate(tasks)}
        frame = to_frame(sorted(rows, key=lambda r: order[r["task_id"]]))
        frame = pd.read_parquet(io.BytesIO(frame.to_parquet(index=False)))  # as on disk
    frame.attrs.update(ran=len(todo), resumed=total - len(todo))
    return frame


def _chunks(todo: list[Task], n_workers: int, most: int = 64) -> list[list[Task]]:
    """Tasks grouped by market into chunks: about 8 per worker, at most ``most`` tasks;
    a window's tasks next to each other (:func:`~arena.sweep.batch.run_chunk` runs the
    rule agents of one window and seed as one competition)."""
    size = max(1, min(most, math.ceil(len(todo) / (8 * max(1, n_workers)))))
    by_market: dict[str, list[Task]] = {}
    for t in sorted(todo, key=lambda t: (t.lo, t.hi, t.seed)):  # stable: specs keep order
        by_market.setdefault(t.market, []).append(t)
    return [ts[i:i + size] for ts in by_market.values() for i in range(0, len(ts), size)]


def _on_dask(client, todo: list[Task], markets, config, take) -> None:
    from distributed import as_completed

    if not todo:
        return
    needed = sorted({t.market for t in todo})  # keys of their own, not the market names
    data = dict(zip(needed, client.scatter([markets[m] for m in needed], broadcast=True,
                                           hash=False), strict=True))
    n_workers = len(client.scheduler_info(n_workers=-1).get("workers", {})) or 1
    futures = []
    for chunk in _chunks(todo, n_workers):
        ids = hashlib.sha256(" ".join(t.id for t in chunk).encode()).hexdigest()[:16]
        futures.append(client.submit(run_chunk, chunk, data[chunk[0].market], config,
                                     key=f"arena-tasks-{ids}"))
    seen = set()
    try:
        for _future, rows in as_completed(futures, with_results=True):
            for row in rows:
                if row["task_id"] not in seen:  # each key completes once; kept to be sure
                    seen.add(row["task_id"])
                    take(row)
    finally:
        client.cancel(futures + list(data.values()))

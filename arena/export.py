"""Exporting a recorded run: its tables as CSV or Parquet, its charts and report.

::

    from arena import export
    export.export("runs/20240105-...", "trades", "parquet", "trades.parquet")
    export.table("20240105-...", "leaderboard")          # a DataFrame

Tables (equity, drawdown, leaderboard, trades, decisions, prices) are built
here from the recording and written as formula-safe CSV (``arena.csvsafe``) or
Parquet (types kept: UTC times, booleans, missing values). Charts (PNG, SVG,
standalone HTML), the one-file HTML report and an agent's tear sheet (HTML or PNG)
are drawn by ``arena.ui.export``, imported only when one is asked for, so this
module stays free of UI libraries.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from arena.csvsafe import to_csv
from arena.metrics import STAT_KEYS, buy_and_hold_return, compute_stats
from arena.recorder import DB_NAME, Recording, RecordingError, list_runs

__all__ = ["FORMATS", "WHATS", "ExportError", "export", "export_bytes", "leaderboard",
           "open_run", "table"]

TABLE_FORMATS = ("csv", "parquet")
PLOT_FORMATS = ("png", "svg", "html")
FORMATS: dict[str, tuple[str, ...]] = {
    "equity": PLOT_FORMATS + TABLE_FORMATS,
    "drawdown": PLOT_FORMATS + TABLE_FORMATS,
    "prices": PLOT_FORMATS + TABLE_FORMATS,
    "leaderboard": TABLE_FORMATS,
    "trades": TABLE_FORMATS,
    "decisions": TABLE_FORMATS,
    "report": ("html",),
    "tearsheet": ("html", "png"),
}
WHATS = tuple(FORMATS)
EXTENSIONS = {"png": "png", "svg": "svg", "html": "html", "csv": "csv", "parquet": "parquet"}
DEFAULT_SIZE = (1000, 500)


class ExportError(ValueError):
    """A request that cannot be exported: unknown run, item, format or an unwritable path."""


# -- the run -----------------------------------------------------------------------------
def open_run(run: str | Path | Recording, runs_dir: str | Path = "runs") -> Recording:
    """The recording ``run`` names: a run id under ``runs_dir``, a run folder or an
    ``arena.sqlite`` file (a :class:`Recording` is passed through)."""
    if isinstance(run, Recording):
        return run
    text = str(run)
    candidates = [Path(text)]
    if text and os.sep not in text and "/" not in text:
        candidates.insert(0, Path(runs_dir) / text)
    for path in candidates:
        if path.is_file() or (path / DB_NAME).is_file():
            try:
                return Recording(path)
            except RecordingError as exc:
                raise ExportError(str(exc)) from None
    known = list_runs(runs_dir)["run_id"].tolist()
    have = (f"runs under {runs_dir}/: {', '.join(known[-5:])}" if known
            else f"no recorded runs under {runs_dir}/")
    raise ExportError(
        f"unknown run {text!r}: not a run id under {runs_dir}/, a run folder or an "
        f"{DB_NAME} file ({have}; `arena runs --run-dir DIR` lists them)")


@contextmanager
def _opened(run: str | Path | Recording, runs_dir: str | Path) -> Iterator[Recording]:
    """The run's recording, closed afterwards unless the caller passed it in."""
    rec = open_run(run, runs_dir)
    try:
        yield rec
    finally:
        if rec is not run:
            rec.close()


# -- tables ------------------------------------------------------------------------------
def table(run: str | Path | Recording, what: str, runs_dir: str | Path = "runs") -> pd.DataFrame:
    """The table ``what`` of a run, as exported to CSV and Parquet."""
    _check(what, "csv")
    with _opened(run, runs_dir) as rec:
        return _table(rec, what)


def _table(rec: Recording, what: str) -> pd.DataFrame:
    if what == "equity":
        return rec.equity()
    if what == "drawdown":
        return rec.equity()[["bar", "time", "agent", "drawdown_pct"]]
    if what == "leaderboard":
        return leaderboard(rec)
    if what == "trades":
        return _floats(rec.trades(), "quantity", "price", "fee", "pnl", "position")
    if what == "decisions":
        return _floats(rec.decisions(), "confidence")
    return rec.bars()


def _floats(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """``columns`` as float64 (SQLite gives an all-NULL column, e.g. the pnl of a run
    with entries only, as objects; the exported schema stays the same)."""
    for col in columns:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame


USAGE_KEYS = ("tokens", "latency_ms", "cost_usd")


def _llm_usage(rec: Recording) -> dict[str, dict]:
    """Per agent with LLM calls: tokens (in + out), mean latency of answered calls, cost."""
    calls = rec.llm_calls()
    out = {}
    for name, mine in calls.groupby("agent", sort=False):
        answered = mine["latency_ms"][mine["response"].notna()].astype(float)
        out[name] = {"tokens": int(mine["tokens_in"].sum() + mine["tokens_out"].sum()),
                     "latency_ms": float(answered.mean()) if len(answered) else math.nan,
                     "cost_usd": float(mine["cost_usd"].sum())}
    return out


def models_answered(board: pd.DataFrame) -> bool:
    """Whether any agent of a leaderboard had an LLM answer (tokens or a latency):
    the tables show the ``USAGE_KEYS`` columns only then."""
    return bool((board["tokens"] > 0).any() or board["latency_ms"].notna().any())


def leaderboard(rec: Recording) -> pd.DataFrame:
    """Every statistic of ``arena.metrics.compute_stats`` per agent, from the recording,
    ranked by final equity; ``errors`` counts the agent's ``agent_error`` events;
    ``tokens``, ``latency_ms`` (mean over answered calls) and ``cost_usd`` total its
    LLM calls, as the live leaderboard does (0, NaN, 0 for agents without)."""
    equity = rec.equity()
    trades = rec.trades()
    events = rec.events()
    bars = rec.bars()
    names = rec.agents()["name"].tolist()
    columns = ["rank", "agent", *STAT_KEYS, "errors", *USAGE_KEYS]
    if equity.empty:
        return pd.DataFrame(columns=columns)
    close = bars.pivot(index="bar", columns="symbol", values="close").to_numpy(dtype=float)
    bench = buy_and_hold_return(close) if len(close) else math.nan
    periods = rec.meta.get("periods_per_year")
    errors = events[events["kind"] == "agent_error"]["agent"].value_counts()
    usage = _llm_usage(rec)
    rows = []
    for name in names:
        mine = equity[equity["agent"] == name]
        if mine.empty:
            continue
        curve = pd.Series(mine["equity"].to_numpy(), index=pd.DatetimeIndex(mine["time"]))
        stats = compute_stats(curve, trades[trades["agent"] == name],
                              invested=mine["invested"].to_numpy(), benchmark=bench,
                              periods_per_year=periods)
        rows.append({"agent": name, **stats.to_dict(), "errors": int(errors.get(name, 0)),
                     **usage.get(name, {"tokens": 0, "latency_ms": math.nan, "cost_usd": 0.0})})
    board = pd.DataFrame(rows)
    board = board.sort_values("equity_final", ascending=False, kind="stable")
    board.insert(0, "rank", np.arange(1, len(board) + 1))
    board = board.reset_index(drop=True)[columns].infer_objects()
    for col in ("start", "end"):
        board[col] = pd.to_datetime(board[col], utc=True).astype("datetime64[ns, UTC]")
    for col in ("duration", "max_drawdown_duration"):
        board[col] = pd.to_timedelta(board[col]).astype("timedelta64[ns]")
    return board


def _table_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(frame).encode("utf-8")
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


# -- requests ------------------------------------------------------------------------------
def _check(what: str, fmt: str) -> None:
    if what not in FORMATS:
        raise ExportError(f"unknown item {what!r} to export; choose one of {', '.join(WHATS)}")
    if fmt not in FORMATS[what]:
        raise ExportError(
            f"{what} cannot be exported as {fmt!r}; it can be exported as "
            f"{' or '.join(FORMATS[what])}"
            + ("" if fmt in EXTENSIONS else
               f" ({fmt!r} is not a format; formats: {', '.join(EXTENSIONS)})"))


def export_bytes(run: str | Path | Recording, what: str, fmt: str, *,
                 runs_dir: str | Path = "runs", width: int = DEFAULT_SIZE[0],
                 height: int = DEFAULT_SIZE[1], symbol: str | None = None,
                 agent: str | None = None) -> bytes:
    """The exported file's content (what a download button serves)."""
    _check(what, fmt)
    _check_size(width, height)
    with _opened(run, runs_dir) as rec:
        agent = _agent(rec, what, agent)
        if fmt in TABLE_FORMATS:
            return _table_bytes(_table(rec, what), fmt)
        from arena.ui.export import render  # bokeh and panel: only for charts and the report

        return render(rec, what, fmt, width=width, height=height, symbol=symbol, agent=agent)


def _agent(rec: Recording, what: str, agent: str | None) -> str | None:
    """The tear sheet's agent: ``agent`` (checked) or the leaderboard's leader."""
    if what != "tearsheet":
        if agent is not None:
            raise ExportError(f"an agent is chosen only for the tear sheet, not for {what}")
        return None
    names = rec.agents()["name"].tolist()
    if agent is None:
        board = leaderboard(rec)
        if board.empty:
            raise ExportError("the run has no equity recorded yet: no tear sheet to draw")
        return str(board["agent"].iloc[0])
    if agent not in names:
        raise ExportError(f"no agent named {agent!r} in this run; its agents: "
                          f"{', '.join(map(repr, names)) or 'none'}")
    return agent


def default_path(run: Recording, what: str, fmt: str) -> Path:
    """``<run id>-<what>.<ext>`` in the current folder."""
    run_id = run.meta.get("run_id", run.run_path.name)
    return Path(f"{run_id}-{what}.{EXTENSIONS[fmt]}")


def format_of(path: str | Path | None, what: str) -> str:
    """The format a path's extension asks for; else html for the report and the tear
    sheet, csv otherwise."""
    suffix = Path(path).suffix.lower().lstrip(".") if path else ""
    if suffix in EXTENSIONS:
        return suffix
    return "html" if what in ("report", "tearsheet") else "csv"


def export(run: str | Path | Recording, what: str, fmt: str | None = None,
           path: str | Path | None = None, *, runs_dir: str | Path = "runs",
           width: int = DEFAULT_SIZE[0], height: int = DEFAULT_SIZE[1],
           symbol: str | None = None, agent: str | None = None) -> Path:
    """Write ``what`` (see ``WHATS``) of ``run`` as ``fmt`` to ``path`` and return the path.

    ``fmt`` defaults to the path's extension (else csv; html for the report),
    ``path`` to ``<run id>-<what>.<ext>`` here. ``width``/``height`` are the chart's
    size in pixels; ``symbol`` picks the symbol of the price chart (default: the first),
    ``agent`` the agent of the tear sheet (default: the leaderboard's leader).
    """
    fmt = fmt or format_of(path, what)
    _check(what, fmt)
    _check_size(width, height)
    with _opened(run, runs_dir) as rec:
        target = Path(path) if path is not None else default_path(rec, what, fmt)
        _check_writable(target)
        content = export_bytes(rec, what, fmt, width=width, height=height, symbol=symbol,
                               agent=agent)
    try:
        target.write_bytes(content)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def _check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int | np.integer) or not 50 <= value <= 10_000:
            raise ExportError(f"{name} must be a whole number of pixels from 50 to 10000, "
                              f"got {value!r}")


def _check_writable(target: Path) -> None:
    """Fail early (before a slow render) when ``target`` cannot be written."""
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise ExportError(f"cannot write {target}: it is a folder; give a file name")
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"cannot write {target}: {folder} is a file, not a folder")
    if not folder.is_dir():
        raise ExportError(f"cannot write {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists()
                                                    and not os.access(target, os.W_OK)):
        raise ExportError(f"cannot write {target}: permission denied")

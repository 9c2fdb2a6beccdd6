"""Exporting a recorded run's tables (CSV, Parquet), from Python and the `arena` command:
the values round-trip the recording, formulas are neutralised, the leaderboard
matches the engine's own statistics, and bad requests fail clearly."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from arena import export
from arena.csvsafe import FORMULA_STARTS
from arena.data import load
from arena.engine import Competition, CompetitionConfig
from arena.export import ExportError
from arena.metrics import STAT_KEYS
from arena.recorder import Recording
from tests.arena.export_fixture import (
    AGENTS,
    ERROR_STEPS,
    FORMULA_REASON,
    HOSTILE_NAME,
    N_BARS,
    XSS,
    record_run,
)
from tests.arena.test_cli import arena, assert_clean_error

TABLES = ("equity", "drawdown", "trades", "decisions", "prices")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(competition, recording) of the fixture run, recorded under <tmp>/runs."""
    root = tmp_path_factory.mktemp("export")
    comp = record_run(root / "runs")
    rec = Recording(comp.run_path)
    yield comp, rec
    rec.close()


def frame_of(rec: Recording, what: str) -> pd.DataFrame:
    """The recording's own frame for ``what`` (what the export must reproduce)."""
    if what == "drawdown":
        return rec.equity()[["bar", "time", "agent", "drawdown_pct"]]
    return rec.bars() if what == "prices" else getattr(rec, what)()


def read_csv(data: bytes, like: pd.DataFrame) -> pd.DataFrame:
    """CSV text back into ``like``'s column types (times as UTC, apostrophes undone)."""
    df = pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""])
    for col in like.columns:
        if pd.api.types.is_datetime64_any_dtype(like[col]):
            df[col] = pd.to_datetime(df[col], utc=True).astype(like[col].dtype)
        elif pd.api.types.is_bool_dtype(like[col]):
            df[col] = df[col].astype(bool)
        elif not pd.api.types.is_numeric_dtype(like[col]):
            df[col] = df[col].map(lambda v: v[1:] if isinstance(v, str) and v.startswith("'")
                                  and v[1:].startswith(FORMULA_STARTS) else v)
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


# -- the fixture run is what the tests think it is ----------------------------------------
def test_fixture_run_is_recorded_with_hostile_text(run):
    comp, rec = run
    decisions = rec.decisions()
    assert len(rec.times()) == N_BARS
    assert rec.agents()["name"].tolist() == [*AGENTS, HOSTILE_NAME]
    assert (decisions["reasoning"] == FORMULA_REASON).any()
    assert decisions["reasoning"].str.startswith(XSS).any()
    assert (rec.trades()["agent"] == HOSTILE_NAME).sum() > 10


# -- round trips ---------------------------------------------------------------------------
@pytest.mark.parametrize("what", TABLES)
def test_parquet_round_trips_values_and_types(run, what):
    # Arrange
    _, rec = run
    expected = frame_of(rec, what)
    # Act
    data = export.export_bytes(rec, what, "parquet")
    back = pd.read_parquet(io.BytesIO(data))
    # Assert: same rows, same values, same dtypes (UTC times, bools, missing pnl)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(back, expected.reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("what", TABLES)
def test_csv_round_trips_values(run, what):
    # Arrange
    _, rec = run
    expected = frame_of(rec, what).reset_index(drop=True)
    # Act
    data = export.export_bytes(rec, what, "csv")
    back = read_csv(data, expected)
    # Assert: floats are written in full (repr), times as UTC ISO 8601
    assert list(back.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False, check_exact=True)


def test_csv_times_are_iso_8601_utc(run):
    _, rec = run
    rows = list(csv.DictReader(io.StringIO(export.export_bytes(rec, "trades", "csv").decode())))
    assert rows[0]["time"] == "2010-01-05T00:00:00Z"  # first fill: bar 1's open


# -- formula injection -----------------------------------------------------------------------
@pytest.mark.parametrize("what", ("trades", "decisions", "equity", "leaderboard"))
def test_no_csv_cell_starts_a_formula(run, what):
    # Arrange
    _, rec = run
    # Act
    rows = list(csv.reader(io.StringIO(export.export_bytes(rec, what, "csv").decode())))
    # Assert: every cell starting with = + - @ is a number (negative pnl, drawdown)
    risky = [c for row in rows for c in row if c.startswith(FORMULA_STARTS)]
    for cell in risky:
        float(cell)  # raises if it is text
    if what in ("trades", "leaderboard"):
        assert risky, "expected negative numbers (losing trades, drawdowns) in the table"


def test_formula_text_gets_an_apostrophe_and_stays_readable(run):
    _, rec = run
    text = export.export_bytes(rec, "decisions", "csv").decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    hostile = [r for r in rows if r["agent"] == "'" + HOSTILE_NAME]
    assert hostile, "the hostile agent's name was not neutralised"
    assert any(r["reasoning"] == "'" + FORMULA_REASON for r in hostile)
    assert any(r["reasoning"].startswith(XSS) for r in hostile)  # not a formula: unchanged


def test_parquet_keeps_text_exactly(run):
    _, rec = run
    back = pd.read_parquet(io.BytesIO(export.export_bytes(rec, "decisions", "parquet")))
    assert (back["reasoning"] == FORMULA_REASON).any()
    assert (back["agent"] == HOSTILE_NAME).any()


# -- leaderboard -------------------------------------------------------------------------------
def test_leaderboard_has_every_statistic_equal_to_the_engines(run):
    # Arrange: the engine computes from its in-memory arrays, the export from SQLite
    comp, rec = run
    engine = comp.stats()
    # Act
    board = export.table(rec, "leaderboard")
    # Assert
    assert list(board.columns) == ["rank", "agent", *STAT_KEYS, "errors", "tokens", "latency_ms",
                                   "cost_usd"]
    assert (board["tokens"] == 0).all() and board["latency_ms"].isna().all()  # no LLM agent
    for row in board.itertuples(index=False):
        mine = engine[row.agent]
        for key in STAT_KEYS:
            got, want = getattr(row, key), mine[key]
            if isinstance(want, float) and np.isnan(want):
                assert np.isnan(got), (row.agent, key)
            elif isinstance(want, float):
                assert got == pytest.approx(want, rel=1e-12, abs=1e-9), (row.agent, key)
            else:
                assert got == want, (row.agent, key, got, want)


def test_leaderboard_ranks_by_final_equity_and_counts_errors(run):
    # Arrange
    comp, rec = run
    equity = rec.equity()
    last = equity[equity["bar"] == equity["bar"].max()].set_index("agent")["equity"]
    # Act
    board = export.table(rec, "leaderboard")
    # Assert: hand-checked against the last bar's equity and the events
    assert board["agent"].tolist() == last.sort_values(ascending=False).index.tolist()
    assert board["rank"].tolist() == [1, 2, 3]
    by_agent = board.set_index("agent")
    for agent in last.index:
        assert by_agent.loc[agent, "return_pct"] == pytest.approx(
            (last[agent] / 100_000 - 1) * 100, rel=1e-12)
    assert by_agent.loc[HOSTILE_NAME, "errors"] == len(ERROR_STEPS)
    assert by_agent.loc["buy_and_hold", "errors"] == 0
    assert by_agent.loc["buy_and_hold", "trades"] == 0  # never exits


def test_leaderboard_parquet_keeps_times_and_durations(run):
    _, rec = run
    back = pd.read_parquet(io.BytesIO(export.export_bytes(rec, "leaderboard", "parquet")))
    pd.testing.assert_frame_equal(back, export.table(rec, "leaderboard"), check_exact=True)
    assert str(back["start"].dtype) == "datetime64[ns, UTC]"
    assert back["max_drawdown_duration"].dtype == "timedelta64[ns]"


# -- the Python API: run lookup and files ---------------------------------------------------------
def test_export_finds_the_run_by_id_folder_or_database(run, tmp_path):
    # Arrange
    _, rec = run
    runs_dir, run_id = rec.run_path.parent, rec.run_path.name
    # Act
    paths = [export.export(run_id, "trades", "csv", tmp_path / "a.csv", runs_dir=runs_dir),
             export.export(rec.run_path, "trades", "csv", tmp_path / "b.csv"),
             export.export(rec.path, "trades", "csv", tmp_path / "c.csv")]
    # Assert
    contents = {p.read_bytes() for p in paths}
    assert len(contents) == 1 and paths[0].stat().st_size > 1000


def test_format_comes_from_the_extension(run, tmp_path):
    _, rec = run
    path = export.export(rec, "equity", path=tmp_path / "eq.parquet")
    assert len(pd.read_parquet(path)) == len(rec.equity())


def test_default_file_name_is_run_id_and_item(run, tmp_path, monkeypatch):
    _, rec = run
    monkeypatch.chdir(tmp_path)
    path = export.export(rec, "decisions", "csv")
    assert path == type(path)(f"{rec.run_path.name}-decisions.csv")
    assert (tmp_path / path).is_file()


# -- bad requests -------------------------------------------------------------------------------
BAD_REQUESTS = [
    ("unknown_run", dict(run="no-such-run", what="trades", fmt="csv"),
     ["no-such-run", "unknown run"]),
    ("unknown_item", dict(what="pnl", fmt="csv"), ["'pnl'", "equity, drawdown"]),
    ("trades_as_png", dict(what="trades", fmt="png"), ["trades", "'png'", "csv or parquet"]),
    ("report_as_csv", dict(what="report", fmt="csv"), ["report", "'csv'", "html"]),
    ("unknown_format", dict(what="equity", fmt="xlsx"), ["'xlsx'", "not a format"]),
    ("missing_folder", dict(what="trades", fmt="csv", path="nofolder/t.csv"),
     ["nofolder", "does not exist"]),
    ("folder_is_a_file", dict(what="trades", fmt="csv", path="afile.txt/t.csv"),
     ["afile.txt", "is a file"]),
    ("target_is_a_folder", dict(what="trades", fmt="csv", path="."), ["is a folder"]),
    ("tiny_width", dict(what="equity", fmt="png", width=3), ["width", "3"]),
]


@pytest.mark.parametrize(("case", "request_", "names"), BAD_REQUESTS,
                         ids=[c for c, *_ in BAD_REQUESTS])
def test_bad_requests_raise_export_error_naming_the_problem(run, tmp_path, monkeypatch, case,
                                                            request_, names):
    # Arrange
    _, rec = run
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile.txt").write_text("x")
    kwargs = {"run": rec.run_path, "path": "out.bin", **request_}
    # Act
    with pytest.raises(ExportError) as err:
        export.export(kwargs.pop("run"), kwargs.pop("what"), kwargs.pop("fmt"),
                      kwargs.pop("path"), runs_dir=tmp_path / "runs", **kwargs)
    # Assert
    for name in names:
        assert name in str(err.value)
    assert not (tmp_path / "out.bin").exists()


def test_table_exports_never_import_a_ui_library(run, tmp_path):
    _, rec = run
    code = ("import sys; from arena import export; "
            f"export.export({str(rec.run_path)!r}, 'leaderboard', 'parquet', {str(tmp_path / 'l.parquet')!r}); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'bokeh', 'panel', 'holoviews'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert (tmp_path / "l.parquet").is_file()


# -- the command line ------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_exports_by_run_id_and_prints_the_path(run, tmp_path):
    # Arrange
    _, rec = run
    # Act
    result = arena("export", rec.run_path.name, "--what", "trades", "--runs-dir",
                   rec.run_path.parent, cwd=tmp_path)
    # Assert
    assert result.returncode == 0, result.stderr
    path = tmp_path / result.stdout.strip()
    assert path.name == f"{rec.run_path.name}-trades.csv"
    back = read_csv(path.read_bytes(), rec.trades())
    pd.testing.assert_frame_equal(back, rec.trades(), check_dtype=False, check_exact=True)


CLI_ERRORS = [
    ("unknown_run", ["export", "nope", "--what", "equity", "--runs-dir", "runs"],
     ["'nope'", "runs/"]),
    ("bad_combination", ["export", "RUN", "--what", "decisions", "--format", "svg"],
     ["decisions", "'svg'"]),
    ("unknown_item", ["export", "RUN", "--what", "everything"], ["'everything'"]),
    ("unwritable", ["export", "RUN", "--what", "equity", "-o", "missing/dir/eq.csv"],
     ["missing/dir", "does not exist"]),
    ("unknown_symbol", ["export", "RUN", "--what", "prices", "-f", "html", "--symbol", "ZZZ"],
     ["'ZZZ'", "AAPL, MSFT"]),
]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "args", "names"), CLI_ERRORS, ids=[c for c, *_ in CLI_ERRORS])
def test_cli_bad_requests_exit_2_with_one_paragraph(run, tmp_path, case, args, names):
    _, rec = run
    args = [str(rec.run_path) if a == "RUN" else a for a in args]
    result = arena(*args, cwd=tmp_path)
    assert_clean_error(result, *names)


# -- a run with entries only (every pnl missing) ------------------------------------------------
def test_entries_only_run_keeps_the_numeric_schema(tmp_path):
    # Arrange: buy and hold never exits, so every fill's pnl is NULL in SQLite
    comp = Competition(load("AAPL", start="2010-01-04", end="2010-01-15"), ["buy_and_hold"],
                       CompetitionConfig(run_dir=str(tmp_path)))
    comp.run()
    # Act
    trades = pd.read_parquet(io.BytesIO(export.export_bytes(comp.run_path, "trades", "parquet")))
    board = export.table(comp.run_path, "leaderboard")
    # Assert
    assert len(trades) == 1 and trades["pnl"].dtype == "float64" and trades["pnl"].isna().all()
    assert board.loc[0, "trades"] == 0 and np.isnan(board.loc[0, "win_rate_pct"])
    assert board.loc[0, "bars"] == 10

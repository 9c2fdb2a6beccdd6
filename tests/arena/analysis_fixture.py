"""A real recorded run for the analysis and tear-sheet tests (not a test module): the
given agents on AAPL and MSFT from 2011-01 to 2012-06 (377 daily bars), recorded to
SQLite."""

from __future__ import annotations

from pathlib import Path

from arena.data import load
from arena.engine import Competition, CompetitionConfig

SYMBOLS, START, END = "AAPL,MSFT", "2011-01-01", "2012-06-30"


def recorded_run(run_dir: Path, agents) -> Competition:
    """The finished competition of ``agents`` (its recording under ``run_dir``)."""
    comp = Competition(load(SYMBOLS, start=START, end=END), list(agents),
                       CompetitionConfig(run_dir=str(run_dir)))
    comp.run()
    return comp

"""Compare recordings side by side: the equity of chosen agents across runs, overlaid
on one time axis, with each run's leaderboard.

>>> cmp = compare(["runs/20260101-aaaa", "runs/20260102-bbbb"], agents=["sma_cross"])  # doctest: +SKIP
>>> cmp.equity(relative=True)   # % return per (run, agent), one column each  # doctest: +SKIP
>>> cmp.leaderboard()           # every run's final leaderboard, with a run column  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from arena.recorder import Recording
from arena.replay import Replay, resolve_run

__all__ = ["Comparison", "compare"]


@dataclass(frozen=True)
class _Run:
    run_id: str
    path: Path
    agents: tuple[str, ...]
    cash: float


class Comparison:
    """Two or more recordings, read at their last recorded bar.

    ``runs``: run directories, ``arena.sqlite`` files or run ids under ``run_dir``.
    ``agents``: the agents to show (default: every agent of every run); an agent
    missing from one run is simply absent there, one missing from all is an error.
    """

    def __init__(self, runs: Sequence[str | Path], agents: Sequence[str] | None = None,
                 run_dir: str | Path = "runs"):
        if len(runs) < 1:
            raise ValueError("compare needs at least one recording (two to compare)")
        self.runs: list[_Run] = []
        for run in runs:
            path = resolve_run(run, run_dir)
            with Recording(path) as rec:
                meta = rec.meta
                names = tuple(rec.agents()["name"])
            cash = float((meta.get("config") or {}).get("portfolio", {}).get("cash", 100_000.0))
            self.runs.append(_Run(str(meta.get("run_id", path.parent.name)), path, names, cash))
        ids = [r.run_id for r in self.runs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"the same recording is given twice: {', '.join(ids)}")
        everyone = list(dict.fromkeys(a for r in self.runs for a in r.agents))
        if agents:
            unknown = [a for a in agents if a not in everyone]
            if unknown:
                raise ValueError(f"agent(s) {', '.join(unknown)} are in none of the runs; "
                                 f"they have {', '.join(everyone)}")
        self.agents = list(agents) if agents else everyone

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]

    def label(self, run_id: str, agent: str) -> str:
        """Column name of one agent of one run: ``run_id / agent``."""
        return f"{run_id} / {agent}"

    def equity(self, relative: bool = False) -> pd.DataFrame:
        """Equity (or % return on the starting cash with ``relative``) of the chosen
        agents, one column per (run, agent), on the union of the runs' bar times
        (a run's column is NaN where it has no bar)."""
        frames = []
        for run in self.runs:
            with Recording(run.path) as rec:
                eq = rec.equity()
            eq = eq[eq["agent"].isin(self.agents)]
            wide = eq.pivot(index="time", columns="agent", values="equity")
            wide = wide[[a for a in self.agents if a in wide.columns]]
            if relative:
                wide = (wide / run.cash - 1) * 100
            wide.columns = [self.label(run.run_id, a) for a in wide.columns]
            frames.append(wide)
        out = pd.concat(frames, axis=1).sort_index()
        out.index.name = "time"
        return out

    def leaderboard(self) -> pd.DataFrame:
        """Each run's leaderboard at its last recorded bar (the chosen agents), with
        ``run_id`` first; the ranks are within each run."""
        boards = []
        for run in self.runs:
            with Replay(run.path, at="end", follow=False) as rp:
                board = rp.leaderboard()
            board = board[board["agent"].isin(self.agents)]
            board.insert(0, "run_id", run.run_id)
            boards.append(board)
        return pd.concat(boards, ignore_index=True)


def compare(runs: Sequence[str | Path], agents: Sequence[str] | None = None,
            run_dir: str | Path = "runs") -> Comparison:
    """A :class:`Comparison` of ``runs`` (see there)."""
    return Comparison(runs, agents, run_dir)

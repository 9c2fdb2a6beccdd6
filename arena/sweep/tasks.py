"""Tasks: one agent spec × one market × one window × one seed, each an ordinary
competition. A task's id is a hash of everything that decides its result (the
agent spec, the market's bars, the window, the seed, the portfolio rules), so a
re-run of the same sweep finds the tasks it has finished by id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from arena.data.market import FIELDS, MarketData
from arena.engine import CompetitionConfig
from arena.engine.config import config_dict
from arena.sweep.grid import Combination, expand, parse_grid
from arena.sweep.windows import Window, rolling_windows

__all__ = ["Plan", "Task", "data_key", "plan_tasks"]

#: config fields that do not change a task's result (how it runs, where it would record)
_NOT_RESULT = ("seed", "speed", "record", "run_id", "block_bars", "stream_maxlen",
               "progress_every", "decide_deadline")


@dataclass(frozen=True)
class Task:
    """One competition of a sweep (``lo:hi`` are the window's bar positions in its
    market's data; ``start``/``end`` its first and last bar times)."""

    agent: str
    spec: str
    params: tuple[tuple[str, object], ...]
    market: str
    lo: int
    hi: int
    start: pd.Timestamp
    end: pd.Timestamp
    seed: int
    data_key: str = ""
    config_key: str = ""
    id: str = field(init=False, compare=False)

    def __post_init__(self):
        content = json.dumps([self.spec, self.market, self.data_key, self.start.isoformat(),
                              self.end.isoformat(), self.lo, self.hi, self.seed,
                              self.config_key])
        object.__setattr__(self, "id", hashlib.sha256(content.encode()).hexdigest()[:16])


@dataclass(frozen=True)
class Plan:
    """The tasks of a sweep and how its grids expanded."""

    tasks: list[Task]
    combinations: int  # valid agent specs over all grids
    skipped: int  # combinations an agent rejected
    reasons: list[str]  # the first few reasons
    windows: dict[str, list[Window]]


def data_key(data: MarketData) -> str:
    """A fingerprint of the bars (times, symbols, OHLCV, calendar)."""
    h = hashlib.sha256()
    h.update(json.dumps([list(data.symbols), data.calendar]).encode())
    for arr in (data.times, *(getattr(data, f) for f in FIELDS)):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def config_key(config: CompetitionConfig) -> str:
    """A fingerprint of what in ``config`` decides results (the portfolio rules)."""
    d = {k: v for k, v in config_dict(config).items() if k not in _NOT_RESULT}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def plan_tasks(grids: Sequence[str], markets: Mapping[str, MarketData],
               config: CompetitionConfig, *, window=None, step=None,
               seeds: Sequence[int] = (0,), samples: int | None = None,
               sample_seed: int = 0) -> Plan:
    """Every task of a sweep: each grid's valid combinations × markets × windows × seeds,
    in that nesting order (duplicates, e.g. the same spec from two grids, once)."""
    combos: list[Combination] = []
    skipped, reasons = 0, []
    for text in grids:
        valid, n_bad, why = expand(parse_grid(text), samples=samples, seed=sample_seed)
        combos += valid
        skipped += n_bad
        reasons += why
    windows = {label: rolling_windows(data.times, window, step) for label, data in markets.items()}
    ckey = config_key(config)
    keys = {label: data_key(data) for label, data in markets.items()}
    tasks, seen = [], set()
    for c in combos:
        for label in markets:
            for w in windows[label]:
                for seed in seeds:
                    t = Task(c.agent, c.spec, c.params, label, w.lo, w.hi, w.start, w.end,
                             int(seed), keys[label], ckey)
                    if t.id not in seen:
                        seen.add(t.id)
                        tasks.append(t)
    return Plan(tasks, len({c.spec for c in combos}), skipped, reasons[:5], windows)

"""Several tasks at once: tasks of one window and seed whose agents ignore the seed run
in one compiled grid pass (:mod:`arena.engine.batch`).

Agents do not interact (each has its own account), so an agent's row from a grid pass
of many agents equals its own single-agent run: equity, fills, counts, drawdowns and
returns bit for bit; sums and moments over bars or fills (fees, volatility, skew, ...)
are added in another order and agree to about 1e-13 relative — tested (1e-9) in
tests/arena/sweep/test_batch.py. Per agent, :func:`~arena.engine.batch.run_param_grid`
computes every combination's signals without building an agent each, with shared
indicators. A group the grid pass cannot run falls back to one many-agent
:class:`~arena.engine.Competition`, then to single runs. Only agents that ignore the
seed are grouped (the engine seeds agents by their position): the rule agents
(:class:`arena.agents.rules.RuleAgent` subclasses that keep its ``reset``). Any other
agent (random, ml, llm, your own) runs alone, exactly as `arena run` would run it.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import replace

from arena.data.market import MarketData
from arena.engine import Competition, CompetitionConfig
from arena.engine.batch import run_grid, run_param_grid
from arena.sweep.compete import finish_row, run_task, task_columns
from arena.sweep.tasks import Task

__all__ = ["run_chunk", "run_group", "seed_free"]


@functools.lru_cache(maxsize=256)
def seed_free(spec: str) -> bool:
    """Whether the agent of ``spec`` ignores the seed (a rule agent)."""
    from arena.agents.registry import _resolve
    from arena.agents.rules import RuleAgent

    try:
        cls = _resolve(spec.strip())[0]
    except Exception:  # noqa: BLE001 - the task itself will say what is wrong
        return False
    return issubclass(cls, RuleAgent) and cls.reset is RuleAgent.reset


def run_chunk(tasks: Sequence[Task], data: MarketData, config: CompetitionConfig) -> list[dict]:
    """The rows of ``tasks`` (of one market), in their order: rule agents of the same
    window and seed together in one competition, every other task alone."""
    rows: dict[str, dict] = {}
    groups: dict[tuple[int, int, int], list[Task]] = {}
    for t in tasks:
        if seed_free(t.spec):
            groups.setdefault((t.lo, t.hi, t.seed), []).append(t)
        else:
            rows[t.id] = run_task(t, data, config)
    for group in groups.values():
        for t, row in zip(group, run_group(group, data, config), strict=True):
            rows[t.id] = row
    return [rows[t.id] for t in tasks]


def run_group(group: list[Task], data: MarketData, config: CompetitionConfig) -> list[dict]:
    """The rows of ``group`` (tasks of one market, window and seed, agents that ignore
    the seed) from one compiled grid pass (:func:`arena.engine.batch.run_grid`: shared
    indicators, one accounting kernel call, statistics in one pass), or, if that cannot
    run them, from one competition of all their agents."""
    if len(group) == 1:
        return [run_task(group[0], data, config)]
    t0 = group[0]
    cfg = replace(config, seed=t0.seed, record=False, speed=0.0, run_id=None)
    window = data.slice(t0.lo, t0.hi)
    try:
        records = _grid_records(group, window, cfg)
    except Exception:  # noqa: BLE001 - e.g. an agent whose signals need the bar loop
        return _competition(group, window, data, config, cfg)
    out = []
    for t, rec in zip(group, records, strict=True):
        board = {**rec, "equity": rec["equity_final"], **_NO_LLM}  # the leaderboard's names
        out.append(finish_row(task_columns(t), rec["label"], board, rec))
    return out


def _grid_records(group: list[Task], window: MarketData, cfg: CompetitionConfig) -> list[dict]:
    """run_grid's statistics of each task's agent, in ``group``'s order: one
    :func:`~arena.engine.batch.run_param_grid` per agent (no agent built per
    combination), or :func:`~arena.engine.batch.run_grid` of the specs if that fails."""
    by_agent: dict[str, list[int]] = {}
    for i, t in enumerate(group):
        by_agent.setdefault(t.agent, []).append(i)
    out: list[dict] = [{}] * len(group)
    for agent, idx in by_agent.items():
        try:
            stats = run_param_grid(window, agent, [dict(group[i].params) for i in idx], cfg).stats
        except Exception:  # noqa: BLE001 - an import-path agent, params it cannot take
            stats = run_grid(window, [group[i].spec for i in idx], cfg).stats
        taken = set(stats["agent"])
        for i, rec in zip(idx, stats.to_dict("records"), strict=True):
            out[i] = rec | {"label": _label(rec["agent"], taken)}
    return out


#: what a rule agent's leaderboard row says of errors and LLM use
_NO_LLM = {"errors": 0, "tokens": 0, "latency_ms": math.nan, "cost_usd": 0.0}


def _label(name: str, taken: set[str]) -> str:
    """An agent's label: its name without the ``#n`` a competition adds to a repeat."""
    base = re.sub(r" #\d+$", "", name)
    return base if base != name and base in taken else name


def _competition(group, window, data, config, cfg) -> list[dict]:
    """The rows of ``group`` from one competition of all their agents."""
    try:
        comp = Competition(window, [t.spec for t in group], cfg, data_source=group[0].market)
        board = comp.run().set_index("agent")
        stats = comp.stats()
    except Exception:  # noqa: BLE001 - then each alone, so a failure is one task's
        return [run_task(t, data, config) for t in group]
    taken = set(comp.agent_names)
    return [finish_row(task_columns(t), _label(name, taken), board.loc[name], stats[name])
            for t, name in zip(group, comp.agent_names, strict=True)]

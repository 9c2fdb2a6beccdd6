"""Parameter grids: ``sma_cross:fast=5..50/5,slow=20..200/10`` → agent specs.

A grid spec is an agent spec (:mod:`arena.agents.registry`) whose values may be

* a range ``a..b/step`` (both ends included; ``a..b`` steps by 1), integers when
  ``a``, ``b`` and ``step`` are integers, else numbers rounded to 12 digits;
* a list ``a|b|c`` (any values the parameter takes, e.g. ``short=true|false``);
* a single value, as in an ordinary spec (a double-quoted value is one value).

:func:`expand` builds every combination (or ``samples`` of them drawn at random
without replacement, seeded) and constructs each agent: a combination the agent
rejects (out of its bounds, or its own rule such as ``fast >= slow``) is skipped and
counted, never an error. A grid whose every combination is rejected is an error
naming the first reason.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field

import numpy as np

from arena.agents.registry import AgentSpecError, _parse_pairs, _resolve, create_agent

__all__ = ["Combination", "Grid", "GridError", "expand", "parse_grid"]

_RANGE = re.compile(r"^\s*(.+?)\s*\.\.\s*([^/]*?)\s*(?:/\s*(.*?)\s*)?$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_MAX_COMBINATIONS = 1_000_000


class GridError(ValueError):
    """A grid spec that cannot be expanded; the message names it."""


@dataclass(frozen=True)
class Grid:
    """One agent's grid: its name (as typed) and the values of each parameter."""

    text: str  # the grid spec as given
    head: str  # registry name or import path, as typed before the parameters
    axes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.axes.values())


@dataclass(frozen=True)
class Combination:
    """One valid point of a grid: the agent spec and its parameter values."""

    spec: str  # an ordinary agent spec that builds this agent
    agent: str  # registry name or import path
    params: tuple[tuple[str, object], ...]  # every parameter of the agent, typed


def parse_grid(text: str) -> Grid:
    """Split a grid spec into its agent and the values of each parameter."""
    if not isinstance(text, str) or not text.strip():
        raise GridError("empty agent grid spec")
    try:
        _cls, _label, rest = _resolve(text.strip())
    except AgentSpecError as exc:
        raise GridError(str(exc)) from None
    head = text.strip()[: len(text.strip()) - len(rest)].rstrip(":").strip()
    try:
        pairs = _parse_pairs(rest, head, text)
    except AgentSpecError as exc:
        raise GridError(str(exc)) from None
    axes = {key: _values(head, key, value, _quoted(rest, key)) for key, value in pairs.items()}
    return Grid(text.strip(), head, axes)


def _quoted(text: str, key: str) -> bool:
    """Whether ``key``'s value is a double-quoted string in the spec text."""
    return re.search(rf'(?:^|,)\s*{re.escape(key)}\s*=\s*"', text) is not None


def _values(head: str, key: str, value: str, quoted: bool) -> tuple[str, ...]:
    if quoted:  # a quoted value is one value, whatever it holds
        return (json.dumps(value),)
    if "|" in value:
        items = tuple(v.strip() for v in value.split("|"))
        if any(not v for v in items):
            raise GridError(f"{head}: empty value in the list {value!r} for {key}")
        return tuple(dict.fromkeys(items))
    m = _RANGE.match(value) if ".." in value else None
    if m is None:
        return (value,)
    return _range(head, key, value, *m.groups())


def _range(head: str, key: str, text: str, lo: str, hi: str, step: str | None):
    parts = (lo, hi) + ((step,) if step is not None else ())
    bad = [p for p in parts if not _NUMBER.match(p or "")]
    if bad:
        raise GridError(f"{head}: bad range {text!r} for {key}: {bad[0]!r} is not a number "
                        "(write a..b or a..b/step, e.g. 5..50/5)")
    step = step if step is not None else "1"
    a, b, s = float(lo), float(hi), float(step)
    if not s > 0:
        raise GridError(f"{head}: bad range {text!r} for {key}: the step must be > 0")
    if b < a:
        raise GridError(f"{head}: empty range {text!r} for {key}: {lo} is above {hi}")
    n = math.floor((b - a) / s + 1e-9) + 1
    if n > _MAX_COMBINATIONS:
        raise GridError(f"{head}: range {text!r} for {key} has {n:,} values; at most "
                        f"{_MAX_COMBINATIONS:,}")
    integer = all(re.fullmatch(r"[+-]?\d+", p) for p in (lo, hi, step))
    if integer:
        return tuple(str(int(lo) + i * int(step)) for i in range(n))
    return tuple(repr(round(a + i * s, 12)) for i in range(n))


def expand(grid: Grid | str, samples: int | None = None,
           seed: int = 0) -> tuple[list[Combination], int, list[str]]:
    """(valid combinations, number skipped, the first few skip reasons).

    ``samples``: draw that many combinations of the grid at random (without
    replacement, by ``seed``) instead of all; invalid draws count as skipped.
    Raises :class:`GridError` when the grid is empty or every combination is invalid.
    """
    grid = parse_grid(grid) if isinstance(grid, str) else grid
    keys = list(grid.axes)
    total = grid.size
    if total > _MAX_COMBINATIONS:
        raise GridError(f"{grid.text}: {total:,} combinations; at most "
                        f"{_MAX_COMBINATIONS:,} (use --samples N for a random search)")
    if samples is not None:
        if samples < 1:
            raise GridError(f"--samples must be >= 1, got {samples}")
        pick = np.random.default_rng(seed).choice(total, size=min(samples, total),
                                                  replace=False)
        points = [_point(grid, keys, int(i)) for i in sorted(pick)]
    else:
        points = list(itertools.product(*(grid.axes[k] for k in keys)))
    valid, reasons, seen = [], [], set()
    for values in points:
        spec = _spec(grid.head, dict(zip(keys, values, strict=True)))
        try:
            agent = create_agent(spec)
        except AgentSpecError as exc:
            reasons.append(str(exc))
            continue
        if spec in seen:
            continue
        seen.add(spec)
        valid.append(Combination(spec, grid.head, _typed_params(agent)))
    if not valid:
        raise GridError(f"{grid.text}: all {len(points):,} combination(s) are invalid, e.g. "
                        f"{reasons[0]}" if reasons else f"{grid.text}: empty grid")
    return valid, len(reasons), reasons[:5]


def _point(grid: Grid, keys: list[str], index: int) -> tuple[str, ...]:
    """The ``index``-th combination of the grid in product order."""
    out = []
    for k in reversed(keys):
        values = grid.axes[k]
        index, r = divmod(index, len(values))
        out.append(values[r])
    return tuple(reversed(out))


def _spec(head: str, values: dict[str, str]) -> str:
    return head if not values else head + ":" + ",".join(f"{k}={v}" for k, v in values.items())


def _typed_params(agent) -> tuple[tuple[str, object], ...]:
    """The agent's scalar parameters (every one, defaults too) with their values."""
    try:
        items = agent.param.values().items()
    except AttributeError:
        return ()
    return tuple((k, v) for k, v in sorted(items)
                 if k != "name" and (v is None or isinstance(v, bool | int | float | str)))

"""The frozen configuration of a competition (everything besides its data and agents)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import asdict, dataclass, field, fields

from arena.portfolio import PortfolioConfig


@dataclass(frozen=True)
class CompetitionConfig:
    """Everything that defines a run besides its data and agents.

    speed: bars per second; 0 runs as fast as possible.
    record: write the run to ``<run_dir>/<run_id>/arena.sqlite``.
    block_bars: most bars per compiled block on the fast path.
    stream_maxlen: rows each append-only stream keeps (the recording keeps all).
    decide_deadline: seconds a paced bar (speed > 0) waits for concurrent agents'
        answers; None waits one bar period (1 / speed), or in a live run the
        feed's default (half a candle). Backtests wait for all.
    """

    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)
    seed: int = 0
    speed: float = 0.0
    record: bool = True
    run_dir: str = "runs"
    run_id: str | None = None
    block_bars: int = 2048
    stream_maxlen: int | None = 200_000
    progress_every: float = 0.05
    decide_deadline: float | None = None

    def __post_init__(self):
        if not self.speed >= 0 or not math.isfinite(self.speed):
            raise ValueError(f"speed must be >= 0 bars per second (0 = as fast as possible), got {self.speed!r}")
        if not self.block_bars >= 1:
            raise ValueError(f"block_bars must be >= 1, got {self.block_bars!r}")
        if self.decide_deadline is not None and not (
                self.decide_deadline > 0 and math.isfinite(self.decide_deadline)):
            raise ValueError("decide_deadline must be a positive number of seconds (or unset "
                             f"for one bar period), got {self.decide_deadline!r}")


def new_run_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def config_dict(cfg: CompetitionConfig) -> dict:
    """What a recording keeps of ``cfg`` (``meta["config"]``; not where it was written)."""
    d = asdict(cfg)
    d.pop("run_dir", None)
    return d


def config_from_dict(d: dict | None, **overrides) -> CompetitionConfig:
    """The inverse of :func:`config_dict` (fields this version does not know are left
    out, so older and newer recordings load), with ``overrides`` on top."""
    d = dict(d or {})
    pf = {k: v for k, v in (d.pop("portfolio", None) or {}).items()
          if k in {f.name for f in fields(PortfolioConfig)}}
    known = {f.name for f in fields(CompetitionConfig)}
    d = {k: v for k, v in d.items() if k in known}
    d.update(overrides)
    return CompetitionConfig(portfolio=PortfolioConfig(**pf), **d)

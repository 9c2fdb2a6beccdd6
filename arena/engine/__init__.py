"""Competition: agents trade the same bars; a state machine runs it in a thread.

States: idle → running ⇄ paused → stopped | finished; ``reset`` returns to idle
with a new run. Commands (:meth:`~Competition.start`, ``pause``, ``resume``,
``step``, ``stop``, ``reset``, ``speed``) are safe from any thread.

Per bar ``t``: pending targets (decided at ``t−1``'s close) fill at ``t``'s
open, equity is marked at ``t``'s close, then every agent decides on the bars
up to ``t``. Agents that implement ``signals`` have their decisions computed up
front; when every agent does, bars run in compiled blocks
(:func:`arena.portfolio.run_block`), which is the fast path.

Live (docs/live.md): given a :class:`arena.feeds.live.Feed` instead of a
:class:`MarketData`, the competition runs on the bars the feed has made available
so far, all agents on the per-bar path (``signals`` would need the future), and
waits at the last available bar until the feed offers the next one or finishes.

The package, one idea a module:

* :mod:`~arena.engine.config`: :class:`CompetitionConfig`.
* :mod:`~arena.engine.competition`: :class:`Competition` and its set-up.
* :mod:`~arena.engine.states`: the state machine and its commands.
* :mod:`~arena.engine.loop`: the bar loop and pacing (:data:`CATCH_UP_SECONDS`).
* :mod:`~arena.engine.decisions`: per-bar and concurrent decisions, deadlines.
* :mod:`~arena.engine.feed`: the feed side (bars that arrive over time).
* :mod:`~arena.engine.results`: leaderboard, frames, statistics, histories.
* :mod:`~arena.engine.resume`: a stopped or killed live run continues
  (:func:`load_saved_run`, :meth:`Competition.continue_run`; docs/live.md).
* :mod:`~arena.engine.signals`: checks of precomputed signals, the bars they change.
* :mod:`~arena.engine.batch`: grids of vectorisable agents in one compiled pass
  (:func:`~arena.engine.batch.run_grid`, :func:`~arena.engine.batch.run_param_grid`).
"""

from arena.engine.competition import Competition
from arena.engine.config import CompetitionConfig
from arena.engine.loop import CATCH_UP_SECONDS
from arena.engine.resume import ResumeError, SavedRun, load_saved_run
from arena.engine.states import State, StateError

__all__ = ["CATCH_UP_SECONDS", "Competition", "CompetitionConfig", "ResumeError", "SavedRun",
           "State", "StateError", "load_saved_run"]

"""Sweeps: many ordinary competitions at once on Dask (docs/sweeps.md).

* :mod:`~arena.sweep.grid`: grid specs (``sma_cross:fast=5..50/5,slow=20..200/10``,
  lists ``a|b``, random search) → agent specs; invalid combinations skipped, counted.
* :mod:`~arena.sweep.windows`: rolling windows (``--window 2y --step 6m``).
* :mod:`~arena.sweep.tasks`: a task = agent spec × market × window × seed, with a
  stable id; :func:`plan_tasks` builds a sweep's tasks.
* :mod:`~arena.sweep.compete`: :func:`run_task`, one task as `arena run` runs it.
* :mod:`~arena.sweep.batch`: a chunk of tasks; rule agents of one window together.
* :mod:`~arena.sweep.runner`: :func:`run_tasks` on a Dask client (or here).
* :mod:`~arena.sweep.results`: the results folder (Parquet parts, resume) and
  :func:`load_results`.
* :mod:`~arena.sweep.sweep`: a whole sweep from its settings (the `arena sweep` CLI).
* :mod:`~arena.sweep.walkforward`: walk-forward optimisation (`arena walkforward`).
* :mod:`~arena.sweep.tournament`: tournaments ranked with bootstrap statistics
  (`arena tournament`).
* :mod:`~arena.sweep.parsers`, :mod:`~arena.sweep.command`,
  :mod:`~arena.sweep.cli_walkforward`, :mod:`~arena.sweep.cli_tournament`: the commands.
"""

from arena.sweep.compete import LEADERBOARD_STATS, run_task
from arena.sweep.grid import GridError, expand, parse_grid
from arena.sweep.results import load_results, read_manifest
from arena.sweep.runner import SchedulerError, open_client, run_tasks
from arena.sweep.tasks import Plan, Task, plan_tasks
from arena.sweep.windows import WindowError, rolling_windows

__all__ = ["LEADERBOARD_STATS", "GridError", "Plan", "SchedulerError", "Task", "WindowError",
           "expand", "load_results", "open_client", "parse_grid", "plan_tasks",
           "read_manifest", "rolling_windows", "run_task", "run_tasks"]

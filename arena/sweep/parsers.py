"""The command-line parsers of `arena sweep`, `arena walkforward` and `arena tournament`
(they share their flags: what runs, where, under which portfolio rules)."""

from __future__ import annotations

from arena.data.calendars import CALENDARS

__all__ = ["add_parsers"]


def add_parsers(sub) -> None:
    """Add the three commands to ``sub`` (an argparse subparsers action)."""
    sw = sub.add_parser(
        "sweep", help="many competitions on Dask: parameter grids × markets × windows × seeds",
        description="Each task is an ordinary competition (as `arena run`); results go to "
                    "OUT/results.parquet, one row per task, and a re-run into the same --out "
                    "skips finished tasks. See docs/sweeps.md.")
    _common(sw, "a TOML file with a [sweep] table", "sharpe")
    _windows(sw)
    _record(sw)

    wf = sub.add_parser(
        "walkforward", help="walk-forward optimisation: choose in-sample, judge out-of-sample",
        description="On each in-sample --window the grid runs as a sweep; the best spec by "
                    "--metric then runs on the next --oos bars only. The out-of-sample runs "
                    "are stitched into one equity curve with its statistics. See "
                    "docs/sweeps.md, 'Walk-forward'.")
    _common(wf, "a TOML file with a [sweep] table", "sharpe", seeds=False)
    wf.add_argument("--window", metavar="LEN",
                    help="in-sample length: a number of bars or a duration (2y, 6m, 90d)")
    wf.add_argument("--oos", metavar="LEN",
                    help="out-of-sample length (default: --step)")
    wf.add_argument("--step", metavar="LEN",
                    help="between fold starts (default: --oos); at least --oos")
    wf.add_argument("--anchored", action="store_true",
                    help="every in-sample window starts at the first bar (it grows)")
    wf.set_defaults(record=None, seeds=None)

    tn = sub.add_parser(
        "tournament", help="agents ranked over markets × windows × seeds, with bootstrap CIs",
        description="Runs every agent on every task (a sweep), then ranks them: mean and "
                    "bootstrap CI of --metric, P(beat buy & hold), mean rank, P(A beats B), "
                    "Kendall's tau across windows and, for a grid, the deflated Sharpe of "
                    "its best. See docs/sweeps.md, 'Tournaments'.")
    _common(tn, "a TOML file with a [tournament] table", "return_pct")
    _windows(tn)
    tn.add_argument("--resamples", type=int, default=10_000, metavar="N",
                    help="bootstrap resamples of the tasks (default 10000)")
    tn.add_argument("--level", type=float, default=0.95,
                    help="confidence level of the intervals (default 0.95)")
    _record(tn)


def _windows(p) -> None:
    p.add_argument("--window", metavar="LEN",
                   help="rolling windows: a number of bars or a duration (90d, 6m, 2y)")
    p.add_argument("--step", metavar="LEN", help="between window starts (default: --window)")


def _record(p) -> None:
    p.add_argument("--record", metavar="top=N",
                   help="re-run the best N tasks with recordings (replay them in the dashboard)")


def _common(p, config_help: str, metric: str, seeds: bool = True) -> None:
    p.add_argument("config", nargs="?", help=config_help)
    p.add_argument("--agent", "-a", action="append", default=[], metavar="SPEC",
                   help="an agent or grid (repeatable), e.g. "
                        "sma_cross:fast=5..50/5,slow=20..200/10 or rsi:period=7|14|21")
    p.add_argument("--symbol", "-s", action="append", default=[], metavar="SYM",
                   help="a market (repeatable): a bundled symbol, or SYM1,SYM2 for one market "
                        "of both")
    p.add_argument("--data", metavar="FILE", help="a CSV or Parquet file of OHLCV bars")
    p.add_argument("--start", help="first date (inclusive)")
    p.add_argument("--end", help="last date (inclusive)")
    p.add_argument("--calendar", choices=CALENDARS, help="as for `arena run`")
    if seeds:
        p.add_argument("--seeds", type=int, metavar="N",
                       help="N seeds per task: --seed .. --seed+N-1")
    p.add_argument("--seed", type=int, help="first seed (default 0)")
    p.add_argument("--samples", type=int, metavar="N",
                   help="random search: N combinations per grid, drawn without replacement")
    p.add_argument("--sample-seed", type=int, metavar="N", help="seed of the random search")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler, e.g. tcp://host:8786 (default: a local "
                        "cluster)")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default 2)")
    p.add_argument("--out", "-o", metavar="DIR",
                   help="results folder (default sweeps/sweep-TIME); re-use it to resume")
    p.add_argument("--metric", help=f"the statistic that ranks (default {metric})")
    p.add_argument("--run-dir", help="where --record writes recordings (default ./runs)")
    p.add_argument("--cash", type=float, help="starting cash per agent (default 100000)")
    p.add_argument("--fee-bps", type=float, help="fee per fill in basis points")
    p.add_argument("--slippage-bps", type=float, help="slippage per fill in basis points")
    p.add_argument("--leverage", type=float, help="leverage cap (default 1)")
    p.add_argument("--fractional", action="store_true", help="trade fractional units")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")

"""`arena tournament`: the ranking, P(A beats B), rank stability, deflated Sharpe."""

from __future__ import annotations

import json

import pandas as pd

from arena.config import ConfigError
from arena.sweep.command import _json_value, console, spec_from_args
from arena.sweep.tournament import run_tournament

__all__ = ["cmd_tournament"]

TOP = 30  # competitors shown in the P(beats) matrix of the table format


def cmd_tournament(args) -> int:
    if args.resamples < 1:
        raise ConfigError(f"--resamples must be >= 1, got {args.resamples}")
    if not 0.0 < args.level < 1.0:
        raise ConfigError(f"--level must be between 0 and 1 (e.g. 0.95), got {args.level}")
    spec = spec_from_args(args, table="tournament", metric="return_pct")
    with console() as (note, progress):
        t = run_tournament(spec, resamples=args.resamples, level=args.level,
                           progress=progress, note=note)
    failed = t.results["failure"].notna().sum() if "failure" in t.results else 0
    if failed:
        note(f"{failed} task(s) failed (left out of the statistics as undefined)")
    if args.format == "csv":
        print(t.ranking.to_csv(index=False), end="")
        return 0
    if args.format == "json":
        print(json.dumps({
            "metric": t.metric, "level": args.level, "resamples": args.resamples,
            "ranking": _records(t.ranking),
            "beats": {str(a): {str(b): _json_value(v) for b, v in row.items()}
                      for a, row in t.beats.iterrows()},
            "rank_stability": {"mean_tau": _json_value(t.mean_tau),
                               "pairs": _records(t.stability)},
            "deflated": _records(t.deflated)}, indent=2, default=str))
        return 0
    fmt = lambda x: f"{x:,.3f}"  # noqa: E731
    tasks = t.results[["market", "window_start", "window_end", "seed"]].drop_duplicates()
    pct = f"{args.level * 100:g}%"
    print(f"tournament: {t.results['spec'].nunique()} competitor(s) × {len(tasks)} task(s) "
          f"(markets × windows × seeds); results in {spec.out}/results.parquet")
    print(f"ranking by {t.metric}: mean over tasks, {pct} bootstrap CI "
          f"({args.resamples:,} resamples of the tasks), P(beat buy & hold), mean rank")
    print(t.ranking.to_string(index=False, float_format=fmt))
    print("P(row beats column), bootstrap over paired tasks:")
    print(t.beats.iloc[:TOP, :TOP + 1].to_string(float_format=lambda x: f"{x:.2f}"))
    if len(t.stability):
        print(f"rank stability: Kendall's tau-b between consecutive windows (k-th window "
              f"of each market), mean {t.mean_tau:.3f}")
        print(t.stability.to_string(index=False, float_format=fmt))
    else:
        print("rank stability: one window, nothing to compare (give --window)")
    if len(t.deflated):
        print("deflated Sharpe of each grid's best, per task:")
        show = t.deflated.assign(window_start=pd.to_datetime(
            t.deflated["window_start"]).dt.strftime("%Y-%m-%d")).drop(columns=["window_end"])
        print(show.to_string(index=False, float_format=fmt))
    return 0


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _json_value(v) for k, v in r.items()} for r in frame.to_dict("records")]

"""`arena walkforward`: the folds table, the stitched out-of-sample statistics, files."""

from __future__ import annotations

import json

import pandas as pd

from arena.config import ConfigError
from arena.sweep.command import _json_value, console, spec_from_args
from arena.sweep.walkforward import EQUITY, STATS, WINDOWS, run_walk_forward

__all__ = ["cmd_walkforward"]

#: the stitched statistics the table format shows
SHOWN_STATS = ("return_pct", "return_ann_pct", "sharpe", "sortino", "max_drawdown_pct",
               "trades", "exposure_pct", "buy_hold_return_pct")


def cmd_walkforward(args) -> int:
    spec = spec_from_args(args)
    if spec.window is None:
        raise ConfigError("walk-forward needs --window LEN (the in-sample length), e.g. "
                          "--window 2y --oos 6m")
    with console() as (note, progress):
        wf = run_walk_forward(spec, oos=args.oos, anchored=args.anchored, progress=progress,
                              note=note)
    if args.format == "json":
        print(json.dumps({
            "windows": _records(wf.windows),
            "stats": {m: {k: _json_value(v) for k, v in wf.stats[m].items()}
                      for m in wf.stats.columns}}, indent=2, default=str))
        return 0
    if args.format == "csv":
        print(wf.windows.to_csv(index=False), end="")
        return 0
    show = wf.windows.copy()
    for col in ("is_start", "is_end", "oos_start", "oos_end"):
        show[col] = pd.to_datetime(show[col]).dt.strftime("%Y-%m-%d")
    show = show.drop(columns=["oos_equity"])
    print(f"walk-forward: {len(show)} fold(s), {int(show['tried'].iloc[0])} combination(s) "
          f"tried in each, chosen by in-sample {spec.metric}; files in {spec.out}/ "
          f"({WINDOWS}, {EQUITY}, {STATS}, results.parquet)")
    print(show.to_string(index=False, float_format=lambda x: f"{x:,.2f}"))
    print("stitched out-of-sample statistics:")
    stats = wf.stats.loc[[k for k in SHOWN_STATS if k in wf.stats.index]]
    print(stats.to_string(float_format=lambda x: f"{x:,.2f}"))
    return 0


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _json_value(v) for k, v in r.items()} for r in frame.to_dict("records")]

"""Walk-forward optimisation: folds worked by hand, a choice that is right by
construction, no out-of-sample bar in any choice, and the stitched curve chained by hand."""

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arena.config import RunSpec
from arena.engine import Competition, CompetitionConfig
from arena.sweep.sweep import SweepSpec, run_sweep
from arena.sweep.walkforward import EQUITY, WINDOWS, folds, run_walk_forward, select
from arena.sweep.windows import WindowError
from tests.arena.sweep.test_cli_sweep import arena

GRID = "buy_and_hold:weight=0|0.5|1"
UP, DOWN = 1, -1
# 20-bar segments; each bar moves 1% in its segment's direction
SEGMENTS = [UP, DOWN, DOWN, UP, UP, DOWN]


def write_prices(path: Path, segments=SEGMENTS, seg=20) -> Path:
    moves = np.repeat(np.asarray(segments, float) * 0.01, seg)
    close = 100 * np.cumprod(1 + moves)
    days = pd.date_range("2021-01-04", periods=len(close), freq="D")
    pd.DataFrame({"time": days.strftime("%Y-%m-%d"), "open": close, "high": close * 1.001,
                  "low": close * 0.999, "close": close, "volume": 1000}).to_csv(path, index=False)
    return path


def spec_for(path: Path, out: Path, **kw) -> SweepSpec:
    return SweepSpec(agents=(GRID,), file=str(path), window=20, step=20, metric="return_pct",
                     out=str(out), **kw)


def test_folds_by_hand():
    times = pd.date_range("2021-01-01", periods=100, freq="D").to_numpy()
    f = folds(times, 40, oos=20)  # step defaults to oos
    assert [(x.ins.lo, x.ins.hi, x.oos.lo, x.oos.hi) for x in f] == \
        [(0, 40, 40, 60), (20, 60, 60, 80), (40, 80, 80, 100)]
    f = folds(times, 40, oos=10, step=30, anchored=True)
    assert [(x.ins.lo, x.ins.hi, x.oos.lo, x.oos.hi) for x in f] == \
        [(0, 40, 40, 50), (0, 70, 70, 80)]
    assert f[1].oos.start == pd.Timestamp("2021-03-12", tz="UTC")
    f = folds(times, "30d", step="20d")  # durations: [start, start+30d) then 20 days
    assert [(x.ins.lo, x.ins.hi, x.oos.lo, x.oos.hi) for x in f] == \
        [(0, 30, 30, 50), (20, 50, 50, 70), (40, 70, 70, 90)]
    for args, message in [((40,), "--oos LEN or --step"), ((40, 30, 20), "would overlap"),
                          ((90, 20), "no whole walk-forward fold"),
                          ((40, "10d"), "must all be bars or all durations")]:
        with pytest.raises(WindowError, match=message):
            folds(times, *args)


def test_select_breaks_ties_by_grid_order_and_puts_nan_last():
    rows = pd.DataFrame({"spec": ["a", "b", "c", "d"], "sharpe": [1.0, 2.0, 2.0, np.nan],
                         "failure": [None] * 4})
    assert select(rows, "sharpe", ["d", "c", "b", "a"]) == ("c", 2.0)
    assert select(rows, "sharpe", ["a", "b", "c", "d"]) == ("b", 2.0)
    rows["max_drawdown_bars"] = [5.0, 3.0, 3.0, 1.0]  # lower is better
    assert select(rows, "max_drawdown_bars", ["a", "b", "c", "d"]) == ("d", 1.0)


def test_each_fold_chooses_the_in_sample_trend_and_runs_it_only_later(tmp_path):
    path = write_prices(tmp_path / "p.csv")
    wf = run_walk_forward(spec_for(path, tmp_path / "wf"), oos=20, client=False)
    w = wf.windows
    # in-sample segment k up -> weight 1 wins; down -> weight 0 (no trade, 0%) wins
    assert list(w["spec"]) == [f"buy_and_hold:weight={x}" for x in (1, 0, 0, 1, 1)]
    assert list(w["is_bars"]) == [20] * 5 and list(w["oos_bars"]) == [20] * 5
    times = pd.DatetimeIndex(pd.read_csv(path)["time"]).tz_localize("UTC")
    for k, row in w.iterrows():  # out-of-sample = the next segment, after the in-sample end
        assert row["is_start"] == times[20 * k] and row["is_end"] == times[20 * k + 19]
        assert row["oos_start"] == times[20 * k + 20] and row["oos_end"] == times[20 * k + 39]
        fold_eq = wf.equity[wf.equity["fold"] == k + 1]
        assert fold_eq.index.equals(times[20 * k + 20: 20 * k + 40])
    assert (w["oos_return_pct"].iloc[[1, 2]] == 0).all()  # weight 0 never trades
    assert w["oos_return_pct"].iloc[0] < 0 < w["oos_return_pct"].iloc[3]  # chose up, got down; up
    # the in-sample table is a sweep's: the same rows as `arena sweep --window 20 --step 20`
    frame, _ = run_sweep(replace(spec_for(path, tmp_path / "sweep")), client=False)
    ins = frame[frame["window_end"] < times[100]]  # the last window has no out-of-sample
    best = ins.sort_values("return_pct", ascending=False, kind="stable").groupby(
        "window_start", sort=True).head(1).sort_values("window_start")
    assert list(best["spec"]) == list(w["spec"])
    assert set(ins["task_id"]) == set(wf.insample["task_id"])


def test_no_out_of_sample_bar_is_used_for_selection(tmp_path):
    base = run_walk_forward(spec_for(write_prices(tmp_path / "a.csv"), tmp_path / "a"),
                            oos=20, client=False).windows
    # fold 2 chooses on bars 20..39; change everything from bar 40 (its out-of-sample) on
    later = run_walk_forward(spec_for(write_prices(tmp_path / "b.csv", [UP, DOWN, UP, DOWN, DOWN,
                                                                        UP]), tmp_path / "b"),
                             oos=20, client=False).windows
    assert later["spec"].iloc[:2].tolist() == base["spec"].iloc[:2].tolist()
    assert later["is_return_pct"].iloc[:2].tolist() == base["is_return_pct"].iloc[:2].tolist()
    assert later["oos_return_pct"].iloc[1] == 0 and later["spec"].iloc[2] != base["spec"].iloc[2]
    # change bars before 40 (fold 2's in-sample segment turns up): its choice follows
    earlier = run_walk_forward(spec_for(write_prices(tmp_path / "c.csv", [UP, UP, DOWN, UP, UP,
                                                                          DOWN]), tmp_path / "c"),
                               oos=20, client=False).windows
    assert earlier["spec"].iloc[1] == "buy_and_hold:weight=1" != base["spec"].iloc[1]


def test_stitched_equity_is_the_out_of_sample_runs_chained_by_hand(tmp_path):
    spec = SweepSpec(agents=("sma_cross:fast=5|10,slow=20|40",), symbols=("GOOG",),
                     start="2010-01-01", end="2014-12-31", window="1y", step="6m",
                     metric="sharpe", out=str(tmp_path / "wf"))
    wf = run_walk_forward(spec, client=False)
    data = RunSpec(symbols=("GOOG",), start="2010-01-01", end="2014-12-31").load_data()
    idx = pd.DatetimeIndex(data.times).tz_localize("UTC")
    cash = CompetitionConfig().portfolio.cash
    level, expected = 1.0, []
    for row in wf.windows.itertuples():
        lo, hi = idx.get_loc(row.oos_start), idx.get_loc(row.oos_end) + 1
        comp = Competition(data.slice(lo, hi), [row.spec], CompetitionConfig(record=False))
        comp.run()
        eq = comp.equity_frame().iloc[:, 0]
        assert eq.index[0] > row.is_end  # only bars after the in-sample window
        assert row.oos_equity == pytest.approx(eq.iloc[-1], abs=0)
        expected.append(eq * level)
        level *= eq.iloc[-1] / cash
    expected = pd.concat(expected)
    assert len(wf.windows) == 4  # GOOG ends in March 2013
    assert wf.equity.index.equals(expected.index)
    np.testing.assert_allclose(wf.equity["equity"].to_numpy(), expected.to_numpy(), rtol=1e-12)
    growth = math.prod(1 + r / 100 for r in wf.windows["oos_return_pct"])
    assert wf.stats.loc["return_pct", "GOOG"] == pytest.approx((growth - 1) * 100, rel=1e-9)
    assert wf.stats.loc["bars", "GOOG"] == len(expected)
    saved = pd.read_parquet(tmp_path / "wf" / EQUITY)
    assert np.array_equal(saved["equity"].to_numpy(), wf.equity["equity"].to_numpy())


def test_the_stitched_equity_is_what_the_walk_forward_view_draws(tmp_path):
    import holoviews as hv

    from arena.ui.sweep.walkforward import boundaries, walk_forward_plot

    wf = run_walk_forward(spec_for(write_prices(tmp_path / "p.csv"), tmp_path / "wf"), oos=20,
                          client=False)
    starts = boundaries(wf.equity)
    assert list(starts["time"]) == list(wf.windows["oos_start"])
    fig = hv.render(walk_forward_plot(wf.equity), backend="bokeh")
    assert fig.title.text == "walk-forward: out-of-sample equity"


@pytest.mark.slow
def test_walkforward_command_on_a_local_cluster(tmp_path):
    write_prices(tmp_path / "p.csv")
    out = arena("walkforward", "--agent", GRID, "--data", "p.csv", "--window", "20", "--oos",
                "20", "--metric", "return_pct", "--workers", "1", "--out", "wf",
                "--format", "json", cwd=tmp_path)
    doc = json.loads(out.stdout)
    assert [r["spec"] for r in doc["windows"]] == \
        [f"buy_and_hold:weight={x}" for x in (1, 0, 0, 1, 1)]
    assert "Dask dashboard: http://" in out.stderr
    assert len(pd.read_parquet(tmp_path / "wf" / WINDOWS)) == 5
    table = arena("walkforward", "--agent", GRID, "--data", "p.csv", "--window", "20", "--oos",
                  "20", "--metric", "return_pct", "--workers", "1", "--out", "wf", cwd=tmp_path)
    assert "resuming: 15 of 15 tasks" in table.stderr  # 3 specs × 5 folds, all done
    assert "stitched out-of-sample statistics:" in table.stdout
    assert "buy_and_hold:weight=1" in table.stdout


@pytest.mark.parametrize("args, message", [
    (["--window", "20"], "--oos LEN or --step LEN"),
    (["--oos", "20"], "walk-forward needs --window"),
    (["--window", "20", "--oos", "30", "--step", "20"], "would overlap"),
    (["--window", "20", "--oos", "20", "--metric", "nope"], "unknown --metric 'nope'"),
])
def test_walkforward_bad_input_is_one_line_exit_2(tmp_path, args, message):
    write_prices(tmp_path / "p.csv")
    out = arena("walkforward", "--agent", GRID, "--data", "p.csv", "--workers", "1",
                "--out", "wf", *args, cwd=tmp_path, check=False)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("arena: error: ") and message in lines[0]


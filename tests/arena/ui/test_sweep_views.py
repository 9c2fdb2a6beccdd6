"""The sweep views (arena.ui.sweep) show the results' own numbers: each heatmap cell is
the mean of the rows that ran with its pair of values, each ranking bar is
significance.ranking's interval, each walk-forward line is where a window starts; and
the sweep page reads a results folder as it grows. Results come from a real (small)
sweep run here through arena.sweep's public functions."""

from __future__ import annotations

import io
import math

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from bokeh.models import ColumnDataSource

from arena.analysis.significance import ranking
from arena.cli import main
from arena.config import ConfigError
from arena.data import load_bundled
from arena.engine import CompetitionConfig
from arena.server import sweep_page
from arena.sweep import plan_tasks, run_task, run_tasks
from arena.sweep.results import ResultsWriter, write_manifest
from arena.ui.sweep import (
    SweepView,
    heatmap,
    parallel_coordinates,
    ranked,
    ranking_plot,
    scatter,
    walk_forward_plot,
)
from arena.ui.sweep.scatter import normalised
from arena.ui.sweep.table import grid_means
from arena.ui.sweep.walkforward import boundaries

CONFIG = CompetitionConfig()
# 3 x 3 x 2 SMA pairs, fast >= slow skipped (fast=40, slow=30), plus buy & hold;
# on GOOG's first 1,000 bars in 3 windows of 400 bars every 300
GRIDS = ["sma_cross:fast=10|20|40,slow=30|50|80,weight=0.5|1", "buy_and_hold"]


@pytest.fixture(scope="module")
def sweep():
    markets = {"GOOG": load_bundled(["GOOG"]).slice(0, 1000)}
    plan = plan_tasks(GRIDS, markets, CONFIG, window=400, step=300, seeds=(0,))
    frame = run_tasks(plan.tasks, markets, CONFIG)
    return frame, plan, markets


@pytest.fixture
def results(sweep):
    return sweep[0]


def sma(results):
    return results[results["agent"] == "sma_cross"]


def cells(el) -> pd.DataFrame:
    """A HeatMap's (or an overlay's HeatMap's) cells as a frame."""
    heat = el.get(0) if isinstance(el, hv.Overlay) else el
    return heat.dframe()


# -- heatmap ----------------------------------------------------------------------------

def test_the_sweep_is_what_the_views_are_tested_on(results, sweep):
    _, plan, _ = sweep
    assert plan.skipped == 2  # fast=40 with slow=30, for each weight
    assert len(results) == (16 + 1) * 3 and results["failure"].isna().all()


def test_each_heatmap_cell_is_the_mean_of_its_rows(results):
    el = heatmap(results, "sharpe", "fast", "slow", agent="sma_cross")

    got = cells(el)
    rows = sma(results)
    for _, cell in got.iterrows():
        match = rows[(rows["param_fast"] == float(cell["fast"]))
                     & (rows["param_slow"] == float(cell["slow"]))]
        values = match["sharpe"][np.isfinite(match["sharpe"])]
        assert cell["n"] == len(values)
        if len(values):
            assert cell["sharpe"] == pytest.approx(values.mean(), rel=1e-12)
        else:
            assert math.isnan(cell["sharpe"])
    # every pair of values is a cell, in value order; the skipped one is empty
    assert list(got["fast"]) == ["10"] * 3 + ["20"] * 3 + ["40"] * 3
    assert list(got["slow"]) == ["30", "50", "80"] * 3
    empty = got[(got["fast"] == "40") & (got["slow"] == "30")]
    assert empty["n"].tolist() == [0] and math.isnan(empty["sharpe"].iloc[0])
    assert got["n"].sum() == len(rows)  # each row in one cell: 2 weights x 3 windows


def test_the_rendered_heatmap_holds_the_same_numbers(results):
    el = heatmap(results, "return_pct", "slow", "fast", agent="sma_cross")

    model = hv.render(el, backend="bokeh")
    source = next(s for s in model.select(ColumnDataSource) if "zvalues" in s.data)

    want = grid_means(results, "return_pct", "slow", "fast", agent="sma_cross")
    drawn = pd.DataFrame({"slow": list(source.data["slow"]), "fast": list(source.data["fast"]),
                          "v": list(source.data["zvalues"])})
    merged = drawn.merge(want.assign(slow=want["slow"].map("{:g}".format),
                                     fast=want["fast"].map("{:g}".format)), on=["slow", "fast"])
    assert len(merged) == len(want) == 9
    np.testing.assert_allclose(merged["v"], merged["return_pct"], rtol=1e-12)


def test_fixed_values_pick_rows_and_sliders_key_the_other_parameters(results):
    half = cells(heatmap(results, "sharpe", "fast", "slow", agent="sma_cross", weight=0.5))
    rows = sma(results)
    rows = rows[(rows["param_weight"] == 0.5) & (rows["param_fast"] == 20)
                & (rows["param_slow"] == 80)]
    cell = half[(half["fast"] == "20") & (half["slow"] == "80")].iloc[0]
    assert cell["sharpe"] == pytest.approx(rows["sharpe"].mean(), rel=1e-12)
    assert cell["n"] == 3  # the three windows

    maps = heatmap(results, "sharpe", "fast", "slow", sliders=True, agent="sma_cross")

    assert isinstance(maps, hv.HoloMap) and [d.name for d in maps.kdims] == ["weight"]
    assert sorted(maps.keys()) == [0.5, 1.0]
    for weight in (0.5, 1.0):
        frame = cells(maps[weight])
        fixed = cells(heatmap(results, "sharpe", "fast", "slow", agent="sma_cross",
                              weight=weight))
        pd.testing.assert_frame_equal(frame.reset_index(drop=True),
                                      fixed.reset_index(drop=True))


def test_undefined_values_are_left_out_of_a_cell_on_a_hand_made_table():
    table = pd.DataFrame({"agent": "a", "param_p": [1, 1, 1, 2, 2, 2],
                          "param_q": [7, 7, 7, 7, 7, 8],
                          "sharpe": [1.0, 2.0, np.nan, np.inf, 4.0, -1.0],
                          "failure": [None, None, None, None, None, "boom"]})

    got = cells(heatmap(table, "sharpe", "p", "q"))

    # p=1,q=7: (1 + 2) / 2; p=2,q=7: the infinite value is undefined, 4; p=2,q=8 failed
    assert got.set_index(["p", "q"])["sharpe"].to_dict() == pytest.approx(
        {("1", "7"): 1.5, ("2", "7"): 4.0}, nan_ok=True)
    assert got.set_index(["p", "q"])["n"].to_dict() == {("1", "7"): 2, ("2", "7"): 1}


@pytest.mark.parametrize(("call", "message"), [
    (lambda r: heatmap(r, "sharp", "fast", "slow"), "no metric 'sharp'"),
    (lambda r: heatmap(r, "sharpe", "fast", "width"), "no parameter or column 'width'"),
    (lambda r: heatmap(r, "sharpe", "fast", "fast"), "must differ"),
    (lambda r: heatmap(r, "sharpe", "fast", "slow", market="AAPL"), "with market='AAPL'"),
    (lambda r: heatmap(r.assign(agent=np.where(r.index % 2, "ema", "sma")), "sharpe", "fast",
                       "slow"), "several agents"),
])
def test_bad_choices_say_what_is_wrong(results, call, message):
    with pytest.raises(ValueError, match=message):
        call(results)


# -- ranking ----------------------------------------------------------------------------

def test_ranking_bars_are_the_rankings_intervals(results):
    whole = ranking(results, "sharpe", n_boot=2000)

    table = ranked(results, "sharpe", top=6, n_boot=2000)
    plot = ranking_plot(results, "sharpe", table=table)

    # the top 6 by mean and buy & hold (not among them), each with the whole table's numbers
    best = whole["agent"].head(6).tolist()
    assert set(table["agent"]) == {*best, "buy_and_hold"}
    mine = table.set_index("agent")
    theirs = whole.set_index("agent").loc[mine.index]
    pd.testing.assert_frame_equal(mine[["mean", "lo", "hi", "n"]],
                                  theirs[["mean", "lo", "hi", "n"]])
    bars = plot.get(0).dframe().set_index("agent")
    np.testing.assert_allclose(bars["mean"] - bars["neg"], mine.loc[bars.index, "lo"])
    np.testing.assert_allclose(bars["mean"] + bars["pos"], mine.loc[bars.index, "hi"])
    # the best at the top: a categorical axis is drawn from the bottom up
    assert bars.index[-1] == whole["agent"].iloc[0]
    assert list(bars.index) == table["agent"].iloc[::-1].tolist()
    assert list(bars["mean"]) == sorted(bars["mean"])


def test_buy_and_hold_is_marked(results):
    plot = ranking_plot(results, "sharpe", top=3, n_boot=500)
    marked = [el for el in plot if el.label == "buy & hold"]
    assert len(marked) == 1 and marked[0].dframe()["agent"].tolist() == ["buy_and_hold"]

    # without the agent, return_pct's benchmark column is a line at its mean over tasks
    no_bh = results[results["agent"] != "buy_and_hold"]
    plot = ranking_plot(no_bh, "return_pct", top=3, n_boot=500)
    line = [el for el in plot if el.label == "buy & hold"]
    per_task = no_bh.groupby("window_start")["buy_hold_return_pct"].first()
    assert len(line) == 1 and line[0].data == pytest.approx(per_task.mean(), rel=1e-12)


def test_lower_is_better_ranks_the_lowest_first(results):
    table = ranked(results, "volatility_ann_pct", top=4, n_boot=200)
    means = table["mean"].tolist()
    assert means == sorted(means)


# -- more than two parameters -----------------------------------------------------------

def test_scatter_points_and_parallel_lines_are_combination_means(results):
    rows = sma(results)
    grid = scatter(rows, "sharpe", ["fast", "slow", "weight"])
    lines = parallel_coordinates(rows, "sharpe", ["fast", "slow", "weight"])

    by_fast = list(grid)[0].dframe()
    assert len(grid) == 3 and len(by_fast) == 16  # one point per combination that ran
    point = by_fast[(by_fast["fast"] == 20) & (by_fast["slow"] == 50)
                    & (by_fast["weight"] == 1)].iloc[0]
    match = rows[(rows["param_fast"] == 20) & (rows["param_slow"] == 50)
                 & (rows["param_weight"] == 1)]
    assert point["sharpe"] == pytest.approx(match["sharpe"].mean(), rel=1e-12)

    path = next(el for el in lines if isinstance(el, hv.Path))
    assert len(path.data) == 16
    assert [line["sharpe"] for line in path.data] == sorted(by_fast["sharpe"])  # best on top
    sharpe = by_fast["sharpe"]
    for line in path.data:
        # the metric's axis: the combination's mean scaled over min..max of all of them
        want = (line["sharpe"] - sharpe.min()) / (sharpe.max() - sharpe.min())
        assert line["y"][3] == pytest.approx(want)
        assert line["y"][0] == pytest.approx({10: 0, 20: 1 / 3, 40: 1}[int(line["fast"])])


def test_normalised_axes_on_a_hand_made_table():
    means = pd.DataFrame({"a": [1.0, 3.0, 2.0], "b": ["x", "z", "y"], "c": [5, 5, 5]})
    got = normalised(means, ["a", "b", "c"])
    assert got["a"].tolist() == [0.0, 1.0, 0.5]
    assert got["b"].tolist() == [0.0, 1.0, 0.5]  # text by its sorted order
    assert got["c"].tolist() == [0.5, 0.5, 0.5]  # one value: the middle


# -- walk-forward -----------------------------------------------------------------------

OOS = pd.DataFrame(
    {"equity": [100.0, 101, 103, 102, 104, 107, 106, 108],
     "window": ["2020 fast=5"] * 3 + ["2021 fast=10"] * 3 + ["2022 fast=5"] * 2},
    index=pd.date_range("2020-01-01", periods=8, freq="D", tz="UTC"))


def test_walk_forward_lines_are_where_each_window_starts():
    plot = walk_forward_plot(OOS)

    curve, vlines, labels = plot.get(0), plot.get(1), plot.get(2)
    assert curve.dimension_values("equity").tolist() == OOS["equity"].tolist()
    starts = vlines.dimension_values(0)
    assert [pd.Timestamp(t) for t in starts] == [pd.Timestamp("2020-01-04"),
                                                 pd.Timestamp("2020-01-07")]
    assert labels.dimension_values("text").tolist() == ["2020 fast=5", "2021 fast=10",
                                                        "2022 fast=5"]
    assert boundaries(OOS)["window"].tolist() == ["2020 fast=5", "2021 fast=10",
                                                  "2022 fast=5"]
    hv.render(plot, backend="bokeh")  # draws


@pytest.mark.parametrize(("frame", "message"), [
    (OOS.drop(columns="window"), "no column window"),
    (OOS.reset_index(drop=True), "indexed by time"),
    (OOS.iloc[::-1], "not in order"),
    (OOS.iloc[:1], "fewer than 2 rows"),
])
def test_walk_forward_bad_input_is_named(frame, message):
    with pytest.raises(ValueError, match=message):
        walk_forward_plot(frame)


# -- the page ---------------------------------------------------------------------------

def test_the_sweep_page_reads_a_folder_as_it_grows(sweep, tmp_path):
    results, plan, markets = sweep
    out = tmp_path / "sweep"
    first = plan.tasks[:30]
    run_tasks(first, markets, CONFIG, out=out)
    write_manifest(out, {"tasks": len(plan.tasks), "metric": "return_pct",
                         "agents": ["<script>alert(1)</script>"]})

    view = SweepView(out=str(out))

    assert (view.done, view.planned) == (30, len(plan.tasks)) == (30, 51)
    assert "30</b> of <b>51</b> tasks done" in view._count.object
    assert view.metric == "return_pct" and (view.x, view.y) == ("fast", "slow")
    assert "&lt;script&gt;" in view._about.object and "<script>" not in view._about.object
    loaded = view.snapshot.results
    pd.testing.assert_frame_equal(view.ranking_table,
                                  ranked(loaded, "return_pct", 20, n_boot=2000))
    pd.testing.assert_frame_equal(view._table.value.reset_index(drop=True),
                                  view.ranking_table.round(6))
    assert view.refresh() is False  # nothing new
    before = view.ranking_table

    # a part file appears: the next look counts it
    writer = ResultsWriter(out)
    for t in plan.tasks[30:40]:
        writer.add(run_task(t, markets[t.market], CONFIG))
    writer.flush()
    assert view.refresh() is True
    assert view.done == 40 and view._progress.value == 40 and view._progress.max == 51
    # the charts wait for redraw_s (5 s) while the sweep runs; then show the new rows
    assert view.ranking_table is before and view._stale
    view._drawn -= view.redraw_s
    assert view.refresh() is False and not view._stale
    assert len(view.ranking_table) > len(before)  # 13 agents (with some of the windows)
    pd.testing.assert_frame_equal(view.ranking_table,
                                  ranked(view.snapshot.results, "return_pct", 20, n_boot=2000))

    # choices redraw; downloads hold the folder's table
    view.metric, view.x, view.y = "sharpe", "slow", "weight"
    heat = view._heat.objects[0].object
    assert cells(heat)["slow"].tolist()[:2] == ["30", "30"]
    back = pd.read_parquet(io.BytesIO(view.parquet_bytes()))
    assert set(back["task_id"]) == set(view.snapshot.results["task_id"]) and len(back) == 40
    csv = pd.read_csv(io.BytesIO(view.csv_bytes()))
    assert len(csv) == 40 and csv["window_start"].iloc[0].endswith("Z")
    html = view.heatmap_bytes("html")
    assert html.startswith(b"<!DOCTYPE html>") and b"zvalues" in html


def test_a_sweep_with_one_parameter_explains_the_missing_heatmap(sweep, tmp_path):
    _, plan, markets = sweep
    out = tmp_path / "one"
    tasks = [t for t in plan.tasks if "weight=1" in t.spec and "slow=80" in t.spec]
    run_tasks(tasks, markets, CONFIG, out=out)

    view = SweepView(out=str(out))

    assert view.x == "fast" and view.y is None and view._heat.objects == []
    assert "needs two parameters" in view._note.object
    assert view._rank.object is not None  # the ranking still shows


def test_a_folder_of_failed_tasks_says_so(results, tmp_path):
    from arena.sweep.results import save_results

    save_results(tmp_path, results.assign(failure="RuntimeError: boom"))

    view = SweepView(out=str(tmp_path))

    assert view.done == len(results) and view._heat.objects == [] and view._rank.object is None
    assert "no finished task in the results" in view._note.object


def test_serve_sweep_needs_an_existing_folder(tmp_path, capsys):
    with pytest.raises(ConfigError, match="no such results folder"):
        sweep_page(str(tmp_path / "nope"))
    assert main(["serve", "--sweep", str(tmp_path / "nope"), "--port", "1"]) == 2
    assert "--sweep" in capsys.readouterr().err
    assert callable(sweep_page(str(tmp_path)))

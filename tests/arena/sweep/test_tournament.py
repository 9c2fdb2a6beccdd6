"""`arena tournament` end to end on a real local cluster: the printed statistics equal
arena.analysis.significance on the results table, and independent computations."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from arena.analysis.significance import deflate_grid, prob_beats, ranking
from arena.data import load
from arena.metrics import infer_periods_per_year
from arena.sweep.tournament import TASK
from tests.arena.sweep.test_cli_sweep import arena

AGENTS = ["--agent", "sma_cross:fast=5|10|20,slow=40", "--agent", "buy_and_hold",
          "--agent", "random:trade_prob=0.2"]
# 5 competitors × GOOG and AAPL × 2 windows of 500 bars × 2 seeds
ARGS = [*AGENTS, "--symbol", "GOOG", "--symbol", "AAPL", "--start", "2005-01-01",
        "--window", "500", "--step", "1000", "--seeds", "2", "--resamples", "2000", "--level", "0.9", "--workers", "1"]


@pytest.fixture(scope="module")
def tournament(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("tournament")
    out = arena("tournament", *ARGS, "--out", "t", "--format", "json", cwd=cwd)
    return json.loads(out.stdout), pd.read_parquet(cwd / "t" / "results.parquet"), cwd, out


@pytest.mark.slow
def test_the_ranking_is_significance_ranking_of_the_results(tournament):
    doc, results, cwd, out = tournament
    assert "Dask dashboard: http://" in out.stderr
    assert len(results) == 5 * 2 * 2 * 2 and doc["metric"] == "return_pct"
    mine = pd.DataFrame(doc["ranking"])
    theirs = ranking(results, "return_pct", n_boot=2000, level=0.9, seed=0, task=TASK)
    pd.testing.assert_frame_equal(mine, theirs, check_dtype=False)
    assert len(mine) == 5 and mine["n"].eq(8).all()
    # the mean is the plain mean over the agent's 8 tasks; P(beat buy & hold) is vs the column
    for row in mine.itertuples():
        assert row.mean == pytest.approx(results.loc[results["spec"] == row.agent,
                                                     "return_pct"].mean(), rel=1e-12)
        assert row.lo <= row.mean <= row.hi and 0 <= row.p_beat_benchmark <= 1
    saved = pd.read_csv(cwd / "t" / "ranking.csv")
    np.testing.assert_allclose(saved["mean"], mine["mean"], rtol=1e-12)
    beats = pd.DataFrame(doc["beats"]).T
    expected = prob_beats(results, "return_pct", n_boot=2000, seed=0, task=TASK)
    np.testing.assert_allclose(beats.loc[expected.index, expected.columns].astype(float),
                               expected.to_numpy(), equal_nan=True)
    assert "buy & hold" in beats.columns


@pytest.mark.slow
def test_rank_stability_is_kendalls_tau_between_windows(tournament):
    doc, results, _, _ = tournament
    results = results.assign(window=results.groupby("market")["window_start"].rank(
        method="dense").astype(int))
    means = results.groupby(["window", "spec"])["return_pct"].mean().unstack()
    tau = scipy.stats.kendalltau(means.loc[1], means.loc[2]).statistic  # τ-b, independent
    pairs = doc["rank_stability"]["pairs"]
    assert len(pairs) == 1 and (pairs[0]["from"], pairs[0]["to"]) == (1, 2)
    assert pairs[0]["tau"] == pytest.approx(tau, rel=1e-12)
    assert doc["rank_stability"]["mean_tau"] == pytest.approx(tau, rel=1e-12)


@pytest.mark.slow
def test_each_grid_gets_the_deflated_sharpe_of_its_best(tournament):
    doc, results, _, _ = tournament
    deflated = pd.DataFrame(doc["deflated"])
    assert len(deflated) == 2 * 2 * 2  # one per task, for the one grid (sma_cross)
    assert set(deflated["grid"]) == {"sma_cross:fast=5|10|20,slow=40"}
    grid = results[results["agent"] == "sma_cross"].reset_index(drop=True)
    assert len(grid) == 3 * 8
    for row in deflated.itertuples():
        rows = grid[(grid["market"] == row.market) & (grid["seed"] == row.seed)
                    & (pd.to_datetime(grid["window_start"]) == pd.Timestamp(row.window_start))]
        best = rows.loc[rows["sharpe"].idxmax()]
        assert row.best_spec == best["spec"] and row.n_trials == 3
        assert row.sharpe_ann == pytest.approx(best["sharpe"], rel=1e-12)
        data = load(row.market)
        p = infer_periods_per_year(pd.DatetimeIndex(data.times[:500]).tz_localize("UTC"),
                                   calendar=data.calendar)
        one = deflate_grid(rows, p).iloc[0]
        assert row.dsr == pytest.approx(one["dsr"], rel=1e-12)


@pytest.mark.slow
def test_table_and_config_file(tournament, tmp_path):
    _, results, cwd, _ = tournament
    out = arena("tournament", *ARGS, "--out", "t", cwd=cwd)  # resumes: nothing to run
    assert "resuming: 40 of 40 tasks already in t" in out.stderr
    assert "ranking by return_pct" in out.stdout and "P(row beats column)" in out.stdout
    assert "rank stability: Kendall's tau-b" in out.stdout
    assert "deflated Sharpe of each grid's best" in out.stdout
    csv = arena("tournament", *ARGS, "--out", "t", "--format", "csv", cwd=cwd)
    assert csv.stdout.splitlines()[0] == "agent,mean,lo,hi,n,p_beat_benchmark,mean_rank"
    (tmp_path / "t.toml").write_text(
        '[tournament]\nagents = ["buy_and_hold", "momentum:lookback=10|40"]\n'
        'symbols = ["GOOG"]\nwindow = 700\nmetric = "sharpe"\n[portfolio]\nfee_bps = 5\n')
    doc = json.loads(arena("tournament", "t.toml", "--workers", "1", "--resamples", "500",
                           "--out", "c", "--format", "json", cwd=tmp_path).stdout)
    assert doc["metric"] == "sharpe" and len(doc["ranking"]) == 3
    assert {r["agent"] for r in doc["ranking"]} == {
        "buy_and_hold", "momentum:lookback=10", "momentum:lookback=40"}


@pytest.mark.parametrize("args, message", [
    (["--level", "1.5"], "--level must be between 0 and 1"),
    (["--resamples", "0"], "--resamples must be >= 1"),
    (["--metric", "luck"], "unknown --metric 'luck'"),
    (["--window", "lots"], "bad --window 'lots'"),
    (["--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    out = arena("tournament", "--agent", "buy_and_hold", "--symbol", "GOOG", "--out", "t",
                *args, cwd=tmp_path, check=False)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert lines[0].startswith("arena: error: ") and message in lines[0]


def test_a_sweep_config_is_not_a_tournament_config(tmp_path):
    (tmp_path / "s.toml").write_text('[sweep]\nagents = ["rsi"]\nsymbols = ["GOOG"]\n')
    out = arena("tournament", "s.toml", cwd=tmp_path, check=False)
    assert out.returncode == 2 and "has a [tournament] table" in out.stderr


def test_for_a_lower_is_better_metric_beating_means_a_lower_mean():
    from arena.sweep.tournament import rank_tournament

    rng = np.random.default_rng(3)
    days = pd.date_range("2020-01-01", periods=6, freq="30D", tz="UTC")
    rows = [{"spec": a, "agent": a, "market": "X", "window_start": d, "window_end": d,
             "seed": 0, "max_drawdown_bars": float(rng.integers(1, 50)) + bias}
            for d in days for a, bias in (("buy_and_hold", 20), ("calm", 0), ("wild", 40))]
    results = pd.DataFrame(rows)
    t = rank_tournament(results, "max_drawdown_bars", resamples=500)
    assert list(t.ranking["agent"]) == ["calm", "buy_and_hold", "wild"]  # lowest mean first
    raw = prob_beats(results, "max_drawdown_bars", n_boot=500, seed=0, task=TASK)
    np.testing.assert_allclose(t.beats.to_numpy(), 1 - raw.to_numpy(), equal_nan=True)
    calm = t.ranking.set_index("agent").loc["calm"]
    assert calm["p_beat_benchmark"] == pytest.approx(t.beats.loc["calm", "buy_and_hold"])
    assert calm["p_beat_benchmark"] > 0.9 and t.deflated.empty


def test_the_example_config_is_a_tournament():
    from pathlib import Path

    from arena.sweep.grid import expand, parse_grid
    from arena.sweep.sweep import load_sweep_config

    path = Path(__file__).resolve().parents[3] / "examples" / "tournament.toml"
    spec = load_sweep_config(path, "tournament", "return_pct").checked()
    assert spec.seeds == (0, 1, 2) and spec.symbols == ("GOOG", "AAPL")
    assert sum(len(expand(parse_grid(a))[0]) for a in spec.agents) == 6
    assert spec.config.portfolio.fee_bps == 1.0

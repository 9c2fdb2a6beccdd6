"""Tournament and sweep statistics (arena.analysis.significance, .bootstrap, .deflated)
against independent computations: scipy.stats.bootstrap, hand-rolled loops, the deflated
Sharpe paper's worked example, a direct scipy.stats.norm formula, scipy's Kendall tau and
hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy
import scipy.integrate
import scipy.stats

from arena.analysis import bootstrap
from arena.analysis.significance import (
    agent_ci,
    bootstrap_ci,
    deflate_grid,
    deflated_sharpe,
    expected_max_sharpe,
    metric_matrix,
    prob_beats,
    probabilistic_sharpe,
    rank_stability,
    ranking,
    task_win_share,
)
from arena.metrics import compute_stats

pytestmark = pytest.mark.filterwarnings("error")
EXACT = {"rel": 1e-10, "abs": 1e-12}
# scipy.stats.bootstrap takes its Generator as rng= from 1.15, random_state= before
RNG = "rng" if tuple(map(int, scipy.__version__.split(".")[:2])) >= (1, 15) else "random_state"

# 40 heavy-tailed values (fixed): skewed enough that BCa and percentile differ.
X = np.random.default_rng(1).standard_t(3, 40) + np.random.default_rng(2).exponential(1, 40)


def _results(seed=0, windows=4, symbols=("A", "B"), agents=(("x", 1.0), ("y", 0.0), ("z", -1.0))):
    """One row per (agent, window, symbol): a market move shared by the task plus an
    agent edge plus noise; buy & hold is the market move."""
    rng = np.random.default_rng(seed)
    rows = []
    for w in range(windows):
        for sym in symbols:
            market = rng.normal(5, 10)
            for name, edge in agents:
                rows.append({"agent": name, "window": f"w{w}", "symbol": sym, "seed": 0,
                             "return_pct": market + edge + rng.normal(0, 3),
                             "sharpe": edge + rng.normal(), "buy_hold_return_pct": market})
    return pd.DataFrame(rows)


# -- bootstrap CIs --------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("stat", [np.mean, np.median])
def test_bootstrap_ci_equals_scipy_bootstrap_with_the_same_seed(method, stat):
    ours = bootstrap_ci(X, stat, level=0.9, n_boot=4000, seed=7, method=method)
    ref = scipy.stats.bootstrap((X,), stat, n_resamples=4000, confidence_level=0.9,
                                method=method, **{RNG: np.random.default_rng(7)})
    assert ours.estimate == pytest.approx(stat(X), **EXACT)
    assert ours.lo == pytest.approx(ref.confidence_interval.low, **EXACT)
    assert ours.hi == pytest.approx(ref.confidence_interval.high, **EXACT)


def test_bootstrap_ci_equals_a_hand_rolled_loop_percentile_and_bca():
    n, n_boot, level = X.size, 3000, 0.95
    rng = np.random.default_rng(11)
    boot = np.array([X[rng.integers(0, n, n)].mean() for _ in range(n_boot)])
    theta = X.mean()
    # percentile: the 2.5 % and 97.5 % linear quantiles
    lo, hi = np.percentile(boot, [2.5, 97.5])
    ci = bootstrap_ci(X, n_boot=n_boot, seed=11)
    assert (ci.lo, ci.hi) == (pytest.approx(lo, **EXACT), pytest.approx(hi, **EXACT))
    # BCa written out (Efron & Tibshirani 1993, eq. 14.10, 14.14, 14.15)
    z0 = scipy.stats.norm.ppf((np.sum(boot < theta) + np.sum(boot <= theta)) / (2 * n_boot))
    jack = np.array([np.delete(X, i).mean() for i in range(n)])
    d = jack.mean() - jack
    a = np.sum(d ** 3) / (6 * np.sum(d ** 2) ** 1.5)
    qs = []
    for z in scipy.stats.norm.ppf([(1 - level) / 2, (1 + level) / 2]):
        qs.append(scipy.stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))))
    lo, hi = np.quantile(boot, qs)
    ci = bootstrap_ci(X, n_boot=n_boot, seed=11, method="bca")
    assert (ci.lo, ci.hi) == (pytest.approx(lo, **EXACT), pytest.approx(hi, **EXACT))
    assert ci.lo != pytest.approx(bootstrap_ci(X, n_boot=n_boot, seed=11).lo, rel=1e-3)


def test_percentile_ci_of_the_mean_matches_the_normal_theory_width():
    # For the mean of n values the bootstrap distribution has sd s·sqrt((n-1)/n)/sqrt(n)
    # (plug-in variance); with n = 400 it is close to normal, so the 95 % interval is
    # mean ± 1.96 of that. Monte Carlo error of a 2.5 % quantile with 10 000 resamples is
    # ~1.5 % of the half-width; allow 4 %.
    x = np.random.default_rng(5).normal(3.0, 2.0, 400)
    half = 1.959964 * x.std(ddof=0) / math.sqrt(x.size)
    ci = bootstrap_ci(x)
    assert ci.hi - x.mean() == pytest.approx(half, rel=0.04)
    assert x.mean() - ci.lo == pytest.approx(half, rel=0.04)


def test_resamples_do_not_depend_on_chunking_and_match_one_draw():
    whole = np.random.default_rng(3).integers(0, 50, (500, 50))
    for width in (0, 10_000, 2_000_000):  # chunks of 40 000, 200 and 1 resample(s)
        chunks = np.vstack(list(bootstrap.resample_indices(50, 500, 3, width)))
        np.testing.assert_array_equal(chunks, whole)
    counts = np.vstack(list(bootstrap.resample_counts(50, 500, 3, 10_000)))
    np.testing.assert_array_equal(counts[7], np.bincount(whole[7], minlength=50))


def test_degenerate_samples_give_the_point_and_bad_input_names_the_problem():
    assert tuple(bootstrap_ci([2.0, 2.0, 2.0])) == (2.0, 2.0, 2.0)
    assert tuple(bootstrap_ci([2.0, 2.0, 2.0], method="bca")) == (2.0, 2.0, 2.0)
    assert tuple(bootstrap_ci([5.0], method="bca")) == (5.0, 5.0, 5.0)
    with pytest.raises(ValueError, match=r"values\[1\] is nan"):
        bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="level must be a fraction"):
        bootstrap_ci(X, level=95)
    with pytest.raises(ValueError, match="method must be one of percentile, bca"):
        bootstrap_ci(X, method="basic")
    with pytest.raises(ValueError, match="non-empty 1-D"):
        bootstrap_ci([])


# -- per-agent CIs, paired ------------------------------------------------------------------

@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_agent_ci_of_a_complete_agent_is_bootstrap_ci_of_its_task_values(method):
    r = _results()
    table = agent_ci(r, "sharpe", n_boot=3000, seed=4, method=method).set_index("agent")
    for name in "xyz":
        values = r[r.agent == name]["sharpe"].to_numpy()  # tasks in the same order
        ci = bootstrap_ci(values, n_boot=3000, seed=4, method=method)
        assert table.loc[name, "mean"] == pytest.approx(ci.estimate, **EXACT)
        assert table.loc[name, "lo"] == pytest.approx(ci.lo, **EXACT)
        assert table.loc[name, "hi"] == pytest.approx(ci.hi, **EXACT)
        assert table.loc[name, "n"] == 8


def test_agent_ci_leaves_undefined_values_out_and_resamples_whole_tasks():
    r = _results()
    r.loc[(r.agent == "y") & (r.window == "w1"), "sharpe"] = np.nan  # never traded: 2 tasks
    table = agent_ci(r, "sharpe", n_boot=2000, seed=9).set_index("agent")
    y = metric_matrix(r, "sharpe")["y"].to_numpy()  # 8 tasks, 2 NaN
    assert table.loc["y", "n"] == 6
    assert table.loc["y", "mean"] == pytest.approx(np.nanmean(y), **EXACT)
    # hand loop: resample the 8 tasks, mean of the defined values drawn
    rng = np.random.default_rng(9)
    boot = []
    for _ in range(2000):
        drawn = y[rng.integers(0, 8, 8)]
        if np.isfinite(drawn).any():
            boot.append(np.nanmean(drawn))
    lo, hi = np.quantile(boot, [0.025, 0.975])
    assert (table.loc["y", "lo"], table.loc["y", "hi"]) == (
        pytest.approx(lo, **EXACT), pytest.approx(hi, **EXACT))


# -- P(A beats B) ---------------------------------------------------------------------------

def test_an_agent_that_wins_every_task_beats_with_probability_one_because_tasks_are_paired():
    # The market move (sd 10) swamps the 0.01 edge: unpaired, the two means' CIs overlap
    # almost entirely; paired, "a" is ahead in every resample.
    r = _results(agents=(("a", 0.0), ("b", 0.0)))
    r.loc[r.agent == "a", "return_pct"] = r.loc[r.agent == "b", "return_pct"].to_numpy() + 0.01
    p = prob_beats(r, "return_pct", benchmark=None, n_boot=2000)
    assert p.loc["a", "b"] == 1.0 and p.loc["b", "a"] == 0.0
    assert math.isnan(p.loc["a", "a"])
    share = task_win_share(r, "return_pct", benchmark=None)
    assert share.loc["a", "b"] == 1.0 and share.loc["b", "a"] == 0.0
    ci = agent_ci(r, "return_pct", n_boot=2000).set_index("agent")
    assert ci.loc["a", "lo"] < ci.loc["b", "mean"] < ci.loc["a", "mean"]  # overlapping CIs


def test_symmetric_agents_beat_each_other_about_half_the_time():
    # Tasks come in mirrored pairs (x, y) = (u, v) and (v, u): every resampling law is
    # symmetric in x and y, so P = 0.5 up to Monte Carlo error (sd 0.005 with 10 000).
    rng = np.random.default_rng(2)
    rows = []
    for t in range(30):
        u, v = rng.normal(0, 1, 2)
        rows += [{"agent": "x", "task": 2 * t, "m": u}, {"agent": "y", "task": 2 * t, "m": v},
                 {"agent": "x", "task": 2 * t + 1, "m": v}, {"agent": "y", "task": 2 * t + 1, "m": u}]
    p = prob_beats(pd.DataFrame(rows), "m")
    assert p.loc["x", "y"] == pytest.approx(0.5, abs=0.02)
    assert p.loc["x", "y"] + p.loc["y", "x"] == pytest.approx(1.0, **EXACT)
    assert task_win_share(pd.DataFrame(rows), "m").loc["x", "y"] == 0.5
    same = pd.DataFrame([{"agent": a, "task": t, "m": float(t)} for t in range(5) for a in "pq"])
    assert prob_beats(same, "m", n_boot=500).loc["p", "q"] == 0.5  # equal means count 1/2


def test_prob_beats_equals_a_hand_rolled_paired_loop_with_benchmark_column():
    r = _results(seed=3)
    p = prob_beats(r, "return_pct", n_boot=1500, seed=5)  # auto: buy_hold_return_pct
    assert list(p.columns) == ["x", "y", "z", "buy & hold"] and list(p.index) == ["x", "y", "z"]
    m = metric_matrix(r, "return_pct").to_numpy()
    bh = r.groupby(["symbol", "window", "seed"], sort=False)["buy_hold_return_pct"].first()
    rng = np.random.default_rng(5)
    wins_xz = wins_y_bh = 0.0
    for _ in range(1500):
        i = rng.integers(0, 8, 8)
        wins_xz += (m[i, 0].mean() > m[i, 2].mean())
        wins_y_bh += (m[i, 1].mean() > bh.to_numpy()[i].mean())
    assert p.loc["x", "z"] == pytest.approx(wins_xz / 1500, **EXACT)
    assert p.loc["y", "buy & hold"] == pytest.approx(wins_y_bh / 1500, **EXACT)


def test_task_win_share_by_hand():
    rows = [("x", 0, 3.0), ("y", 0, 1.0), ("x", 1, 1.0), ("y", 1, 2.0),
            ("x", 2, 5.0), ("y", 2, 5.0), ("x", 3, 4.0), ("y", 3, np.nan)]
    r = pd.DataFrame(rows, columns=["agent", "task", "sharpe"])
    s = task_win_share(r, "sharpe")
    # paired tasks 0, 1, 2 (y undefined in 3): x wins 0, loses 1, ties 2 -> (1 + 0.5) / 3
    assert s.loc["x", "y"] == pytest.approx(0.5, **EXACT)
    assert s.loc["y", "x"] == pytest.approx(0.5, **EXACT)


def test_benchmark_from_a_buy_and_hold_agent_and_bad_benchmarks():
    r = _results(agents=(("x", 1.0), ("buy_and_hold", 0.0)))
    p = prob_beats(r, "sharpe", n_boot=300)  # auto: the buy_and_hold agent
    assert list(p.columns) == ["x", "buy_and_hold"]
    table = ranking(r, "sharpe", n_boot=300).set_index("agent")
    assert table.loc["x", "p_beat_benchmark"] == p.loc["x", "buy_and_hold"]
    assert math.isnan(table.loc["buy_and_hold", "p_beat_benchmark"])
    with pytest.raises(ValueError, match="'nope' is neither a column of results nor an agent"):
        prob_beats(r, "sharpe", benchmark="nope")
    bad = _results()
    bad.loc[0, "buy_hold_return_pct"] += 1.0
    with pytest.raises(ValueError, match="differs between the agents of task"):
        prob_beats(bad, "return_pct")


# -- ranking table --------------------------------------------------------------------------

def test_ranking_table_columns_order_and_mean_rank_by_hand():
    rows = [("a", 0, 3.0), ("b", 0, 2.0), ("c", 0, 1.0),
            ("a", 1, 1.0), ("b", 1, 2.0), ("c", 1, 2.0),
            ("a", 2, 9.0), ("b", 2, 0.0), ("c", 2, np.nan)]
    r = pd.DataFrame(rows, columns=["agent", "task", "sharpe"])
    t = ranking(r, "sharpe", n_boot=500)
    assert list(t.columns) == ["agent", "mean", "lo", "hi", "n", "p_beat_benchmark", "mean_rank"]
    assert list(t.agent) == ["a", "c", "b"]  # means: a 13/3, b 4/3, c 3/2 (task 2 undefined)
    t = t.set_index("agent")
    assert t.loc["c", "mean"] == 1.5 and t.loc["b", "mean"] == pytest.approx(4 / 3, **EXACT)
    # ranks: task 0 a1 b2 c3; task 1 a3 b1.5 c1.5; task 2 a1 b2 (c undefined)
    assert t.loc["a", "mean_rank"] == pytest.approx(5 / 3, **EXACT)
    assert t.loc["b", "mean_rank"] == pytest.approx(5.5 / 3, **EXACT)
    assert t.loc["c", "mean_rank"] == pytest.approx(2.25, **EXACT)
    assert t["p_beat_benchmark"].isna().all()  # no benchmark for a sharpe without one
    low = ranking(r, "sharpe", n_boot=200, higher_is_better=False)
    assert list(low.agent) == ["b", "c", "a"]


def test_ranking_p_beat_benchmark_is_prob_beats_against_buy_and_hold():
    r = _results(seed=8)
    t = ranking(r, "return_pct", n_boot=1000, seed=2).set_index("agent")
    p = prob_beats(r, "return_pct", n_boot=1000, seed=2)
    for name in "xyz":
        assert t.loc[name, "p_beat_benchmark"] == p.loc[name, "buy & hold"]
    # lower is better (as for a drawdown): beating is being below, the complement
    low = prob_beats(r, "return_pct", n_boot=1000, seed=2, higher_is_better=False)
    np.testing.assert_allclose(low.to_numpy(), 1 - p.to_numpy(), equal_nan=True)
    t_low = ranking(r, "return_pct", n_boot=1000, seed=2, higher_is_better=False)
    for name in "xyz":
        assert t_low.set_index("agent").loc[name, "p_beat_benchmark"] == \
            pytest.approx(1 - p.loc[name, "buy & hold"])
    ci = agent_ci(r, "return_pct", n_boot=1000, seed=2).set_index("agent")
    pd.testing.assert_frame_equal(t[["mean", "lo", "hi", "n"]].sort_index(),
                                  ci[["mean", "lo", "hi", "n"]].sort_index())


# -- rank stability -------------------------------------------------------------------------

def test_rank_stability_by_hand_with_ties_and_against_scipy():
    # window means per agent (two symbols each, so the mean is over them):
    # w1: a 4, b 3, c 2, d 1; w2: a 4, b 3, c 1, d 2 (c, d swap); w3: a 1, b 1, c 2, d 3
    means = {"w1": [4, 3, 2, 1], "w2": [4, 3, 1, 2], "w3": [1, 1, 2, 3]}
    rows = []
    for w, vals in means.items():
        for agent, v in zip("abcd", vals, strict=True):
            rows += [{"agent": agent, "window": w, "symbol": "S", "m": v - 1.0},
                     {"agent": agent, "window": w, "symbol": "T", "m": v + 1.0}]
    rs = rank_stability(pd.DataFrame(rows), "m")
    pairs = rs.pairs.set_index(["from", "to"])
    # w1-w2: 6 pairs, 5 concordant, 1 discordant -> (5 - 1) / 6
    assert pairs.loc[("w1", "w2"), "tau"] == pytest.approx(4 / 6, **EXACT)
    # w2-w3 (tau-b): y has one tie (a, b). Pairs: ab tie in y; ac: x 4>1, y 1<2 disc;
    # ad: 4>2, 1<3 disc; bc: 3>1, 1<2 disc; bd: 3>2, 1<3 disc; cd: 1<2, 2<3 conc.
    # (C - D) / sqrt((n0 - 0)(n0 - 1)) = (1 - 4) / sqrt(6 * 5)
    assert pairs.loc[("w2", "w3"), "tau"] == pytest.approx(-3 / math.sqrt(30), **EXACT)
    ref = scipy.stats.kendalltau(means["w2"], means["w3"], variant="b")
    assert pairs.loc[("w2", "w3"), "tau"] == pytest.approx(ref.statistic, **EXACT)
    assert pairs.loc[("w2", "w3"), "p_value"] == pytest.approx(ref.pvalue, **EXACT)
    assert rs.mean_tau == pytest.approx((4 / 6 - 3 / math.sqrt(30)) / 2, **EXACT)
    assert list(pairs["n"]) == [4, 4]


def test_rank_stability_on_random_results_equals_scipy_on_window_means():
    r = _results(seed=6, windows=5, agents=tuple((f"g{i}", i / 3) for i in range(6)))
    rs = rank_stability(r, "sharpe")
    for _, row in rs.pairs.iterrows():
        a = [r[(r.window == row["from"]) & (r.agent == g)]["sharpe"].mean() for g in sorted(set(r.agent))]
        b = [r[(r.window == row["to"]) & (r.agent == g)]["sharpe"].mean() for g in sorted(set(r.agent))]
        assert row["tau"] == pytest.approx(scipy.stats.kendalltau(a, b).statistic, **EXACT)
    assert list(rs.pairs["from"]) == ["w0", "w1", "w2", "w3"]
    flat = pd.DataFrame([{"agent": g, "window": w, "m": 1.0} for g in "ab" for w in "PQ"])
    assert math.isnan(rank_stability(flat, "m").mean_tau)  # no spread: undefined


# -- the probabilistic and deflated Sharpe ratios ------------------------------------------

def _dsr_reference(sr, n, v, t, skew, kurt):
    """Written out from Bailey & López de Prado (2014), eq. (1)-(2), with scipy.stats.norm."""
    e_max = math.sqrt(v) * ((1 - np.euler_gamma) * scipy.stats.norm.ppf(1 - 1 / n)
                            + np.euler_gamma * scipy.stats.norm.ppf(1 - 1 / (n * math.e)))
    z = (sr - e_max) * math.sqrt(t - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2)
    return e_max, scipy.stats.norm.cdf(z)


def test_deflated_sharpe_reproduces_the_papers_numerical_example():
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", numerical example:
    # N = 100 trials, V[SR_n] = 1/2 annualised, 5 years of daily data (T = 1250, 250 a
    # year), annualised SR 2.5, skew -3, kurtosis 10 -> E[max SR] ≈ 0.1132 per day
    # (1.7894 annualised) and DSR ≈ 0.9004.
    sr, v = 2.5 / math.sqrt(250), 0.5 / 250
    assert expected_max_sharpe(100, v) == pytest.approx(0.1132, abs=5e-5)
    assert expected_max_sharpe(100, v) * math.sqrt(250) == pytest.approx(1.7894, abs=5e-5)
    assert deflated_sharpe(sr, 100, v, 1250, skew=-3, kurtosis=10) == pytest.approx(0.9004, abs=5e-5)


def test_deflated_and_probabilistic_sharpe_equal_a_direct_scipy_norm_implementation():
    rng = np.random.default_rng(0)
    for _ in range(50):
        sr, v = rng.uniform(-0.1, 0.3), rng.uniform(0.0, 0.01)
        n, t = int(rng.integers(2, 5000)), int(rng.integers(20, 5000))
        skew, kurt = rng.uniform(-2, 2), rng.uniform(1.5, 12)
        e_max, dsr = _dsr_reference(sr, n, v, t, skew, kurt)
        assert expected_max_sharpe(n, v) == pytest.approx(e_max, **EXACT)
        assert deflated_sharpe(sr, n, v, t, skew, kurt) == pytest.approx(dsr, **EXACT)
    # PSR against 0 with normal returns: Phi(SR sqrt(T-1) / sqrt(1 + SR^2 / 2))
    z = 0.1 * math.sqrt(251) / math.sqrt(1 + 0.01 / 2)
    assert probabilistic_sharpe(0.1, 252) == pytest.approx(scipy.stats.norm.cdf(z), **EXACT)
    assert expected_max_sharpe(1, 0.5) == 0.0  # one trial: nothing was selected
    assert math.isnan(probabilistic_sharpe(0.1, 1))
    assert math.isnan(probabilistic_sharpe(0.5, 100, skew=10.0, kurtosis=3.0))  # 1 - 5 + ... < 0
    with pytest.raises(ValueError, match="n_trials must be a whole number"):
        expected_max_sharpe(0, 0.1)


def test_expected_max_sharpe_is_close_to_the_exact_expected_maximum_of_normals():
    # E[max of N iid N(0, 1)] = ∫ x N φ(x) Φ(x)^(N-1) dx; the paper's formula approximates
    # it from above: +2.3 % at N = 10, +0.9 % at 100, +0.4 % at 1000 (measured here).
    errors = []
    for n in (10, 100, 1000):
        exact = scipy.integrate.quad(lambda x, n=n: x * n * scipy.stats.norm.pdf(x)
                                     * scipy.stats.norm.cdf(x) ** (n - 1), -10, 10)[0]
        errors.append(expected_max_sharpe(n, 4.0) / (2 * exact) - 1)
    assert 0 < errors[2] < errors[1] < errors[0] < 0.025


def test_deflate_grid_converts_leaderboard_rows_of_real_equity_curves():
    # A grid of 12 "combinations" on daily business-day bars, their statistics from the
    # leaderboard's compute_stats (annualised Sharpe, excess kurtosis, bars = N + 1).
    idx = pd.date_range("2024-01-01", periods=300, freq="B", tz="UTC")
    rng = np.random.default_rng(4)
    rows, curves = [], {}
    for k in range(12):
        r = rng.normal(0.0004 + 0.0002 * k, 0.01, 299)
        equity = pd.Series(10_000 * np.cumprod(np.r_[1.0, 1 + r]), index=idx)
        s = compute_stats(equity, pd.DataFrame(columns=["action", "pnl", "fee"]), None,
                          periods_per_year=252)
        rows.append({"combo": k, "symbol": "GOOG", **s[["sharpe", "bars", "skew", "kurtosis"]]})
        curves[k] = r
    grid = pd.DataFrame(rows)
    out = deflate_grid(grid, periods_per_year=252).iloc[0]
    per_bar = {k: r.mean() / r.std(ddof=1) for k, r in curves.items()}
    best = max(per_bar, key=per_bar.get)
    assert out["best"] == best and out["n_trials"] == 12
    assert out["sharpe"] == pytest.approx(per_bar[best], rel=1e-9)
    v = np.var(list(per_bar.values()), ddof=1)
    assert out["var_trials"] == pytest.approx(v, rel=1e-9)
    rb = curves[best]
    e_max, dsr = _dsr_reference(per_bar[best], 12, v, 299, scipy.stats.skew(rb, bias=False),
                                scipy.stats.kurtosis(rb, fisher=False, bias=False))
    assert out["sr0"] == pytest.approx(e_max, rel=1e-9)
    assert out["sr0_ann"] == pytest.approx(e_max * math.sqrt(252), rel=1e-9)
    assert out["dsr"] == pytest.approx(dsr, rel=1e-9)
    assert out["psr"] > out["dsr"]  # selection among 12 raises the bar
    # by groups: two symbols give two rows, each its own grid
    both = pd.concat([grid, grid.assign(symbol="AAPL", sharpe=grid.sharpe * 0.5)])
    per = deflate_grid(both, 252, by="symbol").set_index("symbol")
    assert per.loc["GOOG", "dsr"] == pytest.approx(out["dsr"], rel=1e-12)
    assert per.loc["AAPL", "sharpe_ann"] == pytest.approx(grid.sharpe.max() * 0.5, rel=1e-12)
    with pytest.raises(ValueError, match="no column 'kurtosis'"):
        deflate_grid(grid.drop(columns="kurtosis"), 252)
    one = deflate_grid(grid.iloc[:1], 252).iloc[0]  # a single try: nothing to deflate
    assert one["sr0"] == 0.0 and one["dsr"] == one["psr"]
    lone = deflate_grid(grid.iloc[:3].assign(sharpe=[1.0, np.nan, np.nan]), 252).iloc[0]
    assert lone["n_trials"] == 3 and math.isnan(lone["var_trials"]) and math.isnan(lone["dsr"])


# -- input shapes and bad input -------------------------------------------------------------

def test_metric_matrix_shape_and_parameter_columns_as_competitors():
    grid = pd.DataFrame({"agent": "sma_cross", "fast": [5, 5, 10, 10], "slow": [20, 20, 30, 30],
                         "symbol": ["A", "B", "A", "B"], "sharpe": [1.0, 2.0, 3.0, np.inf]})
    m = metric_matrix(grid, "sharpe", agent=["agent", "fast", "slow"])
    assert list(m.columns) == ["sma_cross fast=5 slow=20", "sma_cross fast=10 slow=30"]
    assert list(m.index) == ["A", "B"]
    assert m.iloc[1, 1] != m.iloc[1, 1]  # inf is undefined: NaN


def test_a_sweeps_results_table_is_read_as_specs_over_market_window_seed_tasks():
    # The shape arena.sweep writes: task_id is per row; spec is the competitor; a task is
    # market x window x seed.
    rows = []
    for k, (fast, slow) in enumerate([(5, 20), (10, 30)]):
        for market in ("GOOG", "AAPL"):
            for start in ("2020-01-01", "2021-01-01"):
                for seed in (0, 1):
                    rows.append({"task_id": f"{k}{market}{start}{seed}", "agent": "sma_cross",
                                 "spec": f"sma_cross:fast={fast},slow={slow}",
                                 "param_fast": fast, "param_slow": slow, "market": market,
                                 "window_start": pd.Timestamp(start, tz="UTC"),
                                 "window_end": pd.Timestamp(start, tz="UTC") + pd.Timedelta("364D"),
                                 "seed": seed, "return_pct": float(k + seed + len(market)),
                                 "buy_hold_return_pct": float(len(market)) + 0.5})
    r = pd.DataFrame(rows)
    m = metric_matrix(r, "return_pct")
    assert list(m.columns) == ["sma_cross:fast=5,slow=20", "sma_cross:fast=10,slow=30"]
    assert m.index.names == ["market", "window_start", "window_end", "seed"] and len(m) == 8
    # fast=10 is 1 ahead on every task; buy & hold is 0.5 ahead of fast=5 at seed 0, 0.5
    # behind at seed 1
    p = prob_beats(r, "return_pct", n_boot=500)
    assert p.loc["sma_cross:fast=10,slow=30", "sma_cross:fast=5,slow=20"] == 1.0
    share = task_win_share(r, "return_pct")
    assert share.loc["sma_cross:fast=5,slow=20", "buy & hold"] == 0.5
    rs = rank_stability(r, "return_pct")  # by window_start
    assert list(rs.pairs["tau"]) == [1.0]
    labels = metric_matrix(r, "return_pct", agent=["agent", "param_fast"]).columns
    assert list(labels) == ["sma_cross param_fast=5", "sma_cross param_fast=10"]


def test_bad_results_raise_clear_errors():
    r = _results()
    with pytest.raises(ValueError, match="no column 'calmar'"):
        agent_ci(r, "calmar")
    with pytest.raises(ValueError, match="none of the task columns"):
        agent_ci(r.drop(columns=["window", "symbol", "seed"]), "sharpe")
    with pytest.raises(ValueError, match="agent 'x' appears twice in task"):
        agent_ci(pd.concat([r, r.iloc[:1]]), "sharpe")
    r2 = r.astype({"sharpe": object})
    r2.loc[4, "sharpe"] = "high"
    with pytest.raises(ValueError, match=r"results\['sharpe'\] at row 4 is not a number: 'high'"):
        agent_ci(r2, "sharpe")
    with pytest.raises(ValueError, match="results is empty"):
        ranking(r.iloc[:0], "sharpe")
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        prob_beats([1, 2], "sharpe")
    with pytest.raises(ValueError, match="n_boot must be a positive integer"):
        prob_beats(r, "sharpe", n_boot=0)

"""The ML agent: features, the walk-forward schedule, no look-ahead on either path,
decide == signals, determinism, that it learns, and a full competition."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arena import Competition, CompetitionConfig, load
from arena.agents import AgentSpecError, History, Observation, available, create_agent
from arena.agents.features import FEATURES, FIRST_FULL_ROW, features, up_labels
from arena.data import synthetic
from arena.data.market import MarketData
from arena.engine import State
from arena.recorder import Recording

FAST = "ml:min_train=60,train_window=120,retrain_every=7"  # first fit at bar 93
FAST_SHORT = "ml:min_train=60,train_window=80,retrain_every=10,threshold=0,short=true,C=0.5"
ONE = synthetic(("AAA",), bars=260, seed=11)
THREE = synthetic(("AAA", "BBB", "CCC"), bars=260, seed=12)
SEED = 5


def fresh(spec: str, data: MarketData, seed: int = SEED):
    agent = create_agent(spec)
    agent.reset(data, seed)
    return agent


def observe(data: MarketData, t: int) -> Observation:
    return Observation(step=t, time=data.timestamp(t), symbols=data.symbols,
                       history=History(data, t + 1), portfolio=None)


def as_row(decision, symbols) -> np.ndarray:
    row = np.full(len(symbols), np.nan)
    for sym, w in (decision.targets or {}).items():
        row[symbols.index(sym)] = w
    return row


def perturbed_after(data: MarketData, t: int, seed: int) -> MarketData:
    """A copy whose bars after ``t`` are scaled by random factors (OHLC together)."""
    rng = np.random.default_rng(seed)
    factor = np.ones((len(data), data.n_symbols))
    factor[t + 1:] = rng.uniform(0.5, 1.5, (len(data) - t - 1, data.n_symbols))
    fields = {name: getattr(data, name) * factor for name in ("open", "high", "low", "close")}
    return MarketData(data.times, data.symbols, volume=data.volume, **fields)


# -- features and labels ---------------------------------------------------------------


def test_features_match_independent_pandas_definitions():
    close = pd.Series(ONE.close[:, 0])
    r1 = close.pct_change()
    z20 = (close - close.rolling(20).mean()) / close.rolling(20).std(ddof=0)
    expected = {
        "1-bar return": r1,
        "5-bar return": close / close.shift(5) - 1,
        "20-bar return": close / close.shift(20) - 1,
        "z-score(20)": z20,
        "20-bar volatility": r1.rolling(20).std(),
    }
    ema = {n: close.ewm(span=n, adjust=False, min_periods=n).mean() for n in (12, 26)}
    line = ema[12] - ema[26]
    signal = line.ewm(span=9, adjust=False, min_periods=9).mean()
    expected["MACD histogram/price"] = (line - signal) / close

    x = features(ONE.close)[:, 0, :]

    names = [f.name for f in FEATURES]
    for name, series in expected.items():
        np.testing.assert_allclose(x[:, names.index(name)], series.to_numpy(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    rsi = x[:, names.index("RSI(14)")]
    assert np.nanmin(rsi) >= 0 and np.nanmax(rsi) <= 100


def test_features_are_defined_from_the_first_full_row_and_prefix_stable():
    x = features(THREE.close)

    assert np.isnan(x[FIRST_FULL_ROW - 1]).any()
    assert np.isfinite(x[FIRST_FULL_ROW:]).all()
    for t in (0, 20, 33, 34, 100, 259):
        np.testing.assert_array_equal(features(THREE.close[: t + 1]), x[: t + 1])


def test_up_labels_hand_worked():
    # 10 → 11 up, 11 → 11 not up, 11 → 9 down, 9 → 12 up, last bar unknown
    close = np.array([[10.0], [11.0], [11.0], [9.0], [12.0]])

    np.testing.assert_array_equal(up_labels(close)[:, 0], [1.0, 0.0, 0.0, 1.0, np.nan])


# -- the walk-forward schedule ----------------------------------------------------------


def test_schedule_defaults():
    agent = create_agent("ml")

    assert agent.first_fit == FIRST_FULL_ROW + 250 == 283
    assert [agent.fit_bar(t) for t in (0, 282, 283, 302, 303, 1000)] == [
        None, None, 283, 283, 303, 283 + 35 * 20]


def test_model_learns_only_from_labels_known_at_its_fit_bar():
    # Arrange: the model serving bar 150 of FAST is fit at bar 149 = 93 + 8 × 7
    agent = fresh(FAST, THREE)
    t = 150
    run = agent._run(THREE)
    model = run.models[run.model_of[t]]

    # Assert: samples are bars max(33, 149 − 120) = 33 .. 148 (labels known at 149's close)
    assert (model.fit_bar, model.first) == (149, 33)
    assert model.n_samples == (149 - 33) * 3

    # Act: an independent fit with scikit-learn's own scaler on the same window
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = features(THREE.close)
    y = (THREE.close[1:] > THREE.close[:-1]).astype(float)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(solver="liblinear"))
    pipe.fit(x[33:149].reshape(-1, len(FEATURES)), y[33:149].reshape(-1))
    expected = pipe.predict_proba(x[t])[:, 1]

    # Assert: the agent's P(up) at bar 150 is that model's
    np.testing.assert_allclose(1 / (1 + np.exp(-run.z[t])), expected, rtol=1e-9)


def test_later_models_use_a_sliding_window():
    agent = fresh(FAST, ONE)

    run = agent._run(ONE)

    fit_bars = [m.fit_bar for m in run.models]
    assert fit_bars == list(range(93, 260, 7))
    assert all(m.first == max(FIRST_FULL_ROW, m.fit_bar - 120) for m in run.models)
    assert all(m.n_samples == m.fit_bar - m.first for m in run.models)
    assert np.isnan(run.z[:93]).all() and np.isfinite(run.z[93:]).all()


# -- no look-ahead ---------------------------------------------------------------------

# bars around fits (FAST: 93, 100, 107, 249, 256; FAST_SHORT: 93, 103, 253) and before
PROBES = (60, 92, 93, 99, 100, 103, 150, 248, 249, 253, 256)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "data"), [(FAST, ONE), (FAST, THREE), (FAST_SHORT, THREE)],
                         ids=["fast-1sym", "fast-3sym", "short-3sym"])
def test_signals_do_not_change_when_later_bars_change(spec, data):
    full = fresh(spec, data).signals(data)
    reference = fresh(spec, data)
    reference.signals(data)

    for t in PROBES:
        for seed in range(2):
            other = perturbed_after(data, t, seed)
            agent = fresh(spec, other)
            shocked = agent.signals(other)

            np.testing.assert_array_equal(shocked[: t + 1], full[: t + 1],
                                          err_msg=f"bars after {t} changed (seed {seed})")
            assert agent.explain_many(other, range(t + 1)) == \
                reference.explain_many(data, range(t + 1))
        prefix = fresh(spec, data).signals(data.slice(0, t + 1))
        np.testing.assert_array_equal(prefix, full[: t + 1], err_msg=f"prefix to {t}")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=st.integers(min_value=80, max_value=258), seed=st.integers(0, 2**32 - 1))
def test_decide_does_not_change_when_later_bars_change(t, seed):
    # One agent instance sees the original, then the perturbed history, then the
    # original again: its remembered models must never carry later bars across.
    agent = fresh(FAST, THREE)
    other = perturbed_after(THREE, t, seed)
    bars = sorted(b for b in {t, t - 1, agent.fit_bar(t) or t, 93, 94, 80} if b <= t)

    first = [agent.decide(observe(THREE, b)) for b in bars]
    shocked = [agent.decide(observe(other, b)) for b in bars]
    again = [agent.decide(observe(THREE, b)) for b in bars]

    assert shocked == first
    assert again == first


def test_a_fresh_model_is_fit_when_the_history_differs():
    # The converse: decide must not reuse a model fit on other closes.
    agent = fresh(FAST, THREE)
    other = perturbed_after(THREE, 50, seed=1)
    t = 120

    mine = agent.decide(observe(THREE, t))
    theirs = agent.decide(observe(other, t))

    assert theirs == fresh(FAST, other).decide(observe(other, t))
    assert theirs.reasoning != mine.reasoning


# -- decide == signals; explain ------------------------------------------------------


def decide_all(spec: str, data: MarketData):
    agent = fresh(spec, data)
    return [agent.decide(observe(data, t)) for t in range(len(data))]


@pytest.mark.parametrize("spec", [FAST, FAST_SHORT, "ml:min_train=100,train_window=100,weight=0.6"])
@pytest.mark.parametrize("data", [ONE, THREE], ids=["1sym", "3sym"])
def test_decide_equals_signals_and_explain_bar_for_bar(spec, data):
    decisions = decide_all(spec, data)
    agent = fresh(spec, data)

    sig = agent.signals(data)

    per_bar = np.array([as_row(d, data.symbols) for d in decisions])
    np.testing.assert_array_equal(per_bar, sig)
    assert agent.explain_many(data, range(len(data))) == [d.reasoning for d in decisions]
    assert all(d.confidence == 1.0 and d.reasoning for d in decisions)
    w = agent.weight / data.n_symbols
    assert set(np.unique(sig[~np.isnan(sig)])) <= {-w, 0.0, w}
    assert (~np.isnan(sig)).sum() > 0


@pytest.mark.slow
def test_decide_equals_signals_on_the_bundled_data_with_defaults():
    data = load("AAPL,MSFT,IBM,GOOG")

    per_bar = np.array([as_row(d, data.symbols) for d in decide_all("ml", data)])
    sig = fresh("ml", data).signals(data)

    np.testing.assert_array_equal(per_bar, sig)
    assert (~np.isnan(sig[283:])).mean() > 0.3  # it does act


def test_reasoning_names_the_model_window_and_drivers():
    data = THREE
    agent = fresh(FAST, data)
    sig = agent.signals(data)
    t = 150
    run = agent._run(data)

    text = agent.explain(data, t)

    dates = [str(data.timestamp(i).date()) for i in (149, 33, 148)]
    assert text.startswith(f"logistic regression fit {dates[0]} on 348 samples "
                           f"({dates[1]}..{dates[2]}), refit every 7 bars: ")
    for j, sym in enumerate(data.symbols):
        p = 1 / (1 + np.exp(-run.z[t, j]))
        assert f"{sym} P(up) {p:.3f} " in text
        verdict = {1 / 3: "> 0.52 → long 0.33", 0.0: "< 0.48 → flat 0.00"}.get(
            sig[t, j], "within 0.48..0.52, no change")
        assert f"{sym} P(up) {p:.3f} {verdict}" in text
        top = np.argsort(-np.abs(run.terms[t, j]), kind="stable")[0]
        assert f"({FEATURES[top].show(run.x[t, j, top])} " in text
    assert agent.explain(data, 10) == ("warming up: the first model needs 94 bars "
                                       "(34 for the indicators, 60 to learn from), have 11")


# -- it learns ----------------------------------------------------------------------------


def zigzag(n: int = 300, seed: int = 0) -> MarketData:
    """Closes that alternate up and down (±1 % with noise): next bar's direction is the
    opposite of the last one, a pattern the 1-bar return feature reveals."""
    rng = np.random.default_rng(seed)
    steps = np.where(np.arange(n) % 2 == 0, 0.01, -0.01) + rng.normal(0, 0.002, n)
    close = 100 * np.exp(np.cumsum(steps))[:, None]
    times = pd.date_range("2021-01-04", periods=n, freq="B").values
    return MarketData(times, ("ZZ",), close, close * 1.001, close * 0.999, close, np.ones_like(close))


def test_it_learns_a_pattern_out_of_sample():
    data = zigzag()
    agent = fresh(FAST, data)

    sig = agent.signals(data)[93:, 0]

    went_up_next = (data.close[94:, 0] > data.close[93:-1, 0])
    long_ = sig[:-1] > 0
    assert (long_ == went_up_next).mean() > 0.95
    assert "1-bar return" in agent.explain(data, 200)


def test_all_labels_up_gives_a_constant_model():
    close = 100 * 1.001 ** np.arange(150.0)[:, None]
    times = pd.date_range("2021-01-04", periods=150, freq="B").values
    data = MarketData(times, ("UP",), close, close, close, close, np.ones_like(close))
    agent = fresh(FAST, data)

    sig = agent.signals(data)

    assert (sig[93:, 0] == 1.0).all()
    # P(up) = (ups + 1) / (samples + 2) = 61 / 62
    assert agent.explain(data, 93).startswith("constant model (every training label was up) fit ")
    assert "UP P(up) 0.984 > 0.52 → long 1.00" in agent.explain(data, 93)


# -- determinism, parameters, registry --------------------------------------------------


def test_same_seed_same_signals_and_reasoning_even_after_pickling():
    first = fresh(FAST_SHORT, THREE, seed=3)
    second = fresh(FAST_SHORT, THREE, seed=3)
    clone = pickle.loads(pickle.dumps(first))
    clone.reset(THREE, 3)

    a, b, c = (x.signals(THREE) for x in (first, second, clone))

    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert first.explain_many(THREE, range(260)) == second.explain_many(THREE, range(260))


def test_a_reset_with_the_same_seed_keeps_the_models_and_a_new_seed_refits(monkeypatch):
    # Arrange: count the real fits
    import arena.agents.ml as ml
    fits = []
    real = ml.fit_model
    monkeypatch.setattr(ml, "fit_model", lambda *a: fits.append(a[3]) or real(*a))
    agent = fresh(FAST, THREE, seed=3)
    first = agent.signals(THREE)
    n = len(fits)

    # Act / Assert: a new run with the same seed reuses every model
    agent.reset(THREE, 3)
    np.testing.assert_array_equal(agent.signals(THREE), first)
    assert n > 0 and len(fits) == n

    # ... a new seed fits them again, the same as a fresh agent with that seed
    agent.reset(THREE, 4)
    np.testing.assert_array_equal(agent.signals(THREE), fresh(FAST, THREE, seed=4).signals(THREE))
    assert len(fits) == 3 * n and set(fits[n:]) == {4}


def test_changing_a_parameter_refits():
    agent = fresh(FAST, ONE)
    before = agent.signals(ONE)

    agent.threshold = 0.0
    agent.retrain_every = 5

    after = agent.signals(ONE)
    np.testing.assert_array_equal(
        after, fresh(f"{FAST.replace('retrain_every=7', 'retrain_every=5')},threshold=0", ONE)
        .signals(ONE))
    assert not np.array_equal(after, before, equal_nan=True)


@pytest.mark.parametrize(("spec", "message"), [
    ("ml:min_train=300,train_window=200", "train_window (200) must be at least min_train (300)"),
    ("ml:C=0", "bad value for C"),
    ("ml:threshold=0.5", "bad value for threshold"),
    ("ml:retrain_every=0", "bad value for retrain_every"),
])
def test_bad_parameters_are_refused_with_a_clear_message(spec, message):
    with pytest.raises(AgentSpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_agent(spec)


def test_registered_with_a_description():
    assert available()["ml"].description.startswith("Logistic regression")
    assert create_agent("ml:retrain_every=5,short=true").label() == "ml(retrain_every=5,short=True)"


# -- inside a competition ------------------------------------------------------------------


@pytest.mark.slow
def test_runs_to_the_end_of_the_bundled_data_in_a_competition(tmp_path):
    data = load("AAPL,MSFT,IBM,GOOG")
    comp = Competition(data, ["ml", "buy_and_hold"],
                       CompetitionConfig(run_dir=str(tmp_path), seed=1))

    comp.run()

    assert comp.state is State.FINISHED and comp.bar == len(data)
    events, _ = comp.streams.events.since(0)
    assert not (events["kind"] == "agent_error").any(), events[events["kind"] == "agent_error"]
    trades = comp.trades_frame()
    assert (trades["agent"] == "ml").sum() > 10
    assert trades.loc[trades["agent"] == "ml", "bar"].min() >= 284  # first fit 283, next open
    with Recording(comp.run_path) as rec:
        decisions = rec.decisions()
    mine = decisions[decisions["agent"] == "ml"]
    assert len(mine) > 10
    assert mine["reasoning"].str.startswith("logistic regression fit ").all()
    assert mine["reasoning"].str.contains("P(up)", regex=False).all()


# -- start-up cost ---------------------------------------------------------------------------

IMPORT_CHECK = """
import sys, time
import arena, arena.cli
from arena.agents import create_agent
before = "sklearn" in sys.modules
create_agent("ml")
deadline = time.monotonic() + 120
while "sklearn.linear_model" not in sys.modules and time.monotonic() < deadline:
    time.sleep(0.05)
print(before, "sklearn.linear_model" in sys.modules)
"""


@pytest.mark.slow
def test_arena_does_not_import_sklearn_until_an_ml_agent_is_created():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", IMPORT_CHECK], cwd=root, capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": str(root)})

    assert out.stdout.split() == ["False", "True"]

"""Synthetic bars: deterministic, valid OHLCV, regimes and jumps."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arena.data import synthetic
from arena.data.validate import validate_market

FIELDS = ("open", "high", "low", "close", "volume")


def test_same_seed_same_bars():
    a = synthetic(("X", "Y"), bars=200, seed=42, jump_prob=0.1, regimes=3)
    b = synthetic(("X", "Y"), bars=200, seed=42, jump_prob=0.1, regimes=3)

    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.times, b.times)


def test_other_seed_other_bars():
    a = synthetic(bars=50, seed=1)
    b = synthetic(bars=50, seed=2)

    assert not np.array_equal(a.close, b.close)


def test_symbols_get_different_paths():
    data = synthetic(("X", "Y"), bars=50)

    assert not np.array_equal(data.close[:, 0], data.close[:, 1])


def test_a_symbols_path_does_not_depend_on_the_others():
    alone = synthetic(("Y",), bars=50, seed=3)
    together = synthetic(("X", "Y"), bars=50, seed=3)

    np.testing.assert_array_equal(alone.close[:, 0], together.close[:, 1])


def test_defaults():
    data = synthetic()

    assert data.symbols == ("SYN",)
    assert len(data) == 1000
    assert str(data.times[0]) == "2020-01-01T00:00:00.000000000"
    assert str(data.times[3]) == "2020-01-06T00:00:00.000000000"  # business days: skips the weekend


def test_first_open_is_start_price_times_a_small_gap():
    data = synthetic(bars=5, start_price=50.0)

    assert data.open[0, 0] == pytest.approx(50.0, rel=0.02)


def test_open_is_previous_close_times_a_gap():
    data = synthetic(bars=500, seed=5)
    gap = np.log(data.open[1:, 0] / data.close[:-1, 0])

    assert np.abs(gap).max() < 0.05
    assert np.abs(gap).min() > 0


def test_stress_regime_is_more_volatile():
    data = synthetic(bars=2000, seed=11, regimes=2)
    r = np.diff(np.log(data.close[:, 0]))

    calm, stress = r[:999].std(), r[1000:].std()

    assert stress == pytest.approx(2 * calm, rel=0.15)


def test_jumps_move_the_open_by_jump_size():
    data = synthetic(bars=300, seed=9, sigma=0.01, jump_prob=1.0, jump_size=0.1)
    gap = np.log(data.open[1:, 0] / data.close[:-1, 0])

    np.testing.assert_allclose(np.abs(gap), 0.1, atol=0.005)
    assert (gap > 0).any() and (gap < 0).any()


@pytest.mark.parametrize("kwargs", [
    {"bars": 0}, {"regimes": 0}, {"bars": 3, "regimes": 4}, {"sigma": -0.1},
    {"jump_prob": 1.5}, {"jump_size": 1.0}, {"start_price": 0.0}, {"symbols": ("A", "A")},
])
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError, match="synthetic:"):
        synthetic(**kwargs)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    bars=st.integers(1, 600),
    mu=st.floats(-1.0, 1.0),
    sigma=st.floats(0.0, 1.5),
    regimes=st.integers(1, 5),
    jump_prob=st.floats(0.0, 1.0),
    jump_size=st.floats(0.0, 0.5),
    start_price=st.floats(0.01, 1e5),
    freq=st.sampled_from(["B", "1D", "1h", "5min"]),
)
def test_output_always_passes_validation(seed, bars, mu, sigma, regimes, jump_prob, jump_size,
                                         start_price, freq):
    data = synthetic(("A", "B"), bars=bars, seed=seed, mu=mu, sigma=sigma,
                     regimes=min(regimes, bars), jump_prob=jump_prob, jump_size=jump_size,
                     start_price=start_price, freq=freq)

    validate_market(data)
    assert len(data) == bars
    assert (data.volume > 0).all()

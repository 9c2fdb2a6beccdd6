"""Envelope decimation keeps extremes and bounds the number of points."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from streams.decimate import envelope_indices


def test_short_series_are_kept_whole():
    assert envelope_indices(np.arange(10.0), 100).tolist() == list(range(10))


def test_keeps_the_global_extremes_and_the_ends():
    x = np.sin(np.linspace(0, 20, 10_000))
    x[1234] = 5.0
    x[8765] = -5.0
    idx = envelope_indices(x, 200)
    assert len(idx) <= 200
    assert {0, 1234, 8765, 9999} <= set(idx.tolist())


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(5, 3000), st.integers(1, 8)),
                  elements=st.floats(-1e6, 1e6)),
       st.integers(4, 500))
def test_bounded_sorted_and_extremes_kept(values, max_points):
    idx = envelope_indices(values, max_points)
    assert len(idx) <= max(max_points, 0) or len(values) <= max_points
    assert np.all(np.diff(idx) > 0)
    assert idx[0] == 0 or len(values) <= max_points
    if len(values) > max_points:
        assert idx[-1] == len(values) - 1
    # every column's global min and max survive when there is room for one bucket
    kept = values[idx]
    if len(values) > max_points and max_points >= 2 + 2 * values.shape[1]:
        assert np.allclose(kept.max(axis=0), values.max(axis=0))
        assert np.allclose(kept.min(axis=0), values.min(axis=0))

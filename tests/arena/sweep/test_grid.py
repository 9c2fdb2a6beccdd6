"""Grid specs: ranges, lists, quoted values, random search; invalid combinations
skipped and counted; bad specs are one clear error."""

import itertools

import pytest

from arena.sweep.grid import GridError, expand, parse_grid

SMA = "sma_cross:fast=5..50/5,slow=20..200/10"


def test_ranges_include_both_ends_and_lists_keep_their_order():
    grid = parse_grid("sma_cross:fast=5..50/5,slow=20|40|30,short=true")

    assert grid.head == "sma_cross"
    assert grid.axes["fast"] == tuple(str(v) for v in range(5, 51, 5))
    assert grid.axes["slow"] == ("20", "40", "30")
    assert grid.axes["short"] == ("true",)
    assert grid.size == 10 * 3


def test_a_range_without_a_step_steps_by_one_and_float_ranges_are_rounded():
    assert parse_grid("sma_cross:fast=3..6").axes["fast"] == ("3", "4", "5", "6")
    # 0.1 + 2 * 0.1 is 0.30000000000000004 in floating point; the grid says 0.3
    assert parse_grid("random:trade_prob=0.1..0.5/0.1").axes["trade_prob"] == (
        "0.1", "0.2", "0.3", "0.4", "0.5")


def test_a_quoted_value_is_one_value_even_with_bars_and_dots():
    grid = parse_grid('sma_cross:fast=5|10,name="a|b..c"')
    assert grid.axes["name"] == ('"a|b..c"',)
    combos, skipped, _ = expand(grid)
    assert [c.spec for c in combos] == ['sma_cross:fast=5,name="a|b..c"',
                                        'sma_cross:fast=10,name="a|b..c"']
    assert skipped == 0


def test_combinations_the_agent_rejects_are_skipped_and_counted():
    combos, skipped, reasons = expand(SMA)

    # counted by hand: fast >= slow happens for slow=20 (fast 20..50: 7), slow=30 (30..50: 5),
    # slow=40 (40, 45, 50: 3) and slow=50 (50: 1)
    assert skipped == 16
    assert len(combos) == 10 * 19 - 16
    expected = [(f, s) for f, s in itertools.product(range(5, 51, 5), range(20, 201, 10))
                if f < s]
    assert [(dict(c.params)["fast"], dict(c.params)["slow"]) for c in combos] == expected
    assert "fast (20) must be shorter than slow (20)" in reasons[0]


def test_every_parameter_of_the_agent_is_a_typed_column():
    (combo,), _, _ = expand("sma_cross:fast=7,slow=30")
    params = dict(combo.params)
    assert params["fast"] == 7 and isinstance(params["fast"], int)
    assert params["slow"] == 30
    assert params["short"] is False  # a default the spec did not name
    assert combo.spec == "sma_cross:fast=7,slow=30"


def test_out_of_bounds_values_are_skipped_like_rule_violations():
    combos, skipped, reasons = expand("random:trade_prob=0.5..1.5/0.5")
    assert [dict(c.params)["trade_prob"] for c in combos] == [0.5, 1.0]
    assert skipped == 1 and "out of bounds" in reasons[0]


def test_random_search_draws_distinct_combinations_reproducibly():
    a, skipped_a, _ = expand(SMA, samples=40, seed=3)
    b, _, _ = expand(SMA, samples=40, seed=3)
    c, _, _ = expand(SMA, samples=40, seed=4)
    everything = {x.spec for x in expand(SMA)[0]}

    assert [x.spec for x in a] == [x.spec for x in b]
    assert [x.spec for x in a] != [x.spec for x in c]
    assert len(a) + skipped_a == 40 and len({x.spec for x in a}) == len(a)
    assert {x.spec for x in a} <= everything


def test_more_samples_than_combinations_is_the_whole_grid():
    combos, _, _ = expand("sma_cross:fast=5|10,slow=30", samples=100)
    assert [c.spec for c in combos] == ["sma_cross:fast=5,slow=30", "sma_cross:fast=10,slow=30"]


@pytest.mark.parametrize("spec, message", [
    ("nosuch:fast=1..3", "unknown agent 'nosuch'"),
    ("sma_cross:fast=5..x", "bad range '5..x' for fast: 'x' is not a number"),
    ("sma_cross:fast=5..50/0", "the step must be > 0"),
    ("sma_cross:fast=50..5", "empty range '50..5' for fast"),
    ("sma_cross:fast=5|", "empty value in the list"),
    ("", "empty agent grid spec"),
    ("sma_cross:fast=30..40/5,slow=10|20", "all 6 combination(s) are invalid, e.g. sma_cross: "
                                           "fast (30) must be shorter than slow (10)"),
    ("sma_cross:fsat=1..3", "all 3 combination(s) are invalid, e.g. sma_cross: unknown "
                            "parameter 'fsat'"),
])
def test_bad_grids_are_one_clear_error(spec, message):
    with pytest.raises(GridError) as err:
        expand(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)

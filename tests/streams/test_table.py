"""KeyedTable: latest row per key, versions, changed_since replay, one writer with many readers."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import KeyedTable

COLUMNS = ("name", "score", "rank")
ALPHA = {"name": "alpha", "score": 1.5, "rank": 2}
BETA = {"name": "beta", "score": 3.0, "rank": 1}
ALPHA_LATER = {"name": "alpha", "score": 4.0, "rank": 1}


def board() -> KeyedTable:
    return KeyedTable("name", COLUMNS, name="board")


def records(df: pd.DataFrame) -> list[dict]:
    return df.to_dict("records")


# -- construction ----------------------------------------------------------


def test_key_columns_missing_from_columns_are_put_first():
    table = KeyedTable(("group", "item"), ["item", "value"])

    assert table.columns == ["group", "item", "value"]
    assert table.key == ["group", "item"]


def test_duplicate_columns_are_refused():
    with pytest.raises(ValueError, match="duplicate column name\\(s\\) 'score'"):
        KeyedTable("name", ["name", "score", "score"])


# -- upsert ----------------------------------------------------------------


def test_upsert_inserts_then_updates_in_place_keeping_key_order():
    table = board()

    table.upsert(ALPHA)
    table.upsert(BETA)
    table.upsert(ALPHA_LATER)

    assert records(table.snapshot()) == [ALPHA_LATER, BETA]
    assert len(table) == 2
    assert table.version == 3


def test_partial_upsert_keeps_the_other_columns():
    table = board()
    table.upsert(ALPHA)

    table.upsert({"name": "alpha", "score": 9.0})

    assert table.get("alpha") == {"name": "alpha", "score": 9.0, "rank": 2}


def test_new_key_with_partial_row_has_missing_values():
    table = board()

    table.upsert({"name": "gamma", "score": 1.0})

    assert table.get("gamma") == {"name": "gamma", "score": 1.0, "rank": None}


@pytest.mark.parametrize(
    ("row", "error", "message"),
    [
        ({"score": 1.0}, ValueError, "KeyedTable 'board': key column\\(s\\) 'name' missing"),
        ({"name": "a", "bogus": 1}, ValueError, "unknown column\\(s\\) 'bogus'"),
        ({"name": ["a"]}, ValueError, "key \\['a'\\] is not hashable"),
        (("alpha", 1.0, 2), TypeError, "a row must be a mapping, got tuple"),
    ],
)
def test_bad_upsert_names_the_problem_and_changes_nothing(row, error, message):
    table = board()

    with pytest.raises(error, match=message):
        table.upsert(row)

    assert (len(table), table.version) == (0, 0)


def test_upsert_many_is_one_version_step():
    table = board()

    table.upsert_many([ALPHA, BETA])

    assert table.version == 1
    assert records(table.snapshot()) == [ALPHA, BETA]


def test_upsert_many_accepts_a_data_frame():
    table = board()

    table.upsert_many(pd.DataFrame([BETA, ALPHA]))

    assert table.get("alpha") == ALPHA
    assert list(table.snapshot()["name"]) == ["beta", "alpha"]


def test_upsert_many_with_a_bad_row_names_it_and_applies_nothing():
    table = board()

    with pytest.raises(ValueError, match="row 1: key column\\(s\\) 'name' missing"):
        table.upsert_many([ALPHA, {"score": 2.0}])

    assert (len(table), table.version) == (0, 0)


def test_upsert_many_with_no_rows_is_no_change():
    table = board()

    table.upsert_many([])

    assert table.version == 0


# -- remove, get, clear ----------------------------------------------------


def test_remove_reports_whether_the_key_was_there():
    table = board()
    table.upsert(ALPHA)

    assert table.remove("alpha") is True
    assert table.remove("alpha") is False
    assert table.get("alpha") is None
    assert table.version == 2  # the failed remove changed nothing


def test_key_upserted_again_after_remove_goes_last():
    table = board()
    table.upsert_many([ALPHA, BETA])
    table.remove("alpha")

    table.upsert(ALPHA_LATER)

    assert list(table.snapshot()["name"]) == ["beta", "alpha"]


def test_composite_key_is_addressed_by_tuple():
    table = KeyedTable(("group", "item"), ["group", "item", "qty"])
    table.upsert({"group": "g1", "item": "x", "qty": 5})
    table.upsert({"group": "g1", "item": "y", "qty": 7})

    removed = table.remove(("g1", "x"))

    assert removed is True
    assert ("g1", "y") in table
    assert table.get(("g1", "y")) == {"group": "g1", "item": "y", "qty": 7}
    with pytest.raises(ValueError, match="key must be a tuple of 2 values \\(group, item\\)"):
        table.get("g1")


def test_get_returns_a_copy():
    table = board()
    table.upsert(ALPHA)

    table.get("alpha")["score"] = -1.0

    assert table.get("alpha")["score"] == 1.5


def test_clear_empties_the_table_and_bumps_epoch_and_version():
    table = board()
    table.upsert_many([ALPHA, BETA])

    table.clear()

    assert (len(table), table.epoch, table.version) == (0, 1, 2)
    assert table.snapshot().empty


def test_empty_snapshot_has_the_declared_columns():
    snapshot = board().snapshot()

    assert snapshot.empty
    assert list(snapshot.columns) == list(COLUMNS)


def test_datetime_column_comes_out_as_utc_nanoseconds():
    table = KeyedTable("name", ["name", "since"])

    table.upsert({"name": "a", "since": pd.Timestamp("2024-03-01 12:00", tz="Europe/Paris")})

    since = table.snapshot()["since"]
    assert since.dtype == "datetime64[ns, UTC]"
    assert since.iloc[0] == pd.Timestamp("2024-03-01 11:00", tz="UTC")


def test_repr_names_the_table():
    table = board()
    table.upsert(ALPHA)

    assert repr(table) == (
        "<KeyedTable 'board' key=['name'] columns=['name', 'score', 'rank'] "
        "rows=1 version=1 epoch=0>"
    )


# -- changed_since ---------------------------------------------------------


def changes_after_each_step():
    """v1 upsert alpha, v2 upsert beta, v3 update alpha, v4 remove beta."""
    table = board()
    table.upsert(ALPHA)
    table.upsert(BETA)
    table.upsert(ALPHA_LATER)
    table.remove("beta")
    return table


@pytest.mark.parametrize(
    ("version", "rows", "removed"),
    [
        (0, [ALPHA_LATER], ["beta"]),
        (1, [ALPHA_LATER], ["beta"]),
        (2, [ALPHA_LATER], ["beta"]),
        (3, [], ["beta"]),
        (4, [], []),
    ],
)
def test_changed_since_returns_latest_rows_and_removed_keys(version, rows, removed):
    table = changes_after_each_step()

    changed, gone, current = table.changed_since(version)

    assert records(changed) == rows
    assert list(changed.columns) == list(COLUMNS)
    assert gone == removed
    assert current == 4


def test_key_removed_then_added_again_is_reported_as_a_row_not_a_removal():
    table = board()
    table.upsert(ALPHA)
    table.remove("alpha")

    table.upsert(ALPHA_LATER)
    changed, removed, _ = table.changed_since(1)

    assert records(changed) == [ALPHA_LATER]
    assert removed == []


def test_clear_reports_every_key_as_removed():
    table = board()
    table.upsert_many([ALPHA, BETA])

    table.clear()
    changed, removed, version = table.changed_since(1)

    assert changed.empty
    assert removed == ["alpha", "beta"]
    assert version == 2


def test_version_ahead_of_the_table_is_refused():
    with pytest.raises(ValueError, match="version 5 is ahead of this table \\(version 0\\)"):
        board().changed_since(5)


# -- property: replaying changes reproduces the snapshot -------------------

KEYS = st.sampled_from(["a", "b", "c", "d"])
OPERATION = st.one_of(
    st.tuples(st.just("upsert"), KEYS, st.integers(0, 99)),
    st.tuples(st.just("upsert_many"), st.lists(st.tuples(KEYS, st.integers(0, 99)), max_size=4)),
    st.tuples(st.just("remove"), KEYS),
    st.tuples(st.just("clear")),
)


def apply(table: KeyedTable, operation: tuple) -> None:
    kind = operation[0]
    if kind == "upsert":
        table.upsert({"k": operation[1], "v": operation[2]})
    elif kind == "upsert_many":
        table.upsert_many([{"k": k, "v": v} for k, v in operation[1]])
    elif kind == "remove":
        table.remove(operation[1])
    else:
        table.clear()


def as_dict(table_rows: pd.DataFrame) -> dict:
    return dict(zip(table_rows["k"], table_rows["v"], strict=True))


@settings(max_examples=80, deadline=None)
@given(operations=st.lists(OPERATION, max_size=20), data=st.data())
def test_state_at_any_version_plus_changes_since_it_is_the_snapshot(operations, data):
    table = KeyedTable("k", ["k", "v"])
    states = {0: {}}  # version -> rows a reader would have seen then
    for operation in operations:
        apply(table, operation)
        states[table.version] = as_dict(table.snapshot())
    version = data.draw(st.sampled_from(sorted(states)))
    replica = dict(states[version])

    changed, removed, current = table.changed_since(version)
    for key in removed:
        replica.pop(key, None)
    replica.update(as_dict(changed))

    assert replica == as_dict(table.snapshot())
    assert current == table.version


# -- one writer, many readers ----------------------------------------------

N_CHANGES = 20_000
GROUPS = [f"g{i}" for i in range(8)]
ITEMS = [f"i{i}" for i in range(6)]


def write_changes(table: KeyedTable) -> None:
    rng = np.random.default_rng(11)
    for step in range(N_CHANGES):
        key = (GROUPS[rng.integers(len(GROUPS))], ITEMS[rng.integers(len(ITEMS))])
        roll = rng.random()
        if step == N_CHANGES // 2:
            table.clear()
        elif roll < 0.1:
            table.remove(key)
        elif roll < 0.2:
            table.upsert_many(
                {"group": key[0], "item": item, "qty": step, "price": step / 4} for item in ITEMS
            )
        else:
            table.upsert({"group": key[0], "item": key[1], "qty": step, "price": step / 4})


def replay_changes(table: KeyedTable, done: threading.Event, out: dict) -> None:
    replica: dict = {}
    version = 0
    versions = []
    while True:
        finished = done.is_set()
        changed, removed, version = table.changed_since(version)
        versions.append(version)
        for key in removed:
            replica.pop(key, None)
        for row in changed.itertuples(index=False):
            replica[(row.group, row.item)] = (row.qty, row.price)
        if finished:
            break
        time.sleep(0.001)
    out.update(replica=replica, version=version, versions=versions)


def test_readers_replaying_changes_reach_the_final_snapshot():
    table = KeyedTable(("group", "item"), ["qty", "price"])
    done = threading.Event()
    outputs = [{} for _ in range(4)]
    readers = [threading.Thread(target=replay_changes, args=(table, done, out)) for out in outputs]
    for reader in readers:
        reader.start()

    write_changes(table)
    done.set()
    for reader in readers:
        reader.join(timeout=30)

    final = {
        (row.group, row.item): (row.qty, row.price)
        for row in table.snapshot().itertuples(index=False)
    }
    assert not any(reader.is_alive() for reader in readers)
    assert len(final) > 10
    for out in outputs:
        assert out["replica"] == final
        assert out["version"] == table.version
        assert out["versions"] == sorted(out["versions"])

"""How a projection transaction groups buffered writes into bulk statements."""

from __future__ import annotations

from eventflow.buffer import _runs


def up(
    table: str, row: dict[str, object]
) -> tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], dict[str, object]]:
    return ("upsert", table, tuple(row), ("id",)), row


def test_upserts_of_one_row_merge_later_columns_winning() -> None:
    ops = [up("t", {"id": 1, "a": 1}), up("t", {"id": 1, "b": 2}), up("t", {"id": 1, "a": 3})]
    assert _runs(ops) == [(("upsert", "t", ("a", "b", "id"), ("id",)), [{"id": 1, "a": 3, "b": 2}])]


def test_rows_with_the_same_columns_share_one_statement() -> None:
    ops = [
        up("t", {"id": 1, "a": 1}),
        up("t", {"id": 2, "a": 2}),
        up("t", {"id": 1, "b": 1}),
        up("t", {"id": 2, "b": 2}),
    ]
    [(shape, rows)] = _runs(ops)
    assert shape[2] == ("a", "b", "id") and len(rows) == 2


def test_another_write_keeps_its_place_between_upserts() -> None:
    delete = (("delete", "t", (), ("id",)), {"w_id": 1})
    ops = [up("t", {"id": 1, "a": 1}), delete, up("t", {"id": 1, "a": 2})]
    kinds = [shape[0] for shape, _ in _runs(ops)]
    assert kinds == ["upsert", "delete", "upsert"]


def test_consecutive_inserts_of_one_shape_are_one_statement() -> None:
    shape = ("insert", "t", ("id",), ())
    assert _runs([(shape, {"id": 1}), (shape, {"id": 2})]) == [(shape, [{"id": 1}, {"id": 2}])]


def test_additions_to_a_counter_are_summed_per_key_within_a_run() -> None:
    from eventflow.buffer import _runs

    shape = ("add", "counts", ("value",), ("day",))
    ops = [(shape, {"day": 1, "value": 1}), (shape, {"day": 2, "value": 5}),
           (shape, {"day": 1, "value": 2})]  # fmt: skip
    assert _runs(ops) == [(shape, [{"day": 1, "value": 3}, {"day": 2, "value": 5}])]


def test_repeated_updates_of_one_row_keep_only_the_last_unless_they_move_the_key() -> None:
    from eventflow.buffer import _runs

    shape = ("update", "rooms", ("last",), ("room_id",))
    ops = [(shape, {"w_room_id": 1, "v_last": "a"}), (shape, {"w_room_id": 2, "v_last": "b"}),
           (shape, {"w_room_id": 1, "v_last": "c"})]  # fmt: skip
    assert _runs(ops) == [(shape, [{"w_room_id": 2, "v_last": "b"},
                                   {"w_room_id": 1, "v_last": "c"}])]  # fmt: skip
    moving = ("update", "rows", ("status",), ("status",))
    chain = [(moving, {"w_status": "a", "v_status": "b"}),
             (moving, {"w_status": "b", "v_status": "c"})]  # fmt: skip
    assert _runs(chain) == [(moving, [row for _, row in chain])]


def test_latest_columns_keep_the_greatest_value_whatever_the_order() -> None:
    """A row fed by two aggregates' events sees them in either order from Kafka: its
    "updated at" must come out the same (in one batch, and across batches in the database)."""
    import itertools

    import sqlalchemy as sa

    from eventflow.buffer import ProjectionTx

    metadata = sa.MetaData()
    table = sa.Table(
        "rows",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("a", sa.Integer),
        sa.Column("b", sa.Integer),
        sa.Column("updated_at", sa.Integer),
    )
    writes = [{"id": 1, "a": 1, "updated_at": 10}, {"id": 1, "b": 2, "updated_at": 30},
              {"id": 1, "a": 1, "updated_at": 20}]  # fmt: skip
    results = set()
    for order in itertools.permutations(writes):
        for batch_size in (1, 3):
            engine = sa.create_engine("sqlite://")
            metadata.create_all(engine)
            for start in range(0, 3, batch_size):
                with engine.begin() as conn:
                    tx = ProjectionTx(conn, {"rows": table})
                    for row in order[start : start + batch_size]:
                        tx.upsert("rows", row, key=["id"], latest=["updated_at"])
                    tx.flush()
            with engine.connect() as conn:
                results.add(tuple(conn.execute(sa.select(table)).one()))
    assert results == {(1, 1, 2, 30)}

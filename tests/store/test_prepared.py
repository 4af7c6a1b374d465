"""Prepared statements store exactly what `Connection.execute` stores, inside its transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, insert, select, text, update

from kaon.store.db import open_engine
from kaon.store.prepared import Prepared

META = MetaData()
THINGS = Table(
    "things", META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(50)),
    Column("tags", JSON),
    Column("extra", JSON),
)  # fmt: skip
ROWS = [
    {"name": "a", "tags": ["x", "y"], "extra": {"k": 1, "nested": [1.5, None]}},
    {"name": None, "tags": [], "extra": None},
    {"name": "ü", "tags": None, "extra": {"s": "quote \" and \\ back"}},
]


@pytest.fixture
def engine(db_url: str):  # noqa: ANN201 - an Engine
    engine = open_engine(db_url)
    META.create_all(engine)
    yield engine
    engine.dispose()


def _stored(engine) -> list[tuple[object, ...]]:  # noqa: ANN001
    """The rows as the database holds them (JSON as its text where the column stores text)."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT name, CAST(tags AS TEXT), CAST(extra AS TEXT) FROM things ORDER BY id"))]


def test_inserts_store_what_core_stores(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        conn.execute(insert(THINGS), ROWS)
    by_core = _stored(engine)
    with engine.begin() as conn:
        conn.execute(THINGS.delete())
        Prepared(insert(THINGS)).run(conn, ROWS)
    assert _stored(engine) == by_core
    with engine.connect() as conn:
        read = [dict(r._mapping) for r in conn.execute(select(THINGS.c.name, THINGS.c.tags, THINGS.c.extra).order_by(THINGS.c.id))]
    assert read == ROWS


def test_returning_gives_ids_in_parameter_order(engine) -> None:  # noqa: ANN001
    ins = Prepared(insert(THINGS).returning(THINGS.c.id, THINGS.c.name, sort_by_parameter_order=True))
    with engine.begin() as conn:
        first = ins.rows(conn, ROWS)
        second = ins.rows(conn, {"name": "one", "tags": [], "extra": {}})
    assert [name for _, name in first] == ["a", None, "ü"]
    assert [i for i, _ in first + second] == [1, 2, 3, 4]


def test_select_with_bound_limit_and_update(engine) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        conn.execute(insert(THINGS), ROWS)
    last = Prepared(select(THINGS.c.id, THINGS.c.name).order_by(THINGS.c.id.desc()).limit(1))
    rename = Prepared(update(THINGS).where(THINGS.c.id == 1).values(name="renamed"))
    with engine.begin() as conn:
        assert last.rows(conn) == [(3, "ü")]
        rename.run(conn)
        assert conn.execute(select(THINGS.c.name).where(THINGS.c.id == 1)).scalar() == "renamed"


def test_rollback_takes_prepared_writes_with_it(engine) -> None:  # noqa: ANN001
    with pytest.raises(RuntimeError), engine.begin() as conn:
        Prepared(insert(THINGS)).run(conn, ROWS)
        raise RuntimeError("fail after writing")
    assert _stored(engine) == []


def test_refuses_to_return_json_columns_unprocessed(engine) -> None:  # noqa: ANN001
    if engine.dialect.name != "sqlite":
        pytest.skip("other dialects go through Connection.execute, which decodes JSON")
    with engine.begin() as conn, pytest.raises(TypeError, match="JSON"):
        Prepared(insert(THINGS).returning(THINGS.c.tags)).rows(conn, ROWS[0])

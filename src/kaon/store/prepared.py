"""Core statements that run on SQLite's DB-API cursor, skipping SQLAlchemy's per-call work.

A one-job submission runs six statements and a commit (the job, its log path and sealed secrets,
its event, and the audit chain's lock, tail and record). Through `Connection.execute`, SQLAlchemy's
per-call work (parameter processing, execution context, result wrapping) was about half of that
transaction's CPU (`bench/store_statements.py` times both paths side by side; docs/BENCHMARKS.md). `Prepared` compiles a Core
statement once, for SQLite with named parameters, and runs it on the transaction's own DB-API
connection: the SQL still comes from the table definitions, the transaction (commit, rollback)
is still SQLAlchemy's, and only the per-call work is skipped.

Only what the store's hot statements need is supported, and checked when one is prepared: JSON
values are encoded as SQLAlchemy's JSON type encodes them (`json.dumps`, None as JSON null), and
rows come back as plain tuples without result processing, so a statement that returns JSON
columns is refused. Other dialects (PostgreSQL) go through `Connection.execute` unchanged: their
round trips cost far more than SQLAlchemy's work, and they run in the thread pool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Connection
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.expression import Executable

_NAMED_SQLITE = sqlite.dialect(paramstyle="named")

Params = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Sql:
    """A statement compiled for one set of parameter names."""

    text: str
    json_keys: frozenset[str]
    returns_rows: bool
    fixed: Mapping[str, Any]  # values bound in the statement itself (a LIMIT, a literal)


class Prepared:
    """One Core statement, compiled once per set of parameter names for SQLite's cursor."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, ...], _Sql] = {}

    def _sql(self, keys: tuple[str, ...]) -> _Sql:
        """The SQL for parameters named `keys`."""
        found = self._compiled.get(keys)
        if found is None:
            compiled: Compiled = self.statement.compile(dialect=_NAMED_SQLITE, column_keys=list(keys))
            returned = getattr(compiled, "returning", None) or ()
            if any(isinstance(getattr(c, "type", None), JSON) for c in returned):
                raise TypeError("Prepared returns raw tuples: a statement returning JSON columns needs Connection.execute")
            binds = compiled.binds  # type: ignore[attr-defined]
            json_keys = frozenset(name for name, bind in binds.items() if isinstance(bind.type, JSON))
            text = str(compiled)
            fixed = {k: v for k, v in compiled.params.items() if k not in keys}
            returns = bool(returned) or text.lstrip().upper().startswith("SELECT")
            found = self._compiled[keys] = _Sql(text, json_keys, returns, fixed)
        return found

    def rows(self, conn: Connection, params: Params | Sequence[Params] = ()) -> list[tuple[Any, ...]]:
        """Run the statement in `conn`'s transaction, once per parameter set in a sequence; the
        rows it returns (SELECT or RETURNING), in order, as tuples."""
        if conn.dialect.name != "sqlite":
            return self.rows_via_core(conn, params)
        return self.rows_via_cursor(conn, params)

    def rows_via_core(self, conn: Connection, params: Params | Sequence[Params] = ()) -> list[tuple[Any, ...]]:
        """`rows` through `Connection.execute`: any dialect (and the bench's reference)."""
        given = dict(params) if isinstance(params, Mapping) else [dict(p) for p in params] or None
        result = conn.execute(self.statement, given)
        return [tuple(r) for r in result] if result.returns_rows else []

    def rows_via_cursor(self, conn: Connection, params: Params | Sequence[Params] = ()) -> list[tuple[Any, ...]]:
        """`rows` on SQLite's DB-API cursor, inside `conn`'s transaction."""
        many = [params] if isinstance(params, Mapping) else list(params)
        if not many:
            many = [{}]
        sql = self._sql(tuple(many[0]))
        if sql.json_keys or sql.fixed:
            many = [{**sql.fixed, **p, **{k: json.dumps(p[k]) for k in sql.json_keys}} for p in many]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if not sql.returns_rows:
                cursor.executemany(sql.text, many)
                return []
            out: list[tuple[Any, ...]] = []
            for p in many:  # sqlite3's executemany refuses statements that return rows
                out.extend(cursor.execute(sql.text, p).fetchall())
            return out
        finally:
            cursor.close()

    def run(self, conn: Connection, params: Params | Sequence[Params] = ()) -> None:
        """Run the statement for its effect (INSERT, UPDATE) in `conn`'s transaction."""
        self.rows(conn, params)

"""Versioned schema migrations: an ordered list of steps and a table recording which ran.

A database is never dropped and recreated: `migrate` applies, in order and each in its own
transaction, only the steps whose version is above the highest one recorded in `kaon_schema`.
A new schema change is a new step appended to `STEPS`; old steps are never edited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, MetaData, Table, inspect, select, text

from kaon.store.models import ApiTokenRow, AuditRow, JobEventRow, JobRow, NodeRow, SchemaVersion


class MigrationError(RuntimeError):
    """The database is newer than this kaon, or a step failed; the message names the version."""


@dataclass(frozen=True, slots=True)
class Step:
    version: int
    name: str
    apply: Callable[[Connection], None]


_LATER_COLUMNS = {"jobs": frozenset({"sealed"}), "nodes": frozenset({"drained"})}


def _initial(conn: Connection) -> None:
    # Version 1's tables as they were: the models' columns minus those later steps ALTER in.
    meta = MetaData()
    for model in (JobRow, JobEventRow, NodeRow):
        table = model.__table__
        later = _LATER_COLUMNS.get(table.name, frozenset())
        v1 = Table(table.name, meta, *(c._copy() for c in table.columns if c.name not in later))
        v1.create(conn)


def _api_tokens(conn: Connection) -> None:
    ApiTokenRow.__table__.create(conn)


def _audit_log(conn: Connection) -> None:
    AuditRow.__table__.create(conn)


def _sealed_secrets(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE jobs ADD COLUMN sealed TEXT"))


def _wider_columns(conn: Connection) -> None:
    # SQLite's INTEGER is already 64-bit and it does not enforce VARCHAR lengths: nothing to do
    # there. Elsewhere (PostgreSQL) memory_mb overflowed past 2**31 MB and long actors were refused.
    if conn.dialect.name == "sqlite":
        return
    conn.execute(text("ALTER TABLE jobs ALTER COLUMN memory_mb TYPE BIGINT"))
    conn.execute(text("ALTER TABLE audit_log ALTER COLUMN actor TYPE VARCHAR(200)"))


def _node_drain(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE nodes ADD COLUMN drained BOOLEAN NOT NULL DEFAULT FALSE"))


STEPS: tuple[Step, ...] = (
    Step(1, "jobs, job events and nodes", _initial),
    Step(2, "api tokens", _api_tokens),
    Step(3, "hash-chained audit log", _audit_log),
    Step(4, "sealed job commands and environments", _sealed_secrets),
    Step(5, "64-bit memory_mb and longer audit actors", _wider_columns),
    Step(6, "drained nodes", _node_drain),
)


def current_version(engine: Engine) -> int:
    if not inspect(engine).has_table(SchemaVersion.__tablename__):
        return 0
    with engine.connect() as conn:
        versions = conn.execute(select(SchemaVersion.version)).scalars().all()
    return max(versions, default=0)


def migrate(engine: Engine, steps: tuple[Step, ...] = STEPS) -> int:
    """Bring the schema up to the last step; returns the version reached."""
    SchemaVersion.__table__.create(engine, checkfirst=True)
    have = current_version(engine)
    latest = steps[-1].version if steps else 0
    if have > latest:
        raise MigrationError(f"database schema is version {have}, newer than this kaon knows ({latest})")
    for step in steps:
        if step.version <= have:
            continue
        try:
            with engine.begin() as conn:
                step.apply(conn)
                conn.execute(
                    SchemaVersion.__table__.insert().values(version=step.version, name=step.name, applied_at=time.time())
                )
        except Exception as e:
            raise MigrationError(f"migration {step.version} ({step.name}) failed: {e}") from e
        have = step.version
    return have

"""SQLAlchemy 2 typed table models. The schema they declare is created by `migrations`, never by
`create_all` at start-up, so an existing database is upgraded in place instead of recreated."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    """One row per applied migration step: the database's schema history."""

    __tablename__ = "kaon_schema"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[float] = mapped_column(Float)


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str | None] = mapped_column(String(200))
    user: Mapped[str | None] = mapped_column(String(100), index=True)
    command: Mapped[list] = mapped_column(JSON)
    env: Mapped[dict] = mapped_column(JSON)
    gpus: Mapped[int] = mapped_column(Integer)
    gpu_types: Mapped[list | None] = mapped_column(JSON)
    cpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(BigInteger)
    """64-bit: the API admits up to 2**40 MB, past PostgreSQL's INTEGER (migration 5)."""
    time_limit_s: Mapped[float] = mapped_column(Float)
    priority: Mapped[int] = mapped_column(Integer)
    queue: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    job_type: Mapped[str | None] = mapped_column(String(100))
    retries: Mapped[int] = mapped_column(Integer)
    cwd: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), index=True)
    submit_time: Mapped[float] = mapped_column(Float)
    start_time: Mapped[float | None] = mapped_column(Float)
    end_time: Mapped[float | None] = mapped_column(Float)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    signal: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    grant: Mapped[dict | None] = mapped_column(JSON)
    attempt: Mapped[int] = mapped_column(Integer)
    pid: Mapped[int | None] = mapped_column(Integer)
    stop_request: Mapped[str | None] = mapped_column(String(20))
    run_time_s: Mapped[float] = mapped_column(Float)
    preemptions: Mapped[int] = mapped_column(Integer)
    max_rss_mb: Mapped[float | None] = mapped_column(Float)
    cpu_time_s: Mapped[float | None] = mapped_column(Float)
    log_path: Mapped[str | None] = mapped_column(Text)
    sealed: Mapped[str | None] = mapped_column(Text)
    """command and env, AES-GCM sealed (kaon.security.crypto); the plain columns are then empty."""


class JobEventRow(Base):
    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    at: Mapped[float] = mapped_column(Float)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)


class NodeRow(Base):
    __tablename__ = "nodes"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    gpu_type: Mapped[str] = mapped_column(String(100))
    gpus: Mapped[int] = mapped_column(Integer)
    devices: Mapped[list] = mapped_column(JSON)
    up: Mapped[bool] = mapped_column(Boolean)
    """In the inventory the service last read; a node that left it stays listed, down."""
    updated_at: Mapped[float] = mapped_column(Float)
    drained: Mapped[bool] = mapped_column(Boolean, server_default=false())
    """An operator drained it: it takes no new jobs, its running jobs finish (migration 6)."""


class ApiTokenRow(Base):
    """An API token: only its keyed hash is stored, never the token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    user: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    queues: Mapped[list | None] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class AuditRow(Base):
    """One record of the hash-chained, append-only audit log (kaon.security.audit)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    """`user (role)`: a 100-character user plus its role is longer than 100 (migration 5)."""
    action: Mapped[str] = mapped_column(String(50), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

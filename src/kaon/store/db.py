"""Opening the database: the default SQLite location, WAL mode, and the URL rules.

SQLite is the default because a single-host service needs no database server; WAL mode lets the
API read while the scheduling loop writes. PostgreSQL works through the same URL
(`postgresql+psycopg://...`, with the `postgres` extra installed).
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

APP_NAME = "kaon"


def data_dir() -> Path:
    """Where kaon keeps its database and job logs by default (the user's data directory)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_url() -> str:
    return f"sqlite:///{data_dir() / 'kaon.db'}"


class DatabaseUrlError(ValueError):
    """A database URL that does not parse, or (for a command that only reads) names no database."""


def open_engine(url: str | None = None, *, create: bool = True) -> Engine:
    """An engine for `url` (default: SQLite in the user's data dir), with SQLite set to WAL mode,
    foreign keys on and a generous busy timeout so concurrent writers wait instead of failing.

    `create=False` is for commands that only read: a SQLite file that does not exist is an error
    naming it, instead of an empty database (and its directories) created where a typo pointed."""
    url = url or default_url()
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise DatabaseUrlError(f"database URL {url!r}: {e}") from None
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database).expanduser()
        if not create and not path.is_file():
            raise DatabaseUrlError(f"database URL {url!r}: no such database file")
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine

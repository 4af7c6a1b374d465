"""A throwaway PostgreSQL server for the tests, and the fixtures that hand out its databases.

One server and one database per test session (initdb and start-up cost seconds), and one fresh
schema per test, named first on the connections' search_path by the URL: every test sees ids from
1 and no tables, as it does with a new SQLite file, for the price of a CREATE SCHEMA (a new
database per test costs most of a second on a busy machine). The server listens on a free loopback port only, keeps
its socket in its own temporary directory, and runs with fsync off: durability across a power cut
is not what these tests check.

initdb and postgres refuse to run as root. Run as root (containers, CI), the binaries are started
as the unprivileged `nobody` user on a data directory chowned to it; where that is not possible,
or no server binaries or psycopg are installed, the PostgreSQL tests skip and say why.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "kaon"
"""The server's superuser, created by initdb; the tests connect as it with trust authentication."""
DATABASE = "kaon_test"


def find_bindir() -> Path | None:
    """The directory of the PostgreSQL server binaries: beside `initdb` on PATH, else
    `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin (Debian keeps them there)."""
    candidates: list[Path] = []
    if found := shutil.which("initdb"):
        candidates.append(Path(found).resolve().parent)
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _major(p.parent.name), reverse=True)
    candidates.extend(versions)
    for d in candidates:
        if all(os.access(d / b, os.X_OK) for b in SERVER_BINARIES):
            return d
    return None


def _major(name: str) -> int:
    return int(name) if name.isdigit() else -1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    """Holds the data directory, the socket directory and the server log."""
    port: int = 0
    run_as: tuple[int, int] | None = None
    """(uid, gid) the binaries run as when the tests run as root."""
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def _run(self, *args: str) -> None:
        ids = {} if self.run_as is None else {"user": self.run_as[0], "group": self.run_as[1], "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        done = subprocess.run([str(self.bindir / args[0]), *args[1:]], capture_output=True, text=True, cwd=self.root, env=env, check=False, **ids)  # type: ignore[call-overload]
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}\n{log[-2000:]}")

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
        sockets = self.root / "sockets"
        sockets.mkdir()
        if self.run_as is not None:
            os.chown(sockets, *self.run_as)
        for attempt in range(3):  # the free port may be taken between choosing and binding it
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                self._run("pg_ctl", "start", "-w", "-t", "30", "-D", str(self.data), "-l", str(self.log), "-o", options)
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "stop", "-m", "immediate", "-D", str(self.data))

    def fresh_url(self) -> str:
        """The SQLAlchemy URL of a new, empty schema in the tests' database."""
        import psycopg

        schema = f"test_{next(self._names)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=DATABASE, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}?options=-csearch_path%3D{schema}"


def _unprivileged() -> tuple[int, int] | None:
    """(uid, gid) of `nobody` when running as root; None when already unprivileged."""
    if os.geteuid() != 0:
        return None
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("PostgreSQL: running as root and there is no 'nobody' user to run initdb/postgres as")
    return nobody.pw_uid, nobody.pw_gid


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session; the dependent tests skip if none can be started."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL: the psycopg driver is not installed (pip install 'kaon[postgres]')")
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL: no server binaries (initdb, pg_ctl, postgres) on PATH, in pg_config --bindir or /usr/lib/postgresql/*/bin")
    run_as = _unprivileged()
    # Not under pytest's tmp_path: its base is private to root, and `nobody` must reach the data dir.
    root = Path(tempfile.mkdtemp(prefix="kaon-pg-"))
    try:
        if run_as is not None:
            os.chown(root, *run_as)
        server = PostgresServer(bindir, root, run_as=run_as)
        try:
            server.start()
        except (RuntimeError, PermissionError, OSError) as e:
            pytest.skip(f"PostgreSQL: could not start a test server from {bindir}: {e}")
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty schema on the session's PostgreSQL server, as a database URL."""
    return postgres_server.fresh_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each backend the service supports: the test runs once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kaon.db'}"
    return request.getfixturevalue("postgres_url")

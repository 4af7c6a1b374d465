"""`kaon admin ...` (API tokens, key rotation, releasing held jobs) and `kaon audit ...` (show, verify).

Tokens, keys and the audit log act on the database directly, as the service's owner on its host:
creating the first admin token cannot go through an API that needs a token. They take the same
`--db` and `--state-dir` as `kaon serve`, which locate the database and its server secret.
`kaon admin release` is the exception: a held job lives in the running server's queue, so it goes
through the API (`--server`, `--token`) like the client verbs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from kaon.cli.client import Server, Token, _client_call
from kaon.security.audit import AuditLog
from kaon.security.auth import AuthError, Role, TokenStore, load_or_create_secret
from kaon.security.crypto import Cipher, SecretKeyError
from kaon.service.client import KaonClient
from kaon.service.settings import ServiceSettings
from kaon.store.db import DatabaseUrlError, open_engine
from kaon.store.migrations import MigrationError, migrate
from kaon.store.models import AuditRow
from kaon.store.repo import JobStore

Db = Annotated[str | None, typer.Option("--db", help="database URL (default: SQLite in the data dir)")]
StateDir = Annotated[Path | None, typer.Option("--state-dir", help="the service's state directory")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]
ADMIN_ACTOR = "kaon-admin"


def _settings(db: str | None, state_dir: Path | None) -> ServiceSettings:
    return ServiceSettings(**{k: v for k, v in {"db_url": db, "state_dir": state_dir}.items() if v is not None})


def _fail(e: Exception) -> typer.Exit:
    typer.echo(f"kaon: {e}", err=True)
    return typer.Exit(1)


def _tokens(db: str | None, state_dir: Path | None) -> tuple[TokenStore, AuditLog]:
    settings = _settings(db, state_dir)
    try:
        engine = open_engine(settings.resolved_db_url())
    except DatabaseUrlError as e:
        raise _fail(e) from None
    migrate(engine)
    return TokenStore(engine, load_or_create_secret(settings.resolved_auth_secret_file())), AuditLog(engine)


def token_create(
    user: Annotated[str, typer.Option(help="who the token is for")],
    role: Annotated[Role, typer.Option(help="admin, operator, user or viewer")],
    queue: Annotated[list[str] | None, typer.Option("--queue", help="a queue the token may use (repeatable)")] = None,
    db: Db = None,
    state_dir: StateDir = None,
) -> None:
    """Create an API token. It is printed once and stored only as a keyed hash."""
    try:
        tokens, audit = _tokens(db, state_dir)
        token, info = tokens.create(user, role, tuple(queue or ()))
    except (AuthError, MigrationError) as e:
        raise _fail(e) from None
    audit.append(ADMIN_ACTOR, "token-create", f"token {info.id}", "admin CLI", {"user": user, "role": info.role.value})
    typer.echo(token)


def token_revoke(token_id: Annotated[int, typer.Argument(help="token id from `kaon admin token list`")], db: Db = None, state_dir: StateDir = None) -> None:
    """Revoke a token: requests with it get 401 from then on."""
    try:
        tokens, audit = _tokens(db, state_dir)
        info = tokens.revoke(token_id)
    except (AuthError, MigrationError) as e:
        raise _fail(e) from None
    audit.append(ADMIN_ACTOR, "token-revoke", f"token {info.id}", "admin CLI", {"user": info.user})
    typer.echo(f"revoked token {info.id} ({info.user}, {info.role.value})")


def token_list(db: Db = None, state_dir: StateDir = None, as_json: AsJson = False) -> None:
    """Tokens (never their values): id, user, role, queues, created, revoked."""
    tokens, _ = _tokens(db, state_dir)
    rows = [
        {"id": t.id, "user": t.user, "role": t.role.value, "queues": list(t.queues) if t.queues else None,
         "created_at": t.created_at, "revoked_at": t.revoked_at}
        for t in tokens.list()
    ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        state = "revoked" if r["revoked_at"] else "active"
        typer.echo(f"{r['id']:>4}  {r['user']:<16} {r['role']:<9} {','.join(r['queues'] or ['*']):<20} {state}")


def rotate_key(
    new: Annotated[Path, typer.Option("--new", help="new key file")],
    old: Annotated[
        list[Path] | None,
        typer.Option("--old", help="current key file; repeat for rows under several keys (omit if secrets are still plaintext)"),
    ] = None,
    db: Db = None,
) -> None:
    """Re-encrypt every job's command and environment under the new key, all or none. Stop the
    service first: until it restarts with the new key it seals new jobs under the old one (run
    this again with both keys to finish such a database)."""
    try:
        old_ciphers = [Cipher.from_file(p) for p in old or ()]
        new_cipher = Cipher.from_file(new)
        store = JobStore.open(_settings(db, None).resolved_db_url())
        n = store.rotate_key(old_ciphers, new_cipher)
    except (SecretKeyError, MigrationError, DatabaseUrlError) as e:
        raise _fail(e) from None
    AuditLog(store.engine).append(ADMIN_ACTOR, "rotate-key", "jobs", "admin CLI", {"rows": n, "key_id": new_cipher.key_id})
    typer.echo(f"re-encrypted {n} jobs under key {new_cipher.key_id}")


def _since(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--since: {value!r} is neither Unix seconds nor an ISO date") from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _existing_audit_log(db: str | None) -> AuditLog:
    """The audit log of an existing database, opened without creating or migrating anything: a
    check that reported "0 records, chain intact" for a mistyped path would be worse than none."""
    url = _settings(db, None).resolved_db_url()
    try:
        engine = open_engine(url, create=False)
        present = inspect(engine).has_table(AuditRow.__tablename__)
    except (DatabaseUrlError, SQLAlchemyError) as e:
        raise _fail(e) from None
    if not present:
        raise _fail(ValueError(f"{url}: no audit log here (not a kaon database, or one older than the audit log)"))
    return AuditLog(engine)


def audit_show(
    actor: Annotated[str | None, typer.Option(help="records whose actor starts with this")] = None,
    action: Annotated[str | None, typer.Option(help="e.g. submit, start, preempt, cancel")] = None,
    since: Annotated[str | None, typer.Option(help="Unix seconds or ISO date")] = None,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Audit records, oldest first."""
    records = _existing_audit_log(db).records(actor, action, _since(since))
    for r in records:
        if as_json:
            typer.echo(json.dumps({f: getattr(r, f) for f in r.__slots__}))
        else:
            when = datetime.fromtimestamp(r.at, UTC).isoformat(timespec="seconds")
            typer.echo(f"{r.seq:>6} {when} {r.actor:<24} {r.action:<14} {r.target or '-':<12} {r.reason or ''} {r.details}")


def audit_verify(db: Db = None) -> None:
    """Check the hash chain; exit 1 naming the first bad record."""
    verdict = _existing_audit_log(db).verify()
    typer.echo(verdict.message, err=not verdict.ok)
    if not verdict.ok:
        raise typer.Exit(1)


@_client_call
def release(
    job_id: Annotated[int, typer.Argument(help="a held job (`kaon explain ID` says why it is held)")],
    reason: Annotated[str | None, typer.Option(help="why it may run, for the audit log")] = None,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Release a held job into the queue (operator or admin token; through the running server)."""
    with KaonClient(server, token) as client:
        job = client.release(job_id, reason)
    typer.echo(json.dumps(job.model_dump(mode="json"), indent=2, sort_keys=True) if as_json else f"released job {job_id}")


def register(app: typer.Typer) -> None:
    admin = typer.Typer(help="Administer the service: API tokens, encryption keys, held jobs.", no_args_is_help=True)
    token = typer.Typer(help="API tokens: create, revoke, list.", no_args_is_help=True)
    token.command("create")(token_create)
    token.command("revoke")(token_revoke)
    token.command("list")(token_list)
    admin.add_typer(token, name="token")
    admin.command("rotate-key")(rotate_key)
    admin.command("release")(release)
    audit = typer.Typer(help="The hash-chained audit log: show, verify.", no_args_is_help=True)
    audit.command("show")(audit_show)
    audit.command("verify")(audit_verify)
    app.add_typer(admin, name="admin")
    app.add_typer(audit, name="audit")

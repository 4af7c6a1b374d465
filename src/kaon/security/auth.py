"""API tokens, roles and what each role may do.

A token is 32 random bytes shown once at creation. The database keeps only HMAC-SHA256(server
secret, token): a leaked database alone does not yield usable tokens, and lookup is one indexed
equality on the hash (no per-request key stretching is needed for 256-bit random tokens).

Roles, from most to least powerful:
- admin: everything, including the audit log;
- operator: every queue's jobs (submit, cancel, read, release a held job), policy reload, anomalies,
  node drains;
- user: submit, cancel and read jobs of the token's queues only, as the token's user;
- viewer: read jobs of the token's queues (all queues when the token names none).
"""

from __future__ import annotations

import hashlib
import ipaddress
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from kaon.store.models import ApiTokenRow

TOKEN_PREFIX = "kaon_"


class Role(str, Enum):
    ADMIN = "admin"
    OPERATOR = "operator"
    USER = "user"
    VIEWER = "viewer"


class Action(str, Enum):
    """What a route does, as far as permissions go."""

    READ = "read"
    SUBMIT = "submit"
    CANCEL = "cancel"
    RELOAD = "reload"
    ANOMALIES = "anomalies"
    AUDIT = "audit"
    RETRAIN = "retrain"
    RELEASE = "release"
    NODES = "nodes"
    """Drain and undrain nodes."""


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.OPERATOR: frozenset({Action.READ, Action.SUBMIT, Action.CANCEL, Action.RELOAD, Action.ANOMALIES, Action.RELEASE, Action.NODES}),
    Role.USER: frozenset({Action.READ, Action.SUBMIT, Action.CANCEL}),
    Role.VIEWER: frozenset({Action.READ}),
}


class AuthError(ValueError):
    """A token request that cannot be honoured (unknown role, missing queue); names the field."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: the token's user and role, and the queues it is confined to (None: all)."""

    user: str
    role: Role
    queues: tuple[str, ...] | None

    def can(self, action: Action) -> bool:
        return action in PERMISSIONS[self.role]

    def sees_queue(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues

    @property
    def actor(self) -> str:
        return f"{self.user} ({self.role.value})"


DEV_PRINCIPAL = Principal("dev", Role.ADMIN, None)
"""Everyone, in `--dev-no-auth` mode (loopback only)."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    user: str
    role: Role
    queues: tuple[str, ...] | None
    created_at: float
    revoked_at: float | None


def load_or_create_secret(path: Path) -> bytes:
    """The server's HMAC key: read from `path`, created once (mode 0600) if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise AuthError(f"{path}: the server secret is too short ({len(secret)} characters, need 32)")
    return secret.encode()


def _scope(role: Role, queues: tuple[str, ...]) -> tuple[str, ...] | None:
    if role in (Role.ADMIN, Role.OPERATOR):
        if queues:
            raise AuthError(f"queue: an {role.value} token covers every queue; do not name queues")
        return None
    if role is Role.USER:
        return queues or ("default",)
    return queues or None


class TokenStore:
    """Create, revoke, list and check API tokens in the service database."""

    def __init__(self, engine: Engine, secret: bytes) -> None:
        self.engine = engine
        self._secret = secret

    def _hash(self, token: str) -> str:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()

    def create(self, user: str, role: Role | str, queues: tuple[str, ...] = ()) -> tuple[str, TokenInfo]:
        """A new token (returned once, never stored) and its stored description."""
        try:
            role = Role(role)
        except ValueError:
            raise AuthError(f"role: {role!r} is not one of {', '.join(r.value for r in Role)}") from None
        if not user:
            raise AuthError("user: must not be empty")
        scope = _scope(role, tuple(queues))
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with Session(self.engine) as s, s.begin():
            row = ApiTokenRow(
                token_hash=self._hash(token),
                user=user,
                role=role.value,
                queues=list(scope) if scope is not None else None,
                created_at=time.time(),
                revoked_at=None,
            )
            s.add(row)
            s.flush()
            return token, _info(row)

    def revoke(self, token_id: int) -> TokenInfo:
        with Session(self.engine) as s, s.begin():
            row = s.get(ApiTokenRow, token_id)
            if row is None:
                raise AuthError(f"id: no token with id {token_id}")
            if row.revoked_at is None:
                row.revoked_at = time.time()
            return _info(row)

    def list(self) -> list[TokenInfo]:
        with Session(self.engine) as s:
            return [_info(r) for r in s.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id))]

    def authenticate(self, token: str) -> Principal | str:
        """The token's principal, or the reason it is refused."""
        with Session(self.engine) as s:
            row = s.scalars(select(ApiTokenRow).where(ApiTokenRow.token_hash == self._hash(token))).first()
            if row is None:
                return "invalid token"
            if row.revoked_at is not None:
                return "token revoked"
            info = _info(row)
        return Principal(info.user, info.role, info.queues)


def _info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(
        row.id,
        row.user,
        Role(row.role),
        tuple(row.queues) if row.queues is not None else None,
        row.created_at,
        row.revoked_at,
    )


def is_loopback(host: str) -> bool:
    """Whether `host` (a listen address) only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""The audit log: append-only and hash-chained, in the service database.

Each record carries the hash of the one before it, and its own hash is SHA-256 over the canonical
JSON of all its fields (sorted keys, no whitespace) including that previous hash. Editing a record
breaks its hash; deleting one leaves a gap in `seq` and a broken link; reordering (swapping seq
numbers) breaks both. `verify` walks the chain and names the first bad seq.

What the chain cannot show alone: truncation of the newest records (the remaining chain is valid).
Compare `head()` with a copy kept elsewhere to detect that (docs/SECURITY.md).

Appending: `write` adds records inside a transaction the caller already has open, so the records
of a change commit with the change or not at all (a submitted batch and its 'submit' records are
one transaction). Before it reads the chain's tail it takes the database's own lock on the chain
(`_hold_chain`), and the tail is read in that transaction every time, never cached: a cached tail
goes stale when another process (`kaon admin`) appends, or when the transaction that advanced it
rolls back. The database lock, not a lock in this process, is what serialises appenders: a Python
lock taken while another thread holds the database's write lock and waits for that Python lock
deadlocks the two until SQLite's busy timeout.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, Row, func, insert, select, text

from kaon.store.models import AuditRow
from kaon.store.prepared import Prepared

GENESIS = "0" * 64

_CHAIN_LOCK_KEY = 0x6B61_6F6E_6175_6474  # "kaonaudt": the PostgreSQL advisory lock of the chain


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: float
    actor: str
    action: str
    target: str | None
    reason: str | None
    details: str
    """JSON object, canonical form."""
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What an appender says happened; `write` gives it its place (seq) and hashes in the chain."""

    actor: str
    action: str
    target: str | None = None
    reason: str | None = None
    details: Mapping[str, object] = field(default_factory=dict)
    at: float | None = None
    """Seconds since the epoch; None: when it is written."""


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    records: int
    bad_seq: int | None
    message: str


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(seq: int, at: float, actor: str, action: str, target: str | None, reason: str | None, details: str, prev_hash: str) -> str:
    body = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "target": target,
        "reason": reason,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(body).encode()).hexdigest()


_AUDIT = AuditRow.__table__
# Built once: a statement object memoizes its cache key (every append runs all three).
_PG_HOLD = select(func.pg_advisory_xact_lock(_CHAIN_LOCK_KEY))
_SQLITE_HOLD = Prepared(text("UPDATE audit_log SET seq = seq WHERE 0 = 1"))
_TAIL = Prepared(select(_AUDIT.c.seq, _AUDIT.c.hash).order_by(_AUDIT.c.seq.desc()).limit(1))
_INSERT = Prepared(insert(_AUDIT))


def _hold_chain(conn: Connection) -> None:
    """Make this transaction the only appender until it ends, in every process.

    SQLite: a write statement (one that changes nothing) takes the database's write lock, which
    other writers wait for (busy timeout); reading the tail before holding it could read a tail
    that another connection is about to extend. PostgreSQL: a transaction-scoped advisory lock;
    under READ COMMITTED the tail read after it sees the previous holder's commit."""
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_HOLD)
    else:
        _SQLITE_HOLD.run(conn)


def _tail(conn: Connection) -> tuple[int, str]:
    last = _TAIL.rows(conn)
    return (int(last[0][0]), str(last[0][1])) if last else (0, GENESIS)


def _chained(entries: Sequence[AuditEntry], tail: tuple[int, str], now: float) -> list[AuditRecord]:
    seq, prev = tail
    out = []
    for e in entries:
        seq += 1
        at = now if e.at is None else e.at
        doc = canonical(dict(e.details))
        digest = record_hash(seq, at, e.actor, e.action, e.target, e.reason, doc, prev)
        out.append(AuditRecord(seq, at, e.actor, e.action, e.target, e.reason, doc, prev, digest))
        prev = digest
    return out


def _records(rows: Iterable[Row]) -> list[AuditRecord]:
    return [AuditRecord(r.seq, r.at, r.actor, r.action, r.target, r.reason, r.details, r.prev_hash, r.hash) for r in rows]


class AuditLog:
    """Appends and reads audit records. Any number of threads and processes may append: each
    append holds the chain (see `_hold_chain`) from reading its tail to its commit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, conn: Connection, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Append `entries`, in order, inside the caller's open transaction on `conn`: they commit
        or roll back with whatever else the transaction writes. The chain stays held until then,
        so keep the transaction short."""
        if not entries:
            return []
        _hold_chain(conn)
        records = _chained(entries, _tail(conn), time.time())
        _INSERT.run(
            conn,
            [
                {
                    "seq": r.seq, "at": r.at, "actor": r.actor, "action": r.action, "target": r.target,
                    "reason": r.reason, "details": r.details, "prev_hash": r.prev_hash, "hash": r.hash,
                }
                for r in records
            ],
        )  # fmt: skip
        return records

    def append_many(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Append `entries` in one transaction of their own: all of them or none."""
        with self.engine.begin() as conn:
            return self.write(conn, entries)

    def append(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        reason: str | None = None,
        details: Mapping[str, object] | None = None,
        at: float | None = None,
    ) -> AuditRecord:
        return self.append_many([AuditEntry(actor, action, target, reason, dict(details or {}), at)])[0]

    def records(
        self,
        actor: str | None = None,
        action: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        t = _AUDIT
        q = select(t).order_by(t.c.seq)
        if actor is not None:
            q = q.where(t.c.actor.startswith(actor))
        if action is not None:
            q = q.where(t.c.action == action)
        if since is not None:
            q = q.where(t.c.at >= since)
        if limit is not None:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return _records(conn.execute(q))

    def head(self) -> tuple[int, str]:
        """(last seq, its hash): keep a copy elsewhere to detect truncation."""
        with self.engine.connect() as conn:
            return _tail(conn)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(_AUDIT)) or 0)

    def verify(self) -> Verdict:
        """Walk the chain in seq order; the first record that does not fit is named."""
        expected_seq, prev = 1, GENESIS
        n = 0
        for r in self.records():
            n += 1
            if r.seq != expected_seq:
                return Verdict(False, n, expected_seq, f"record seq {expected_seq} is missing (next is seq {r.seq})")
            if r.prev_hash != prev:
                return Verdict(False, n, r.seq, f"record seq {r.seq} does not link to seq {r.seq - 1} (deleted, reordered or edited)")
            digest = record_hash(r.seq, r.at, r.actor, r.action, r.target, r.reason, r.details, r.prev_hash)
            if digest != r.hash:
                return Verdict(False, n, r.seq, f"record seq {r.seq} was modified (its hash does not match its content)")
            expected_seq, prev = r.seq + 1, r.hash
        return Verdict(True, n, None, f"{n} records, chain intact")

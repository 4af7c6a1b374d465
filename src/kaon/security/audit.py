"""The audit log: append-only and hash-chained, in the service database.

Each record carries the hash of the one before it, and its own hash is SHA-256 over the canonical
JSON of all its fields (sorted keys, no whitespace) including that previous hash. Editing a record
breaks its hash; deleting one leaves a gap in `seq` and a broken link; reordering (swapping seq
numbers) breaks both. `verify` walks the chain and names the first bad seq.

What the chain cannot show alone: truncation of the newest records (the remaining chain is valid).
Compare `head()` with a copy kept elsewhere to detect that (docs/SECURITY.md).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from kaon.store.models import AuditRow

GENESIS = "0" * 64


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


def _record(r: AuditRow) -> AuditRecord:
    return AuditRecord(r.seq, r.at, r.actor, r.action, r.target, r.reason, r.details, r.prev_hash, r.hash)


class AuditLog:
    """Appends and reads audit records. Appends from the API threads and the scheduling loop are
    serialised by a lock; `seq` is the primary key, so a second process appending at the same time
    fails loudly instead of forking the chain."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()

    def append(
        self,
        actor: str,
        action: str,
        target: str | None = None,
        reason: str | None = None,
        details: Mapping[str, object] | None = None,
        at: float | None = None,
    ) -> AuditRecord:
        at = time.time() if at is None else at
        doc = canonical(dict(details or {}))
        with self._lock, Session(self.engine) as s, s.begin():
            last = s.scalars(select(AuditRow).order_by(AuditRow.seq.desc()).limit(1)).first()
            seq, prev = (last.seq + 1, last.hash) if last is not None else (1, GENESIS)
            digest = record_hash(seq, at, actor, action, target, reason, doc, prev)
            row = AuditRow(seq=seq, at=at, actor=actor, action=action, target=target, reason=reason, details=doc, prev_hash=prev, hash=digest)
            s.add(row)
            return _record(row)

    def records(
        self,
        actor: str | None = None,
        action: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        q = select(AuditRow).order_by(AuditRow.seq)
        if actor is not None:
            q = q.where(AuditRow.actor.startswith(actor))
        if action is not None:
            q = q.where(AuditRow.action == action)
        if since is not None:
            q = q.where(AuditRow.at >= since)
        if limit is not None:
            q = q.limit(limit)
        with Session(self.engine) as s:
            return [_record(r) for r in s.scalars(q)]

    def head(self) -> tuple[int, str]:
        """(last seq, its hash): keep a copy elsewhere to detect truncation."""
        with Session(self.engine) as s:
            last = s.scalars(select(AuditRow).order_by(AuditRow.seq.desc()).limit(1)).first()
            return (last.seq, last.hash) if last is not None else (0, GENESIS)

    def count(self) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(AuditRow)) or 0)

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

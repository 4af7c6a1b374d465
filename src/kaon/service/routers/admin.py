"""/health and /admin: liveness, and re-creating the policy without a restart."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Query

import kaon
from kaon.policy.base import PolicyParamError
from kaon.service.admission import AdmissionError
from kaon.security.auth import Action, Principal
from kaon.service.deps import Reader, ServiceDep, require
from kaon.security.anomaly import detect
from kaon.service.schemas import NO_NUL, AnomalyRead, AuditRead, AuditVerifyRead, HealthRead, ReloadRead, ReloadRequest

router = APIRouter(tags=["admin"])
Reloader = Annotated[Principal, Depends(require(Action.RELOAD))]
Watcher = Annotated[Principal, Depends(require(Action.ANOMALIES))]
Auditor = Annotated[Principal, Depends(require(Action.AUDIT))]


@router.get("/health", response_model=HealthRead)
def health(service: ServiceDep, _: Reader) -> HealthRead:
    loop = service.loop
    with loop.locked() as book:
        pending, running = len(book.pending), len(book.running) + len(book.stopping)
    return HealthRead(
        status="degraded" if loop.last_error else "ok",
        version=kaon.__version__,
        policy=loop.host.spec,
        pending=pending,
        running=running,
        decisions=loop.decisions,
        error=loop.last_error,
        recovered=asdict(service.reconciled) if service.reconciled is not None else {},
    )


@router.post("/admin/reload", response_model=ReloadRead)
def reload_policy(body: ReloadRequest, service: ServiceDep, principal: Reloader) -> ReloadRead:
    """Re-create the policy (a new spec, or the current one to pick up a retrained model) and
    replay the hooks for the jobs in the system. SIGHUP to `kaon serve` does the same."""
    try:
        spec = service.loop.reload(body.policy)
    except PolicyParamError as e:
        raise AdmissionError("policy", str(e)) from None
    service.audit.append(principal.actor, "reload", "policy", "API request", {"policy": spec})
    return ReloadRead(policy=spec)


@router.get("/admin/audit", response_model=list[AuditRead])
def audit_records(
    service: ServiceDep,
    _: Auditor,
    actor: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    action: Annotated[str | None, Query(max_length=50, pattern=NO_NUL)] = None,
    since: Annotated[float | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[AuditRead]:
    return [AuditRead.model_validate(r, from_attributes=True) for r in service.audit.records(actor, action, since, limit)]


@router.get("/admin/audit/verify", response_model=AuditVerifyRead)
def audit_verify(service: ServiceDep, _: Auditor) -> AuditVerifyRead:
    return AuditVerifyRead.model_validate(service.audit.verify(), from_attributes=True)


@router.get("/anomalies", response_model=list[AnomalyRead])
def anomalies(service: ServiceDep, _: Watcher) -> list[AnomalyRead]:
    """Current anomaly flags; each is written to the audit log the first time it is seen."""
    now = time.time()
    jobs, _total = service.store.list_jobs(limit=20000, newest_first=True)
    flags = detect(jobs, now)
    seen = {(r.target, r.reason) for r in service.audit.records(action="anomaly")}
    for a in flags:
        if (a.subject, f"{a.kind}: {a.message}") not in seen:
            service.audit.append("anomaly-detector", "anomaly", a.subject, f"{a.kind}: {a.message}", {"score": a.score}, now)
    return [AnomalyRead.model_validate(a, from_attributes=True) for a in flags]

"""/health and /admin: liveness, and re-creating the policy without a restart."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends

import kaon
from kaon.policy.base import PolicyParamError
from kaon.service.admission import AdmissionError
from kaon.service.deps import get_service
from kaon.service.runtime import Service
from kaon.service.schemas import HealthRead, ReloadRead, ReloadRequest

router = APIRouter(tags=["admin"])
ServiceDep = Annotated[Service, Depends(get_service)]


@router.get("/health", response_model=HealthRead)
def health(service: ServiceDep) -> HealthRead:
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
def reload_policy(body: ReloadRequest, service: ServiceDep) -> ReloadRead:
    """Re-create the policy (a new spec, or the current one to pick up a retrained model) and
    replay the hooks for the jobs in the system. SIGHUP to `kaon serve` does the same."""
    try:
        return ReloadRead(policy=service.loop.reload(body.policy))
    except PolicyParamError as e:
        raise AdmissionError("policy", str(e)) from None

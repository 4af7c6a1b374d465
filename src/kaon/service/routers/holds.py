"""/jobs/{id}/release: let a held job (`kaon.service.holds`) back into the queue. Operators and
admins only: a hold is a check on users, so a user may not lift it from their own job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from kaon.security.auth import Action, Principal
from kaon.service.deps import ServiceDep, get_job, require
from kaon.service.holds import NotHeldError
from kaon.service.routers.jobs import JobId
from kaon.service.schemas import JobRead, ReleaseRequest

router = APIRouter(prefix="/jobs", tags=["jobs"])
Releaser = Annotated[Principal, Depends(require(Action.RELEASE))]


@router.post("/{job_id}/release", response_model=JobRead, responses={409: {"description": "the job is not held"}})
def release(job_id: JobId, service: ServiceDep, principal: Releaser, body: ReleaseRequest | None = None) -> JobRead:
    """Release a held job: it joins the back of the queue and the policy may start it. The
    release is written to the audit log with the caller and the reason."""
    record = get_job(service, job_id, principal)
    reason = body.reason if body is not None else ReleaseRequest().reason
    try:
        return JobRead.of(service.loop.release(job_id, principal.actor, reason))
    except NotHeldError as e:
        raise HTTPException(409, f"{e} (it is {record.state.value})") from None

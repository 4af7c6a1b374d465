"""Request dependencies shared by the routers: the service, the caller, and permission checks.

401 means "who are you?" (no token, unknown or revoked token); 403 means "you may not" (role or
queue scope). Both carry the reason in `detail`.

The dependencies are `async def`: FastAPI runs a plain `def` dependency in the thread pool, and
those hand-offs (three per request) were a measured share of a one-job submission. Only the token
lookup touches the database; it alone goes to the thread pool, only when auth is on, and only for
a token that did not authenticate in the last second (`kaon.service.principals`, which says what
that means for revocation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from kaon.security.auth import DEV_PRINCIPAL, Action, Principal
from kaon.service.runtime import Service
from kaon.store.records import JobRecord

_bearer = HTTPBearer(auto_error=False, description="an API token from `kaon admin token create`")


async def get_service(request: Request) -> Service:
    return request.app.state.service


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    service: Service = request.app.state.service
    if service.tokens is None:
        return DEV_PRINCIPAL
    if credentials is None:
        raise HTTPException(401, "missing token: send 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"})
    cached = service.tokens.cached(credentials.credentials)
    if cached is not None:
        return cached
    found = await run_in_threadpool(service.tokens.authenticate, credentials.credentials)
    if isinstance(found, str):
        raise HTTPException(401, found, {"WWW-Authenticate": "Bearer"})
    return found


def require(action: Action) -> Callable[..., Principal]:
    """A dependency that admits callers whose role allows `action`."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.can(action):
            raise HTTPException(403, f"role {principal.role.value} may not {action.value}")
        return principal

    return check


ServiceDep = Annotated[Service, Depends(get_service)]
"""The running service, for a route's parameters."""
Reader = Annotated[Principal, Depends(require(Action.READ))]
"""A caller allowed to read jobs, nodes and queues."""


def check_queue(principal: Principal, queue: str) -> None:
    if not principal.sees_queue(queue):
        raise HTTPException(403, f"{principal.user} has no access to queue {queue!r}")


def get_job(service: Service, job_id: int, principal: Principal = DEV_PRINCIPAL) -> JobRecord:
    record = service.store.get(job_id)
    if record is None:
        raise HTTPException(status_code=404, detail=f"no job with id {job_id}")
    check_queue(principal, record.queue)
    return record

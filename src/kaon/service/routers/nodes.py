"""/nodes/{name}/drain and /undrain: take a node out of scheduling for maintenance, and back.

A drained node gets no new job and its running jobs finish; the flag is stored, so it outlasts a
restart and a re-read inventory. Operators and admins may drain; each change is audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from kaon.security.auth import Action, Principal
from kaon.service.deps import ServiceDep, require
from kaon.service.routers.cluster import node_read
from kaon.service.runtime import Service
from kaon.service.schemas import NodeRead
from kaon.store.nodes import UnknownNodeError

router = APIRouter(tags=["cluster"])
Operator = Annotated[Principal, Depends(require(Action.NODES))]
NodeName = Annotated[str, Path(min_length=1, max_length=200)]


@router.post("/nodes/{name}/drain", response_model=NodeRead)
def drain(name: NodeName, service: ServiceDep, principal: Operator) -> NodeRead:
    return _set(service, principal, name, True)


@router.post("/nodes/{name}/undrain", response_model=NodeRead)
def undrain(name: NodeName, service: ServiceDep, principal: Operator) -> NodeRead:
    return _set(service, principal, name, False)


def _set(service: Service, principal: Principal, name: str, drained: bool) -> NodeRead:
    try:
        record = service.loop.drain(name, drained)
    except UnknownNodeError:
        raise HTTPException(404, f"no node named {name!r}") from None
    action = "node-drain" if drained else "node-undrain"
    why = "no new jobs; running jobs finish" if drained else "takes jobs again"
    service.audit.append(principal.actor, action, f"node {name}", f"API request: {why}")
    with service.loop.locked() as book:
        names = [n.name for n in book.cluster.nodes]
        if name in names:
            return node_read(book, names.index(name), record)
    return NodeRead(name=record.name, gpu_type=record.gpu_type, gpus=record.gpus, devices=list(record.devices),
                    free_devices=[], up=record.up, drained=record.drained)  # fmt: skip

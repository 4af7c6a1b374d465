"""/nodes and /queues: the inventory with its free devices, and job counts per queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from kaon.security.auth import Action, Principal
from kaon.service.deps import get_service, require
from kaon.service.runtime import Service
from kaon.service.schemas import NodeRead, QueueRead
from kaon.store.records import JobPhase

router = APIRouter(tags=["cluster"])
ServiceDep = Annotated[Service, Depends(get_service)]
Reader = Annotated[Principal, Depends(require(Action.READ))]


@router.get("/nodes", response_model=list[NodeRead])
def nodes(service: ServiceDep, _: Reader) -> list[NodeRead]:
    stored = {n.name: n for n in service.store.nodes()}
    out = []
    with service.loop.locked() as book:
        for i, node in enumerate(book.cluster.nodes):
            out.append(
                NodeRead(
                    name=node.name,
                    gpu_type=node.gpu_type,
                    gpus=node.gpus,
                    devices=list(service.inventory.devices[i]),
                    free_devices=list(book.pool.free_devices(i)),
                    up=stored[node.name].up if node.name in stored else True,
                )
            )
    return out


@router.get("/queues", response_model=list[QueueRead])
def queues(service: ServiceDep, principal: Reader) -> list[QueueRead]:
    by_queue: dict[str, dict[JobPhase, int]] = {}
    for queue, state, n in service.store.counts():
        if not principal.sees_queue(queue):
            continue
        by_queue.setdefault(queue, {p: 0 for p in JobPhase})[state] = n
    return [QueueRead(queue=q, counts=c) for q, c in sorted(by_queue.items())]

"""/nodes and /queues: the inventory with its free devices, and job counts per queue."""

from __future__ import annotations

from fastapi import APIRouter

from kaon.service.book import JobBook
from kaon.service.deps import Reader, ServiceDep
from kaon.service.schemas import NodeRead, QueueRead
from kaon.store.records import JobPhase, NodeRecord

router = APIRouter(tags=["cluster"])


@router.get("/nodes", response_model=list[NodeRead])
def nodes(service: ServiceDep, _: Reader) -> list[NodeRead]:
    """The nodes scheduled on now (a node that left the inventory stays while its jobs stop)."""
    stored = {n.name: n for n in service.nodes.all()}
    with service.loop.locked() as book:
        return [node_read(book, i, stored.get(node.name)) for i, node in enumerate(book.cluster.nodes)]


def node_read(book: JobBook, i: int, stored: NodeRecord | None) -> NodeRead:
    node = book.cluster.nodes[i]
    return NodeRead(
        name=node.name,
        gpu_type=node.gpu_type,
        gpus=node.gpus,
        devices=list(book.inventory.devices[i]),
        free_devices=list(book.pool.free_devices(i)),
        up=stored.up if stored is not None else True,
        drained=stored.drained if stored is not None else False,
    )


@router.get("/queues", response_model=list[QueueRead])
def queues(service: ServiceDep, principal: Reader) -> list[QueueRead]:
    by_queue: dict[str, dict[JobPhase, int]] = {}
    for queue, state, n in service.store.counts():
        if not principal.sees_queue(queue):
            continue
        by_queue.setdefault(queue, {p: 0 for p in JobPhase})[state] = n
    return [QueueRead(queue=q, counts=c) for q, c in sorted(by_queue.items())]

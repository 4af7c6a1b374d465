"""`NodeStore`: the nodes the service has known, whether each is in its inventory now, and which an
operator drained.

The drain flag lives here, not in the inventory file or NVML, so it survives a restart and a
re-read inventory: a node drained for maintenance stays drained until someone undrains it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from kaon.store.models import NodeRow
from kaon.store.records import NodeRecord


class UnknownNodeError(KeyError):
    """No node has this name."""


def _record(r: NodeRow) -> NodeRecord:
    return NodeRecord(r.name, r.gpu_type, r.gpus, tuple(r.devices), r.up, r.updated_at, r.drained)


class NodeStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record_inventory(self, nodes: Sequence[NodeRecord], at: float) -> None:
        """The inventory as now read: these nodes are up with this shape, every other known node is
        down. Drain flags are kept as they are."""
        names = {n.name for n in nodes}
        with Session(self.engine) as s, s.begin():
            for row in s.scalars(select(NodeRow).with_for_update()):
                if row.name not in names and row.up:
                    row.up, row.updated_at = False, at
            for n in nodes:
                row = s.get(NodeRow, n.name)
                if row is None:
                    row = NodeRow(name=n.name, drained=False)
                    s.add(row)
                row.gpu_type, row.gpus, row.devices, row.up, row.updated_at = n.gpu_type, n.gpus, list(n.devices), True, at

    def set_drained(self, name: str, drained: bool, at: float) -> NodeRecord:
        with Session(self.engine) as s, s.begin():
            row = s.scalars(select(NodeRow).where(NodeRow.name == name).with_for_update()).first()
            if row is None:
                raise UnknownNodeError(name)
            if row.drained != drained:
                row.drained, row.updated_at = drained, at
            return _record(row)

    def drained(self) -> frozenset[str]:
        with Session(self.engine) as s:
            return frozenset(s.scalars(select(NodeRow.name).where(NodeRow.drained.is_(True))))

    def all(self) -> list[NodeRecord]:
        with Session(self.engine) as s:
            return [_record(r) for r in s.scalars(select(NodeRow).order_by(NodeRow.name))]

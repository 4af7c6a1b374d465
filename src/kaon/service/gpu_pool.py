"""Which concrete GPUs are free: the identities behind `FreeCapacity`'s counts.

Policies place jobs by counts per node (`Placement`); an executor needs device ids. The pool turns
a placement into a `Grant` (lowest free ids first, so grants are predictable), claims and releases it.
It and `FreeCapacity` are always updated together by `JobBook`, so they cannot disagree.

A node that must take no new jobs (drained, or gone from the inventory while jobs still run there)
has its free devices *held*: neither free nor granted, so no placement can get them, and the jobs
already there keep theirs until they exit.
"""

from __future__ import annotations

from kaon.core.placement import CapacityError, Placement
from kaon.executors.inventory import Inventory
from kaon.store.records import Grant, GrantSlice


class GpuPool:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._free = [set(ids) for ids in inventory.devices]
        self._held: list[set[int]] = [set() for _ in inventory.devices]
        self._node_index = {n.name: i for i, n in enumerate(inventory.cluster.nodes)}

    def free_devices(self, node: int) -> tuple[int, ...]:
        return tuple(sorted(self._free[node]))

    def held_devices(self, node: int) -> tuple[int, ...]:
        return tuple(sorted(self._held[node]))

    def hold(self, node: int) -> int:
        """Move the node's free devices to held; how many were moved."""
        moved = len(self._free[node])
        self._held[node] |= self._free[node]
        self._free[node] = set()
        return moved

    def choose(self, p: Placement) -> Grant:
        """The devices placement `p` would get (lowest free ids); takes nothing, so the grant can
        be persisted before it is claimed."""
        nodes = self.inventory.cluster.nodes
        slices = []
        for n, g in zip(p.nodes, p.gpus):
            ids = sorted(self._free[n])[:g]
            if len(ids) < g:
                raise CapacityError(f"node {nodes[n].name} has {len(self._free[n])} free GPUs, placement needs {g}")
            slices.append(GrantSlice(n, nodes[n].name, tuple(ids)))
        return Grant(self.inventory.cluster.type_names[p.gpu_type], p.gpu_type, tuple(slices))

    def resolve(self, grant: Grant) -> tuple[Grant, Placement]:
        """A stored grant mapped onto this inventory by node name (indices may have moved)."""
        cluster = self.inventory.cluster
        slices = []
        for s in grant.slices:
            if s.node_name not in self._node_index:
                raise CapacityError(f"granted node {s.node_name} is not in this service's inventory")
            slices.append(GrantSlice(self._node_index[s.node_name], s.node_name, s.devices))
        type_index = cluster.type_index(grant.gpu_type)
        placement = Placement(type_index, tuple(s.node for s in slices), tuple(len(s.devices) for s in slices))
        return Grant(grant.gpu_type, type_index, tuple(slices)), placement

    def claim(self, grant: Grant) -> None:
        """Take exactly the devices of `grant` (a new grant, or one a job adopted after a restart
        keeps)."""
        for s in grant.slices:
            missing = set(s.devices) - self._free[s.node]
            if missing:
                raise CapacityError(f"devices {sorted(missing)} of node {s.node_name} are not free")
        for s in grant.slices:
            self._free[s.node].difference_update(s.devices)

    def release(self, grant: Grant) -> None:
        for s in grant.slices:
            if set(s.devices) & self._free[s.node]:
                raise CapacityError(f"release of {grant} frees devices of node {s.node_name} that are already free")
        for s in grant.slices:
            self._free[s.node].update(s.devices)

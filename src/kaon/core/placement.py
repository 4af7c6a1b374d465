"""Where a gang job goes: free capacity per node and the rule that picks nodes for a job.

All GPUs of a job are of one type and start together. A job that fits one node goes on one node;
otherwise it is spread over the fewest nodes of one type (the cluster's `spread_slowdown` then
applies). Node choice inside a type is one numpy operation over that type's nodes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from kaon.core.cluster import ClusterSpec


class PlacementStrategy(str, Enum):
    """`packing` (best fit: the fullest node that fits, keeping whole nodes free for big gangs) or
    `spread` (worst fit: the emptiest node, spreading load and heat)."""

    PACKING = "packing"
    SPREAD = "spread"


@dataclass(frozen=True, slots=True)
class Placement:
    gpu_type: int
    nodes: tuple[int, ...]
    gpus: tuple[int, ...]

    @property
    def num_gpus(self) -> int:
        return sum(self.gpus)

    @property
    def spread(self) -> bool:
        return len(self.nodes) > 1


class CapacityError(RuntimeError):
    """An allocation asked for GPUs that are not free: a policy or engine bug, never user input."""


class FreeCapacity:
    """Free GPUs per node and per type. Policies work on a `copy()` while deciding.

    A placement touches a handful of nodes, so allocate/release update them one by one (numpy
    call overhead would dominate); searches over nodes are vectorised in `place_on_type`.
    """

    __slots__ = ("cluster", "free", "free_per_type", "total_free")

    def __init__(self, cluster: ClusterSpec, free: np.ndarray | None = None) -> None:
        self.cluster = cluster
        self.free = cluster.node_gpus.copy() if free is None else free
        self.free_per_type = np.bincount(
            cluster.node_type, weights=self.free, minlength=len(cluster.gpu_types)
        ).astype(np.int64)
        self.total_free = int(self.free_per_type.sum())

    def copy(self) -> FreeCapacity:
        out = FreeCapacity.__new__(FreeCapacity)
        out.cluster = self.cluster
        out.free = self.free.copy()
        out.free_per_type = self.free_per_type.copy()
        out.total_free = self.total_free
        return out

    def allocate(self, p: Placement) -> None:
        free, node_type = self.free, self.cluster.node_type
        for n, g in zip(p.nodes, p.gpus):
            if free[n] < g or node_type[n] != p.gpu_type:
                raise CapacityError(f"placement {p} exceeds free capacity of node {n} ({int(free[n])} free)")
        for n, g in zip(p.nodes, p.gpus):
            free[n] -= g
        self.free_per_type[p.gpu_type] -= p.num_gpus
        self.total_free -= p.num_gpus

    def try_allocate(self, p: Placement) -> bool:
        """Allocate `p` if it still fits; False (nothing taken) if not. For wrappers that re-check
        an inner policy's starts after changing the capacity they were placed on."""
        try:
            self.allocate(p)
        except CapacityError:
            return False
        return True

    def release(self, p: Placement) -> None:
        free, node_gpus = self.free, self.cluster.node_gpus
        for n, g in zip(p.nodes, p.gpus):
            if free[n] + g > node_gpus[n]:
                raise CapacityError(f"release of {p} frees more GPUs than node {n} has")
        for n, g in zip(p.nodes, p.gpus):
            free[n] += g
        self.free_per_type[p.gpu_type] += p.num_gpus
        self.total_free += p.num_gpus

    def place(
        self,
        num_gpus: int,
        type_order: Iterable[int],
        strategy: PlacementStrategy = PlacementStrategy.PACKING,
    ) -> Placement | None:
        """The first type in `type_order` that can hold the job, and nodes on it; None if none can."""
        for t in type_order:
            if self.free_per_type[t] < num_gpus:
                continue
            p = self.place_on_type(num_gpus, int(t), strategy)
            if p is not None:
                return p
        return None

    def place_on_type(self, num_gpus: int, t: int, strategy: PlacementStrategy) -> Placement | None:
        nodes = self.cluster.nodes_of_type[t]
        fr = self.free[nodes]
        fits = fr >= num_gpus
        if fits.any():
            masked = np.where(fits, fr, np.iinfo(np.int64).max if strategy is PlacementStrategy.PACKING else -1)
            i = int(np.argmin(masked) if strategy is PlacementStrategy.PACKING else np.argmax(masked))
            return Placement(t, (int(nodes[i]),), (num_gpus,))
        if fr.sum() < num_gpus:
            return None
        order = np.argsort(-fr, kind="stable")
        taken = np.cumsum(fr[order])
        k = int(np.searchsorted(taken, num_gpus) + 1)
        chosen = order[:k]
        counts = fr[chosen].copy()
        counts[-1] -= int(taken[k - 1] - num_gpus)
        return Placement(t, tuple(int(n) for n in nodes[chosen]), tuple(int(c) for c in counts))

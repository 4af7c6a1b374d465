"""`GpuPool`: device ids behind placements, on hand-made inventories."""

from __future__ import annotations

import pytest

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.core.placement import CapacityError, Placement
from kaon.executors.inventory import Inventory
from kaon.service.gpu_pool import GpuPool
from kaon.store.records import Grant, GrantSlice

CLUSTER = ClusterSpec(
    "c", (GpuType("v100"), GpuType("k80")), (NodeSpec("a", "v100", 4), NodeSpec("b", "k80", 2)), "v100"
)


def _pool() -> GpuPool:
    return GpuPool(Inventory(CLUSTER, ((0, 1, 2, 3), (4, 5)), "test"))


def test_lowest_free_ids_are_chosen_and_choosing_takes_nothing() -> None:
    pool = _pool()
    grant = pool.choose(Placement(0, (0,), (2,)))
    assert grant == Grant("v100", 0, (GrantSlice(0, "a", (0, 1)),))
    assert pool.free_devices(0) == (0, 1, 2, 3)  # persisted first, claimed after
    pool.claim(grant)
    assert pool.free_devices(0) == (2, 3)
    assert pool.choose(Placement(0, (0,), (2,))).devices == (2, 3)
    pool.release(grant)
    assert pool.free_devices(0) == (0, 1, 2, 3)


def test_double_claims_and_double_releases_are_refused() -> None:
    pool = _pool()
    grant = pool.choose(Placement(1, (1,), (2,)))
    pool.claim(grant)
    with pytest.raises(CapacityError, match="not free"):
        pool.claim(grant)
    with pytest.raises(CapacityError, match="free GPUs, placement needs"):
        pool.choose(Placement(1, (1,), (1,)))
    pool.release(grant)
    with pytest.raises(CapacityError, match="already free"):
        pool.release(grant)


def test_a_held_node_offers_nothing() -> None:
    pool = _pool()
    pool.claim(pool.choose(Placement(0, (0,), (1,))))
    assert pool.hold(0) == 3
    assert pool.free_devices(0) == () and pool.held_devices(0) == (1, 2, 3)
    with pytest.raises(CapacityError):
        pool.choose(Placement(0, (0,), (1,)))


def test_a_stored_grant_is_resolved_by_node_name() -> None:
    """After a restart the node may sit at another index; the grant names it."""
    pool = _pool()
    stored = Grant("k80", 0, (GrantSlice(0, "b", (5,)),))  # indices from an older inventory
    grant, placement = pool.resolve(stored)
    assert grant == Grant("k80", 1, (GrantSlice(1, "b", (5,)),))
    assert placement == Placement(1, (1,), (1,))
    with pytest.raises(CapacityError, match="not in this service's inventory"):
        pool.resolve(Grant("k80", 1, (GrantSlice(1, "gone", (5,)),)))

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.core.placement import CapacityError, FreeCapacity, Placement, PlacementStrategy


def cluster(gpus_per_node: list[int], types: list[str] | None = None) -> ClusterSpec:
    types = types or ["v100"] * len(gpus_per_node)
    names = list(dict.fromkeys(types))
    nodes = tuple(NodeSpec(f"n{i}", t, g) for i, (t, g) in enumerate(zip(types, gpus_per_node)))
    return ClusterSpec("c", tuple(GpuType(n) for n in names), nodes, names[0])


def test_packing_picks_fullest_node_that_fits() -> None:
    cap = FreeCapacity(cluster([8, 8, 8]))
    cap.allocate(Placement(0, (1,), (6,)))
    cap.allocate(Placement(0, (2,), (3,)))
    p = cap.place(2, [0], PlacementStrategy.PACKING)
    assert p == Placement(0, (1,), (2,))


def test_spread_picks_emptiest_node() -> None:
    cap = FreeCapacity(cluster([8, 8, 8]))
    cap.allocate(Placement(0, (0,), (6,)))
    cap.allocate(Placement(0, (1,), (3,)))
    assert cap.place(2, [0], PlacementStrategy.SPREAD) == Placement(0, (2,), (2,))


def test_gang_spans_fewest_nodes_of_one_type() -> None:
    cap = FreeCapacity(cluster([4, 4, 4, 2], ["a", "a", "a", "b"]))
    cap.allocate(Placement(0, (0,), (1,)))
    p = cap.place(8, [0, 1])
    assert p is not None and p.gpu_type == 0
    assert p == Placement(0, (1, 2), (4, 4))  # two whole nodes beat three partial ones


def test_no_placement_when_type_lacks_gpus() -> None:
    cap = FreeCapacity(cluster([4, 2], ["a", "b"]))
    assert cap.place(3, [1]) is None
    assert cap.place(3, [1, 0]) == Placement(0, (0,), (3,))


def test_over_allocation_raises() -> None:
    cap = FreeCapacity(cluster([4]))
    cap.allocate(Placement(0, (0,), (3,)))
    with pytest.raises(CapacityError):
        cap.allocate(Placement(0, (0,), (2,)))


@settings(max_examples=60, deadline=None)
@given(
    nodes=st.lists(st.integers(1, 8), min_size=1, max_size=12),
    asks=st.lists(st.integers(1, 16), min_size=1, max_size=30),
    strategy=st.sampled_from(list(PlacementStrategy)),
)
def test_placements_never_exceed_capacity(nodes: list[int], asks: list[int], strategy: PlacementStrategy) -> None:
    c = cluster(nodes)
    cap = FreeCapacity(c)
    for ask in asks:
        p = cap.place(ask, [0], strategy)
        if p is None:
            assert cap.free.sum() < ask
            continue
        assert p.num_gpus == ask
        cap.allocate(p)
        assert np.all(cap.free >= 0)
        assert cap.free_per_type.tolist() == [int(cap.free.sum())]

"""Node rows: the inventory as read, nodes that left marked down, drain flags kept across both."""

from __future__ import annotations

import pytest

from kaon.store.nodes import NodeStore, UnknownNodeError
from kaon.store.records import NodeRecord
from kaon.store.repo import JobStore


@pytest.fixture
def nodes(db_url: str) -> NodeStore:
    store = JobStore.open(db_url)  # migrated
    yield NodeStore(store.engine)
    store.close()


def _node(name: str, gpus: int = 2) -> NodeRecord:
    return NodeRecord(name, "v100", gpus, tuple(range(gpus)), True, 0.0)


def test_inventory_marks_missing_nodes_down_and_keeps_drains(nodes: NodeStore) -> None:
    nodes.record_inventory([_node("a"), _node("b")], 1.0)
    assert nodes.set_drained("b", True, 2.0).drained
    assert nodes.drained() == {"b"}
    nodes.record_inventory([_node("a", 4)], 3.0)
    by_name = {n.name: n for n in nodes.all()}
    assert by_name["a"].up and by_name["a"].gpus == 4 and by_name["a"].devices == (0, 1, 2, 3)
    assert not by_name["b"].up and by_name["b"].drained and by_name["b"].updated_at == 3.0
    nodes.record_inventory([_node("a"), _node("b")], 4.0)  # back: still drained
    assert nodes.drained() == {"b"} and all(n.up for n in nodes.all())
    assert not nodes.set_drained("b", False, 5.0).drained and nodes.drained() == frozenset()


def test_unknown_node_cannot_be_drained(nodes: NodeStore) -> None:
    with pytest.raises(UnknownNodeError):
        nodes.set_drained("ghost", True, 1.0)

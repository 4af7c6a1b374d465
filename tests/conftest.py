"""Shared fixtures: bundled sample data, tiny clusters, and databases of each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from tests.store.postgres import db_url, postgres_server, postgres_url  # noqa: F401 - fixtures for every test package

DATA = Path(__file__).resolve().parent.parent / "src" / "kaon" / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


def _tiny_cluster(nodes: int = 2, gpus: int = 4, types: tuple[str, ...] = ("v100",)) -> ClusterSpec:
    gpu_types = tuple(GpuType(t, 1.0 / (2**i)) for i, t in enumerate(types))
    specs = tuple(NodeSpec(f"{t}-{i}", t, gpus) for t in types for i in range(nodes))
    return ClusterSpec("tiny", gpu_types, specs, types[0], spread_slowdown=1.0)


@pytest.fixture
def tiny_cluster():  # noqa: ANN201 - a factory
    """`tiny_cluster(nodes, gpus, types)`: `nodes` nodes of `gpus` GPUs per type in `types`.
    Type names outside Gavel's table (use e.g. "fast", "slow") get speeds 1.0, 0.5, 0.25, ..."""
    return _tiny_cluster

import numpy as np
import pytest

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.core.throughput import SpeedModel, load_throughput_table


def test_table_has_gavel_types() -> None:
    table = load_throughput_table()
    assert table.gpu_types == ("k80", "p100", "v100")
    assert len(table.job_types) == 26
    assert table.throughput("v100", "ResNet-18 (batch size 16)", 1) == pytest.approx(32.3533843289469)
    assert table.throughput("v100", "no such job", 1) is None


def test_speed_model_uses_measured_ratio_and_defaults() -> None:
    types = (GpuType("v100"), GpuType("k80"), GpuType("a100", speed=2.0))
    nodes = tuple(NodeSpec(t.name, t.name, 4) for t in types)
    model = SpeedModel(ClusterSpec("c", types, nodes, "v100"))
    table = load_throughput_table()
    jt = "ResNet-50 (batch size 64)"
    row = model.speeds(jt, 1)
    assert row[0] == 1.0
    assert row[1] == pytest.approx(table.throughput("k80", jt, 1) / table.throughput("v100", jt, 1))
    assert row[2] == 2.0  # not measured: the spec's speed
    untyped = model.speeds(None, 1)
    assert untyped[0] == 1.0 and 0 < untyped[1] < 1 and untyped[2] == 2.0
    assert np.array_equal(model.matrix([jt, None], [1, 1]), np.vstack([row, untyped]))

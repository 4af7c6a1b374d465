"""Offered load and cluster sizing on hand-made traces with known values."""

from __future__ import annotations

import pytest

from kaon.core.job import JobSpec, Trace
from kaon.experiment.load import demanded_gpu_seconds, offered_load, size_for_load


def _trace(*jobs: JobSpec) -> Trace:
    return Trace(jobs, source="hand-made")


def test_offered_load_caps_each_job_at_the_window_end(tiny_cluster) -> None:
    cluster = tiny_cluster(nodes=1, gpus=4, types=("fast",))
    trace = _trace(
        JobSpec("a", 0.0, 100.0, 2),  # 2 GPUs x 100 s, all inside
        JobSpec("b", 50.0, 100.0, 1),  # 1 GPU, only 50 s before the end at 100
    )
    assert demanded_gpu_seconds(trace, cluster, 100.0) == pytest.approx(250.0)
    assert offered_load(trace, cluster, 100.0) == pytest.approx(250.0 / 400.0)


def test_offered_load_uses_the_fastest_allowed_type(tiny_cluster) -> None:
    cluster = tiny_cluster(nodes=1, gpus=4, types=("fast", "slow"))  # speeds 1.0 and 0.5
    trace = _trace(
        JobSpec("any", 0.0, 30.0, 1),  # fastest type: 30 s
        JobSpec("slow-only", 0.0, 30.0, 1, allowed_types=("slow",)),  # 60 s at half speed
        JobSpec("nowhere", 0.0, 30.0, 1, allowed_types=("k80",)),  # no type can run it: no load
    )
    assert demanded_gpu_seconds(trace, cluster, 100.0) == pytest.approx(90.0)
    assert offered_load(trace, cluster, 100.0) == pytest.approx(90.0 / 800.0)


def test_sizing_reaches_an_exact_target_with_whole_nodes(tiny_cluster) -> None:
    cluster = tiny_cluster(nodes=10, gpus=4, types=("fast",))
    trace = _trace(*(JobSpec(f"j{i}", 0.0, 100.0, 4) for i in range(5)))  # 2000 GPU-s in 100 s
    assert offered_load(trace, cluster, 100.0) == pytest.approx(0.5)
    scaled, sizing = size_for_load(trace, cluster, 100.0, 1.0)
    assert (sizing.scale, scaled.total_gpus, sizing.total_gpus) == (0.5, 20, 20)
    assert sizing.achieved_load == pytest.approx(1.0)
    assert offered_load(trace, scaled, 100.0) == pytest.approx(sizing.achieved_load)


def test_sizing_picks_the_node_count_nearest_the_target(tiny_cluster) -> None:
    cluster = tiny_cluster(nodes=10, gpus=4, types=("fast",))
    trace = _trace(*(JobSpec(f"j{i}", 0.0, 100.0, 4) for i in range(5)))
    # Target 0.8 wants 25 GPUs: 6 nodes give 0.833, 7 give 0.714; 6 is nearer.
    scaled, sizing = size_for_load(trace, cluster, 100.0, 0.8)
    assert scaled.total_gpus == 24
    assert sizing.achieved_load == pytest.approx(2000 / 2400)


def test_sizing_scales_every_type_of_a_heterogeneous_cluster(tiny_cluster) -> None:
    cluster = tiny_cluster(nodes=4, gpus=4, types=("fast", "slow"))  # 32 GPUs
    trace = _trace(*(JobSpec(f"j{i}", 0.0, 100.0, 4) for i in range(8)))  # 3200 GPU-s: load 1.0
    scaled, sizing = size_for_load(trace, cluster, 100.0, 2.0)
    assert list(scaled.gpus_per_type()) == [8, 8]
    assert sizing.achieved_load == pytest.approx(2.0)


def test_sizing_rejects_an_empty_demand(tiny_cluster) -> None:
    with pytest.raises(ValueError, match="demand no GPU time"):
        size_for_load(_trace(), tiny_cluster(), 100.0, 1.0)

from __future__ import annotations

from pathlib import Path

import pytest

from kaon.compare import (
    DEMO,
    DEMO_ORDER,
    ScenarioError,
    ScenarioSpec,
    build_policies,
    demo_policies,
    load_scenario,
    run_comparison,
)
from kaon.policy.base import PolicyParamError
from kaon.policy.registry import available
from kaon.sim.engine import SimConfig


def test_bundled_trace_by_name_and_window() -> None:
    sc = load_scenario(ScenarioSpec("tiresias-60job.csv", "v100-homogeneous", start="0", end="600", load_scale=2.0))
    assert sc.trace.format == "tiresias"
    assert sc.cluster.total_gpus == 512
    assert 0 < len(sc.trace) < 60
    assert max(j.submit_time for j in sc.trace.jobs) < 300  # window [0, 600) at twice the load


def test_untyped_jobs_get_types_only_on_heterogeneous_clusters(tmp_path: Path) -> None:
    trace = tmp_path / "p.csv"
    trace.write_text("timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-01 00:00:00,10,1,10,vc\n")
    homogeneous = load_scenario(ScenarioSpec(str(trace), "v100-homogeneous"))
    assert homogeneous.trace.jobs[0].job_type is None
    heterogeneous = load_scenario(ScenarioSpec(str(trace), "gavel-hetero", cluster_scale=0.5))
    assert heterogeneous.trace.jobs[0].job_type is not None
    assert heterogeneous.cluster.total_gpus == 240


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ScenarioSpec("nope.csv", "gavel-hetero"), "nope.csv: no such trace file"),
        (ScenarioSpec("tiresias-60job.csv", "nope"), "not a bundled cluster"),
        (ScenarioSpec("tiresias-60job.csv", "gavel-hetero", cluster_scale=0), "cluster scale must be > 0"),
        (ScenarioSpec("tiresias-60job.csv", "gavel-hetero", start="1e9"), "no jobs to replay"),
    ],
)
def test_bad_scenarios(spec: ScenarioSpec, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(spec)


def test_policy_specs_fail_before_any_run() -> None:
    with pytest.raises(PolicyParamError, match="unknown policy"):
        build_policies(["fifo", "nope"])
    with pytest.raises(PolicyParamError, match="repeat"):
        build_policies(["fifo", "fifo"])
    with pytest.raises(PolicyParamError, match="no policies"):
        build_policies([])


def test_runs_keep_the_specs_and_order() -> None:
    sc = load_scenario(ScenarioSpec("tiresias-60job.csv", "v100-homogeneous"))
    calls: list[tuple[str, int, int]] = []
    result = run_comparison(
        sc.trace,
        sc.cluster,
        ["fifo:placement=spread", "fifo"],
        SimConfig(restart_overhead_s=0.0),
        lambda spec: lambda done, total: calls.append((spec, done, total)),
    )
    assert [r.spec for r in result.runs] == ["fifo:placement=spread", "fifo"]
    assert result.config.restart_overhead_s == 0.0
    assert calls[-1] == ("fifo", 60, 60)
    assert result.best_avg_jct() == min(r.metrics.avg_jct_s for r in result.runs)


def test_demo_policies_are_the_registered_baselines_in_order() -> None:
    policies = demo_policies()
    assert policies == tuple(p for p in DEMO_ORDER if p in available())
    assert {"fifo", "tiresias", "gavel", "gavel-agnostic"} <= set(policies)
    assert not {"qssf", "psrtf", "learned"} & set(policies)  # learning policies are compared, not baselines


@pytest.mark.slow
def test_demo_scenario_queues_under_fifo_and_finishes_everything() -> None:
    sc = load_scenario(DEMO)
    assert 11_000 < len(sc.trace) < 12_000
    assert all(j.job_type is not None for j in sc.trace.jobs)
    metrics = run_comparison(sc.trace, sc.cluster, ["fifo"]).runs[0].metrics
    assert metrics.unfinished == 0
    assert metrics.avg_queue_s > 3600


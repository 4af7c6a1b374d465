"""A two-policy comparison on a small hand-made scenario, shared by the report tests."""

from __future__ import annotations

import pytest

from kaon.compare import ComparisonResult, Scenario, ScenarioSpec, run_comparison
from kaon.core.job import JobSpec, Trace

JOBS = (
    JobSpec("a", 0.0, 100.0, 4, queue="vc1"),
    JobSpec("u", 5.0, 10.0, 8, queue="vc2"),
    JobSpec("b", 10.0, 50.0, 2, queue="vc1"),
    JobSpec("c", 20.0, 30.0, 2, queue="vc2"),
    JobSpec("d", 200.0, 10.0, 1, queue="vc1"),
)
POLICIES = ("fifo", "fifo:placement=spread")


@pytest.fixture
def scenario(tiny_cluster) -> Scenario:  # noqa: ANN001
    spec = ScenarioSpec(trace="hand-made.csv", cluster="tiny", start="0", end="1000")
    return Scenario(spec, Trace(JOBS, "hand-made.csv", "philly"), tiny_cluster(1, 4, ("fast",)))


@pytest.fixture
def comparison(scenario: Scenario) -> ComparisonResult:
    return run_comparison(scenario.trace, scenario.cluster, POLICIES)

"""psrtf: the growth rule by hand, and known preemptive schedules with exact (fake) predictions."""

from __future__ import annotations

import pytest

from kaon.core.job import JobSpec, Trace
from kaon.policy.psrtf import Psrtf, predicted_total
from kaon.policy.registry import make_policy
from kaon.predict.online import Estimate
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.state import JobState


class FakeEstimates:
    def __init__(self, estimates: dict[str, Estimate]) -> None:
        self.estimates = estimates

    def arrived(self, job: JobState, now: float) -> Estimate | None:
        return self.estimates[job.job_id]

    def estimate_many(self, jobs: list[JobState]) -> list[Estimate]:
        return [self.estimates[j.job_id] for j in jobs]

    def finished(self, job: JobState, now: float) -> None:
        pass


def test_predicted_total_grows_past_the_point_then_the_p90_then_geometrically() -> None:
    e = Estimate(100.0, 50.0, 200.0)
    assert [predicted_total(e, x, 2.0) for x in (0, 99, 100, 199, 200, 399, 400, 1000)] == [
        100.0, 100.0, 200.0, 200.0, 400.0, 400.0, 800.0, 1600.0,
    ]  # fmt: skip


def _run(lease: float, b_submit: float, tiny_cluster) -> dict[str, tuple[float, float, int]]:  # noqa: ANN001
    trace = Trace((JobSpec("a", 0.0, 1000.0, 1), JobSpec("b", b_submit, 50.0, 1)))
    policy = Psrtf(lease=lease, min_remaining=1.0)
    policy.estimator = FakeEstimates(  # type: ignore[assignment]
        {"a": Estimate(100.0, 50.0, 200.0), "b": Estimate(50.0, 50.0, 50.0)}
    )
    result = simulate(trace, tiny_cluster(nodes=1, gpus=1), policy, SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


def test_a_shorter_predicted_arrival_preempts(tiny_cluster) -> None:  # noqa: ANN001
    # At 10, a has 90 s left by its prediction, b 50: b runs 10-60, a resumes and ends at 1050.
    assert _run(0.0, 10.0, tiny_cluster) == {"a": (0.0, 1050.0, 1), "b": (10.0, 60.0, 0)}


def test_a_job_past_its_prediction_is_re_estimated_and_then_preempted(tiny_cluster) -> None:  # noqa: ANN001
    # At 150, a has outlived its point (100): T = p90 = 200, 50 s left, not more than b's 50: a
    # keeps running. At 200 it outlives the p90: T = 400, 200 s left; b preempts it at that wake.
    assert _run(0.0, 150.0, tiny_cluster) == {"a": (0.0, 1050.0, 1), "b": (200.0, 250.0, 0)}


def test_the_lease_protects_a_fresh_start(tiny_cluster) -> None:  # noqa: ANN001
    # b arrives at 10 but a holds a 360 s lease. At 360 a has run past its p90 (T = 400, 40 s
    # left, better than b's 50); at 400 T becomes 800 and b takes the GPU until 450.
    assert _run(360.0, 10.0, tiny_cluster) == {"a": (0.0, 1050.0, 1), "b": (400.0, 450.0, 0)}


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="growth"):
        make_policy("psrtf:growth=1")
    assert make_policy("psrtf:lease=60,min_history=10").lease == 60.0  # type: ignore[attr-defined]

"""qssf: known schedules with exact (fake) predictions, the batched path, and a saved model."""

from __future__ import annotations

from pathlib import Path

from kaon.core.job import JobSpec, Trace
from kaon.policy.qssf import Qssf
from kaon.policy.registry import make_policy
from kaon.predict.model import PredictorConfig, RuntimePredictor
from kaon.predict.online import Estimate
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.state import JobState
from kaon.traces.synthetic import synthetic_trace


class FakeEstimates:
    """Exact predictions by job id. `batched`: answer only through estimate_many, as a model does."""

    def __init__(self, points: dict[str, float], batched: bool = False) -> None:
        self.points, self.batched = points, batched
        self.batches: list[list[str]] = []

    def _one(self, job: JobState) -> Estimate:
        p = self.points[job.job_id]
        return Estimate(p, p, p)

    def arrived(self, job: JobState, now: float) -> Estimate | None:
        return None if self.batched else self._one(job)

    def estimate_many(self, jobs: list[JobState]) -> list[Estimate]:
        self.batches.append([j.job_id for j in jobs])
        return [self._one(j) for j in jobs]

    def finished(self, job: JobState, now: float) -> None:
        pass


TRACE = Trace(
    (
        JobSpec("a", 0.0, 100.0, 4),
        JobSpec("b", 1.0, 50.0, 2),  # predicted 500 s x 2 GPUs = 1000
        JobSpec("c", 2.0, 80.0, 2),  # predicted 10 s x 2 = 20
        JobSpec("d", 3.0, 200.0, 1),  # predicted 30 s x 1 = 30
    )
)
POINTS = {"a": 100.0, "b": 500.0, "c": 10.0, "d": 30.0}


def _schedule(policy: Qssf, tiny_cluster) -> dict[str, tuple[float, float]]:  # noqa: ANN001
    result = simulate(TRACE, tiny_cluster(nodes=1, gpus=4), policy, SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time) for j in result.jobs}


def test_shortest_predicted_gpu_time_first_passing_over_what_does_not_fit(tiny_cluster) -> None:  # noqa: ANN001
    policy = Qssf()
    policy.estimator = FakeEstimates(POINTS)  # type: ignore[assignment]
    # At 100 a frees 4 GPUs: c (20) and d (30) start; b (1000, 2 GPUs) no longer fits and waits
    # for c to finish at 180.
    assert _schedule(policy, tiny_cluster) == {
        "a": (0.0, 100.0), "c": (100.0, 180.0), "d": (100.0, 300.0), "b": (180.0, 230.0),
    }  # fmt: skip


def test_model_estimates_are_batched_until_something_can_start(tiny_cluster) -> None:  # noqa: ANN001
    policy = Qssf()
    fake = FakeEstimates(POINTS, batched=True)
    policy.estimator = fake  # type: ignore[assignment]
    schedule = _schedule(policy, tiny_cluster)
    assert schedule["c"] == (100.0, 180.0) and schedule["b"] == (180.0, 230.0)
    # a fits alone at t=0 and starts unranked; nothing can start until t=100, when b, c and d
    # are ranked in one batch.
    assert fake.batches == [["b", "c", "d"]]


def test_online_default_and_saved_model_both_run(tmp_path: Path, tiny_cluster) -> None:  # noqa: ANN001
    trace = synthetic_trace(400, seed=8, mean_interarrival_s=20, median_duration_s=600, max_gpus=4)
    cluster = tiny_cluster(nodes=2, gpus=4)
    online = make_policy("qssf:min_history=50,refit_every=100")
    assert len([j for j in simulate(trace, cluster, online).jobs if j.finish_time is not None]) == 400
    assert online.estimator.refits >= 2  # type: ignore[attr-defined]
    RuntimePredictor(PredictorConfig(max_iter=10)).fit(trace.with_jobs(trace.jobs[:200])).save(tmp_path / "m")
    saved = make_policy(f"qssf:model={tmp_path / 'm'}")
    assert all(j.finish_time is not None for j in simulate(trace, cluster, saved).jobs)
    assert saved.estimator.refits == 0  # type: ignore[attr-defined]

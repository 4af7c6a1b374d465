"""scored: the rank's weights give known schedules, long jobs wait for and move to fast GPUs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kaon.core.job import JobSpec, Trace
from kaon.core.throughput import SpeedModel
from kaon.policy.registry import make_policy
from kaon.policy.scored import Scored, ScoredParams
from kaon.predict.online import Estimate
from kaon.sim.engine import SimConfig, Simulator, simulate
from tests.policy.test_psrtf import FakeEstimates


def _scored(estimates: dict[str, Estimate], **kw: float) -> Scored:
    policy = Scored(**kw)  # type: ignore[arg-type]
    policy.estimator = FakeEstimates(estimates)  # type: ignore[assignment]
    return policy


def _times(trace: Trace, cluster, policy: Scored) -> dict[str, tuple[float, float, int]]:  # noqa: ANN001
    result = simulate(trace, cluster, policy, SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


TWO = Trace((JobSpec("a", 0.0, 1000.0, 1), JobSpec("b", 500.0, 100.0, 1)))
SAME = {"a": Estimate(3600.0, 3600.0, 3600.0), "b": Estimate(3600.0, 3600.0, 3600.0)}


def test_attained_service_weight_is_las(tiny_cluster) -> None:  # noqa: ANN001
    # Only attained service counts: at 500 b (none) ranks before a (500 GPU-s), a is past its
    # 100 s lease and yields; b runs 500-600, a resumes and ends at 1100.
    policy = _scored(SAME, w_remaining=0.0, w_attained=1.0, w_gpus=0.0, lease=100.0)
    assert _times(TWO, tiny_cluster(nodes=1, gpus=1), policy) == {"a": (0.0, 1100.0, 1), "b": (600.0 - 100.0, 600.0, 0)}


def test_remaining_weight_is_psrtf(tiny_cluster) -> None:  # noqa: ANN001
    # Only predicted remaining counts: at 500 a has 3100 s left by its prediction, b 3600: a keeps
    # the GPU and b waits until a ends at 1000.
    policy = _scored(SAME, w_remaining=1.0, w_attained=0.0, w_gpus=0.0, lease=100.0)
    assert _times(TWO, tiny_cluster(nodes=1, gpus=1), policy) == {"a": (0.0, 1000.0, 0), "b": (1000.0, 1100.0, 0)}


def test_the_score_is_the_weighted_sum_of_log_features() -> None:
    policy = _scored({"a": Estimate(1000.0, 100.0, 10000.0)}, w_remaining=1.0, w_attained=0.5, w_gpus=2.0, w_uncertainty=-1.0)
    trace = Trace((JobSpec("a", 0.0, 50.0, 4),))
    from kaon.sim.state import JobState

    job = JobState(trace.jobs[0], 0, np.ones(1))
    policy.job_arrived(job, 0.0)
    expected = math.log(1000.0 - 200.0) + 0.5 * math.log1p(800.0) + 2.0 * math.log(4) - math.log(100.0)
    assert policy.score(job, 200.0, 800.0) == pytest.approx(expected)


LONG_SHORT = Trace((JobSpec("x", 0.0, 1000.0, 1), JobSpec("long", 1.0, 10000.0, 1)))


def test_a_long_job_waits_for_a_fast_type_and_a_short_one_does_not(tiny_cluster) -> None:  # noqa: ANN001
    cluster = tiny_cluster(nodes=1, gpus=1, types=("fast", "slow"))  # slow runs at half speed
    est = {"x": Estimate(1000.0, 1000.0, 1000.0), "long": Estimate(10000.0, 10000.0, 10000.0)}
    # x takes the fast GPU at 0. `long` is predicted longer than patience and the slow GPU is
    # below min_speed for it: it waits for the fast one (free at 1000) and runs 10,000 s there.
    waits = _scored(est, patience=5000.0, min_speed=0.9)
    assert _times(LONG_SHORT, cluster, waits)["long"] == (1000.0, 11000.0, 0)
    # Without the rule it starts at once on the slow GPU: 20,000 s there.
    eager = _scored(est)
    assert _times(LONG_SHORT, cluster, eager)["long"] == (1.0, 20001.0, 0)


def test_a_long_job_on_a_slow_type_migrates_when_a_fast_one_frees(tiny_cluster) -> None:  # noqa: ANN001
    cluster = tiny_cluster(nodes=1, gpus=1, types=("fast", "slow"))
    est = {"x": Estimate(1000.0, 1000.0, 1000.0), "long": Estimate(10000.0, 10000.0, 10000.0)}
    # `long` starts on the slow GPU at 1 (500 s of work done by 1001: 9,500 left); when x ends at
    # 1000 it moves to the fast GPU (a preemption) and finishes at 1000 + 9,500.5.
    policy = _scored(est, patience=5000.0, migrate=1.5, lease=100.0)
    start, finish, preemptions = _times(LONG_SHORT, cluster, policy)["long"]
    assert (start, preemptions) == (1.0, 1)
    assert finish == pytest.approx(1000.0 + 10000.0 - (1000.0 - 1.0) / 2)


class _TwoKinds(SpeedModel):
    """Job type "steep" runs at 0.1 on the slow type, "flat" at 0.8 (the fast type is 1.0)."""

    def speeds(self, job_type: str | None, num_gpus: int) -> np.ndarray:
        return np.array([1.0, 0.1 if job_type == "steep" else 0.8])


@pytest.mark.parametrize(("advantage", "expected"), [(0.0, {"b": 1000.0, "a": 10000.0}), (1.0, {"b": 1250.0, "a": 1000.0})])
def test_advantage_leaves_the_fast_type_to_the_job_that_loses_most_without_it(
    tiny_cluster, advantage: float, expected: dict[str, float]  # noqa: ANN001
) -> None:
    # One fast and one slow GPU; b ("flat") ranks first by index, a ("steep") second, both 1,000 s.
    # Fastest first, b takes the fast GPU and a the slow one at 0.1: 10,000 s. By comparative
    # advantage (average speeds 1.0 and 0.45), b's merit is 0.8 / 0.45 on the slow type, more than
    # its 1.0 on the fast one, and a's is 0.1 / 0.45: b takes the slow GPU (1,250 s), a the fast.
    cluster = tiny_cluster(nodes=1, gpus=1, types=("fast", "slow"))
    trace = Trace((JobSpec("b", 0.0, 1000.0, 1, job_type="flat"), JobSpec("a", 0.0, 1000.0, 1, job_type="steep")))
    est = {"a": Estimate(1000.0, 1000.0, 1000.0), "b": Estimate(1000.0, 1000.0, 1000.0)}
    policy = _scored(est, advantage=advantage)
    result = Simulator(trace, cluster, policy, SimConfig(restart_overhead_s=0), _TwoKinds(cluster)).run()
    assert {j.job_id: (j.first_start, j.finish_time) for j in result.jobs} == {k: (0.0, v) for k, v in expected.items()}


@pytest.mark.parametrize(
    ("spec", "message"),
    [("scored:patience=0", "patience"), ("scored:min_speed=2", "min_speed"), ("scored:migrate=1", "migrate"),
     ("scored:quantum=0", "quantum"), ("scored:advantage=1.5", "advantage")],
)
def test_parameters_are_checked(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_policy(spec)


def test_params_round_trip_through_the_spec_string() -> None:
    params = ScoredParams(w_attained=0.25, patience=7200.0, min_speed=0.6, migrate=2.0)
    policy = make_policy(params.spec())
    assert isinstance(policy, Scored)
    assert policy.weights == (1.0, 0.25, 1.0, 0.0)
    assert (policy.patience, policy.min_speed, policy.migrate) == (7200.0, 0.6, 2.0)


def test_vectorised_ranks_equal_the_scalar_score() -> None:

    from kaon.policy.psrtf import predicted_total
    from kaon.sim.state import JobState, JobStatus

    rng = np.random.default_rng(3)
    policy = _scored({}, w_remaining=0.7, w_attained=0.4, w_gpus=-0.3, w_uncertainty=0.2)
    jobs = []
    for i in range(200):
        job = JobState(JobSpec(f"j{i}", 0.0, 1e4, int(rng.choice([1, 2, 8]))), i, np.ones(1))
        point = float(rng.uniform(10, 5000))
        policy._estimates[i] = Estimate(point, point * 0.3, point * float(rng.uniform(1, 4)))
        job.executed, job.attained = float(rng.uniform(0, 3e4)), float(rng.uniform(0, 1e5))
        if i % 2:
            job.status, job.run_start = JobStatus.RUNNING, float(rng.uniform(0, 1000))
        jobs.append(job)
    now = 1500.0
    expected = [policy.score(j, j.executed_at(now), j.attained_at(now)) for j in jobs]
    assert policy.running_keys(jobs, now) == pytest.approx(expected, rel=1e-12)
    ex = np.array([j.executed_at(now) for j in jobs])
    totals = policy._totals(ex, *(np.array([getattr(policy._estimates[j.index], f) for j in jobs]) for f in ("point", "p90")))
    assert totals == pytest.approx([predicted_total(policy._estimates[j.index], e, 2.0) for j, e in zip(jobs, ex)])


class _NoTable(Scored):
    """`scored` reading every running job from the jobs themselves, never from its table."""

    def _sync(self) -> bool:
        return False


@pytest.mark.parametrize("seed", [1, 2])
def test_the_running_table_changes_no_schedule(seed: int) -> None:
    from tests.policy.test_contract import HETERO, _trace

    params = dict(w_attained=0.4, w_uncertainty=0.3, patience=1200.0, min_speed=0.5, migrate=1.5, lease=120.0)
    trace = _trace(seed)
    runs = []
    for cls in (Scored, _NoTable):
        result = simulate(trace, HETERO, cls(**params), SimConfig(restart_overhead_s=30))  # type: ignore[arg-type]
        runs.append([(j.job_id, j.first_start, j.finish_time, j.preemptions) for j in result.jobs])
    assert runs[0] == runs[1]
    assert sum(p for *_, p in runs[0]) > 0  # preemptions happened: the table was exercised

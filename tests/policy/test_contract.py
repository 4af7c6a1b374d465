"""Every registered policy through one contract: capacity never exceeded, each job finishes exactly
once with its work done, decisions only about jobs in the right state, and determinism."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.policy.base import Decision, Policy, SchedulerView
from kaon.policy.registry import available, make_policy
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.state import JobState, JobStatus
from kaon.traces.synthetic import synthetic_trace

POLICIES = sorted(available())

HETERO = ClusterSpec(
    "contract",
    (GpuType("v100"), GpuType("p100"), GpuType("k80")),
    tuple(NodeSpec(f"n{i}", t, g) for i, (t, g) in enumerate([("v100", 4)] * 3 + [("p100", 4)] * 2 + [("k80", 8)] * 2)),
    "v100",
    spread_slowdown=0.8,
)
JOB_TYPES = ("ResNet-50 (batch size 64)", "Transformer (batch size 128)", "A3C", "LM (batch size 20)")


class CheckedPolicy(Policy):
    """Wraps a policy and checks, at every decision, the view it gets and the decision it makes."""

    def __init__(self, inner: Policy) -> None:
        super().__init__(inner.placement)
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.summary = inner.summary  # type: ignore[misc]
        self.preemptive = inner.preemptive  # type: ignore[misc]
        self.finished: Counter[str] = Counter()
        self.max_busy_per_type = np.zeros(len(HETERO.gpu_types), dtype=np.int64)

    def decide(self, view: SchedulerView) -> Decision:
        used = np.zeros_like(view.cluster.node_gpus)
        for job in view.running.values():
            assert job.status is JobStatus.RUNNING and job.placement is not None
            np.add.at(used, list(job.placement.nodes), list(job.placement.gpus))
        assert np.all(used <= view.cluster.node_gpus), "more GPUs in use than a node has"
        assert np.array_equal(used + view.capacity.free, view.cluster.node_gpus), "free capacity out of sync"
        for job in view.pending.values():
            assert job.status is JobStatus.PENDING
        busy = np.bincount(view.cluster.node_type, weights=used, minlength=len(view.cluster.gpu_types))
        self.max_busy_per_type = np.maximum(self.max_busy_per_type, busy.astype(np.int64))
        d = self.inner.decide(view)
        started = [s.job.job_id for s in d.starts]
        assert len(started) == len(set(started)), "a job started twice in one decision"
        for s in d.starts:
            assert s.job.job_id in view.pending or s.job in [p.job for p in d.preempts]
            assert s.job.speeds[s.placement.gpu_type] > 0
        for p in d.preempts:
            assert p.job.job_id in view.running
        return d

    def job_arrived(self, job: JobState, now: float) -> None:
        self.inner.job_arrived(job, now)

    def job_started(self, job: JobState, now: float) -> None:
        self.inner.job_started(job, now)

    def job_preempted(self, job: JobState, now: float) -> None:
        self.inner.job_preempted(job, now)

    def job_finished(self, job: JobState, now: float) -> None:
        self.finished[job.job_id] += 1
        self.inner.job_finished(job, now)


def _trace(seed: int):  # noqa: ANN202
    return synthetic_trace(
        300, seed=seed, mean_interarrival_s=40, median_duration_s=900, max_gpus=16, job_types=JOB_TYPES
    )


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Policies that cannot run without arguments: `learned` needs a model directory, so a tiny
    PPO agent is trained here on this cluster (the learning extra is a dev dependency)."""
    from kaon.learn.env import EnvConfig
    from kaon.learn.artifacts import Algorithm
    from kaon.learn.train import TrainSpec, train

    out = tmp_path_factory.mktemp("learned") / "model"
    (trace_file := out.parent / "trace.txt").write_text("synthetic\n")
    spec = TrainSpec(Algorithm.PPO, EnvConfig(window=4, episode_jobs=40), timesteps=64, n_steps=32, eval_episodes=1)
    trace = _trace(seed=0)
    train(trace, trace_file, HETERO, "half", trace.jobs[150].submit_time, spec, out)
    return {"learned": f"learned:{out}"}  # the positional form, `learned:path=DIR` without its key


@pytest.mark.parametrize("name", POLICIES)
def test_policy_contract(name: str, specs: dict[str, str]) -> None:
    trace = _trace(seed=1)
    checked = CheckedPolicy(make_policy(specs.get(name, name)))
    result = simulate(trace, HETERO, checked, SimConfig(restart_overhead_s=30))
    assert result.unschedulable == ()
    assert all(j.status is JobStatus.FINISHED for j in result.jobs), "every job finishes"
    assert set(checked.finished) == {j.job_id for j in trace.jobs}
    assert set(checked.finished.values()) == {1}, "each job finishes exactly once"
    for j in result.jobs:
        assert j.remaining == 0.0
        assert j.first_start is not None and j.first_start >= j.spec.submit_time
        assert j.finish_time is not None and j.finish_time > j.first_start
        # Work conservation: it could not have finished faster than alone on its fastest type.
        assert j.finish_time - j.first_start >= j.isolated_runtime() * HETERO.spread_slowdown - 1e-6
    assert np.all(checked.max_busy_per_type <= HETERO.gpus_per_type())
    assert result.timeline.busy_gpus.max() <= HETERO.total_gpus


# `learned` predicts with a gradient-boosted model at every decision (about 200 s here); its
# determinism is checked on a small problem in tests/learn/test_train.py and in full with -m slow.
DETERMINISM = [pytest.param(n, marks=pytest.mark.slow) if n == "learned" else n for n in POLICIES]


@pytest.mark.parametrize("name", DETERMINISM)
def test_policy_is_deterministic(name: str, specs: dict[str, str]) -> None:
    runs = []
    for _ in range(2):
        result = simulate(_trace(seed=2), HETERO, make_policy(specs.get(name, name)))
        runs.append([(j.job_id, j.first_start, j.finish_time, j.preemptions) for j in result.jobs])
    assert runs[0] == runs[1]


@pytest.mark.parametrize("name", POLICIES)
def test_policy_has_metadata(name: str) -> None:
    cls = available()[name]
    assert cls.name == name
    assert cls.summary and "\n" not in cls.summary
    assert cls.__module__.startswith("kaon.policy.") and (cls.__doc__ or __import__(cls.__module__).__doc__)

"""The engine on hand-made traces whose schedules are known, and its invariants."""

from __future__ import annotations

import pytest

from kaon.core.job import JobSpec, Trace
from kaon.core.placement import Placement
from kaon.policy.base import Decision, Policy, Preempt, SchedulerView, Start
from kaon.policy.registry import make_policy
from kaon.sim.engine import InvariantError, SimConfig, simulate
from kaon.sim.state import JobStatus


def job(i: int, t: float, dur: float, gpus: int = 1, **kw: object) -> JobSpec:
    return JobSpec(f"j{i}", t, dur, gpus, **kw)  # type: ignore[arg-type]


def test_fifo_known_schedule(tiny_cluster) -> None:
    # 1 node x 4 GPUs. j0 takes 4 GPUs for 100 s; j1 (2 GPUs) waits; j2 (1 GPU) is behind j1 in
    # strict FIFO even though it would fit: it starts with j1 at 100. j3 (2 GPUs) starts when j2
    # frees its GPU at 110 (j1 holds 2 of 4).
    trace = Trace((job(0, 0, 100, 4), job(1, 10, 50, 2), job(2, 20, 10, 1), job(3, 30, 30, 2)))
    result = simulate(trace, tiny_cluster(1, 4), make_policy("fifo"))
    times = {j.job_id: (j.first_start, j.finish_time) for j in result.jobs}
    assert times == {"j0": (0, 100), "j1": (100, 150), "j2": (100, 110), "j3": (110, 140)}
    assert result.end_time == 150


def test_spread_gang_runs_slower(tiny_cluster) -> None:
    cluster = tiny_cluster(2, 4)
    from dataclasses import replace

    cluster = replace(cluster, spread_slowdown=0.5)
    result = simulate(Trace((job(0, 0, 100, 8),)), cluster, make_policy("fifo"))
    assert result.jobs[0].finish_time == 200


def test_heterogeneous_speed(tiny_cluster) -> None:
    # types fast (1.0) and slow (0.5); FIFO places on the fastest free type first.
    cluster = tiny_cluster(1, 1, ("fast", "slow"))
    trace = Trace((job(0, 0, 100), job(1, 0, 100)))
    result = simulate(trace, cluster, make_policy("fifo"))
    assert sorted(j.finish_time for j in result.jobs) == [100, 200]


def test_allowed_types_respected(tiny_cluster) -> None:
    cluster = tiny_cluster(1, 1, ("fast", "slow"))
    trace = Trace((job(0, 0, 100), job(1, 0, 100, allowed_types=("fast",))))
    result = simulate(trace, cluster, make_policy("fifo"))
    assert {j.job_id: j.finish_time for j in result.jobs} == {"j0": 100, "j1": 200}


def test_unschedulable_jobs_are_reported_not_dropped(tiny_cluster) -> None:
    trace = Trace((job(0, 0, 10, 16), job(1, 0, 10, 1, allowed_types=("tpu",)), job(2, 0, 10)))
    result = simulate(trace, tiny_cluster(2, 4), make_policy("fifo"))
    assert [j.job_id for j in result.unschedulable] == ["j0", "j1"]
    assert result.jobs[2].status is JobStatus.FINISHED
    assert len(result.jobs) == 3


class _PreemptOnce(Policy):
    """Starts everything FIFO; at t=50 preempts j0 so j1 can run (exercise preemption mechanics)."""

    name = "preempt-once"
    summary = "test"
    preemptive = True

    def decide(self, view: SchedulerView) -> Decision:
        d = Decision()
        cap = view.capacity.copy()
        if view.now == 50 and "j0" in view.running:
            j0 = view.running["j0"]
            d.preempts.append(Preempt(j0))
            assert j0.placement is not None
            cap.release(j0.placement)
        for j in view.pending.values():
            if j.preemptions and view.now < 60:
                continue
            p = self.place(j, cap)
            if p:
                cap.allocate(p)
                d.starts.append(Start(j, p))
        d.wake_at = 60 if view.now < 60 else None
        return d


def test_preemption_keeps_progress_and_pays_overhead(tiny_cluster) -> None:
    trace = Trace((job(0, 0, 100), job(1, 50, 5)))
    result = simulate(trace, tiny_cluster(1, 1), _PreemptOnce(), SimConfig(restart_overhead_s=30))
    j0, j1 = result.jobs
    assert j1.first_start == 50 and j1.finish_time == 55
    # j0 ran 50 s, restarts at 60, restores for 30 s, then needs 50 s more.
    assert j0.preemptions == 1 and j0.finish_time == 60 + 30 + 50
    assert j0.attained == pytest.approx(50 + 80)


class _Greedy(Policy):
    name = "bad"
    summary = "starts a job twice"

    def decide(self, view: SchedulerView) -> Decision:
        jobs = list(view.pending.values())
        return Decision(starts=[Start(jobs[0], Placement(0, (0,), (1,)))] * 2)


def test_double_start_is_an_invariant_error(tiny_cluster) -> None:
    with pytest.raises(InvariantError):
        simulate(Trace((job(0, 0, 10),)), tiny_cluster(1, 4), _Greedy())


def test_horizon_leaves_jobs_unfinished(tiny_cluster) -> None:
    trace = Trace((job(0, 0, 100), job(1, 10, 1000)))
    result = simulate(trace, tiny_cluster(1, 4), make_policy("fifo"), SimConfig(horizon_s=500))
    assert [j.status for j in result.jobs] == [JobStatus.FINISHED, JobStatus.RUNNING]
    assert result.end_time == 500


def test_the_policy_hears_the_runs_past_once_before_any_arrival(tiny_cluster) -> None:  # noqa: ANN001
    from kaon.core.job import PriorJob

    heard: list[tuple[str, object]] = []

    class Listening(Policy):
        name = "listening"
        summary = "records its hooks"

        def decide(self, view: SchedulerView) -> Decision:
            return Decision()

        def jobs_finished_before(self, prior) -> None:  # noqa: ANN001
            heard.append(("prior", [p.spec.job_id for p in prior]))

        def job_arrived(self, job, now: float) -> None:  # noqa: ANN001
            heard.append(("arrived", job.job_id))

    past = (PriorJob(JobSpec("p0", 0.0, 10.0, 1), -50.0), PriorJob(JobSpec("p1", 0.0, 10.0, 1), -5.0))
    trace = Trace((JobSpec("a", 0.0, 10.0, 1),), prior=past)
    simulate(trace, tiny_cluster(nodes=1, gpus=1), Listening(), SimConfig(horizon_s=1.0))
    assert heard == [("prior", ["p0", "p1"]), ("arrived", "a")]
    heard.clear()
    simulate(Trace((JobSpec("a", 0.0, 10.0, 1),)), tiny_cluster(nodes=1, gpus=1), Listening(), SimConfig(horizon_s=1.0))
    assert heard == [("arrived", "a")]  # no past, no call

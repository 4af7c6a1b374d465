"""The planner: its rollout's cost on a hand-computed case and, on random states, the same as a
step-by-step reference (every event replayed, every running job scanned); the running jobs'
ends kept by hooks equal to those read from the jobs."""

from __future__ import annotations

import numpy as np
import pytest

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.core.job import JobSpec
from kaon.learn.env import RewardWeights
from kaon.learn.planner import Planner, PlannerConfig, RunningEnds, RunningSlots, _Job
from kaon.predict.online import Estimate
from kaon.sim.ledger import JobLedger
from kaon.sim.state import JobState


def _state(gpus: int, speeds: tuple[float, ...]) -> JobState:
    return JobState(JobSpec("first", 0.0, 1.0, gpus), 0, np.array(speeds))


def _ends(rows: list[tuple[float, int, int]]) -> RunningEnds:
    rows = sorted(rows)
    return RunningEnds(
        np.array([e for e, _, _ in rows], dtype=np.float64),
        np.array([k for _, k, _ in rows], dtype=np.int64),
        np.array([g for _, _, g in rows], dtype=np.int64),
    )


def _reference(planner: Planner, first: JobState, runtime: float, queue: list[_Job], rows: list[tuple[float, int, int]], free: np.ndarray) -> float:
    """The rollout as first written: one event at a time, scanning every running job."""
    free = free.astype(np.int64).copy()
    running = list(rows)
    waiting = [_Job(runtime, first.num_gpus, first.speeds), *queue]
    t, cost, horizon, w = 0.0, 0.0, planner.config.horizon_s, planner.weights
    while True:
        still = []
        for job in waiting:
            ok = (free >= job.gpus) & (job.speeds > 0)
            if ok.any():
                k = int(np.argmax(np.where(ok, job.speeds, -1.0)))
                free[k] -= job.gpus
                running.append((t + job.runtime / job.speeds[k], k, job.gpus))
            else:
                still.append(job)
        waiting = still
        if not running or t >= horizon:
            return cost
        t_next = min(e for e, _, _ in running)
        busy = sum(g for _, _, g in running)
        cost += (w.alpha * (len(waiting) + len(running)) - w.beta * busy) * (min(t_next, horizon) - t)
        t = t_next
        for e, k, g in running:
            if e <= t:
                free[k] += g
        running = [r for r in running if r[0] > t]


def test_hand_computed_rollout() -> None:
    """One GPU type with 2 GPUs, one busy until t=10. `first` (1 GPU, 5 s) starts at once; the
    queued 2-GPU job (20 s) waits for both: from 10 to 30. Jobs in the system: 3 until 5, 2 until
    10, then 1 until 30: cost 3*5 + 2*5 + 1*20 = 45 (alpha 1, beta 0)."""
    planner = Planner(PlannerConfig(horizon_s=1000.0), RewardWeights(1.0, 0.0))
    queue = [_Job(20.0, 2, np.array([1.0]))]
    cost = planner._rollout(_state(1, (1.0,)), 5.0, queue, _ends([(10.0, 0, 1)]), np.array([1]))
    assert cost == pytest.approx(45.0)


@pytest.mark.parametrize("seed", range(20))
def test_rollout_matches_the_step_by_step_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    types = int(rng.integers(1, 4))
    planner = Planner(PlannerConfig(horizon_s=float(rng.choice([50.0, 500.0, 1e5]))), RewardWeights(1.0, float(rng.uniform(0, 0.5))))
    rows = [(float(rng.uniform(0.5, 400)), int(rng.integers(types)), int(rng.integers(1, 5))) for _ in range(int(rng.integers(0, 60)))]
    free = rng.integers(0, 6, types)
    speeds = lambda: rng.choice([0.0, 0.5, 1.0], types) + np.eye(types)[rng.integers(types)]  # noqa: E731
    queue = [_Job(float(rng.uniform(1, 300)), int(rng.integers(1, 5)), speeds()) for _ in range(int(rng.integers(0, 12)))]
    first = _state(int(rng.integers(1, 3)), tuple(speeds()))
    runtime = float(rng.uniform(1, 200))
    got = planner._rollout(first, runtime, queue, _ends(rows), free)
    assert got == pytest.approx(_reference(planner, first, runtime, queue, rows, free), rel=1e-9, abs=1e-6)


class _Observer:
    """Just what the ends need: a predicted duration per job."""

    def __init__(self, estimates: dict[int, float]) -> None:
        self.estimates = estimates

    def estimate(self, job: JobState) -> Estimate:
        e = self.estimates[job.index]
        return Estimate(e, e, e)


def test_slots_kept_by_hooks_give_the_ends_read_from_the_jobs() -> None:
    """Jobs started, preempted, restarted and finished through a real ledger; at several instants
    the slots' ends equal those computed from the job objects themselves."""
    cluster = ClusterSpec("c", (GpuType("v100"), GpuType("k80", speed=0.5)),
                          tuple(NodeSpec(f"n{i}", "v100" if i % 2 else "k80", 4) for i in range(8)), "v100")
    rng = np.random.default_rng(3)
    ledger, slots = JobLedger(cluster), RunningSlots(capacity=2)  # grows
    jobs = [JobState(JobSpec(f"j{i}", 0.0, float(rng.uniform(50, 500)), int(rng.integers(1, 3))), i, np.array([1.0, 0.5]))
            for i in range(12)]
    observer = _Observer({j.index: float(rng.uniform(20, 800)) for j in jobs})
    for j in jobs:
        ledger.enqueue(j)
    for i, j in enumerate(jobs[:10]):
        p = ledger.capacity.place(j.num_gpus, [i % 2])
        assert p is not None
        ledger.start(j, p, now=float(i), restart_overhead_s=30.0)
        slots.add(j, observer.estimate(j).point)
    for now, stop in ((20.0, jobs[2]), (60.0, jobs[5])):
        ledger.requeue(stop, now)
        slots.remove(stop)
        running = [(j, j.placement) for j in ledger.running.values()]
        want, got = RunningEnds.of(running, observer, now + 5.0), slots.ends(now + 5.0)
        assert np.allclose(got.end, want.end) and (got.gpu_type == want.gpu_type).all() and (got.gpus == want.gpus).all()
    p = ledger.capacity.place(jobs[2].num_gpus, [1])
    ledger.start(jobs[2], p, now=70.0, restart_overhead_s=30.0)  # a restart: overhead before progress
    slots.add(jobs[2], observer.estimate(jobs[2]).point)
    ledger.finish(jobs[0], 80.0)
    slots.remove(jobs[0])
    running = [(j, j.placement) for j in ledger.running.values()]
    assert np.allclose(slots.ends(90.0).end, RunningEnds.of(running, observer, 90.0).end)
    assert len(slots) == len(running) == 8


def test_plus_keeps_the_ends_sorted_like_one_stable_sort() -> None:
    rng = np.random.default_rng(1)
    a = RunningEnds.sorted(rng.integers(0, 20, 50).astype(float), rng.integers(0, 3, 50), rng.integers(1, 5, 50))
    b = RunningEnds.sorted(rng.integers(0, 20, 7).astype(float), rng.integers(0, 3, 7), rng.integers(1, 5, 7))
    got = a.plus(b)
    want = RunningEnds.sorted(np.concatenate([a.end, b.end]), np.concatenate([a.gpu_type, b.gpu_type]), np.concatenate([a.gpus, b.gpus]))
    assert (got.end == want.end).all() and (got.gpu_type == want.gpu_type).all() and (got.gpus == want.gpus).all()

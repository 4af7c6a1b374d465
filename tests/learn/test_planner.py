"""The planner's rollout: its cost on a hand-computed case, and the same cost as a step-by-step
reference (every event replayed, every running job scanned) on random states."""

from __future__ import annotations

import numpy as np
import pytest

from kaon.core.job import JobSpec
from kaon.learn.env import RewardWeights
from kaon.learn.planner import Planner, PlannerConfig, _Job, _RunningEnds
from kaon.sim.state import JobState


def _state(gpus: int, speeds: tuple[float, ...]) -> JobState:
    return JobState(JobSpec("first", 0.0, 1.0, gpus), 0, np.array(speeds))


def _ends(rows: list[tuple[float, int, int]]) -> _RunningEnds:
    rows = sorted(rows)
    return _RunningEnds(
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

"""`Planner` (algorithm `mbrl`): model-based choice with the runtime predictor as the model.

At a decision it takes the `top_k` candidates with the shortest predicted runtime and, for each,
rolls the cluster forward `horizon_s` of simulated time on a cheap copy of the state: per-type
free GPU counts, the running jobs with their predicted remaining time, and the first
`lookahead_jobs` pending jobs with their predicted runtimes. The candidate starts first; then a
default rule (first-fit in queue order, fastest type with room) fills free GPUs at each predicted
finish. No arrivals are imagined. The cost is the environment's reward, negated: alpha x jobs in
the system minus beta x busy GPUs, integrated over the horizon. The candidate with the lowest cost
is started. Nothing is learned beyond the predictor, so it is a yardstick for the model-free agents:
how much does planning with predicted durations buy?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kaon.core.placement import Placement
from kaon.learn.env import RewardWeights
from kaon.learn.observe import Candidates, Observer
from kaon.sim.state import JobState


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    top_k: int = 4
    horizon_s: float = 6 * 3600.0
    lookahead_jobs: int = 32


@dataclass(frozen=True, slots=True)
class _Job:
    runtime: float
    """Predicted seconds of work on the reference type still to do."""
    gpus: int
    speeds: np.ndarray


class Planner:
    def __init__(self, config: PlannerConfig, weights: RewardWeights) -> None:
        if config.top_k < 1 or config.horizon_s <= 0 or config.lookahead_jobs < 0:
            raise ValueError(f"bad planner config {config}")
        self.config = config
        self.weights = weights

    def choose(
        self,
        cands: Candidates,
        observer: Observer,
        now: float,
        pending: Sequence[JobState],
        running: Sequence[tuple[JobState, Placement]],
        free: np.ndarray,
    ) -> int:
        """Index of the candidate to start (always one: the planner never waits)."""
        n = len(cands.jobs)
        predicted = np.array([observer.estimate(j).point for j in cands.jobs])
        order = np.argsort(predicted, kind="stable")[: self.config.top_k]
        chosen_ids = {cands.jobs[int(i)].index for i in order}
        queue = [
            _Job(observer.estimate(j).point, j.num_gpus, j.speeds)
            for j in pending[: self.config.lookahead_jobs + n]
            if j.index not in chosen_ids
        ][: self.config.lookahead_jobs]
        ends: list[tuple[float, int, int]] = []
        for j, p in running:
            done = j.spec.duration - j.remaining_at(now)  # work done so far: known, not the future
            est = observer.estimate(j).point
            rate = j.rate if j.rate > 0 else float(j.speeds[p.gpu_type])
            left = max(est - done, 0.1 * est) / max(rate, 1e-9)
            ends.append((left, p.gpu_type, j.num_gpus))
        costs = [
            self._rollout(cands.jobs[int(i)], predicted[int(i)], queue, ends, free)
            for i in order
        ]
        return int(order[int(np.argmin(costs))])

    def _rollout(
        self, first: JobState, runtime: float, queue: list[_Job], ends: list[tuple[float, int, int]], free: np.ndarray
    ) -> float:
        free = free.astype(np.int64).copy()
        running = list(ends)
        waiting = [_Job(runtime, first.num_gpus, first.speeds), *queue]
        t, cost, horizon = 0.0, 0.0, self.config.horizon_s
        w = self.weights
        while True:
            still: list[_Job] = []
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
            dt = min(t_next, horizon) - t
            cost += (w.alpha * (len(waiting) + len(running)) - w.beta * busy) * dt
            t = t_next
            for e, k, g in running:
                if e <= t:
                    free[k] += g
            running = [r for r in running if r[0] > t]

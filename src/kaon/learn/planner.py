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

import heapq
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
        ends = _RunningEnds.of(running, observer, now)
        costs = [
            self._rollout(cands.jobs[int(i)], predicted[int(i)], queue, ends, free)
            for i in order
        ]
        return int(order[int(np.argmin(costs))])

    def _rollout(self, first: JobState, runtime: float, queue: list[_Job], ends: _RunningEnds, free: np.ndarray) -> float:
        """The cost of starting `first` now, then first-fit at each predicted finish.

        The jobs already running only ever end, in the order of `ends`; they are walked with a
        pointer, the few the rollout starts sit in a heap. Once nothing waits, no decision is left:
        the rest of the integral is one array sum over the jobs still running."""
        free = free.astype(np.int64).copy()
        end, kind, gpus = ends.end, ends.gpu_type, ends.gpus
        i, n = 0, len(end)
        started: list[tuple[float, int, int]] = []
        waiting = [_Job(runtime, first.num_gpus, first.speeds), *queue]
        running, busy = n, int(gpus.sum())
        t, cost, horizon = 0.0, 0.0, self.config.horizon_s
        w = self.weights
        while True:
            still: list[_Job] = []
            for job in waiting:
                ok = (free >= job.gpus) & (job.speeds > 0)
                if ok.any():
                    k = int(np.argmax(np.where(ok, job.speeds, -1.0)))
                    free[k] -= job.gpus
                    heapq.heappush(started, (t + job.runtime / job.speeds[k], k, job.gpus))
                    running += 1
                    busy += job.gpus
                else:
                    still.append(job)
            waiting = still
            if not running or t >= horizon:
                return cost
            if not waiting:
                left = np.concatenate([end[i:], [e for e, _, _ in started]])
                width = np.concatenate([gpus[i:], [g for _, _, g in started]])
                span = np.minimum(left, horizon) - t
                return cost + float(((w.alpha - w.beta * width) * span).sum())
            t_next = min(end[i] if i < n else np.inf, started[0][0] if started else np.inf)
            dt = min(t_next, horizon) - t
            cost += (w.alpha * (len(waiting) + running) - w.beta * busy) * dt
            t = t_next
            while i < n and end[i] <= t:
                free[kind[i]] += gpus[i]
                running, busy, i = running - 1, busy - int(gpus[i]), i + 1
            while started and started[0][0] <= t:
                _, k, g = heapq.heappop(started)
                free[k] += g
                running, busy = running - 1, busy - g


@dataclass(frozen=True, slots=True)
class _RunningEnds:
    """The running jobs' predicted ends (seconds from now), their GPU types and GPU counts, sorted
    by end: built once per decision and shared by every rollout."""

    end: np.ndarray
    gpu_type: np.ndarray
    gpus: np.ndarray

    @classmethod
    def of(cls, running: Sequence[tuple[JobState, Placement]], observer: Observer, now: float) -> _RunningEnds:
        m = len(running)
        est = np.fromiter((observer.estimate(j).point for j, _ in running), np.float64, m)
        done = np.fromiter((j.spec.duration - j.remaining_at(now) for j, _ in running), np.float64, m)
        kind = np.fromiter((p.gpu_type for _, p in running), np.int64, m)
        rate = np.fromiter(
            (j.rate if j.rate > 0 else float(j.speeds[p.gpu_type]) for j, p in running), np.float64, m
        )  # fmt: skip
        gpus = np.fromiter((j.num_gpus for j, _ in running), np.int64, m)
        left = np.maximum(est - done, 0.1 * est) / np.maximum(rate, 1e-9)  # work done so far: known, not the future
        order = np.argsort(left, kind="stable")
        return cls(left[order], kind[order], gpus[order])

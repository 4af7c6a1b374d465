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
from kaon.policy.running_table import JobSlots
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
        ends: RunningEnds,
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
        costs = [
            self._rollout(cands.jobs[int(i)], predicted[int(i)], queue, ends, free)
            for i in order
        ]
        return int(order[int(np.argmin(costs))])

    def _rollout(self, first: JobState, runtime: float, queue: list[_Job], ends: RunningEnds, free: np.ndarray) -> float:
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
class RunningEnds:
    """The running jobs' predicted ends (seconds from now), their GPU types and GPU counts, sorted
    by end: built once per decision and shared by every rollout."""

    end: np.ndarray
    gpu_type: np.ndarray
    gpus: np.ndarray

    @classmethod
    def of(cls, running: Sequence[tuple[JobState, Placement]], observer: Observer, now: float) -> RunningEnds:
        """From job objects: for a few jobs (a training episode, the starts of this decision)."""
        m = len(running)
        est = np.fromiter((observer.estimate(j).point for j, _ in running), np.float64, m)
        left = np.fromiter((j.remaining_at(now) for j, _ in running), np.float64, m)
        duration = np.fromiter((j.spec.duration for j, _ in running), np.float64, m)
        rate = np.fromiter((_rate(j, p) for j, p in running), np.float64, m)
        kind = np.fromiter((p.gpu_type for _, p in running), np.int64, m)
        gpus = np.fromiter((j.num_gpus for j, _ in running), np.int64, m)
        return cls.sorted(_predicted_left(est, duration - left, rate), kind, gpus)

    @classmethod
    def sorted(cls, left: np.ndarray, gpu_type: np.ndarray, gpus: np.ndarray) -> RunningEnds:
        order = np.argsort(left, kind="stable")
        return cls(left[order], gpu_type[order], gpus[order])

    def plus(self, other: RunningEnds) -> RunningEnds:
        """Both, still sorted: `other`'s (few) ends inserted after equal ones of `self`, in one
        linear pass rather than a sort of the thousands already in order."""
        if not len(other.end):
            return self
        at = np.searchsorted(self.end, other.end, side="right")
        return RunningEnds(
            np.insert(self.end, at, other.end), np.insert(self.gpu_type, at, other.gpu_type),
            np.insert(self.gpus, at, other.gpus),
        )  # fmt: skip


def _rate(job: JobState, p: Placement) -> float:
    """Reference seconds of work per second: the job's own once it runs, else its type's speed."""
    return job.rate if job.rate > 0 else float(job.speeds[p.gpu_type])


def _predicted_left(est: np.ndarray, done: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Seconds until each job ends if it is as long as predicted (at least a tenth of the
    prediction more, once it has outrun it). Work done so far is known, not the future."""
    return np.maximum(est - done, 0.1 * est) / np.maximum(rate, 1e-9)


class RunningSlots(JobSlots):
    """The running jobs' planner inputs, kept by the policy's start and stop hooks, so a decision
    reads thousands of running jobs with a few array operations instead of visiting each in
    Python. A slot holds what is fixed while the job runs: its predicted duration, its duration,
    its remaining work and progress start at this start, its rate, type and GPUs."""

    FIELDS = ("est", "duration", "remaining", "progress_start", "rate", "gpu_type", "gpus")

    def __init__(self, capacity: int = 256) -> None:
        super().__init__(self.FIELDS, capacity)

    def add(self, job: JobState, estimate: float) -> None:
        """`job` just started (its placement, rate and progress start are set)."""
        assert job.placement is not None
        s = self.put(job)  # first: it may grow `data`
        self.data[:, s] = (
            estimate, job.spec.duration, job.remaining, job.progress_start, job.rate,
            job.placement.gpu_type, job.num_gpus,
        )  # fmt: skip

    def ends(self, now: float) -> RunningEnds:
        est, duration, remaining, progress_start, rate, kind, gpus = self.data[:, self.active]
        left = np.maximum(0.0, remaining - np.maximum(0.0, now - progress_start) * rate)
        return RunningEnds.sorted(
            _predicted_left(est, duration - left, rate), kind.astype(np.int64), gpus.astype(np.int64)
        )  # fmt: skip

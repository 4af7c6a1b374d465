"""`fifo-backfill`: FIFO with EASY backfilling.

Lifka, "The ANL/IBM SP scheduling system", JSSPP 1995; analysed by Mu'alem & Feitelson,
"Utilization, predictability, workloads, and user runtime estimates in scheduling the IBM SP2 with
backfilling", IEEE TPDS 2001. Jobs start in arrival order while they fit. When the queue head does
not, it gets a reservation: the earliest time enough GPUs of one type free up, from the running
jobs' estimated ends, on the type where it would then finish first. A later job may start now only
if it fits now and either ends (by its estimate) before the reservation or, on the reserved type,
uses only GPUs the head will not need then ("extra" GPUs). The head is never delayed by a
backfilled job whose estimate holds. Non-preemptive.

Runtime estimates come from a `RuntimeEstimator` (seconds on the reference type): `oracle` is
the true duration; `request` models user-requested limits with Mu'alem & Feitelson's f-model, a
per-job factor drawn uniformly from [1, `request_factor`] (deterministically from the job id),
since the bundled traces record no requests. A predictor plugs in through the positional
`estimator` argument.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from enum import Enum
from typing import Protocol

import numpy as np

from kaon.core.placement import FreeCapacity, Placement, PlacementStrategy
from kaon.policy.base import Decision, Policy, SchedulerView, Start
from kaon.policy.priority import PendingQueue
from kaon.policy.registry import register
from kaon.sim.state import JobState


class RuntimeEstimator(Protocol):
    def estimate(self, job: JobState) -> float:
        """Expected total runtime of `job` in seconds on the reference GPU type."""
        ...


class OracleEstimator:
    """The true duration: the clairvoyant upper bound of what estimates can buy."""

    def estimate(self, job: JobState) -> float:
        return job.spec.duration


class RequestEstimator:
    """A user's requested limit under the f-model: duration x U[1, factor], fixed per job id."""

    def __init__(self, factor: float) -> None:
        if not factor >= 1:
            raise ValueError(f"request_factor must be >= 1, got {factor}")
        self.factor = factor

    def estimate(self, job: JobState) -> float:
        u = zlib.crc32(job.job_id.encode()) / 0xFFFFFFFF
        return job.spec.duration * (1.0 + (self.factor - 1.0) * u)


class Estimate(str, Enum):
    ORACLE = "oracle"
    REQUEST = "request"


class _Reservation:
    __slots__ = ("gpu_type", "shadow", "extra")

    def __init__(self, gpu_type: int, shadow: float, extra: int) -> None:
        self.gpu_type = gpu_type
        self.shadow = shadow
        self.extra = extra


@register
class FifoBackfill(Policy):
    name = "fifo-backfill"
    summary = "FIFO with EASY backfilling: later jobs start if they do not delay the head's reservation"

    def __init__(
        self,
        estimator: RuntimeEstimator | None = None,
        *,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
        estimate: Estimate = Estimate.ORACLE,
        request_factor: float = 2.0,
    ) -> None:
        super().__init__(placement)
        self.estimate = Estimate(estimate)
        if estimator is None:
            estimator = OracleEstimator() if self.estimate is Estimate.ORACLE else RequestEstimator(request_factor)
        self.estimator = estimator
        self.queue = PendingQueue()

    def job_arrived(self, job: JobState, now: float) -> None:
        self.queue.add(job, job.spec.submit_time)

    def job_preempted(self, job: JobState, now: float) -> None:
        self.queue.add(job, job.spec.submit_time)

    def job_started(self, job: JobState, now: float) -> None:
        self.queue.remove(job)

    def _end(self, job: JobState, now: float, rate: float, ref_done: float) -> float:
        """Estimated end of `job` given `ref_done` reference-seconds already done."""
        left = max(0.0, self.estimator.estimate(job) - ref_done)
        return now + left / rate

    def _rate(self, job: JobState, p: Placement, cluster_slowdown: float) -> float:
        return float(job.speeds[p.gpu_type]) * (cluster_slowdown if p.spread else 1.0)

    def decide(self, view: SchedulerView) -> Decision:
        now = view.now
        cap = view.capacity.copy()
        decision = Decision()
        slowdown = view.cluster.spread_slowdown
        ends: list[tuple[float, int, int]] = []  # (estimated end, gpu type, gpus) of jobs started now
        head: JobState | None = None
        for _, _, job in self.queue.ordered():
            p = self.place(job, cap)
            if p is None:
                head = job
                break
            cap.allocate(p)
            decision.starts.append(Start(job, p))
            ends.append((self._end(job, now, self._rate(job, p, slowdown), 0.0), p.gpu_type, job.num_gpus))
        if head is None or cap.total_free == 0:
            return decision
        res = self._reserve(head, view, cap, ends)
        started = {s.job.index for s in decision.starts}
        for _, _, job in self.queue.walk(lambda: int(cap.free_per_type.max())):
            if job.index in started or job is head:
                continue
            p = self._backfill(job, cap, res, now, slowdown)
            if p is not None:
                cap.allocate(p)
                decision.starts.append(Start(job, p))
        return decision

    def _reserve(
        self, head: JobState, view: SchedulerView, cap: FreeCapacity, ends: list[tuple[float, int, int]]
    ) -> _Reservation | None:
        """The head's reservation on the type where it would finish first; None if no type can ever
        hold it (then nothing constrains backfilling)."""
        now = view.now
        per_type = view.cluster.gpus_per_type()
        rows = list(ends)
        for job in view.running.values():
            p = job.placement
            assert p is not None
            done = job.spec.duration - job.remaining_at(now)
            start = max(now, job.progress_start)
            rows.append((self._end(job, start, job.rate, done), p.gpu_type, job.num_gpus))
        end = np.array([r[0] for r in rows], dtype=np.float64)
        kind = np.array([r[1] for r in rows], dtype=np.int64)
        gpus = np.array([r[2] for r in rows], dtype=np.int64)
        need = head.num_gpus
        best: tuple[float, _Reservation] | None = None
        for t in self.type_order(head, cap):
            if per_type[t] < need:
                continue
            on = kind == t
            order = np.argsort(end[on], kind="stable")
            t_end, t_gpus = end[on][order], gpus[on][order]
            avail = int(cap.free_per_type[t]) + np.cumsum(t_gpus)
            i = int(np.searchsorted(avail, need))
            if i >= len(avail):
                continue
            shadow = float(max(now, t_end[i]))
            finish = shadow + self.estimator.estimate(head) / float(head.speeds[t])
            if best is None or finish < best[0]:
                best = (finish, _Reservation(t, shadow, int(avail[i]) - need))
        return best[1] if best is not None else None

    def _backfill(
        self, job: JobState, cap: FreeCapacity, res: _Reservation | None, now: float, slowdown: float
    ) -> Placement | None:
        for t in self._types(job, cap):
            p = cap.place(job.num_gpus, (t,), self.placement)
            if p is None:
                continue
            if res is None or t != res.gpu_type:
                return p
            if self._end(job, now, self._rate(job, p, slowdown), 0.0) <= res.shadow:
                return p
            if job.num_gpus <= res.extra:
                res.extra -= job.num_gpus
                return p
        return None

    def _types(self, job: JobState, cap: FreeCapacity) -> Sequence[int]:
        return [t for t in self.type_order(job, cap) if cap.free_per_type[t] >= job.num_gpus]

"""`las`: preemptive least attained service, in GPU-seconds, with a minimum lease.

The job that has received the least GPU service so far runs first (Nuyens & Wierman, "The
Foreground-Background queue: a survey", 2008; for GPU clusters, Gu et al., "Tiresias", NSDI'19,
whose 2D-LAS counts service as GPUs x time, so a large gang ages as fast as it consumes). No job
size is needed. Because a running job's rank worsens continuously, pure LAS would time-share
equals forever; each placement therefore holds its GPUs for at least `lease` seconds (default one
Gavel round, 360 s), and a running job yields only to a job with *strictly* less service.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

import numpy as np

from kaon.core.placement import PlacementStrategy
from kaon.policy.base import Decision
from kaon.policy.priority import PriorityPolicy
from kaon.policy.registry import register
from kaon.sim.state import JobState

TIE_STEP_S = 1.0
"""A running job overtakes a waiting one only once its service is strictly larger: the wake-up for
a crossing is set this long after the instant of equality, so it is never lost to rounding."""


@register
class Las(PriorityPolicy):
    name = "las"
    summary = "preemptive least attained GPU-service first, with a minimum lease per placement"

    def __init__(self, *, placement: PlacementStrategy = PlacementStrategy.PACKING, lease: float = 360.0) -> None:
        if not lease > 0:
            raise ValueError(f"lease must be > 0 seconds (LAS without a lease time-shares equals forever), got {lease}")
        super().__init__(placement, lease=lease)

    def pending_key(self, job: JobState) -> float:
        return job.attained

    def running_keys(self, jobs: Sequence[JobState], now: float) -> list[float]:
        return [j.attained_at(now) for j in jobs]

    def next_change(self, running: Sequence[JobState], decision: Decision, now: float) -> float | None:
        """When a running job's service first exceeds that of a waiting job it is still ahead of:
        each running job past its lease against the smallest waiting service not below its own,
        in one sorted search over the queue's keys."""
        after, lease_ends = self.running_after(running, decision, now)
        free = [j for j, end in zip(after, lease_ends) if end <= now]  # others: their lease wakes us
        if not free:
            return None
        waiting = np.fromiter(map(itemgetter(0), self.queue.ordered()), np.float64, len(self.queue))
        back = np.array([a.job.attained_at(now) for a in decision.preempts], dtype=np.float64)
        keys = np.sort(np.concatenate((waiting, back))) if len(back) else waiting
        if not len(keys):
            return None
        attained = np.array([j.attained_at(now) for j in free], dtype=np.float64)
        gpus = np.array([j.num_gpus for j in free], dtype=np.float64)
        i = np.searchsorted(keys, attained, side="left")
        ok = i < len(keys)
        if not ok.any():
            return None
        return float((now + (keys[i[ok]] - attained[ok]) / gpus[ok]).min()) + TIE_STEP_S

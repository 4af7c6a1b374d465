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
        """When a running job's service first exceeds that of a waiting job it is still ahead of."""
        after, lease_ends = self.running_after(running, decision, now)
        back = sorted(a.job.attained_at(now) for a in decision.preempts)
        best: float | None = None
        for job, lease_end in zip(after, lease_ends):
            if lease_end > now:
                continue  # the lease expiry wakes us; the crossing is looked for then
            a = job.attained_at(now)
            k = self.queue.ceiling(a)
            k2 = next((b for b in back if b >= a), None)
            if k2 is not None and (k is None or k2 < k):
                k = k2
            if k is not None:
                t = now + (k - a) / job.num_gpus + TIE_STEP_S
                best = t if best is None or t < best else best
        return best

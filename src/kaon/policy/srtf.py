"""`srtf`: preemptive shortest remaining work first, with the true remaining time (an oracle).

The clairvoyant preemptive reference (Schrage, "A proof of the optimality of the shortest remaining
processing time discipline", Operations Research 1968): optimal mean completion time on one
server. On a GPU cluster a gang job occupies `num_gpus` servers, so by default jobs are ranked by
remaining *GPU-time* (remaining seconds x GPUs; Tiresias' simulator calls this `shortest-gpu`),
which beats plain remaining time when large gangs would otherwise block many small jobs;
`by=time` ranks by remaining seconds alone. A running job's rank only improves, so SRTF never
needs a wake-up for crossings; the `lease` (default 60 s) only keeps a burst of short arrivals from
preempting a job that has just paid its restart overhead.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from kaon.core.placement import PlacementStrategy
from kaon.policy.priority import PriorityPolicy
from kaon.policy.registry import register
from kaon.sim.state import JobState


class SrtfRank(str, Enum):
    """`gpu_time`: remaining seconds x GPUs; `time`: remaining seconds."""

    GPU_TIME = "gpu_time"
    TIME = "time"


@register
class Srtf(PriorityPolicy):
    name = "srtf"
    summary = "preemptive shortest remaining GPU-time first (oracle durations)"

    def __init__(
        self,
        *,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
        by: SrtfRank = SrtfRank.GPU_TIME,
        lease: float = 60.0,
    ) -> None:
        super().__init__(placement, lease=lease)
        self.by = SrtfRank(by)

    def _weight(self, job: JobState) -> int:
        return job.num_gpus if self.by is SrtfRank.GPU_TIME else 1

    def pending_key(self, job: JobState) -> float:
        return job.remaining * self._weight(job)

    def running_keys(self, jobs: Sequence[JobState], now: float) -> list[float]:
        return [j.remaining_at(now) * self._weight(j) for j in jobs]

"""`sjf`: non-preemptive shortest job first by true duration (a clairvoyant reference).

The classic non-preemptive shortest-processing-time rule (Smith, "Various optimizers for
single-stage production", 1956), ranked by each job's isolated duration on the reference GPU
type as the trace records it: no real scheduler knows it, so this is the yardstick a duration
predictor is measured against. A job that does not fit the GPUs free now is passed over and
later jobs that fit start instead (backfilling by order); nothing is preempted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from kaon.core.placement import PlacementStrategy
from kaon.policy.priority import PriorityPolicy
from kaon.policy.registry import register
from kaon.sim.state import JobState


@register
class Sjf(PriorityPolicy):
    name = "sjf"
    summary = "non-preemptive shortest duration first (oracle), jobs that do not fit are passed over"
    preemptive: ClassVar[bool] = False

    def __init__(self, *, placement: PlacementStrategy = PlacementStrategy.PACKING) -> None:
        # An endless lease pins every running job: the priority walk then only fills free GPUs.
        super().__init__(placement, lease=math.inf)

    def pending_key(self, job: JobState) -> float:
        return job.spec.duration

    def running_keys(self, jobs: Sequence[JobState], now: float) -> list[float]:
        return [j.spec.duration for j in jobs]

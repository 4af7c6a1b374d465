"""`fifo`: strict first-in first-out. The head of the queue blocks everyone behind it.

The baseline every paper starts from; its head-of-line blocking is what backfilling removes.
"""

from __future__ import annotations

from kaon.core.placement import PlacementStrategy
from kaon.policy.base import Decision, Policy, SchedulerView, start_in_order
from kaon.policy.registry import register


@register
class Fifo(Policy):
    name = "fifo"
    summary = "strict first-in first-out; the queue head blocks later jobs (no backfill)"

    def __init__(self, *, placement: PlacementStrategy = PlacementStrategy.PACKING) -> None:
        super().__init__(placement)

    def decide(self, view: SchedulerView) -> Decision:
        return start_in_order(self, view, view.pending.values(), strict=True)

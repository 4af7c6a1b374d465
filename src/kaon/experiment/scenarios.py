"""The scenarios of a plan: each window on each cluster, sized to each offered load.

Every scenario is also a `ScenarioSpec` (window, cluster, cluster scale, seed), so any table row
can be replayed alone with `kaon compare` and the same options.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kaon.compare import Scenario, ScenarioSpec, load_scenario
from kaon.core.job import Trace
from kaon.experiment.load import Sizing, size_for_load
from kaon.experiment.plan import EvaluationPlan, Window


@dataclass(frozen=True)
class SizedScenario:
    """One window on one cluster at one target load, ready to replay."""

    window: Window
    cluster_name: str
    scenario: Scenario
    sizing: Sizing

    @property
    def trace(self) -> Trace:
        return self.scenario.trace

    @property
    def heterogeneous(self) -> bool:
        return len(self.scenario.cluster.gpu_types) > 1


class ScenarioBuilder:
    """Reads each (window, cluster) once and sizes it for every load it is asked for."""

    def __init__(self, plan: EvaluationPlan) -> None:
        self.plan = plan
        self._base: dict[tuple[Window, str], Scenario] = {}

    def _load(self, window: Window, cluster: str) -> Scenario:
        key = (window, cluster)
        if key not in self._base:
            spec = ScenarioSpec(self.plan.trace, cluster, start=window.start, end=window.end, seed=self.plan.seed)
            self._base[key] = load_scenario(spec)
        return self._base[key]

    def sized(self, window: Window, cluster: str, load: float) -> SizedScenario:
        base = self._load(window, cluster)
        # The loaded trace is rebased to the window's start (its epoch moved with it when dated),
        # so the window's bounds read against it differ by exactly the window's length either way.
        lo, hi = window.bounds(base.trace)
        scaled, sizing = size_for_load(base.trace, base.cluster, hi - lo, load)
        spec = replace(base.spec, cluster_scale=sizing.scale)
        return SizedScenario(window, cluster, Scenario(spec, base.trace, scaled), sizing)


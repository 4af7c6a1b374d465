"""Replaying every scenario of a plan under the baselines, the tuned bar and the candidates.

Each scenario (test window x load x cluster) is one `run_comparison`: every registered baseline at
its defaults (the clairvoyant references among them: oracle SRTF, and `srpt-fm:oracle=true`, which
also knows GPU speeds), each bar policy with its parameters tuned for that cluster
and load, and the candidate policies given for that cluster (a learned model is one such spec).
The bar is the tuned bar policy with the lowest average JCT on the scenario.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from kaon.compare import build_policies, demo_policies, run_comparison
from kaon.experiment.goals import Goal, Score, Verdict, goal_for, judge
from kaon.experiment.load import Sizing
from kaon.experiment.plan import EvaluationPlan, Window
from kaon.experiment.scenarios import ScenarioBuilder
from kaon.experiment.tuning import BAR_POLICIES, TunedSpec, tune_bar
from kaon.sim.engine import SimConfig
from kaon.sim.metrics import PolicyMetrics
from kaon.traces.formats import read_trace

ORACLES = ("srtf", "srpt-fm:oracle=true")
"""Clairvoyant references replayed in every scenario, never the bar: oracle SRTF, and SRPT with
each job on its fastest free type, which also knows speeds (oracle SRTF is no limit on a
heterogeneous cluster)."""
TUNING_CACHE = "tuned.json"


class Role(Enum):
    """Why a spec is in a scenario's comparison (a default spec that tuning kept is both)."""

    BASELINE = "baseline"
    TUNED = "tuned"
    CANDIDATE = "candidate"


@dataclass(frozen=True, slots=True)
class RunRow:
    """One policy's numbers on one scenario."""

    spec: str
    roles: tuple[Role, ...]
    avg_jct_s: float
    p50_jct_s: float
    p95_jct_s: float
    p99_jct_s: float
    avg_queue_s: float
    preemptions: int
    unfinished: int
    sim_wall_s: float

    @classmethod
    def of(cls, spec: str, roles: tuple[Role, ...], m: PolicyMetrics) -> RunRow:
        return cls(spec, roles, m.avg_jct_s, m.p50_jct_s, m.p95_jct_s, m.p99_jct_s, m.avg_queue_s,
                   m.preemptions, m.unfinished, m.sim_wall_s)

    @property
    def score(self) -> Score:
        return Score(self.avg_jct_s, self.p99_jct_s, self.unfinished)


@dataclass(frozen=True)
class ScenarioResult:
    """A scenario's runs, its bar and the verdict on each candidate."""

    window: Window
    cluster: str
    heterogeneous: bool
    sizing: Sizing
    jobs: int
    runs: tuple[RunRow, ...]
    wall_s: float

    @property
    def name(self) -> str:
        return f"{self.cluster} load {self.sizing.target_load:g} {self.window.label}"

    @property
    def bar(self) -> RunRow:
        """The tuned bar policy with the lowest average JCT (the first in plan order on a tie)."""
        tuned = [r for r in self.runs if Role.TUNED in r.roles]
        return min(tuned, key=lambda r: r.avg_jct_s)

    @property
    def goal(self) -> Goal:
        """By the load the window actually offers: a window too sparse to overload even the
        smallest cluster (a quiet night) is judged as what it is, not as its target."""
        return goal_for(self.sizing.achieved_load, self.heterogeneous)

    def verdicts(self) -> tuple[tuple[RunRow, Verdict], ...]:
        bar = self.bar.score
        return tuple((r, judge(r.score, bar, self.goal)) for r in self.runs if Role.CANDIDATE in r.roles)


@dataclass(frozen=True)
class EvaluationResult:
    plan: EvaluationPlan
    tuned: tuple[TunedSpec, ...]
    scenarios: tuple[ScenarioResult, ...]
    tuning_wall_s: float
    evaluation_wall_s: float
    workers: int


def _specs(
    tuned: Sequence[TunedSpec], baselines: Sequence[str], candidates: Sequence[str]
) -> tuple[tuple[str, tuple[Role, ...]], ...]:
    """Every spec to replay once, in table order, with its roles."""
    roles: dict[str, list[Role]] = {}
    for spec in baselines:
        roles.setdefault(spec, []).append(Role.BASELINE)
    for t in tuned:
        roles.setdefault(t.spec, []).append(Role.TUNED)
    for spec in candidates:
        roles.setdefault(spec, []).append(Role.CANDIDATE)
    return tuple((spec, tuple(r)) for spec, r in roles.items())


def default_baselines() -> tuple[str, ...]:
    """The registered baselines at their defaults, and the clairvoyant references."""
    base = demo_policies()
    return (*base, *(o for o in ORACLES if o not in base))


def run_evaluation(
    plan: EvaluationPlan,
    out: Path,
    workers: int = 1,
    candidates: Mapping[str, Sequence[str]] | None = None,
    retune: bool = False,
    grids: dict[str, dict[str, list[str]]] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> EvaluationResult:
    """Tune the bar on the training windows (cached in `out`/tuned.json), then replay every scenario.

    `candidates` maps a cluster name to the policy specs judged against the bar on that cluster
    (`learned:path=DIR` with that cluster's model). Every spec is parsed before any replay, and the
    plan is checked against the trace, so a typo or a window on the wrong side of the cut fails at
    once rather than after an hour of tuning.
    """
    candidates = candidates or {}
    unknown = sorted(set(candidates) - set(plan.clusters))
    if unknown:
        raise ValueError(f"candidates for clusters not in the plan: {', '.join(unknown)}")
    baselines = default_baselines()
    for specs in (baselines, *candidates.values()):
        if specs:
            build_policies(list(specs))
    plan.check(read_trace(plan.trace))
    builder = ScenarioBuilder(plan)
    t0 = time.perf_counter()
    tuned = tune_bar(plan, builder, out / TUNING_CACHE, workers, retune, BAR_POLICIES, grids, log)
    tuning_wall = time.perf_counter() - t0
    config = SimConfig(restart_overhead_s=plan.restart_overhead_s)
    results = []
    t1 = time.perf_counter()
    for cluster in plan.clusters:
        for load in plan.loads:
            bar = [t for t in tuned if t.cluster == cluster and t.load == load]
            specs = _specs(bar, baselines, candidates.get(cluster, ()))
            for window in plan.test_windows:
                sized = builder.sized(window, cluster, load)
                t = time.perf_counter()
                comparison = run_comparison(sized.trace, sized.scenario.cluster, [s for s, _ in specs], config,
                                            workers=workers)
                runs = tuple(RunRow.of(spec, roles, run.metrics) for (spec, roles), run in zip(specs, comparison.runs))
                result = ScenarioResult(window, cluster, sized.heterogeneous, sized.sizing, len(sized.trace), runs,
                                        time.perf_counter() - t)
                log(f"{result.name}: {result.jobs} jobs, {sized.sizing.total_gpus} GPUs (load "
                    f"{sized.sizing.achieved_load:.2f}), bar {result.bar.spec}, {result.wall_s:.0f} s")
                results.append(result)
    return EvaluationResult(plan, tuned, tuple(results), tuning_wall, time.perf_counter() - t1, workers)

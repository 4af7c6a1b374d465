"""The bar's parameters, tuned on the training windows only, and cached so a rerun reuses them.

Each bar policy is tuned once per (cluster, load) with `kaon.tune` (average JCT, coordinate descent
over the policy's own grid, one sweep), the objective being the mean over the training windows,
each sized to that load on that cluster. Only training windows are replayed here, and the plan
check guarantees they end by the cut, so no job submitted after the cut can move a tuned value.
The tasks (one per cluster x load x policy) run in parallel processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from kaon.core.cluster import ClusterSpec
from kaon.core.job import Trace
from kaon.experiment.plan import EvaluationPlan
from kaon.experiment.scenarios import ScenarioBuilder
from kaon.sim.engine import SimConfig
from kaon.tune import default_grid, tune

BAR_POLICIES = ("fifo-backfill:estimate=request", "las", "gittins", "gavel", "tiresias")
"""The non-clairvoyant baselines whose best, tuned, sets each scenario's bar. Backfilling is given
the requested times (each job's runtime times a factor in [1, request_factor]), not its default
oracle estimates: the bar may not know durations a learned scheduler cannot know either."""

BAR_GRIDS: dict[str, dict[str, list[str]]] = {
    "fifo-backfill:estimate=request": {"request_factor": ["1", "4"]},
    "las": {"lease": ["90", "1440"]},
    "gittins": {"lease": ["90", "1440"], "history": ["1000"]},
    "gavel": {"round": ["180", "720"]},
    "tiresias": {"queues&thresholds": ["2&900", "2&14400", "3&3250;32500"]},
}
"""A small grid, tried in one coordinate-descent sweep after the defaults: each policy's main
knob a step either side of its default (request factor 2, lease 360 s, Gavel round 360 s,
Tiresias 2 queues split at 3,250 GPU-s), and for Gittins also its size history: every finished
job (the default) or the last 1,000. Defaults are not repeated in the grid, since `kaon.tune`
would replay them again under a spelled-out spec. Tiresias' starvation guard is not tried: with
`starve=2` one overloaded 6-hour window of the heterogeneous cluster was still replaying after 12
CPU-minutes (promotions and demotions preempting each other), against seconds without it. `kaon.tune`'s full
grids (five values per numeric parameter) cost about 5x the replays; pass `grids` for them."""

SWEEPS = 1
"""Coordinate-descent sweeps: one keeps tuning's cost a fixed number of replays per policy."""


@dataclass(frozen=True, slots=True)
class TunedSpec:
    """A bar policy's tuned spec on one cluster at one load, and what tuning it cost."""

    cluster: str
    load: float
    policy: str
    spec: str
    objective_s: float
    trials: int
    wall_s: float
    grid: dict[str, list[str]] | None = None
    """The grid it was tuned over; None for `kaon.tune`'s default grid of the policy."""


@dataclass(frozen=True, slots=True)
class _Task:
    cluster: str
    load: float
    policy: str
    windows: tuple[tuple[Trace, ClusterSpec], ...]
    config: SimConfig
    grid: dict[str, list[str]] | None


def _run(task: _Task) -> TunedSpec:
    t0 = time.perf_counter()
    (first_trace, first_cluster), *rest = task.windows
    result = tune(task.policy, first_trace, first_cluster, task.config, task.grid, SWEEPS, also_on=rest)
    return TunedSpec(
        task.cluster, task.load, task.policy, result.best_spec, result.best_objective, len(result.trials),
        time.perf_counter() - t0, task.grid,
    )


def fingerprint(plan: EvaluationPlan) -> dict:
    """What every tuned value depends on besides its own grid; a cache of another plan is not
    reused. Each entry also keeps its grid, so changing one policy's grid retunes that policy only."""
    return {
        "trace": plan.trace,
        "until": plan.until,
        "train_windows": [w.label for w in plan.train_windows],
        "seed": plan.seed,
        "restart_overhead_s": plan.restart_overhead_s,
        "sweeps": SWEEPS,
    }


def _read_cache(path: Path, expected: dict) -> dict[tuple[str, float, str], TunedSpec]:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
        if doc.get("fingerprint") != expected:
            return {}
        entries = [TunedSpec(**e) for e in doc["tuned"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a tuning cache kaon wrote ({e}); remove it or pass --retune") from None
    return {(e.cluster, e.load, e.policy): e for e in entries}


def tune_bar(
    plan: EvaluationPlan,
    builder: ScenarioBuilder,
    cache: Path,
    workers: int = 1,
    retune: bool = False,
    policies: Sequence[str] = BAR_POLICIES,
    grids: dict[str, dict[str, list[str]]] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[TunedSpec, ...]:
    """Tuned specs for every (cluster, load, policy) of the plan, from `cache` where it holds them
    for the same plan and grid. `grids` maps a policy spec to its grid (default `BAR_GRIDS`); a
    policy without one gets `kaon.tune`'s default grid."""
    grids = BAR_GRIDS if grids is None else grids
    expected = fingerprint(plan)
    cached = {} if retune else _read_cache(cache, expected)
    cached = {k: t for k, t in cached.items() if t.grid == grids.get(t.policy)}
    config = SimConfig(restart_overhead_s=plan.restart_overhead_s)
    tasks = []
    for cluster in plan.clusters:
        for load in plan.loads:
            missing = [p for p in policies if (cluster, load, p) not in cached]
            if not missing:
                continue
            windows = tuple(
                (s.trace, s.scenario.cluster)
                for s in (builder.sized(w, cluster, load) for w in plan.train_windows)
            )
            tasks += [_Task(cluster, load, p, windows, config, grids.get(p)) for p in missing]
    if tasks:
        log(f"tuning {len(tasks)} (cluster, load, policy) combinations on {len(plan.train_windows)} training windows")
    done = list(cached.values())
    for r in _results(tasks, workers):
        log(f"  tuned {r.policy} on {r.cluster} at load {r.load:g}: {r.spec} ({r.trials} trials, {r.wall_s:.0f} s)")
        done.append(r)
        _write_cache(cache, expected, done)
    by_key = {(t.cluster, t.load, t.policy): t for t in done}
    return tuple(by_key[(c, lo, p)] for c in plan.clusters for lo in plan.loads for p in policies)


def _results(tasks: list[_Task], workers: int) -> Iterator[TunedSpec]:
    """Each task's result as it finishes (so the cache is written as tuning goes), the likely
    longest first (highest load, largest grid) so that no long task starts while workers idle."""
    tasks = sorted(tasks, key=lambda t: (-t.load, -_grid_size(t)))
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_run, tasks)
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        for future in as_completed([pool.submit(_run, t) for t in tasks]):
            yield future.result()


def _grid_size(task: _Task) -> int:
    grid = task.grid if task.grid is not None else default_grid(task.policy.partition(":")[0])
    return sum(len(values) for values in grid.values())


def _write_cache(path: Path, expected: dict, entries: list[TunedSpec]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"fingerprint": expected, "tuned": [asdict(e) for e in entries]}
    path.write_text(json.dumps(doc, indent=2) + "\n")

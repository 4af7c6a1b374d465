"""Several policies on one scenario: the library behind `kaon simulate`, `kaon compare` and `kaon demo`.

A `ScenarioSpec` says what to replay (trace file, window, load scale, cluster, seed) as a user
writes it; `load_scenario` turns it into the trace and cluster the simulator runs, and
`run_comparison` replays that same trace on that same cluster under each policy spec. The command
line only parses options and prints; everything it reports comes from the typed results here.

The demo scenario is defined once, in `DEMO`, with its policy order in `demo_policies()`.
"""

from __future__ import annotations

import csv
import math
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kaon.core.cluster import ClusterSpec, load_cluster
from kaon.core.job import Trace
from kaon.policy.base import Policy, PolicyParamError
from kaon.policy.registry import available, make_policy
from kaon.quota.policy import QuotaPolicy
from kaon.quota.quotas import QuotaBook
from kaon.sim.engine import ProgressFn, SimConfig, SimResult, Simulator
from kaon.sim.metrics import JobTable, PolicyMetrics, compute_metrics, job_table
from kaon.traces.formats import read_trace
from kaon.traces.jobtypes import assign_job_types
from kaon.traces.scenario import parse_instant, scale_load, window

class ScenarioError(ValueError):
    """The scenario cannot be built from what the user gave (file, format, window, cluster, scale)."""


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """A scenario as a user states it. `trace` is a path, or the file name of a bundled trace;
    `cluster` a spec file or a bundled cluster name; `start`/`end` ISO dates or seconds since the
    trace's first job; `cluster_scale` multiplies each node group (`ClusterSpec.scaled`)."""

    trace: str
    cluster: str
    format: str | None = None
    start: str | None = None
    end: str | None = None
    load_scale: float = 1.0
    cluster_scale: float = 1.0
    seed: int = 0
    skip_bad: bool = False


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: the jobs to replay and the cluster to replay them on."""

    spec: ScenarioSpec
    trace: Trace
    cluster: ClusterSpec


def _with_job_types(trace: Trace, cluster: ClusterSpec, seed: int) -> Trace:
    """Untyped jobs (all of Philly's) get sampled types on a heterogeneous cluster, since there a
    job's speed on each GPU type depends on its type; jobs with a type keep it."""
    if len(cluster.gpu_types) < 2 or all(j.job_type is not None for j in trace.jobs):
        return trace
    return assign_job_types(trace, seed)


def load_scenario(spec: ScenarioSpec) -> Scenario:
    """Read, cut and scale the trace and load the cluster; any bad input is a `ScenarioError`
    whose message names the file, line or option at fault."""
    try:
        cluster = load_cluster(spec.cluster)
        if spec.cluster_scale != 1.0:
            if not spec.cluster_scale > 0:
                raise ValueError(f"cluster scale must be > 0, got {spec.cluster_scale}")
            cluster = cluster.scaled(spec.cluster_scale)
        trace = read_trace(spec.trace, spec.format, skip_bad=spec.skip_bad)
        start = parse_instant(spec.start, trace) if spec.start is not None else None
        end = parse_instant(spec.end, trace) if spec.end is not None else None
        if start is not None or end is not None:
            trace = window(trace, start, end)
        trace = scale_load(trace, spec.load_scale)
    except (ValueError, OSError, csv.Error) as e:
        raise ScenarioError(str(e)) from None
    if not trace.jobs:
        raise ScenarioError(f"{spec.trace}: no jobs to replay (check --start/--end)")
    return Scenario(spec, _with_job_types(trace, cluster, spec.seed), cluster)


@dataclass(frozen=True)
class PolicyRun:
    """One policy's run: its spec as given, the raw result, per-job times and the summary."""

    spec: str
    result: SimResult
    table: JobTable
    metrics: PolicyMetrics


@dataclass(frozen=True)
class ComparisonResult:
    runs: tuple[PolicyRun, ...]
    config: SimConfig = field(default_factory=SimConfig)

    def best_avg_jct(self) -> float:
        """The lowest average JCT among the runs (NaN when no run finished a job)."""
        values = [r.metrics.avg_jct_s for r in self.runs if not math.isnan(r.metrics.avg_jct_s)]
        return min(values) if values else float("nan")


ProgressFactory = Callable[[str], ProgressFn]


def build_policies(policy_specs: Sequence[str]) -> list[Policy]:
    """One fresh policy per spec; a `PolicyParamError` for an unknown name or parameter, an empty
    list or a repeated spec (their results would share a name in the report)."""
    if not policy_specs:
        raise PolicyParamError("no policies to compare")
    if len(set(policy_specs)) != len(policy_specs):
        raise PolicyParamError(f"policy specs repeat: {', '.join(policy_specs)}")
    return [make_policy(s) for s in policy_specs]


def build_policy(spec: str, quotas: QuotaBook | None = None) -> Policy:
    """The policy of `spec`, wrapped in the queues' fair-share quotas when there are any."""
    policy = make_policy(spec)
    return QuotaPolicy(policy, quotas) if quotas is not None else policy


def _replay(
    spec: str, trace: Trace, cluster: ClusterSpec, config: SimConfig, quotas: QuotaBook | None,
    progress: ProgressFn | None,
) -> PolicyRun:
    result = Simulator(trace, cluster, build_policy(spec, quotas), config).run(progress)
    table = job_table(result)
    return PolicyRun(spec, result, table, compute_metrics(result, table))


def _run_one(
    spec: str, trace: Trace, cluster: ClusterSpec, config: SimConfig, quotas: QuotaBook | None, queue: Any
) -> PolicyRun:
    """One policy's replay in a worker process; progress goes to `queue`."""

    def report(finished: int, total: int) -> None:
        queue.put((spec, finished, total))

    return _replay(spec, trace, cluster, config, quotas, report)


def run_comparison(
    trace: Trace,
    cluster: ClusterSpec,
    policy_specs: Sequence[str],
    config: SimConfig | None = None,
    progress_factory: ProgressFactory | None = None,
    workers: int = 1,
    quotas: QuotaBook | None = None,
) -> ComparisonResult:
    """Replay `trace` on `cluster` once per policy spec (`name` or `name:key=value,...`).

    Every spec is parsed before the first run (`build_policies`), so a typo fails at once rather
    than after minutes of simulation. `progress_factory(spec)` gives the callback for that run.
    With `workers > 1` the runs go to that many processes; each run is independent and
    deterministic, so the results are the same as in one process, only sooner. With `quotas`,
    every policy runs inside the queues' fair-share quotas (`kaon.quota`).
    """
    config = config or SimConfig()
    build_policies(policy_specs)
    callbacks = {spec: progress_factory(spec) for spec in policy_specs} if progress_factory else {}
    if workers <= 1 or len(policy_specs) == 1:
        runs = [_replay(spec, trace, cluster, config, quotas, callbacks.get(spec)) for spec in policy_specs]
        return ComparisonResult(tuple(runs), config)
    with multiprocessing.Manager() as manager:
        queue = manager.Queue()
        with ProcessPoolExecutor(max_workers=min(workers, len(policy_specs))) as pool:
            futures = [pool.submit(_run_one, spec, trace, cluster, config, quotas, queue) for spec in policy_specs]
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                while not queue.empty():
                    spec, finished, total = queue.get()
                    if spec in callbacks:
                        callbacks[spec](finished, total)
            runs = [f.result() for f in futures]
    return ComparisonResult(tuple(runs), config)


DEMO = ScenarioSpec(
    trace="philly-2017-09-10.csv.gz",
    cluster="gavel-hetero",
    start="2017-10-02",
    end="2017-10-09",
    cluster_scale=1.5,
)
"""A busy week of the bundled Philly history on Gavel's heterogeneous cluster, scaled to 720 GPUs:
at its 480 the week's load keeps fifo's queue growing for days; at 720 fifo waits 3.3 h on
average and every job finishes, so queueing matters without swamping every policy."""

DEMO_ORDER = ("fifo", "fifo-backfill", "sjf", "srtf", "las", "tiresias", "gittins", "gavel", "gavel-agnostic")
"""The baselines, from simplest to most informed. Policies that learn (qssf, psrtf, learned:DIR)
are compared with them by `kaon compare`; the demo shows the field they are measured against."""


def demo_policies() -> tuple[str, ...]:
    """The registered baselines, in `DEMO_ORDER`."""
    registered = available()
    return tuple(p for p in DEMO_ORDER if p in registered)

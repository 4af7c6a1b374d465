"""`kaon tune`: pick a policy's parameters on a history window by replaying it.

The search space is derived from the policy's own keyword parameters, so every registered policy
is tunable without a table keyed by policy name: each numeric parameter (or tuple of numbers) is
tried at its default times 1/4, 1/2, 1, 2 and 4, one parameter at a time (coordinate descent, two
sweeps), keeping the value with the lowest objective. A policy whose parameters are coupled
(Tiresias' queue count and thresholds) declares `search_space()`; an explicit grid overrides both.
Candidates a policy rejects as invalid are skipped and reported, never fatal.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kaon.core.cluster import ClusterSpec
from kaon.core.job import Trace
from kaon.policy.base import PolicyParamError
from kaon.policy.registry import available, make_policy, parameters
from kaon.sim.engine import SimConfig, simulate

MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Trial:
    spec: str
    objective: float


@dataclass(frozen=True)
class TuneResult:
    policy: str
    best_spec: str
    best_objective: float
    trials: tuple[Trial, ...] = field(default=())


def _format(value: object) -> str:
    if isinstance(value, tuple):
        return ";".join(_format(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(getattr(value, "value", value))


def default_grid(policy: str) -> dict[str, list[object]]:
    """Candidate values per numeric parameter: the default scaled by `MULTIPLIERS`."""
    cls = available()[policy]
    declared = cls.search_space()
    if declared is not None:
        return declared  # type: ignore[return-value]
    hints = typing.get_type_hints(cls.__init__)
    grid: dict[str, list[object]] = {}
    for name, param in parameters(cls).items():
        default = param.default
        if default is inspect.Parameter.empty or isinstance(default, bool) or hints.get(name) is bool:
            continue
        if isinstance(default, int | float) and default > 0:
            kind = type(default)
            values = sorted({kind(default * m) if kind is float else max(1, round(default * m)) for m in MULTIPLIERS})
            if len(values) > 1:
                grid[name] = values  # type: ignore[assignment]
        elif isinstance(default, tuple) and default and all(isinstance(v, int | float) for v in default):
            grid[name] = [tuple(type(v)(v * m) for v in default) for m in MULTIPLIERS]
    return grid


def parse_grid(text: str) -> dict[str, list[str]]:
    """`lease=60;360,starve=2;4` -> {"lease": ["60", "360"], "starve": ["2", "4"]}. Tuple-valued
    parameters take `|` between elements: `thresholds=3600|36000;1800|18000`."""
    grid: dict[str, list[str]] = {}
    for part in filter(None, text.split(",")):
        key, eq, values = part.partition("=")
        if not eq or not values:
            raise ValueError(f"grid entry {part!r} must be name=v1;v2;...")
        grid[key.strip()] = [v.replace("|", ";") for v in values.split(";") if v]
    return grid


def _avg_jct(trace: Trace, cluster: ClusterSpec, spec: str, config: SimConfig) -> float:
    result = simulate(trace, cluster, make_policy(spec), config)
    # An unfinished job counts as if it finished at the end of the run: starving is never rewarded.
    ends = [j.finish_time if j.finish_time is not None else result.end_time for j in result.jobs]
    jcts = [end - j.spec.submit_time for end, j in zip(ends, result.jobs)]
    return float(sum(jcts) / max(1, len(jcts)))


def tune(
    policy: str,
    trace: Trace,
    cluster: ClusterSpec,
    config: SimConfig | None = None,
    grid: dict[str, list[object]] | dict[str, list[str]] | None = None,
    sweeps: int = 2,
    on_trial: Callable[[Trial], None] | None = None,
    also_on: Sequence[tuple[Trace, ClusterSpec]] = (),
) -> TuneResult:
    """Coordinate descent over `grid` minimising average JCT on `trace`; with `also_on`, the mean
    of the average JCTs on `trace` and on each further (trace, cluster) window, so that parameters
    are not fitted to one window's quirks. `policy` may fix parameters that are not tuned
    (`fifo-backfill:estimate=request` tunes the backfill that sees only requested times)."""
    config = config or SimConfig()
    name, _, fixed_text = policy.partition(":")
    if name not in available():
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(available())}")
    fixed: dict[str, str] = {}
    for part in filter(None, fixed_text.split(",")):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"policy {policy!r}: fixed parameter {part!r} must be key=value")
        fixed[key.strip()] = value.strip()
    space = {
        k: [_format(v) for v in vs]
        for k, vs in (grid or default_grid(name)).items()
        if not set(k.split("&")) & set(fixed)
    }
    current: dict[str, str] = {}
    seen: dict[str, float] = {}
    trials: list[Trial] = []
    windows = [(trace, cluster), *also_on]

    def evaluate(values: dict[str, str]) -> float:
        flat = dict(fixed)
        for key, value in values.items():
            names, parts = key.split("&"), value.split("&")
            if len(names) != len(parts):
                raise ValueError(f"grid value {value!r} does not match the coupled parameters {key!r}")
            flat.update(zip(names, parts))
        spec = name + (":" + ",".join(f"{k}={v}" for k, v in sorted(flat.items())) if flat else "")
        if spec not in seen:
            try:
                seen[spec] = sum(_avg_jct(t, c, spec, config) for t, c in windows) / len(windows)
            except PolicyParamError:
                seen[spec] = float("inf")
            trial = Trial(spec, seen[spec])
            trials.append(trial)
            if on_trial:
                on_trial(trial)
        return seen[spec]

    best = evaluate(current)
    for _ in range(sweeps if space else 0):
        improved = False
        for key, values in space.items():
            for value in values:
                candidate = {**current, key: value}
                score = evaluate(candidate)
                if score < best - 1e-9:
                    best, current, improved = score, candidate, True
        if not improved:
            break
    best_trial = min(trials, key=lambda t: (t.objective, t.spec))
    return TuneResult(policy, best_trial.spec, best_trial.objective, tuple(trials))

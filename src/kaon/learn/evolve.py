"""`--algo es`: policy search over a policy family's parameters by the cross-entropy method.

Two families: `scored` (below) and `gavel-sized` (`kaon.policy.gavel_sized`: Gavel's LP rounds
with share weights from predicted size; its start point is Gavel itself). Each is a parameter
dataclass (`ScoredParams`, `GavelSizedParams`) and a search space of `Box`es (`SPACES`).

Why a search over a few parameters and not a network: the policies that win on Philly are
preemptive, and a preemptive decision is a whole ranking of hundreds of jobs re-made at every
event; an agent choosing one job per step (PPO in `SchedulingEnv`) pays ~15 ms per step and
would need millions of steps to learn even LAS. Here the policy is `kaon.policy.scored` (a rank
that weighs the predictor's remaining time, attained service, GPUs and uncertainty, plus where
long jobs may run and when they move to faster GPUs), and what is learned are its parameters:
black-box, episodic RL, as in Salimans et al., "Evolution Strategies as a Scalable Alternative to
Reinforcement Learning" (2017), with the cross-entropy method's elite update (Rubinstein 1999).

An episode is a window of the training history (`episode_days` from a random start before the
cut) on the cluster scaled to offer a load from `loads` (`kaon.experiment.load.size_for_load`, the
same sizing the evaluation uses), replayed whole by the simulator. Its cost is the
negated return of `SchedulingEnv`'s reward over the episode,

    cost = ( alpha * sum of JCTs - beta * busy GPU-seconds ) / G / 3600,

divided by the same cost under the initial parameters on the same episode, so episodes of
different sizes weigh alike; the objective is the mean over episodes (1.0 = the start point).
Each generation samples `population` parameter vectors from a diagonal Gaussian, replays every
episode under each (in `workers` processes), and moves the Gaussian to the best `elite` of them.
The best vector seen is kept, not the last mean.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from kaon.core.cluster import ClusterSpec
from kaon.core.job import Trace
from kaon.experiment.load import size_for_load
from kaon.learn.env import RewardWeights
from kaon.learn.policy import PreloadedEstimator
from kaon.policy.gavel_sized import GavelSized, GavelSizedParams
from kaon.policy.scored import Scored, ScoredParams
from kaon.predict.model import RuntimePredictor
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.metrics import compute_metrics
from kaon.traces.scenario import window


@dataclass(frozen=True, slots=True)
class Box:
    """Where a coordinate of the search vector lives and how it maps to a parameter."""

    name: str
    low: float
    high: float
    log: bool = False
    """Searched as log10 of the parameter (seconds spread over decades)."""


SCORED_SPACE = (
    Box("w_remaining", -0.5, 2.0),
    Box("w_attained", -0.5, 2.0),
    Box("w_gpus", -1.0, 2.0),
    Box("w_uncertainty", -1.0, 1.0),
    Box("patience", 1.5, 5.5, log=True),
    Box("min_speed", 0.0, 1.0),
    Box("migrate", 1.05, 4.0),
    Box("advantage", 0.0, 1.0),
)
"""`scored`'s search space. A vector outside it is clipped to it before use."""

GAVEL_SIZED_SPACE = (
    Box("size", 0.0, 1.0),
    Box("round", 2.2, 3.3, log=True),
    Box("stay", 0.0, 0.5),
)
"""`gavel-sized`'s: the size exponent, the round length (160 s to 33 min) and the stay margin."""

Params = ScoredParams | GavelSizedParams
FAMILIES: dict[str, type[ScoredParams] | type[GavelSizedParams]] = {
    "scored": ScoredParams,
    "gavel-sized": GavelSizedParams,
}
"""`--family` names -> their parameter classes."""
SPACES: dict[type, tuple[Box, ...]] = {ScoredParams: SCORED_SPACE, GavelSizedParams: GAVEL_SIZED_SPACE}


def family_of(params: Params) -> str:
    """The `--family` name of `params`."""
    return next(name for name, cls in FAMILIES.items() if isinstance(params, cls))


def to_vector(p: Params) -> np.ndarray:
    return np.array([math.log10(getattr(p, b.name)) if b.log else getattr(p, b.name) for b in SPACES[type(p)]])


def from_vector(x: np.ndarray, family: type[Params]) -> Params:
    """The parameters at `x`, clipped to the family's space and rounded to the 6 significant
    digits their spec string (`spec()`) writes, so the spec replays the very same policy."""
    vals = {}
    for b, v in zip(SPACES[family], x):
        v = float(np.clip(v, b.low, b.high))
        vals[b.name] = float(f"{10.0**v if b.log else v:.6g}")
    return family(**vals)


@dataclass(frozen=True, slots=True)
class EvolutionConfig:
    population: int = 8
    generations: int = 6
    elite: int = 2
    sigma: float = 0.35
    """Initial standard deviation, as a fraction of each coordinate's range."""
    episodes: int = 4
    episode_days: float = 1.0
    lookback_days: float = 14.0
    """Episodes start within this many days before the cut: the recent history, which the
    cluster's future resembles most (the trace's first weeks are sparse)."""
    loads: tuple[float, ...] = (1.0, 2.0)
    """Offered loads the cluster is sized to; episodes cycle through them."""
    reward: RewardWeights = field(default_factory=RewardWeights)
    restart_overhead_s: float = 30.0
    seed: int = 0
    workers: int = 1
    family: str = "scored"
    """The policy family searched: a key of `FAMILIES`."""
    holdout: int = 4
    """Held-out episodes: windows before the cut that overlap no training episode (nor each
    other). The search's best vector is kept only if it also beats the start point on them; a
    vector that only fits the training episodes is dropped (0: no check)."""
    min_episode_jobs: int = 20
    """Windows with fewer jobs are drawn again: a window of one or two jobs (a sparse stretch of
    the history) would weigh as much in the objective as one of hundreds and say nothing about
    an order."""

    def __post_init__(self) -> None:
        if self.population < 2 or not 1 <= self.elite < self.population:
            raise ValueError(f"need population >= 2 and 1 <= elite < population; got {self.population}, {self.elite}")
        if self.generations < 1 or self.episodes < 1 or not self.episode_days > 0 or not self.sigma > 0:
            raise ValueError("generations, episodes, episode_days and sigma must be positive")
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r}; known: {', '.join(FAMILIES)}")
        if self.holdout < 0:
            raise ValueError(f"holdout must be >= 0 episodes, got {self.holdout}")
        if self.min_episode_jobs < 1:
            raise ValueError(f"min_episode_jobs must be >= 1, got {self.min_episode_jobs}")
        if not self.loads or min(self.loads) <= 0:
            raise ValueError(f"loads must be positive factors, got {self.loads}")


@dataclass(frozen=True, slots=True)
class Generation:
    index: int
    best_objective: float
    mean_objective: float
    best: Params


@dataclass(frozen=True)
class EvolutionResult:
    best: Params
    """The vector kept: the search's best, or the start point if the held-out check dropped it."""
    objective: float
    """The search's best on the training episodes, relative to the start point (1.0)."""
    generations: tuple[Generation, ...]
    episodes: int
    replays: int
    wall_s: float
    holdout_objective: float | None = None
    """The search's best on the held-out episodes, relative to the start point (None: no check)."""
    holdout_episodes: int = 0
    kept_start: bool = False
    """True when the held-out check dropped the search's best for the start point."""


@dataclass(frozen=True)
class Episode:
    """One window of history and the cluster sized for its load."""

    trace: Trace
    cluster: ClusterSpec
    load: float


def episodes(
    trace: Trace, until_s: float, cluster: ClusterSpec, config: EvolutionConfig, held_out: bool = False
) -> list[Episode]:
    """`config.episodes` windows of the history submitted before `until_s`, seeded, each with
    `cluster` scaled to offer the next of `config.loads` over it. A window with fewer than
    `config.min_episode_jobs` jobs is drawn again (fewer episodes if 100 draws per episode do not
    find enough). With `held_out`, `config.holdout` more windows instead, none overlapping a
    training window or each other."""
    history = window(trace, None, until_s)
    if not history.jobs:
        raise ValueError(f"{trace.source}: no job submitted before the cut")
    span = config.episode_days * 86400.0
    first = max(history.jobs[0].submit_time, until_s - config.lookback_days * 86400.0)
    latest = max(first, until_s - span)

    def draw(rng: np.random.Generator, count: int, taken: list[float] | None) -> list[tuple[float, Trace]]:
        """Up to `count` windows with enough jobs; with `taken`, each at least a span from every
        start in it, which it extends (windows apart from each other and from those)."""
        found: list[tuple[float, Trace]] = []
        for _ in range(100 * count):
            if len(found) == count:
                break
            s = float(rng.uniform(first, latest))
            if taken is not None and any(abs(s - t) < span for t in taken):
                continue
            ep = window(history, s, min(s + span, until_s))
            if len(ep.jobs) >= config.min_episode_jobs:
                found.append((s, ep))
                if taken is not None:
                    taken.append(s)
        return found

    train = draw(np.random.default_rng(config.seed), config.episodes, None)
    chosen = train
    if held_out:
        chosen = draw(np.random.default_rng(config.seed + 2), config.holdout, [s for s, _ in train])
    out = []
    for k, (start, ep) in enumerate(chosen):
        load = config.loads[k % len(config.loads)]
        sized, _ = size_for_load(ep, cluster, min(start + span, until_s) - start, load)
        out.append(Episode(ep, sized, load))
    if not out and not held_out:
        raise ValueError(
            f"{trace.source}: no window of {config.episode_days:g} days before the cut has "
            f"{config.min_episode_jobs} jobs or more (a longer --episode-days takes more per window)"
        )
    return out


@functools.cache
def _predictor(model: str) -> RuntimePredictor:
    """One unpickling per process: a replay of a day costs about as much as loading the model."""
    return RuntimePredictor.load(model)


def family_policy(params: Params, model: str | None) -> Scored | GavelSized:
    """The policy `params` define, its estimates from the predictor saved in `model` (loaded once)."""
    policy = params.policy(None)
    if model:
        policy.estimator = PreloadedEstimator(_predictor(model))
    return policy


def episode_cost(
    params: Params, model: str | None, ep: Trace, cluster: ClusterSpec, reward: RewardWeights, overhead: float
) -> float:
    """The negated episode return of `SchedulingEnv`'s reward under `params`."""
    result = simulate(ep, cluster, family_policy(params, model), SimConfig(restart_overhead_s=overhead))
    m = compute_metrics(result)
    done = m.jobs - m.unfinished
    # A run ends when every job that can ever run has finished: the unfinished ones are those no
    # GPU type of the sized cluster can hold, the same under every candidate, so they add nothing.
    jct = m.avg_jct_s * done if done else 0.0
    busy = m.gpu_util * result.total_gpus * m.makespan_s if done else 0.0
    return (reward.alpha * jct - reward.beta * busy) / result.total_gpus / reward.time_scale_s


def _cost_task(args: tuple[Params, str | None, Trace, ClusterSpec, RewardWeights, float]) -> float:
    return episode_cost(*args)


def evolve(
    trace: Trace,
    until_s: float,
    cluster: ClusterSpec,
    model: str | None,
    config: EvolutionConfig,
    start: Params | None = None,
    progress: Callable[[Generation], None] | None = None,
) -> EvolutionResult:
    """Search the parameters of `config.family` on episodes of `trace` before `until_s`, from
    `start` (of that family) or the family's defaults; see the module doc."""
    t0 = time.perf_counter()
    family = FAMILIES[config.family]
    if start is not None and not isinstance(start, family):
        raise ValueError(f"family {config.family}: the start point is a {type(start).__name__}")
    eps = episodes(trace, until_s, cluster, config)
    start = start or family()
    space = SPACES[family]
    rng = np.random.default_rng(config.seed + 1)
    span = np.array([b.high - b.low for b in space])
    mean, std = to_vector(start), config.sigma * span
    replays = 0

    def costs(candidates: list[Params], pool: ProcessPoolExecutor | None, on: list[Episode] = eps) -> np.ndarray:
        nonlocal replays
        tasks = [(c, model, ep.trace, ep.cluster, config.reward, config.restart_overhead_s) for c in candidates for ep in on]
        replays += len(tasks)
        values = list(pool.map(_cost_task, tasks)) if pool else [_cost_task(t) for t in tasks]
        return np.array(values, dtype=np.float64).reshape(len(candidates), len(on))

    pool = ProcessPoolExecutor(config.workers) if config.workers > 1 else None
    try:
        reference = costs([start], pool)[0]
        scale = np.where(np.abs(reference) > 1e-12, np.abs(reference), 1.0)
        best, best_obj = start, 1.0 if reference.any() else 0.0
        history: list[Generation] = []
        for g in range(config.generations):
            xs = mean + std * rng.standard_normal((config.population, len(space)))
            cands = [from_vector(x, family) for x in xs]
            objective = (costs(cands, pool) / scale).mean(axis=1)
            order = np.argsort(objective, kind="stable")
            if objective[order[0]] < best_obj:
                best, best_obj = cands[order[0]], float(objective[order[0]])
            elite = np.array([to_vector(cands[i]) for i in order[: config.elite]])
            mean = elite.mean(axis=0)
            std = np.maximum(0.7 * std + 0.3 * elite.std(axis=0), 0.02 * span)
            gen = Generation(g, float(objective[order[0]]), float(objective.mean()), cands[order[0]])
            history.append(gen)
            if progress:
                progress(gen)
        held = episodes(trace, until_s, cluster, config, held_out=True) if config.holdout and best != start else []
        holdout_obj = None
        kept = best
        if held:
            pair = costs([start, best], pool, held)
            ref = np.where(np.abs(pair[0]) > 1e-12, np.abs(pair[0]), 1.0)
            holdout_obj = float((pair[1] / ref).mean() - (pair[0] / ref).mean() + 1.0)
            if not holdout_obj < 1.0:  # a NaN (no comparable held-out window) keeps the start too
                kept = start
    finally:
        if pool:
            pool.shutdown()
    return EvolutionResult(
        kept, best_obj, tuple(history), len(eps), replays, time.perf_counter() - t0, holdout_obj, len(held), kept is not best
    )

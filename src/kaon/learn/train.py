"""Training a scheduler: fit the predictor on history, train the agent in `SchedulingEnv`, save.

`train` fits the runtime predictor on the jobs finished by `until` (`kaon.predict.evaluate.
fit_until`), so the agent's runtime features are exactly what the deployed policy will see, then
trains on episodes drawn from the jobs submitted before `until`. `es` searches the parameters of
the preemptive `scored` policy instead (`kaon.learn.evolve`) and records its own metrics: the
best objective relative to the start point, episodes and replays. `resume` continues a saved agent
on a new trace, the feedback loop: its predictor is first refitted on the new trace's history (the
jobs finished by `until`, else by its last submission), so the agent trains on the estimates the
deployed policy will make from now on; `keep_predictor` continues with the old one. Both finish with a short evaluation on fixed episode
seeds: the agent's mean episode return and average JCT next to first-fit in queue order (action 0
at every step) and a uniformly random valid choice, recorded in the manifest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from kaon.core.cluster import ClusterSpec
from kaon.core.job import Trace
from kaon.learn.artifacts import AGENT, PREDICTOR, Algorithm, ArtifactError, Manifest, TrainingRun, file_sha256
from kaon.learn.env import EnvConfig, SchedulingEnv
from kaon.learn.evolve import EvolutionConfig, Generation, evolve, family_of
from kaon.learn.observe import resolve
from kaon.learn.planner import PlannerConfig, RunningEnds
from kaon.learn.policy import Chooser, Context, LearnedScheduler, estimator_factory
from kaon.predict.evaluate import fit_until
from kaon.traces.scenario import window

ProgressFn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TrainSpec:
    algo: Algorithm = Algorithm.PPO
    env: EnvConfig = EnvConfig()
    planner: PlannerConfig = PlannerConfig()
    timesteps: int = 20_000
    n_envs: int = 1
    subproc: bool = False
    seed: int = 0
    n_steps: int = 256
    """Environment steps per env between PPO/TRPO updates."""
    checkpoint_every: int = 0
    """Save a checkpoint every this many steps under DIR/checkpoints (0: none)."""
    tensorboard: bool = False
    """Write TensorBoard logs under DIR/tensorboard."""
    progress_bar: bool = False
    eval_episodes: int = 3
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    """`es` only: the search's population, generations, episodes and workers."""


@dataclass(frozen=True, slots=True)
class EvalScore:
    mean_return: float
    avg_jct: float


def env_context(env: SchedulingEnv) -> Context:
    """The chooser context at the environment's current decision point."""
    assert env.candidates is not None and env.sim is not None
    ledger = env.sim.ledger
    running = [(j, j.placement) for j in ledger.running.values() if j.placement is not None]
    now, observer = env.sim.now, env.observer
    return Context(
        env.candidates, observer, now, list(ledger.pending.values()), len(running),
        lambda: RunningEnds.of(running, observer, now), ledger.capacity.free_per_type.copy(),
    )  # fmt: skip


def evaluate(make_env: Callable[[], SchedulingEnv], chooser: Chooser, episodes: int, seed: int) -> EvalScore:
    """Mean return and average JCT of `chooser` over `episodes` fixed-seed episodes."""
    returns, jcts = [], []
    for k in range(episodes):
        env = make_env()
        env.reset(seed=seed + k)
        total, done, info = 0.0, False, {}
        while not done:
            a = resolve(chooser(env_context(env)), env.action_masks())
            _, r, done, _, info = env.step(a)
            total += r
        returns.append(total)
        jcts.append(info["avg_jct"])
    return EvalScore(float(np.mean(returns)), float(np.mean(jcts)))


def _baselines(make_env: Callable[[], SchedulingEnv], spec: TrainSpec) -> dict[str, float]:
    rng = np.random.default_rng(spec.seed)
    first = evaluate(make_env, lambda c: 0, spec.eval_episodes, 10_000)
    rand = evaluate(make_env, lambda c: int(rng.choice(np.flatnonzero(c.cands.mask[:-1]))), spec.eval_episodes, 10_000)
    return {
        "first_fit_return": first.mean_return,
        "first_fit_avg_jct_s": first.avg_jct,
        "random_return": rand.mean_return,
        "random_avg_jct_s": rand.avg_jct,
    }


def _learn(
    algo: Algorithm, out: Path, spec: TrainSpec, make: Callable[[int], SchedulingEnv], resume_from: Path | None
) -> int:
    """Train (or continue) the model-free agent; returns the timesteps done."""
    from stable_baselines3.common.callbacks import CheckpointCallback

    from kaon.learn.agents import load_agent, new_agent, vec_env

    venv = vec_env(algo, make, spec.n_envs, spec.subproc)
    tb = out / "tensorboard" if spec.tensorboard else None
    if resume_from is not None:
        model = load_agent(algo, resume_from, venv)
        if tb:
            model.tensorboard_log = str(tb)
    else:
        model = new_agent(algo, venv, seed=spec.seed, tensorboard=tb, n_steps=spec.n_steps)
    callbacks = []
    if spec.checkpoint_every > 0:
        callbacks.append(CheckpointCallback(max(1, spec.checkpoint_every // spec.n_envs), str(out / "checkpoints"), algo))
    model.learn(
        spec.timesteps, callback=callbacks or None, progress_bar=spec.progress_bar,
        reset_num_timesteps=resume_from is None,
    )
    model.save(str(out / AGENT))
    venv.close()
    return spec.timesteps


def _run(
    trace: Trace, trace_file: Path, cluster: ClusterSpec, until: str, until_s: float | None,
    spec: TrainSpec, out: Path, manifest: Manifest, resume_from: Path | None,
) -> Manifest:
    train_trace = window(trace, None, until_s) if until_s is not None else trace
    if len(train_trace) == 0:
        raise ArtifactError(f"{trace.source}: no job submitted before {until}")
    if spec.algo is Algorithm.ES:
        return _run_evolution(trace, trace_file, cluster, until, until_s, spec, out, manifest)

    estimators = estimator_factory(out)

    def make(i: int = 0) -> SchedulingEnv:
        return SchedulingEnv(train_trace, cluster, spec.env, estimators)

    wall0 = time.perf_counter()
    steps = 0
    if spec.algo.has_agent:
        steps = _learn(spec.algo, out, spec, make, resume_from)
    wall = time.perf_counter() - wall0
    manifest.save(out)
    learned = LearnedScheduler(out)
    score = evaluate(make, learned.chooser, spec.eval_episodes, 10_000)
    metrics = {"train_wall_s": wall, "agent_return": score.mean_return, "agent_avg_jct_s": score.avg_jct}
    metrics |= _baselines(make, spec)
    run = TrainingRun(trace.source, file_sha256(trace_file), until, len(train_trace), steps, metrics, cluster.name)
    final = manifest.with_run(run)
    final.save(out)
    return final


def _run_evolution(
    trace: Trace, trace_file: Path, cluster: ClusterSpec, until: str, until_s: float | None,
    spec: TrainSpec, out: Path, manifest: Manifest,
) -> Manifest:
    """`es`: search from the manifest's learned parameters (resume: their family, whatever
    `--family` says) or from the defaults of `spec.evolution.family`; save the best."""
    cut = until_s if until_s is not None else trace.jobs[-1].submit_time + 1.0
    config = replace(spec.evolution, reward=spec.env.reward, restart_overhead_s=spec.env.restart_overhead_s, seed=spec.seed)
    if manifest.learned is not None:
        config = replace(config, family=family_of(manifest.learned))

    def show(g: Generation) -> None:
        if spec.progress_bar:
            print(f"generation {g.index + 1}/{config.generations}: best {g.best_objective:.4f}, mean {g.mean_objective:.4f}")

    result = evolve(trace, cut, cluster, str(out / PREDICTOR), config, manifest.learned, show)
    metrics = {
        "train_wall_s": result.wall_s,
        "objective_vs_start": result.objective,
        "episodes": float(result.episodes),
        "replays": float(result.replays),
        "holdout_episodes": float(result.holdout_episodes),
    }
    if result.holdout_objective is not None:
        metrics["holdout_objective_vs_start"] = result.holdout_objective
        metrics["kept_start"] = float(result.kept_start)
    n_train = len(window(trace, None, cut))
    run = TrainingRun(trace.source, file_sha256(trace_file), until, n_train, result.replays, metrics, cluster.name)
    final = manifest.with_learned(result.best).with_run(run)
    final.save(out)
    return final


def train(
    trace: Trace, trace_file: Path, cluster: ClusterSpec, until: str, until_s: float, spec: TrainSpec, out: Path
) -> Manifest:
    """Fit the predictor before `until_s`, train `spec.algo`, write DIR; see the module docstring."""
    out.mkdir(parents=True, exist_ok=True)
    fit_until(trace, until_s).save(out / PREDICTOR)
    probe = SchedulingEnv(trace, cluster, spec.env)
    manifest = Manifest(spec.algo, probe.feature_names, cluster.type_names, spec.env, spec.planner)
    return _run(trace, trace_file, cluster, until, until_s, spec, out, manifest, None)


def resume(
    directory: Path, trace: Trace, trace_file: Path, cluster: ClusterSpec, until: str, until_s: float | None,
    spec: TrainSpec, keep_predictor: bool = False,
) -> Manifest:
    """Continue the agent in `directory` on `trace` (up to `until_s` if given), with its predictor
    refitted on that history unless `keep_predictor`."""
    manifest = Manifest.load(directory)
    if manifest.gpu_types != cluster.type_names:
        raise ArtifactError(f"{directory}: trained on GPU types {manifest.gpu_types}, cluster has {cluster.type_names}")
    if not keep_predictor:
        cut = until_s if until_s is not None else trace.jobs[-1].submit_time + 1.0
        fit_until(trace, cut).save(directory / PREDICTOR)
    spec = TrainSpec(
        manifest.algorithm, manifest.env, manifest.planner, spec.timesteps, spec.n_envs, spec.subproc, spec.seed,
        spec.n_steps, spec.checkpoint_every, spec.tensorboard, spec.progress_bar, spec.eval_episodes,
        spec.evolution,
    )
    agent = directory / AGENT if manifest.algorithm.has_agent else None
    return _run(trace, trace_file, cluster, until, until_s, spec, directory, manifest, agent)

"""`kaon train`, and `kaon explain --model`: train a learned scheduler, and ask why it chose a job.

`kaon train --trace T --cluster C --until DATE --algo ppo|ddpg|trpo|mbrl|es --out DIR` fits the
runtime predictor on the history before DIR's `--until`, trains the agent on episodes drawn from
that history, and writes DIR (see docs/LEARNING.md); `--resume DIR` continues it on a new trace,
refitting its predictor on that history first (`--keep-predictor`: not).
`--from-db URL` instead of `--trace` trains on the jobs a `kaon serve` database saw complete
(exported to DIR/history.csv, a canonical trace; `--until` defaults to the end of that history).
The learning stack is imported only inside the commands. Bad input ends with one `error:` line and
exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from kaon.compare import ScenarioError, ScenarioSpec, load_scenario
from kaon.traces.formats import resolve_trace_path
from kaon.traces.scenario import parse_instant

EXIT_BAD_INPUT = 2
DB_HISTORY = "history.csv"
"""With --from-db, the exported history is kept in the model directory: what the model saw."""


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _db_history(url: str, key_file: Path | None, directory: Path) -> tuple[str, str]:
    """Export the service's finished jobs into DIR/history.csv: (that path, the end of history)."""
    from kaon.service.retrain import end_of_history, history_cipher, history_from_db

    from sqlalchemy.exc import SQLAlchemyError

    path = directory / DB_HISTORY
    try:
        trace = history_from_db(url, path, history_cipher(key_file))
    except SQLAlchemyError as e:
        raise ValueError(f"{url}: cannot read the database: {e}") from None
    if len(trace) == 0:
        raise ValueError(f"{url}: no completed jobs to train on")
    return str(path), f"{end_of_history(trace):.0f}"


def train_command(
    trace: Annotated[str | None, typer.Option("--trace", help="trace file, or a bundled trace's file name")] = None,
    from_db: Annotated[
        str | None, typer.Option("--from-db", help="train on the completed jobs of a `kaon serve` database (URL)")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="with --from-db: the service's key (else KAON_SECRET_KEY)")
    ] = None,
    cluster: Annotated[
        str, typer.Option("--cluster", help="cluster spec YAML, or a bundled cluster name (--resume: default the model's)")
    ] = "",
    until: Annotated[str | None, typer.Option("--until", help="train on history before this (ISO date or seconds)")] = None,
    algo: Annotated[str, typer.Option("--algo", help="ppo, ddpg, trpo, mbrl or es")] = "ppo",
    out: Annotated[Path | None, typer.Option("--out", help="model directory to write")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="continue training the model in DIR")] = None,
    keep_predictor: Annotated[
        bool, typer.Option("--keep-predictor", help="--resume: keep DIR's predictor instead of refitting it on the new history")
    ] = False,
    format: Annotated[str | None, typer.Option("--format", help="trace format (default: detected)")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="reward weight of -(jobs in system) x time")] = 1.0,
    beta: Annotated[float, typer.Option("--beta", help="reward weight of busy GPUs x time")] = 0.0,
    timesteps: Annotated[int, typer.Option("--timesteps", min=1, help="environment steps to train")] = 20_000,
    window: Annotated[int, typer.Option("--window", min=1, help="candidate jobs per decision")] = 16,
    episode_jobs: Annotated[int, typer.Option("--episode-jobs", min=1, help="jobs per episode")] = 200,
    envs: Annotated[int, typer.Option("--envs", min=1, help="parallel environments")] = 1,
    subproc: Annotated[bool, typer.Option("--subproc", help="one process per environment")] = False,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", min=0, help="steps between checkpoints")] = 0,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="write TensorBoard logs in DIR")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="progress bar")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    population: Annotated[int, typer.Option("--population", min=2, help="es: parameter vectors per generation")] = 8,
    generations: Annotated[int, typer.Option("--generations", min=1, help="es: generations")] = 6,
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="es: history windows replayed per vector")] = 4,
    holdout: Annotated[
        int, typer.Option("--holdout", min=0, help="es: held-out windows the best vector must also win on, else the start is kept")
    ] = 4,
    episode_days: Annotated[float, typer.Option("--episode-days", min=0.01, help="es: days per window")] = 1.0,
    family: Annotated[
        str, typer.Option("--family", help="es: the policy family searched, scored or gavel-sized (--resume: the model's)")
    ] = "scored",
    workers: Annotated[int, typer.Option("--workers", min=1, help="es: replays in parallel processes")] = 1,
) -> None:
    """Train a learned scheduler (`learned:path=DIR`)."""
    from kaon.learn.artifacts import Algorithm, ArtifactError, Manifest
    from kaon.learn.env import EnvConfig, RewardWeights
    from kaon.learn.evolve import EvolutionConfig
    from kaon.learn.train import TrainSpec
    from kaon.learn.train import resume as resume_training
    from kaon.learn.train import train
    from kaon.predict.model import PredictorError

    try:
        algorithm = Algorithm.parse(algo, "--algo")
    except ArtifactError as e:
        _fail(str(e))
    if (trace is None) == (from_db is None):
        _fail("give exactly one of --trace and --from-db")
    if resume is None and (out is None or (until is None and from_db is None) or not cluster):
        _fail("--cluster, --until and --out are required (or --resume DIR); --from-db defaults --until to its end")
    try:
        if resume is not None and not cluster:
            cluster = Manifest.load(resume).runs[-1].cluster
            if not cluster:
                raise ArtifactError(f"{resume}: the model does not record its cluster; give --cluster")
        if from_db is not None:
            target = resume if resume is not None else out
            assert target is not None
            trace, end = _db_history(from_db, key_file, target)
            format, until = "canonical", until or end
        assert trace is not None
        scenario = load_scenario(ScenarioSpec(trace, cluster, format, seed=seed))
        until_s = parse_instant(until, scenario.trace) if until is not None else None
        env = EnvConfig(window=window, episode_jobs=episode_jobs, reward=RewardWeights(alpha, beta))
        spec = TrainSpec(
            algorithm, env, timesteps=timesteps, n_envs=envs, subproc=subproc, seed=seed,
            checkpoint_every=checkpoint_every, tensorboard=tensorboard, progress_bar=progress,
            evolution=EvolutionConfig(
                population=population, generations=generations, elite=max(1, population // 4), episodes=episodes,
                episode_days=episode_days, workers=workers, holdout=holdout, family=family,
            ),
        )
        if resume is not None:
            Manifest.load(resume)
            manifest = resume_training(
                resume, scenario.trace, resolve_trace_path(trace), scenario.cluster, until or "", until_s, spec,
                keep_predictor=keep_predictor,
            )
            where = resume
        else:
            assert out is not None and until is not None and until_s is not None
            manifest = train(scenario.trace, resolve_trace_path(trace), scenario.cluster, until, until_s, spec, out)
            where = out
    except (ScenarioError, ArtifactError, PredictorError, ValueError) as e:
        _fail(str(e))
    m = manifest.runs[-1].metrics
    typer.echo(f"{manifest.algorithm} model in {where}: {manifest.runs[-1].timesteps} steps")
    for k in sorted(m):
        typer.echo(f"  {k}: {m[k]:.4g}")


def explain_learned(model: Path, trace: str, cluster: str, at: str, format: str | None, seed: int) -> None:
    """`kaon explain --model`: replay TRACE under the model and print the features behind its
    first start at/after AT."""
    from kaon.learn.artifacts import ArtifactError
    from kaon.learn.explain import explain_first_start

    try:
        scenario = load_scenario(ScenarioSpec(trace, cluster, format, seed=seed))
        at_s = parse_instant(at, scenario.trace)
        e = explain_first_start(model, scenario.trace, scenario.cluster, at_s)
    except (ScenarioError, ArtifactError, ValueError) as err:
        _fail(str(err))
    if e is None:
        _fail(f"no learned start at or after {at}")
    slot = f" (slot {e.action})" if e.action >= 0 else ""
    typer.echo(f"t={e.now:.0f}s: started {e.job_id}{slot}; {e.method}")
    for name, value in e.features.items():
        extra = f"  attribution {e.attribution[name]:+.4f}" if e.attribution is not None else ""
        typer.echo(f"  {name:>16} = {value:+.4f}{extra}")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)

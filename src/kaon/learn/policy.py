"""`LearnedScheduler`: a trained model directory making decisions inside any kaon scheduler.

The `learned` policy (`kaon.policy.learned`) delegates to this class, which holds the `Observer`
(the same features as in training) and a chooser for the artifact's algorithm. At a decision it
asks the chooser for one candidate at a time, starting each on a tentative copy of the free
capacity, until the chooser waits or nothing more fits: the same sequence of choices the agent
made in `SchedulingEnv`. Inference is deterministic (the policy's mode, never a sample).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, partial
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kaon.learn.artifacts import AGENT, PREDICTOR, Algorithm, ArtifactError, Manifest
from kaon.learn.observe import Candidates, Observer, resolve
from kaon.learn.planner import Planner, RunningEnds, RunningSlots
from kaon.core.job import PriorJob
from kaon.core.placement import Placement, PlacementStrategy
from kaon.policy.base import Decision, Policy, SchedulerView, Start
from kaon.predict.features import RunningHistory
from kaon.predict.model import RuntimePredictor
from kaon.predict.online import OnlineEstimator
from kaon.sim.state import JobState


@dataclass(frozen=True)
class Context:
    """Everything a chooser may use at one choice."""

    cands: Candidates
    observer: Observer
    now: float
    pending: list[JobState]
    running: int
    """Jobs running, and those started earlier in this decision."""
    ends: Callable[[], RunningEnds]
    """Their predicted ends, computed only for a chooser that asks (the planner)."""
    free: np.ndarray


Chooser = Callable[[Context], int]
"""Returns an action: a candidate slot, or `window` to wait."""


class PreloadedEstimator(OnlineEstimator):
    """An `OnlineEstimator` over an already-loaded predictor, set up as `OnlineEstimator(model=DIR)`
    would be. Training starts a fresh estimator every episode; unpickling the predictor each time
    (about 0.4 s) would cost more than the episode."""

    def __init__(self, predictor: RuntimePredictor) -> None:
        super().__init__()
        self.predictor = predictor
        self.learning = False
        assert predictor.schema is not None
        self.history = RunningHistory(predictor.schema.groups)


def estimator_factory(directory: Path) -> Callable[[], OnlineEstimator]:
    """Fresh estimators using DIR's predictor (loaded once), or learning online if it has none."""
    pred = directory / PREDICTOR
    if not pred.is_dir():
        return OnlineEstimator
    predictor = RuntimePredictor.load(pred)
    return lambda: PreloadedEstimator(predictor)


def load_model(manifest: Manifest, directory: Path) -> object | None:
    """The stable-baselines3 agent, or None for `mbrl` and `es`."""
    if not manifest.algorithm.has_agent:
        return None
    from kaon.learn.agents import load_agent

    agent_file = directory / AGENT
    if not agent_file.is_file():
        raise ArtifactError(f"{directory}: no {AGENT} for algorithm {manifest.algorithm}")
    return load_agent(manifest.algorithm, agent_file)


def chooser_for(manifest: Manifest, model: Any) -> Chooser:
    if manifest.algorithm is Algorithm.MBRL:
        planner = Planner(manifest.planner, manifest.env.reward)
        return lambda c: planner.choose(c.cands, c.observer, c.now, c.pending, c.ends(), c.free)
    from kaon.learn.actor import NumpyActor
    from kaon.learn.agents import score_choice

    actor = NumpyActor.of(manifest.algorithm, model)
    if manifest.algorithm is Algorithm.PPO:
        return lambda c: actor.action(c.cands.obs, c.cands.mask)
    if manifest.algorithm is Algorithm.DDPG:
        return lambda c: score_choice(c.cands, actor.weights(c.cands.obs))
    return lambda c: resolve(actor.action(c.cands.obs), c.cands.mask)


class LearnedScheduler:
    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.manifest = Manifest.load(self.directory)
        self.observer = Observer(self.manifest.gpu_types, self.manifest.env.window, estimator_factory(self.directory)())
        self.model = load_model(self.manifest, self.directory)
        self.chooser = chooser_for(self.manifest, self.model)
        self.running = RunningSlots()
        """Kept by `AgentPolicy`'s start and stop hooks (through `started` and `stopped`)."""
        self._starting: dict[int, JobState] = {}
        """Started jobs not yet in `running`: they enter with their estimates, made in one batch
        when a decision first needs the ends (a policy rebuild replays thousands of starts)."""

    def choices(self, view: SchedulerView, placer: Policy) -> list[tuple[Start, Context]]:
        """The starts for `view`, each with the context it was chosen in (for explanations)."""
        cap = view.capacity.copy()
        started: list[tuple[JobState, Placement]] = []
        ids: set[str] = set()
        out: list[tuple[Start, Context]] = []
        wait = self.manifest.env.window
        running = self._ends_at(view.now)
        while cap.total_free > 0:
            # A plain copy until something starts: filtering every waiting job by id was a sixth
            # of a decision with 1,000 waiting.
            pending = [j for j in view.pending.values() if j.job_id not in ids] if ids else list(view.pending.values())
            count = len(view.running) + len(started)
            cands = self.observer.candidates(view.now, pending, cap, count, placer)
            if not cands.jobs:
                break
            ends = partial(self._with_started, running, tuple(started), view.now)
            ctx = Context(cands, self.observer, view.now, pending, count, ends, cap.free_per_type.copy())
            a = resolve(self.chooser(ctx), cands.mask)
            if a == wait:
                break
            job, p = cands.jobs[a], cands.placements[a]
            cap.allocate(p)
            started.append((job, p))
            ids.add(job.job_id)
            out.append((Start(job, p), ctx))
        return out

    def started(self, job: JobState) -> None:
        self._starting[job.index] = job

    def stopped(self, job: JobState) -> None:
        self._starting.pop(job.index, None)
        self.running.remove(job)

    def _ends_at(self, now: float) -> Callable[[], RunningEnds]:
        """The running jobs' ends at `now`, read from the slots once per decision if asked."""

        def ends() -> RunningEnds:
            for job in self._starting.values():
                self.running.add(job, self.observer.estimate(job).point)
            self._starting.clear()
            return self.running.ends(now)

        return cache(ends)

    def _with_started(
        self, running: Callable[[], RunningEnds], started: tuple[tuple[JobState, Placement], ...], now: float
    ) -> RunningEnds:
        return running().plus(RunningEnds.of(started, self.observer, now))

    def decide(self, view: SchedulerView, placer: Policy) -> Decision:
        return Decision(starts=[s for s, _ in self.choices(view, placer)])


class AgentPolicy(Policy):
    """A `LearnedScheduler` (agent or planner) as a policy: it places with `Policy.place` (fastest
    type with room), as in training, and never preempts."""

    name = "learned-agent"
    summary = "an RL agent or planner choosing one pending job at a time"

    def __init__(self, scheduler: LearnedScheduler, placement: PlacementStrategy) -> None:
        super().__init__(placement)
        self.scheduler = scheduler

    def decide(self, view: SchedulerView) -> Decision:
        return self.scheduler.decide(view, self)

    def jobs_finished_before(self, prior: Sequence[PriorJob]) -> None:
        self.scheduler.observer.estimator.observe_prior(prior)

    def job_arrived(self, job: JobState, now: float) -> None:
        self.scheduler.observer.arrived(job, now)

    def job_started(self, job: JobState, now: float) -> None:
        self.scheduler.started(job)

    def job_preempted(self, job: JobState, now: float) -> None:
        self.scheduler.stopped(job)

    def job_finished(self, job: JobState, now: float) -> None:
        self.scheduler.stopped(job)
        self.scheduler.observer.finished(job, now)


def load_policy(directory: str | Path, placement: PlacementStrategy) -> Policy:
    """The policy a model directory defines: for `es`, `scored` or `gavel-sized` with the learned
    parameters and the saved predictor; else its agent or planner."""
    directory = Path(directory)
    manifest = Manifest.load(directory)
    if manifest.algorithm is not Algorithm.ES:
        return AgentPolicy(LearnedScheduler(directory), placement)
    params = manifest.learned
    if params is None:
        raise ArtifactError(f"{directory}: algorithm es but the manifest has neither field scored nor gavel_sized")
    policy = params.policy(None)
    policy.placement = placement
    factory = estimator_factory(directory)
    policy.estimator = factory()
    return policy

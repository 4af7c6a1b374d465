"""`SchedulingEnv`: kaon's simulator as a gymnasium environment with masked discrete actions.

An episode replays a window of `episode_jobs` consecutive jobs of a trace, drawn at random, with
arrivals made denser or sparser by a load factor drawn from `loads` (`kaon.traces.scenario.window`
and `scale_load`), from an empty cluster until the last job finishes. At each decision point (an
instant with pending jobs, at least one of which fits) the agent picks one of the `window`
candidates of `kaon.learn.observe.Observer` (started at once with `Policy.place`: the fastest type
with room) or "wait" (action `window`): the clock moves to the next arrival or finish.

Reward, per step, over the simulated time dt the step covered (piecewise exact between events):

    r = ( -alpha * N(t) + beta * B(t) ) / G * dt / time_scale_s

with N the jobs in the system (pending + running), B the busy GPUs and G the cluster's GPUs. The
integral of N over an episode is the sum of job completion times (Little's law), so alpha > 0
alone asks for the smallest average JCT; beta > 0 rewards keeping GPUs busy, which matters when
the trace is cut before everything finishes. Both are configurable: the JCT-vs-utilisation
trade-off.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from kaon.core.cluster import ClusterSpec
from kaon.core.job import PriorJob, Trace
from kaon.learn.observe import CLIP, Candidates, Observer, resolve
from kaon.learn.stepper import SteppingSimulator
from kaon.policy.base import Decision, Policy, SchedulerView, Start
from kaon.predict.online import OnlineEstimator
from kaon.sim.engine import SimConfig
from kaon.sim.state import JobState
from kaon.traces.scenario import scale_load, window


@dataclass(frozen=True, slots=True)
class RewardWeights:
    alpha: float = 1.0
    """Weight of -(jobs in system) x time: the average-JCT objective."""
    beta: float = 0.0
    """Weight of busy GPUs x time: the utilisation objective."""
    time_scale_s: float = 3600.0
    """Seconds of simulated time per unit of reward (keeps returns in a trainable range)."""


@dataclass(frozen=True, slots=True)
class EnvConfig:
    window: int = 16
    """Candidate jobs the agent chooses among (actions 0..window-1; action `window` waits)."""
    episode_jobs: int = 200
    """Consecutive jobs of the trace per episode."""
    loads: tuple[float, ...] = (0.5, 1.0, 2.0)
    """Load factors an episode's arrivals are scaled by, drawn uniformly."""
    reward: RewardWeights = field(default_factory=RewardWeights)
    restart_overhead_s: float = 30.0


EstimatorFactory = Callable[[], OnlineEstimator]


class HookPolicy(Policy):
    """Receives the engine's `job_*` hooks for the observer; the agent, not it, decides."""

    name = "learn-env"
    summary = "hands each decision to an RL agent"

    def __init__(self, observer: Observer) -> None:
        super().__init__()
        self.observer = observer

    def decide(self, view: SchedulerView) -> Decision:
        raise RuntimeError("SchedulingEnv decides through step(), not through Policy.decide")

    def jobs_finished_before(self, prior: Sequence[PriorJob]) -> None:
        self.observer.estimator.observe_prior(prior)

    def job_arrived(self, job: JobState, now: float) -> None:
        self.observer.arrived(job, now)

    def job_finished(self, job: JobState, now: float) -> None:
        self.observer.finished(job, now)


class SchedulingEnv(gym.Env[np.ndarray, np.int64]):
    """Episodes over windows of `trace` on `cluster`; see the module docstring."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        trace: Trace,
        cluster: ClusterSpec,
        config: EnvConfig | None = None,
        estimator: EstimatorFactory = OnlineEstimator,
    ) -> None:
        super().__init__()
        self.config = config or EnvConfig()
        if len(trace) < 1:
            raise ValueError(f"{trace.source}: no jobs to train on")
        self.trace = trace
        self.cluster = cluster
        self.make_estimator = estimator
        probe = Observer(cluster.type_names, self.config.window, OnlineEstimator())
        self.job_dim = probe.job_dim
        self.feature_names = probe.names
        self.observation_space = gym.spaces.Box(-CLIP, CLIP, (probe.obs_dim,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(self.config.window + 1)
        self._cands: Candidates | None = None
        self.sim: SteppingSimulator | None = None

    # -- episode ---------------------------------------------------------------------------

    def _episode_trace(self) -> Trace:
        jobs = self.trace.jobs
        n = min(self.config.episode_jobs, len(jobs))
        first = int(self.np_random.integers(0, len(jobs) - n + 1))
        start = jobs[first].submit_time
        last = jobs[first + n - 1].submit_time
        piece = window(self.trace, start, np.nextafter(last, np.inf))
        load = float(self.np_random.choice(np.asarray(self.config.loads)))
        return scale_load(piece, load)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.observer = Observer(self.cluster.type_names, self.config.window, self.make_estimator())
        self.hooks = HookPolicy(self.observer)
        self.sim = SteppingSimulator(
            self._episode_trace(), self.cluster, self.hooks, SimConfig(self.config.restart_overhead_s)
        )
        self._steps: Generator[SchedulerView, Start | None, None] = self.sim.decision_points()
        self._view: SchedulerView | None = None
        self._areas = (0.0, 0.0)
        self._advance(None, first=True)
        return self._obs(), {}

    def _advance(self, choice: Start | None, *, first: bool = False) -> None:
        """Send `choice` and move on to the next decision point that has a candidate."""
        assert self.sim is not None
        try:
            view = next(self._steps) if first else self._steps.send(choice)
            while True:
                cands = self.observer.candidates(
                    view.now, view.pending.values(), view.capacity, len(view.running), self.hooks
                )
                if cands.jobs:
                    self._view, self._cands = view, cands
                    return
                view = self._steps.send(None)
        except StopIteration:
            self._view = None
            self._cands = None

    def _obs(self) -> np.ndarray:
        if self._cands is None:
            return np.zeros(self.observation_space.shape, dtype=np.float32)
        return self._cands.obs

    def action_masks(self) -> np.ndarray:
        """Valid actions now (sb3-contrib's MaskablePPO calls this)."""
        if self._cands is None:
            mask = np.zeros(self.config.window + 1, dtype=bool)
            mask[-1] = True
            return mask
        return self._cands.mask.copy()

    @property
    def candidates(self) -> Candidates | None:
        return self._cands

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._cands is None or self.sim is None:
            raise RuntimeError("step() after the episode ended: call reset()")
        a = resolve(int(action), self._cands.mask)
        choice = None if a == self.config.window else Start(self._cands.jobs[a], self._cands.placements[a])
        self._advance(choice)
        w = self.config.reward
        jobs_area, busy_area = self.sim.jobs_area, self.sim.busy_area
        d_jobs, d_busy = jobs_area - self._areas[0], busy_area - self._areas[1]
        self._areas = (jobs_area, busy_area)
        g = self.cluster.total_gpus
        reward = (-w.alpha * d_jobs + w.beta * d_busy) / g / w.time_scale_s
        terminated = self._cands is None
        info: dict[str, Any] = {}
        if terminated:
            info["avg_jct"] = avg_jct(self.sim.jobs)
        return self._obs(), float(reward), terminated, False, info


def avg_jct(jobs: tuple[JobState, ...] | list[JobState]) -> float:
    """Mean completion time (finish - submit) of the finished jobs."""
    done = [j.finish_time - j.spec.submit_time for j in jobs if j.finish_time is not None]
    return float(np.mean(done)) if done else float("nan")

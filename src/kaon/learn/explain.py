"""Why a learned scheduler chose a job: the features behind one decision.

- `ddpg`: the action is a weight per feature, so the score of each candidate is a sum of
  weight x feature terms; those terms for the chosen job are its explanation, exactly.
- `ppo`, `trpo`: attribution by perturbation: each feature is set to zero for every candidate in
  turn and the drop in the probability the policy gives the chosen action is reported.
- `mbrl`: the planner's choice comes from its rollouts, not from a feature weighting: the chosen
  job's features are shown without attribution.
- `es`: the learned `scored` policy ranks every job by a weighted sum of its features (lower runs
  first); weight x feature for the started job is its explanation, exactly. A learned
  `gavel-sized` policy started the job for its LP share: the explanation is the remaining GPU-time
  it saw, the weight level that gave, and the job's share of each GPU type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kaon.core.cluster import ClusterSpec
from kaon.core.job import Trace
from kaon.learn.artifacts import Algorithm
from kaon.learn.policy import AgentPolicy, Context, LearnedScheduler
from kaon.policy.base import Decision, SchedulerView
from kaon.policy.gavel_sized import GavelSized
from kaon.policy.learned import Learned
from kaon.policy.scored import FEATURES, Scored
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.state import JobState


@dataclass(frozen=True)
class Explanation:
    now: float
    job_id: str
    action: int
    features: dict[str, float]
    """The chosen candidate's (normalised) features."""
    attribution: dict[str, float] | None
    """Per feature: weight x feature (ddpg) or probability drop when zeroed (ppo, trpo)."""
    method: str


def _probabilities(model: object, obs: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    import torch

    policy = model.policy  # type: ignore[attr-defined]
    tensor, _ = policy.obs_to_tensor(obs)
    with torch.no_grad():
        dist = policy.get_distribution(tensor, action_masks=mask) if mask is not None else policy.get_distribution(tensor)
        return dist.distribution.probs.cpu().numpy()[0]


def explain(scheduler: LearnedScheduler, ctx: Context, action: int) -> Explanation:
    cands = ctx.cands
    names = scheduler.observer.names
    feats = cands.features[action]
    values = {n: float(v) for n, v in zip(names, feats)}
    job_id = cands.jobs[action].job_id
    algo = scheduler.manifest.algorithm
    if algo is Algorithm.MBRL:
        return Explanation(ctx.now, job_id, action, values, None, "planner rollouts (no attribution)")
    model = scheduler.model
    if algo is Algorithm.DDPG:
        w = model.predict(cands.obs, deterministic=True)[0]
        attr = {n: float(a * b) for n, a, b in zip(names, w, feats)}
        return Explanation(ctx.now, job_id, action, values, attr, "weight x feature")
    mask = cands.mask if algo is Algorithm.PPO else None
    base = _probabilities(model, cands.obs, mask)[action]
    dim, window = len(names), scheduler.manifest.env.window
    attr = {}
    for f, n in enumerate(names):
        obs = cands.obs.copy()
        obs[f : window * dim : dim] = 0.0
        attr[n] = float(base - _probabilities(model, obs, mask)[action])
    return Explanation(ctx.now, job_id, action, values, attr, "probability drop when the feature is zeroed")


def explain_rank(policy: Scored, job: JobState, now: float) -> Explanation:
    """Why `scored` started `job` at `now`: the terms of its rank (lower runs first)."""
    feats = policy.features(job, job.executed_at(now), job.attained_at(now))
    values = dict(zip(FEATURES, feats))
    attr = {n: w * f for n, w, f in zip(FEATURES, policy.weights, feats)}
    return Explanation(now, job.job_id, -1, values, attr, "weight x feature of the rank (lower runs first)")


def explain_share(policy: GavelSized, job: JobState, now: float) -> Explanation:
    """Why `gavel-sized` started `job` at `now`: its remaining size, weight and LP share per type."""
    left = policy.remaining(job, now)
    values = {
        "remaining_gpu_h": float("nan") if left is None else left / 3600.0,
        "weight_level": float(policy.level(job, now)),
    }
    row = policy.allocation(job)
    for t, x in enumerate(row if row is not None else ()):
        values[f"share_type{t}"] = float(x)
    method = "LP share weight 2^level from the remaining GPU-time (gavel-sized)"
    return Explanation(now, job.job_id, -1, values, None, method)


def explain_learned(policy: Scored | GavelSized, job: JobState, now: float) -> Explanation:
    """The explanation of an `es` model's start, by its family."""
    return explain_rank(policy, job, now) if isinstance(policy, Scored) else explain_share(policy, job, now)


class _Explained(Exception):
    """Ends the replay at the explained decision: nothing after it is needed."""


class ExplainingPolicy(Learned):
    """`learned:path=DIR`, replayed unchanged until its first start at or after `at_s`, whose
    explanation it keeps (`found`) before ending the replay."""

    def __init__(self, path: str | Path, at_s: float) -> None:
        super().__init__(path=str(path))
        self.at_s = at_s
        self.found: Explanation | None = None

    def decide(self, view: SchedulerView) -> Decision:
        inner = self.inner
        if isinstance(inner, AgentPolicy):
            choices = inner.scheduler.choices(view, inner)
            if view.now >= self.at_s and choices:
                start, ctx = choices[0]
                self.found = explain(inner.scheduler, ctx, ctx.cands.jobs.index(start.job))
                raise _Explained
            return Decision(starts=[s for s, _ in choices])
        decision = inner.decide(view)
        if view.now >= self.at_s and decision.starts:
            assert isinstance(inner, Scored | GavelSized)
            self.found = explain_learned(inner, decision.starts[0].job, view.now)
            raise _Explained
        return decision


def explain_first_start(model: str | Path, trace: Trace, cluster: ClusterSpec, at_s: float) -> Explanation | None:
    """Replay `trace` under the model in `model` and explain its first start at or after `at_s`
    (None: it started nothing from then on)."""
    policy = ExplainingPolicy(model, at_s)
    try:
        simulate(trace, cluster, policy, SimConfig(horizon_s=None))
    except _Explained:
        pass
    return policy.found

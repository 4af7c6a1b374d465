"""What a learned scheduler sees at a decision: a window of candidate jobs and the cluster.

One `Observer` serves the training environment, the `learned` policy and the planner, so an agent
sees at inference exactly the features it was trained on. It keeps each job's runtime estimate
(from `kaon.predict.online.OnlineEstimator`: a saved predictor, or the queue median while none
exists) and turns a scheduler's state into a fixed-size, normalised vector:

- per candidate (the first `window` pending jobs, in queue order, that fit the free GPUs now):
  log predicted runtime, log width of its 80 % interval (uncertainty), log wait so far, log2 GPUs
  asked, speed on each GPU type relative to its fastest, and 1 (a real candidate, not padding);
- the cluster: free fraction of each GPU type, log queue length, log jobs running.

Only jobs that fit are candidates, so the agent never wastes a choice on one that cannot start;
the action mask marks the padding slots, and "wait" when nothing runs (waiting then would stall
the cluster forever).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from kaon.core.placement import FreeCapacity, Placement
from kaon.policy.base import Policy
from kaon.predict.online import Estimate, OnlineEstimator
from kaon.sim.state import JobState

JOB_FEATURES = ("log_runtime", "uncertainty", "log_wait", "log2_gpus")
"""Per-candidate features before the per-type speeds and the validity flag."""

CLIP = 5.0


def feature_names(type_names: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the per-candidate features, in observation order."""
    return JOB_FEATURES + tuple(f"speed_{t}" for t in type_names) + ("valid",)


@dataclass(frozen=True)
class Candidates:
    """The candidate window at one decision: jobs, their placements now, and their features."""

    jobs: tuple[JobState, ...]
    placements: tuple[Placement, ...]
    features: np.ndarray
    """(window, job features) float32, zero rows for padding."""
    obs: np.ndarray
    mask: np.ndarray
    """(window + 1,) bool: a real candidate per slot, then whether "wait" is allowed."""


class Observer:
    """Runtime estimates per job and the observation of a scheduler's state."""

    def __init__(self, type_names: tuple[str, ...], window: int, estimator: OnlineEstimator) -> None:
        """`type_names`: the cluster's GPU types, whose order the per-type features follow (a
        policy learns the cluster only at its first decision, after jobs have arrived)."""
        if window < 1:
            raise ValueError(f"candidate window must be >= 1, got {window}")
        self.type_names = type_names
        self.window = window
        self.estimator = estimator
        self.names = feature_names(type_names)
        self.n_types = len(type_names)
        self._estimates: dict[int, Estimate] = {}
        self._todo: list[JobState] = []

    @property
    def job_dim(self) -> int:
        return len(self.names)

    @property
    def obs_dim(self) -> int:
        return self.window * self.job_dim + self.n_types + 2

    def arrived(self, job: JobState, now: float) -> None:
        est = self.estimator.arrived(job, now)
        if est is None:
            self._todo.append(job)
        else:
            self._estimates[job.index] = est

    def finished(self, job: JobState, now: float) -> None:
        self.estimator.finished(job, now)
        self._estimates.pop(job.index, None)

    def estimate(self, job: JobState) -> Estimate:
        """The job's runtime estimate (seconds on the reference type), made once, in batches."""
        if self._todo:
            for j, e in zip(self._todo, self.estimator.estimate_many(self._todo)):
                self._estimates[j.index] = e
            self._todo.clear()
        return self._estimates[job.index]

    def candidates(
        self,
        now: float,
        pending: Collection[JobState],
        capacity: FreeCapacity,
        running: int,
        placer: Policy,
    ) -> Candidates:
        """The first `window` pending jobs that `placer` can place on `capacity`, and the
        observation. `pending` is in queue order; a cheap per-type count check runs before the
        node-level placement so a long queue of jobs that cannot fit costs little."""
        if capacity.cluster.type_names != self.type_names:
            raise ValueError(
                f"cluster GPU types {capacity.cluster.type_names} differ from the {self.type_names} "
                "this scheduler observes (a learned model works on the GPU types it was trained on)"
            )
        jobs: list[JobState] = []
        placements: list[Placement] = []
        free = capacity.free_per_type
        queued = len(pending)
        for job in pending:
            if len(jobs) == self.window:
                break
            if not np.any((free >= job.num_gpus) & (job.speeds > 0)):
                continue
            p = placer.place(job, capacity)
            if p is not None:
                jobs.append(job)
                placements.append(p)
        feats = np.zeros((self.window, self.job_dim), dtype=np.float32)
        if jobs:
            est = [self.estimate(j) for j in jobs]
            point = np.array([e.point for e in est])
            width = np.array([max(e.p90, 1.0) / max(e.p10, 1.0) for e in est])
            wait = np.array([now - j.spec.submit_time for j in jobs])
            gpus = np.array([j.num_gpus for j in jobs], dtype=np.float64)
            speeds = np.vstack([j.speeds / max(float(j.speeds.max()), 1e-9) for j in jobs])
            n = len(jobs)
            feats[:n, 0] = np.log1p(point / 60.0) / 8.0
            feats[:n, 1] = np.log(width) / 5.0
            feats[:n, 2] = np.log1p(np.maximum(wait, 0.0) / 60.0) / 8.0
            feats[:n, 3] = np.log2(gpus) / 6.0
            feats[:n, 4 : 4 + self.n_types] = speeds
            feats[:n, -1] = 1.0
        np.clip(feats, -CLIP, CLIP, out=feats)
        cluster = np.concatenate(
            [free / np.maximum(capacity.cluster.gpus_per_type(), 1), [np.log1p(queued) / 8.0, np.log1p(running) / 8.0]]
        ).astype(np.float32)
        obs = np.clip(np.concatenate([feats.ravel(), cluster]), -CLIP, CLIP).astype(np.float32)
        mask = np.zeros(self.window + 1, dtype=bool)
        mask[: len(jobs)] = True
        mask[-1] = running > 0
        return Candidates(tuple(jobs), tuple(placements), feats, obs, mask)


def resolve(action: int, mask: np.ndarray) -> int:
    """The action actually taken: a masked-out choice (an agent without masking, TRPO) becomes
    "wait" where waiting is allowed, else the first candidate."""
    if 0 <= action < len(mask) and mask[action]:
        return action
    return len(mask) - 1 if mask[-1] else int(np.argmax(mask))

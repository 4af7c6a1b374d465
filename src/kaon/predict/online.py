"""Runtime estimates inside a running scheduler: what `qssf` and `psrtf` rank by.

A scheduler sees jobs arrive and finish one at a time. `OnlineEstimator` keeps, per job, the
history features it had *at its arrival* (from the jobs observed to finish before it), and gives an
`Estimate` from one of:

- a saved `RuntimePredictor` (`model=DIR`), applied to those features;
- otherwise a predictor it fits itself on the jobs finished so far in this run: first after
  `min_history` finishes, then again every `refit_every` finishes, on the latest `max_train`
  finished jobs (bounded, so refits stay cheap on a long replay). Each training row is the job's
  arrival-time features with its now-known duration: it learns from exactly what it predicts from;
- until a predictor exists: the median duration of finished jobs of the job's queue (else of all
  finished jobs, else `PRIOR_S`), with p10 = p90 = that median.

Model predictions are batched: a job's estimate is made when the scheduler first needs it
(`estimate_many`), by the predictor current then, and is not revised; one scikit-learn call for
every job that arrived since the last decision costs far less than one call per arrival.
The time-of-day features use the run's clock with time 0 as a Monday midnight (a policy does not
know the trace's dates).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kaon.predict.baselines import GroupMedians
from kaon.predict.features import GROUPS_ALL, FeatureSchema, JobColumns, RunningHistory
from kaon.predict.model import PredictorConfig, RuntimePredictor
from kaon.core.job import PriorJob
from kaon.sim.state import JobState

PRIOR_S = 3600.0
"""The estimate before any job has finished: every job alike, so order falls back to size and arrival."""

ONLINE_CONFIG = PredictorConfig(max_iter=40, learning_rate=0.2, min_samples_leaf=20)
"""Fewer, larger boosting steps than offline: an online refit happens during the replay."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """Predicted total runtime in seconds: point estimate and the [p10, p90] interval."""

    point: float
    p10: float
    p90: float


class OnlineEstimator:
    """Per-job runtime estimates for a scheduler, from a saved model or learned during the run."""

    def __init__(
        self,
        model: str | None = None,
        *,
        refit_every: int = 2000,
        min_history: int = 100,
        max_train: int = 3000,
    ) -> None:
        if refit_every < 1 or min_history < 2 or max_train < min_history:
            raise ValueError(
                f"need refit_every >= 1, min_history >= 2 and max_train >= min_history; got "
                f"{refit_every}, {min_history}, {max_train}"
            )
        self.refit_every, self.min_history = refit_every, min_history
        self.predictor: RuntimePredictor | None = RuntimePredictor.load(model) if model else None
        self.learning = self.predictor is None
        groups = self.predictor.schema.groups if self.predictor and self.predictor.schema else GROUPS_ALL
        self.history = RunningHistory(groups)
        self.medians = GroupMedians()
        self._features: dict[int, np.ndarray] = {}
        self._train: deque[tuple[JobState, np.ndarray]] = deque(maxlen=max_train)
        self._since_fit = 0
        self.refits = 0

    def arrived(self, job: JobState, now: float) -> Estimate | None:
        """Record the job's arrival-time features. Returns its estimate now if no predictor is in
        use yet (the cheap fallback), else None: ask `estimate_many` when it is needed."""
        self._features[job.index] = self.history.features(job.spec, now)
        if self.predictor is None:
            point = self.medians.median(job.spec.queue, PRIOR_S)
            return Estimate(point, point, point)
        return None

    def estimate_many(self, jobs: Sequence[JobState]) -> list[Estimate]:
        """Model estimates for jobs that have `arrived`, in one batch."""
        if not jobs:
            return []
        if self.predictor is None:
            raise RuntimeError("estimate_many before any predictor: arrived() already gave these estimates")
        cols = JobColumns.of([j.spec for j in jobs])
        hist = np.vstack([self._features[j.index] for j in jobs])
        pred = self.predictor.predict_features(cols, hist, None)
        return [Estimate(float(a), float(b), float(c)) for a, b, c in zip(pred.estimate, pred.p10, pred.p90)]

    def observe_prior(self, prior: Sequence[PriorJob]) -> None:
        """Jobs finished before the run (in finish order) become history and queue medians, as
        finishes seen during the run do. They add no training rows: their arrival-time features
        were never recorded."""
        for p in prior:
            self.history.add(p.spec, p.finish)
            self.medians.add(p.spec.queue, p.spec.duration)

    def finished(self, job: JobState, now: float) -> None:
        """Learn from a finished job: history for later arrivals, a training row, maybe a refit."""
        self.history.add(job.spec, now)
        self.medians.add(job.spec.queue, job.spec.duration)
        row = self._features.pop(job.index)
        if not self.learning:
            return
        self._train.append((job, row))
        self._since_fit += 1
        due = self.refit_every if self.predictor is not None else self.min_history
        if self._since_fit >= due and len(self._train) >= self.min_history:
            self._refit()

    def _refit(self) -> None:
        jobs = [j for j, _ in self._train]
        cols = JobColumns.of([j.spec for j in jobs])
        schema = FeatureSchema.learn(cols, self.history.k, self.history.groups)
        hist = np.vstack([r for _, r in self._train])
        self.predictor = RuntimePredictor(ONLINE_CONFIG).fit_features(schema, cols, hist, None)
        self._since_fit = 0
        self.refits += 1


class OnlineRuntimeEstimator:
    """An `OnlineEstimator` as a `RuntimeEstimator` (`estimate(job) -> seconds`), for policies
    that read one job's estimate when it queues (`fifo-backfill:estimate=predicted`). The owner
    passes arrivals and finishes to the `OnlineEstimator` itself; a job must have arrived before
    it is estimated. With a model, each call is one prediction: a queueing job is estimated once."""

    def __init__(self, online: OnlineEstimator) -> None:
        self.online = online

    def estimate(self, job: JobState) -> float:
        if self.online.predictor is None:
            return self.online.medians.median(job.spec.queue, PRIOR_S)
        return self.online.estimate_many([job])[0].point

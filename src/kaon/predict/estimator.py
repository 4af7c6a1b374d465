"""`PredictorEstimator`: a fitted `RuntimePredictor` behind the `RuntimeEstimator` protocol
(`estimate(job) -> seconds`) that backfilling and other estimate-driven policies call per job.

Those callers ask about one job at a time, often the same job many times, and a scikit-learn call
costs about a millisecond however few rows it has. So the estimates for a whole trace are made in
one batch up front (`trace`), kept by job id, and a job not in it is predicted alone on first
use and then kept too. A batch over a trace takes its history from the trace itself: each job sees
the jobs whose `submit_time + duration` is before its submit, as in offline evaluation.
"""

from __future__ import annotations

from kaon.core.job import Trace
from kaon.predict.model import RuntimePredictor
from kaon.sim.state import JobState


class PredictorEstimator:
    """Point estimates (seconds on the reference GPU type) from `predictor`, cached by job id."""

    def __init__(self, predictor: RuntimePredictor, trace: Trace | None = None) -> None:
        self.predictor = predictor
        self._cache: dict[str, float] = {}
        if trace is not None and len(trace):
            estimates = predictor.predict(trace).estimate
            self._cache = {j.job_id: float(e) for j, e in zip(trace.jobs, estimates)}

    def estimate(self, job: JobState) -> float:
        cached = self._cache.get(job.job_id)
        if cached is None:
            cached = self._cache[job.job_id] = float(self.predictor.predict([job.spec]).estimate[0])
        return cached

"""Runtime estimates for backfilling: what `fifo-backfill` (and any estimate-driven policy) believes
a job will take, in seconds on the reference GPU type.

`oracle` is the true duration; `request` models user-requested limits (Mu'alem & Feitelson's
f-model); `predicted` is the runtime predictor's (`kaon.predict.online.OnlineRuntimeEstimator`).
"""

from __future__ import annotations

import zlib
from enum import Enum
from typing import Protocol

from kaon.sim.state import JobState


class RuntimeEstimator(Protocol):
    def estimate(self, job: JobState) -> float:
        """Expected total runtime of `job` in seconds on the reference GPU type. The policy reads it
        once when the job joins the queue and keeps it while the job waits (a user's request does
        not change either), so its queue can be ordered by estimate."""
        ...


class OracleEstimator:
    """The true duration: the clairvoyant upper bound of what estimates can buy."""

    def estimate(self, job: JobState) -> float:
        return job.spec.duration


class RequestEstimator:
    """A user's requested limit under the f-model: duration x U[1, factor], fixed per job id."""

    def __init__(self, factor: float) -> None:
        if not factor >= 1:
            raise ValueError(f"request_factor must be >= 1, got {factor}")
        self.factor = factor

    def estimate(self, job: JobState) -> float:
        u = zlib.crc32(job.job_id.encode()) / 0xFFFFFFFF
        return job.spec.duration * (1.0 + (self.factor - 1.0) * u)


class Estimate(str, Enum):
    ORACLE = "oracle"
    REQUEST = "request"
    PREDICTED = "predicted"

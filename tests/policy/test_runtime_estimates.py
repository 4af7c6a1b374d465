"""Backfill's runtime estimators: the truth, and requested limits under the f-model."""

from __future__ import annotations

import numpy as np
import pytest

from kaon.core.job import JobSpec
from kaon.policy.runtime_estimates import OracleEstimator, RequestEstimator
from kaon.sim.state import JobState

JOBS = [JobState(JobSpec(f"job-{i}", 0, 100, 1), i, np.ones(1)) for i in range(200)]


def test_the_oracle_is_the_duration() -> None:
    assert {OracleEstimator().estimate(j) for j in JOBS} == {100}


def test_request_estimates_follow_the_f_model() -> None:
    est = RequestEstimator(3.0)
    values = [est.estimate(j) for j in JOBS]
    assert all(100 <= v <= 300 for v in values)
    assert values == [est.estimate(j) for j in JOBS]  # fixed per job id
    assert max(values) - min(values) > 100


def test_a_request_factor_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="request_factor must be >= 1, got 0.5"):
        RequestEstimator(0.5)

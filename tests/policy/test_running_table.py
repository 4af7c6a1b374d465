"""RunningTable: slots follow starts and stops, grow past capacity, and give state at any instant."""

from __future__ import annotations

import numpy as np

from kaon.core.job import JobSpec
from kaon.policy.running_table import RunningTable
from kaon.predict.online import Estimate
from kaon.sim.state import JobState, JobStatus


def _job(i: int, gpus: int = 1, start: float = 0.0) -> JobState:
    job = JobState(JobSpec(f"j{i}", 0.0, 100.0, gpus), i, np.ones(1))
    job.status, job.run_start, job.executed, job.attained = JobStatus.RUNNING, start, 10.0, 10.0 * gpus
    return job


def test_slots_grow_and_are_reused() -> None:
    table = RunningTable(capacity=2)
    jobs = [_job(i) for i in range(5)]
    for j in jobs:
        table.add(j, Estimate(50.0, 20.0, 80.0))
    assert len(table) == 5 and table.data.shape[1] >= 5
    table.remove(jobs[1])
    table.remove(jobs[1])  # removing twice is harmless
    assert len(table) == 4 and int(table.active.sum()) == 4
    table.add(_job(9), None)
    assert len(table) == 5 and [j.job_id for j in table.missing()] == ["j9"]


def test_state_at_an_instant() -> None:
    table = RunningTable()
    table.add(_job(0, gpus=4, start=100.0), Estimate(50.0, 20.0, 80.0))
    executed, attained, gpus, point, p10, p90 = (a[table.slot[0]] for a in table.at(160.0))
    assert (executed, attained, gpus, point, p10, p90) == (70.0, 280.0, 4.0, 50.0, 20.0, 80.0)

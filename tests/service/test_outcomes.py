"""What an ended run makes of its job: every outcome of the mapping, by hand."""

from __future__ import annotations

import pytest

from kaon.executors.base import Failed, Finished
from kaon.service.outcomes import run_outcome
from kaon.store.records import JobKind, JobPhase, JobRecord, StopRequest


def _record(attempt: int = 1, retries: int = 0) -> JobRecord:
    return JobRecord(
        id=1, name=None, user=None, command=("true",), env=(), gpus=1, gpu_types=None, cpus=1, memory_mb=1,
        time_limit_s=60.0, priority=0, queue="default", kind=JobKind.TRAINING, job_type=None, retries=retries,
        cwd=None, state=JobPhase.RUNNING, submit_time=0.0, start_time=10.0, end_time=None, exit_code=None,
        signal=None, reason=None, grant=None, attempt=attempt, pid=42, stop_request=None, run_time_s=5.0,
        preemptions=0, max_rss_mb=None, cpu_time_s=None, log_path=None,
    )


@pytest.mark.parametrize(
    ("event", "why", "retries", "state", "reason"),
    [
        (Failed(1, 15, 40.0), StopRequest.PREEMPT, 0, JobPhase.PENDING, "preempted"),
        (Failed(1, 15, 40.0), StopRequest.CANCEL, 0, JobPhase.CANCELLED, "cancelled while running"),
        (Finished(1, 0, 40.0), None, 0, JobPhase.COMPLETED, "exit code 0"),
        (Failed(1, 9, 40.0, timed_out=True), None, 0, JobPhase.TIMEOUT, "time limit of 60s reached"),
        (Finished(1, 3, 40.0), None, 0, JobPhase.FAILED, "exit code 3"),
        (Finished(1, 3, 40.0), None, 1, JobPhase.PENDING, "attempt 1 failed (exit code 3); retrying"),
        (Failed(1, 15, 40.0), StopRequest.NODE_LOST, 0, JobPhase.FAILED, "its node left the inventory"),
    ],
)
def test_each_end(event: Finished | Failed, why: StopRequest | None, retries: int, state: JobPhase, reason: str) -> None:
    change = run_outcome(_record(retries=retries), event, why)
    assert (change.to, change.fields["reason"]) == (state, reason)
    assert change.fields["run_time_s"] == 5.0 + 30.0
    if state is JobPhase.PENDING:
        assert change.fields["grant"] is None and "end_time" not in change.fields
    else:
        assert change.fields["end_time"] == 40.0

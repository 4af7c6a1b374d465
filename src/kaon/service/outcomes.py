"""What the end of a job's run means for the job, and what a run is launched from.

Pure mappings between the store's records and the executor's events, kept apart from the loop
that applies them: an ended run becomes one `Change` (back to the queue after a preemption or a
retryable failure, or a final state, with the run's measurements), and a record becomes the
`RunRequest` the executor launches or recovers.
"""

from __future__ import annotations

from pathlib import Path

from kaon.executors.base import Failed, Finished, RunRequest
from kaon.store.records import JobPhase, JobRecord, StopRequest
from kaon.store.repo import Change


def run_request(record: JobRecord) -> RunRequest:
    assert record.log_path is not None
    return RunRequest(
        record.id, record.attempt, record.command, record.time_limit_s, Path(record.log_path), record.env, record.cwd
    )


def run_outcome(record: JobRecord, event: Finished | Failed, why: StopRequest | None) -> Change:
    """The change a run's end makes to its job: back to the queue or a final state, and the
    run's measurements."""
    to, detail = _outcome(record, event, why)
    ran = max(0.0, event.at - (record.start_time if record.start_time is not None else event.at))
    fields: dict[str, object] = {
        "run_time_s": record.run_time_s + ran,
        "max_rss_mb": event.usage.max_rss_mb,
        "cpu_time_s": event.usage.cpu_time_s,
        "exit_code": event.exit_code if isinstance(event, Finished) else None,
        "signal": event.signal if isinstance(event, Failed) else None,
        "pid": None,
        "stop_request": None,
        "reason": detail,
    }
    if to is JobPhase.PENDING:
        fields.update(grant=None, preemptions=record.preemptions + 1)
    else:
        fields["end_time"] = event.at
    return Change(record, fields, to, detail)


def _outcome(record: JobRecord, event: Finished | Failed, why: StopRequest | None) -> tuple[JobPhase, str]:
    """What a run's end means for the job: its next state and a one-line reason."""
    if why is StopRequest.PREEMPT:
        return JobPhase.PENDING, "preempted"
    if why is StopRequest.CANCEL:
        return JobPhase.CANCELLED, "cancelled while running"
    if isinstance(event, Finished) and event.exit_code == 0:
        return JobPhase.COMPLETED, "exit code 0"
    if why is StopRequest.NODE_LOST:  # the signal that ended it was ours, sent because the node left
        failure = "its node left the inventory"
    elif isinstance(event, Failed) and event.timed_out:
        return JobPhase.TIMEOUT, f"time limit of {record.time_limit_s:g}s reached"
    elif isinstance(event, Finished):
        failure = f"exit code {event.exit_code}"
    elif event.signal is not None:
        failure = f"killed by signal {event.signal}" + (f" ({event.detail})" if event.detail else "")
    else:
        failure = event.detail or "ended abnormally"
    if record.attempt <= record.retries:
        return JobPhase.PENDING, f"attempt {record.attempt} failed ({failure}); retrying"
    return JobPhase.FAILED, failure

"""`SubmissionWatch`: the per-user rules that hold jobs, fed one event at a time."""

from __future__ import annotations

import dataclasses

from kaon.security.anomaly import HoldRules, SubmissionWatch
from kaon.store.records import JobKind, JobPhase, JobRecord


def rec(job_id: int, user: str, at: float, gpus: int = 1, state: JobPhase = JobPhase.PENDING, **extra: object) -> JobRecord:
    base = JobRecord(
        job_id, None, user, ("x",), (), gpus, None, 1, 0, 100.0, 0, "default", JobKind.TRAINING, None, 0, None,
        state, at, None, at + 1 if state.terminal else None, None, None, None, None, 0, None, None, 0.0, 0, None, None, None,
    )  # fmt: skip
    return dataclasses.replace(base, **extra)


def test_a_burst_is_flagged_from_its_twentieth_submission() -> None:
    watch = SubmissionWatch()
    flags = [watch.submitted(rec(i, "mallory", 1000.0 + i), 1000.0 + i) for i in range(1, 22)]
    assert flags[:19] == [None] * 19
    assert flags[19] is not None and flags[19].kind == "burst" and flags[19].subject == "user mallory"
    assert "20 submissions" in flags[19].message


def test_busy_users_alike_are_no_burst_but_one_far_above_them_is() -> None:
    watch = SubmissionWatch()
    for i in range(20):
        for u in ("a", "b", "c", "d"):  # in turns: each alike, z = 0
            assert watch.submitted(rec(i, u, 100.0 + i), 100.0 + i) is None
    flags = [watch.submitted(rec(100 + i, "e", 130.0 + i), 130.0 + i) for i in range(26)]
    assert flags[:25] == [None] * 25  # up to 5 more than the others' 20 (the scale of counts is floored at 1)
    assert flags[25] is not None and flags[25].kind == "burst" and flags[25].score == 26


def test_old_submissions_leave_the_window() -> None:
    watch = SubmissionWatch(HoldRules(burst_window_s=10.0))
    for i in range(19):
        watch.submitted(rec(i, "u", float(i)), float(i))
    assert watch.submitted(rec(99, "u", 500.0), 500.0) is None


def test_a_request_far_beyond_the_users_history_is_flagged() -> None:
    watch = SubmissionWatch()
    for i in range(5):
        assert watch.submitted(rec(i, "u", i * 1000.0, gpus=2), i * 1000.0) is None
    assert watch.submitted(rec(10, "u", 9000.0, gpus=16), 9000.0) is None  # 8x: the limit itself
    flag = watch.submitted(rec(11, "u", 9100.0, gpus=129), 9100.0)
    assert flag is not None and flag.kind == "over-request" and flag.subject == "job 11"
    assert watch.submitted(rec(12, "new", 9200.0, gpus=512), 9200.0) is None  # no history to compare with


def test_a_failure_streak_holds_the_users_next_jobs_until_a_success() -> None:
    watch = SubmissionWatch()
    for i, state in enumerate((JobPhase.FAILED, JobPhase.TIMEOUT)):
        watch.ended(rec(i, "bob", i * 1000.0, state=state))
    assert watch.submitted(rec(5, "bob", 5000.0), 5000.0) is None
    watch.ended(rec(6, "bob", 6000.0, state=JobPhase.FAILED))
    flag = watch.submitted(rec(7, "bob", 7000.0), 7000.0)
    assert flag is not None and flag.kind == "failures" and "last 3 jobs" in flag.message
    watch.ended(rec(8, "bob", 8000.0, state=JobPhase.COMPLETED))
    assert watch.submitted(rec(9, "bob", 9000.0), 9000.0) is None


def test_seed_replays_history_in_end_order() -> None:
    watch = SubmissionWatch()
    history = [rec(i, "bob", float(i), state=JobPhase.FAILED, end_time=100.0 + i) for i in range(3)]
    history.append(rec(9, "bob", 0.5, state=JobPhase.COMPLETED, end_time=50.0))  # ended before the failures
    watch.seed(history)
    flag = watch.submitted(rec(10, "bob", 10000.0), 10000.0)
    assert flag is not None and flag.kind == "failures"


def test_a_requeued_job_far_past_its_limit_is_flagged() -> None:
    watch = SubmissionWatch()
    assert watch.requeued(rec(1, "u", 0.0, run_time_s=150.0)) is None  # 1.5x the 100 s limit
    flag = watch.requeued(rec(2, "u", 0.0, run_time_s=151.0, attempt=3))
    assert flag is not None and flag.kind == "overrun" and "over 3 attempts" in flag.message

"""`PolicyHost`: a policy hears an ended job with its measured run time, and a rebuilt (or
restarted) policy is told of the recently completed jobs before anything else."""

from __future__ import annotations

import math
import time
from pathlib import Path

from kaon.executors.inventory import configured
from kaon.service.book import JobBook
from kaon.service.policy_host import PolicyHost
from kaon.service.reconcile import reconcile
from kaon.store.history import recent_completions
from kaon.store.records import JobPhase, NewJob
from kaon.store.repo import JobStore


def _store(tmp_path: Path) -> JobStore:
    return JobStore.open(f"sqlite:///{tmp_path / 'kaon.db'}")


def _ended(store: JobStore, tmp_path: Path, state: JobPhase, run_time_s: float, end: float, queue: str = "q"):  # noqa: ANN202
    (rec,) = store.add_jobs([NewJob(("true",), 1, 3600.0, queue=queue)], end - run_time_s - 1.0, tmp_path / "logs")
    return store.transition(rec.id, state, end, run_time_s=run_time_s, end_time=end)


def test_an_ended_job_is_heard_with_its_run_time_and_only_completions_are_remembered(tmp_path: Path) -> None:
    store = _store(tmp_path)
    book = JobBook(configured(2, "v100"))
    host = PolicyHost("psrtf")
    done = _ended(store, tmp_path, JobPhase.COMPLETED, 40.0, 1000.0)
    failed = _ended(store, tmp_path, JobPhase.FAILED, 5.0, 1001.0)
    for record in (done, failed):
        job = book.add(record)
        assert job is not None and job.spec.duration == 3600.0  # its time limit while it lives
        host.policy.job_arrived(job, record.submit_time)
        host.finished(job, record, record.end_time)
        assert job.spec.duration == record.run_time_s
    # The queue's median is what jobs took (40 s and 5 s), not the 3,600 s they asked for.
    assert host.policy.inner.estimator.medians.median("q", 0.0) == 22.5
    assert [(p.spec.job_id, p.spec.duration, p.finish) for p in host.past] == [(str(done.id), 40.0, 1000.0)]
    host.rebuild(book)  # a fresh policy: told of the past first
    row = host.policy.inner.estimator.history.features(job.spec, 1002.0)
    assert row[0] == math.log(40.0)
    store.close()


def test_a_restarted_service_remembers_the_stores_recent_completions(tmp_path: Path) -> None:
    store = _store(tmp_path)
    now = time.time()
    late = _ended(store, tmp_path, JobPhase.COMPLETED, 30.0, now - 10.0)
    early = _ended(store, tmp_path, JobPhase.COMPLETED, 20.0, now - 100.0, queue="r")
    _ended(store, tmp_path, JobPhase.CANCELLED, 1.0, now - 5.0)
    prior = recent_completions(store, 10)
    assert [(p.spec.job_id, p.spec.duration, p.finish) for p in prior] == [
        (str(early.id), 20.0, now - 100.0),
        (str(late.id), 30.0, now - 10.0),
    ]
    assert [p.spec.job_id for p in recent_completions(store, 1)] == [str(early.id)]  # the newest submitted
    host = PolicyHost("psrtf")
    reconcile(store, None, JobBook(configured(2, "v100")), host, now, 1.0)  # type: ignore[arg-type] - nothing active
    assert [p.spec.job_id for p in host.past] == [str(early.id), str(late.id)]
    store.close()

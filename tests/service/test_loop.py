"""The scheduling loop's outcomes: time limits, failures and retries, preemption by a preemptive
policy, and start-up reconciliation of jobs persisted as RUNNING but never launched."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import event

from kaon.executors.base import Executor, ExecutorEvent, Finished, Recovery, RunRequest
from kaon.service.runtime import Service, build_service
from kaon.service.settings import ServiceSettings
from kaon.store.records import Grant, GrantSlice, JobPhase, JobRecord, NewJob, StopRequest
from kaon.store.repo import JobStore
from tests.service.calls import job as _job
from tests.service.calls import submit as _submit

API = "/api/v1"
P, R, C, F = JobPhase.PENDING, JobPhase.RUNNING, JobPhase.COMPLETED, JobPhase.FAILED



def test_time_limit_ends_in_timeout(service: TestClient, wait_for) -> None:  # noqa: ANN001
    job = _submit(service, command=["sleep", "30"], time_limit_s=0.3)
    done = wait_for(lambda: (j := _job(service, job["id"]))["state"] == "TIMEOUT" and j)
    assert "time limit" in done["reason"] and done["signal"] == 15


def test_failure_is_retried_then_failed(service: TestClient, wait_for) -> None:  # noqa: ANN001
    job = _submit(service, command=[sys.executable, "-c", "raise SystemExit(3)"], retries=1)
    done = wait_for(lambda: (j := _job(service, job["id"]))["state"] == "FAILED" and j)
    assert done["exit_code"] == 3 and done["attempt"] == 2 and done["reason"] == "exit code 3"
    once = _submit(service, command=[sys.executable, "-c", "raise SystemExit(4)"])
    done = wait_for(lambda: (j := _job(service, once["id"]))["state"] == "FAILED" and j)
    assert done["attempt"] == 1


def test_preemptive_policy_preempts_and_resumes(tmp_path: Path, wait_for, make_service, shutdown) -> None:  # noqa: ANN001
    with make_service(tmp_path, policy="srtf:lease=0") as c:
        long = _submit(c, command=["sleep", "30"], gpus=4, gpu_types=["v100"], time_limit_s=1000)
        wait_for(lambda: _job(c, long["id"])["state"] == "RUNNING")
        short = _submit(c, command=["sleep", "0.2"], gpus=4, gpu_types=["v100"], time_limit_s=10)
        done = wait_for(lambda: (j := _job(c, short["id"]))["state"] == "COMPLETED" and j)
        resumed = wait_for(lambda: (j := _job(c, long["id"]))["attempt"] == 2 and j["state"] == "RUNNING" and j)
        assert resumed["preemptions"] == 1
        assert done["start_time"] >= _job(c, long["id"])["submit_time"]
        shutdown(c)
    store = JobStore.open(f"sqlite:///{tmp_path / 'kaon.db'}")
    details = [e.detail for e in store.events(long["id"])]
    store.close()
    assert details[:4] == ["submitted", "attempt 1 on v100-0000, v100-0001 GPUs [0, 1, 2, 3]", "preempting", "preempted"]


def test_restart_requeues_a_job_persisted_running_but_never_launched(tmp_path: Path, make_service) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'kaon.db'}"
    store = JobStore.open(url)
    grant = Grant("v100", 0, (GrantSlice(0, "v100-0000", (0,)),))
    a, b = store.add_jobs([NewJob(("true",), 1, 60.0), NewJob(("true",), 1, 60.0)], time.time(), tmp_path / "logs")
    for job in (a, b):
        store.transition(job.id, JobPhase.RUNNING, time.time(), grant=grant, attempt=1, start_time=time.time())
    store.transition(b.id, JobPhase.RUNNING, time.time(), "cancel requested", expect=JobPhase.RUNNING, stop_request=StopRequest.CANCEL)
    store.close()
    with make_service(tmp_path) as c:
        assert c.get(f"{API}/health").json()["recovered"] == {"pending": 0, "adopted": 0, "requeued": 1, "cancelled": 1}
        done = _wait_state(c, a.id, "COMPLETED")
        assert done["attempt"] == 1
        assert _job(c, b.id)["state"] == "CANCELLED"


def _wait_state(c: TestClient, job_id: int, state: str) -> dict:
    stop = time.monotonic() + 30
    while time.monotonic() < stop:
        job = _job(c, job_id)
        if job["state"] == state:
            return job
        time.sleep(0.03)
    raise AssertionError(f"job {job_id} never reached {state}: {_job(c, job_id)}")


# --- cycles driven by hand, in process: what one pass persists, and how ----------------------


class _Scripted(Executor):
    """Launches nothing; a job runs until `finish`; launching a job in `broken` raises."""

    def __init__(self, broken: frozenset[int] = frozenset()) -> None:
        self.broken = broken
        self.launched: list[int] = []
        self._events: list[ExecutorEvent] = []

    def launch(self, run: RunRequest, grant: Grant) -> None:
        if run.job_id in self.broken:
            raise RuntimeError("boom")
        self.launched.append(run.job_id)

    def preempt(self, job_id: int, grace_s: float) -> None:
        self.finish([job_id])

    def cancel(self, job_id: int, grace_s: float) -> None:
        self.finish([job_id])

    def finish(self, job_ids: list[int]) -> None:
        self._events += [Finished(j, 0, time.time()) for j in job_ids]

    def poll(self) -> list[ExecutorEvent]:
        events, self._events = self._events, []
        return events

    def recover(self, run: RunRequest, grant: Grant, pid: int | None, started_at: float | None) -> Recovery:
        return Recovery.NEVER_STARTED

    def running(self) -> frozenset[int]:
        return frozenset(self.launched)


def _in_process(tmp_path: Path, executor: Executor, gpus: int) -> Service:
    settings = ServiceSettings(
        db_url=f"sqlite:///{tmp_path / 'kaon.db'}", gpus=gpus, gpu_type="v100", state_dir=tmp_path / "state",
        policy="fifo", dev_no_auth=True,
    )  # fmt: skip
    return build_service(settings, executor=executor)


def _commits(service: Service) -> list[int]:
    count = [0]
    event.listen(service.store.engine, "commit", lambda _conn: count.__setitem__(0, count[0] + 1))
    return count


def _states(service: Service) -> dict[int, JobPhase]:
    return {r.id: r.state for r in service.store.list_jobs(limit=100)[0]}


def test_a_cycle_persists_its_ends_in_one_commit_and_its_starts_in_another(tmp_path: Path) -> None:
    executor = _Scripted()
    service = _in_process(tmp_path, executor, gpus=4)
    records = service.store.add_jobs([NewJob(("true",), 1, 60.0) for _ in range(7)], time.time(), tmp_path)
    service.loop.submitted(records)
    commits = _commits(service)
    service.loop.cycle()
    assert commits[0] == 1 and executor.launched == [1, 2, 3, 4]
    executor.finish([2, 4])
    service.loop.cycle()
    assert commits[0] == 3 and executor.launched == [1, 2, 3, 4, 5, 6]
    assert _states(service) == {1: R, 2: C, 3: R, 4: C, 5: R, 6: R, 7: P}
    starts = [r for r in service.audit.records(action="start")]
    assert [r.target for r in starts] == [f"job {i}" for i in range(1, 7)]
    assert service.audit.verify().ok
    assert [e.detail for e in service.store.events(5)] == ["submitted", "attempt 1 on vm-v100 GPUs [1]"]
    service.store.close()


def test_a_launch_that_fails_in_a_batch_ends_that_attempt_only(tmp_path: Path) -> None:
    executor = _Scripted(broken=frozenset({1, 3}))
    service = _in_process(tmp_path, executor, gpus=2)
    jobs = [NewJob(("true",), 1, 60.0, retries=r) for r in (0, 0, 1, 0)]
    service.loop.submitted(service.store.add_jobs(jobs, time.time(), tmp_path))
    service.loop.cycle()  # 1 and 2 start; 1 cannot launch and fails
    assert service.loop.last_error is None and executor.launched == [2]
    assert _states(service) == {1: F, 2: R, 3: P, 4: P}
    failed = service.store.require(1)
    assert failed.reason == "cannot launch: RuntimeError: boom" and failed.grant is not None
    service.loop.cycle()  # its GPU went to 3, which cannot launch either: retried (1 retry)
    assert _states(service) == {1: F, 2: R, 3: P, 4: P}
    retried = service.store.require(3)
    assert retried.attempt == 1 and retried.grant is None and retried.reason.startswith("attempt 1 failed (cannot launch")
    executor.broken = frozenset()
    service.loop.cycle()  # 3 went back to the end of the queue
    assert executor.launched == [2, 4] and _states(service) == {1: F, 2: R, 3: P, 4: R}
    executor.finish([2])
    service.loop.cycle()
    assert executor.launched == [2, 4, 3] and _states(service) == {1: F, 2: C, 3: R, 4: R}
    assert service.store.require(3).attempt == 2
    assert len(service.loop.book.running) == 2 and service.audit.verify().ok
    service.store.close()


def test_one_cycle_admits_every_submission_queued_since_the_last_and_decides_once(tmp_path: Path) -> None:
    service = _in_process(tmp_path, _Scripted(), gpus=1)
    for _ in range(3):
        service.loop.submitted(service.store.add_jobs([NewJob(("true",), 1, 60.0)], time.time(), tmp_path))
    service.loop.cycle()
    book = service.loop.book
    assert service.loop.decisions == 1 and len(book.running) == 1 and len(book.pending) == 2
    service.loop.cycle()  # nothing changed: no decision
    assert service.loop.decisions == 1
    service.loop.cycle(decide=True)
    assert service.loop.decisions == 2
    service.store.close()


def test_ends_that_could_not_be_written_are_written_at_the_next_pass(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    executor = _Scripted()
    service = _in_process(tmp_path, executor, gpus=2)
    service.loop.submitted(service.store.add_jobs([NewJob(("true",), 1, 60.0) for _ in range(2)], time.time(), tmp_path))
    service.loop.cycle()
    executor.finish([1])
    apply = service.store.apply

    def unavailable(*_: object, **__: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(service.store, "apply", unavailable)
    service.loop.cycle()
    assert service.loop.last_error == "RuntimeError: database is locked" and _states(service) == {1: R, 2: R}
    monkeypatch.setattr(service.store, "apply", apply)
    service.loop.cycle()  # the executor reports it only once; the loop kept it
    assert service.loop.last_error is None and _states(service) == {1: C, 2: R}
    assert len(service.loop.book.running) == 1
    service.store.close()


def test_a_cancel_that_overtakes_the_submit_hand_off_is_not_lost(tmp_path: Path) -> None:
    """The insert commits on the API's thread, then hands the records to the loop; a cancel from
    another request can reach the loop in between. It must cancel the job, and the late hand-off
    must not queue it again."""
    executor = _Scripted()
    service = _in_process(tmp_path, executor, gpus=1)
    records = service.store.add_jobs([NewJob(("true",), 1, 60.0)], time.time(), tmp_path)
    answer: list[JobRecord] = []
    canceller = threading.Thread(target=lambda: answer.append(service.loop.cancel(records[0].id)))
    canceller.start()
    deadline = time.monotonic() + 30
    while canceller.is_alive() and time.monotonic() < deadline:
        service.loop.cycle()
        canceller.join(0.01)
    assert answer and answer[0].state is JobPhase.CANCELLED
    service.loop.submitted(records)  # the hand-off arrives late
    service.loop.cycle(decide=True)
    assert executor.launched == [] and _states(service) == {1: JobPhase.CANCELLED}
    assert not service.loop.book.pending
    assert [r.target for r in service.audit.records(action="cancel")] == ["job 1"]
    service.store.close()

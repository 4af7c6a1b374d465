"""The contract every executor keeps, run against each implementation.

Commands are real processes; waits are bounded by a deadline, never asserted on as timings.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from kaon.executors.base import Executor, ExecutorEvent, Failed, Finished, Recovery, RunRequest, Started
from kaon.executors.local import LocalExecutor
from kaon.store.records import Grant, GrantSlice

Factory = Callable[[Path], Executor]

EXECUTORS: dict[str, Factory] = {
    "local": lambda state: LocalExecutor(state, timeout_grace_s=0.5),
}


@pytest.fixture(params=sorted(EXECUTORS))
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Executor]:
    factory = EXECUTORS[request.param]
    made: list[Executor] = []

    def new() -> Executor:
        made.append(factory(tmp_path / "state"))
        return made[-1]

    yield new
    for ex in made:
        for job_id in ex.running():
            ex.cancel(job_id, 0)
        ex.close()


GRANT = Grant("v100", 0, (GrantSlice(0, "n0", (1, 3)),))


def _run(tmp_path: Path, job_id: int, *command: str, limit: float = 60.0, **kw: object) -> RunRequest:
    return RunRequest(job_id, 1, tuple(command), limit, tmp_path / "logs" / f"{job_id}.log", **kw)  # type: ignore[arg-type]


def _py(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def _until_end(ex: Executor, job_id: int, deadline_s: float = 20.0) -> list[ExecutorEvent]:
    """Poll until `job_id` ends; all its events, in order."""
    seen: list[ExecutorEvent] = []
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        seen += [e for e in ex.poll() if e.job_id == job_id]
        if seen and isinstance(seen[-1], Finished | Failed):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not end; events so far {seen}")


def _wait_for(path: Path, deadline_s: float = 20.0) -> None:
    stop = time.monotonic() + deadline_s
    while not path.exists() and time.monotonic() < stop:
        time.sleep(0.02)
    assert path.exists(), f"{path} never appeared"


def test_success_reports_start_exit_code_and_output(make, tmp_path: Path) -> None:  # noqa: ANN001
    ex = make()
    code = "import os; print('cvd', os.environ['CUDA_VISIBLE_DEVICES'], os.environ['CUDA_DEVICE_ORDER'])"
    ex.launch(_run(tmp_path, 1, *_py(code)), GRANT)
    assert ex.running() == {1}
    events = _until_end(ex, 1)
    assert isinstance(events[0], Started) and events[0].pid is not None
    assert isinstance(events[-1], Finished) and events[-1].exit_code == 0
    assert ex.running() == frozenset()
    assert (tmp_path / "logs" / "1.log").read_text().strip() == "cvd 1,3 PCI_BUS_ID"  # NVML's numbering


def test_exit_code_env_and_cwd(make, tmp_path: Path) -> None:  # noqa: ANN001
    ex = make()
    code = "import os, sys; print(os.environ['KAON_JOB_ID'], os.environ['X'], os.getcwd()); sys.exit(3)"
    ex.launch(_run(tmp_path, 7, *_py(code), env=(("X", "hello"),), cwd=str(tmp_path)), GRANT)
    [*_, end] = _until_end(ex, 7)
    assert isinstance(end, Finished) and end.exit_code == 3
    assert (tmp_path / "logs" / "7.log").read_text().split() == ["7", "hello", str(tmp_path)]


def test_jobs_do_not_inherit_the_services_settings(make, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """The key that seals every job's secrets must not be readable by a job (or its log)."""
    monkeypatch.setenv("KAON_SECRET_KEY", "sealing-key")
    monkeypatch.setenv("KAON_TOKEN", "admin-token")
    monkeypatch.setenv("OTHER_VAR", "kept")
    ex = make()
    code = "import os; print(sorted(k for k in os.environ if k.startswith('KAON_')), os.environ['OTHER_VAR'])"
    ex.launch(_run(tmp_path, 8, *_py(code)), GRANT)
    [*_, end] = _until_end(ex, 8)
    assert isinstance(end, Finished) and end.exit_code == 0
    log = (tmp_path / "logs" / "8.log").read_text()
    assert "SECRET" not in log and "TOKEN" not in log
    assert "KAON_JOB_ID" in log and log.split()[-1] == "kept"


def test_missing_command_exits_127(make, tmp_path: Path) -> None:  # noqa: ANN001
    ex = make()
    ex.launch(_run(tmp_path, 2, "/no/such/program"), GRANT)
    [*_, end] = _until_end(ex, 2)
    assert isinstance(end, Finished) and end.exit_code == 127
    assert "cannot run" in (tmp_path / "logs" / "2.log").read_text()


def test_cancel_sends_sigterm_to_the_group(make, tmp_path: Path) -> None:  # noqa: ANN001
    ex = make()
    ex.launch(_run(tmp_path, 3, "sleep", "30"), GRANT)
    [start] = [e for e in ex.poll() if e.job_id == 3]
    ex.cancel(3, grace_s=5.0)
    [*_, end] = _until_end(ex, 3)
    assert isinstance(start, Started)
    assert isinstance(end, Failed) and end.signal == signal.SIGTERM and not end.timed_out


def test_preempt_kills_after_grace_when_sigterm_is_ignored(make, tmp_path: Path) -> None:  # noqa: ANN001
    ex = make()
    ready = tmp_path / "ready"
    code = f"import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); pathlib.Path({str(ready)!r}).touch(); time.sleep(30)"
    ex.launch(_run(tmp_path, 4, *_py(code)), GRANT)
    _wait_for(ready)
    ex.preempt(4, grace_s=0.3)
    [*_, end] = _until_end(ex, 4)
    assert isinstance(end, Failed) and end.signal == signal.SIGKILL


def test_time_limit_is_enforced(make, tmp_path: Path) -> None:  # noqa: ANN001
    ex = make()
    ex.launch(_run(tmp_path, 5, "sleep", "30", limit=0.3), GRANT)
    [*_, end] = _until_end(ex, 5)
    assert isinstance(end, Failed) and end.timed_out


def test_usage_is_measured(make, tmp_path: Path) -> None:  # noqa: ANN001
    ex = make()
    ex.launch(_run(tmp_path, 6, *_py("b = bytearray(80 * 2**20); sum(range(10**6))")), GRANT)
    [*_, end] = _until_end(ex, 6)
    assert isinstance(end, Finished)
    assert end.usage.max_rss_mb is not None and end.usage.max_rss_mb >= 80
    assert end.usage.cpu_time_s is not None and end.usage.cpu_time_s > 0


def test_leftover_processes_of_a_finished_job_are_killed(make, tmp_path: Path) -> None:  # noqa: ANN001
    ex = make()
    pidfile = tmp_path / "bg.pid"
    ex.launch(_run(tmp_path, 8, "sh", "-c", f"sleep 30 & echo $! > {pidfile}"), GRANT)
    [*_, end] = _until_end(ex, 8)
    assert isinstance(end, Finished) and end.exit_code == 0
    bg = int(pidfile.read_text())
    stop = time.monotonic() + 10
    while psutil.pid_exists(bg) and psutil.Process(bg).status() != psutil.STATUS_ZOMBIE and time.monotonic() < stop:
        time.sleep(0.02)
    assert not psutil.pid_exists(bg) or psutil.Process(bg).status() == psutil.STATUS_ZOMBIE


def test_a_new_executor_adopts_a_running_job(make, tmp_path: Path) -> None:  # noqa: ANN001
    first = make()
    go = tmp_path / "go"
    ready = tmp_path / "ready"
    code = f"import pathlib, time\npathlib.Path({str(ready)!r}).touch()\nwhile not pathlib.Path({str(go)!r}).exists(): time.sleep(0.02)\nraise SystemExit(5)"
    run = _run(tmp_path, 9, *_py(code))
    first.launch(run, GRANT)
    [start] = first.poll()
    _wait_for(ready)
    second = make()
    # With the recorded pid, and without one (the service died before recording it).
    assert second.recover(run, GRANT, start.pid, start.at) is Recovery.TRACKED
    third = make()
    assert third.recover(run, GRANT, None, None) is Recovery.TRACKED
    assert second.running() == {9} and third.running() == {9}
    go.touch()
    [adopted, *_, end] = _until_end(second, 9)
    assert isinstance(adopted, Started) and adopted.pid == start.pid
    assert isinstance(end, Finished) and end.exit_code == 5


def test_recover_reports_a_job_that_ended_while_nobody_watched(make, tmp_path: Path) -> None:  # noqa: ANN001
    first = make()
    run = _run(tmp_path, 10, *_py("raise SystemExit(4)"))
    first.launch(run, GRANT)
    _until_end(first, 10)
    second = make()
    assert second.recover(run, GRANT, None, None) is Recovery.TRACKED
    [end] = second.poll()
    assert isinstance(end, Finished) and end.exit_code == 4


def test_recover_of_a_job_that_never_started(make, tmp_path: Path) -> None:  # noqa: ANN001
    ex = make()
    assert ex.recover(_run(tmp_path, 11, "true"), GRANT, None, None) is Recovery.NEVER_STARTED
    assert ex.poll() == [] and ex.running() == frozenset()


def test_jobs_run_in_their_own_process_group(make, tmp_path: Path) -> None:  # noqa: ANN001
    ex = make()
    ex.launch(_run(tmp_path, 12, *_py("import os; print(os.getpgid(0), os.getsid(0))")), GRANT)
    _until_end(ex, 12)
    pgid, sid = map(int, (tmp_path / "logs" / "12.log").read_text().split())
    assert pgid == sid != os.getpgid(0)


def test_every_attempt_of_a_job_shares_its_checkpoint_dir(make, tmp_path: Path) -> None:  # noqa: ANN001
    """What a preempted attempt saved is there for the next one, and no other job sees it."""
    ex = make()
    save = "import os, pathlib; d = pathlib.Path(os.environ['KAON_CHECKPOINT_DIR']); (d / 'ckpt').write_text('step 41'); print(d)"
    ex.launch(_run(tmp_path, 5, *_py(save)), GRANT)
    [*_, end] = _until_end(ex, 5)
    assert isinstance(end, Finished) and end.exit_code == 0
    resume = "import os, pathlib; d = pathlib.Path(os.environ['KAON_CHECKPOINT_DIR']); print(d, (d / 'ckpt').read_text())"
    ex.launch(RunRequest(5, 2, _py(resume), 60.0, tmp_path / "logs" / "5.log"), GRANT)
    [*_, end] = _until_end(ex, 5)
    assert isinstance(end, Finished) and end.exit_code == 0
    first, second = (tmp_path / "logs" / "5.log").read_text().splitlines()
    assert second == f"{first} step 41"
    peek = "import os, pathlib; print(sorted(pathlib.Path(os.environ['KAON_CHECKPOINT_DIR']).iterdir()))"
    ex.launch(_run(tmp_path, 6, *_py(peek)), GRANT)
    [*_, end] = _until_end(ex, 6)
    assert isinstance(end, Finished) and end.exit_code == 0
    assert (tmp_path / "logs" / "6.log").read_text().strip() == "[]"

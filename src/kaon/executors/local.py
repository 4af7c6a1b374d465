"""`LocalExecutor`: each job a process group on this host, on the GPUs its grant names.

A job runs as `shim -> command` in a new session (its own process group), with
CUDA_VISIBLE_DEVICES set to the granted device ids and stdout/stderr appended to its log file.
The ids are NVML's indices (`kaon.executors.inventory`), which follow the PCI bus; CUDA numbers
devices fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, so a job on a host with two GPU models
would otherwise get a device other than the one it was granted. The executor sets that order.
Stopping is SIGTERM to the whole group, then SIGKILL after the grace period; the time limit is
enforced the same way. The shim (see `kaon.executors.shim`) records exit code, signal, peak RSS
and CPU time in a status file next to the executor's other state, which is also how a restarted
service learns what happened to jobs that ran or ended while it was down.

A preempted job is stopped with SIGTERM and started again later as a new attempt, so it can only
resume if it saved its state somewhere the next attempt finds: KAON_CHECKPOINT_DIR names a
directory of its own, the same for every attempt of the job, created before it starts and never
emptied by kaon (it may hold the job's final model; it lives under the state directory, beside the
status files). `examples/train_checkpointed.py` is a training job that uses it.

Every job's environment carries KAON_RUN, a tag naming this executor's state directory and the
job attempt: a restarted service finds its jobs by that tag even if it died before recording a
pid, so a job that did start is adopted, never launched a second time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from kaon.executors import shim
from kaon.executors.base import (
    Executor,
    ExecutorEvent,
    Failed,
    Finished,
    Recovery,
    RunRequest,
    Started,
    Usage,
)
from kaon.store.records import Grant

SHIM = Path(shim.__file__).resolve()
TAG_VAR = "KAON_RUN"

SERVICE_VAR_PREFIX = "KAON_"
"""The service's own settings and secrets (KAON_SECRET_KEY, KAON_TOKEN, KAON_DB_URL...) share this
prefix; a job does not inherit them, so no job can read the key that seals every job's secrets."""


def inherited_environment() -> dict[str, str]:
    """This process's environment minus the service's own `KAON_*` variables: what a job starts
    from, before its own `env` and the variables the executor sets."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_VAR_PREFIX)}


@dataclass(slots=True)
class _Run:
    run: RunRequest
    status_path: Path
    pgid: int
    started_at: float
    popen: subprocess.Popen | None
    adopted: psutil.Process | None
    log: IO[bytes] | None
    kill_at: float | None = None
    killed: bool = False
    timed_out: bool = False

    def ended(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is not None
        assert self.adopted is not None
        try:
            return not self.adopted.is_running() or self.adopted.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True


class LocalExecutor(Executor):
    """Runs jobs as local process groups. `state_dir` holds the per-attempt status files."""

    def __init__(
        self,
        state_dir: Path,
        *,
        timeout_grace_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.timeout_grace_s = timeout_grace_s
        self.clock = clock
        self._runs: dict[int, _Run] = {}
        self._events: list[ExecutorEvent] = []

    # --- launching ----------------------------------------------------------------------------

    def _tag(self, run: RunRequest) -> str:
        return f"{self.state_dir}:{run.job_id}.{run.attempt}"

    def _status_path(self, run: RunRequest) -> Path:
        return self.state_dir / f"{run.job_id}.{run.attempt}.json"

    def checkpoint_dir(self, job_id: int) -> Path:
        """Where every attempt of `job_id` keeps what the next one resumes from."""
        return self.state_dir / "checkpoints" / str(job_id)

    def launch(self, run: RunRequest, grant: Grant) -> None:
        if run.job_id in self._runs:
            raise RuntimeError(f"job {run.job_id} is already running on this executor")
        status_path = self._status_path(run)
        status_path.unlink(missing_ok=True)
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        checkpoints = self.checkpoint_dir(run.job_id)
        checkpoints.mkdir(parents=True, exist_ok=True)
        log = open(run.log_path, "ab")  # noqa: SIM115 - kept open while the job runs
        env = {
            **inherited_environment(),
            **dict(run.env),
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "CUDA_VISIBLE_DEVICES": ",".join(str(d) for d in grant.devices),
            "KAON_JOB_ID": str(run.job_id),
            "KAON_ATTEMPT": str(run.attempt),
            "KAON_CHECKPOINT_DIR": str(checkpoints),
            TAG_VAR: self._tag(run),
        }
        now = self.clock()
        try:
            popen = subprocess.Popen(
                [sys.executable, "-I", "-S", str(SHIM), str(status_path), "--", *run.command],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=run.cwd,
            )
        except OSError as e:
            log.close()
            self._events.append(Failed(run.job_id, None, now, detail=f"cannot launch: {e}"))
            return
        self._runs[run.job_id] = _Run(run, status_path, popen.pid, now, popen, None, log)
        self._events.append(Started(run.job_id, popen.pid, now))

    # --- stopping -----------------------------------------------------------------------------

    def preempt(self, job_id: int, grace_s: float) -> None:
        self._stop(job_id, grace_s)

    def cancel(self, job_id: int, grace_s: float) -> None:
        self._stop(job_id, grace_s)

    def _stop(self, job_id: int, grace_s: float) -> None:
        r = self._runs.get(job_id)
        if r is None or r.kill_at is not None:
            return
        if grace_s <= 0:
            self._kill(r)
            r.kill_at = self.clock()
            return
        _signal_group(r.pgid, signal.SIGTERM)
        r.kill_at = self.clock() + grace_s

    def _kill(self, r: _Run) -> None:
        _signal_group(r.pgid, signal.SIGKILL)
        r.killed = True

    # --- observing ----------------------------------------------------------------------------

    def poll(self) -> list[ExecutorEvent]:
        now = self.clock()
        for job_id, r in list(self._runs.items()):
            if r.ended():
                del self._runs[job_id]
                self._events.append(self._outcome(r, now))
                continue
            if r.kill_at is None and now - r.started_at >= r.run.time_limit_s:
                r.timed_out = True
                _signal_group(r.pgid, signal.SIGTERM)
                r.kill_at = now + self.timeout_grace_s
            elif r.kill_at is not None and now >= r.kill_at and not r.killed:
                self._kill(r)
        events, self._events = self._events, []
        return events

    def _outcome(self, r: _Run, now: float) -> ExecutorEvent:
        # Whatever the job left behind in its group goes too: its GPUs are about to be re-granted.
        _signal_group(r.pgid, signal.SIGKILL)
        if r.log is not None:
            r.log.close()
        job_id = r.run.job_id
        doc = _read_status(r.status_path)
        final = doc is not None and "ended_at" in doc
        usage = _usage(doc) if final else Usage()
        at = float(doc["ended_at"]) if final else now
        if r.timed_out:
            sig = doc.get("signal") if final else None
            return Failed(job_id, int(sig) if sig else int(signal.SIGTERM), at, True, usage, "time limit reached")
        if final and doc.get("exit_code") is not None:
            return Finished(job_id, int(doc["exit_code"]), at, usage)
        if final and doc.get("signal") is not None:
            return Failed(job_id, int(doc["signal"]), at, False, usage)
        code = r.popen.returncode if r.popen is not None else None
        sig = -code if code is not None and code < 0 else (int(signal.SIGKILL) if r.killed else None)
        return Failed(job_id, sig, at, False, usage, "the job ended without recording an exit status")

    def running(self) -> frozenset[int]:
        return frozenset(self._runs)

    # --- recovery -----------------------------------------------------------------------------

    def recover(self, run: RunRequest, grant: Grant, pid: int | None, started_at: float | None) -> Recovery:
        tag = self._tag(run)
        status_path = self._status_path(run)
        proc = _find(pid, tag)
        doc = _read_status(status_path)
        if proc is not None:
            begun = float(doc["started_at"]) if doc else (started_at if started_at is not None else proc.create_time())
            self._runs[run.job_id] = _Run(run, status_path, os.getpgid(proc.pid), begun, None, proc, None)
            self._events.append(Started(run.job_id, proc.pid, begun))
            return Recovery.TRACKED
        if doc is None:
            return Recovery.NEVER_STARTED
        self._events.append(self._ended_while_down(run, doc))
        return Recovery.TRACKED

    def _ended_while_down(self, run: RunRequest, doc: dict) -> ExecutorEvent:
        """A job that ended while no service watched it: its status file is all there is."""
        if "ended_at" not in doc:
            detail = "the job ended while the service was down, without recording an exit status"
            return Failed(run.job_id, None, self.clock(), False, Usage(), detail)
        at = float(doc["ended_at"])
        timed_out = at - float(doc["started_at"]) >= run.time_limit_s
        if doc.get("exit_code") is not None and not timed_out:
            return Finished(run.job_id, int(doc["exit_code"]), at, _usage(doc))
        sig = doc.get("signal")
        return Failed(run.job_id, int(sig) if sig is not None else None, at, timed_out, _usage(doc))

    def close(self) -> None:
        for r in self._runs.values():
            if r.log is not None:
                r.log.close()
                r.log = None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    if pgid <= 1:
        return
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _read_status(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        raise RuntimeError(f"{path}: corrupt job status file: {e}") from None


def _usage(doc: dict) -> Usage:
    rss = doc.get("max_rss_kb")
    cpu = doc.get("cpu_s")
    return Usage(float(rss) / 1024.0 if rss is not None else None, float(cpu) if cpu is not None else None)


def _tagged(proc: psutil.Process, tag: str) -> bool:
    try:
        return proc.environ().get(TAG_VAR) == tag and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _find(pid: int | None, tag: str) -> psutil.Process | None:
    """The live process of a job attempt: the recorded pid if it still carries the attempt's tag,
    else the group leader (or any process) carrying it."""
    if pid is not None:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            proc = None
        if proc is not None and _tagged(proc, tag):
            return proc
    found = [p for p in psutil.process_iter() if _tagged(p, tag)]
    leaders = [p for p in found if _is_leader(p)]
    return (leaders or found or [None])[0]


def _is_leader(proc: psutil.Process) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False

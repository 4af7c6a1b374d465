"""A real training job (examples/train_checkpointed.py) preempted by `kaon serve` and resumed.

Shared by the CPU test (configured GPUs) and the GPU-host test (NVML's GPUs): under `las` with a
one-second lease, a short job that arrives while the trainer runs takes its GPUs, the trainer
saves on SIGTERM, and its second attempt resumes from that step.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kaon.service.client import KaonClient
from kaon.service.schemas import JobCreate, JobRead
from kaon.service.spawn import ServerProcess
from kaon.store.records import JobPhase

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_checkpointed.py"
STEPS = 200
EVERY = 25
TRAIN_ARGS = ("--steps", str(STEPS), "--every", str(EVERY), "--step-sleep", "0.02")
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
"""The same arithmetic in and out of the service: PyTorch's CPU results can depend on its thread count."""


@dataclass(frozen=True)
class PreemptedRun:
    trainer: JobRead
    short: JobRead
    log: list[str]


def _wait(check: object, deadline_s: float, what: str) -> None:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def preempt_and_resume(tmp_path: Path, inventory_args: list[str], gpus: int) -> PreemptedRun:
    """Run the trainer on all `gpus`, push it off with a short job, and wait for both to end."""
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'kaon.db'}", tmp_path / "state", [*inventory_args, "--policy", "las:lease=1", "--grace", "60"]
    )
    with server, KaonClient(server.url) as client:
        command = [sys.executable, str(EXAMPLE), *TRAIN_ARGS]
        trainer = client.submit(JobCreate(command=command, gpus=gpus, name="train", env=ONE_THREAD, time_limit_s=600))
        first = f"checkpoint at step {EVERY}:"
        _wait(lambda: first in _log(client.job(trainer.id)), 120, "the trainer's first checkpoint")
        short = client.submit(JobCreate(command=["sleep", "1"], gpus=gpus, name="short", time_limit_s=60))
        _wait(lambda: client.jobs([JobPhase.PENDING, JobPhase.RUNNING], limit=1).total == 0, 240, "both jobs to end")
        done = client.job(trainer.id)
        return PreemptedRun(done, client.job(short.id), _log(done).splitlines())


def _log(job: JobRead) -> str:
    return Path(job.log_path).read_text() if job.log_path and Path(job.log_path).exists() else ""


def uninterrupted(tmp_path: Path) -> subprocess.Popen:
    """The trainer outside kaon, with nothing to stop it; its last line is the reference."""
    env = {**os.environ, **ONE_THREAD, "KAON_CHECKPOINT_DIR": str(tmp_path / "uninterrupted")}
    return subprocess.Popen([sys.executable, str(EXAMPLE), *TRAIN_ARGS], env=env, stdout=subprocess.PIPE, text=True)


def check_resumed(run: PreemptedRun) -> int:
    """The trainer stopped once at step S > 0 and its next attempt started from S; returns S."""
    assert run.trainer.state is JobPhase.COMPLETED, (run.trainer.state, run.trainer.reason, run.log)
    assert run.short.state is JobPhase.COMPLETED, (run.short.state, run.short.reason)
    assert run.trainer.preemptions == 1 and run.trainer.attempt == 2, run.log
    starts = [line for line in run.log if line.startswith("attempt ")]
    checkpoints = [int(line.split()[3].rstrip(":")) for line in run.log if line.startswith("checkpoint at step ")]
    stops = [line for line in run.log if line.startswith("stopped at step ")]
    assert len(starts) == 2 and len(stops) == 1, run.log
    stopped_at = int(stops[0].split()[3].rstrip(";"))
    assert EVERY <= stopped_at < STEPS
    assert starts[0].startswith("attempt 1 ") and starts[0].endswith(": from step 0")
    assert starts[1].startswith("attempt 2 ") and starts[1].endswith(f": from step {stopped_at}")
    assert run.log[-1].startswith(f"done at step {STEPS}: ")
    assert checkpoints == list(range(EVERY, STEPS + 1, EVERY)), "a periodic checkpoint repeated or missed"
    return stopped_at

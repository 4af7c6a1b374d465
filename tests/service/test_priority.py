"""Job priorities in the service: under the default (non-preemptive) policy, a higher-priority job
takes the GPUs of a lower-priority one, which is preempted and resumes afterwards."""

from __future__ import annotations

from pathlib import Path

from tests.service.calls import job as _job
from tests.service.calls import submit as _submit


def test_a_higher_priority_job_preempts_under_fifo_backfill(tmp_path: Path, wait_for, make_service, shutdown) -> None:  # noqa: ANN001
    with make_service(tmp_path) as c:
        low = _submit(c, command=["sleep", "30"], gpus=4, gpu_types=["v100"], time_limit_s=1000)
        wait_for(lambda: _job(c, low["id"])["state"] == "RUNNING")
        same = _submit(c, command=["sleep", "0.1"], gpus=4, gpu_types=["v100"], time_limit_s=10)
        high = _submit(c, command=["sleep", "0.2"], gpus=4, gpu_types=["v100"], time_limit_s=10, priority=5)
        done = wait_for(lambda: (j := _job(c, high["id"]))["state"] == "COMPLETED" and j)
        assert done["attempt"] == 1
        # the equal-priority job queued before it did not preempt, and still waits behind the victim
        resumed = wait_for(lambda: (j := _job(c, low["id"]))["attempt"] == 2 and j["state"] == "RUNNING" and j)
        assert resumed["preemptions"] == 1
        assert _job(c, same["id"])["state"] == "PENDING"
        shutdown(c)

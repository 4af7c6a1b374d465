"""On a host with NVIDIA GPUs: NVML's inventory, and jobs that see exactly the GPUs they were
granted, through the executor and through a real `kaon serve`.

Every other test configures its GPUs; these read the real ones, so they skip where NVML finds none
(CI has none). Each job runs `cuda_probe.py`, which asks the CUDA driver itself which devices it
can see, by UUID: CUDA_VISIBLE_DEVICES holds NVML's indices, and a job must land on the device
NVML gave that index, whatever order CUDA would number the devices in by default.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from kaon.executors.base import Finished
from kaon.executors.inventory import detect_nvml, gpu_model
from kaon.executors.local import LocalExecutor
from kaon.service.client import KaonClient
from kaon.service.schemas import JobCreate
from kaon.service.spawn import ServerProcess
from kaon.store.records import Grant, GrantSlice, JobPhase

PROBE = Path(__file__).with_name("cuda_probe.py")
INVENTORY = detect_nvml()

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(INVENTORY is None, reason="no NVIDIA GPU found through NVML"),
]


def _nvml_gpus() -> list[tuple[str, str]]:
    """(name, UUID) of every GPU, in NVML's index order."""
    import pynvml

    pynvml.nvmlInit()
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name, uuid = pynvml.nvmlDeviceGetName(handle), pynvml.nvmlDeviceGetUUID(handle)
            out.append(tuple(v.decode() if isinstance(v, bytes) else v for v in (name, uuid)))
        return out
    finally:
        pynvml.nvmlShutdown()


def _seen(log: Path) -> tuple[int, list[str]]:
    """What the probe printed: the device count and the UUIDs."""
    lines = [line.split(maxsplit=1) for line in log.read_text().splitlines()]
    count = [int(v) for k, v in lines if k == "count"]
    assert len(count) == 1, log.read_text()
    return count[0], [v for k, v in lines if k == "uuid"]


def test_inventory_has_every_gpu_grouped_by_model() -> None:
    assert INVENTORY is not None
    gpus = _nvml_gpus()
    assert sum(n.gpus for n in INVENTORY.cluster.nodes) == len(gpus)
    for node, ids in zip(INVENTORY.cluster.nodes, INVENTORY.devices):
        assert {gpu_model(gpus[i][0]) for i in ids} == {node.gpu_type}
    assert sorted(i for ids in INVENTORY.devices for i in ids) == list(range(len(gpus)))


def test_a_job_sees_exactly_its_granted_gpu_and_a_cpu_job_none(tmp_path: Path) -> None:
    from kaon.executors.base import RunRequest

    gpus = _nvml_gpus()
    ex = LocalExecutor(tmp_path / "state")
    grants = {i: (i,) for i in range(min(len(gpus), 4))} | {100: ()}
    for job_id, devices in grants.items():
        grant = Grant("gpu", 0, (GrantSlice(0, "n0", devices),) if devices else ())
        run = RunRequest(job_id, 1, (sys.executable, str(PROBE)), 60.0, tmp_path / f"{job_id}.log")
        ex.launch(run, grant)
    ended: dict[int, Finished] = {}
    stop = time.monotonic() + 60
    while len(ended) < len(grants) and time.monotonic() < stop:
        ended |= {e.job_id: e for e in ex.poll() if isinstance(e, Finished)}
        time.sleep(0.05)
    ex.close()
    assert sorted(ended) == sorted(grants)
    assert all(e.exit_code == 0 for e in ended.values()), [(j, (tmp_path / f"{j}.log").read_text()) for j in ended]
    for job_id, devices in grants.items():
        count, uuids = _seen(tmp_path / f"{job_id}.log")
        assert count == len(devices)
        assert uuids == [gpus[d][1] for d in devices], (job_id, devices)


def test_the_service_runs_jobs_on_the_detected_gpus(tmp_path: Path) -> None:
    """`kaon serve` with no inventory flags: NVML's GPUs, each job on the one it was granted."""
    gpus = _nvml_gpus()
    matmul = ["--matmul"] if importlib.util.find_spec("torch") is not None else []
    server = ServerProcess(f"sqlite:///{tmp_path / 'kaon.db'}", tmp_path / "state", [])
    with server, KaonClient(server.url) as client:
        nodes = client.nodes()
        assert sum(n.gpus for n in nodes) == len(gpus)
        assert {n.gpu_type for n in nodes} == {gpu_model(name) for name, _ in gpus}
        jobs = [JobCreate(command=[sys.executable, str(PROBE), *matmul], gpus=1, name=f"probe-{i}") for i in range(2 * len(gpus))]
        ids = [j.id for j in client.submit_batch(jobs)]
        stop = time.monotonic() + 120
        while client.jobs([JobPhase.PENDING, JobPhase.RUNNING], limit=1).total and time.monotonic() < stop:
            time.sleep(0.2)
        done = [client.job(i) for i in ids]
    assert [j.state for j in done] == [JobPhase.COMPLETED] * len(done), [(j.id, j.state, j.reason) for j in done]
    for job in done:
        assert job.grant is not None and job.log_path is not None
        count, uuids = _seen(Path(job.log_path))
        assert count == 1 and uuids == [gpus[job.grant.devices[0]][1]]
        if matmul:
            assert "matmul" in Path(job.log_path).read_text() and " 1024" in Path(job.log_path).read_text()


def test_a_preempted_gpu_trainer_resumes_where_it_stopped(tmp_path: Path) -> None:
    """examples/train_checkpointed.py on the GPUs, preempted by `kaon serve` and resumed on them."""
    pytest.importorskip("torch")
    from tests.service.preempted_training import check_resumed, preempt_and_resume, uninterrupted

    gpus = _nvml_gpus()
    reference = uninterrupted(tmp_path)
    run = preempt_and_resume(tmp_path, [], gpus=len(gpus))
    out, _ = reference.communicate(timeout=300)
    assert reference.returncode == 0
    check_resumed(run)
    assert all(line.split(":")[0].endswith(f"on {gpus[0][0]}") for line in run.log if line.startswith("attempt "))
    ours, theirs = (line.split(": ")[1] for line in (run.log[-1], out.splitlines()[-1]))
    assert [float(w.rstrip(",")) for w in ours.split()[1::3]] == pytest.approx(
        [float(w.rstrip(",")) for w in theirs.split()[1::3]], rel=1e-4
    )

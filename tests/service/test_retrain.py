"""Retraining from the service's history and hot-swapping the model: versions, policy specs, the
admin route, and jobs that live through the swap."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kaon.policy.base import PolicyParamError
from kaon.security.crypto import Cipher
from kaon.service.retrain import check_template, latest_version, model_spec, versions
from kaon.store.records import JobPhase, NewJob
from kaon.store.repo import JobStore

API = "/api/v1"


def populate(url: str, n: int, log_dir: Path, queues: tuple[str, ...] = ("a", "b"), cipher: Cipher | None = None) -> None:
    """`n` COMPLETED jobs written through the store API, with run times that depend on the queue."""
    store = JobStore.open(url, cipher)
    t0 = time.time() - 100_000
    for i in range(n):
        new = NewJob(("true",), gpus=1 + i % 2, time_limit_s=7200, queue=queues[i % len(queues)], user=f"u{i % 3}")
        (rec,) = store.add_jobs([new], t0 + 600 * i, log_dir)
        start = t0 + 600 * i + 5
        run = (60.0 if rec.queue == "a" else 900.0) * (1 + i % 5)
        store.transition(rec.id, JobPhase.RUNNING, start, "run", expect=JobPhase.PENDING, attempt=1, start_time=start)
        store.transition(rec.id, JobPhase.COMPLETED, start + run, "exit code 0", expect=JobPhase.RUNNING,
                         end_time=start + run, run_time_s=run, exit_code=0)  # fmt: skip
    store.close()


def test_model_spec_substitutes_or_sets_the_model() -> None:
    m = Path("/models/v0002")
    assert model_spec("qssf:model={model},min_history=5", m) == "qssf:model=/models/v0002,min_history=5"
    assert model_spec("qssf:model={model},min_history=5", None) == "qssf:min_history=5"
    assert model_spec("qssf:model={model}", None) == "qssf"
    assert model_spec("psrtf:model=/old,lease=60", m) == "psrtf:lease=60,model=/models/v0002"
    assert model_spec("psrtf", m) == "psrtf:model=/models/v0002"
    assert model_spec("psrtf:lease=60", None) == "psrtf:lease=60"


def test_template_must_use_a_model() -> None:
    check_template("qssf")
    check_template("fifo:x={model}")  # the placeholder is the user's explicit choice
    with pytest.raises(PolicyParamError, match="takes no model"):
        check_template("fifo")


def test_versions_ignore_staging_directories(tmp_path: Path) -> None:
    for name in ("v0002", "v0010", ".v0011.123.tmp", "notes"):
        (tmp_path / name).mkdir()
    assert [p.name for p in versions(tmp_path)] == ["v0002", "v0010"]
    assert latest_version(tmp_path) == tmp_path / "v0010"
    assert latest_version(tmp_path / "missing") is None


def test_retrain_swaps_the_model_and_keeps_jobs(tmp_path: Path, make_service, shutdown, wait_for) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'kaon.db'}"
    populate(url, 60, tmp_path / "state" / "logs")
    models = tmp_path / "models"
    with make_service(tmp_path, policy="qssf:model={model}", model_dir=models, retrain_min_jobs=50) as c:
        assert c.get(f"{API}/health").json()["policy"] == "qssf"  # no model yet: the policy's own default
        hold = c.post(f"{API}/jobs", json={"command": ["sleep", "30"], "gpus": 4, "gpu_types": ["v100"]}).json()
        wait_for(lambda: c.get(f"{API}/jobs/{hold['id']}").json()["state"] == "RUNNING")
        waiting = [
            c.post(f"{API}/jobs", json={"command": ["true"], "gpus": 4, "gpu_types": ["v100"], "queue": q}).json()["id"]
            for q in ("a", "b", "a")
        ]
        r = c.post(f"{API}/admin/retrain", json={})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["swapped"] and out["jobs"] == 60 and out["new_jobs"] == 60
        assert out["model"] == str(models / "v0001") and out["policy"] == f"qssf:model={models / 'v0001'}"
        assert (models / "v0001" / "manifest.json").is_file() and (models / "v0001" / "history.csv").is_file()
        service = c.app.state.service  # type: ignore[attr-defined]
        assert service.loop.host.spec == out["policy"] == c.get(f"{API}/health").json()["policy"]
        with service.loop.locked() as book:
            assert sorted(int(j) for j in book.pending) == waiting
            assert [j.index for j in book.running.values()] == [hold["id"]]
        running = c.get(f"{API}/jobs/{hold['id']}").json()
        assert running["state"] == "RUNNING" and running["attempt"] == 1
        assert all(c.get(f"{API}/jobs/{i}").json()["state"] == "PENDING" for i in waiting)

        again = c.post(f"{API}/admin/retrain", json={}).json()
        assert not again["swapped"] and again["new_jobs"] == 0 and "50 needed" in again["reason"]
        forced = c.post(f"{API}/admin/retrain", json={"force": True}).json()
        assert forced["swapped"] and forced["model"] == str(models / "v0002")
        swaps = service.audit.records(action="retrain")
        assert [json.loads(a.details)["model"] for a in swaps] == [str(models / "v0001"), str(models / "v0002")]

        c.post(f"{API}/jobs/{hold['id']}/cancel")
        # After the swap the new policy still schedules the carried-over jobs, each exactly once.
        for i in waiting:
            wait_for(lambda i=i: c.get(f"{API}/jobs/{i}").json()["state"] == "COMPLETED", what=f"job {i} to complete")
            assert c.get(f"{API}/jobs/{i}").json()["attempt"] == 1
        shutdown(c)
    # A restart picks the latest version.
    with make_service(tmp_path, policy="qssf:model={model}", model_dir=models) as c:
        assert c.get(f"{API}/health").json()["policy"] == f"qssf:model={models / 'v0002'}"


def test_retrain_route_without_a_model_dir_changes_nothing(service: TestClient) -> None:
    r = service.post(f"{API}/admin/retrain", json={"force": True})
    assert r.status_code == 200 and not r.json()["swapped"] and "--model-dir" in r.json()["reason"]

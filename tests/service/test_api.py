"""Every route of /api/v1 and every error it returns, through FastAPI's TestClient."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from fastapi.testclient import TestClient

API = "/api/v1"
SLEEP = ["sleep", "30"]


def _submit(c: TestClient, **body: Any) -> dict:
    body.setdefault("command", SLEEP)
    r = c.post(f"{API}/jobs", json=body)
    assert r.status_code == 201, r.json()
    return r.json()


def _job(c: TestClient, job_id: int) -> dict:
    return c.get(f"{API}/jobs/{job_id}").json()


def _error_locs(r: Any, status: int = 422) -> list[list]:
    assert r.status_code == status, r.json()
    return [d["loc"] for d in r.json()["detail"]]


def test_health_openapi_and_docs(service: TestClient) -> None:
    h = service.get(f"{API}/health").json()
    assert h["status"] == "ok" and h["policy"] == "fifo-backfill" and h["error"] is None
    assert h["recovered"] == {"pending": 0, "adopted": 0, "requeued": 0, "cancelled": 0}
    spec = service.get("/openapi.json").json()
    assert {f"{API}/jobs", f"{API}/jobs/batch", f"{API}/jobs/{{job_id}}/explain", f"{API}/nodes"} <= set(spec["paths"])
    assert service.get("/docs").status_code == 200


def test_submit_echoes_the_request_and_normalises_types(service: TestClient) -> None:
    job = _submit(
        service,
        command=["sleep", "0"],
        name="n",
        user="ann",
        gpus=2,
        gpu_types=["V100"],
        cpus=2,
        memory_mb=512,
        time_limit_s=30,
        priority=5,
        queue="research",
        kind="inference",
        env={"A": "1"},
        retries=1,
    )
    assert job["state"] == "PENDING" and job["attempt"] == 0
    assert job["gpu_types"] == ["v100"] and job["env"] == {"A": "1"} and job["kind"] == "inference"
    assert (job["gpus"], job["cpus"], job["memory_mb"], job["time_limit_s"]) == (2, 2, 512, 30)
    assert job["log_path"].endswith(f"{job['id']}.log")


def test_default_time_limit(service: TestClient) -> None:
    assert _submit(service, command=["true"])["time_limit_s"] == 3600


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "command"]),
        ({"command": []}, ["body", "command"]),
        ({"command": [""]}, ["body", "command"]),
        ({"command": ["x"], "gpus": 0}, ["body", "gpus"]),
        ({"command": ["x"], "time_limit_s": -1}, ["body", "time_limit_s"]),
        ({"command": ["x"], "queue": "bad queue"}, ["body", "queue"]),
        ({"command": ["x"], "kind": "batch"}, ["body", "kind"]),
        ({"command": ["x"], "env": {"A=B": "1"}}, ["body", "env", "A=B", "[key]"]),
        ({"command": ["x"], "retries": -1}, ["body", "retries"]),
        ({"command": ["x"], "gpu_types": []}, ["body", "gpu_types"]),
        ({"command": ["x"], "colour": "red"}, ["body", "colour"]),
        ({"command": "sleep 1"}, ["body", "command"]),
    ],
)
def test_invalid_submissions_name_the_field(service: TestClient, body: dict, loc: list) -> None:
    assert loc in _error_locs(service.post(f"{API}/jobs", json=body))


def test_unsatisfiable_submissions_are_rejected_with_a_reason(service: TestClient) -> None:
    r = service.post(f"{API}/jobs", json={"command": ["x"], "gpu_types": ["a100"]})
    assert _error_locs(r, 409) == [["body", "gpu_types"]]  # well formed; this cluster cannot run it
    assert "a100" in r.json()["detail"][0]["msg"] and "v100" in r.json()["detail"][0]["msg"]
    r = service.post(f"{API}/jobs", json={"command": ["x"], "gpus": 5})
    assert _error_locs(r, 409) == [["body", "gpus"]]
    assert "4 v100" in r.json()["detail"][0]["msg"]
    r = service.post(f"{API}/jobs", json={"command": ["x"], "gpus": 3, "gpu_types": ["k80"]})
    assert _error_locs(r, 409) == [["body", "gpus"]]
    assert service.get(f"{API}/jobs").json()["total"] == 0


def test_batch_is_all_or_nothing(service: TestClient) -> None:
    r = service.post(f"{API}/jobs/batch", json={"jobs": [{"command": ["true"]}, {"command": ["true"], "gpus": 9}]})
    assert _error_locs(r, 409) == [["body", "jobs", 1, "gpus"]]
    assert _error_locs(service.post(f"{API}/jobs/batch", json={"jobs": []})) == [["body", "jobs"]]
    assert service.get(f"{API}/jobs").json()["total"] == 0
    r = service.post(f"{API}/jobs/batch", json={"jobs": [{"command": ["true"]}, {"command": ["true"], "queue": "b"}]})
    assert r.status_code == 201
    assert [j["queue"] for j in r.json()] == ["default", "b"]


def test_list_filters_and_pagination(service: TestClient, wait_for) -> None:  # noqa: ANN001
    for i in range(5):
        _submit(service, command=["true"], queue="a" if i < 3 else "b", user="u1" if i % 2 else "u2")
    wait_for(lambda: service.get(f"{API}/jobs", params={"state": "COMPLETED"}).json()["total"] == 5)
    assert service.get(f"{API}/jobs", params={"queue": "a"}).json()["total"] == 3
    assert [j["id"] for j in service.get(f"{API}/jobs", params={"user": "u1"}).json()["items"]] == [2, 4]
    page = service.get(f"{API}/jobs", params={"limit": 2, "offset": 1}).json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)
    assert [j["id"] for j in page["items"]] == [2, 3]
    assert [j["id"] for j in service.get(f"{API}/jobs", params={"newest_first": True, "limit": 2}).json()["items"]] == [5, 4]
    assert service.get(f"{API}/jobs", params={"state": ["PENDING", "RUNNING"]}).json()["total"] == 0
    assert _error_locs(service.get(f"{API}/jobs", params={"state": "DONE"})) == [["query", "state", 0]]
    assert _error_locs(service.get(f"{API}/jobs", params={"limit": 0})) == [["query", "limit"]]
    assert _error_locs(service.get(f"{API}/jobs", params={"offset": -1})) == [["query", "offset"]]


def test_non_finite_time_limits_and_nul_in_filters_are_422(service: TestClient) -> None:
    """JSON parsers accept NaN and Infinity; a NaN made the 422 itself unserialisable (a 500) and
    an infinite limit was stored as null. PostgreSQL cannot compare against NUL."""
    for raw in ("NaN", "Infinity", "1e12"):
        r = service.post(f"{API}/jobs", content=f'{{"command": ["true"], "time_limit_s": {raw}}}', headers={"content-type": "application/json"})
        assert _error_locs(r) == [["body", "time_limit_s"]], raw
    for name in ("queue", "user"):
        assert _error_locs(service.get(f"{API}/jobs", params={name: "a\x00"})) == [["query", name]]
    assert _error_locs(service.get(f"{API}/admin/audit", params={"actor": "a\x00"})) == [["query", "actor"]]


def test_unknown_ids_are_404_and_bad_ids_422(service: TestClient) -> None:
    for method, path in [
        ("get", "/jobs/99"),
        ("post", "/jobs/99/cancel"),
        ("get", "/jobs/99/explain"),
        ("get", "/jobs/99/logs"),
    ]:
        r = getattr(service, method)(f"{API}{path}")
        assert r.status_code == 404 and "99" in r.json()["detail"]
    assert _error_locs(service.get(f"{API}/jobs/abc")) == [["path", "job_id"]]


def test_job_runs_to_completion_with_usage_and_logs(service: TestClient, wait_for) -> None:  # noqa: ANN001
    code = "import os; print('devices', os.environ['CUDA_VISIBLE_DEVICES']); print('line 2')"
    job = _submit(service, command=[sys.executable, "-c", code], gpus=2)
    done = wait_for(lambda: (j := _job(service, job["id"]))["state"] == "COMPLETED" and j)
    assert done["exit_code"] == 0 and done["attempt"] == 1 and done["pid"] is None
    assert done["grant"]["gpu_type"] == "v100" and len(done["grant"]["devices"]) == 2
    assert done["max_rss_mb"] > 0 and done["cpu_time_s"] >= 0 and done["run_time_s"] > 0
    log = service.get(f"{API}/jobs/{job['id']}/logs").json()
    devices = ",".join(map(str, done["grant"]["devices"]))
    assert log["text"] == f"devices {devices}\nline 2\n" and log["complete"]
    tail = service.get(f"{API}/jobs/{job['id']}/logs", params={"offset": log["next_offset"] - 7}).json()
    assert tail["text"] == "line 2\n" and tail["next_offset"] == log["next_offset"]
    assert _error_locs(service.get(f"{API}/jobs/{job['id']}/logs", params={"offset": -1})) == [["query", "offset"]]


def test_cancel_pending_running_and_finished(service: TestClient, wait_for) -> None:  # noqa: ANN001
    big = _submit(service, gpus=4, gpu_types=["v100"])
    wait_for(lambda: _job(service, big["id"])["state"] == "RUNNING")
    queued = _submit(service, gpus=1, gpu_types=["v100"])
    assert service.post(f"{API}/jobs/{queued['id']}/cancel").json()["state"] == "CANCELLED"
    r = service.post(f"{API}/jobs/{big['id']}/cancel").json()
    assert r["state"] == "RUNNING" and r["stop_request"] == "cancel"
    done = wait_for(lambda: (j := _job(service, big["id"]))["state"] == "CANCELLED" and j)
    assert done["signal"] == 15 and done["end_time"] is not None
    again = service.post(f"{API}/jobs/{big['id']}/cancel")
    assert again.status_code == 200 and again.json()["state"] == "CANCELLED"


def test_explain_pending_and_running(service: TestClient, wait_for) -> None:  # noqa: ANN001
    blockers = [_submit(service, gpus=2, gpu_types=["v100"], time_limit_s=100) for _ in range(2)]
    for b in blockers:
        wait_for(lambda b=b: _job(service, b["id"])["state"] == "RUNNING")
    waiting = _submit(service, gpus=2, gpu_types=["v100"])
    wait_for(lambda: service.get(f"{API}/health").json()["pending"] == 1)
    why = service.get(f"{API}/jobs/{waiting['id']}/explain").json()
    assert why["state"] == "PENDING" and why["queue_position"] == 1 and why["queue_length"] == 1
    assert [r["message"] for r in why["reasons"]] == [
        "0/4 free v100 GPUs, needs 2",
        "k80: not allowed by the job's gpu_types",
    ]
    first_end = min(_job(service, b["id"])["start_time"] for b in blockers) + 100
    assert why["predicted_start"] == pytest.approx(first_end)
    running = service.get(f"{API}/jobs/{blockers[0]['id']}/explain").json()
    assert running["state"] == "RUNNING" and running["message"].startswith("running since")
    assert running["queue_position"] is None


def test_nodes_and_queues(service: TestClient, wait_for) -> None:  # noqa: ANN001
    nodes = service.get(f"{API}/nodes").json()
    assert [(n["gpu_type"], n["devices"], n["free_devices"]) for n in nodes] == [
        ("v100", [0, 1], [0, 1]),
        ("v100", [2, 3], [2, 3]),
        ("k80", [4, 5], [4, 5]),
    ]
    job = _submit(service, gpus=2, gpu_types=["k80"], queue="q")
    wait_for(lambda: _job(service, job["id"])["state"] == "RUNNING")
    assert service.get(f"{API}/nodes").json()[2]["free_devices"] == []
    _submit(service, command=["true"], gpus=2, gpu_types=["k80"], queue="q")
    [q] = service.get(f"{API}/queues").json()
    assert q["queue"] == "q" and q["counts"]["RUNNING"] == 1 and q["counts"]["PENDING"] == 1


def test_reload_policy(service: TestClient) -> None:
    assert service.post(f"{API}/admin/reload", json={"policy": "fifo"}).json() == {"policy": "fifo"}
    assert service.get(f"{API}/health").json()["policy"] == "fifo"
    assert service.post(f"{API}/admin/reload", json={}).json() == {"policy": "fifo"}
    r = service.post(f"{API}/admin/reload", json={"policy": "no-such-policy"})
    assert _error_locs(r) == [["body", "policy"]]
    assert "no-such-policy" in r.json()["detail"][0]["msg"]
    assert _error_locs(service.post(f"{API}/admin/reload", json={"policy": "fifo", "x": 1})) == [["body", "x"]]

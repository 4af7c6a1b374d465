"""Live node changes: nodes added to and removed from the inventory file while the service runs,
drains and undrains, and the planning rules behind them."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.executors.inventory import from_cluster
from kaon.service.book import JobBook
from kaon.service.nodes import plan_nodes, rebuild_book
from kaon.store.records import Grant, GrantSlice, JobKind, JobPhase, JobRecord, StopRequest
from tests.service.conftest import CLUSTER

API = "/api/v1"
SLEEP = ["sleep", "30"]
EXTRA = "  - {type: v100, count: 1, gpus: 2, name: extra}\n"
"""Appended to conftest's CLUSTER: node `extra-0003` (devices 6 and 7)."""


def _submit(c: TestClient, **body: object) -> dict:
    body.setdefault("command", SLEEP)
    r = c.post(f"{API}/jobs", json=body)
    assert r.status_code == 201, r.json()
    return r.json()


def _job(c: TestClient, job_id: int) -> dict:
    return c.get(f"{API}/jobs/{job_id}").json()


def _rewrite(path: Path, text: str) -> None:
    """Replace the file by rename, as editors do (a new inode: seen even within one mtime tick)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _fill_v100(c: TestClient, wait_for) -> list[dict]:  # noqa: ANN001
    jobs = [_submit(c, gpus=2, gpu_types=["v100"]) for _ in range(2)]
    for j in jobs:
        wait_for(lambda j=j: _job(c, j["id"])["state"] == "RUNNING")
    return jobs


def test_a_node_added_to_the_inventory_file_gets_jobs(tmp_path: Path, make_service, wait_for, shutdown) -> None:  # noqa: ANN001
    with make_service(tmp_path, inventory_check_s=0.05) as c:
        _fill_v100(c, wait_for)
        waiting = _submit(c, gpus=2, gpu_types=["v100"])
        assert _job(c, waiting["id"])["state"] == "PENDING"
        _rewrite(tmp_path / "cluster.yaml", CLUSTER + EXTRA)
        ran = wait_for(lambda: (j := _job(c, waiting["id"]))["state"] == "RUNNING" and j, what="the job on the new node")
        assert ran["grant"]["nodes"] == ["extra-0003"] and ran["grant"]["devices"] == [6, 7]
        listed = {n["name"]: n for n in c.get(f"{API}/nodes").json()}
        assert listed["extra-0003"]["up"] and listed["extra-0003"]["free_devices"] == []
        added = [r for r in c.get(f"{API}/admin/audit", params={"action": "node-added"}).json()]
        assert [(r["actor"], r["target"]) for r in added] == [("inventory", "node extra-0003")]
        shutdown(c)


def test_a_bad_inventory_file_keeps_the_last_good_one(tmp_path: Path, make_service, wait_for, shutdown) -> None:  # noqa: ANN001
    with make_service(tmp_path, inventory_check_s=0.05) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        _rewrite(tmp_path / "cluster.yaml", CLUSTER + "  - {type: h100, gpus: 2}\n")
        wait_for(lambda: service.watcher.last_error, what="the bad file to be read")
        assert "unknown gpu type 'h100'" in service.watcher.last_error
        assert len(c.get(f"{API}/nodes").json()) == 3
        job = _submit(c, command=["true"], gpus=2)
        wait_for(lambda: _job(c, job["id"])["state"] == "COMPLETED")
        shutdown(c)


def test_a_drained_node_gets_no_new_jobs_and_its_running_jobs_finish(tmp_path: Path, make_service, wait_for, shutdown) -> None:  # noqa: ANN001
    with make_service(tmp_path) as c:
        first = _submit(c, command=["sleep", "0.5"], gpus=2, gpu_types=["v100"])
        wait_for(lambda: _job(c, first["id"])["state"] == "RUNNING")
        node = _job(c, first["id"])["grant"]["nodes"][0]
        drained = c.post(f"{API}/nodes/{node}/drain").json()
        assert drained["drained"] and drained["name"] == node
        # Both in one batch: the decision that starts one would start the other if it could.
        a, b = c.post(f"{API}/jobs/batch", json={"jobs": [{"command": SLEEP, "gpus": 2, "gpu_types": ["v100"]}] * 2}).json()
        ran = wait_for(lambda: next((j for j in (_job(c, a["id"]), _job(c, b["id"])) if j["state"] == "RUNNING"), None))
        assert ran["grant"]["nodes"] != [node]
        assert wait_for(lambda: (j := _job(c, first["id"]))["state"] == "COMPLETED" and j)["grant"]["nodes"] == [node]
        other = b if ran["id"] == a["id"] else a
        assert _job(c, other["id"])["state"] == "PENDING"
        assert c.post(f"{API}/nodes/{node}/undrain").json()["drained"] is False
        assert wait_for(lambda: (j := _job(c, other["id"]))["state"] == "RUNNING" and j)["grant"]["nodes"] == [node]
        assert c.post(f"{API}/nodes/no-such-node/drain").status_code == 404
        actions = [(r["action"], r["target"]) for r in c.get(f"{API}/admin/audit").json() if r["action"].startswith("node-")]
        assert actions == [("node-drain", f"node {node}"), ("node-undrain", f"node {node}")]
        shutdown(c)


def test_a_drain_outlasts_a_restart(tmp_path: Path, make_service, wait_for, shutdown) -> None:  # noqa: ANN001
    with make_service(tmp_path) as c:
        c.post(f"{API}/nodes/v100-0000/drain")
    with make_service(tmp_path) as c:
        assert {n["name"]: n["drained"] for n in c.get(f"{API}/nodes").json()}["v100-0000"]
        job = _submit(c, gpus=2, gpu_types=["v100"])
        assert wait_for(lambda: (j := _job(c, job["id"]))["state"] == "RUNNING" and j)["grant"]["nodes"] == ["v100-0001"]
        shutdown(c)


def test_a_node_removed_from_the_file_stops_its_jobs_per_their_retries(tmp_path: Path, make_service, wait_for, shutdown) -> None:  # noqa: ANN001
    with make_service(tmp_path, inventory_check_s=0.05, grace_s=0.2) as c:
        once = _submit(c, gpus=1, gpu_types=["k80"])
        again = _submit(c, gpus=1, gpu_types=["k80"], retries=1)
        for j in (once, again):
            wait_for(lambda j=j: _job(c, j["id"])["state"] == "RUNNING")
        _rewrite(tmp_path / "cluster.yaml", CLUSTER.replace("  - {type: k80, count: 1, gpus: 2}\n", ""))
        failed = wait_for(lambda: (j := _job(c, once["id"]))["state"] == "FAILED" and j, what="the lost job to fail")
        assert failed["reason"] == "its node left the inventory"
        requeued = wait_for(lambda: (j := _job(c, again["id"]))["state"] == "PENDING" and j, what="the retried job")
        assert requeued["reason"] == "attempt 1 failed (its node left the inventory); retrying"
        wait_for(lambda: [n["name"] for n in c.get(f"{API}/nodes").json()] == ["v100-0000", "v100-0001"], what="the node to go")
        _rewrite(tmp_path / "cluster.yaml", CLUSTER)  # back: the requeued job runs there again
        assert wait_for(lambda: (j := _job(c, again["id"]))["state"] == "RUNNING" and j)["attempt"] == 2
        shutdown(c)


def test_a_node_gone_while_the_service_was_down_has_its_jobs_stopped_at_start(tmp_path: Path, make_service, wait_for, shutdown) -> None:  # noqa: ANN001
    with make_service(tmp_path, grace_s=0.2) as c:
        job = _submit(c, gpus=2, gpu_types=["k80"])
        wait_for(lambda: _job(c, job["id"])["state"] == "RUNNING")
    # The service stopped, its job still runs; it comes back on an inventory without the k80 node.
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text(CLUSTER.replace("  - {type: k80, count: 1, gpus: 2}\n", ""))
    with make_service(tmp_path, grace_s=0.2, cluster=str(smaller)) as c:
        assert c.get(f"{API}/health").json()["recovered"]["adopted"] == 1
        failed = wait_for(lambda: (j := _job(c, job["id"]))["state"] == "FAILED" and j, what="the job to be stopped")
        assert failed["reason"] == "its node left the inventory" and failed["signal"] == 15
        wait_for(lambda: len(c.get(f"{API}/nodes").json()) == 2, what="the node to be dropped")
        shutdown(c)


# --- planning, without a service ------------------------------------------------------------


def _cluster(*nodes: tuple[str, str, int]) -> ClusterSpec:
    return ClusterSpec("t", (GpuType("v100"), GpuType("k80", 0.5)), tuple(NodeSpec(n, t, g) for n, t, g in nodes), "v100")


def _record(job_id: int, gpus: int, grant: Grant | None) -> JobRecord:
    return JobRecord(
        job_id, None, None, ("x",), (), gpus, None, 1, 0, 60.0, 0, "default", JobKind.TRAINING, None, 0, None,
        JobPhase.RUNNING if grant else JobPhase.PENDING, 0.0, 1.0 if grant else None, None, None, None, None,
        grant, 1 if grant else 0, None, None, 0.0, 0, None, None, None,
    )  # fmt: skip


def _book_with_job_on(node: str, devices: tuple[int, ...]) -> JobBook:
    book = JobBook(from_cluster(_cluster(("a", "v100", 2), ("b", "v100", 2)), "spec"))
    index = [n.name for n in book.cluster.nodes].index(node)
    grant = Grant("v100", 0, (GrantSlice(index, node, devices),))
    job = book.add(_record(1, len(devices), grant))
    assert job is not None
    book.adopt(job, grant, 1.0)
    book.add(_record(2, 1, None))
    return book


def test_unchanged_inventory_plans_nothing() -> None:
    book = _book_with_job_on("a", (0, 1))
    assert plan_nodes(book, book.inventory, frozenset()) is None


def test_drain_holds_free_gpus_and_keeps_running_jobs() -> None:
    book = _book_with_job_on("a", (0,))
    plan = plan_nodes(book, book.inventory, frozenset({"a"}))
    assert plan is not None and plan.cordoned == {"a"} and plan.lost == ()
    new = rebuild_book(book, plan)
    assert list(new.capacity.free) == [0, 2] and new.pool.held_devices(0) == (1,)
    assert new.grants[1].devices == (0,) and [j.index for j in new.pending.values()] == [2]
    new.finish(new.jobs[1], 5.0)  # the running job ends: its GPU is held too, not freed
    assert list(new.capacity.free) == [0, 2] and new.pool.held_devices(0) == (0, 1)


def test_removed_node_lingers_while_busy_and_its_jobs_are_lost() -> None:
    book = _book_with_job_on("a", (0, 1))
    source = from_cluster(_cluster(("b", "v100", 2), ("c", "k80", 2)), "spec")
    plan = plan_nodes(book, source, frozenset())
    assert plan is not None and plan.lost == (1,) and plan.cordoned == {"a"}
    # b keeps its ids (2, 3); c's source ids (0, 1) are a's, still held by job 1: c gets 4, 5.
    assert [(n.name, ids) for n, ids in zip(plan.inventory.cluster.nodes, plan.inventory.devices)] == [
        ("b", (2, 3)), ("c", (4, 5)), ("a", (0, 1)),
    ]  # fmt: skip
    new = rebuild_book(book, plan)
    new.mark_stopping(new.jobs[1], StopRequest.NODE_LOST)
    assert plan_nodes(new, source, frozenset()) is None  # stopping already: nothing more to do
    new.finish(new.jobs[1], 2.0)
    gone = plan_nodes(new, source, frozenset())
    assert gone is not None and [n.name for n in gone.inventory.cluster.nodes] == ["b", "c"] and gone.lost == ()


def test_reshaped_busy_node_waits_for_its_jobs() -> None:
    book = _book_with_job_on("a", (0, 1))
    source = from_cluster(_cluster(("a", "v100", 4), ("b", "v100", 2)), "spec")
    plan = plan_nodes(book, source, frozenset())
    assert plan is not None and plan.lost == () and plan.cordoned == {"a"}
    assert plan.inventory.cluster.nodes[0].gpus == 2
    new = rebuild_book(book, plan)
    new.finish(new.jobs[1], 2.0)
    after = plan_nodes(new, source, frozenset())
    assert after is not None and after.cordoned == frozenset() and after.inventory.cluster.nodes[0].gpus == 4

"""Live node changes: a re-read inventory and operators' drains, applied to the running service.

The rules (docs/SERVICE.md, "Node changes"):
- a node that appears in the inventory is used from the next scheduling decision on;
- a drained node takes no new job; the jobs running there finish as usual;
- a node that leaves the inventory takes no new job and its running jobs are stopped (SIGTERM,
  SIGKILL after the grace period): each such run ends as a failed attempt, requeued if the job has
  retries left, else FAILED. The node stays listed, down, until its last job has exited;
- a node whose GPU type or count changed keeps its old shape, taking no new job, until the jobs
  running there finish; then the new shape is used.

A change builds a fresh `JobBook` over the new inventory and moves every job into it, as start-up
reconciliation does after a restart: running jobs keep their devices, matched by node name since
node indices move, and the policy is rebuilt from the new book by replaying its hooks. Node changes
are rare, so this costs O(active jobs) once per change and nothing per decision.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.executors.inventory import Inventory, InventoryError, InventorySource
from kaon.security.audit import AuditLog
from kaon.service.book import JobBook
from kaon.store.nodes import NodeStore, UnknownNodeError
from kaon.store.records import Grant, NodeRecord

log = logging.getLogger(__name__)

INVENTORY_ACTOR = "inventory"
"""The audit actor of node changes read from the inventory source."""


@dataclass(frozen=True, slots=True)
class NodePlan:
    """The inventory the book should have, the nodes that take no new job, and the running jobs to
    stop because their node left."""

    inventory: Inventory
    cordoned: frozenset[str]
    lost: tuple[int, ...]


def _busy(book: JobBook) -> dict[str, set[int]]:
    """Node name -> ids of the jobs holding devices there (running or stopping)."""
    out: dict[str, set[int]] = {}
    for job_id, grant in book.grants.items():
        for s in grant.slices:
            out.setdefault(s.node_name, set()).add(job_id)
    return out


def plan_nodes(book: JobBook, source: Inventory, drained: frozenset[str]) -> NodePlan | None:
    """What `source` (the inventory as read now) and `drained` ask of `book`; None if it already
    has exactly that. Nodes kept from the book keep their device ids; a new node keeps the ids its
    source gave it unless a kept node uses them, and then gets the lowest unused ones."""
    current = book.inventory
    old = {n.name: (n, current.devices[i]) for i, n in enumerate(current.cluster.nodes)}
    busy = _busy(book)
    wanted = {n.name for n in source.cluster.nodes}
    cordoned = {name for name in drained if name in wanted}
    # (node, the ids it keeps from the book or None if new, the ids its source gave it)
    entries: list[tuple[NodeSpec, tuple[int, ...] | None, tuple[int, ...]]] = []
    for n, ids in zip(source.cluster.nodes, source.devices):
        before = old.get(n.name)
        if before is not None and before[0] == n:
            entries.append((n, before[1], ids))
        elif before is not None and n.name in busy:  # reshaped under running jobs: wait for them
            entries.append((before[0], before[1], ids))
            cordoned.add(n.name)
        else:
            entries.append((n, None, ids))
    lost: list[int] = []
    for name, (n, ids) in old.items():
        if name not in wanted and name in busy:  # left, with jobs still there
            entries.append((n, ids, ids))
            cordoned.add(name)
            lost.extend(sorted(j for j in busy[name] if j not in book.stop_reasons))
    taken = {d for _, ids, _ in entries if ids is not None for d in ids}
    nodes, devices = [], []
    for n, ids, given in entries:
        if ids is None:
            ids = given if not taken & set(given) else _lowest_unused(taken, n.gpus)
            taken |= set(ids)
        nodes.append(n)
        devices.append(ids)
    types = list(source.cluster.gpu_types)
    for n in nodes:
        if n.gpu_type not in {t.name for t in types}:
            types.append(current.cluster.gpu_types[current.cluster.type_index(n.gpu_type)])
    cluster = ClusterSpec(
        source.cluster.name, tuple(types), tuple(nodes), source.cluster.reference_type, source.cluster.spread_slowdown
    )
    inventory = Inventory(cluster, tuple(devices), source.source)
    now_cordoned = frozenset(current.cluster.nodes[i].name for i in book.cordoned)
    if inventory.same_as(current) and frozenset(cordoned) == now_cordoned and not lost:
        return None
    return NodePlan(inventory, frozenset(cordoned), tuple(lost))


def with_granted_nodes(inventory: Inventory, grants: Iterable[Grant], known: Iterable[NodeRecord]) -> Inventory:
    """`inventory` plus each node a stored grant names that it lacks, in the node's last recorded
    shape. A job still running on a node that left the inventory while the service was down can
    then be adopted at start-up, and is stopped like any job whose node left."""
    have = {n.name for n in inventory.cluster.nodes}
    missing = {s.node_name for g in grants for s in g.slices} - have
    if not missing:
        return inventory
    recorded = {n.name: n for n in known}
    unknown = sorted(missing - recorded.keys())
    if unknown:
        raise InventoryError(f"running jobs hold GPUs of node(s) {unknown}, which neither the inventory nor the database knows")
    extra = [recorded[name] for name in sorted(missing)]
    types = list(inventory.cluster.gpu_types)
    for n in extra:
        if n.gpu_type not in {t.name for t in types}:
            types.append(GpuType(n.gpu_type))
    c = inventory.cluster
    cluster = ClusterSpec(
        c.name, tuple(types), c.nodes + tuple(NodeSpec(n.name, n.gpu_type, n.gpus) for n in extra), c.reference_type, c.spread_slowdown
    )
    return Inventory(cluster, inventory.devices + tuple(n.devices for n in extra), inventory.source)


def _lowest_unused(taken: set[int], count: int) -> tuple[int, ...]:
    out: list[int] = []
    d = 0
    while len(out) < count:
        if d not in taken:
            out.append(d)
        d += 1
    return tuple(out)


def rebuild_book(book: JobBook, plan: NodePlan) -> JobBook:
    """A new book over `plan.inventory` holding every job of `book`, in the same order: pending
    jobs queued, running jobs on the devices they hold, stopping jobs still stopping."""
    new = JobBook(plan.inventory)
    for job_id, job in book.jobs.items():
        moved = new.add(book.records[job_id])
        assert moved is not None
        grant = book.grants.get(job_id)
        if grant is not None:
            new.adopt(moved, grant, job.run_start)
            why = book.stop_reasons.get(job_id)
            if why is not None:
                new.mark_stopping(moved, why)
    for job_id, reason in book.held.items():
        new.hold(new.jobs[job_id], reason)
    index = {n.name: i for i, n in enumerate(plan.inventory.cluster.nodes)}
    new.cordon(index[name] for name in plan.cordoned)
    return new


class NodeKeeper:
    """What the scheduling loop knows of nodes besides its book: the inventory as last read, the
    drained names, and where both are persisted and audited. Used on the loop's thread only."""

    def __init__(self, source: Inventory, store: NodeStore, audit: AuditLog | None = None) -> None:
        self.source = source
        self.store = store
        self.audit = audit
        self.drained = store.drained()
        self._listed = {n.name: n for n in source.cluster.nodes}
        """The source's nodes when a change was last applied: what node changes are audited against."""

    def plan(self, book: JobBook) -> NodePlan | None:
        return plan_nodes(book, self.source, self.drained)

    def set_drained(self, name: str, drained: bool, book: JobBook, now: float) -> NodeRecord:
        """Persist a drain flag. Only a node the service has (or still lists) can be drained."""
        if name not in self._listed and name not in {n.name for n in book.cluster.nodes}:
            raise UnknownNodeError(name)
        record = self.store.set_drained(name, drained, now)
        self.drained = self.drained | {name} if drained else self.drained - {name}
        return record

    def applied(self, plan: NodePlan, now: float) -> None:
        """Persist the applied inventory (a node no longer listed is marked down) and audit each
        node the source added, reshaped or removed since the last change."""
        listed = {n.name: n for n in self.source.cluster.nodes}
        present = [
            NodeRecord(n.name, n.gpu_type, n.gpus, ids, True, now)
            for n, ids in zip(plan.inventory.cluster.nodes, plan.inventory.devices)
            if n.name in listed
        ]
        self.store.record_inventory(present, now)
        if self.audit is not None:
            for name, n in listed.items():
                if name not in self._listed:
                    self._audit("node-added", name, f"{n.gpus} {n.gpu_type} GPUs", now)
                elif self._listed[name] != n:
                    self._audit("node-changed", name, f"now {n.gpus} {n.gpu_type} GPUs", now)
            for name in self._listed.keys() - listed.keys():
                self._audit("node-removed", name, "left the inventory; jobs running there are stopped", now)
        self._listed = listed

    def _audit(self, action: str, node: str, reason: str, at: float) -> None:
        assert self.audit is not None
        self.audit.append(INVENTORY_ACTOR, action, f"node {node}", reason, {}, at)


class InventoryWatcher:
    """A thread that re-reads the inventory source every `period_s` and hands a changed inventory
    to `changed` (the loop's `set_inventory`). A source that fails to read (a half-written or
    invalid file) is logged once per distinct error and the service keeps its inventory."""

    def __init__(self, source: InventorySource, changed: Callable[[Inventory], None], period_s: float) -> None:
        self.source = source
        self.changed = changed
        self.period_s = period_s
        self.last_error: str | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.source.fixed:
            return
        self._thread = threading.Thread(target=self._run, name="kaon-inventory", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()

    def check(self) -> None:
        try:
            found = self.source.changed()
        except InventoryError as e:
            if str(e) != self.last_error:
                log.warning("inventory not re-read: %s", e)
            self.last_error = str(e)
            return
        self.last_error = None
        if found is not None:
            self.changed(found)

    def _run(self) -> None:
        while not self._halt.wait(self.period_s):
            self.check()

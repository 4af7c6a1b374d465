"""Wiring: the store, inventory, executor, book, policy and loop of one running service."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from kaon.executors.base import Executor
from kaon.executors.inventory import Inventory, InventorySource
from kaon.executors.local import LocalExecutor
from kaon.quota.quotas import load_quotas
from kaon.security.audit import AuditLog
from kaon.security.auth import load_or_create_secret
from kaon.security.crypto import resolve_cipher
from kaon.security.anomaly import SubmissionWatch
from kaon.service.book import JobBook
from kaon.service.holds import HoldKeeper, held_jobs
from kaon.service.loop import LoopConfig, SchedulerLoop
from kaon.service.nodes import InventoryWatcher, NodeKeeper, with_granted_nodes
from kaon.service.policy_host import PolicyHost
from kaon.service.principals import CachedTokens
from kaon.service.reconcile import Reconciled, reconcile
from kaon.service.settings import ServiceSettings
from kaon.store.nodes import NodeStore
from kaon.store.records import JobPhase, NodeRecord
from kaon.store.repo import JobStore


@dataclass
class Service:
    settings: ServiceSettings
    store: JobStore
    nodes: NodeStore
    executor: Executor
    loop: SchedulerLoop
    log_dir: Path
    audit: AuditLog
    tokens: CachedTokens | None
    """None in `--dev-no-auth` mode."""
    watcher: InventoryWatcher
    reconciled: Reconciled | None = None

    @property
    def inventory(self) -> Inventory:
        """The inventory as last read (it changes while the service runs: kaon.service.nodes)."""
        assert self.loop.nodes is not None
        return self.loop.nodes.source

    def start(self) -> None:
        """Reconcile with what is really running, then start scheduling."""
        with self.loop.locked() as book:
            self.reconciled = reconcile(
                self.store, self.executor, book, self.loop.host, time.time(), self.settings.grace_s
            )
            if self.loop.holds.restore(book, held_jobs(self.audit)):
                self.loop.host.rebuild(book)  # held jobs leave the policy's view
        self.loop.start()
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop()
        self.loop.stop()
        self.store.close()


def _watch(store: JobStore) -> SubmissionWatch:
    """Anomaly rules for holds, caught up with the recent history (failure streaks, bursts)."""
    watch = SubmissionWatch()
    watch.seed(store.list_jobs(limit=20000, newest_first=True)[0])
    return watch


def build_service(settings: ServiceSettings, executor: Executor | None = None) -> Service:
    source = InventorySource(settings.gpus, settings.gpu_type, settings.cluster)
    inventory = source.read()
    quotas = load_quotas(settings.quotas) if settings.quotas is not None else None
    if quotas is not None:
        quotas.bind(inventory.cluster)  # a GPU type the inventory lacks fails now, not at the first decision
    state = settings.resolved_state_dir()
    cipher = resolve_cipher(settings.key_file, settings.secret_key, settings.resolved_key_file())
    store = JobStore.open(settings.resolved_db_url(), cipher)
    audit = AuditLog(store.engine)
    tokens = None if settings.dev_no_auth else CachedTokens(store.engine, load_or_create_secret(settings.resolved_auth_secret_file()))
    nodes = NodeStore(store.engine)
    running, _ = store.list_jobs((JobPhase.RUNNING,), limit=2**62)
    # Before the rows are refreshed: a node that left while the service was down is still recorded.
    book_inventory = with_granted_nodes(inventory, (r.grant for r in running if r.grant is not None), nodes.all())
    now = time.time()
    nodes.record_inventory(
        [NodeRecord(n.name, n.gpu_type, n.gpus, ids, True, now) for n, ids in zip(inventory.cluster.nodes, inventory.devices)],
        now,
    )
    executor = executor or LocalExecutor(state / "runs", timeout_grace_s=settings.grace_s)
    loop = SchedulerLoop(
        store,
        executor,
        JobBook(book_inventory),
        PolicyHost(settings.policy, quotas),
        LoopConfig(grace_s=settings.grace_s, poll_interval_s=settings.poll_interval_s),
        audit=audit,
        nodes=NodeKeeper(inventory, nodes, audit),
        holds=HoldKeeper(audit, _watch(store) if settings.hold_anomalous else None),
    )
    watcher = InventoryWatcher(source, loop.set_inventory, settings.inventory_check_s)
    return Service(settings, store, nodes, executor, loop, state / "logs", audit, tokens, watcher)

"""The scheduling loop: the simulator's event loop on a wall clock, with real jobs.

One thread owns the `JobBook`, the policy and the executor. It wakes on events (a submission, a
cancel, a reload, a job that started or ended) or at the policy's `wake_at`, and then does what the
simulator's engine does at an event: apply the events, call the policy's hooks, ask it to decide,
and carry out its decision. Carrying out always persists first: the store says RUNNING (with the
grant) before the executor launches, and says "stop requested" before a signal is sent, so a
restart knows about everything that might have happened.

Process exits are noticed by polling the executor every `poll_interval_s`; decisions are only made
when something changed or the policy asked to be woken, never on a timer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass

from kaon.executors.base import Executor, ExecutorEvent, Failed, Started
from kaon.executors.inventory import Inventory
from kaon.service.book import JobBook
from kaon.service.holds import HoldKeeper
from kaon.service.nodes import NodeKeeper, rebuild_book
from kaon.service.outcomes import run_outcome, run_request
from kaon.security.audit import AuditEntry, AuditLog
from kaon.service.policy_host import PolicyHost
from kaon.sim.state import JobState
from kaon.store.records import JobPhase, JobRecord, NodeRecord, StopRequest
from kaon.store.repo import Change, JobStore, UnknownJobError

log = logging.getLogger(__name__)

SCHEDULER = "scheduler"
"""The audit actor of the loop's own decisions."""


@dataclass(frozen=True, slots=True)
class LoopConfig:
    grace_s: float = 10.0
    """Seconds between SIGTERM and SIGKILL when a job is cancelled or preempted."""
    poll_interval_s: float = 0.05
    """How often the executor is asked whether jobs exited."""


@dataclass(frozen=True, slots=True)
class _Submitted:
    records: tuple[JobRecord, ...]


@dataclass(frozen=True, slots=True)
class _Cancel:
    job_id: int
    done: Future


@dataclass(frozen=True, slots=True)
class _Release:
    job_id: int
    actor: str
    reason: str
    done: Future


@dataclass(frozen=True, slots=True)
class _Reload:
    spec: str | None
    done: Future


@dataclass(frozen=True, slots=True)
class _Inventory:
    inventory: Inventory


@dataclass(frozen=True, slots=True)
class _Drain:
    node: str
    drained: bool
    done: Future


class SchedulerLoop:
    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        book: JobBook,
        host: PolicyHost,
        config: LoopConfig = LoopConfig(),
        clock: Callable[[], float] = time.time,
        audit: AuditLog | None = None,
        nodes: NodeKeeper | None = None,
        holds: HoldKeeper | None = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.book = book
        self.host = host
        self.config = config
        self.clock = clock
        self.audit = audit
        """Every scheduling decision (start, preempt, cancel) is recorded here, actor `scheduler`."""
        self.nodes = nodes
        """Node changes (a re-read inventory, drains); None: the inventory is fixed."""
        self.holds = holds or HoldKeeper(audit)
        """Held jobs (`kaon.service.holds`); automatic holds only with a `SubmissionWatch`."""
        self.wake_at: float | None = None
        self.decisions = 0
        self.last_error: str | None = None
        self._dirty = True
        """Something changed since the last decision (set on the loop's thread only)."""
        self._unwritten: list[ExecutorEvent] = []
        """Executor events whose persisting failed (the database was unavailable): `poll()` gives
        each event once, so they are tried again at the next pass, ahead of newer ones."""
        self._cancelled_unadmitted: set[int] = set()
        """Jobs cancelled after their insert committed but before their `submitted` hand-off
        reached the loop: `_admit` must not queue them from the (stale, PENDING) insert record."""
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Run in a background thread. Call `kaon.service.reconcile.reconcile` first."""
        with self._lock:
            self._apply_nodes(self.clock())  # drains persisted before a restart
        self._thread = threading.Thread(target=self._run, name="kaon-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling; running jobs keep running and are adopted by the next start."""
        self._halt.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.executor.close()

    @contextmanager
    def locked(self) -> Iterator[JobBook]:
        """Consistent read access to the live book (for explain, nodes)."""
        with self._lock:
            yield self.book

    # --- requests from other threads ----------------------------------------------------------

    def submitted(self, records: Sequence[JobRecord]) -> None:
        """New jobs as the store returned them on insert. They are admitted from these records,
        not read back: a read per job made admitting a batch of 5,000 take seconds."""
        self._commands.put(_Submitted(tuple(records)))
        self._wake.set()

    def cancel(self, job_id: int, timeout_s: float = 30.0) -> JobRecord:
        done: Future = Future()
        self._commands.put(_Cancel(job_id, done))
        self._wake.set()
        return done.result(timeout_s)

    def release(self, job_id: int, actor: str, reason: str, timeout_s: float = 30.0) -> JobRecord:
        """Release a held job into the queue; `NotHeldError` if it is not held."""
        done: Future = Future()
        self._commands.put(_Release(job_id, actor, reason, done))
        self._wake.set()
        return done.result(timeout_s)

    def reload(self, spec: str | None = None, timeout_s: float = 30.0) -> str:
        """Re-create the policy (from `spec`, else the current spec), replaying the hooks."""
        done: Future = Future()
        self._commands.put(_Reload(spec, done))
        self._wake.set()
        return done.result(timeout_s)

    def set_inventory(self, inventory: Inventory) -> None:
        """The inventory as re-read (by the watcher thread); applied before the next decision."""
        self._commands.put(_Inventory(inventory))
        self._wake.set()

    def drain(self, node: str, drained: bool, timeout_s: float = 30.0) -> NodeRecord:
        """Drain (no new jobs; running ones finish) or undrain a node; persisted before applied."""
        done: Future = Future()
        self._commands.put(_Drain(node, drained, done))
        self._wake.set()
        return done.result(timeout_s)

    def request_reload(self) -> None:
        """Fire-and-forget reload, safe from a signal handler (SIGHUP)."""
        self._commands.put(_Reload(None, Future()))
        self._wake.set()

    # --- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._halt.is_set():
            self._wake.clear()  # what arrives from here on gets a cycle; what came before, this one
            self.cycle()
            timeout = self.config.poll_interval_s
            if self.wake_at is not None:
                timeout = min(timeout, max(0.0, self.wake_at - self.clock()))
            self._wake.wait(timeout)

    def cycle(self, decide: bool = False) -> None:
        """One pass of the loop: apply every command queued since the last pass (all the
        submissions that arrived meanwhile are admitted together), take the executor's events,
        and decide if anything changed, the policy's `wake_at` has come, or `decide` says so.
        Errors are logged and shown by /health; the next pass decides again."""
        try:
            with self._lock:
                self._dirty = self._commands_done() or self._dirty
                events, self._unwritten = [*self._unwritten, *self.executor.poll()], []
                ended = self._events_done(events)
                if ended and self.book.cordoned:  # a node waiting for its jobs may be free now
                    self._apply_nodes(self.clock())
                now = self.clock()
                if decide or ended or self._dirty or (self.wake_at is not None and now >= self.wake_at):
                    self._dirty = False  # a failed launch sets it again
                    self._decide(now)
            self.last_error = None
        except Exception as e:  # keep scheduling; the error is logged and shown by /health
            log.exception("scheduling loop error")
            self.last_error = f"{type(e).__name__}: {e}"
            self._dirty = True

    def _commands_done(self) -> bool:
        changed, rebuild, nodes = False, False, False
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                break
            changed = True
            if isinstance(cmd, _Submitted):
                self._admit(cmd.records)
            elif isinstance(cmd, _Cancel):
                try:
                    record, withdrawn = self._cancel(cmd.job_id)
                except Exception as e:
                    cmd.done.set_exception(e)
                    continue
                rebuild = rebuild or withdrawn
                cmd.done.set_result(record)
            elif isinstance(cmd, _Release):
                try:
                    job = self.holds.release(self.book, cmd.job_id, cmd.actor, cmd.reason, self.clock())
                except Exception as e:
                    cmd.done.set_exception(e)
                    continue
                self.host.policy.job_arrived(job, self.clock())
                cmd.done.set_result(self.book.records[job.index])
            elif isinstance(cmd, _Inventory):
                assert self.nodes is not None
                self.nodes.source, nodes = cmd.inventory, True
            elif isinstance(cmd, _Drain):
                try:
                    if self.nodes is None:
                        raise RuntimeError("this service does not manage node changes")
                    cmd.done.set_result(self.nodes.set_drained(cmd.node, cmd.drained, self.book, self.clock()))
                except Exception as e:
                    cmd.done.set_exception(e)
                    continue
                nodes = True
            else:
                try:
                    self.host.rebuild(self.book, cmd.spec)
                except Exception as e:
                    cmd.done.set_exception(e)
                    continue
                cmd.done.set_result(self.host.spec)
        if nodes and self._apply_nodes(self.clock()):
            rebuild = False  # the policy was rebuilt with the new book
        if rebuild:
            self.host.rebuild(self.book)
        return changed

    def _apply_nodes(self, now: float) -> bool:
        """Bring the book in line with the inventory and the drains (`kaon.service.nodes`): a new
        book and a rebuilt policy; jobs on a node that left the inventory are stopped."""
        if self.nodes is None:
            return False
        plan = self.nodes.plan(self.book)
        if plan is None:
            return False
        self.book = rebuild_book(self.book, plan)
        self.host.rebuild(self.book)
        self.nodes.applied(plan, now)
        for job_id in plan.lost:
            job = self.book.job(job_id)
            assert job is not None
            record = self.store.transition(
                job_id, JobPhase.RUNNING, now, "stopping: its node left the inventory", expect=JobPhase.RUNNING,
                stop_request=StopRequest.NODE_LOST,
            )  # fmt: skip
            self.book.records[job_id] = record
            self.book.mark_stopping(job, StopRequest.NODE_LOST)
            self._audit("stop", job_id, "its node left the inventory", now, grace_s=self.config.grace_s)
            self.executor.cancel(job_id, self.config.grace_s)
        return True

    def _admit(self, records: Sequence[JobRecord]) -> None:
        now = self.clock()
        for record in records:
            if record.state is not JobPhase.PENDING or record.id in self._cancelled_unadmitted:
                self._cancelled_unadmitted.discard(record.id)
                continue
            job = self.book.add(record)
            if job is not None and not self.holds.submitted(self.book, job, record, now):
                self.host.policy.job_arrived(job, now)

    def _cancel(self, job_id: int) -> tuple[JobRecord, bool]:
        """Cancel a job; the bool says it was withdrawn from the queue (the policy must forget it)."""
        now = self.clock()
        job = self.book.job(job_id)
        if job is None:
            record = self.store.get(job_id)
            if record is None:
                raise UnknownJobError(job_id)
            if record.state is JobPhase.PENDING:
                # Committed, but its hand-off to this loop is still on the way (a submit on another
                # thread): cancel it in the store now, and never admit it when the hand-off comes.
                record = self.store.transition(
                    job_id, JobPhase.CANCELLED, now, "cancelled while pending", expect=JobPhase.PENDING, end_time=now
                )
                self._cancelled_unadmitted.add(job_id)
                self._audit("cancel", job_id, "cancelled while pending", now)
            return record, False
        queued = job.job_id in self.book.pending
        if queued or job.index in self.book.held:
            record = self.store.transition(
                job_id, JobPhase.CANCELLED, now, "cancelled while pending", expect=JobPhase.PENDING, end_time=now
            )
            self.book.finish(job, now)
            self.holds.ended(record)
            self._audit("cancel", job_id, "cancelled while pending", now)
            return record, queued  # a held job was never the policy's to forget
        record = self.store.transition(
            job_id, JobPhase.RUNNING, now, "cancel requested", expect=JobPhase.RUNNING, stop_request=StopRequest.CANCEL
        )
        self.book.records[job_id] = record
        self.book.mark_stopping(job, StopRequest.CANCEL)
        self._audit("cancel", job_id, "cancel requested: SIGTERM, then SIGKILL after the grace period", now, grace_s=self.config.grace_s)
        self.executor.cancel(job_id, self.config.grace_s)
        return record, False

    def _audit(self, action: str, job_id: int, reason: str, at: float, **details: object) -> None:
        if self.audit is not None:
            self.audit.append(SCHEDULER, action, f"job {job_id}", reason, details, at)

    def _persist(self, changes: Sequence[Change], at: float, entries: Sequence[AuditEntry] = ()) -> list[JobRecord]:
        """Write a cycle's changes and their audit records in one transaction (`JobStore.apply`):
        both or neither, and one commit however many jobs the cycle touched."""
        audit = self.audit
        also = (lambda conn, _records: audit.write(conn, entries)) if audit is not None and entries else None
        return self.store.apply(changes, at, also=also)

    # --- decisions ----------------------------------------------------------------------------

    def _decide(self, now: float) -> None:
        """Ask the policy, persist everything it decided in one transaction, then act on it."""
        policy = self.host.policy
        if not (self.book.pending or policy.preemptive):
            self.wake_at = None
            return
        decision = policy.decide(self.book.view(now))
        self.decisions += 1
        wake = decision.wake_at
        self.wake_at = wake if wake is not None and wake > now else None
        preempts = self._preemptable(p.job for p in decision.preempts)
        starts = self.book.plan_starts((s.job, s.placement) for s in decision.starts)
        if not (preempts or starts):
            return
        changes, entries = [], []
        for job in preempts:
            changes.append(Change(self.book.records[job.index], {"stop_request": StopRequest.PREEMPT}, JobPhase.RUNNING, "preempting"))
            entries.append(self._entry("preempt", job.index, f"policy {self.host.spec}", now))
        for job, _, grant in starts:
            record = self.book.records[job.index]
            attempt = record.attempt + 1
            fields = {"grant": grant, "attempt": attempt, "start_time": now, "pid": None}
            detail = f"attempt {attempt} on {', '.join(grant.node_names)} GPUs {list(grant.devices)}"
            changes.append(Change(record, fields, JobPhase.RUNNING, detail))
            entries.append(
                self._entry(
                    "start", job.index, f"policy {self.host.spec}", now,
                    attempt=attempt, gpu_type=grant.gpu_type, nodes=list(grant.node_names), devices=list(grant.devices),
                )
            )  # fmt: skip
        records = self._persist(changes, now, entries)
        for job, record in zip(preempts, records):
            self.book.records[job.index] = record
            self.book.mark_stopping(job, StopRequest.PREEMPT)
            self.executor.preempt(job.index, self.config.grace_s)
        failed: list[ExecutorEvent] = []
        for (job, p, grant), record in zip(starts, records[len(preempts) :]):
            self.book.records[job.index] = record
            self.book.launch(job, p, grant, now)
            self.host.policy.job_started(job, now)
            try:
                self.executor.launch(run_request(record), grant)
            except Exception as e:  # noqa: BLE001 - any launch error is this attempt's failure
                log.exception("launch of job %s failed", job.index)
                failed.append(Failed(job.index, None, self.clock(), detail=f"cannot launch: {type(e).__name__}: {e}"))
        if failed:  # persisted as RUNNING: end those attempts now, not whenever a restart finds them
            self._events_done(failed)
            self._dirty = True  # their GPUs are free again

    def _preemptable(self, jobs: Iterable[JobState]) -> list[JobState]:
        out: dict[int, JobState] = {}
        for job in jobs:
            if job.job_id in self.book.running:
                out[job.index] = job
            else:
                log.debug("preempt of job %s ignored: not running", job.job_id)
        return list(out.values())

    @staticmethod
    def _entry(action: str, job_id: int, reason: str, at: float, **details: object) -> AuditEntry:
        return AuditEntry(SCHEDULER, action, f"job {job_id}", reason, details, at)

    # --- executor events ----------------------------------------------------------------------

    def _events_done(self, events: Sequence[ExecutorEvent]) -> bool:
        """Persist what the executor reported (pids, runs that ended) in one transaction, then
        apply it to the book and the policy."""
        if not events:
            return False
        now = self.clock()
        latest: dict[int, JobRecord] = {}
        ended: set[int] = set()
        changes: list[Change] = []
        jobs: list[JobState] = []
        for event in events:
            job = self.book.job(event.job_id)
            if job is None or job.index in ended:
                log.warning("event for a job the service does not track: %s", event)
                continue
            record = latest.get(job.index) or self.book.records[job.index]
            if isinstance(event, Started):
                change = Change(record, {"pid": event.pid})
            else:
                change = run_outcome(record, event, self.book.stop_reasons.get(job.index))
                ended.add(job.index)
            latest[job.index] = change.after()
            changes.append(change)
            jobs.append(job)
        try:
            records = self._persist(changes, now)
        except Exception:
            self._unwritten = [*events, *self._unwritten]  # polled once only: kept for the next pass
            raise
        for job, change, record in zip(jobs, changes, records):
            if change.to is None:
                self.book.records[job.index] = record
            elif change.to is JobPhase.PENDING:
                self.book.records[job.index] = record
                self.book.requeue(job, now)
                self.host.policy.job_preempted(job, now)
                if self.holds.requeued(self.book, job, record, now):
                    self.host.rebuild(self.book)  # the hooks have no "withdrawn": replay without it
            else:
                self.book.finish(job, now)
                self.host.finished(job, record, now)
                self.holds.ended(record)
        return bool(ended)

"""History export: completed jobs as a canonical trace that kaon's own reader reads back."""

from __future__ import annotations

from pathlib import Path

from kaon.store.history import export_history
from kaon.store.records import JobPhase, NewJob
from kaon.store.repo import JobStore
from kaon.traces.canonical import COLUMNS, read_canonical


def test_export_history_round_trips_completed_jobs(db_url: str, tmp_path: Path) -> None:
    url = db_url
    store = JobStore.open(url)
    jobs = store.add_jobs(
        [
            NewJob(("a",), 2, 100.0, name="train", user="ann", gpu_types=("v100", "a100"), queue="q", priority=2),
            NewJob(("b",), 1, 100.0),
            NewJob(("c",), 1, 100.0),
        ],
        at=1000.0,
        log_dir=tmp_path,
    )
    store.transition(jobs[0].id, JobPhase.COMPLETED, 1050.0, run_time_s=42.5)
    store.transition(jobs[1].id, JobPhase.FAILED, 1060.0, run_time_s=3.0)
    store.close()
    out = tmp_path / "history.csv"
    assert export_history(url, out) == 1
    assert out.read_text().splitlines()[0] == ",".join(COLUMNS)
    trace = read_canonical(out)
    [job] = trace.jobs
    assert (job.job_id, job.duration, job.num_gpus, job.queue) == (str(jobs[0].id), 42.5, 2, "q")
    assert (job.user, job.name, job.allowed_types, job.priority) == ("ann", "train", ("v100", "a100"), 2)
    assert trace.epoch is not None and trace.epoch.timestamp() == 1000.0


def test_export_history_of_empty_store(db_url: str, tmp_path: Path) -> None:
    url = db_url
    out = tmp_path / "h.csv"
    assert export_history(url, out) == 0
    assert out.read_text().strip() == ",".join(COLUMNS)

from __future__ import annotations

import csv
from pathlib import Path

from kaon.compare import ComparisonResult
from kaon.report.jobs_csv import COLUMNS, jobs_csv_name, write_jobs_csv


def test_one_row_per_job(tmp_path: Path, comparison: ComparisonResult) -> None:
    path = write_jobs_csv(tmp_path / "jobs.csv", comparison.runs[0].table)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS
    assert [r["job_id"] for r in rows] == ["a", "u", "b", "c", "d"]
    b = rows[2]
    assert (b["queue"], b["num_gpus"], b["submit_s"], b["first_start_s"], b["finish_s"]) == (
        "vc1", "2", "10.000", "100.000", "150.000",
    )  # fmt: skip
    assert (b["jct_s"], b["queue_s"], b["run_s"], b["preemptions"], b["slowdown"], b["status"]) == (
        "140.000", "90.000", "50.000", "0", "2.8000", "finished",
    )  # fmt: skip
    u = rows[1]
    assert (u["first_start_s"], u["finish_s"], u["jct_s"], u["slowdown"], u["status"]) == (
        "", "", "", "", "unschedulable",
    )  # fmt: skip


def test_file_names_are_portable() -> None:
    assert jobs_csv_name("fifo") == "jobs-fifo.csv"
    assert jobs_csv_name("tiresias:queues=3,thresholds=1;2") == "jobs-tiresias_queues_3_thresholds_1_2.csv"

"""Slurm `sacct --parsable2` reader: the bundled export, TRES parsing, skips and errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kaon.traces.base import TraceFormatError
from kaon.traces.slurm import gpu_tres, read_slurm

HEADER = "JobID|JobName|User|Partition|Submit|Start|End|Elapsed|State|AllocTRES|ReqTRES|Timelimit"
TIMES = "2024-01-01T00:00:00|2024-01-01T00:01:00|2024-01-01T01:01:00|01:00:00"
GOOD = f"10|train|ann|gpu|{TIMES}|COMPLETED|cpu=4,gres/gpu=2|cpu=4,gres/gpu=2|02:00:00"

OTHER = GOOD.replace("10|", "11|", 1)


def _write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    p = tmp_path / "sacct.txt"
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def test_bundled_sample(data_dir: Path) -> None:
    trace = read_slurm(data_dir / "traces" / "slurm-sample.txt")
    assert trace.format == "slurm"
    assert len(trace) == 31 and len(trace.skipped) == 9
    assert trace.epoch == datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
    jobs = {j.job_id: j for j in trace.jobs}
    first = jobs["81201"]
    assert (first.submit_time, first.duration, first.num_gpus, first.queue, first.user, first.name) == (
        0.0,
        5 * 3600 + 20 * 60 + 34,
        8,
        "gpu",
        "alice",
        "bert-pretrain",
    )
    assert first.allowed_types is None  # allocated on a100, but did not ask for it
    assert jobs["81202"].allowed_types == ("v100",)
    assert jobs["81204"].duration == 26 * 3600 + 3 * 60 + 4  # 1-02:03:04
    assert jobs["81210_3"].num_gpus == 1 and jobs["81210_3"].allowed_types == ("v100",)  # typed form only
    assert {f"81210_{i}" for i in range(1, 6)} <= set(jobs)
    assert {j.queue for j in trace.jobs} == {"gpu", "gpu-long", "debug"}
    reasons = [s.split(": ", 1)[1] for s in trace.skipped]
    assert reasons.count("no GPUs in AllocTRES/ReqTRES") == 3
    assert reasons.count("job not finished (state RUNNING)") == 3
    assert reasons.count("job not finished (state PENDING)") == 2
    assert reasons.count("job never ran (zero length, state CANCELLED)") == 1


@pytest.mark.parametrize(
    ("tres", "expected"),
    [
        ("cpu=8,gres/gpu=4,mem=64G", (4, ())),
        ("cpu=8,gres/gpu:v100=4,mem=64G", (4, ("v100",))),
        ("billing=8,cpu=8,gres/gpu:V100=4,gres/gpu=4,mem=64G,node=1", (4, ("v100",))),
        ("gres/gpu:a100=2,gres/gpu:v100=2", (4, ("a100", "v100"))),
        ("cpu=8,mem=64G", (0, ())),
        ("", (0, ())),
    ],
)
def test_gpu_tres(tres: str, expected: tuple[int, tuple[str, ...]]) -> None:
    assert gpu_tres(tres) == expected


def test_elapsed_forms_and_end_minus_start(tmp_path: Path) -> None:
    rows = [
        GOOD,
        GOOD.replace("10|", "11|", 1).replace("01:00:00|COMPLETED", "2-00:00:01|COMPLETED"),
        GOOD.replace("10|", "12|", 1).replace("01:00:00|COMPLETED", "05:30|COMPLETED"),
        GOOD.replace("10|", "13|", 1).replace("01:00:00|COMPLETED", "|TIMEOUT"),
    ]
    trace = read_slurm(_write(tmp_path, *rows))
    assert [j.duration for j in trace.jobs] == [3600.0, 2 * 86400 + 1.0, 330.0, 3600.0]


def test_job_steps_are_ignored(tmp_path: Path) -> None:
    step = f"10.batch|batch|||{TIMES}|COMPLETED|cpu=4,gres/gpu=2||"
    trace = read_slurm(_write(tmp_path, GOOD, step, step.replace("10.batch", "10.0")))
    assert [j.job_id for j in trace.jobs] == ["10"] and trace.skipped == ()


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (OTHER.replace("2024-01-01T00:00:00", "yesterday"), "Submit"),
        (OTHER.replace("01:00:00|COMPLETED", "1h|COMPLETED"), "Elapsed"),
        (OTHER.replace("cpu=4,gres/gpu=2|cpu", "cpu=4,gres/gpu=two|cpu"), "AllocTRES"),
        (OTHER.replace("COMPLETED", ""), "State"),
        (OTHER.replace("01:00:00|COMPLETED", "|COMPLETED").replace("T01:01:00", "T00:00:30"), "End"),
        (GOOD, "JobID"),
    ],
)
def test_bad_rows_name_file_line_field(tmp_path: Path, row: str, field: str) -> None:
    p = _write(tmp_path, GOOD, row)
    with pytest.raises(TraceFormatError) as e:
        read_slurm(p)
    assert (e.value.path, e.value.line, e.value.field) == (str(p), 3, field)
    assert f"{p}:3: field {field!r}" in str(e.value)


def test_missing_columns(tmp_path: Path) -> None:
    p = _write(tmp_path, "10|2024-01-01T00:00:00|COMPLETED", header="JobID|Submit|State")
    with pytest.raises(TraceFormatError) as e:
        read_slurm(p)
    assert (e.value.line, e.value.field) == (1, "Elapsed")


def test_skip_bad(tmp_path: Path) -> None:
    p = _write(tmp_path, GOOD, OTHER.replace("2024-01-01T00:00:00", "soon"))
    trace = read_slurm(p, skip_bad=True)
    assert [j.job_id for j in trace.jobs] == ["10"]
    assert len(trace.skipped) == 1 and trace.skipped[0].startswith(f"{p}:3: field 'Submit'")

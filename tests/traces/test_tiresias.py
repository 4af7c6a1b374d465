"""Tiresias CSV reader: the bundled 60-job trace and malformed rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaon.traces.base import TraceFormatError
from kaon.traces.tiresias import read_tiresias

HEADER = "job_id,num_gpu,submit_time,iterations,model_name,duration,interval"


def _write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    p = tmp_path / "t.csv"
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def test_bundled_60_jobs(data_dir: Path) -> None:
    trace = read_tiresias(data_dir / "traces" / "tiresias-60job.csv")
    assert trace.format == "tiresias" and len(trace) == 60 and trace.skipped == ()
    first = trace.jobs[0]
    assert (first.job_id, first.num_gpus, first.submit_time, first.duration, first.job_type) == (
        "0",
        1,
        0.0,
        164.0,
        "vgg19",
    )
    assert trace.jobs[1].num_gpus == 8 and trace.jobs[1].submit_time == 30.0


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("1,two,0,10,vgg19,100,0", "num_gpu"),
        ("1,1,-5,10,vgg19,100,0", "submit_time"),
        ("1,1,0,10,vgg19,0,0", "duration"),
        ("0,1,0,10,vgg19,100,0", "job_id"),
    ],
)
def test_bad_rows_name_file_line_field(tmp_path: Path, row: str, field: str) -> None:
    p = _write(tmp_path, "0,1,0,10,vgg19,100,0", row)
    with pytest.raises(TraceFormatError) as e:
        read_tiresias(p)
    assert (e.value.path, e.value.line, e.value.field) == (str(p), 3, field)


def test_missing_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "0,1,0,10,vgg19,0", header="job_id,num_gpu,submit_time,iterations,model_name,interval")
    with pytest.raises(TraceFormatError) as e:
        read_tiresias(p)
    assert (e.value.line, e.value.field) == (1, "duration")


def test_skip_bad(tmp_path: Path) -> None:
    p = _write(tmp_path, "0,1,0,10,vgg19,100,0", "1,x,0,10,vgg19,100,0", "2,2,9,10,,50,0")
    trace = read_tiresias(p, skip_bad=True)
    assert [j.job_id for j in trace.jobs] == ["0", "2"]
    assert trace.jobs[1].job_type is None
    assert len(trace.skipped) == 1 and trace.skipped[0].startswith(f"{p}:3: field 'num_gpu'")

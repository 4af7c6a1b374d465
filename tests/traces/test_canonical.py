"""kaon's canonical CSV: both submit-time forms, optional columns, errors, and a lossless round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kaon.core.job import JobSpec, Trace
from kaon.traces.base import TraceFormatError
from kaon.traces.canonical import read_canonical, write_canonical

HEADER = "job_id,submit_time,duration,num_gpus,queue,job_type,user,name,allowed_types,priority"


def _write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    p = tmp_path / "jobs.csv"
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def test_seconds_and_optional_fields(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "a,10,100,2,prod,ResNet-50 (batch size 64),ann,train-1,v100;p100,3",
        "b,0,50.5,1,,,,,,",
    )
    trace = read_canonical(p)
    assert trace.epoch is None and trace.format == "canonical"
    b, a = trace.jobs
    assert a == JobSpec("a", 10.0, 100.0, 2, "prod", "ResNet-50 (batch size 64)", "ann", "train-1", ("v100", "p100"), 3)
    assert b == JobSpec("b", 0.0, 50.5, 1)


def test_required_columns_only(tmp_path: Path) -> None:
    p = _write(tmp_path, "x,5,60,4", header="job_id,submit_time,duration,num_gpus")
    assert read_canonical(p).jobs == (JobSpec("x", 5.0, 60.0, 4),)


def test_iso_dates_set_the_epoch(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "a,2024-05-01T10:00:30,100,1,,,,,,",
        "b,2024-05-01 10:00:00,100,1,,,,,,",
        "c,2024-05-01T12:00:00+02:00,100,1,,,,,,",
    )
    trace = read_canonical(p)
    assert trace.epoch == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert [(j.job_id, j.submit_time) for j in trace.jobs] == [("b", 0.0), ("c", 0.0), ("a", 30.0)]


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        (("a,10,100,1", "b,2024-05-01,100,1"), "submit_time"),
        (("a,2024-05-01,100,1", "b,10,100,1"), "submit_time"),
        (("a,10,100,1", "b,10,-1,1"), "duration"),
        (("a,10,100,1", "b,10,100,1.5"), "num_gpus"),
        (("a,10,100,1", "a,10,100,1"), "job_id"),
        (("a,10,100,1", "b,2024-13-01,100,1"), "submit_time"),
    ],
)
def test_bad_rows_name_file_line_field(tmp_path: Path, rows: tuple[str, str], field: str) -> None:
    p = _write(tmp_path, *rows, header="job_id,submit_time,duration,num_gpus")
    with pytest.raises(TraceFormatError) as e:
        read_canonical(p)
    assert (e.value.path, e.value.line, e.value.field) == (str(p), 3, field)


def test_bad_priority(tmp_path: Path) -> None:
    p = _write(tmp_path, "a,10,100,1,,,,,,high")
    with pytest.raises(TraceFormatError) as e:
        read_canonical(p)
    assert (e.value.line, e.value.field) == (2, "priority")


def test_missing_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "a,10,1", header="job_id,submit_time,num_gpus")
    with pytest.raises(TraceFormatError) as e:
        read_canonical(p)
    assert (e.value.line, e.value.field) == (1, "duration")


def test_first_good_row_decides_the_kind(tmp_path: Path) -> None:
    p = _write(tmp_path, "a,garbage,100,1", "b,10,100,1", header="job_id,submit_time,duration,num_gpus")
    trace = read_canonical(p, skip_bad=True)
    assert [j.job_id for j in trace.jobs] == ["b"]
    assert len(trace.skipped) == 1 and trace.skipped[0].startswith(f"{p}:2: field 'submit_time'")


@pytest.mark.parametrize("epoch", [None, datetime(2017, 9, 4, 10, 30, 41, tzinfo=UTC)])
def test_round_trip(tmp_path: Path, epoch: datetime | None) -> None:
    jobs = (
        JobSpec("j1", 0.0, 3600.0, 8, "vc1", "LM (batch size 20)", "ann", "lm", ("v100",), 2),
        JobSpec("j2", 12.5, 0.25, 1),
        JobSpec("j,3", 99.0, 7.0, 2, "vc2", None, None, 'quote "me"', ("k80", "p100"), -1),
    )
    trace = Trace(jobs, "mem", "test", epoch)
    path = tmp_path / "out.csv"
    write_canonical(trace, path)
    back = read_canonical(path)
    assert back.jobs == jobs
    assert back.epoch == epoch

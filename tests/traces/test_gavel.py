"""Gavel `.trace` reader: bundled Philly-derived sample, durations from the throughput table, errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from kaon.core.throughput import load_throughput_table
from kaon.traces.base import TraceFormatError
from kaon.traces.gavel import read_gavel

CMD = "cd %s/x && python3 train.py"


def _line(
    job_type: str = "ResNet-18 (batch size 64)", steps: str = "1000", arrival: str = "5.0", scale: str = "1"
) -> str:
    return "\t".join([job_type, CMD, "--num_steps", "1", steps, arrival, scale])


def _write(tmp_path: Path, *lines: str) -> Path:
    p = tmp_path / "t.trace"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_bundled_sample(data_dir: Path) -> None:
    path = data_dir / "traces" / "gavel-msr-2869ce.trace.gz"
    trace = read_gavel(path)
    assert trace.format == "gavel" and len(trace) == 533 and trace.skipped == ()
    assert trace.epoch is None
    table = load_throughput_table()
    with gzip.open(path, "rt") as f:
        first = f.readline().rstrip("\n").split("\t")
    job = next(j for j in trace.jobs if j.job_id == "gavel-1")
    assert job.job_type == first[0]
    assert job.num_gpus == int(first[6])
    assert job.duration == pytest.approx(int(first[4]) / table.throughput("v100", first[0], int(first[6])))
    assert {j.job_type for j in trace.jobs} <= set(table.job_types)
    assert max(j.num_gpus for j in trace.jobs) == 32


def test_duration_is_steps_over_v100_throughput(tmp_path: Path) -> None:
    table = load_throughput_table()
    rate = table.throughput("v100", "ResNet-18 (batch size 64)", 4)
    trace = read_gavel(_write(tmp_path, _line(steps="5000", scale="4")))
    (job,) = trace.jobs
    assert job.duration == pytest.approx(5000 / rate)
    assert job.submit_time == 5.0 and job.num_gpus == 4


def test_unmeasured_scale_uses_largest_below(tmp_path: Path) -> None:
    table = load_throughput_table()
    (job,) = read_gavel(_write(tmp_path, _line(scale="16"))).jobs
    assert job.duration == pytest.approx(1000 / table.throughput("v100", "ResNet-18 (batch size 64)", 8))


def test_unknown_job_type_names_file_line_field(tmp_path: Path) -> None:
    p = _write(tmp_path, _line(), _line(job_type="GPT-5 (batch size 1)"))
    with pytest.raises(TraceFormatError) as e:
        read_gavel(p)
    assert (e.value.path, e.value.line, e.value.field) == (str(p), 2, "job_type")
    assert str(p) in str(e.value) and ":2:" in str(e.value)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (_line(steps="many"), "total_steps"),
        (_line(arrival="-3"), "arrival_time_s"),
        (_line(scale="0"), "scale_factor"),
        ("\t".join(["A3C", CMD, "--n", "1", "100"]), "arrival_time_s"),
    ],
)
def test_bad_rows(tmp_path: Path, line: str, field: str) -> None:
    p = _write(tmp_path, _line(), line)
    with pytest.raises(TraceFormatError) as e:
        read_gavel(p)
    assert (e.value.line, e.value.field) == (2, field)
    assert f"{p}:2: field {field!r}" in str(e.value)


def test_skip_bad_records_each_row(tmp_path: Path) -> None:
    p = _write(tmp_path, _line(), _line(steps="x"), _line(arrival="1"), _line(job_type="nope"))
    trace = read_gavel(p, skip_bad=True)
    assert len(trace) == 2
    assert len(trace.skipped) == 2
    assert trace.skipped[0].startswith(f"{p}:2: field 'total_steps'")
    assert trace.skipped[1].startswith(f"{p}:4: field 'job_type'")

"""Format detection and `read_trace` over every bundled sample."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from kaon.traces.formats import READERS, SUMMARIES, UnknownFormatError, detect_format, read_trace

SAMPLES = {
    "philly-2017-09-10.csv.gz": "philly",
    "gavel-msr-2869ce.trace.gz": "gavel",
    "tiresias-60job.csv": "tiresias",
    "alibaba-2023-pods-1000.csv": "alibaba",
    "slurm-sample.txt": "slurm",
}


@pytest.mark.parametrize(("name", "fmt"), sorted(SAMPLES.items()))
def test_bundled_samples_are_detected(data_dir: Path, name: str, fmt: str) -> None:
    assert detect_format(data_dir / "traces" / name) == fmt


def test_canonical_detected(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text("job_id,submit_time,duration,num_gpus\na,0,1,1\n")
    assert detect_format(p) == "canonical"
    assert len(read_trace(p)) == 1


def test_plain_trace_suffix_is_gavel(tmp_path: Path, data_dir: Path) -> None:
    p = tmp_path / "vc.trace"
    with gzip.open(data_dir / "traces" / "gavel-msr-2869ce.trace.gz", "rb") as src, p.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    assert detect_format(p) == "gavel"
    assert len(read_trace(p)) == 533


def test_unknown_header(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(UnknownFormatError, match="pass --format"):
        detect_format(p)


def test_explicit_format_and_unknown_name(data_dir: Path) -> None:
    path = data_dir / "traces" / "tiresias-60job.csv"
    assert read_trace(path, "tiresias").format == "tiresias"
    with pytest.raises(UnknownFormatError, match="unknown trace format"):
        read_trace(path, "nope")


def test_every_format_has_a_summary() -> None:
    assert set(SUMMARIES) == set(READERS)


def test_a_bundled_trace_is_found_by_its_file_name(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from kaon.traces.formats import read_trace, resolve_trace_path

    monkeypatch.chdir(tmp_path)
    assert resolve_trace_path("tiresias-60job.csv").is_file()
    assert len(read_trace("tiresias-60job.csv")) == 60
    assert resolve_trace_path("sub/tiresias-60job.csv").as_posix() == "sub/tiresias-60job.csv"  # a path stays a path

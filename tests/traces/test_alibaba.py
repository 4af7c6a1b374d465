"""Alibaba 2023 pod-list reader, and the bundled cluster it runs on."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaon.core.cluster import load_cluster
from kaon.traces.alibaba import allowed_types, read_alibaba
from kaon.traces.base import TraceFormatError

HEADER = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time"


def _write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    p = tmp_path / "pods.csv"
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def test_bundled_sample(data_dir: Path) -> None:
    trace = read_alibaba(data_dir / "traces" / "alibaba-2023-pods-1000.csv")
    assert trace.format == "alibaba"
    assert len(trace) + len(trace.skipped) == 1000
    assert len(trace) == 884
    assert len(trace.skipped) == 116
    assert all(s.endswith("CPU-only pod (num_gpu=0)") for s in trace.skipped)
    first = trace.jobs[0]
    assert (first.job_id, first.submit_time, first.duration, first.num_gpus, first.queue) == (
        "openb-pod-0000",
        0.0,
        12537496.0,
        1,
        "LS",
    )
    assert {j.queue for j in trace.jobs} == {"LS", "BE", "Burstable", "Guaranteed"}


def test_durations_fractions_and_specs(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "p0,1000,100,1,1000,V100M16|V100M32,LS,Running,10,110,20",
        "p1,1000,100,1,250,,BE,Succeeded,30,90,35",
        "p2,1000,100,0,0,,LS,Running,40,100,41",
        "p3,1000,100,2,1000,T4,BE,Pending,50,80,",
        "p4,1000,100,1,1000,,BE,Failed,60,60,60",
    )
    trace = read_alibaba(p)
    jobs = {j.job_id: j for j in trace.jobs}
    assert set(jobs) == {"p0", "p1", "p3"}
    assert jobs["p0"].duration == 90 and jobs["p0"].allowed_types == ("v100m16", "v100m32")
    assert jobs["p1"].num_gpus == 1 and jobs["p1"].duration == 55 and jobs["p1"].allowed_types is None
    assert jobs["p3"].duration == 30 and jobs["p3"].num_gpus == 2 and jobs["p3"].allowed_types == ("t4",)
    assert trace.skipped == (
        f"{p}:4: CPU-only pod (num_gpu=0)",
        f"{p}:6: Failed pod with no positive runtime (deletion_time <= scheduled_time)",
    )


def test_skipped_rows_are_recorded_without_skip_bad(tmp_path: Path) -> None:
    p = _write(tmp_path, "p0,1000,100,0,0,,LS,Running,0,10,0")
    trace = read_alibaba(p, skip_bad=False)
    assert len(trace) == 0 and len(trace.skipped) == 1


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("p1,1000,100,one,1000,,LS,Running,0,10,0", "num_gpu"),
        ("p1,1000,100,1,1500,,LS,Running,0,10,0", "gpu_milli"),
        ("p1,1000,100,1,1000,,LS,Running,yesterday,10,0", "creation_time"),
        ("p1,1000,100,1,1000,,LS,Running,0,,0", "deletion_time"),
        ("p0,1000,100,1,1000,,LS,Running,0,10,0", "name"),
    ],
)
def test_bad_rows_name_file_line_field(tmp_path: Path, row: str, field: str) -> None:
    p = _write(tmp_path, "p0,1000,100,1,1000,,LS,Running,0,10,0", row)
    with pytest.raises(TraceFormatError) as e:
        read_alibaba(p)
    assert (e.value.path, e.value.line, e.value.field) == (str(p), 3, field)
    assert f"{p}:3: field {field!r}" in str(e.value)


def test_missing_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "p0,1,1,1,1000,,LS,Running,0,10", header=HEADER.rsplit(",", 1)[0])
    with pytest.raises(TraceFormatError) as e:
        read_alibaba(p)
    assert (e.value.line, e.value.field) == (1, "scheduled_time")


def test_skip_bad_keeps_reasons(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "p0,1,1,1,1000,,LS,Running,0,10,0",
        "p1,1,1,x,1000,,LS,Running,0,10,0",
        "p2,1,1,0,0,,LS,Running,0,10,0",
    )
    trace = read_alibaba(p, skip_bad=True)
    assert len(trace) == 1
    assert len(trace.skipped) == 2
    assert trace.skipped[0].startswith(f"{p}:3: field 'num_gpu'")
    assert trace.skipped[1] == f"{p}:4: CPU-only pod (num_gpu=0)"


def test_allowed_types_parsing() -> None:
    assert allowed_types("") is None
    assert allowed_types("V100M16|V100M32|V100M16") == ("v100m16", "v100m32")


def test_bundled_cluster_matches_node_list() -> None:
    cluster = load_cluster("alibaba-2023")
    assert len(cluster.gpu_types) == 7
    assert cluster.total_gpus == 6212
    assert len(cluster.nodes) == 1213
    per_type = dict(zip(cluster.type_names, cluster.gpus_per_type().tolist()))
    assert per_type == {"v100m16": 195, "v100m32": 204, "p100": 265, "t4": 842, "a10": 2, "g2": 4392, "g3": 312}
    assert cluster.reference_type == "v100m16"
    assert allowed_types("V100M16|V100M32|P100|T4|A10|G2|G3") == cluster.type_names

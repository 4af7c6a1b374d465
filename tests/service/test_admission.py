"""Submit-time admission: requests the cluster can never run are refused with the field, as 409."""

from __future__ import annotations

import pytest

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.service.admission import CONFLICT, AdmissionError, admit
from kaon.service.schemas import JobCreate

CLUSTER = ClusterSpec(
    "c", (GpuType("v100"), GpuType("k80")), (NodeSpec("a", "v100", 4), NodeSpec("b", "v100", 4), NodeSpec("c", "k80", 2)), "v100"
)


def test_types_are_matched_without_case_and_the_default_limit_applies() -> None:
    job = admit(JobCreate(command=["true"], gpus=2, gpu_types=[" V100", "v100", "K80"]), CLUSTER, 3600.0)
    assert job.gpu_types == ("v100", "k80") and job.time_limit_s == 3600.0
    assert admit(JobCreate(command=["true"], time_limit_s=60), CLUSTER, 3600.0).time_limit_s == 60


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (JobCreate(command=["true"], gpu_types=["h100"]), "gpu_types", "unknown GPU type(s) ['h100']"),
        (JobCreate(command=["true"], gpus=9), "gpus", "the most is 8 v100"),
        (JobCreate(command=["true"], gpus=3, gpu_types=["k80"]), "gpus", "the most is 2 k80"),
    ],
)
def test_what_no_node_could_run_is_a_conflict_naming_the_field(body: JobCreate, field: str, message: str) -> None:
    with pytest.raises(AdmissionError) as err:
        admit(body, CLUSTER, 3600.0)
    assert err.value.status == CONFLICT and err.value.field == field and message in err.value.message

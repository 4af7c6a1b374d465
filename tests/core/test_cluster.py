from pathlib import Path

import numpy as np
import pytest

from kaon.core.cluster import ClusterSpecError, load_cluster, parse_cluster


def test_bundled_homogeneous_cluster() -> None:
    c = load_cluster("v100-homogeneous")
    assert c.type_names == ("v100",)
    assert c.total_gpus == 512
    assert c.nodes_of_type[0].size == 64


def test_bundled_heterogeneous_cluster() -> None:
    c = load_cluster("gavel-hetero")
    assert c.type_names == ("v100", "p100", "k80")
    assert c.gpus_per_type().tolist() == [160, 160, 160]


def test_scaled_keeps_shape() -> None:
    c = load_cluster("gavel-hetero").scaled(0.5)
    assert c.gpus_per_type().tolist() == [80, 80, 80]
    assert load_cluster("gavel-hetero").scaled(0.001).gpus_per_type().tolist() == [4, 4, 4]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"gpu_types": {"v100": {}}}, "field 'nodes'"),
        ({"nodes": [{"type": "v100", "gpus": 8}]}, "field 'gpu_types'"),
        ({"gpu_types": {"v100": {}}, "nodes": [{"type": "v100"}]}, "nodes[0]: missing field 'gpus'"),
        ({"gpu_types": {"v100": {}}, "nodes": [{"type": "v100", "gpus": "eight"}]}, "field 'gpus' must be int"),
        ({"gpu_types": {"v100": {}}, "nodes": [{"type": "a100", "gpus": 8}]}, "unknown gpu type 'a100'"),
        ({"gpu_types": {"v100": {"speed": -1}}, "nodes": [{"type": "v100", "gpus": 8}]}, "speed must be > 0"),
    ],
)
def test_bad_specs_name_the_field(doc: dict, message: str) -> None:
    with pytest.raises(ClusterSpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_cluster(doc, "spec.yaml")


def test_missing_file_lists_bundled(tmp_path: Path) -> None:
    with pytest.raises(ClusterSpecError, match="gavel-hetero"):
        load_cluster(tmp_path / "nope.yaml")


def test_invalid_yaml_names_file(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: [unclosed")
    with pytest.raises(ClusterSpecError, match="c.yaml: not valid YAML"):
        load_cluster(p)


def test_arrays_follow_type_order() -> None:
    doc = {
        "gpu_types": {"a": {}, "b": {"speed": 0.5}},
        "nodes": [{"type": "b", "gpus": 2, "count": 2}, {"type": "a", "gpus": 8}],
    }
    c = parse_cluster(doc, "x")
    assert c.node_type.tolist() == [1, 1, 0]
    assert np.array_equal(c.nodes_of_type[0], [2])
    assert c.reference_type == "a"

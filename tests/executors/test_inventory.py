"""GPU inventories: configured, from a cluster spec, and NVML device-name parsing."""

from __future__ import annotations

import pytest

from pathlib import Path

from kaon.executors.inventory import InventoryError, InventorySource, configured, from_cluster, gpu_model, resolve_inventory


def test_configured_inventory_is_one_node() -> None:
    inv = configured(4, "V100")
    assert inv.cluster.type_names == ("v100",)
    assert inv.cluster.total_gpus == 4
    assert inv.devices == ((0, 1, 2, 3),)


def test_cluster_spec_nodes_get_consecutive_device_ids(tiny_cluster) -> None:  # noqa: ANN001
    inv = from_cluster(tiny_cluster(nodes=2, gpus=2, types=("fast", "slow")), "spec")
    assert inv.devices == ((0, 1), (2, 3), (4, 5), (6, 7))


def test_resolve_bundled_cluster_and_errors() -> None:
    inv = resolve_inventory(cluster="gavel-hetero")
    assert sum(len(d) for d in inv.devices) == inv.cluster.total_gpus
    with pytest.raises(InventoryError, match="not both"):
        resolve_inventory(gpus=2, cluster="gavel-hetero")
    with pytest.raises(InventoryError, match="no such file"):
        resolve_inventory(cluster="no-such-cluster")
    with pytest.raises(InventoryError, match="needs --gpus"):
        resolve_inventory(gpu_type="v100")
    with pytest.raises(InventoryError, match=">= 1"):
        resolve_inventory(gpus=0, gpu_type="v100")


@pytest.mark.parametrize(
    ("raw", "model"),
    [
        ("NVIDIA A100-SXM4-80GB", "a100"),
        ("Tesla V100-SXM2-16GB", "v100"),
        ("NVIDIA H100 80GB HBM3", "h100"),
        ("Tesla K80", "k80"),
        ("NVIDIA GeForce RTX 4090", "rtx4090"),
    ],
)
def test_gpu_model_names(raw: str, model: str) -> None:
    assert gpu_model(raw) == model


def test_nvml_detection_groups_devices_by_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """NVML is faked (no GPU here): two A100s and one V100 become two nodes with their indices."""
    import types

    names = [b"NVIDIA A100-SXM4-80GB", "Tesla V100-SXM2-16GB", b"NVIDIA A100-SXM4-80GB"]
    fake = types.ModuleType("pynvml")
    fake.NVMLError = RuntimeError  # type: ignore[attr-defined]
    fake.nvmlInit = lambda: None  # type: ignore[attr-defined]
    fake.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: len(names)  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetName = lambda h: names[h]  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "pynvml", fake)
    inv = resolve_inventory()
    assert inv.source == "nvml"
    assert inv.cluster.type_names == ("a100", "v100")
    assert inv.devices == ((0, 2), (1,))


def test_no_nvml_and_no_configuration_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)
    with pytest.raises(InventoryError, match="--gpus N --gpu-type T"):
        resolve_inventory()


SPEC = "gpu_types: {v100: {}}\nnodes:\n  - {type: v100, count: 2, gpus: 2}\n"


def test_source_rereads_a_changed_cluster_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SPEC)
    source = InventorySource(cluster=str(path))
    assert [n.name for n in source.read().cluster.nodes] == ["v100-0000", "v100-0001"]
    assert source.changed() is None
    path.with_suffix(".new").write_text(SPEC + "  - {type: v100, gpus: 4, name: big}\n")
    path.with_suffix(".new").replace(path)
    grown = source.changed()
    assert grown is not None and grown.devices == ((0, 1), (2, 3), (4, 5, 6, 7))
    assert source.changed() is None
    path.with_suffix(".new").write_text("nodes: [")
    path.with_suffix(".new").replace(path)
    with pytest.raises(InventoryError, match="c.yaml"):
        source.changed()


def test_fixed_inventory_never_changes() -> None:
    source = InventorySource(gpus=2, gpu_type="v100")
    assert source.fixed and source.read().cluster.total_gpus == 2 and source.changed() is None

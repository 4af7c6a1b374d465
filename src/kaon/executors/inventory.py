"""Which GPUs this host offers: detected through NVML, or configured, so kaon runs without GPUs.

An `Inventory` is a `ClusterSpec` (what policies and placement reason about) plus the concrete
device ids of every node's GPUs (what CUDA_VISIBLE_DEVICES names). On one host, the nodes of a
cluster spec are groups of this host's devices, numbered consecutively in spec order, so a
workstation with two GPU models is a two-node heterogeneous cluster.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

from kaon.core.cluster import ClusterSpec, ClusterSpecError, GpuType, NodeSpec, load_cluster


class InventoryError(ValueError):
    """No GPUs could be found or configured; the message says what to pass instead."""


@dataclass(frozen=True)
class Inventory:
    cluster: ClusterSpec
    devices: tuple[tuple[int, ...], ...]
    source: str

    def __post_init__(self) -> None:
        if len(self.devices) != len(self.cluster.nodes):
            raise InventoryError(f"{self.source}: {len(self.devices)} device groups for {len(self.cluster.nodes)} nodes")
        for node, ids in zip(self.cluster.nodes, self.devices):
            if len(ids) != node.gpus:
                raise InventoryError(f"{self.source}: node {node.name} has {node.gpus} GPUs but {len(ids)} device ids")


def from_cluster(cluster: ClusterSpec, source: str) -> Inventory:
    """Device ids 0..N-1 handed out to the nodes in spec order."""
    devices, next_id = [], 0
    for node in cluster.nodes:
        devices.append(tuple(range(next_id, next_id + node.gpus)))
        next_id += node.gpus
    return Inventory(cluster, tuple(devices), source)


def configured(gpus: int, gpu_type: str) -> Inventory:
    """`--gpus N --gpu-type T`: one node of N GPUs of type T."""
    if gpus < 1:
        raise InventoryError(f"--gpus must be >= 1, got {gpus}")
    name = gpu_type.strip().lower()
    if not name:
        raise InventoryError("--gpu-type must not be empty")
    host = socket.gethostname() or "localhost"
    cluster = ClusterSpec(f"{host}", (GpuType(name),), (NodeSpec(f"{host}-{name}", name, gpus),), name)
    return from_cluster(cluster, f"--gpus {gpus} --gpu-type {name}")


def gpu_model(name: str) -> str:
    """A short GPU type name from an NVML device name: 'NVIDIA A100-SXM4-80GB' -> 'a100',
    'Tesla V100-SXM2-16GB' -> 'v100', 'NVIDIA GeForce RTX 4090' -> 'rtx4090'."""
    words = re.sub(r"^(nvidia|tesla|geforce|quadro)\s+", "", name.strip().lower())
    words = re.sub(r"^(nvidia|tesla|geforce|quadro)\s+", "", words)
    head = re.split(r"[-\s]", words, maxsplit=1)
    if head[0] in {"rtx", "gtx"} and len(head) > 1:
        return head[0] + re.split(r"[-\s]", head[1])[0]
    return head[0] or "gpu"


def detect_nvml() -> Inventory | None:
    """This host's GPUs grouped by model, one node per model; None without NVML or GPUs."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        by_model: dict[str, list[int]] = {}
        for i in range(pynvml.nvmlDeviceGetCount()):
            raw = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            by_model.setdefault(gpu_model(raw.decode() if isinstance(raw, bytes) else raw), []).append(i)
    finally:
        pynvml.nvmlShutdown()
    if not by_model:
        return None
    host = socket.gethostname() or "localhost"
    types = tuple(GpuType(m) for m in by_model)
    nodes = tuple(NodeSpec(f"{host}-{m}", m, len(ids)) for m, ids in by_model.items())
    cluster = ClusterSpec(host, types, nodes, types[0].name)
    return Inventory(cluster, tuple(tuple(ids) for ids in by_model.values()), "nvml")


def resolve_inventory(gpus: int | None = None, gpu_type: str | None = None, cluster: str | Path | None = None) -> Inventory:
    """The inventory the service runs on: a cluster spec, else `--gpus/--gpu-type`, else NVML."""
    if cluster is not None and gpus is not None:
        raise InventoryError("pass either --cluster or --gpus/--gpu-type, not both")
    if cluster is not None:
        try:
            return from_cluster(load_cluster(cluster), str(cluster))
        except ClusterSpecError as e:
            raise InventoryError(str(e)) from None
    if gpus is not None:
        return configured(gpus, gpu_type or "gpu")
    if gpu_type is not None:
        raise InventoryError("--gpu-type needs --gpus N")
    found = detect_nvml()
    if found is None:
        raise InventoryError("no NVIDIA GPUs found through NVML: configure them with --gpus N --gpu-type T or --cluster SPEC")
    return found

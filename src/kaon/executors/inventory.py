"""Which GPUs this host offers: detected through NVML, or configured, so kaon runs without GPUs.

An `Inventory` is a `ClusterSpec` (what policies and placement reason about) plus the concrete
device ids of every node's GPUs (what CUDA_VISIBLE_DEVICES names). On one host, the nodes of a
cluster spec are groups of this host's devices, numbered consecutively in spec order, so a
workstation with two GPU models is a two-node heterogeneous cluster.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from kaon.core.cluster import BUNDLED_CLUSTERS, ClusterSpec, ClusterSpecError, GpuType, NodeSpec, load_cluster


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

    def same_as(self, other: Inventory) -> bool:
        """Same GPU types, nodes and device ids (the source's name aside)."""
        return (
            self.cluster.gpu_types == other.cluster.gpu_types
            and self.cluster.nodes == other.cluster.nodes
            and self.devices == other.devices
        )


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


class InventorySource:
    """Where the service's inventory comes from, re-read while it runs so node changes need no
    restart: a cluster file is parsed again when its modification time, size or inode changes (an
    editor's atomic rename included), NVML is asked again, and `--gpus/--gpu-type` never changes."""

    def __init__(self, gpus: int | None = None, gpu_type: str | None = None, cluster: str | Path | None = None) -> None:
        self._args = (gpus, gpu_type, cluster)
        self._path: Path | None = None
        if cluster is not None:
            p = Path(cluster)
            bundled = BUNDLED_CLUSTERS / f"{cluster}.yaml"
            self._path = bundled if not p.exists() and bundled.exists() else p
        self._signature: tuple[int, int, int] | None = None
        self._last: Inventory | None = None

    @property
    def fixed(self) -> bool:
        """`--gpus/--gpu-type`: nothing to re-read."""
        return self._args[0] is not None

    def read(self) -> Inventory:
        """The inventory now (`resolve_inventory`'s rules); the reference for `changed`."""
        self._last = resolve_inventory(*self._args)
        self._signature = self._stat()
        return self._last

    def changed(self) -> Inventory | None:
        """The inventory if it differs from the last one read or returned, else None. A file that
        no longer parses, or NVML finding no GPU, raises `InventoryError` naming the source; the
        caller keeps the inventory it has."""
        if self.fixed or self._last is None:
            return None
        if self._path is not None:
            signature = self._stat()
            if signature == self._signature:
                return None
            self._signature = signature
            try:
                found = from_cluster(load_cluster(self._path), str(self._path))
            except ClusterSpecError as e:
                raise InventoryError(str(e)) from None
        else:
            detected = detect_nvml()
            if detected is None:
                raise InventoryError("nvml: no NVIDIA GPUs found any more; keeping the last inventory")
            found = detected
        if found.same_as(self._last):
            return None
        self._last = found
        return found

    def _stat(self) -> tuple[int, int, int] | None:
        if self._path is None:
            return None
        try:
            st = os.stat(self._path)
        except OSError as e:
            raise InventoryError(f"{self._path}: cannot read the inventory file: {e.strerror}") from None
        return st.st_mtime_ns, st.st_size, st.st_ino

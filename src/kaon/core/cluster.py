"""Cluster description: GPU types, nodes, and the YAML spec they are read from.

A `ClusterSpec` is immutable and holds numpy arrays that placement and policies score in one vector
operation; free capacity lives in `kaon.core.placement.FreeCapacity`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml


class ClusterSpecError(ValueError):
    """A cluster spec file is malformed; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class GpuType:
    """A GPU model. `speed` is its throughput relative to the reference type for jobs whose type
    the throughput table does not know; known job types use the table's measured ratio."""

    name: str
    speed: float = 1.0


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str
    gpu_type: str
    gpus: int
    cpus: int = 0
    memory_gb: float = 0.0


@dataclass(frozen=True)
class ClusterSpec:
    """Nodes grouped by GPU type. Type indices follow `gpu_types` order everywhere in kaon."""

    name: str
    gpu_types: tuple[GpuType, ...]
    nodes: tuple[NodeSpec, ...]
    reference_type: str
    spread_slowdown: float = 0.9
    node_type: np.ndarray = field(init=False, repr=False)
    node_gpus: np.ndarray = field(init=False, repr=False)
    nodes_of_type: tuple[np.ndarray, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index = {t.name: i for i, t in enumerate(self.gpu_types)}
        if self.reference_type not in index:
            raise ClusterSpecError(
                f"cluster {self.name}: reference_type {self.reference_type!r} is not one of {list(index)}"
            )
        for n in self.nodes:
            if n.gpu_type not in index:
                raise ClusterSpecError(f"cluster {self.name}: node {n.name} has unknown gpu type {n.gpu_type!r}")
        if not 0 < self.spread_slowdown <= 1:
            raise ClusterSpecError(f"cluster {self.name}: spread_slowdown must be in (0, 1]")
        node_type = np.array([index[n.gpu_type] for n in self.nodes], dtype=np.int64)
        object.__setattr__(self, "node_type", node_type)
        object.__setattr__(self, "node_gpus", np.array([n.gpus for n in self.nodes], dtype=np.int64))
        object.__setattr__(
            self,
            "nodes_of_type",
            tuple(np.flatnonzero(node_type == i) for i in range(len(self.gpu_types))),
        )

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.gpu_types)

    def type_index(self, name: str) -> int:
        try:
            return self.type_names.index(name)
        except ValueError:
            raise KeyError(f"cluster {self.name} has no GPU type {name!r}; it has {list(self.type_names)}") from None

    @property
    def total_gpus(self) -> int:
        return int(self.node_gpus.sum())

    def gpus_per_type(self) -> np.ndarray:
        return np.bincount(self.node_type, weights=self.node_gpus, minlength=len(self.gpu_types)).astype(np.int64)

    def scaled(self, factor: float) -> ClusterSpec:
        """The same shape with the node count of each group multiplied by `factor` (at least 1)."""
        by_type: dict[str, list[NodeSpec]] = {}
        for n in self.nodes:
            by_type.setdefault(n.gpu_type, []).append(n)
        nodes: list[NodeSpec] = []
        for t, group in by_type.items():
            keep = max(1, round(len(group) * factor))
            for i in range(keep):
                proto = group[i % len(group)]
                nodes.append(NodeSpec(f"{t}-{i:04d}", t, proto.gpus, proto.cpus, proto.memory_gb))
        return ClusterSpec(self.name, self.gpu_types, tuple(nodes), self.reference_type, self.spread_slowdown)


def _field(doc: dict, key: str, where: str, kind: type, default: object = ...) -> object:
    if key not in doc:
        if default is ...:
            raise ClusterSpecError(f"{where}: missing field {key!r}")
        return default
    value = doc[key]
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ClusterSpecError(f"{where}: field {key!r} must be {kind.__name__}, got {value!r}") from None


def parse_cluster(doc: object, source: str) -> ClusterSpec:
    """Build a `ClusterSpec` from a parsed YAML document (see docs/CLUSTERS.md for the format)."""
    if not isinstance(doc, dict):
        raise ClusterSpecError(f"{source}: top level must be a mapping")
    name = str(_field(doc, "name", source, str, Path(source).stem))
    raw_types = doc.get("gpu_types")
    if not isinstance(raw_types, dict) or not raw_types:
        raise ClusterSpecError(f"{source}: field 'gpu_types' must be a non-empty mapping of name -> {{speed}}")
    gpu_types = []
    for tname, tdoc in raw_types.items():
        tdoc = tdoc or {}
        speed = float(_field(tdoc, "speed", f"{source}: gpu_types.{tname}", float, 1.0))  # type: ignore[arg-type]
        if speed <= 0:
            raise ClusterSpecError(f"{source}: gpu_types.{tname}.speed must be > 0")
        gpu_types.append(GpuType(str(tname), speed))
    groups = doc.get("nodes")
    if not isinstance(groups, list) or not groups:
        raise ClusterSpecError(f"{source}: field 'nodes' must be a non-empty list")
    nodes: list[NodeSpec] = []
    for gi, g in enumerate(groups):
        where = f"{source}: nodes[{gi}]"
        if not isinstance(g, dict):
            raise ClusterSpecError(f"{where}: must be a mapping")
        gtype = str(_field(g, "type", where, str))
        count = int(_field(g, "count", where, int, 1))  # type: ignore[arg-type]
        gpus = int(_field(g, "gpus", where, int))  # type: ignore[arg-type]
        if count < 1 or gpus < 1:
            raise ClusterSpecError(f"{where}: count and gpus must be >= 1")
        cpus = int(_field(g, "cpus", where, int, 0))  # type: ignore[arg-type]
        mem = float(_field(g, "memory_gb", where, float, 0.0))  # type: ignore[arg-type]
        prefix = str(g.get("name", gtype))
        for i in range(count):
            nodes.append(NodeSpec(f"{prefix}-{len(nodes):04d}", gtype, gpus, cpus, mem))
    ref = str(_field(doc, "reference_type", source, str, gpu_types[0].name))
    slowdown = float(_field(doc, "spread_slowdown", source, float, 0.9))  # type: ignore[arg-type]
    return ClusterSpec(name, tuple(gpu_types), tuple(nodes), ref, slowdown)


BUNDLED_CLUSTERS = Path(__file__).resolve().parent.parent / "data" / "clusters"


def load_cluster(path: str | Path) -> ClusterSpec:
    """Read a cluster spec; a bare name such as `gavel-hetero` means the bundled spec of that name."""
    p = Path(path)
    if not p.exists() and (BUNDLED_CLUSTERS / f"{path}.yaml").exists():
        p = BUNDLED_CLUSTERS / f"{path}.yaml"
    if not p.exists():
        bundled = sorted(f.stem for f in BUNDLED_CLUSTERS.glob("*.yaml"))
        raise ClusterSpecError(f"{path}: no such file, and not a bundled cluster ({', '.join(bundled)})")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ClusterSpecError(f"{p}: not valid YAML: {e}") from None
    return parse_cluster(doc, str(p))

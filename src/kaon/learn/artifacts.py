"""A trained scheduler on disk: `manifest.json`, the agent, and the runtime predictor.

    DIR/manifest.json   algorithm, features, reward weights, env and planner settings, and one
                        entry per training run (trace, its sha256, window, timesteps, metrics)
    DIR/agent.zip       the stable-baselines3 model (absent for `mbrl`, which learns nothing more,
                        and for `es`, whose learned parameters, of `scored` or of
                        `gavel-sized`, are in the manifest)
    DIR/predictor/      the `RuntimePredictor` fitted on the history before `--until`

Loading unpickles the agent and the predictor: load only directories you trust.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from kaon.learn.env import EnvConfig, RewardWeights
from kaon.learn.planner import PlannerConfig
from kaon.policy.gavel_sized import GavelSizedParams
from kaon.policy.scored import ScoredParams

MANIFEST = "manifest.json"
AGENT = "agent.zip"
PREDICTOR = "predictor"
FORMAT_VERSION = 1
class Algorithm(StrEnum):
    """How a model was trained (`kaon train --algo`), which decides what its directory holds and
    how it decides: an SB3 agent (`ppo`, `ddpg`, `trpo`), the predictor-driven planner (`mbrl`), or
    a searched policy family (`es`)."""

    PPO = "ppo"
    DDPG = "ddpg"
    TRPO = "trpo"
    MBRL = "mbrl"
    ES = "es"

    @property
    def has_agent(self) -> bool:
        """Whether the directory holds an `agent.zip`."""
        return self not in (Algorithm.MBRL, Algorithm.ES)

    @classmethod
    def parse(cls, value: str, where: str) -> Algorithm:
        try:
            return cls(value)
        except ValueError:
            raise ArtifactError(f"{where}: unknown {value!r}; known: {', '.join(a.value for a in cls)}") from None


class ArtifactError(ValueError):
    """A model directory is missing, damaged or does not match what it is used with."""


@dataclass(frozen=True)
class TrainingRun:
    trace: str
    trace_sha256: str
    until: str
    jobs: int
    timesteps: int
    metrics: dict[str, float]
    cluster: str = ""
    """The cluster's name (a bundled cluster's is its file name): what `--resume` trains on
    when no --cluster is given. Empty in models saved before it was recorded."""


@dataclass(frozen=True)
class Manifest:
    algorithm: Algorithm
    features: tuple[str, ...]
    gpu_types: tuple[str, ...]
    env: EnvConfig
    planner: PlannerConfig
    runs: tuple[TrainingRun, ...] = field(default=())
    format: int = FORMAT_VERSION
    scored: ScoredParams | None = None
    """`es` with `--family scored`: the learned parameters of the `scored` policy."""
    gavel_sized: GavelSizedParams | None = None
    """`es` with `--family gavel-sized`: the learned parameters of `gavel-sized`."""

    @property
    def learned(self) -> ScoredParams | GavelSizedParams | None:
        """`es`: the learned parameters, whichever family they are of."""
        return self.scored if self.scored is not None else self.gavel_sized

    def with_learned(self, params: ScoredParams | GavelSizedParams) -> Manifest:
        """This manifest with `params` as its learned parameters (and no others)."""
        if isinstance(params, ScoredParams):
            return replace(self, scored=params, gavel_sized=None)
        return replace(self, scored=None, gavel_sized=params)

    def with_run(self, run: TrainingRun) -> Manifest:
        return replace(self, runs=(*self.runs, run))

    def save(self, directory: Path) -> None:
        doc = asdict(self)
        (directory / MANIFEST).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> Manifest:
        path = Path(directory) / MANIFEST
        if not path.is_file():
            raise ArtifactError(f"{directory}: no {MANIFEST}; not a model directory written by `kaon train`")
        try:
            doc: dict[str, Any] = json.loads(path.read_text())
            if doc.get("format") != FORMAT_VERSION:
                raise ArtifactError(f"{path}: format {doc.get('format')!r}, this kaon reads {FORMAT_VERSION}")
            algorithm = Algorithm.parse(doc["algorithm"], f"{path}: field algorithm")
            env = dict(doc["env"])
            env["reward"] = RewardWeights(**env["reward"])
            env["loads"] = tuple(env["loads"])
            return cls(
                algorithm=algorithm,
                features=tuple(doc["features"]),
                gpu_types=tuple(doc["gpu_types"]),
                env=EnvConfig(**env),
                planner=PlannerConfig(**doc["planner"]),
                runs=tuple(TrainingRun(**r) for r in doc["runs"]),
                # A model saved before `advantage` existed ran without it (0), not at today's start point.
                scored=ScoredParams(**{"advantage": 0.0, **doc["scored"]}) if doc.get("scored") is not None else None,
                gavel_sized=GavelSizedParams(**doc["gavel_sized"]) if doc.get("gavel_sized") is not None else None,
            )
        except (KeyError, TypeError) as e:
            raise ArtifactError(f"{path}: missing or malformed field {e}") from None
        except json.JSONDecodeError as e:
            raise ArtifactError(f"{path}: line {e.lineno}: not JSON: {e.msg}") from None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

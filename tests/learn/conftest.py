"""Fixtures for the learning tests, tiny problems: bursts of short and long one-GPU jobs on one GPU, where
starting the short jobs first is clearly best (and the queue tells them apart)."""

from __future__ import annotations

from pathlib import Path

import pytest

import numpy as np

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.core.job import JobSpec, Trace
from kaon.learn.artifacts import Algorithm
from kaon.learn.env import EnvConfig
from kaon.learn.train import TrainSpec, train

ONE_GPU = ClusterSpec("one", (GpuType("v100"),), (NodeSpec("n", "v100", 1),), "v100", spread_slowdown=1.0)
BURST_GAP_S = 5400.0
ENV = EnvConfig(window=6, episode_jobs=30, loads=(1.0,))


def burst_trace(bursts: int = 60, seed: int = 0) -> Trace:
    rng = np.random.default_rng(seed)
    jobs = []
    for b in range(bursts):
        for k in range(6):
            long = bool(rng.random() < 0.5)
            d = (3000.0 if long else 100.0) * rng.uniform(0.9, 1.1)
            jobs.append(JobSpec(f"j{b}-{k}", b * BURST_GAP_S, d, 1, queue="long" if long else "short"))
    return Trace(tuple(jobs), source="burst")


def train_tiny(out: Path, algo: str, timesteps: int = 64) -> Path:
    trace_file = out.parent / "burst.txt"
    trace_file.write_text("burst trace made in tests\n")
    spec = TrainSpec(Algorithm(algo), ENV, timesteps=timesteps, n_steps=32, eval_episodes=2)
    train(burst_trace(), trace_file, ONE_GPU, "30 bursts", 30 * BURST_GAP_S, spec, out)
    return out


@pytest.fixture
def burst():  # noqa: ANN201 - a factory
    return burst_trace


@pytest.fixture
def one_gpu() -> ClusterSpec:
    return ONE_GPU


@pytest.fixture
def env_config() -> EnvConfig:
    return ENV


@pytest.fixture(scope="session")
def tiny_model():  # noqa: ANN201 - a factory
    """`tiny_model(dir, algo, timesteps)`: a model directory trained on the burst problem."""
    return train_tiny

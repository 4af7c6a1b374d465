"""Training writes a model directory that loads, decides deterministically, and beats random."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaon.learn.artifacts import Manifest, file_sha256
from kaon.learn.policy import LearnedScheduler
from kaon.policy.registry import make_policy
from kaon.sim.engine import simulate
from kaon.core.cluster import ClusterSpec


@pytest.fixture(scope="module")
def mbrl_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model) -> Path:
    return tiny_model(tmp_path_factory.mktemp("mbrl") / "model", "mbrl")


def test_planner_beats_random_and_first_fit(mbrl_dir: Path) -> None:
    m = Manifest.load(mbrl_dir).runs[-1].metrics
    assert m["agent_avg_jct_s"] < 0.9 * m["random_avg_jct_s"]
    assert m["agent_avg_jct_s"] < 0.9 * m["first_fit_avg_jct_s"]


def test_manifest_records_training(mbrl_dir: Path) -> None:
    m = Manifest.load(mbrl_dir)
    assert m.algorithm == "mbrl" and m.gpu_types == ("v100",)
    assert m.features[0] == "log_runtime" and m.features[-1] == "valid"
    assert len(m.runs) == 1 and len(m.runs[0].trace_sha256) == 64


def _schedule(path: Path, burst, cluster: ClusterSpec) -> list[tuple[str, float | None]]:
    result = simulate(burst(8, seed=5), cluster, make_policy(f"learned:path={path}"))
    return [(j.job_id, j.first_start) for j in result.jobs]


def test_learned_policy_is_deterministic_across_loads(mbrl_dir: Path, burst, one_gpu: ClusterSpec) -> None:
    assert _schedule(mbrl_dir, burst, one_gpu) == _schedule(mbrl_dir, burst, one_gpu)


def test_ppo_artifact_saves_loads_and_decides_the_same(tmp_path: Path, tiny_model, burst, one_gpu: ClusterSpec) -> None:
    d = tiny_model(tmp_path / "ppo", "ppo", timesteps=64)
    assert (d / "agent.zip").is_file() and (d / "predictor").is_dir()
    assert _schedule(d, burst, one_gpu) == _schedule(d, burst, one_gpu)
    assert LearnedScheduler(d).manifest.runs[-1].timesteps == 64


@pytest.mark.slow
def test_ddpg_scoring_rule_learns_to_beat_random(tmp_path: Path, tiny_model) -> None:
    """600 steps of DDPG on the burst problem (about a minute on 2 busy cores)."""
    m = Manifest.load(tiny_model(tmp_path / "ddpg", "ddpg", timesteps=600)).runs[-1].metrics
    assert m["agent_avg_jct_s"] < 0.85 * m["random_avg_jct_s"]


def test_resume_continues_and_records_a_second_run(tmp_path: Path, tiny_model, burst, one_gpu: ClusterSpec) -> None:
    from kaon.learn.train import TrainSpec, resume

    d = tiny_model(tmp_path / "m", "ppo", timesteps=32)
    spec = TrainSpec(timesteps=32, n_steps=32, eval_episodes=1)
    first = file_sha256(d / "predictor" / "model.joblib")
    m = resume(d, burst(20, seed=3), tmp_path / "burst.txt", one_gpu, "", None, spec)
    assert [r.timesteps for r in m.runs] == [32, 32] and Manifest.load(d) == m
    refitted = file_sha256(d / "predictor" / "model.joblib")
    assert refitted != first  # the predictor learned the newer history
    resume(d, burst(20, seed=4), tmp_path / "burst.txt", one_gpu, "", None, spec, keep_predictor=True)
    assert file_sha256(d / "predictor" / "model.joblib") == refitted

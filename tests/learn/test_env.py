"""The environment: passes gymnasium's checker, masks, and its reward integrates JCT exactly."""

from __future__ import annotations

import numpy as np
from gymnasium.utils.env_checker import check_env

from kaon.learn.env import EnvConfig, SchedulingEnv
from kaon.learn.train import evaluate
from kaon.core.cluster import ClusterSpec


def test_env_passes_check_env(burst, one_gpu: ClusterSpec, env_config: EnvConfig) -> None:
    check_env(SchedulingEnv(burst(10), one_gpu, env_config), skip_render_check=True)


def test_wait_is_masked_when_nothing_runs(burst, one_gpu: ClusterSpec, env_config: EnvConfig) -> None:
    env = SchedulingEnv(burst(10), one_gpu, env_config)
    env.reset(seed=0)
    mask = env.action_masks()
    assert not mask[-1] and mask[:6].all()


def test_return_is_minus_total_jct_with_alpha_only(burst, one_gpu: ClusterSpec) -> None:
    """alpha=1, beta=0: the episode return is -(sum of JCTs) / GPUs / time scale (Little's law)."""
    env = SchedulingEnv(burst(10), one_gpu, EnvConfig(window=6, episode_jobs=12, loads=(1.0,)))
    env.reset(seed=3)
    total, done = 0.0, False
    while not done:
        _, r, done, _, info = env.step(0)
        total += r
    assert env.sim is not None
    jcts = [j.finish_time - j.spec.submit_time for j in env.sim.jobs]
    assert np.isclose(total, -sum(jcts) / 3600.0)
    assert np.isclose(info["avg_jct"], np.mean(jcts))


def test_shortest_first_beats_first_fit_here(burst, one_gpu: ClusterSpec, env_config: EnvConfig) -> None:
    """Sanity of the problem itself: shortest-first beats queue order."""
    make = lambda: SchedulingEnv(burst(), one_gpu, env_config)  # noqa: E731
    fifo = evaluate(make, lambda c: 0, 3, 0)
    shortest = evaluate(
        make, lambda c: int(np.argmin([j.spec.duration for j in c.cands.jobs])), 3, 0
    )
    assert shortest.avg_jct < 0.8 * fifo.avg_jct

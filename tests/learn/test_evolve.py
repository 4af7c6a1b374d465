"""`--algo es`: the search improves on a bad start on the burst problem, and its artifact is the
`scored` (or `gavel-sized`) policy with the learned parameters."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from kaon.learn.artifacts import Algorithm, Manifest
from kaon.core.job import JobSpec, Trace
from kaon.learn.evolve import (
    SCORED_SPACE,
    EvolutionConfig,
    episode_cost,
    episodes,
    evolve,
    family_of,
    from_vector,
    to_vector,
)
from kaon.learn.train import TrainSpec, train
from kaon.policy.base import Decision, Policy, SchedulerView, start_in_order
from kaon.policy.registry import make_policy, params_spec
from kaon.policy.gavel_sized import GavelSizedParams
from kaon.policy.scored import ScoredParams
from kaon.predict.evaluate import fit_until
from kaon.sim.engine import simulate
from kaon.sim.metrics import compute_metrics
from tests.learn.conftest import BURST_GAP_S, ENV, ONE_GPU, burst_trace

CUT = 30 * BURST_GAP_S
SMALL = EvolutionConfig(population=6, generations=3, elite=2, episodes=2, episode_days=0.25, loads=(1.0,), holdout=2)


def test_vectors_round_trip_and_are_clipped_to_the_space() -> None:
    p = ScoredParams(w_attained=0.3, patience=7200.0, min_speed=0.4, migrate=2.0)
    assert to_vector(from_vector(to_vector(p), ScoredParams)) == pytest.approx(to_vector(p))
    wild = from_vector(np.full(len(SCORED_SPACE), 1e6), ScoredParams)
    assert wild.min_speed == 1.0 and wild.migrate == 4.0 and wild.patience == pytest.approx(10**5.5)
    g = GavelSizedParams(size=0.3, round=720.0, stay=0.2)
    assert to_vector(from_vector(to_vector(g), GavelSizedParams)) == pytest.approx(to_vector(g))
    assert from_vector(np.array([-1.0, 0.0, 9.0]), GavelSizedParams) == GavelSizedParams(0.0, 158.489, 0.5)
    assert family_of(g) == "gavel-sized" and family_of(p) == "scored"


def test_a_family_and_a_start_of_another_family_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown family"):
        EvolutionConfig(family="nope")
    config = dataclasses.replace(SMALL, family="gavel-sized")
    with pytest.raises(ValueError, match="start point is a ScoredParams"):
        evolve(burst_trace(), CUT, ONE_GPU, None, config, start=ScoredParams())


def test_episodes_come_only_from_before_the_cut() -> None:
    trace = burst_trace()
    eps = episodes(trace, CUT, ONE_GPU, SMALL)
    before = {j.job_id for j in trace.jobs if j.submit_time < CUT}
    assert eps and {j.job_id for ep in eps for j in ep.trace.jobs} <= before


def test_episodes_size_the_cluster_to_their_load(tiny_cluster) -> None:  # noqa: ANN001
    from kaon.experiment.load import offered_load

    config = EvolutionConfig(population=2, elite=1, episodes=2, episode_days=0.5, loads=(1.0, 2.0))
    eps = episodes(burst_trace(), CUT, tiny_cluster(nodes=4, gpus=1), config)
    assert [ep.load for ep in eps] == [1.0, 2.0]
    for ep in eps:
        assert offered_load(ep.trace, ep.cluster, 0.5 * 86400) == pytest.approx(ep.load, rel=0.5)


def test_search_learns_shortest_first_from_a_longest_first_start(tmp_path: Path) -> None:
    trace = burst_trace()
    fit_until(trace, CUT).save(tmp_path / "predictor")
    bad = ScoredParams(w_remaining=-0.5, w_attained=0.0, w_gpus=0.0, patience=1e5, min_speed=0.0, migrate=4.0)
    result = evolve(trace, CUT, ONE_GPU, str(tmp_path / "predictor"), SMALL, start=bad)
    # The objective is the episodes' total JCT relative to the start's: longest-first on bursts of
    # 100 s and 3,000 s jobs costs far more than shortest-first.
    assert result.objective < 0.8
    assert result.best.w_remaining > 0
    assert len(result.generations) == 3
    assert result.replays == (1 + 3 * 6) * result.episodes + 2 * result.holdout_episodes
    # Shortest-first also wins on the held-out windows, so the search's best is kept.
    assert result.holdout_episodes >= 1 and result.holdout_objective < 1.0 and not result.kept_start
    # And after the cut, on bursts it never saw, at the load it trained at (two GPUs: 0.86), it
    # beats a random order (seconds of training, as the issue asks of a tiny agent).
    future, two = Trace(tuple(j for j in trace.jobs if j.submit_time >= CUT)), ONE_GPU.scaled(2)
    learned = compute_metrics(simulate(future, two, make_policy(params_spec("scored", result.best, str(tmp_path / "predictor")))))
    randoms = [compute_metrics(simulate(future, two, RandomOrder(seed))).avg_jct_s for seed in range(3)]
    assert learned.avg_jct_s < 0.85 * float(np.mean(randoms)), (learned.avg_jct_s, randoms)  # measured 0.78x


class RandomOrder(Policy):
    """Starts waiting jobs in a random order: the baseline a learned policy must beat."""

    name = "random-order"
    summary = "random order, non-preemptive"

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = np.random.default_rng(seed)

    def decide(self, view: SchedulerView) -> Decision:
        jobs = list(view.pending.values())
        self.rng.shuffle(jobs)  # type: ignore[arg-type]
        return start_in_order(self, view, jobs)


def test_held_out_episodes_overlap_no_training_episode_and_precede_the_cut() -> None:
    config = EvolutionConfig(population=2, elite=1, episodes=3, episode_days=0.2, holdout=3, loads=(1.0,))
    train, held = (episodes(burst_trace(), CUT, ONE_GPU, config, held_out=h) for h in (False, True))
    before = {j.job_id for j in burst_trace().jobs if j.submit_time < CUT}
    seen = {j.job_id for ep in train for j in ep.trace.jobs}
    assert held
    for ep in held:
        ids = {j.job_id for j in ep.trace.jobs}
        assert ids <= before and not ids & seen  # before the cut, and in no other window
        seen |= ids


def test_sparse_windows_are_drawn_again() -> None:
    """The first half of the history is single jobs a few hours apart, the second the bursts: every
    episode comes from the bursts, none of one or two jobs."""
    bursts = burst_trace()
    sparse = tuple(JobSpec(f"s{i}", i * 4 * 3600.0, 600.0, 1) for i in range(90))
    shifted = tuple(dataclasses.replace(j, submit_time=j.submit_time + 360 * 3600.0) for j in bursts.jobs)
    trace = Trace(sparse + shifted, source="sparse-then-bursts")
    cut = 360 * 3600.0 + CUT
    config = dataclasses.replace(SMALL, episodes=4, lookback_days=cut / 86400.0)
    for held in (False, True):
        eps = episodes(trace, cut, ONE_GPU, config, held_out=held)
        assert eps and all(len(ep.trace.jobs) >= config.min_episode_jobs for ep in eps)
    with pytest.raises(ValueError, match="min_episode_jobs"):
        EvolutionConfig(min_episode_jobs=0)


def test_an_episode_where_no_job_can_run_costs_nothing_not_nan() -> None:
    """A job wider than the cluster never runs, under any candidate: the cost is 0, not NaN."""
    trace = Trace((JobSpec("wide", 0.0, 100.0, 4),), source="wide")
    assert episode_cost(ScoredParams(), None, trace, ONE_GPU, SMALL.reward, 0.0) == 0.0


def test_a_best_with_no_comparable_held_out_result_is_dropped_for_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """NaN on the held-out episodes must not pass for a win."""
    import kaon.learn.evolve as evolve_module

    training: set[int] = set()

    def cost(args: tuple) -> float:  # noqa: ANN401 - the task tuple of `_cost_task`
        params, _, trace, *_ = args
        if len(training) < SMALL.episodes:
            training.add(id(trace))
        return 10.0 - params.w_remaining if id(trace) in training else float("nan")

    monkeypatch.setattr(evolve_module, "_cost_task", cost)
    start = ScoredParams(w_remaining=0.0)
    result = evolve(burst_trace(), CUT, ONE_GPU, None, SMALL, start=start)
    assert result.objective < 1.0 and result.kept_start and result.best == start


def test_a_best_that_loses_on_held_out_episodes_is_dropped_for_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cost that rewards w_remaining on the training episodes and punishes it on any other:
    the search climbs it, the held-out check sees it lose and keeps the start point."""
    import kaon.learn.evolve as evolve_module

    training: set[int] = set()

    def cost(args: tuple) -> float:  # noqa: ANN401 - the task tuple of `_cost_task`
        params, _, trace, *_ = args
        if len(training) < SMALL.episodes:
            training.add(id(trace))  # the first batch is the start on the training episodes
        return 10.0 - params.w_remaining if id(trace) in training else 10.0 + params.w_remaining

    monkeypatch.setattr(evolve_module, "_cost_task", cost)
    start = ScoredParams(w_remaining=0.0)
    result = evolve(burst_trace(), CUT, ONE_GPU, None, SMALL, start=start)
    assert result.objective < 1.0  # better on the training episodes
    assert result.holdout_objective > 1.0 and result.kept_start and result.best == start


def test_es_artifact_is_scored_with_the_learned_parameters(tmp_path: Path) -> None:
    trace = burst_trace()
    (trace_file := tmp_path / "burst.txt").write_text("burst\n")
    spec = TrainSpec(Algorithm.ES, ENV, evolution=EvolutionConfig(population=3, generations=1, elite=1, episodes=1, episode_days=0.3, loads=(1.0,)))
    out = tmp_path / "es"
    manifest = train(trace, trace_file, ONE_GPU, "30 bursts", CUT, spec, out)
    loaded = Manifest.load(out)
    assert loaded.algorithm == "es" and loaded.scored == manifest.scored is not None
    assert not (out / "agent.zip").exists()
    assert {"train_wall_s", "objective_vs_start", "episodes", "replays"} <= set(loaded.runs[-1].metrics)
    # A manifest from before `advantage` existed loads as what it ran with: no advantage.
    doc = json.loads((out / "manifest.json").read_text())
    del doc["scored"]["advantage"]
    (out / "manifest.json").write_text(json.dumps(doc))
    assert Manifest.load(out).scored == dataclasses.replace(loaded.scored, advantage=0.0)
    (out / "manifest.json").write_text(json.dumps({**doc, "scored": {**doc["scored"], "advantage": loaded.scored.advantage}}))
    test = burst_trace(8, seed=5)
    learned = simulate(test, ONE_GPU, make_policy(f"learned:path={out}"))
    direct = simulate(test, ONE_GPU, make_policy(loaded.scored.spec(str(out / "predictor"))))
    assert [(j.job_id, j.first_start, j.finish_time) for j in learned.jobs] == [
        (j.job_id, j.first_start, j.finish_time) for j in direct.jobs
    ]


def test_gavel_sized_search_learns_to_weigh_by_size(tmp_path: Path) -> None:
    """On bursts of 100 s and 3,000 s jobs on one GPU, Gavel's equal shares (the family's start,
    size 0) make the short jobs wait behind the long ones' shares; the search raises `size`."""
    trace = burst_trace()
    fit_until(trace, CUT).save(tmp_path / "predictor")
    config = dataclasses.replace(SMALL, family="gavel-sized")
    result = evolve(trace, CUT, ONE_GPU, str(tmp_path / "predictor"), config)
    assert isinstance(result.best, GavelSizedParams)
    assert result.objective < 0.95 and result.best.size > 0 and not result.kept_start


def test_es_artifact_of_the_gavel_sized_family_is_that_policy(tmp_path: Path) -> None:
    trace = burst_trace()
    (trace_file := tmp_path / "burst.txt").write_text("burst\n")
    evolution = EvolutionConfig(population=3, generations=1, elite=1, episodes=1, episode_days=0.3, loads=(1.0,), family="gavel-sized")
    out = tmp_path / "es"
    manifest = train(trace, trace_file, ONE_GPU, "30 bursts", CUT, TrainSpec(Algorithm.ES, ENV, evolution=evolution), out)
    loaded = Manifest.load(out)
    assert loaded.scored is None and isinstance(loaded.gavel_sized, GavelSizedParams)
    assert loaded.learned == manifest.learned
    test = burst_trace(8, seed=5)
    learned = simulate(test, ONE_GPU, make_policy(f"learned:path={out}"))
    direct = simulate(test, ONE_GPU, make_policy(loaded.gavel_sized.spec(str(out / "predictor"))))
    assert [(j.job_id, j.first_start, j.finish_time) for j in learned.jobs] == [
        (j.job_id, j.first_start, j.finish_time) for j in direct.jobs
    ]

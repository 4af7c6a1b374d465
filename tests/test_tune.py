from collections.abc import Iterator

import pytest

from kaon.policy import registry
from kaon.policy.base import Decision, Policy, SchedulerView, start_in_order
from kaon.sim.engine import SimConfig
from kaon.traces.synthetic import synthetic_trace
from kaon.tune import default_grid, parse_grid, tune


class _TopK(Policy):
    """Starts only jobs of at most `max_gpus` GPUs: a tunable toy whose best value is known."""

    name = "test-topk"
    summary = "test policy for tuning"

    def __init__(self, *, max_gpus: int = 2, placement=None) -> None:  # noqa: ANN001
        super().__init__()
        self.max_gpus = max_gpus

    def decide(self, view: SchedulerView) -> Decision:
        return start_in_order(self, view, [j for j in view.pending.values() if j.num_gpus <= self.max_gpus])


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    """Registered only while these tests run, so no other test sees the toy policy."""
    registry.register(_TopK)
    yield
    del registry._REGISTRY[_TopK.name]


def test_default_grid_scales_numeric_defaults() -> None:
    assert default_grid("test-topk") == {"max_gpus": [1, 2, 4, 8]}


def test_parse_grid() -> None:
    assert parse_grid("lease=60;360,thresholds=1|2;3|4") == {"lease": ["60", "360"], "thresholds": ["1;2", "3;4"]}


def test_tune_finds_the_value_that_finishes_everything(tiny_cluster) -> None:
    trace = synthetic_trace(60, seed=3, max_gpus=8)
    result = tune("test-topk", trace, tiny_cluster(2, 8), SimConfig(horizon_s=2e6))
    # Jobs bigger than max_gpus never run and count until the horizon: the best value admits all.
    assert result.best_spec == "test-topk:max_gpus=8"
    assert [t.spec for t in result.trials][0] == "test-topk"


def test_coupled_search_space_and_invalid_candidates_skipped(tiny_cluster) -> None:
    trace = synthetic_trace(80, seed=5, max_gpus=8)
    grid = {"queues&thresholds": ["2&600", "3&600;6000", "3&600"], "lease": ["0"]}
    result = tune("tiresias", trace, tiny_cluster(2, 8), SimConfig(horizon_s=5e6), grid)
    specs = {t.spec: t.objective for t in result.trials}
    assert specs["tiresias:queues=3,thresholds=600"] == float("inf")  # 3 queues need 2 thresholds
    assert specs["tiresias:queues=3,thresholds=600;6000"] < float("inf")
    assert result.best_objective == min(specs.values())

"""RuntimePredictor: deterministic fit, exact save/load round trip, a manifest that catches tampering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kaon.predict.model import MANIFEST_FILE, MODEL_FILE, PredictorConfig, PredictorError, RuntimePredictor
from kaon.traces.synthetic import synthetic_trace

SMALL = PredictorConfig(max_iter=20)


def _split():  # noqa: ANN202
    trace = synthetic_trace(600, seed=11, mean_interarrival_s=60, median_duration_s=900)
    return trace.with_jobs(trace.jobs[:450]), trace.with_jobs(trace.jobs[450:])


def test_fit_is_deterministic_and_intervals_are_ordered() -> None:
    train, test = _split()
    a = RuntimePredictor(SMALL).fit(train).predict(test)
    b = RuntimePredictor(SMALL).fit(train).predict(test)
    np.testing.assert_array_equal(a.estimate, b.estimate)
    np.testing.assert_array_equal(a.p90, b.p90)
    assert len(a) == len(test)
    assert np.all(a.p10 <= a.estimate) and np.all(a.estimate <= a.p90) and np.all(a.p10 > 0)


def test_save_load_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    train, test = _split()
    model = RuntimePredictor(SMALL).fit(train)
    model.save(tmp_path / "m", metrics={"mae_log": 1.0})
    loaded = RuntimePredictor.load(tmp_path / "m")
    for field in ("estimate", "p10", "p90"):
        np.testing.assert_array_equal(getattr(loaded.predict(test), field), getattr(model.predict(test), field))
    manifest = json.loads((tmp_path / "m" / MANIFEST_FILE).read_text())
    assert manifest["features"][:2] == ["log2_gpus", "priority"]
    assert manifest["training"]["jobs"] == len(train)
    assert manifest["training"]["metrics"] == {"mae_log": 1.0}
    assert len(manifest["training"]["sha256"]) == 64


def test_training_hash_depends_on_the_data() -> None:
    train, _ = _split()
    a = RuntimePredictor(SMALL).fit(train).info
    b = RuntimePredictor(SMALL).fit(train.with_jobs(train.jobs[:-1])).info
    assert a is not None and b is not None and a.sha256 != b.sha256


def test_load_rejects_a_changed_model_file_and_a_missing_directory(tmp_path: Path) -> None:
    train, _ = _split()
    RuntimePredictor(SMALL).fit(train).save(tmp_path / "m")
    with (tmp_path / "m" / MODEL_FILE).open("ab") as f:
        f.write(b"x")
    with pytest.raises(PredictorError, match="sha256"):
        RuntimePredictor.load(tmp_path / "m")
    with pytest.raises(PredictorError, match="missing"):
        RuntimePredictor.load(tmp_path / "nothing")


def test_unfitted_and_tiny_inputs_are_errors() -> None:
    train, test = _split()
    with pytest.raises(PredictorError, match="not fitted"):
        RuntimePredictor().predict(test)
    with pytest.raises(PredictorError, match="at least 2"):
        RuntimePredictor().fit(train.jobs[:1])
    assert len(RuntimePredictor(SMALL).fit(train).predict([])) == 0

"""The compiled forest predicts exactly what scikit-learn predicts, missing values included."""

from __future__ import annotations

import numpy as np
import pytest

from kaon.predict.forest import Forest


@pytest.mark.parametrize("loss", [{"loss": "squared_error"}, {"loss": "quantile", "quantile": 0.9}])
def test_forest_matches_sklearn(loss: dict[str, object]) -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 6))
    x[rng.random(x.shape) < 0.05] = np.nan  # trains missing-value directions
    y = np.nan_to_num(x[:, 0]) * 2 + np.sin(np.nan_to_num(x[:, 1])) + rng.normal(0, 0.1, 2000)
    model = HistGradientBoostingRegressor(max_iter=40, max_leaf_nodes=15, random_state=0, **loss).fit(x, y)
    test = rng.normal(size=(300, 6)) * 2
    test[rng.random(test.shape) < 0.1] = np.nan
    forest = Forest.of(model)
    np.testing.assert_allclose(forest.predict(test), model.predict(test), rtol=0, atol=1e-9)
    np.testing.assert_allclose(forest.predict(test[:1]), model.predict(test[:1]), rtol=0, atol=1e-9)


def test_categorical_splits_are_refused() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(1)
    x = np.column_stack([rng.integers(0, 5, 500), rng.normal(size=500)])
    y = (x[:, 0] == 2) * 3.0 + x[:, 1]
    model = HistGradientBoostingRegressor(max_iter=5, categorical_features=[0], random_state=0).fit(x, y)
    with pytest.raises(ValueError, match="categorical"):
        Forest.of(model)


def test_several_models_walk_together() -> None:
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(2)
    x = rng.normal(size=(1000, 4))
    y = x[:, 0] - 2 * x[:, 1] + rng.normal(0, 0.2, 1000)
    models = [
        HistGradientBoostingRegressor(max_iter=n, random_state=0, **loss).fit(x, y)
        for n, loss in ((30, {}), (20, {"loss": "quantile", "quantile": 0.1}), (25, {"loss": "quantile", "quantile": 0.9}))
    ]
    test = rng.normal(size=(50, 4))
    got = Forest.of_many(models).predict_all(test)
    np.testing.assert_allclose(got, np.column_stack([m.predict(test) for m in models]), rtol=0, atol=1e-9)

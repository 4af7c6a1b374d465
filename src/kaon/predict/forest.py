"""`Forest`: scikit-learn's fitted gradient-boosted trees as flat numpy arrays, for small batches.

A scheduler predicts a few jobs at a time, at nearly every decision. scikit-learn's
`HistGradientBoostingRegressor.predict` costs about 1-3 ms per call whatever the batch (input
validation, a thread-pool round trip, 150 trees walked one by one), so three models cost the whole
decision budget of a learned policy. Here every tree of a model is one block of a flat node array
and all trees are walked together, one numpy step per tree level: the same splits, the same
values, the same sum (checked against scikit-learn in `tests/predict/test_forest.py`), in tens of
microseconds for a handful of rows.

Only numerical splits are supported, which is what `RuntimePredictor` fits (category codes go in
as numbers); a model with categorical splits is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Forest:
    """One regressor's trees: node arrays concatenated, `roots` the first node of each tree."""

    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    baseline: np.ndarray
    """Per output: the model's baseline prediction."""
    segments: np.ndarray
    """Per output: the index in `roots` of its first tree (outputs' trees are contiguous)."""
    depth: int

    @classmethod
    def of(cls, model: Any) -> Forest:
        """From a fitted `HistGradientBoostingRegressor` (single output)."""
        return cls.of_many([model])

    @classmethod
    def of_many(cls, models: list[Any]) -> Forest:
        """Several regressors walked together, one output each: a scheduler's point and quantile
        models cost one pass instead of three."""
        trees = [stage[0] for model in models for stage in model._predictors]
        counts = [len(model._predictors) for model in models]
        nodes = [t.nodes for t in trees]
        if any(n["is_categorical"].any() for n in nodes):
            raise ValueError("a model with categorical splits cannot be compiled")
        sizes = np.array([len(n) for n in nodes], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        flat = np.concatenate(nodes)
        shift = np.repeat(offsets, sizes)
        leaf = flat["is_leaf"].astype(bool)
        own = np.arange(len(flat), dtype=np.int64)
        # A leaf points at itself, so walking past it is a no-op and every tree can take the same
        # number of steps.
        left = np.where(leaf, own, flat["left"].astype(np.int64) + shift)
        right = np.where(leaf, own, flat["right"].astype(np.int64) + shift)
        return cls(
            feature=np.where(leaf, 0, flat["feature_idx"]).astype(np.int64),
            threshold=flat["num_threshold"].astype(np.float64),
            missing_left=flat["missing_go_to_left"].astype(bool),
            left=left,
            right=right,
            leaf=leaf,
            value=flat["value"].astype(np.float64),
            roots=offsets,
            baseline=np.array([float(np.ravel(m._baseline_prediction)[0]) for m in models]),
            segments=np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64),
            depth=int(flat["depth"].max()),
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Raw predictions of the first output for rows `x` (n, features)."""
        return self.predict_all(x)[:, 0]

    def predict_all(self, x: np.ndarray) -> np.ndarray:
        """Raw predictions (n, outputs) for rows `x` (n, features): each output's baseline plus
        its trees' leaf values."""
        x = np.asarray(x, dtype=np.float64)
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        for level in range(self.depth):
            if level % 4 == 3 and self.leaf[node].all():  # most trees are far shallower than the deepest
                break
            v = x[rows, self.feature[node]]
            go_left = np.where(np.isnan(v), self.missing_left[node], v <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return self.baseline + np.add.reduceat(self.value[node], self.segments, axis=1)

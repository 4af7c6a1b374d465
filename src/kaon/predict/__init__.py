"""Job runtime prediction from submit-time information and the history of finished jobs.

`features` builds the leakage-free feature matrix, `model` the `RuntimePredictor`, `evaluate`
measures it against simple baselines, `online` keeps a predictor learning inside a scheduler, and
`estimator` adapts a fitted predictor to the `RuntimeEstimator` protocol of backfilling (`policy/runtime_estimates.py`).
"""

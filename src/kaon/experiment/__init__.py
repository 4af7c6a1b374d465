"""Evaluating a learned policy against tuned baselines on history after its training cut.

An `EvaluationPlan` names the trace, the training cut, the training and test windows, the offered
loads and the clusters. `run_evaluation` tunes each bar baseline on the training windows only
(`kaon.experiment.tuning`), replays every scenario (test window x load x cluster) under the
baselines, the tuned specs, oracle SRTF and any candidate policy (`kaon.experiment.evaluate`), and
judges each candidate against the scenario's bar (`kaon.experiment.goals`); `kaon.experiment.report`
writes results.json and learning.md. A learned policy is just one more policy spec.
"""

from kaon.experiment.evaluate import EvaluationResult, run_evaluation
from kaon.experiment.plan import DEFAULT_PLAN, EvaluationPlan, PlanError, Window

__all__ = ["DEFAULT_PLAN", "EvaluationPlan", "EvaluationResult", "PlanError", "Window", "run_evaluation"]

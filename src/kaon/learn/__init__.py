"""Learned scheduling policies: a gymnasium environment over kaon's simulator, deep-RL agents,
a model-based planner that uses the runtime predictor, and the artifacts `learned:path=DIR` loads.

Everything here may import torch and stable-baselines3 (the `learn` extra); nothing outside this
package does at import time.
"""

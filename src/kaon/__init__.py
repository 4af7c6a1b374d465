"""kaon: a learning scheduler for AI workloads on shared, heterogeneous GPU clusters."""

__version__ = "0.1.0"

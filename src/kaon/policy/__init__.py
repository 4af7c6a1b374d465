"""Scheduling policies: who runs, where, and who is preempted. One small module per policy."""

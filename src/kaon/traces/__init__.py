"""Trace readers: one module per format, each turning a file into a `kaon.core.job.Trace`."""

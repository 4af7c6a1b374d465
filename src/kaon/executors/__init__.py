"""Executors run the jobs the scheduling loop starts: locally as process groups (`LocalExecutor`),
or on another backend behind the same `Executor` interface."""

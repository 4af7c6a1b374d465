"""Durable job state for the scheduling service: SQLAlchemy models, migrations and the repository.

The store is the service's source of truth. Every state change is written here before the service
acts on it, so a crashed server restarted on the same database loses no job and runs none twice.
"""

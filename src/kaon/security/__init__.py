"""Security of the service: API tokens and roles, the hash-chained audit log, encryption of job
secrets at rest, and anomaly flags. Each concern is one module."""

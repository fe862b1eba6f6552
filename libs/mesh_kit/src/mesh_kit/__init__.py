"""Plumbing every service shares: broker, database, artifact store, health, metrics, logs, traces."""

"""The device's health agent: local Prometheus metrics, heartbeats to central, backups."""

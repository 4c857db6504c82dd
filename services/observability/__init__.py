"""Traces, structured logs and each process's own metrics (docs/observability.md)."""

"""Metrics, structured logs and optional tracing. Nothing here ever sees PHI or tokens."""

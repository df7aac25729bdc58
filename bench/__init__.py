"""Benchmarks of the oih-cds service (``python -m bench.run``; see bench/README.md)."""

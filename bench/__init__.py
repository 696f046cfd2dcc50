"""Benchmarks, run with `python -m bench` (outside the test suite)."""

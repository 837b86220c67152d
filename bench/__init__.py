"""Benchmarks: `make bench` (python -m bench) prints figures and writes docs/benchmarks.md."""

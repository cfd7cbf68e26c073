"""Benchmarks: each prints its figures and ratios; see bench/README.md."""

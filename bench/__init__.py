"""Benchmarks and load tests (run by hand; results in bench/RESULTS.md)."""

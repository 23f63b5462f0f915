"""Benchmarks (`make bench`): measured, never asserted on time; see bench/README.md."""

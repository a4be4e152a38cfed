"""Benchmarks run by ``make bench``; each module says what it measures and how."""

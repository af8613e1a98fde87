"""Benchmarks (run as scripts); a package so module names do not clash with tests/."""

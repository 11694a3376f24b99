"""Benchmarks: scripts that print JSON (README, Performance)."""

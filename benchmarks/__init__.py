"""Benchmarks (`make bench`): each writes a JSON result to benchmarks/results/."""

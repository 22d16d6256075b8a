"""Benchmarks: each file is one command (see its docstring), printing ratios against a baseline."""

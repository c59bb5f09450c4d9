"""Benchmarks: the cost of a decision in both runtimes, and how it grows.

Run them with `benchmarks/run` (see benchmarks/README.md). Nothing here is part of
the package: these modules read files, start Lua states and read clocks.
"""

"""Tooling for the tests and the benchmarks (a local Redis Cluster, nginx in front of service nodes).

Not part of the installed package (pyproject.toml's packages.find leaves it out); run from the repository.
"""

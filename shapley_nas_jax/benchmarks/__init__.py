"""Tabular NAS benchmarks: look up what a discrete architecture scores."""

from shapley_nas_jax.benchmarks.nb201 import (
    DATASETS,
    METRICS,
    MissingDependencyError,
    NB201Benchmark,
    NB201Table,
    NatsBenchAPI,
    UnknownArchError,
    load_benchmark,
    normalize_arch,
    query_main,
    random_search,
)

__all__ = [
    "DATASETS",
    "METRICS",
    "MissingDependencyError",
    "NB201Benchmark",
    "NB201Table",
    "NatsBenchAPI",
    "UnknownArchError",
    "load_benchmark",
    "normalize_arch",
    "query_main",
    "random_search",
]

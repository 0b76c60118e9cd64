"""Random search without a supernet: discrete NB201 cells drawn uniformly and scored by the benchmark table."""

from __future__ import annotations

from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.search.methods.base import SearchMethod


class RandomSearch(SearchMethod):
    supernet = False
    current_cell = False
    title = "Random (baseline)"

    def validate(self, config):
        if not config.search.benchmark:
            raise ConfigError(f"search.method={config.search.method!r} scores architectures by a benchmark table: "
                              "set search.benchmark to an NB201 table or nats_bench file (nb201 space only)")

    def run_without_supernet(self, config, space, benchmark):
        from shapley_nas_jax.benchmarks import nb201

        from shapley_nas_jax.genotypes import parse_genotype

        arch, accuracies, history = nb201.random_search(benchmark, config.search.random_samples, seed=config.seed)
        return parse_genotype(arch), {"benchmark": accuracies, "history": history}

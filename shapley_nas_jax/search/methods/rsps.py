"""Random search with weight sharing (RSPS, Li & Talwalkar 2019; NAS-Bench-201's baseline): each weight step
trains one uniformly drawn single-path cell; after the last epoch ``search.random_samples`` drawn cells are
scored with the shared weights on the value split and the best one becomes alpha."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.rng import STREAM_FINAL, stream_key
from shapley_nas_jax.search.single_path import sample_single_paths, single_path_alpha
from shapley_nas_jax.search.methods.base import SearchMethod


class RSPS(SearchMethod):
    current_cell = False
    chooses_at_end = True
    title = "RSPS"

    def validate(self, config):
        from shapley_nas_jax.spaces import get_space

        if get_space(config.space).topology != "nb201":
            raise ConfigError(f"search.method={config.search.method!r} draws cells with one op per edge (NB201 "
                              f"topology); space={config.space!r} derives cells by keeping two edges per node: use "
                              "an nb201 space")
        if config.search.derive_from != "alpha":
            raise ConfigError(f"search.method={config.search.method!r} keeps the best drawn cell as alpha: use "
                              "search.derive_from='alpha'")
        if config.search.random_samples < 1:
            raise ConfigError("search.random_samples must be >= 1 (cells drawn and scored at the end)")

    def weight_step_cell(self, program, state, key):
        # among the ops a genotype can hold
        mask = sample_single_paths(jax.random.fold_in(key, 1), program.space.player_mask())
        return single_path_alpha(mask), mask

    def final_choice(self, program, state, value_batches, *, bn_mode):
        """Each drawn cell scored by the value metric averaged over all value batches (the same images for every
        cell); alpha becomes the best cell's ``single_path_alpha``, so the genotype is derived from it as for
        every method. Metrics: ``paths``, ``scores``, ``best_value``."""
        paths = sample_single_paths(stream_key(state.rng, STREAM_FINAL, 2), program.space.player_mask(),
                                                program.config.search.random_samples)
        noise_rng = stream_key(state.rng, STREAM_FINAL, 3)
        params = program.scoring_variables(state.weights.params)
        batch_stats = program.scoring_variables(state.weights.batch_stats)
        value = program.games[bn_mode].value

        def score(path):
            alpha = single_path_alpha(path)
            values = jax.lax.map(lambda batch: value(params, batch_stats, alpha, path, batch, noise_rng), value_batches)
            return jnp.mean(values)

        scores = jax.lax.map(score, paths)
        best = jnp.argmax(scores)
        return (state.with_arch(alpha=single_path_alpha(paths[best])),
                {"paths": paths, "scores": scores, "best_value": scores[best]})

    def final_choice_results(self, program, metrics, benchmark):
        """``rsps_candidates``: the drawn cells with their value (and benchmark figures), best first."""
        rows = []
        for path, value in zip(np.asarray(metrics["paths"]), np.asarray(metrics["scores"])):
            genotype = str(program.space.genotype(path))
            rows.append({"genotype_str": genotype, "value": float(value),
                         "benchmark": benchmark.query(genotype) if benchmark is not None else None})
        return {"rsps_candidates": sorted(rows, key=lambda row: -row["value"])}

"""Shapley values of cooperative games: exact enumeration and truncated permutation sampling.

A game is ``value_fn(shared, mask, sample) -> scalar`` with ``mask`` float32 ``[num_players]`` (1 = present).
"""

from shapley_nas_jax.shapley import estimators, games
from shapley_nas_jax.shapley.exact import (
    coalition_masks,
    coalition_values,
    exact_shapley,
    shapley_from_coalition_values,
    shapley_weights,
)
from shapley_nas_jax.shapley.permutation import (
    AGGREGATES,
    SAMPLERS,
    SCORINGS,
    TRUNCATED_RULES,
    ShapleyEstimate,
    StagedGame,
    permutation_ranks,
    permutation_shapley,
    sample_permutations,
    score_chains,
    score_chunk,
    standard_errors,
)

__all__ = [
    "AGGREGATES",
    "SAMPLERS",
    "SCORINGS",
    "TRUNCATED_RULES",
    "ShapleyEstimate",
    "StagedGame",
    "coalition_masks",
    "coalition_values",
    "exact_shapley",
    "estimators",
    "games",
    "permutation_ranks",
    "permutation_shapley",
    "sample_permutations",
    "score_chains",
    "score_chunk",
    "shapley_from_coalition_values",
    "shapley_weights",
    "standard_errors",
]

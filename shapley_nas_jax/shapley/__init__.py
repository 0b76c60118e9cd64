"""Shapley values of cooperative games: exact enumeration, truncated permutation sampling and the registry of
estimators (``estimators``), all returning one result type, :class:`Estimate`.

A game is ``value_fn(shared, mask, sample) -> scalar`` with ``mask`` float32 ``[num_players]`` (1 = present).
"""

from shapley_nas_jax.shapley import estimators, games
from shapley_nas_jax.shapley.estimators import (
    ScoredGame,
    available_estimators,
    estimate,
    get_estimator,
    register_estimator,
)
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
    StagedGame,
    permutation_ranks,
    permutation_shapley,
    sample_permutations,
    score_chains,
    score_chunk,
    standard_errors,
)
from shapley_nas_jax.shapley.result import Estimate

__all__ = [
    "AGGREGATES",
    "SAMPLERS",
    "SCORINGS",
    "TRUNCATED_RULES",
    "Estimate",
    "ScoredGame",
    "StagedGame",
    "available_estimators",
    "coalition_masks",
    "coalition_values",
    "estimate",
    "estimators",
    "exact_shapley",
    "games",
    "get_estimator",
    "permutation_ranks",
    "permutation_shapley",
    "register_estimator",
    "sample_permutations",
    "score_chains",
    "score_chunk",
    "shapley_from_coalition_values",
    "shapley_weights",
    "standard_errors",
]

"""The one result type of every Shapley estimator: :class:`Estimate`."""

from __future__ import annotations

import flax
import jax.numpy as jnp


@flax.struct.dataclass
class Estimate:
    """What an estimator returns (n players; M chains for the permutation estimators).

    Every estimator gives ``values`` and ``num_evaluations``; the other fields are None where an estimator has
    nothing to say. Removal chains (:func:`~shapley_nas_jax.shapley.permutation_shapley`, the estimator
    ``permutation``) fill all of them.
    """

    values: jnp.ndarray                          # [n] the estimate
    num_evaluations: jnp.ndarray                 # int: value evaluations used (see the estimator for what counts)
    standard_errors: jnp.ndarray | None = None   # [n] of each value; NaN for a player with too few samples
    num_computed: jnp.ndarray | None = None      # int: evaluations computed, padding included (None: num_evaluations)
    marginals: jnp.ndarray | None = None         # [M, n] marginal of each player in each chain, 0 where not measured
    measured: jnp.ndarray | None = None          # [M, n] bool, False where the chain truncated before that player
    chain_values: jnp.ndarray | None = None      # [M, n+1] value after removing the first k players (NaN: not scored)
    permutations: jnp.ndarray | None = None      # [M, n] int32 removal order of each chain


__all__ = ["Estimate"]

"""The search state: one pytree holding everything a resumed search needs."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

# Independent random streams, all folded from the one root key of a run.
STREAM_PARAMS, STREAM_ALPHA, STREAM_ARCH_STATE, STREAM_WEIGHT_STEP, STREAM_SHAPLEY, STREAM_FINAL = range(6)


def stream_key(root: jax.Array, stream: int, index: int | jax.Array = 0) -> jax.Array:
    """The key for event `index` of random stream `stream` (e.g. weight step 120, alpha update 3)."""
    return jax.random.fold_in(jax.random.fold_in(root, stream), index)


@flax.struct.dataclass
class SearchState:
    """Everything that changes during a search.

    step:           weight steps done (the data stream position is this number)
    alpha_updates:  architecture updates done (Shapley or DARTS steps)
    params, batch_stats: supernet variables
    opt_state:      optax state of the weight optimizer
    alpha:          architecture parameters [cell_types, edges, ops]
    beta:           PC-DARTS edge parameters [cell_types, edges], or None when edge normalisation is off
    arch_state:     optax state of the alpha rule (Shapley) or of Adam (DARTS baselines)
    shapley:        the last Shapley estimate [cell_types, edges, ops] (zeros before the first)
    rng:            the run's root key (raw uint32 key data)
    epoch_sums:     [loss sum, correct count, example count] of the current epoch's weight steps
    diverged_at:    first weight step whose loss was non-finite, -1 while all were finite
    """

    step: jax.Array
    alpha_updates: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    alpha: jax.Array
    beta: jax.Array | None
    arch_state: Any
    shapley: jax.Array
    rng: jax.Array
    epoch_sums: jax.Array
    diverged_at: jax.Array

    @classmethod
    def create(cls, *, params, batch_stats, opt_state, alpha, beta, arch_state, rng) -> "SearchState":
        return cls(
            step=jnp.int32(0),
            alpha_updates=jnp.int32(0),
            params=params,
            batch_stats=batch_stats,
            opt_state=opt_state,
            alpha=alpha,
            beta=beta,
            arch_state=arch_state,
            shapley=jnp.zeros_like(alpha),
            rng=rng,
            epoch_sums=jnp.zeros(3, jnp.float32),
            diverged_at=jnp.int32(-1),
        )

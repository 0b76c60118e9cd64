"""The search state: one pytree holding everything a resumed search needs."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

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
    alpha_grad:     with ``train.clip_with_alpha_grad`` (reference): alpha's gradient summed over every weight
                    step and clipped with the weights' gradients, as the original never zeroes it; else None
    clip_factors:   with ``train.clip_with_alpha_grad``: [sum, min, count] of this epoch's clip factors; else None
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
    alpha_grad: jax.Array | None = None
    clip_factors: jax.Array | None = None

    @classmethod
    def create(cls, *, params, batch_stats, opt_state, alpha, beta, arch_state, rng,
               clip_with_alpha_grad: bool = False) -> "SearchState":
        return cls(
            alpha_grad=jnp.zeros_like(alpha) if clip_with_alpha_grad else None,
            clip_factors=new_clip_factors() if clip_with_alpha_grad else None,
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

    def start_epoch(self) -> "SearchState":
        """The state with the per-epoch sums (losses, accuracy, clip factors) reset, as at an epoch start."""
        return self.replace(epoch_sums=jnp.zeros(3, jnp.float32),
                            clip_factors=None if self.clip_factors is None else new_clip_factors())


def new_clip_factors() -> jax.Array:
    """[sum, min, count] of an epoch's clip factors before its first step."""
    return jnp.array([0.0, 1.0, 0.0], jnp.float32)


@flax.struct.dataclass
class Hyperparameters:
    """The options a search's compiled steps read as values rather than as constants, so that one compiled
    program serves every value: searches that differ in them (and only in them) share their compiled steps.

    epochs:          ``train.epochs`` (the learning-rate schedule's length), int32 scalar
    steps_per_epoch: weight steps per epoch (the schedule's epoch boundaries), int32 scalar
    """

    epochs: jax.Array
    steps_per_epoch: jax.Array

    @classmethod
    def create(cls, *, epochs: int, steps_per_epoch: int) -> "Hyperparameters":
        return cls(epochs=jnp.int32(epochs), steps_per_epoch=jnp.int32(steps_per_epoch))

"""The search state: one pytree holding everything a resumed search needs, grouped by role."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class SupernetWeights:
    """What the weight steps train.

    params, batch_stats: supernet variables
    opt_state:           optax state of the weight optimizer
    """

    params: Any
    batch_stats: Any
    opt_state: Any


@flax.struct.dataclass
class Architecture:
    """What the architecture updates move, and the estimate that moved it last.

    alpha:     architecture parameters [cell_types, edges, ops]
    beta:      PC-DARTS edge parameters [cell_types, edges], or None when edge normalisation is off
    optimizer: optax state of the method's architecture optimizer (the alpha rule; Adam for DARTS)
    shapley:   the last Shapley estimate [cell_types, edges, ops] (zeros before the first)
    """

    alpha: jax.Array
    beta: jax.Array | None
    optimizer: Any
    shapley: jax.Array


@flax.struct.dataclass
class ReferenceClipping:
    """State only the original code's clipping keeps (``train.clip_with_alpha_grad``, reference-only).

    alpha_grad:   alpha's gradient summed over every weight step and clipped with the weights' gradients, as the
                  original never zeroes it
    clip_factors: [sum, min, count] of this epoch's clip factors
    """

    alpha_grad: jax.Array
    clip_factors: jax.Array

    @classmethod
    def create(cls, alpha: jax.Array) -> "ReferenceClipping":
        return cls(alpha_grad=jnp.zeros_like(alpha), clip_factors=new_clip_factors())


@flax.struct.dataclass
class SearchState:
    """Everything that changes during a search. Where the run is stands at the top level, named as in the
    training state (``TrainState``), so that the one run loop (``driver.drive``) reads both alike; the rest is
    grouped by role.

    step:          weight steps done (the data stream position is this number)
    alpha_updates: architecture updates done (Shapley or DARTS steps)
    epoch_sums:    [loss sum, correct count, example count] of the current epoch's weight steps
    diverged_at:   first weight step whose loss was non-finite, -1 while all were finite
    rng:           the run's root key (raw uint32 key data)
    weights:       :class:`SupernetWeights`
    arch:          :class:`Architecture`
    reference:     :class:`ReferenceClipping` with ``train.clip_with_alpha_grad``, else None

    Checkpoints written before this grouping (the 14 fields side by side) restore into it:
    :meth:`from_flat` and :meth:`flat` give the old layout (``checkpointing.Checkpointer.restore``).
    """

    step: jax.Array
    alpha_updates: jax.Array
    epoch_sums: jax.Array
    diverged_at: jax.Array
    rng: jax.Array
    weights: SupernetWeights
    arch: Architecture
    reference: ReferenceClipping | None = None

    @classmethod
    def create(cls, *, params, batch_stats, opt_state, alpha, beta, arch_optimizer, rng,
               clip_with_alpha_grad: bool = False) -> "SearchState":
        return cls(
            step=jnp.int32(0),
            alpha_updates=jnp.int32(0),
            epoch_sums=jnp.zeros(3, jnp.float32),
            diverged_at=jnp.int32(-1),
            rng=rng,
            weights=SupernetWeights(params=params, batch_stats=batch_stats, opt_state=opt_state),
            arch=Architecture(alpha=alpha, beta=beta, optimizer=arch_optimizer, shapley=jnp.zeros_like(alpha)),
            reference=ReferenceClipping.create(alpha) if clip_with_alpha_grad else None,
        )

    def with_arch(self, **changes) -> "SearchState":
        """The state with the named :class:`Architecture` fields replaced (``alpha=...``, ``shapley=...``)."""
        return self.replace(arch=self.arch.replace(**changes))

    def start_epoch(self) -> "SearchState":
        """The state with the per-epoch sums (losses, accuracy, clip factors) reset, as at an epoch start."""
        reference = None if self.reference is None else self.reference.replace(clip_factors=new_clip_factors())
        return self.replace(epoch_sums=jnp.zeros(3, jnp.float32), reference=reference)

    # ------------------------------------------------------- the layout of checkpoints before the grouping
    def flat(self) -> dict[str, Any]:
        """The state as the 14 side-by-side fields checkpoints held before the grouping (None where absent)."""
        reference = self.reference
        return {"step": self.step, "alpha_updates": self.alpha_updates, "params": self.weights.params,
                "batch_stats": self.weights.batch_stats, "opt_state": self.weights.opt_state,
                "alpha": self.arch.alpha, "beta": self.arch.beta, "arch_state": self.arch.optimizer,
                "shapley": self.arch.shapley, "rng": self.rng, "epoch_sums": self.epoch_sums,
                "diverged_at": self.diverged_at,
                "alpha_grad": None if reference is None else reference.alpha_grad,
                "clip_factors": None if reference is None else reference.clip_factors}

    @classmethod
    def from_flat(cls, fields: dict[str, Any]) -> "SearchState":
        """The inverse of :meth:`flat`."""
        f = fields
        reference = None
        if f.get("alpha_grad") is not None:
            reference = ReferenceClipping(alpha_grad=f["alpha_grad"], clip_factors=f["clip_factors"])
        return cls(step=f["step"], alpha_updates=f["alpha_updates"], epoch_sums=f["epoch_sums"],
                   diverged_at=f["diverged_at"], rng=f["rng"],
                   weights=SupernetWeights(params=f["params"], batch_stats=f["batch_stats"],
                                           opt_state=f["opt_state"]),
                   arch=Architecture(alpha=f["alpha"], beta=f["beta"], optimizer=f["arch_state"],
                                     shapley=f["shapley"]),
                   reference=reference)


def new_clip_factors() -> jax.Array:
    """[sum, min, count] of an epoch's clip factors before its first step."""
    return jnp.array([0.0, 1.0, 0.0], jnp.float32)


@flax.struct.dataclass
class Hyperparameters:
    """The options a search's compiled steps read as values rather than as constants, so that one compiled
    program serves every value: searches that differ in them (and only in them) share their compiled steps,
    and a population (``search/population.py``) gives each member its own values along a leading axis.

    epochs:          ``train.epochs`` (the learning-rate schedule's length), int32 scalar
    steps_per_epoch: weight steps per epoch (the schedule's epoch boundaries), int32 scalar
    learning_rate:   ``train.learning_rate`` (the schedule's peak), float32 scalar
    alpha_momentum:  ``alpha_rule.momentum``, float32 scalar
    alpha_step_size: ``alpha_rule.step_size``, float32 scalar
    truncation:      ``shapley.truncation`` (eta of the removal chains), float32 scalar
    """

    epochs: jax.Array
    steps_per_epoch: jax.Array
    learning_rate: jax.Array
    alpha_momentum: jax.Array
    alpha_step_size: jax.Array
    truncation: jax.Array

    # the config options the values come from, by field (scripts/bench_population.py and the population's
    # grid name them); epochs and steps_per_epoch follow from the data and the schedule
    OPTIONS = {"learning_rate": "train.learning_rate", "alpha_momentum": "alpha_rule.momentum",
               "alpha_step_size": "alpha_rule.step_size", "truncation": "shapley.truncation"}

    @classmethod
    def from_config(cls, config, *, steps_per_epoch: int, epochs: int | None = None) -> "Hyperparameters":
        """The values of ``config`` (``epochs`` defaults to ``train.epochs``)."""
        c = config
        return cls(epochs=jnp.int32(c.train.epochs if epochs is None else epochs),
                   steps_per_epoch=jnp.int32(steps_per_epoch),
                   learning_rate=jnp.float32(c.train.learning_rate),
                   alpha_momentum=jnp.float32(c.alpha_rule.momentum),
                   alpha_step_size=jnp.float32(c.alpha_rule.step_size),
                   truncation=jnp.float32(c.shapley.truncation))

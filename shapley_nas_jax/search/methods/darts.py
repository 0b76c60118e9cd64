"""DARTS (Liu et al., 2019): alpha (and PC-DARTS' beta) descend the value loss by Adam, one step before every
weight step after the warm-up; first order, or second order through one unrolled weight step."""

from __future__ import annotations

import jax
import numpy as np
import optax

from shapley_nas_jax.optim import darts_arch_optimizer
from shapley_nas_jax.rng import STREAM_SHAPLEY, stream_key
from shapley_nas_jax.search.methods.base import SearchMethod


class DARTS(SearchMethod):
    """``order`` 1: dL_val/d(alpha, beta) at the current weights; 2: at w' = w - lr (dL_train/dw + wd w)."""

    ranks_ops_by_alpha = True

    def __init__(self, order: int):
        if order not in (1, 2):
            raise ValueError(f"DARTS order must be 1 or 2, got {order!r}")
        self.order = order

    def label(self, config):
        """"DARTS (1st)" / "(2nd)", "+Shapley" when final Shapley values decide the cell, "*" with alpha
        frozen."""
        star = "*" if config.search.freeze_alpha else ""
        order = {1: "1st", 2: "2nd"}[self.order]
        if config.search.final_shapley and config.search.derive_from == "shapley":
            return f"DARTS+Shapley{star} ({order})"
        return f"DARTS{star} ({order})"

    def arch_optimizer(self, program, key):
        del key  # Adam starts from zeros
        return darts_arch_optimizer(program.config.darts)

    def arch_params(self, alpha, beta):
        return {"alpha": alpha} if beta is None else {"alpha": alpha, "beta": beta}

    def update_points(self, config, steps_per_epoch):
        start = config.search.warmup_epochs * steps_per_epoch
        return np.arange(start, config.train.epochs * steps_per_epoch)  # before every weight step after warm-up

    def arch_inputs(self, search, state):
        value_batch = search.program.put_train_batch(search.data.darts_value_stream.batch(int(state.alpha_updates)))
        return search.train_batch(int(state.step)), value_batch

    def arch_input_shardings(self, program):
        return program.batch_sharding, program.batch_sharding

    def logs_update(self, alpha_updates, steps_per_epoch):
        return (alpha_updates - 1) % steps_per_epoch == 0  # once per epoch's worth of steps

    def arch_step(self, program, state, train_batch, value_batch, *, hyper, bn_mode):
        del bn_mode  # the value loss runs the supernet in training mode, as a weight step does
        rng = stream_key(state.rng, STREAM_SHAPLEY, state.alpha_updates)
        arch = self.arch_params(state.arch.alpha, state.arch.beta)

        params, batch_stats = state.weights.params, state.weights.batch_stats

        def value_loss(arch):
            weights = params
            if self.order == 2:
                lr = program.schedule(hyper)(state.step)
                train_grads = jax.grad(lambda p: program.loss(p, batch_stats, arch["alpha"], arch.get("beta"),
                                                              train_batch, rng, True)[0])(weights)
                wd = program.config.train.weight_decay
                weights = jax.tree.map(lambda w, g: w - lr * (g + wd * w), weights, train_grads)
            return program.loss(weights, batch_stats, arch["alpha"], arch.get("beta"), value_batch, rng, True)[0]

        loss, grads = jax.value_and_grad(value_loss)(arch)
        updates, optimizer = self.arch_optimizer(program, None).update(grads, state.arch.optimizer, arch)
        arch = optax.apply_updates(arch, updates)
        return (state.with_arch(alpha=arch["alpha"], beta=arch.get("beta"), optimizer=optimizer)
                .replace(alpha_updates=state.alpha_updates + 1)), {"value_loss": loss}

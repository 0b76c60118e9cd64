"""The optimizers and learning-rate schedules of searches and of training from scratch.

Both read a config's ``train`` block: ``learning_rate``, ``learning_rate_min``, ``epochs``, ``lr_warmup_epochs``,
``momentum``, ``weight_decay``, ``grad_clip``, ``lr_schedule`` (``cosine`` or ``linear``), ``lr_epoch_offset``
and ``nesterov`` (both schemas hold every one).
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections
import optax

LR_SCHEDULES = ("cosine", "linear")  # the values of a training config's train.lr_schedule


def learning_rate_schedule(train: ml_collections.ConfigDict, steps_per_epoch, epochs=None,
                           learning_rate=None) -> optax.Schedule:
    """The learning rate of a step count, constant within an epoch (PyTorch schedulers stepped per epoch).

    For epoch ``e`` of ``E`` (``e = step // steps_per_epoch``, ``E = epochs``, default ``train.epochs``):

    * ``cosine``: ``lr_min + (lr - lr_min) * (1 + cos(pi * e' / E)) / 2`` with ``e' = min(e + offset, E)``:
      ``train.lr_epoch_offset`` shifts the cosine by whole epochs, capped at its minimum (the reference
      search steps its scheduler at the start of every epoch, so epoch e trains at the rate of e + 1).
    * ``linear`` (PC-DARTS' ImageNet ``adjust_lr``): ``lr * (E - 5 - e) / (E - 5)`` while ``E - e > 5``, then
      ``lr * (E - e) / (5 * (E - 5))`` (a smaller slope for the last 5 epochs).
    * a warm-up of ``W = train.lr_warmup_epochs`` epochs multiplies either by ``min(1, (e + 1) / W)``.

    ``steps_per_epoch``, ``epochs`` and ``learning_rate`` (default ``train.learning_rate``) may be traced
    scalars: a search passes them into its compiled steps as values, so one compiled step serves searches of
    any length and peak rate.
    """
    kind = train.lr_schedule
    lr = train.learning_rate if learning_rate is None else learning_rate
    lr_min = train.learning_rate_min
    total = train.epochs if epochs is None else epochs
    offset, warmup = train.lr_epoch_offset, train.lr_warmup_epochs

    def cosine(epoch):  # optax.cosine_decay_schedule's arithmetic, with a decay length that may be traced
        decay = 0.5 * (1 + jnp.cos(jnp.pi * epoch / total))
        return (lr - lr_min) * decay + lr_min

    def linear(epoch):
        early = lr * (total - 5 - epoch) / (total - 5)
        late = lr * (total - epoch) / ((total - 5) * 5)
        return jnp.where(total - epoch > 5, early, late)

    def schedule(count):
        epoch = (count // steps_per_epoch).astype(jnp.float32)
        shifted = jnp.minimum(epoch + offset, total)
        rate = linear(shifted) if kind == "linear" else cosine(shifted)
        if warmup > 0:
            rate = rate * jnp.minimum(1.0, (epoch + 1) / warmup)
        return rate

    return schedule


def weight_optimizer(train: ml_collections.ConfigDict, schedule: optax.Schedule) -> optax.GradientTransformation:
    """Global-norm clipping (``grad_clip``, 0 = off), then SGD with momentum and L2 weight decay on every
    parameter (PyTorch SGD semantics), at the learning rate ``schedule`` gives (:func:`learning_rate_schedule`).
    The optimizer's state does not depend on the schedule."""
    parts = [optax.clip_by_global_norm(train.grad_clip)] if train.grad_clip > 0 else []
    parts += [optax.add_decayed_weights(train.weight_decay),
              optax.sgd(schedule, momentum=train.momentum, nesterov=train.nesterov)]
    return optax.chain(*parts)


def darts_arch_optimizer(darts: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Adam on the architecture parameters with L2 weight decay (DARTS' architect)."""
    return optax.chain(optax.add_decayed_weights(darts.weight_decay),
                       optax.adam(darts.learning_rate, b1=darts.b1, b2=darts.b2))

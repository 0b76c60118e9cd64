"""The one learning-rate schedule and SGD chain of searches and of training from scratch."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from shapley_nas_jax.optim import learning_rate_schedule, weight_optimizer

STEPS_PER_EPOCH = 7


def train_block(**values) -> ml_collections.ConfigDict:
    block = dict(epochs=20, learning_rate=0.025, learning_rate_min=0.001, lr_warmup_epochs=0, momentum=0.9,
                 weight_decay=3e-4, grad_clip=5.0, lr_schedule="cosine", lr_epoch_offset=0, nesterov=False)
    block.update(values)
    return ml_collections.ConfigDict(block)


def closed_form(train, epoch: int) -> float:
    """The rate of epoch ``epoch`` written out in float64."""
    lr, lr_min, total = train.learning_rate, train.learning_rate_min, train.epochs
    shifted = min(epoch + train.lr_epoch_offset, total)
    if train.lr_schedule == "linear":
        rate = lr * (total - 5 - shifted) / (total - 5) if total - shifted > 5 else lr * (total - shifted) / (5 * (total - 5))
    else:
        rate = lr_min + 0.5 * (lr - lr_min) * (1 + np.cos(np.pi * shifted / total))
    if train.lr_warmup_epochs > 0:
        rate *= min(1.0, (epoch + 1) / train.lr_warmup_epochs)
    return rate


@pytest.mark.parametrize("values", [
    {},
    {"lr_epoch_offset": 1},
    {"lr_epoch_offset": 3, "lr_warmup_epochs": 4},
    {"lr_warmup_epochs": 5, "learning_rate_min": 0.0, "learning_rate": 0.5},
    {"lr_schedule": "linear", "learning_rate_min": 0.0, "learning_rate": 0.5},
    {"lr_schedule": "linear", "lr_warmup_epochs": 5, "learning_rate": 0.5},
])
def test_schedule_matches_the_closed_form_in_every_step_of_every_epoch(values):
    train = train_block(**values)
    schedule = jax.jit(learning_rate_schedule(train, STEPS_PER_EPOCH))
    steps = jnp.arange(train.epochs * STEPS_PER_EPOCH, dtype=jnp.int32)
    rates = np.asarray(jax.vmap(schedule)(steps))
    expected = np.array([closed_form(train, int(step) // STEPS_PER_EPOCH) for step in steps])
    assert rates.dtype == np.float32
    np.testing.assert_allclose(rates, expected, rtol=2e-6, atol=1e-9)


def test_offset_caps_the_cosine_at_its_minimum():
    train = train_block(lr_epoch_offset=3)
    schedule = learning_rate_schedule(train, STEPS_PER_EPOCH)
    for epoch in (17, 18, 19):
        np.testing.assert_allclose(float(schedule(jnp.int32(epoch * STEPS_PER_EPOCH))), 0.001, rtol=1e-6)


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_schedule_with_traced_length_equals_the_static_one(kind):
    """A search passes epochs and steps per epoch into its compiled steps as values: the rates are the same
    as with the config's numbers as constants, and one compiled schedule serves two lengths."""
    train = train_block(lr_schedule=kind, lr_epoch_offset=1, lr_warmup_epochs=2)
    traced = jax.jit(jax.vmap(lambda count, epochs, spe: learning_rate_schedule(train, spe, epochs)(count),
                              (0, None, None)))
    steps = jnp.arange((train.epochs + 7) * STEPS_PER_EPOCH, dtype=jnp.int32)
    for epochs in (train.epochs, train.epochs + 7):
        train.epochs = epochs
        static = learning_rate_schedule(train, STEPS_PER_EPOCH)
        rates = np.asarray(traced(steps, jnp.int32(epochs), jnp.int32(STEPS_PER_EPOCH)))
        # within an ulp: XLA may fold a division by a constant length into a multiplication
        np.testing.assert_allclose(rates, np.asarray(jax.vmap(static)(steps)), rtol=1e-6, atol=1e-9)
    assert traced._cache_size() == 1


@pytest.mark.parametrize("grad_clip,nesterov", [(5.0, False), (0.0, True)])
def test_weight_optimizer_is_clipped_sgd_with_decay(grad_clip, nesterov):
    train = train_block(grad_clip=grad_clip, nesterov=nesterov)
    tx = weight_optimizer(train, learning_rate_schedule(train, STEPS_PER_EPOCH))
    params = {"w": jnp.arange(4.0), "b": jnp.ones(2)}
    grads = {"w": jnp.full(4, 10.0), "b": jnp.full(2, -3.0)}
    parts = [optax.clip_by_global_norm(grad_clip)] if grad_clip > 0 else []
    expected_tx = optax.chain(*parts, optax.add_decayed_weights(3e-4),
                              optax.sgd(closed_form(train, 0), momentum=0.9, nesterov=nesterov))
    state, expected_state = tx.init(params), expected_tx.init(params)
    for _ in range(3):
        updates, state = tx.update(grads, state, params)
        expected, expected_state = expected_tx.update(grads, expected_state, params)
        for name in params:
            np.testing.assert_allclose(updates[name], expected[name], rtol=1e-6)

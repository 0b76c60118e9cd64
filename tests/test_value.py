import functools

import jax

jax.config.update("jax_disable_most_optimizations", True)

import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax.models import build_supernet
from shapley_nas_jax.spaces import get_space
from shapley_nas_jax.value import make_value_fn, score_logits

from random_variables import random_variables


@pytest.fixture(scope="module")
def setup():
    space = get_space("nb201")
    model = build_supernet(space, C=4, N=1, num_classes=3)
    x = 3.0 * jax.random.normal(jax.random.key(0), (8, 8, 8, 3)) + 1.0
    batch = {"image": x, "label": jnp.array([0, 1, 2, 0, 1, 2, 0, 1], jnp.int32)}
    alpha = jax.random.normal(jax.random.key(1), space.alpha_shape)
    # random running statistics, far from the batch's, so the two BN modes must differ
    variables = random_variables(model, x, alpha, None)
    return space, model, batch, alpha, variables["params"], variables["batch_stats"]


@pytest.fixture(scope="module")
def jitted_value(setup):
    """``jax.jit(make_value_fn(model, metric, bn_mode))``, compiled once per module."""
    model = setup[1]
    return functools.cache(lambda metric, bn_mode: jax.jit(make_value_fn(model, metric, bn_mode)))


def test_score_logits_hand_count():
    logits = jnp.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [9.0, 0.0, 0.0]])
    labels = jnp.array([0, 2, 2, 1])
    assert float(score_logits(logits, labels)) == pytest.approx(0.5)
    ce = -np.mean([np.log(np.exp(l[y]) / np.exp(l).sum()) for l, y in zip(np.asarray(logits), [0, 2, 2, 1])])
    assert float(score_logits(logits, labels, "neg_cross_entropy")) == pytest.approx(-ce, rel=1e-5)
    with pytest.raises(ValueError, match="metric"):
        make_value_fn(None, metric="top5")
    with pytest.raises(ValueError, match="bn_mode"):
        make_value_fn(None, bn_mode="eval")


def test_accuracy_matches_hand_count(setup, jitted_value):
    space, model, batch, alpha, params, stats = setup
    mask = jnp.ones(space.alpha_shape)
    apply = jax.jit(model.apply, static_argnames=("train", "mutable"))
    for bn_mode, train in (("running", False), ("batch", True)):
        value = jitted_value("accuracy", bn_mode)
        out = apply({"params": params, "batch_stats": stats}, batch["image"], alpha, mask, train=train,
                    mutable="batch_stats" if train else False)
        logits = np.asarray(out[0] if train else out)
        hand = sum(int(np.argmax(l) == y) for l, y in zip(logits, np.asarray(batch["label"]))) / len(logits)
        assert float(value(params, stats, alpha, mask, batch)) == pytest.approx(hand)


def test_modes_differ_and_stats_untouched(setup, jitted_value):
    space, model, batch, alpha, params, stats = setup
    before = jax.tree_util.tree_map(np.array, stats)
    mask = jnp.ones(space.alpha_shape)
    running = jitted_value("neg_cross_entropy", "running")
    batch_mode = jitted_value("neg_cross_entropy", "batch")
    r1, b1 = running(params, stats, alpha, mask, batch), batch_mode(params, stats, alpha, mask, batch)
    r2, b2 = running(params, stats, alpha, mask, batch), batch_mode(params, stats, alpha, mask, batch)
    assert float(r1) != pytest.approx(float(b1), rel=1e-4)
    assert float(r1) == float(r2) and float(b1) == float(b2)  # nothing carried between calls
    jax.tree_util.tree_map(np.testing.assert_array_equal, before, jax.tree_util.tree_map(np.array, stats))


def test_vmap_over_masks(setup, jitted_value):
    space, model, batch, alpha, params, stats = setup
    masks = jax.random.bernoulli(jax.random.key(5), 0.6, (3,) + space.alpha_shape).astype(jnp.float32)
    for bn_mode in ("running", "batch"):
        value = make_value_fn(model, "neg_cross_entropy", bn_mode)
        batched = jax.jit(jax.vmap(value, in_axes=(None, None, None, 0, None)))(params, stats, alpha, masks, batch)
        single = jitted_value("neg_cross_entropy", bn_mode)
        loop = [single(params, stats, alpha, m, batch) for m in masks]
        np.testing.assert_allclose(batched, loop, rtol=1e-5, atol=1e-6)


def test_noise_space_requires_rng():
    space = get_space("s4")
    model = build_supernet(space, C=4, layers=1, num_classes=3)
    batch = {"image": jax.random.normal(jax.random.key(0), (4, 8, 8, 3)), "label": jnp.zeros(4, jnp.int32)}
    alpha = jnp.zeros(space.alpha_shape)
    v = random_variables(model, batch["image"], alpha, None)
    value = make_value_fn(model, "neg_cross_entropy")
    with pytest.raises(ValueError, match="rng"):
        value(v["params"], v["batch_stats"], alpha, None, batch)
    f = jax.jit(value)
    a = f(v["params"], v["batch_stats"], alpha, None, batch, jax.random.key(0))
    b = f(v["params"], v["batch_stats"], alpha, None, batch, jax.random.key(1))
    assert float(a) != float(b)


def test_a_metric_takes_its_parameters_from_metric_kwargs(setup, jitted_value):
    from shapley_nas_jax.errors import InvalidInputError
    from shapley_nas_jax.value import get_value_metric, register_value_metric

    def shifted_accuracy(logits, labels, *, mask, shift, scale=1.0):
        return scale * jnp.mean(jnp.argmax(logits, -1) == labels) + shift * jnp.mean(mask)

    register_value_metric("test_shifted_accuracy", shifted_accuracy, overwrite=True)
    space, model, batch, alpha, params, stats = setup
    mask = jnp.ones(space.alpha_shape).at[0, 0].set(0.0)
    value = jax.jit(make_value_fn(model, "test_shifted_accuracy", metric_kwargs={"shift": 0.5, "scale": 2.0}))
    accuracy = float(jitted_value("accuracy", "running")(params, stats, alpha, mask, batch))
    assert float(value(params, stats, alpha, mask, batch)) == pytest.approx(2.0 * accuracy + 0.5 * float(mask.mean()))
    with pytest.raises(InvalidInputError, match="'test_shifted_accuracy' takes no parameter 'shfit'; its "
                                                "parameters: shift, scale$"):
        get_value_metric("test_shifted_accuracy", shfit=0.5)
    with pytest.raises(InvalidInputError, match="no parameter 'mask'.*come from the supernet"):
        get_value_metric("test_shifted_accuracy", shift=0.5, mask=None)
    with pytest.raises(InvalidInputError, match="'test_shifted_accuracy' needs its parameter\\(s\\) shift "):
        make_value_fn(model, "test_shifted_accuracy")  # shift has no default


def test_metric_kwargs_of_a_config_reach_the_metric_of_a_search():
    from search_configs import tiny_config
    from shapley_nas_jax import Search, register_value_metric
    from shapley_nas_jax.config import validate
    from shapley_nas_jax.errors import ConfigError

    seen = []

    def scaled_accuracy(logits, labels, *, scale):
        seen.append(scale)  # at trace time
        return scale * jnp.mean(jnp.argmax(logits, -1) == labels)

    register_value_metric("test_scaled_accuracy", scaled_accuracy, overwrite=True)
    config = tiny_config("nb201", **{"shapley.metric": "test_scaled_accuracy"})
    config.shapley.metric_kwargs.sacle = 3.0
    with pytest.raises(ConfigError, match="^shapley.metric_kwargs: value metric 'test_scaled_accuracy' takes no "
                                          "parameter 'sacle'; its parameters: scale$"):
        validate(config)
    del config.shapley.metric_kwargs["sacle"]
    config.shapley.metric_kwargs.scale = 3.0
    search = Search.from_config(config)
    state = jax.eval_shape(search.program.init_state, jax.random.PRNGKey(0))
    batches = search.value_batches(0)
    jax.eval_shape(lambda s: search.estimate_shapley(s, batches, jax.random.PRNGKey(1)), state)  # traces only
    assert seen and set(seen) == {3.0}

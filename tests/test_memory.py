import functools

import jax

jax.config.update("jax_disable_most_optimizations", True)  # faster compiles; as in test_ops.py
import pytest

from shapley_nas_jax.memory import choose_chunk_size, coalition_bytes, default_budget_bytes
from shapley_nas_jax.models.supernet import build_supernet

from random_variables import random_variables

MODEL = build_supernet("nb201", C=4, N=1)
SHAPE = (8, 8, 8, 3)


def test_coalition_bytes_scales_with_batch():
    small = coalition_bytes(MODEL, SHAPE, method="analytic")
    big = coalition_bytes(MODEL, (16,) + SHAPE[1:], method="analytic")
    assert 1.8 * small < big < 2.2 * small


@pytest.mark.slow
def test_compiled_estimate_is_positive_and_same_order():
    compiled = coalition_bytes(MODEL, SHAPE, method="compiled")
    analytic = coalition_bytes(MODEL, SHAPE, method="analytic")
    assert compiled > 0 and compiled < 20 * analytic


def test_chunk_size_monotone_in_budget_and_capped():
    per = coalition_bytes(MODEL, SHAPE, method="analytic")
    m = 4
    tiny = choose_chunk_size(MODEL, SHAPE, m, budget_bytes=1, method="analytic")
    mid = choose_chunk_size(MODEL, SHAPE, m, budget_bytes=per * m * 3 + 10**6, method="analytic")
    huge = choose_chunk_size(MODEL, SHAPE, m, budget_bytes=10**13, method="analytic")
    assert tiny == 1
    assert 1 <= mid <= 3
    assert huge == 24 + 1  # nb201: 6 edges x 4 ops (none excluded) players, +1 positions
    assert choose_chunk_size(MODEL, SHAPE, m, budget_bytes=10**13, method="analytic", max_chunk=8) == 8
    with pytest.raises(ValueError):
        choose_chunk_size(MODEL, SHAPE, 0)


def test_default_budget():
    assert default_budget_bytes() > 0
    if jax.default_backend() == "cpu":
        assert default_budget_bytes() <= 4 * 1024**3


# DARTS cells with remat: test_search.py's test_model_remat_option_gives_the_same_weight_step (a whole weight step).
@pytest.mark.slow
@pytest.mark.parametrize("space,options", [("nb201", dict(C=4, N=1))])
def test_remat_gives_identical_loss_and_gradients(space, options):
    import jax.numpy as jnp
    import numpy as np

    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
    models = [build_supernet(space, remat=remat, **options) for remat in (False, True)]
    shape = models[0].space.alpha_shape
    alpha, mask = jnp.zeros(shape), jnp.ones(shape)
    variables, remat_variables = (random_variables(model, x, alpha, mask) for model in models)
    jax.tree_util.tree_map(np.testing.assert_array_equal, variables, remat_variables)  # same tree (checkpoint format)

    def loss(model, params, alpha):
        logits, _ = model.apply({"params": params, "batch_stats": variables["batch_stats"]}, x, alpha, mask,
                                train=True, mutable=["batch_stats"])
        return jnp.sum(logits**2)

    r0, r1 = (jax.jit(jax.value_and_grad(functools.partial(loss, model), argnums=(0, 1)))(variables["params"], alpha)
              for model in models)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), r0, r1)

import jax

jax.config.update("jax_disable_most_optimizations", True)

import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax.ops import known_ops, lax_formulation, make_op, primitives as P, register_op
from shapley_nas_jax.ops.layers import FactorizedReduce, Identity

C = 4
DARTS_OPS = ["none", "noise", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5", "nor_conv_1x1", "nor_conv_3x3"]


def init_apply(op, x, train=False, seed=0):
    rngs = {"params": jax.random.key(seed), "noise": jax.random.key(seed + 1)}
    variables = op.init(rngs, x, train=False)
    out = op.apply(variables, x, train=train, rngs={"noise": jax.random.key(7)}, mutable=["batch_stats"] if train else False)
    return variables, (out[0] if train else out)


def n_params(variables):
    return sum(x.size for x in jax.tree_util.tree_leaves(variables.get("params", {})))


@pytest.mark.parametrize("name", DARTS_OPS)
@pytest.mark.parametrize("stride", [1, 2])
def test_op_shapes(name, stride):
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, C))
    _, y = init_apply(make_op(name, C, stride, affine=False), x)
    assert y.shape == (2, 8 // stride, 8 // stride, C)
    assert bool(jnp.all(jnp.isfinite(y)))


def test_odd_spatial_size_stride2():
    x = jnp.ones((1, 7, 7, C))
    for name in ["skip_connect", "sep_conv_3x3", "max_pool_3x3", "avg_pool_3x3", "none", "dil_conv_5x5"]:
        _, y = init_apply(make_op(name, C, 2), x)
        assert y.shape == (1, 4, 4, C), name


@pytest.mark.parametrize(
    "name,stride,affine,expected",
    [
        ("sep_conv_3x3", 1, False, 2 * (9 * C + C * C)),
        ("sep_conv_5x5", 2, False, 2 * (25 * C + C * C)),
        ("sep_conv_3x3", 1, True, 2 * (9 * C + C * C) + 4 * C),
        ("dil_conv_3x3", 1, False, 9 * C + C * C),
        ("dil_conv_5x5", 2, True, 25 * C + C * C + 2 * C),
        ("skip_connect", 1, True, 0),
        ("skip_connect", 2, False, 2 * C * (C // 2)),
        ("skip_connect", 2, True, 2 * C * (C // 2) + 2 * C),
        ("max_pool_3x3", 2, False, 0),
        ("none", 1, False, 0),
        ("noise", 2, False, 0),
        ("nor_conv_3x3", 1, True, 9 * C * C + 2 * C),
        ("nor_conv_1x1", 1, False, C * C),
    ],
)
def test_param_counts(name, stride, affine, expected):
    variables, _ = init_apply(make_op(name, C, stride, affine), jnp.ones((2, 8, 8, C)))
    assert n_params(variables) == expected


def test_pool_bn_option():
    x = jnp.ones((2, 8, 8, C))
    v_plain, _ = init_apply(make_op("avg_pool_3x3", C, 1, False), x)
    v_bn, _ = init_apply(make_op("avg_pool_3x3", C, 1, True, pool_bn=True), x)
    assert "batch_stats" not in v_plain and "batch_stats" in v_bn
    assert n_params(v_bn) == 2 * C


def test_registry_errors_and_extension():
    with pytest.raises(ValueError, match="known ops:.*sep_conv_3x3"):
        make_op("conv_9x9", C, 1)
    register_op("test_identity", lambda C, stride, affine, name=None, **_: Identity(name=name))
    assert "test_identity" in known_ops()
    with pytest.raises(ValueError, match="already registered"):
        register_op("test_identity", lambda *a, **k: None)


def test_avg_pool_excludes_padding():
    x = jnp.ones((1, 4, 4, 1))
    np.testing.assert_allclose(P.avg_pool_3x3(x, 1), 1.0, rtol=1e-6)  # include-pad would give 4/9 at corners
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    np.testing.assert_allclose(P.avg_pool_3x3(x, 1)[0, 0, 0, 0], (0 + 1 + 4 + 5) / 4)
    np.testing.assert_allclose(P.max_pool_3x3(-x - 1, 1)[0, 0, 0, 0], -1.0)  # padding never wins
    np.testing.assert_allclose(P.max_pool_2x2(x)[0, :, :, 0], [[5, 7], [13, 15]])


def test_depthwise_matches_naive():
    x = jax.random.normal(jax.random.key(1), (1, 6, 6, 2))
    k = jax.random.normal(jax.random.key(2), (3, 3, 2))
    y = P.depthwise_conv(x, k, stride=1, dilation=2)
    xp = np.pad(np.asarray(x), ((0, 0), (2, 2), (2, 2), (0, 0)))
    ref = np.zeros((1, 6, 6, 2))
    for i in range(3):
        for j in range(3):
            ref += xp[:, 2 * i:2 * i + 6, 2 * j:2 * j + 6, :] * np.asarray(k)[i, j]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    w = jax.random.normal(jax.random.key(3), (2, 5))
    np.testing.assert_allclose(P.pointwise_conv(x, w, 2), np.asarray(x)[:, ::2, ::2] @ np.asarray(w), rtol=1e-5, atol=1e-5)


def test_factorized_reduce_shift():
    x = jax.random.normal(jax.random.key(0), (1, 4, 4, 2))
    op = FactorizedReduce(4)
    variables = op.init(jax.random.key(0), x)
    p = variables["params"]
    y = op.apply(variables, x)  # running stats mean 0 var 1: y = relu-convs / sqrt(1 + eps)
    r = np.maximum(np.asarray(x), 0)
    a = r[:, ::2, ::2] @ np.asarray(p["conv1"]["kernel"])
    b = r[:, 1::2, 1::2] @ np.asarray(p["conv2"]["kernel"])
    np.testing.assert_allclose(y, np.concatenate([a, b], -1) / np.sqrt(1 + 1e-5), rtol=1e-4, atol=1e-5)


def test_channel_shuffle():
    x = jnp.arange(6.0).reshape(1, 1, 1, 6)
    np.testing.assert_array_equal(P.channel_shuffle(x, 2)[0, 0, 0], [0, 3, 1, 4, 2, 5])


def test_noise_is_fresh_and_input_independent():
    op = make_op("noise", C, 1)
    x = jnp.ones((2, 4, 4, C))
    a = op.apply({}, x, rngs={"noise": jax.random.key(0)})
    b = op.apply({}, x * 100, rngs={"noise": jax.random.key(0)})
    c = op.apply({}, x, rngs={"noise": jax.random.key(1)})
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_bn_train_flag_and_formulation_switch():
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, C)) * 3 + 1
    op = make_op("nor_conv_3x3", C, 1, affine=True)
    variables = op.init(jax.random.key(0), x)
    y_eval = op.apply(variables, x, train=False)
    y_train, updates = op.apply(variables, x, train=True, mutable=["batch_stats"])
    assert not np.allclose(y_eval, y_train)
    np.testing.assert_allclose(jnp.mean(y_train, axis=(0, 1, 2)), 0.0, atol=1e-4)
    # running mean moved by 10% of the batch mean (PyTorch momentum 0.1)
    assert not np.allclose(updates["batch_stats"]["bn"]["bn"]["mean"], 0.0)
    with pytest.raises(ValueError, match="unknown formulation"):
        with P.formulation("cuda_magic"):
            pass
    P.register_formulation("test_naive_pool", {"max_pool": lambda x, w, s, p: lax_formulation.max_pool(x, w, s, p) * 0},
                           overwrite=True)
    with P.formulation("test_naive_pool"):
        assert float(jnp.abs(P.max_pool_3x3(x, 1)).max()) == 0.0
    assert float(jnp.abs(P.max_pool_3x3(x, 1)).max()) > 0


@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_matches_flax_with_its_closed_form_backward(affine):
    """ops.BatchNorm (closed-form backward pass) gives flax's nn.BatchNorm values, running averages and
    gradients, first and second order, in both modes."""
    import flax.linen as nn

    from shapley_nas_jax.ops.layers import BN_EPSILON, BN_MOMENTUM, BatchNorm

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(1.0, 3.0, (8, 5, 5, 6)), jnp.float32)
    cotangent = jnp.asarray(rng.normal(size=x.shape), jnp.float32)
    ours = BatchNorm(affine)
    flax_bn = nn.BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, use_bias=affine, use_scale=affine)
    shapes = jax.tree_util.tree_map(jnp.shape, ours.init(jax.random.PRNGKey(0), x))
    assert shapes == {kind: {"bn": tree} for kind, tree in
                      jax.tree_util.tree_map(jnp.shape, flax_bn.init(jax.random.PRNGKey(0), x, False)).items()}
    stats = {"mean": jnp.linspace(-1, 1, 6), "var": jnp.linspace(0.5, 2, 6)}
    params = {"scale": jnp.linspace(0.5, 2, 6), "bias": jnp.linspace(-1, 1, 6)} if affine else {}

    def ours_loss(params, x, train):
        tree = {"batch_stats": {"bn": stats}, **({"params": {"bn": params}} if affine else {})}
        y, updates = ours.apply(tree, x, train, mutable=["batch_stats"])
        return jnp.vdot(y, cotangent), updates["batch_stats"]["bn"]

    def flax_loss(params, x, train):
        tree = {"batch_stats": stats, **({"params": params} if affine else {})}
        y, updates = flax_bn.apply(tree, x, not train, mutable=["batch_stats"])
        return jnp.vdot(y, cotangent), updates["batch_stats"]

    for train in (True, False):
        (loss, new_stats), grads = jax.value_and_grad(ours_loss, (0, 1), has_aux=True)(params, x, train)
        (ref_loss, ref_stats), ref_grads = jax.value_and_grad(flax_loss, (0, 1), has_aux=True)(params, x, train)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
        for name in ("mean", "var"):
            np.testing.assert_allclose(new_stats[name], ref_stats[name], rtol=1e-6)
        np.testing.assert_allclose(grads[1], ref_grads[1], rtol=1e-5, atol=1e-5)
        for name in params:
            np.testing.assert_allclose(grads[0][name], ref_grads[0][name], rtol=1e-5, atol=1e-5)

    def second_order(loss):
        first = jax.grad(lambda x: loss(params, x, True)[0])
        return jax.grad(lambda x: jnp.sum(first(x) ** 2))(x)

    np.testing.assert_allclose(second_order(ours_loss), second_order(flax_loss), rtol=1e-4, atol=1e-6)

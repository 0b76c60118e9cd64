"""The fast ("shifted") formulation of every primitive equals the lax reference, and so does a whole
supernet's value and gradient."""

import jax

jax.config.update("jax_disable_most_optimizations", True)  # faster compiles; as in test_ops.py
import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax.models.supernet import build_supernet
from shapley_nas_jax.ops import primitives as P, shifted_formulation

from random_variables import random_variables

FORMS = ("lax", "shifted")


def with_formulation(name, fn, *args):
    with P.formulation(name):
        return jax.jit(lambda *a: fn(*a))(*args)  # fresh function: jit caches traces per function object


def assert_same(fn, *args, rtol=1e-5, atol=1e-5):
    ref = with_formulation("lax", fn, *args)
    fast = with_formulation("shifted", fn, *args)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol, atol=atol), ref, fast)
    return ref


def rand(shape, seed=0):
    """Normal test inputs, drawn with NumPy (a jax.random draw compiles a threefry program per shape)."""
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape, np.float32))


SIZES = (7, 8)  # odd and even


def test_depthwise():
    cases = [(k, s, d) for k in (3, 5) for s in (1, 2) for d in (1, 2)]
    x, w3, w5 = rand((2, 8, 8, 3)), rand((3, 3, 3), 1), rand((5, 5, 3), 2)
    assert_same(lambda xs: [P.depthwise_conv(x, w3 if k == 3 else w5, s, d) for x in xs for k, s, d in cases],
                [x[:, :size, :size] for size in SIZES])


def test_pointwise():
    cases = [(cin, cout, s) for cin, cout in ((4, 4), (3, 6), (16, 8)) for s in (1, 2)]
    # shifted: a sum over few input channels, one matmul over more; the cases take both ways
    assert min(c[0] for c in cases) <= shifted_formulation.POINTWISE_SUM_MAX_CHANNELS < max(c[0] for c in cases)
    kernels = [rand((cin, cout), cin) for cin, cout, _ in cases]
    xs = [rand((2, size, size, 16)) for size in SIZES]
    assert_same(lambda xs: [P.pointwise_conv(x[..., :cin], kernel, s)
                            for x in xs for (cin, _, s), kernel in zip(cases, kernels)], xs)


def test_dense_conv():
    cases = [(1, 1, 0, 1), (1, 2, 0, 1), (3, 1, 1, 1), (3, 2, 1, 1), (3, 1, 2, 2), (5, 2, 2, 1)]
    kernels = {(k, cin): rand((k, k, cin, 5), k) * 0.3 for k in (1, 3, 5) for cin in (3, 12)}
    # each size (its windows) and each input-channel count (channel sum, matmul) once: the two are independent
    xs = [rand((2, size, size, cin)) for size, cin in zip(SIZES, (3, 12))]
    assert_same(lambda xs: [P.conv(x, kernels[k, x.shape[-1]], s, p, d) for x in xs for k, s, p, d in cases], xs)


def test_pools():
    cases = [(3, 1, 1), (3, 2, 1), (2, 2, 0)]
    xs = [rand((2, size, size, 3)) for size in SIZES]
    assert_same(lambda xs: [(P.max_pool(x, w, s, p), P.avg_pool(x, w, s, p, False), P.avg_pool(x, w, s, p, True))
                            for x in xs for w, s, p in cases], xs)


def assert_same_grads(fn, *args, rtol=1e-4, atol=1e-4):
    """Gradients of ``sum(sin(fn(*args)))`` w.r.t. every argument agree between lax (autodiff of XLA's
    convolutions and windows) and shifted (its custom VJPs: shifted sums and matmuls). Cases checked in one
    program each read their own input leaves, so every leaf's gradient is that case's alone."""
    def objective(*a):
        return sum(jnp.sum(jnp.sin(o)) for o in jax.tree_util.tree_leaves(fn(*a)))

    grad = jax.grad(objective, argnums=tuple(range(len(args))))
    ref = with_formulation("lax", grad, *args)
    fast = with_formulation("shifted", grad, *args)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol, atol=atol), ref, fast)


def test_gradients_of_depthwise_convs():
    cases = [(size, k, s, d) for size in SIZES for k in (3, 5) for s in (1, 2) for d in (1, 2)]
    xs = [rand((2, size, size, 3)) for size, *_ in cases]
    kernels = [rand((k, k, 3), k) for _, k, _, _ in cases]
    assert_same_grads(lambda xs, kernels: [P.depthwise_conv(x, w, s, d)
                                           for x, w, (_, _, s, d) in zip(xs, kernels, cases)], xs, kernels)


def test_gradients_of_pools_pointwise_convs_and_channel_split():
    pools = [(size, w, s, p) for size in SIZES for w, s, p in [(3, 1, 1), (3, 2, 1), (2, 2, 0)]]
    assert_same_grads(lambda xs: [[P.max_pool(x, w, s, p), P.avg_pool(x, w, s, p, False), P.avg_pool(x, w, s, p, True)]
                                  for x, (_, w, s, p) in zip(xs, pools)],
                      [rand((2, size, size, 3)) for size, *_ in pools])
    pointwise = [(size, cin, cout, s) for size in SIZES for cin, cout, s in [(4, 4, 1), (3, 6, 2), (16, 8, 1)]]
    assert_same_grads(lambda xs, kernels: [P.pointwise_conv(x, k, s) for x, k, (*_, s) in zip(xs, kernels, pointwise)],
                      [rand((2, size, size, cin), 4) for size, cin, _, _ in pointwise],
                      [rand((cin, cout), 5) for _, cin, cout, _ in pointwise])
    # ties (ReLU zeros): the gradient goes to the first maximal tap, as lax's select-and-scatter does
    ties = jnp.maximum(rand((2, 6, 6, 2), 7), 0.0).round(1)
    assert_same_grads(lambda x: P.max_pool(x, 3, 1, 1) * 3.0, ties)
    x = rand((2, 5, 5, 8))
    assert_same_grads(lambda x: [a * b for a, b in zip(P.split_channels(x, 2), (2.0, -1.0))], x)


def test_second_order_gradients_match():
    """DARTS' second-order step differentiates through a weight gradient: the custom VJPs are
    differentiable again."""
    x, w = rand((2, 7, 7, 3)), rand((3, 3, 3), 1)

    def inner(x, w):
        gx = jax.grad(lambda x: jnp.sum(jnp.sin(P.depthwise_conv(P.max_pool(x, 3, 1, 1), w))))(x)
        return jnp.sum(gx ** 2)

    assert_same_grads(inner, x, w)


@pytest.mark.parametrize("op", ["depthwise", "max_pool", "avg_pool", "pointwise", "split"])
def test_second_order_gradients_through_a_scan_match(op):
    """The same, with the op inside a ``lax.scan`` over stacked kernels, as the scanned cell edges run it:
    the second-order DARTS step (an unrolled SGD step on the scanned weights, then d/dalpha) equals lax's."""
    x = rand((2, 7, 7, 4))
    apply, kernel_shape = {
        "depthwise": (lambda h, k: P.depthwise_conv(h, k, 2, 2), (3, 3, 4)),
        "max_pool": (lambda h, k: P.max_pool(h * k.sum(), 3, 1, 1), (2,)),
        "avg_pool": (lambda h, k: P.avg_pool(h * k.sum(), 3, 2, 1), (2,)),
        "pointwise": (lambda h, k: P.pointwise_conv(h, k), (4, 4)),
        "split": (lambda h, k: P.split_channels(h * k.sum(), 2)[0], (2,)),
    }[op]
    kernels = 0.3 * rand((3, *kernel_shape), 1)

    def loss(kernels, alpha):
        outputs = jax.lax.scan(lambda h, k: (h, apply(jnp.tanh(h * alpha), k)), x, kernels)[1]
        return jnp.mean(outputs ** 2)

    def value_after_step(alpha):
        return loss(kernels - 0.1 * jax.grad(loss)(kernels, alpha), alpha)

    assert_same(jax.grad(value_after_step), jnp.float32(1.0), rtol=1e-4, atol=1e-6)


def test_materialize_is_identity_in_value_vmap_and_grad():
    with P.formulation("shifted"):
        x = rand((3, 4, 5))
        f = lambda x: jnp.sum(jnp.sin(P.materialize(x * 2.0)))
        np.testing.assert_array_equal(jax.jit(P.materialize)(x), x)
        np.testing.assert_array_equal(jax.vmap(P.materialize)(x), x)
        np.testing.assert_allclose(jax.grad(f)(x), 2.0 * jnp.cos(2.0 * x), rtol=1e-6)
        np.testing.assert_allclose(jax.vmap(jax.grad(f))(x), 2.0 * jnp.cos(2.0 * x), rtol=1e-6)


def test_auto_resolves_per_backend():
    assert P.get_formulation() == "auto" and P.get_formulation(resolved=True) == "lax"  # shifted: opted into
    with P.formulation("shifted"):
        assert P.get_formulation(resolved=True) == "shifted"
        with P.formulation("lax"):
            assert P.get_formulation() == "lax"
        assert P.get_formulation() == "shifted"  # a block restores the selection it found
    assert P.get_formulation() == "auto"
    with pytest.raises(ValueError, match="unknown formulation"):
        with P.formulation("nope"):
            pass
    assert not hasattr(P, "set_formulation")  # no switch that outlives a block


@pytest.mark.slow
@pytest.mark.parametrize("space,options", [
    ("darts_reference", dict(C=4, layers=1, partial_channels=4)),  # one reduction cell: every op at strides 2, 1
    ("nb201", dict(C=4, N=1)),
])  # sizes kept small: both compile twice (lax and shifted)
def test_supernet_scores_match(space, options):
    """Shifted is used for forward-only scoring: masked supernet logits equal lax's, also under vmap."""
    model = build_supernet(space, **options)
    x = rand((4, 8, 8, 3))
    shape = model.space.alpha_shape
    alpha = rand(shape, 2) * 0.1
    mask = (jax.random.uniform(jax.random.key(3), shape) > 0.3).astype(jnp.float32)
    variables = random_variables(model, x, alpha, mask)
    masks = jnp.stack([mask, jnp.ones(shape)])

    def everything(params, alpha, masks):
        return jax.vmap(lambda m: model.apply({**variables, "params": params}, x, alpha, m, train=False))(masks)

    assert_same(everything, variables["params"], alpha, masks, rtol=1e-4, atol=1e-5)

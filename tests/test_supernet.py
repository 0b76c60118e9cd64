import jax

jax.config.update("jax_disable_most_optimizations", True)

import functools

import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax.models import (
    DartsSupernet,
    MixedOp,
    NB201Supernet,
    build_supernet,
    edge_normalization_weights,
    mixing_weights,
    per_edge_variables,
    stacked_edge_variables,
)
from shapley_nas_jax.ops import make_op, primitives as P
from shapley_nas_jax.spaces import get_space

from random_variables import random_variables


def test_mixing_weights_plain_and_renormalized():
    alpha = jnp.array([[0.0, 1.0, 2.0], [0.5, 0.5, 0.5]])
    mask = jnp.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    soft = jax.nn.softmax(alpha, -1)
    np.testing.assert_allclose(mixing_weights(alpha), soft, rtol=1e-6)
    np.testing.assert_allclose(mixing_weights(alpha, mask), soft * mask, rtol=1e-6)
    w = mixing_weights(alpha, mask, renormalize=True)
    e = np.exp([0.0, 2.0])
    np.testing.assert_allclose(w[0], [e[0] / e.sum(), 0.0, e[1] / e.sum()], rtol=1e-6)
    np.testing.assert_array_equal(w[1], 0.0)  # empty edge: zeros, no NaN
    g = jax.grad(lambda a: mixing_weights(a, mask, True).sum())(alpha)
    assert bool(jnp.all(jnp.isfinite(g)))


def test_edge_normalization_weights():
    space = get_space("darts")
    beta = jax.random.normal(jax.random.key(0), (2, 14))
    w = edge_normalization_weights(beta, space.edge_endpoints)
    np.testing.assert_allclose(w[:, 0] + w[:, 1], 1.0, rtol=1e-6)
    np.testing.assert_allclose(w[:, 9:14].sum(-1), 1.0, rtol=1e-6)


def test_mixed_op_matches_single_op_with_partial_channels():
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 4))
    names = ("max_pool_3x3", "sep_conv_3x3", "skip_connect")
    for stride in (1, 2):
        mixed = MixedOp(names, stride=stride, partial_channels=2)
        variables = mixed.init(jax.random.key(1), x, jnp.ones(3))
        out = mixed.apply(variables, x, jnp.array([0.0, 0.3, 0.0]))
        sep = make_op("sep_conv_3x3", 2, stride)
        alone = sep.apply({k: v["op1_sep_conv_3x3"] for k, v in variables.items()}, x[..., :2])
        bypass = x[..., 2:] if stride == 1 else P.max_pool_2x2(x[..., 2:])
        expected = P.channel_shuffle(jnp.concatenate([0.3 * alone, bypass], -1), 2)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
        # Every op masked: only the bypass channels survive, at the odd channel positions.
        empty = mixed.apply(variables, x, jnp.zeros(3))
        np.testing.assert_array_equal(empty[..., 0::2], 0.0)
        np.testing.assert_allclose(empty[..., 1::2], bypass, rtol=1e-6)


@pytest.fixture(scope="module")
def darts_setup():
    space = get_space("darts")
    model = build_supernet(space, C=4, layers=1, partial_channels=2)  # one (reduction) cell
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
    alpha = 1e-3 * jax.random.normal(jax.random.key(1), space.alpha_shape)
    variables = random_variables(model, x, alpha, None)
    apply = jax.jit(lambda v, m: model.apply(v, x, alpha, m))
    return space, model, x, alpha, variables, apply


def test_darts_supernet_shape_and_vmap(darts_setup):
    space, model, x, alpha, variables, apply = darts_setup
    assert isinstance(model, DartsSupernet)
    masks = jax.random.bernoulli(jax.random.key(3), 0.5, (3,) + space.alpha_shape).astype(jnp.float32)
    single = [apply(variables, m) for m in masks]
    assert single[0].shape == (2, 10)
    batched = jax.jit(jax.vmap(lambda m: model.apply(variables, x, alpha, m)))(masks)
    np.testing.assert_allclose(batched, jnp.stack(single), rtol=1e-5, atol=1e-6)
    assert not np.allclose(single[0], single[1])  # masks matter


def _perturb(tree, path, space):
    """``tree`` (scanned layout) with 1 added to every leaf under ``path`` of its per-edge layout."""
    def go(t, p):
        if not p:
            return jax.tree_util.tree_map(lambda a: a + 1.0, t)
        return {**t, p[0]: go(t[p[0]], p[1:])}

    return stacked_edge_variables(go(per_edge_variables(tree, space), path), space)


def test_darts_masked_ops_contribute_nothing(darts_setup):
    space, model, x, alpha, variables, apply = darts_setup
    mask = np.ones(space.alpha_shape, np.float32)
    mask[1, 3] = 0.0
    mask[1, 3, 4] = 1.0  # reduction cell, edge 3: only sep_conv_3x3 survives
    mask = jnp.asarray(mask)
    base = apply(variables, mask)
    for op in ("op5_sep_conv_5x5", "op6_dil_conv_3x3", "op7_dil_conv_5x5"):
        params = _perturb(variables["params"], ("cell0", "edge3", op), space)
        np.testing.assert_allclose(apply({**variables, "params": params}, mask), base, rtol=1e-6, atol=1e-6)
    params = _perturb(variables["params"], ("cell0", "edge3", "op4_sep_conv_3x3"), space)
    assert not np.allclose(apply({**variables, "params": params}, mask), base)


def test_darts_variants_by_shape():
    x = jnp.ones((2, 32, 32, 3))
    key = jax.random.key(0)
    s1 = get_space("s1")
    m = build_supernet(s1, C=4, layers=2)
    v = jax.eval_shape(m.init, key, x[:, :8, :8], jnp.zeros(s1.alpha_shape), None)
    # cells 0 and 1 are both reduction cells when layers=2; edge 1 of S1 reduce = max_pool, dil_conv_3x3
    assert set(v["params"]["cell0"]["edge1"]) == {"op1_dil_conv_3x3"}
    ref = get_space("darts_reference")
    m = build_supernet(ref, C=8, layers=2, stem="imagenet", edge_normalization=True, pool_bn=True, num_classes=5)
    alpha, beta = jnp.zeros(ref.alpha_shape), jnp.zeros((2, 14))
    out = jax.eval_shape(m.init_with_output, key, x, alpha, None, beta)[0]
    assert out.shape == (2, 5)
    v = jax.eval_shape(m.init, key, x, alpha, None, beta)
    assert "op0_avg_pool_3x3" in v["batch_stats"]["cell0"]["input_edges"]["mixed"]  # pool_bn, edges scanned
    # the ImageNet search supernet's stem (model_search_imagenet.py): 3 -> 3C/2 -> 3C, then 3C -> 3C
    assert v["params"]["stem0_conv1"]["kernel"].shape == (3, 3, 3, 12)
    assert v["params"]["stem1_conv"]["kernel"].shape == (3, 3, 24, 24)
    # FactorizedReduce after the stem, 3C -> half of the reduction cell's 2C
    assert v["params"]["cell0"]["preprocess0"]["conv1"]["kernel"].shape == (24, 8)


def test_edge_normalization_changes_output():
    space = get_space("s2")
    m = build_supernet(space, C=4, layers=1, edge_normalization=True)
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
    alpha = jnp.zeros(space.alpha_shape)
    v = random_variables(m, x, alpha, None)
    apply = jax.jit(lambda beta: m.apply(v, x, alpha, None, beta))
    uniform = apply(None)
    np.testing.assert_allclose(apply(jnp.zeros((2, 14))), uniform, rtol=1e-6)
    beta = jnp.zeros((2, 14)).at[1, 0].set(3.0)
    assert not np.allclose(apply(beta), uniform)


def test_noise_space_needs_rng_and_masked_noise_is_silent():
    space = get_space("s4")
    m = build_supernet(space, C=4, layers=1)
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
    alpha = jnp.zeros(space.alpha_shape)
    v = random_variables(m, x, alpha, None)
    f = jax.jit(lambda m_, r: m.apply(v, x, alpha, m_, rngs={"noise": r}))
    full = jnp.ones(space.alpha_shape)
    no_noise = full.at[..., 0].set(0.0)
    assert not np.allclose(f(full, jax.random.key(0)), f(full, jax.random.key(1)))
    np.testing.assert_allclose(f(no_noise, jax.random.key(0)), f(no_noise, jax.random.key(1)), rtol=1e-6)


@pytest.fixture(scope="module")
def nb201_setup():
    space = get_space("nb201")
    model = build_supernet(space, C=4, N=1, num_classes=3)
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
    alpha = jax.random.normal(jax.random.key(1), space.alpha_shape)
    variables = random_variables(model, x, alpha, None)
    apply = jax.jit(lambda v, m: model.apply(v, x, alpha, m))
    return space, model, x, alpha, variables, apply


def test_nb201_supernet_shape_and_vmap(nb201_setup):
    space, model, x, alpha, variables, apply = nb201_setup
    assert isinstance(model, NB201Supernet)
    assert variables["params"]["reduce2"]["downsample"]["kernel"].shape == (8, 16)
    masks = jax.random.bernoulli(jax.random.key(3), 0.5, (4,) + space.alpha_shape).astype(jnp.float32)
    single = jnp.stack([apply(variables, m) for m in masks])
    assert single.shape == (4, 2, 3)
    batched = jax.jit(jax.vmap(lambda m: model.apply(variables, x, alpha, m)))(masks)
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)


def test_nb201_masked_ops_contribute_nothing(nb201_setup):
    space, model, x, alpha, variables, apply = nb201_setup
    mask = jnp.ones(space.alpha_shape).at[0, 2, 3].set(0.0)  # edge 2<-1: drop nor_conv_3x3
    base = apply(variables, mask)
    params = _perturb(variables["params"], ("stage1_cell0", "edge2", "op3_nor_conv_3x3"), space)
    np.testing.assert_allclose(apply({**variables, "params": params}, mask), base, rtol=1e-6, atol=1e-6)
    assert not np.allclose(apply({**variables, "params": params}, jnp.ones(space.alpha_shape)),
                           apply(variables, jnp.ones(space.alpha_shape)))


def test_build_supernet_dispatch_and_errors():
    assert isinstance(build_supernet("nb201", C=4), NB201Supernet)
    assert isinstance(build_supernet("darts_reference"), DartsSupernet)
    m = DartsSupernet(get_space("nb201"))
    with pytest.raises(ValueError, match="DARTS-topology"):
        jax.eval_shape(m.init, jax.random.key(0), jnp.ones((1, 8, 8, 3)), jnp.zeros((1, 6, 5)), None)
    with pytest.raises(ValueError, match="unknown search space"):
        build_supernet("nope")
    # one generic option set serves both topologies; irrelevant options are dropped, typos are not
    generic = dict(channels=8, layers=5, cells_per_stage=2, partial_channels=4, stem="cifar", renormalize=True)
    d, n = build_supernet("darts", **generic), build_supernet("nb201", **generic)
    assert (d.C, d.layers, d.partial_channels, d.renormalize) == (8, 5, 4, True)
    assert (n.C, n.N, n.renormalize) == (8, 2, True)
    with pytest.raises(ValueError, match="unknown supernet option 'layer'"):
        build_supernet("darts", layer=3)


# One DARTS reduction cell skips ops on stride-2 (input) and stride-1 (node) edges; a normal cell's edges run
# the same scanned MixedOps.
SKIP_CASES = [("darts_reference", dict(C=4, layers=1, partial_channels=2), False),
              ("nb201", dict(C=4, N=1), True), ("s4", dict(C=4, layers=1), False)]


@pytest.mark.slow
@pytest.mark.parametrize("space_name,options,train", SKIP_CASES)
def test_skipping_absent_ops_gives_the_same_values(space_name, options, train):
    """skip_absent_ops (a cond per op) gives the logits of multiplying masked ops by 0: one mask at a time,
    under vmap, in eval mode and with batch statistics. (The running-average update differs for skipped ops,
    which are not run; value functions throw that update away.)"""
    space = get_space(space_name)
    plain = build_supernet(space, **options)
    skipping = plain.clone(skip_absent_ops=True)
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, 3))
    alpha = jax.random.normal(jax.random.key(1), space.alpha_shape)
    variables = random_variables(plain, x, alpha, None)
    assert jax.tree.structure(random_variables(skipping, x, alpha, None)) == jax.tree.structure(variables)
    masks = jax.random.bernoulli(jax.random.key(4), 0.6, (2,) + space.alpha_shape).astype(jnp.float32)

    @functools.partial(jax.jit, static_argnums=1)
    def run(mask, skip):
        model = skipping if skip else plain
        out = model.apply(variables, x, alpha, mask, train=train, rngs={"noise": jax.random.key(5)},
                          mutable=["batch_stats"] if train else False)
        return out[0] if train else out

    close = functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-5)
    for mask in masks:
        close(run(mask, True), run(mask, False))
        assert not np.allclose(run(mask, True), run(jnp.ones_like(mask), True))  # the mask matters
    vmapped = jax.jit(jax.vmap(lambda m: run(m, True)))(masks)
    close(vmapped, jnp.stack([run(m, False) for m in masks]))


PREFIX_CASES = [("s2", dict(C=4, layers=3, partial_channels=2), False),
                ("s4", dict(C=4, layers=2, edge_normalization=True), True),
                ("s2", dict(C=4, layers=2, stem="imagenet"), False)]  # the stem alone, reduced (/8)


@pytest.mark.slow
@pytest.mark.parametrize("space_name,options,train", PREFIX_CASES)
def test_supernet_from_its_prefix_equals_the_whole_pass(space_name, options, train):
    """Logits from (stem + cells before the first reduction) then the rest equal one whole pass, for a
    prefix with cells (layers=3) and the stem alone (layers=2), both stems, noise ops, batch statistics."""
    from shapley_nas_jax.value import make_value_fn

    space = get_space(space_name)
    model = build_supernet(space, **options)
    assert model.prefix_cell_types() == ((0,) if model.reduce_at[0] > 0 else ())
    x = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
    alpha = jax.random.normal(jax.random.key(1), space.alpha_shape)
    variables = random_variables(model, x, alpha, None)
    mask = jax.random.bernoulli(jax.random.key(4), 0.7, space.alpha_shape).astype(jnp.float32)
    value = make_value_fn(model, "neg_cross_entropy", "batch" if train else "running")
    batch = {"image": x, "label": jnp.arange(4) % 10}
    args = (variables["params"], variables["batch_stats"], alpha, mask, batch, jax.random.key(5))
    whole = jax.jit(value)(*args)
    prefix = jax.jit(value.prefix)
    staged = jax.jit(value.from_prefix)(*args[:5], prefix(*args), args[5])
    np.testing.assert_allclose(staged, whole, rtol=1e-6)
    if model.reduce_at[0] > 0:  # the prefix has cells: a different normal-cell coalition changes it
        other = mask.at[0].set(1.0 - mask[0])
        assert not np.allclose(prefix(*args)[1], prefix(*args[:3], other, *args[4:])[1])


@pytest.mark.slow
@pytest.mark.parametrize("space,options,gradients", [
    # One reduction cell scans stride-2 (input) and stride-1 (node) edge groups. Gradients take long to
    # compile: S3's ops (none, skip_connect, sep_conv_3x3; convolutions and BN statistics) check the scan's
    # backward, in cell_nodes as NB201 cells run it.
    ("darts_reference", dict(C=8, layers=1, partial_channels=4), False),
    ("s3", dict(C=4, layers=1, edge_normalization=True), True),
    ("nb201", dict(C=4, N=1), False),
])
def test_scanned_edges_equal_one_module_per_edge(space, options, gradients):
    """Edges run by nn.scan (stacked parameters) give the per-edge supernet's logits (and BN statistics and
    gradients), with its parameters converted, also when masked-out ops are skipped; the conversion is
    lossless both ways."""
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, 3))
    per_edge = build_supernet(space, scan_edges=False, **options)
    scanned = per_edge.clone(scan_edges=True)
    space = per_edge.space
    alpha = 0.1 * jax.random.normal(jax.random.key(2), space.alpha_shape)
    mask = (jax.random.uniform(jax.random.key(3), space.alpha_shape) > 0.3).astype(jnp.float32)
    # drawn in the scanned layout, converted per edge
    v_scan = random_variables(scanned, x, alpha)
    v_edge = {k: per_edge_variables(t, space) for k, t in v_scan.items()}
    assert "input_edges" in v_scan["params"]["cell0" if space.topology == "darts" else "stage0_cell0"]
    assert jax.tree.structure(v_edge) == jax.tree.structure(jax.eval_shape(per_edge.init, jax.random.key(0), x, alpha))
    back = {k: stacked_edge_variables(t, space) for k, t in v_edge.items()}
    jax.tree.map(np.testing.assert_array_equal, back, v_scan)

    ref = jax.jit(per_edge.apply)(v_edge, x, alpha, mask)
    np.testing.assert_allclose(jax.jit(scanned.apply)(v_scan, x, alpha, mask), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(jax.jit(scanned.clone(skip_absent_ops=True).apply)(v_scan, x, alpha, mask), ref,
                               rtol=1e-4, atol=1e-5)
    if not gradients:
        return

    def loss(model, variables, params):
        logits, stats = model.apply({**variables, "params": params}, x, alpha, mask, train=True,
                                    mutable=["batch_stats"])
        return jnp.sum(logits ** 2), stats["batch_stats"]

    (l_edge, s_edge), g_edge = jax.jit(jax.value_and_grad(functools.partial(loss, per_edge, v_edge), has_aux=True))(
        v_edge["params"])
    (l_scan, s_scan), g_scan = jax.jit(jax.value_and_grad(functools.partial(loss, scanned, v_scan), has_aux=True))(
        v_scan["params"])
    np.testing.assert_allclose(l_scan, l_edge, rtol=1e-4)
    close = functools.partial(np.testing.assert_allclose, rtol=2e-3, atol=1e-4)
    jax.tree.map(close, g_scan, stacked_edge_variables(g_edge, space))
    jax.tree.map(close, s_scan, stacked_edge_variables(s_edge, space))


def test_spaces_with_different_ops_per_edge_keep_one_module_per_edge():
    s1 = get_space("s1")
    model = build_supernet(s1, C=4, layers=2)
    v = jax.eval_shape(model.init, jax.random.key(0), jnp.ones((2, 8, 8, 3)), jnp.zeros(s1.alpha_shape), None)
    assert "edge1" in v["params"]["cell0"] and "input_edges" not in v["params"]["cell0"]

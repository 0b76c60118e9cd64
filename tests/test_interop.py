"""Conversion between our variables and the original PyTorch code's state dicts (shapley_nas_jax.interop).

Round trips both ways, the layouts of single entries checked by index, key names and shapes taken from
reading the original's code (model_search.py, model.py), and the one-line errors. NumPy only, except the
tests that ask for torch tensors. Comparisons with the original code itself are in test_parity.py.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax.evaluation.networks import NetworkCIFAR, NetworkImageNet
from shapley_nas_jax.genotypes import get_genotype
from shapley_nas_jax.interop import network_from_torch, network_to_torch, supernet_from_torch, supernet_to_torch
from shapley_nas_jax.models import build_supernet, per_edge_variables
from shapley_nas_jax.spaces import get_space

C, LAYERS, K = 8, 3, 4


@functools.lru_cache(maxsize=None)
def supernet(scan_edges=False, space="darts_reference"):
    return build_supernet(get_space(space), channels=C, layers=LAYERS, num_classes=10, partial_channels=K,
                          edge_normalization=False, pool_bn=False, renormalize=False, stem="cifar", remat=False,
                          scan_edges=scan_edges)


def random_variables(model, *args, seed=0, **kwargs):
    """Variables shaped like ``model.init(...)``'s, filled with distinct random numbers (no init run)."""
    keys = {"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(1)}
    shapes = jax.eval_shape(lambda: model.init(keys, *args, **kwargs))
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: rng.standard_normal(s.shape).astype(np.float32), shapes)


@functools.lru_cache(maxsize=None)
def supernet_variables(scan_edges=False):
    model = supernet(scan_edges)
    alpha = np.random.default_rng(1).standard_normal(model.space.alpha_shape).astype(np.float32)
    return random_variables(model, jnp.zeros((1, 8, 8, 3)), alpha, None, train=False), alpha


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# --------------------------------------------------------------------------------------------- supernet

@pytest.mark.parametrize("scan_edges", [False, True], ids=["per_edge", "stacked"])
def test_supernet_round_trips_exactly_both_ways(scan_edges):
    model = supernet(scan_edges)
    variables, alpha = supernet_variables(scan_edges)
    state = supernet_to_torch(variables, alpha, model)
    back, back_alpha = supernet_from_torch(state, model)
    assert_trees_equal(back, variables)
    np.testing.assert_array_equal(back_alpha, alpha)
    # and torch dict -> ours -> torch dict
    again = supernet_to_torch(back, back_alpha, model)
    assert again.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(again[key], state[key])


def test_supernet_state_dict_has_the_original_names_and_shapes():
    variables, alpha = supernet_variables()
    state = supernet_to_torch(variables, alpha, supernet())
    # model_search.Network(8, 10, 3, k=4).state_dict() has 1375 entries (counted on the original)
    assert len(state) == 1375
    expected = {
        "alphas_normal": (14, 7),
        "stem.0.weight": (24, 3, 3, 3),  # stem: conv 3 -> 3C
        "stem.1.weight": (24,),
        "stem.1.num_batches_tracked": (),
        "cells.0.preprocess0.op.1.weight": (8, 24, 1, 1),  # ReLUConvBN(3C, C)
        "cells.0.preprocess0.op.2.running_var": (8,),
        "cells.0._ops.0._ops.3.op.1.weight": (2, 1, 3, 3),  # sep_conv_3x3 depthwise on C/K = 2 channels
        "cells.0._ops.0._ops.3.op.6.weight": (2, 2, 1, 1),  # its second pointwise conv
        "cells.0._ops.13._ops.6.op.1.weight": (2, 1, 5, 5),  # dil_conv_5x5
        "cells.1.preprocess1.op.1.weight": (16, 32, 1, 1),  # reduction cell: C doubles, input 4C
        "cells.1._ops.0._ops.2.conv_1.weight": (2, 4, 1, 1),  # skip_connect at stride 2: FactorizedReduce
        "cells.1._ops.0._ops.2.bn.running_mean": (4,),
        "cells.2.preprocess0.conv_2.weight": (16, 32, 1, 1),  # after reduction cell 1: FactorizedReduce(4C, 4C)
        "classifier.weight": (10, 128),
        "classifier.bias": (10,),
    }
    for key, shape in expected.items():
        assert state[key].shape == shape, key
    # pools (ops 0, 1; no BN after them) and skip_connect at stride 1 (op 2) have no entries
    assert not any(k.startswith(("cells.0._ops.0._ops.0.", "cells.0._ops.0._ops.1.", "cells.0._ops.0._ops.2."))
                   for k in state)
    assert state["cells.0.preprocess0.op.2.num_batches_tracked"].dtype == np.int64


def test_supernet_layouts_map_single_entries_by_index():
    variables, alpha = supernet_variables()
    state = supernet_to_torch(variables, alpha, supernet())
    params, stats = variables["params"], variables["batch_stats"]
    dw = params["cell0"]["edge0"]["op3_sep_conv_3x3"]["dw1"]["kernel"]  # [k, k, C]
    np.testing.assert_array_equal(state["cells.0._ops.0._ops.3.op.1.weight"][1, 0, 0, 2], dw[0, 2, 1])
    pw = params["cell0"]["edge0"]["op3_sep_conv_3x3"]["pw1"]["kernel"]  # [C_in, C_out]
    np.testing.assert_array_equal(state["cells.0._ops.0._ops.3.op.2.weight"][1, 0, 0, 0], pw[0, 1])
    conv = params["stem_conv"]["kernel"]  # [k, k, C_in, C_out]
    np.testing.assert_array_equal(state["stem.0.weight"][5, 2, 0, 1], conv[0, 1, 2, 5])
    dense = params["classifier"]["kernel"]  # [C_in, C_out]
    np.testing.assert_array_equal(state["classifier.weight"][3, 100], dense[100, 3])
    np.testing.assert_array_equal(state["stem.1.weight"], params["stem_bn"]["bn"]["scale"])
    np.testing.assert_array_equal(state["cells.1.preprocess0.op.2.running_mean"],
                                  stats["cell1"]["preprocess0"]["bn"]["bn"]["mean"])
    np.testing.assert_array_equal(state["alphas_reduce"], alpha[1])


def test_supernet_layouts_convert_into_each_other():
    stacked, alpha = supernet_variables(scan_edges=True)
    state = supernet_to_torch(stacked, alpha, supernet(scan_edges=True))
    per_edge, _ = supernet_from_torch(state, supernet(scan_edges=False))
    assert_trees_equal(per_edge, {c: per_edge_variables(t, supernet().space) for c, t in stacked.items()})


def test_supernet_alphas_given_separately():
    variables, alpha = supernet_variables()
    state = supernet_to_torch(variables, None, supernet())
    assert "alphas_normal" not in state
    _, none = supernet_from_torch(state, supernet())
    assert none is None
    _, given = supernet_from_torch(state, supernet(), alphas=[alpha[0], alpha[1]])
    np.testing.assert_array_equal(given, alpha)
    with pytest.raises(ValueError, match=r"alphas have shape \[14, 7\], expected \[2, 14, 7\]"):
        supernet_from_torch(state, supernet(), alphas=alpha[0])


def one_line_error(call, *fragments):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_supernet_errors_name_the_key_and_what_was_expected():
    model = supernet()
    variables, alpha = supernet_variables()
    state = supernet_to_torch(variables, alpha, model)
    key = "cells.0._ops.0._ops.3.op.1.weight"
    missing = {k: v for k, v in state.items() if k != key}
    one_line_error(lambda: supernet_from_torch(missing, model), repr(key), "missing", "[2, 1, 3, 3]",
                   "params/cell0/edge0/op3_sep_conv_3x3/dw1/kernel")
    one_line_error(lambda: supernet_from_torch({**state, "cells.9.foo": np.zeros(3)}, model),
                   "'cells.9.foo'", "unexpected")
    wrong = {**state, key: np.zeros((4, 1, 3, 3), np.float32)}
    one_line_error(lambda: supernet_from_torch(wrong, model), repr(key), "[4, 1, 3, 3]", "expects [2, 1, 3, 3]")
    # num_batches_tracked is optional on import
    supernet_from_torch({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}, model)
    # our side
    params = jax.tree.map(np.copy, variables["params"])
    params["cell0"]["edge0"]["op3_sep_conv_3x3"]["dw1"]["kernel"] = np.zeros((3, 3, 4), np.float32)
    one_line_error(lambda: supernet_to_torch({**variables, "params": params}, alpha, model),
                   "params/cell0/edge0/op3_sep_conv_3x3/dw1/kernel", "[3, 3, 4]", "expects [3, 3, 2]")
    del params["cell0"]["edge0"]["op3_sep_conv_3x3"]["dw1"]
    one_line_error(lambda: supernet_to_torch({**variables, "params": params}, alpha, model), "missing",
                   "params/cell0/edge0/op3_sep_conv_3x3/dw1/kernel")
    one_line_error(lambda: supernet_to_torch(variables, alpha[:, :7], model), "alpha has shape [2, 7, 7]")
    other = supernet(space="darts")
    one_line_error(lambda: supernet_from_torch(state, other), "darts_reference")


# --------------------------------------------------------------------------------------------- networks

@functools.lru_cache(maxsize=None)
def network(kind):
    if kind == "cifar":
        return NetworkCIFAR(get_genotype("shapley_nas_cifar10"), C=8, layers=4, num_classes=10, auxiliary=True)
    return NetworkImageNet(get_genotype("shapley_nas_imagenet"), C=8, layers=4, num_classes=10, auxiliary=True)


@pytest.mark.parametrize("kind", ["cifar", "imagenet"])
def test_network_round_trips_exactly_both_ways(kind):
    net = network(kind)
    size = 32 if kind == "cifar" else 224
    variables = random_variables(net, jnp.zeros((1, size, size, 3)), train=False, seed=2)
    state = network_to_torch(variables, net)
    assert_trees_equal(network_from_torch(state, net), variables)
    again = network_to_torch(network_from_torch(state, net), net)
    assert again.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(again[key], state[key])
    head = {k: v.shape for k, v in state.items() if k.startswith("auxiliary_head.")}
    assert head["auxiliary_head.features.2.weight"] == (128, 128, 1, 1)  # on cell 2, the 2nd reduction: 4 x 4C
    assert head["auxiliary_head.features.5.weight"] == (768, 128, 2, 2)
    assert head["auxiliary_head.classifier.weight"] == (10, 768)
    # the ImageNet head has no BN after its 2x2 conv (as in the original)
    assert ("auxiliary_head.features.6.running_var" in head) == (kind == "cifar")
    if kind == "cifar":
        assert state["stem.0.weight"].shape == (24, 3, 3, 3)
    else:
        assert state["stem0.0.weight"].shape == (4, 3, 3, 3)  # C/2
        assert state["stem0.3.weight"].shape == (8, 4, 3, 3)
        assert state["stem1.1.weight"].shape == (8, 8, 3, 3)
        assert state["stem1.2.running_mean"].shape == (8,)
    # the shapley_nas_cifar10 normal cell's op 0 is sep_conv_3x3, its 5th (index 5) skip_connect (no weights)
    if kind == "cifar":
        assert state["cells.0._ops.0.op.7.weight"].shape == (8,)  # affine BN of the eval network
        assert not any(k.startswith("cells.0._ops.5.") for k in state)


def test_network_errors_and_refusals():
    net = network("cifar")
    variables = random_variables(net, jnp.zeros((1, 32, 32, 3)), train=False)
    state = network_to_torch(variables, net)
    key = "auxiliary_head.features.5.weight"
    one_line_error(lambda: network_from_torch({k: v for k, v in state.items() if k != key}, net), repr(key),
                   "missing", "[768, 128, 2, 2]")
    # a head initialised at a smaller resolution has a 1x1 conv, which the original cannot hold
    small = random_variables(net, jnp.zeros((1, 16, 16, 3)), train=False)
    one_line_error(lambda: network_to_torch(small, net), "params/auxiliary_head/conv2/kernel", "[1, 1, 128, 768]")
    one_line_error(lambda: network_to_torch(variables, supernet()), "NetworkCIFAR or NetworkImageNet")


# --------------------------------------------------------------------------------------------- torch

def test_torch_tensors_in_and_out():
    torch = pytest.importorskip("torch")
    model = supernet()
    variables, alpha = supernet_variables()
    tensors = supernet_to_torch(variables, alpha, model, as_torch=True, num_batches_tracked=7)
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())
    assert tensors["stem.1.num_batches_tracked"].dtype == torch.int64
    assert int(tensors["stem.1.num_batches_tracked"]) == 7
    assert tensors["stem.0.weight"].dtype == torch.float32 and tensors["stem.0.weight"].is_contiguous()
    back, back_alpha = supernet_from_torch(tensors, model)
    assert_trees_equal(back, variables)
    np.testing.assert_array_equal(back_alpha, alpha)
    # torch dict -> ours -> torch dict
    again = supernet_to_torch(back, back_alpha, model, as_torch=True, num_batches_tracked=7)
    for key, value in tensors.items():
        assert torch.equal(again[key], value), key

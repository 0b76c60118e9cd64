import numpy as np
import pytest

from shapley_nas_jax.spaces import (
    DARTS_OPS,
    SearchSpace,
    get_space,
    list_spaces,
    register_space,
    uniform_darts_space,
)


def test_registry_lists_builtin_spaces():
    assert {"darts", "darts_reference", "nb201", "s1", "s2", "s3", "s4"} <= set(list_spaces())


def test_unknown_space_lists_known_names():
    with pytest.raises(ValueError, match="darts_reference"):
        get_space("nope")


def test_register_custom_space_and_duplicate():
    register_space("test_tiny", lambda: uniform_darts_space("test_tiny", ("skip_connect", "none")))
    assert get_space("test_tiny").alpha_shape == (2, 14, 2)
    with pytest.raises(ValueError, match="already registered"):
        register_space("test_tiny", lambda: None)


@pytest.mark.parametrize(
    "name,shape",
    [("darts", (2, 14, 8)), ("darts_reference", (2, 14, 7)), ("s1", (2, 14, 2)), ("s2", (2, 14, 2)),
     ("s3", (2, 14, 3)), ("s4", (2, 14, 2)), ("nb201", (1, 6, 5))],
)
def test_shapes(name, shape):
    space = get_space(name)
    assert space.alpha_shape == shape
    assert space.num_edges == shape[1] and space.num_ops == shape[2]
    assert len(space.cell_types) == shape[0]


def test_darts_op_order_and_edges():
    space = get_space("darts")
    assert space.edge_ops["normal"][0] == DARTS_OPS == space.edge_ops[1][13]
    assert DARTS_OPS[:4] == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect")
    assert space.edge_endpoints[:5] == ((2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert space.edge_endpoints[-1] == (5, 4)
    ref = get_space("darts_reference")
    assert ref.edge_ops["reduce"][5][:2] == ("avg_pool_3x3", "max_pool_3x3")
    assert "none" not in ref.op_names


def test_s1_table_spot_checks():
    s1 = get_space("s1")
    assert s1.edge_ops["normal"][5] == ("max_pool_3x3", "skip_connect")
    assert s1.edge_ops["normal"][12] == ("dil_conv_3x3", "dil_conv_5x5")
    assert s1.edge_ops["reduce"][1] == ("max_pool_3x3", "dil_conv_3x3")
    assert s1.edge_ops["reduce"][6] == ("max_pool_3x3", "sep_conv_3x3")
    assert s1.edge_ops["reduce"][13] == ("skip_connect", "dil_conv_5x5")
    assert get_space("s4").edge_ops[0][3] == ("noise", "sep_conv_3x3")


def test_nb201_space():
    space = get_space("nb201")
    assert space.cell_types == ("cell",)
    assert space.edge_endpoints == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert space.edge_ops["cell"][0] == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def test_player_masks():
    darts = get_space("darts").player_mask()
    assert darts.dtype == bool and darts.shape == (2, 14, 8)
    assert not darts[..., 0].any() and darts[..., 1:].all()
    assert get_space("darts").player_mask(exclude=()).all()
    assert get_space("darts_reference").player_mask().all()
    s3 = get_space("s3").player_mask()
    np.testing.assert_array_equal(s3[0, 0], [False, True, True])
    assert s3.sum() == 2 * 14 * 2
    assert get_space("nb201").player_mask().sum() == 6 * 4


def test_space_is_hashable_and_validated():
    assert hash(get_space("s1")) == hash(get_space("s1"))
    with pytest.raises(ValueError, match="same number of ops"):
        table = tuple(("a", "b") for _ in range(13)) + (("a",),)
        SearchSpace("bad", "darts", ("normal", "reduce"), (table, table))
    with pytest.raises(ValueError, match="topology"):
        SearchSpace("bad", "resnet", ("cell",), ((("a",),),))

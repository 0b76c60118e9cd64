import json

import numpy as np
import pytest

from shapley_nas_jax.genotypes import (
    NB201Genotype,
    count_ops,
    derive_genotype,
    get_genotype,
    known_genotypes,
    parse_genotype,
)
from shapley_nas_jax.spaces import get_space

LIBRARY = ["darts_v1", "darts_v2", "pc_darts_cifar", "pc_darts_imagenet", "shapley_nas_cifar10", "shapley_nas_imagenet"]


@pytest.mark.parametrize("name", LIBRARY)
def test_library_round_trips(name, tmp_path):
    g = get_genotype(name)
    assert len(g.normal) == 8 and len(g.reduce) == 8
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
    assert parse_genotype(str(g)) == g
    assert parse_genotype(g.to_json()) == g
    assert parse_genotype(json.dumps(g.to_json())) == g
    path = tmp_path / "g.json"
    path.write_text(json.dumps(g.to_json()))
    assert get_genotype(str(path)) == g


def test_shapley_nas_cifar10_verbatim_and_str_format():
    g = get_genotype("shapley_nas")
    assert g.normal[5] == ("skip_connect", 3) and g.reduce[7] == ("skip_connect", 2)
    s = str(g)
    assert s.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ")
    assert "normal_concat=[2, 3, 4, 5], reduce=[('sep_conv_3x3', 1), ('max_pool_3x3', 0)" in s
    assert s.endswith("('skip_connect', 2)], reduce_concat=[2, 3, 4, 5])")
    assert g.to_json()["normal"][0] == ["sep_conv_3x3", 0]
    assert set(LIBRARY) <= set(known_genotypes())


def test_nb201_string_and_json():
    text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    g = parse_genotype(text)
    assert isinstance(g, NB201Genotype)
    assert g.ops == ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect")
    assert str(g) == text
    assert g.to_json() == {"type": "nb201", "arch": text}
    assert parse_genotype(g.to_json()) == g
    assert count_ops(g) == 2


@pytest.mark.parametrize(
    "bad,match",
    [
        ("Genotype(normal=[('sep_conv_3x3', 0)", "malformed"),
        ("Genotype(normal=[], normal_concat=[2], reduce=[])", "fields"),
        ("Genotype(normal=[('conv_9x9', 0), ('sep_conv_3x3', 1)], normal_concat=[2], reduce=[], reduce_concat=[2])",
         "unknown op name 'conv_9x9'.*sep_conv_3x3"),
        ("Genotype(normal=[('sep_conv_3x3', 2), ('sep_conv_3x3', 1)], normal_concat=[2], reduce=[], reduce_concat=[2])",
         "input must be"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|a~0|b~1|c~2|", "node 2"),
        ("|nor_conv_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|none~1|none~2|", "op~0"),
        ("|bogus~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op name"),
        ({"type": "resnet"}, "type"),
        ("darts_v9", "unknown genotype name"),
    ],
)
def test_parse_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        get_genotype(bad)


def test_error_messages_are_one_line():
    with pytest.raises(ValueError) as info:
        parse_genotype("Genotype(normal=[(")
    assert "\n" not in str(info.value)


def test_darts_derivation_top2_and_ties():
    space = get_space("darts")  # ops: none, max, avg, skip, sep3, sep5, dil3, dil5
    w = np.zeros(space.alpha_shape)
    # node 2 (edges 0, 1): 'none' is strongest on edge 0 but excluded; sep3 then wins there.
    w[0, 0] = [9, 0, 0, 0, 0.5, 0, 0, 0]
    w[0, 1] = [0, 0, 0, 0.7, 0, 0, 0, 0]
    # node 3 (edges 2, 3, 4): edge 4 strongest; edges 2 and 3 tie -> lower edge (2, input 0) kept.
    w[0, 2] = [0, 0, 0.3, 0, 0, 0, 0, 0]
    w[0, 3] = [0, 0.3, 0, 0, 0, 0, 0, 0]
    w[0, 4] = [0, 0, 0, 0, 0, 0, 0.9, 0]
    # node 4 (edges 5..8): op tie on edge 8 -> lower op index (max_pool) kept.
    w[0, 8] = [0, 0.6, 0.6, 0, 0, 0, 0, 0]
    w[0, 6] = [0, 0, 0, 0, 0, 0.2, 0, 0]
    # node 5 (edges 9..13): everything zero -> edges 9, 10 and op max_pool (first non-none).
    g = derive_genotype(space, w)
    assert g.normal[:2] == (("skip_connect", 1), ("sep_conv_3x3", 0))
    assert g.normal[2:4] == (("dil_conv_3x3", 2), ("avg_pool_3x3", 0))
    assert g.normal[4:6] == (("max_pool_3x3", 3), ("sep_conv_5x5", 1))
    assert g.normal[6:8] == (("max_pool_3x3", 0), ("max_pool_3x3", 1))
    assert g == space.genotype(w)
    # Without exclusion 'none' wins edge 0.
    assert derive_genotype(space, w, exclude=()).normal[0] == ("none", 0)


def test_darts_reference_space_and_s1_names():
    ref = get_space("darts_reference")
    w = np.zeros(ref.alpha_shape)
    w[1, 0, 0] = 1.0  # avg_pool_3x3 is op 0 in the reference order
    assert derive_genotype(ref, w).reduce[0] == ("avg_pool_3x3", 0)
    s1 = get_space("s1")
    w = np.zeros(s1.alpha_shape)
    w[0, :, 1] = 1.0
    g = s1.genotype(w)
    assert g.normal[0] == ("dil_conv_3x3", 0)  # edge 0 of S1 normal: skip_connect, dil_conv_3x3
    assert count_ops(g, "skip_connect", "normal") == 2  # edges 5 and 10 have skip second


def test_s3_none_exclusion_and_shapley_values():
    s3 = get_space("s3")
    phi = -np.ones(s3.alpha_shape)  # Shapley values can be negative
    phi[..., 0] = 5.0  # 'none' strongest but excluded
    phi[..., 1] = -0.5
    g = s3.genotype(phi)
    assert count_ops(g, "skip_connect") == 16 and count_ops(g, "none") == 0


def test_nb201_derivation():
    space = get_space("nb201")
    w = np.zeros(space.alpha_shape)
    w[0, :, 0] = 10.0  # none excluded
    w[0, 0, 3] = 1.0
    w[0, 1, 1] = w[0, 1, 2] = 1.0  # tie -> skip_connect (lower index)
    g = space.genotype(w)
    assert g.ops[:2] == ("nor_conv_3x3", "skip_connect")
    assert g.ops[2:] == ("skip_connect",) * 4
    with pytest.raises(ValueError, match="shape"):
        space.genotype(np.zeros((2, 6, 5)))

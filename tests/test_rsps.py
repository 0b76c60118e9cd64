"""Random search with weight sharing (``search.method="rsps"``): uniform single-path cells, a weight step
that trains only the drawn cell, and a selection that keeps the best drawn cell by its value."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_configs import tiny_config
from shapley_nas_jax.api import Search
from shapley_nas_jax.config import validate
from shapley_nas_jax.errors import ConfigError
from shapley_nas_jax.models import mixing_weights
from shapley_nas_jax.search import run_search
from shapley_nas_jax.search.single_path import sample_single_paths, single_path_alpha
from shapley_nas_jax.spaces import get_space


def rsps_config():
    """The RSPS search of every test here, so that they share one compiled program: 6 drawn cells, 2 epochs of
    4 weight steps of 16 images, no weight decay (only ops with a gradient move)."""
    return tiny_config("nb201", **{"search.method": "rsps", "model.channels": 4, "search.random_samples": 6,
                                   "train.epochs": 2, "train.weight_decay": 0.0, "train.batch_size": 16,
                                   "data.train_fraction": 0.05, "shapley.value_batch_size": 16})


@pytest.fixture(scope="module")
def search():
    return Search.from_config(rsps_config())


def test_single_paths_are_uniform_over_the_candidate_ops():
    candidates = get_space("nb201").player_mask()  # every op but "none"
    paths = np.asarray(sample_single_paths(jax.random.key(0), candidates, 4000))
    assert paths.shape == (4000, 1, 6, 5)
    np.testing.assert_array_equal(paths.sum(-1), 1.0)  # one op per edge
    assert not paths[..., ~candidates].any()  # never an op outside the candidates ("none")
    frequencies = paths.mean(0)[candidates]
    np.testing.assert_allclose(frequencies, 0.25, atol=0.03)  # 4 candidates each; 3 sigma is about 0.02
    with pytest.raises(ValueError, match="at least one candidate op"):
        sample_single_paths(jax.random.key(0), np.zeros((1, 6, 5), bool))


def test_single_path_alpha_puts_weight_exactly_one_on_the_drawn_op():
    paths = sample_single_paths(jax.random.key(1), get_space("nb201").player_mask(), 50)
    alpha = single_path_alpha(paths)
    np.testing.assert_array_equal(np.asarray(jax.nn.softmax(alpha, -1)), np.asarray(paths))
    np.testing.assert_array_equal(np.asarray(mixing_weights(alpha, paths)), np.asarray(paths))


def _edge_groups(tree):
    """Every ``mixed`` module holding both convs of a group of like edges (leading axis = edge)."""
    if isinstance(tree, dict):
        if "op2_nor_conv_1x1" in tree and "op3_nor_conv_3x3" in tree:
            yield tree["op2_nor_conv_1x1"]["conv"]["kernel"], tree["op3_nor_conv_3x3"]["conv"]["kernel"]
        for key in sorted(tree):
            yield from _edge_groups(tree[key])


@pytest.mark.slow
def test_rsps_weight_step_trains_one_drawn_cell_shared_by_all_cells(search):
    state = search.init_state()
    before = jax.tree.map(np.asarray, state.weights.params)
    after = jax.tree.map(np.asarray, search.weight_step(state, search.train_batch(0)).weights.params)
    patterns = []  # per cell: which conv moved on each edge
    for (old1, old3), (new1, new3) in zip(_edge_groups(before), _edge_groups(after)):
        moved1 = [not np.array_equal(a, b) for a, b in zip(old1, new1)]
        moved3 = [not np.array_equal(a, b) for a, b in zip(old3, new3)]
        assert not any(m1 and m3 for m1, m3 in zip(moved1, moved3)), "two ops of one edge were trained"
        patterns.append((moved1, moved3))
    assert len(patterns) == 9  # 3 groups x 3 cells
    assert any(any(m1) or any(m3) for m1, m3 in patterns), "no conv was trained"
    assert patterns[0:3] == patterns[3:6] == patterns[6:9], "the cells trained different paths"


@pytest.mark.slow
def test_rsps_selection_keeps_the_best_drawn_cell_by_its_value(search):
    program = search.program
    state = search.init_state()
    batches = search.value_batches(0)
    variables = {"params": state.weights.params, "batch_stats": state.weights.batch_stats}
    new_state, selection = program.final_choice(state, batches)
    paths, scores = np.asarray(selection["paths"]), np.asarray(selection["scores"])
    assert paths.shape == (6, 1, 6, 5)

    @jax.jit
    def accuracy(path):  # written independently of the value function: running BN, top-1, mean over batches
        alpha = jnp.where(path > 0, 0.0, -jnp.inf)
        logits = jax.vmap(lambda x: program.model.apply(variables, x, alpha, path, train=False))(batches["image"])
        return jnp.mean(jnp.argmax(logits, -1) == batches["label"])

    expected = np.array([float(accuracy(jnp.asarray(p))) for p in paths])
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(jax.nn.softmax(new_state.arch.alpha, -1)), paths[np.argmax(scores)])


def test_rsps_needs_an_nb201_space():
    with pytest.raises(ConfigError, match="one op per edge"):
        validate(tiny_config("s2", **{"search.method": "rsps"}))


@pytest.mark.slow
def test_rsps_search_writes_its_candidates_and_derives_the_best(search, tmp_path):
    result = run_search(rsps_config(), str(tmp_path), progress=False)  # on the program of `search`
    with open(os.path.join(tmp_path, "results.json")) as f:
        results = json.load(f)
    candidates = results["rsps_candidates"]
    assert len(candidates) == 6 and results["alpha_updates"] == 0
    values = [c["value"] for c in candidates]
    assert values == sorted(values, reverse=True) and all(0 <= v <= 1 for v in values)
    assert results["genotype_str"] == result.genotype_str == candidates[0]["genotype_str"]
    assert "none" not in result.genotype_str

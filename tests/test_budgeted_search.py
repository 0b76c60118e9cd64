"""A search whose Shapley step runs an estimator at a budget of the registry (shapley.estimator)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from search_configs import tiny_config
from shapley_nas_jax import Search
from shapley_nas_jax.config import validate
from shapley_nas_jax.errors import ConfigError


def _search(**overrides):
    return Search.from_config(tiny_config("nb201", **overrides))


@pytest.mark.slow
def test_kernelshap_step_is_efficient_on_the_updates_first_value_batch():
    search = _search(**{"shapley.estimator": "kernelshap_paired", "shapley.budget": 120})
    state = search.init_state()
    batches = search.value_batches(0)
    key = jax.random.PRNGKey(5)
    phi, estimate = search.estimate_shapley(state, batches, key)
    assert int(estimate.num_evaluations) == 120
    # KernelSHAP's values sum to v(all ops) - v(no op) on the batch the step scores every coalition on.
    program = search.program
    game = program.games[search.bn_mode_at(state)]
    shared = (program.scoring_variables(state.weights.params), program.scoring_variables(state.weights.batch_stats),
              state.arch.alpha, jax.random.fold_in(key, 1))
    batch = jax.tree.map(lambda x: jnp.asarray(x)[0], dict(batches))
    n = game.num_players
    full, empty = (float(game.value_fn(shared, jnp.full(n, v, jnp.float32), batch)) for v in (1.0, 0.0))
    assert float(jnp.sum(phi)) == pytest.approx(full - empty, abs=1e-3)
    assert np.count_nonzero(np.asarray(phi)) > n // 2  # players got values (the test could fail)

    alpha = np.asarray(state.arch.alpha)
    moved, metrics = search.shapley_step(state, batches)  # donates state
    assert int(metrics["num_evaluations"]) == 120
    assert not np.allclose(np.asarray(moved.arch.alpha), alpha)


@pytest.mark.slow
def test_default_budget_is_what_whole_chains_cost():
    search = _search(**{"shapley.estimator": "stratified_neyman", "shapley.samples": 5})
    state = search.init_state()
    _, estimate = search.estimate_shapley(state, search.value_batches(0), jax.random.PRNGKey(0))
    n = search.program.game.num_players
    assert int(estimate.num_evaluations) == 2 + 5 * (n - 1)


def test_budgeted_search_loads_only_the_value_batch_it_scores():
    budgeted = _search(**{"shapley.estimator": "stratified_neyman", "shapley.samples": 4}).value_batches(3)
    chains = _search(**{"shapley.samples": 4}).value_batches(3)
    assert np.asarray(budgeted["image"]).shape[0] == 1 and np.asarray(chains["image"]).shape[0] == 4
    for key in ("image", "label"):  # the permutation search's first batch of the same update
        np.testing.assert_array_equal(np.asarray(budgeted[key])[0], np.asarray(chains[key])[0])


@pytest.mark.parametrize("overrides, message", [
    ({"shapley.estimator": "permutation_taylor_cv"}, "mask derivatives"),
    ({"shapley.estimator": "kernel"},  # the registry's names, in one line
     "shapley.estimator='kernel' is not valid; choose one of kernelshap_paired, .*permutation, .*stratified_neyman"),
    ({"shapley.estimator": "kernelshap_paired", "shapley.keep_last_op": True}, "keep_last_op"),
    ({"shapley.budget": -1}, "shapley.budget"),
])
def test_bad_estimator_settings_are_refused_in_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate(tiny_config("nb201", **overrides))

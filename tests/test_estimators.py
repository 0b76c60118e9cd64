"""The registered Shapley estimators against exact values by enumeration and closed forms, and the registry."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax.errors import InvalidInputError, UnknownNameError
from shapley_nas_jax.registry import registrations_undone
from shapley_nas_jax.shapley import games as G
from shapley_nas_jax.shapley import shapley_from_coalition_values
from shapley_nas_jax.shapley.estimators import (
    available_estimators,
    estimate,
    get_estimator,
    quadratic_shapley,
    taylor_shapley,
    taylor_values,
)

N = 6


def _all_masks(n):
    index = np.arange(1 << n)
    return ((index[:, None] >> np.arange(n)[None, :]) & 1).astype(np.float32)


def _quadratic_game(seed, n=N):
    rng = np.random.default_rng(seed)
    linear = rng.normal(size=n)
    pairs = np.triu(rng.normal(size=(n, n)), 1)
    masks = _all_masks(n)
    table = 0.3 + masks @ linear + np.einsum("ki,ij,kj->k", masks, pairs, masks)
    return G.table_game(table, "quadratic"), linear, pairs


def _runs(name, game, budget, seeds, control=None):
    keys = jax.random.split(jax.random.PRNGKey(7), seeds)
    est = jax.jit(jax.vmap(lambda k: estimate(name, game, budget, k, control=control)))(keys)
    return np.asarray(est.values, np.float64), np.asarray(est.num_evaluations)


def test_quadratic_shapley_matches_enumeration():
    game, linear, pairs = _quadratic_game(0)
    exact = shapley_from_coalition_values(np.asarray(game.shared["table"], np.float64))
    np.testing.assert_allclose(quadratic_shapley(jnp.asarray(linear), jnp.asarray(pairs)), exact, atol=1e-5)


def test_taylor_shapley_matches_enumeration_of_the_taylor_game():
    rng = np.random.default_rng(1)
    h = rng.normal(size=(N, N))
    control = (jnp.asarray(0.7), jnp.asarray(rng.normal(size=N)), jnp.asarray(h + h.T))
    table = np.asarray(taylor_values(control, jnp.asarray(_all_masks(N))), np.float64)
    np.testing.assert_allclose(taylor_shapley(control), shapley_from_coalition_values(table), atol=1e-5)


UNBIASED = [n for n in available_estimators() if n != "permutation" and not get_estimator(n).needs_control]


@pytest.mark.parametrize("name", UNBIASED)
def test_estimators_are_unbiased_and_within_budget(name):
    game = G.random_table_game(N, seed=3)
    exact = shapley_from_coalition_values(np.asarray(game.shared["table"], np.float64))
    budget = max(get_estimator(name).min_budget(N), 60)
    values, evaluations = _runs(name, game, budget, seeds=400)
    assert np.all(evaluations <= budget)
    assert np.all(evaluations >= get_estimator(name).min_budget(N) - 2)
    se = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
    # Unbiased (KernelSHAP only asymptotically: its small bias is far below this bound at 400 runs).
    assert np.all(np.abs(values.mean(axis=0) - exact) < 5 * se + 1e-3), (values.mean(axis=0), exact, se)
    assert np.all(se > 0)  # a random game: the estimate must vary (else the test could not fail)


@pytest.mark.parametrize("name", ["permutation_uniform", "kernelshap_paired", "stratified_neyman"])
def test_additive_games_are_estimated_exactly(name):
    a = np.linspace(-1.0, 2.0, N)
    game = G.additive_game(a)
    values, _ = _runs(name, game, get_estimator(name).min_budget(N) + 20, seeds=3)
    np.testing.assert_allclose(values, np.broadcast_to(a, values.shape), atol=1e-4)


def test_regression_control_removes_most_of_the_variance_of_a_quadratic_game():
    game, linear, pairs = _quadratic_game(2)
    exact = quadratic_shapley(jnp.asarray(linear), jnp.asarray(pairs))
    budget = 200
    plain, _ = _runs("permutation_uniform", game, budget, seeds=100)
    adjusted, _ = _runs("permutation_regression", game, budget, seeds=100)
    mse = lambda v: np.mean((v - np.asarray(exact)) ** 2)  # noqa: E731
    assert mse(adjusted) < 0.1 * mse(plain)


def test_taylor_control_is_exact_when_the_game_is_its_expansion():
    rng = np.random.default_rng(4)
    h = rng.normal(size=(N, N))
    control = (jnp.asarray(0.2), jnp.asarray(rng.normal(size=N)), jnp.asarray(h + h.T))
    game = G.table_game(np.asarray(taylor_values(control, jnp.asarray(_all_masks(N)))), "taylor")
    values, _ = _runs("permutation_taylor_cv", game, 60, seeds=5, control=control)
    np.testing.assert_allclose(values, np.broadcast_to(taylor_shapley(control), values.shape), atol=1e-4)


def test_taylor_control_of_another_metric_is_rescaled():
    """A control that predicts twice the game's marginals still cancels: its coefficient is fitted."""
    rng = np.random.default_rng(5)
    h = rng.normal(size=(N, N))
    control = (jnp.asarray(0.0), jnp.asarray(rng.normal(size=N)), jnp.asarray(h + h.T))
    table = 0.5 * np.asarray(taylor_values(control, jnp.asarray(_all_masks(N))))
    game = G.table_game(table, "half")
    values, _ = _runs("permutation_taylor_cv", game, 60, seeds=5, control=control)
    np.testing.assert_allclose(values, np.broadcast_to(0.5 * taylor_shapley(control), values.shape), atol=1e-4)


def test_bad_requests_fail_with_one_line():
    game = G.random_table_game(N, seed=0)
    with pytest.raises(UnknownNameError, match="known estimators: .*permutation, .*stratified_neyman"):
        estimate("permutation_magic", game, 100, jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="at least"):
        estimate("stratified_neyman", game, 20, jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="needs control"):
        estimate("permutation_taylor_cv", game, 100, jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="its options: sampling, truncation, truncated, aggregate, keep_last"):
        estimate("permutation", game, 100, jax.random.PRNGKey(0), eta=0.5)
    with pytest.raises(InvalidInputError, match="ScoredGame.groups"):
        estimate("permutation", game, 100, jax.random.PRNGKey(0), keep_last=True)


@pytest.mark.parametrize("name", ["stratified_neyman", "kernelshap_paired", "permutation_regression"])
def test_chunked_scoring_gives_the_same_estimate(name):
    game = G.random_table_game(N, seed=1)
    key = jax.random.PRNGKey(3)
    budget = get_estimator(name).min_budget(N) + 30
    whole = estimate(name, game, budget, key)
    chunked = jax.jit(lambda k: estimate(name, game, budget, k, chunk_size=4))(key)
    np.testing.assert_allclose(chunked.values, whole.values, rtol=1e-5, atol=1e-6)
    assert int(chunked.num_evaluations) == int(whole.num_evaluations)


@pytest.mark.parametrize("name", ["stratified_neyman", "kernelshap_paired"])
def test_a_budget_of_every_coalition_gives_the_exact_values(name):
    game = G.random_table_game(N, seed=4)
    exact = shapley_from_coalition_values(np.asarray(game.shared["table"], np.float64))
    result = estimate(name, game, 1 << N, jax.random.PRNGKey(0))
    assert int(result.num_evaluations) == 1 << N
    np.testing.assert_allclose(result.values, exact, atol=2e-4)


# ---------------------------------------------------------------------------------------------------------
# the registry: the search's chains among the estimators, and estimators registered from outside


def test_the_search_estimator_is_permutation_shapley_with_its_options():
    from shapley_nas_jax.shapley import permutation_shapley, standard_errors
    from shapley_nas_jax.shapley.estimators import whole_chains_cost

    game = G.random_table_game(N, seed=2)
    key = jax.random.PRNGKey(4)
    options = dict(sampling="antithetic", truncation=0.7, truncated="exclude", aggregate="mean_minus_std")
    budget = whole_chains_cost(N, 6)
    got = estimate("permutation", game, budget, key, **options)
    want = permutation_shapley(game.value_fn, N, key, num_permutations=6, shared=game.shared, chunk_size=N + 1,
                               **options)
    np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_array_equal(got.standard_errors, standard_errors(want, "exclude"))
    np.testing.assert_array_equal(got.chain_values, want.chain_values)
    # every chain scores the same game: the full and the empty coalition count once
    stops = np.asarray(want.measured).sum(axis=1)
    assert int(got.num_evaluations) == 1 + stops.sum() - max((stops == N).sum() - 1, 0) <= budget
    whole = estimate("permutation", game, budget, key, truncation=None)
    assert int(whole.num_evaluations) == budget and int(whole.num_computed) == 6 * (N + 1)
    np.testing.assert_array_equal(estimate("permutation_uniform", game, budget, key).values, whole.values)


def _scaled_table(shared, mask, sample):
    return G.table_value(shared, mask) * sample


def test_chains_on_value_batches_of_their_own_count_every_chain_position():
    from shapley_nas_jax.shapley import ScoredGame, permutation_shapley

    table = G.random_table_game(N, seed=5)
    samples = jnp.arange(1.0, 5.0)  # chain j scores the game scaled by j + 1
    game = ScoredGame(_scaled_table, N, shared=table.shared, samples=samples)
    key = jax.random.PRNGKey(2)
    got = estimate("permutation", game, 2 + 4 * (N - 1), key, truncation=None)
    want = permutation_shapley(_scaled_table, N, key, num_permutations=4, truncation=None, shared=table.shared,
                               samples=samples, chunk_size=N + 1)
    np.testing.assert_array_equal(got.values, want.values)
    assert int(got.num_evaluations) == 4 * (N + 1) == int(want.num_evaluations)
    # an estimator at a budget scores every coalition on the first value batch
    first = estimate("kernelshap_paired", game, 1 << N, key)
    exact = shapley_from_coalition_values(np.asarray(table.shared["table"], np.float64))
    np.testing.assert_allclose(first.values, exact, atol=2e-4)
    np.testing.assert_array_equal(estimate("permutation_uniform", game, 40, key).values,
                                  estimate("permutation_uniform", table, 40, key).values)


def test_each_estimator_says_how_many_value_batches_a_search_loads():
    from shapley_nas_jax.config import base_config

    shapley = base_config().shapley
    shapley.samples = 6
    assert get_estimator("permutation").value_batches(shapley) == 6  # one per chain
    for name in ("permutation_uniform", "stratified_neyman", "kernelshap_paired"):
        assert get_estimator(name).value_batches(shapley) == 1
    budget, options = get_estimator("permutation").from_config(shapley, 20)
    assert budget == 2 + 6 * 19 and options == dict(sampling="uniform", truncation=0.5, truncated="zero",
                                                    aggregate="mean_minus_std", keep_last=False)
    shapley.budget = 99
    assert get_estimator("stratified_neyman").from_config(shapley, 20) == (99, {})


@pytest.fixture
def throwaway_registrations():
    """Names the test registers leave with it (other tests list the known estimators in error messages)."""
    with registrations_undone():
        yield


def test_an_estimator_registered_from_outside_runs_by_name(throwaway_registrations):
    from shapley_nas_jax import Estimate, available_estimators, register_estimator
    from shapley_nas_jax.config import base_config, validate
    from shapley_nas_jax.errors import ConfigError
    from shapley_nas_jax.registry import DuplicateNameError

    def singletons(game, budget, key, *, scale=1.0):
        """v({i}) - v({}): exact for additive games."""
        n = game.num_players
        values = game.values(jnp.concatenate([jnp.zeros((1, n)), jnp.eye(n)]))
        return Estimate(scale * (values[1:] - values[0]), num_evaluations=jnp.asarray(n + 1))

    register_estimator("test_singletons", singletons, min_budget=lambda n: n + 1, value_batches=lambda s: 3,
                       overwrite=True)
    assert "test_singletons" in available_estimators()
    a = np.linspace(-1.0, 2.0, N)
    got = estimate("test_singletons", G.additive_game(a), N + 1, jax.random.PRNGKey(0), scale=2.0)
    np.testing.assert_allclose(got.values, 2 * a, atol=1e-6)
    assert int(got.num_evaluations) == N + 1 and got.standard_errors is None
    with pytest.raises(InvalidInputError, match="takes no option 'shift'; its options: scale"):
        estimate("test_singletons", G.additive_game(a), N + 1, jax.random.PRNGKey(0), shift=1.0)
    with pytest.raises(InvalidInputError, match="at least 7"):
        estimate("test_singletons", G.additive_game(a), N, jax.random.PRNGKey(0))
    with pytest.raises(DuplicateNameError):
        register_estimator("test_singletons", singletons)
    config = base_config()
    config.shapley.estimator = "test_singletons"
    validate(config)
    assert get_estimator("test_singletons").value_batches(config.shapley) == 3
    config.shapley.keep_last_op = True  # it has no chains to guard
    with pytest.raises(ConfigError, match="keep_last_op"):
        validate(config)

"""The budgeted Shapley estimators against exact values by enumeration and closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax.errors import InvalidInputError, UnknownNameError
from shapley_nas_jax.shapley import games as G
from shapley_nas_jax.shapley import shapley_from_coalition_values
from shapley_nas_jax.shapley.estimators import (
    ESTIMATORS,
    estimate,
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
    return np.asarray(est.values, np.float64), np.asarray(est.evaluations)


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


@pytest.mark.parametrize("name", [n for n, e in ESTIMATORS.items() if not e.needs_control])
def test_estimators_are_unbiased_and_within_budget(name):
    game = G.random_table_game(N, seed=3)
    exact = shapley_from_coalition_values(np.asarray(game.shared["table"], np.float64))
    budget = max(ESTIMATORS[name].min_budget(N), 60)
    values, evaluations = _runs(name, game, budget, seeds=400)
    assert np.all(evaluations <= budget)
    assert np.all(evaluations >= ESTIMATORS[name].min_budget(N) - 2)
    se = values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])
    # Unbiased (KernelSHAP only asymptotically: its small bias is far below this bound at 400 runs).
    assert np.all(np.abs(values.mean(axis=0) - exact) < 5 * se + 1e-3), (values.mean(axis=0), exact, se)
    assert np.all(se > 0)  # a random game: the estimate must vary (else the test could not fail)


@pytest.mark.parametrize("name", ["permutation_uniform", "kernelshap_paired", "stratified_neyman"])
def test_additive_games_are_estimated_exactly(name):
    a = np.linspace(-1.0, 2.0, N)
    game = G.additive_game(a)
    values, _ = _runs(name, game, ESTIMATORS[name].min_budget(N) + 20, seeds=3)
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
    with pytest.raises(UnknownNameError, match="choose one of"):
        estimate("permutation_magic", game, 100, jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="at least"):
        estimate("stratified_neyman", game, 20, jax.random.PRNGKey(0))
    with pytest.raises(InvalidInputError, match="needs control"):
        estimate("permutation_taylor_cv", game, 100, jax.random.PRNGKey(0))


@pytest.mark.parametrize("name", ["stratified_neyman", "kernelshap_paired", "permutation_regression"])
def test_chunked_scoring_gives_the_same_estimate(name):
    game = G.random_table_game(N, seed=1)
    key = jax.random.PRNGKey(3)
    budget = ESTIMATORS[name].min_budget(N) + 30
    whole = estimate(name, game, budget, key)
    chunked = jax.jit(lambda k: estimate(name, game, budget, k, chunk_size=4))(key)
    np.testing.assert_allclose(chunked.values, whole.values, rtol=1e-5, atol=1e-6)
    assert int(chunked.evaluations) == int(whole.evaluations)


@pytest.mark.parametrize("name", ["stratified_neyman", "kernelshap_paired"])
def test_a_budget_of_every_coalition_gives_the_exact_values(name):
    game = G.random_table_game(N, seed=4)
    exact = shapley_from_coalition_values(np.asarray(game.shared["table"], np.float64))
    result = estimate(name, game, 1 << N, jax.random.PRNGKey(0))
    assert int(result.evaluations) == 1 << N
    np.testing.assert_allclose(result.values, exact, atol=2e-4)

"""Exact enumeration vs closed forms, brute force over permutations, and the Shapley axioms."""

import itertools
import math

import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax.shapley import coalition_values, exact_shapley, shapley_from_coalition_values
from shapley_nas_jax.shapley import games as G


def brute_force_shapley(value_of_set, n):
    """Average marginal over all n! orders, in pure Python (independent of the bit-pattern code)."""
    phi = np.zeros(n)
    for order in itertools.permutations(range(n)):
        present = set()
        for p in order:
            before = value_of_set(frozenset(present))
            present.add(p)
            phi[p] += value_of_set(frozenset(present)) - before
    return phi / math.factorial(n)


CLOSED_FORM_GAMES = [
    G.glove_game(1, 2),
    G.glove_game(3, 4),
    G.glove_game(5, 2),
    G.voting_game([50, 49, 1], 51),
    G.voting_game([4, 3, 2, 1, 1, 5, 2], 10),
    G.airport_game([1.0, 3.0, 3.0, 5.0, 8.0]),
    G.additive_game([1.0, -2.0, 3.0, 0.5]),
    G.unanimity_game(6, [1, 3, 4], scale=2.0),
]


@pytest.mark.parametrize("game", CLOSED_FORM_GAMES, ids=lambda g: g.name)
def test_exact_matches_closed_form(game):
    phi = exact_shapley(game.value_fn, game.num_players, shared=game.shared)
    assert phi.shape == (game.num_players,)
    np.testing.assert_allclose(np.asarray(phi), game.shapley_values, atol=1e-5)


def test_textbook_values():
    # Classic hand-known results.
    np.testing.assert_allclose(G.glove_shapley(1, 2), [2 / 3, 1 / 6, 1 / 6])
    np.testing.assert_allclose(G.voting_shapley([50, 49, 1], 51), [2 / 3, 1 / 6, 1 / 6])
    # Airport costs (1, 3): player 0 pays 1/2, player 1 pays 1/2 + 2.
    np.testing.assert_allclose(G.airport_shapley([3.0, 1.0]), [-2.5, -0.5])
    np.testing.assert_allclose(G.unanimity_shapley(4, [0, 2], 3.0), [1.5, 0.0, 1.5, 0.0])


@pytest.mark.parametrize("game", [G.glove_game(2, 3), G.voting_game([3, 2, 2, 1, 1], 5),
                                  G.airport_game([2.0, 1.0, 4.0, 4.0])], ids=lambda g: g.name)
def test_closed_forms_match_brute_force(game):
    n = game.num_players

    def value_of_set(s):
        mask = jnp.asarray([1.0 if i in s else 0.0 for i in range(n)], jnp.float32)
        return float(game.value_fn(game.shared, mask, None))

    cache = {}
    phi = brute_force_shapley(lambda s: cache.setdefault(s, value_of_set(s)), n)
    np.testing.assert_allclose(phi, game.shapley_values, atol=1e-6)


def test_random_game_matches_brute_force_and_chunking():
    game = G.random_table_game(5, seed=3)
    table = np.asarray(game.shared["table"], np.float64)
    phi_bf = brute_force_shapley(lambda s: table[sum(1 << i for i in s)], 5)
    for chunk in (3, 32, 4096):
        phi = exact_shapley(game.value_fn, 5, shared=game.shared, chunk_size=chunk)
        np.testing.assert_allclose(np.asarray(phi), phi_bf, atol=1e-5)


def test_coalition_values_order():
    vals = coalition_values(G.additive_value, 3, shared={"a": jnp.asarray([1.0, 10.0, 100.0])}, chunk_size=3)
    np.testing.assert_allclose(vals, [0, 1, 10, 11, 100, 101, 110, 111])


def test_axioms_on_random_game():
    n = 6
    rng = np.random.default_rng(0)
    table = rng.normal(size=1 << n)
    index = np.arange(1 << n)
    # Make player 5 a null player: v(S) = v(S without 5).
    table = table[index & ~(1 << 5)]
    # Make players 0 and 1 interchangeable: symmetrise over swapping bits 0 and 1.
    b0, b1 = index & 1, (index >> 1) & 1
    swapped = (index & ~3) | (b0 << 1) | b1
    table = (table + table[swapped]) / 2
    phi = np.asarray(exact_shapley(G.table_value, n, shared={"table": jnp.asarray(table, jnp.float32)}))
    assert abs(phi.sum() - (table[-1] - table[0])) < 1e-5  # efficiency
    assert abs(phi[0] - phi[1]) < 1e-6  # symmetry
    assert abs(phi[5]) < 1e-6  # null player
    assert abs(phi[2] - phi[3]) > 1e-3  # the game is not trivially symmetric


def test_sample_is_passed_to_every_coalition():
    def scaled(shared, mask, sample):
        return sample * jnp.dot(mask, shared)

    phi = exact_shapley(scaled, 3, shared=jnp.asarray([1.0, 2.0, 3.0]), sample=jnp.asarray(10.0))
    np.testing.assert_allclose(np.asarray(phi), [10.0, 20.0, 30.0], rtol=1e-6)


def test_from_coalition_values_rejects_bad_length():
    with pytest.raises(ValueError, match="2\\^n"):
        shapley_from_coalition_values(np.zeros(6))


def test_too_many_players():
    with pytest.raises(ValueError, match="use permutation_shapley for n > 20"):
        exact_shapley(G.additive_value, 21, shared={"a": jnp.zeros(21)})

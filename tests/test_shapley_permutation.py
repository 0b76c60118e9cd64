"""Truncated Monte-Carlo permutation estimator: unbiasedness, truncation semantics, chunking, routing, errors."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shapley_nas_jax.shapley import StagedGame, exact_shapley, permutation_shapley, score_chains, score_chunk
from shapley_nas_jax.shapley import games as G

FIELDS = ("values", "marginals", "measured", "chain_values", "permutations", "num_evaluations")


def assert_same_estimate(a, b):
    for field in FIELDS:
        np.testing.assert_array_equal(np.asarray(getattr(a, field)), np.asarray(getattr(b, field)), err_msg=field)


def size_game(shared, mask, sample=None):
    """Symmetric game v(S) = f(|S|) with f given by shared[|S|]: every chain sees the same values."""
    return shared[jnp.sum(mask).astype(jnp.int32)]


def reference_chain_numpy(table, perms, eta):
    """Independent loop implementation of the removal chain (original-code semantics) on a table game."""
    m, n = perms.shape
    marg = np.zeros((m, n))
    meas = np.zeros((m, n), bool)
    for j in range(m):
        present = (1 << n) - 1
        full = table[present]
        acc = full
        for i in perms[j]:
            present &= ~(1 << int(i))
            new = table[present]
            marg[j, i] = acc - new
            meas[j, i] = True
            acc = new
            if eta is not None and acc < eta * full:
                break
    return marg, meas


# ---------------------------------------------------------------------------------------------------------
# Unbiasedness


@pytest.mark.parametrize("sampling,group", [("uniform", 1), ("antithetic", 2), ("stratified", 7)])
def test_unbiased_without_truncation(sampling, group):
    game = G.random_table_game(7, seed=1)
    exact = np.asarray(exact_shapley(game.value_fn, 7, shared=game.shared))
    m = 1400
    est = permutation_shapley(game.value_fn, 7, jax.random.PRNGKey(4), num_permutations=m, truncation=None,
                              sampling=sampling, shared=game.shared, chunk_size=8)
    marg = np.asarray(est.marginals, np.float64)
    # Groups of correlated chains are independent, so the group means give a valid standard error.
    group_means = marg.reshape(m // group, group, 7).mean(axis=1)
    se = group_means.std(axis=0, ddof=1) / np.sqrt(group_means.shape[0])
    np.testing.assert_allclose(np.asarray(est.values), marg.mean(axis=0), atol=1e-5)
    assert np.all(np.abs(marg.mean(axis=0) - exact) < 5 * se + 1e-6), (marg.mean(axis=0), exact, se)
    assert bool(np.all(np.asarray(est.measured)))
    assert int(est.num_evaluations) == m * 8


def test_every_chain_is_efficient_without_truncation():
    game = G.voting_game([4, 3, 2, 1, 1, 5], 9)
    est = permutation_shapley(game.value_fn, 6, jax.random.PRNGKey(0), num_permutations=5, truncation=None,
                              shared=game.shared)
    # Telescoping: each chain's marginals sum to v(N) - v(empty).
    np.testing.assert_allclose(np.asarray(est.marginals).sum(axis=1), 1.0)


# ---------------------------------------------------------------------------------------------------------
# Truncation


def test_truncation_on_hand_built_chain():
    # v by coalition size 5..0 along every chain: 10, 9, 5, 4, 2, 0. eta = 0.5 -> threshold 5.
    # Position 2 (value 5) is not below 5; position 3 (value 4) is, so the chain stops after removal 3.
    f = jnp.asarray([0.0, 2.0, 4.0, 5.0, 9.0, 10.0])  # indexed by |S|
    m = 4
    est = permutation_shapley(size_game, 5, jax.random.PRNGKey(2), num_permutations=m, truncation=0.5,
                              shared=f, chunk_size=2)
    perms = np.asarray(est.permutations)
    expected_chain = np.array([10.0, 9.0, 5.0, 4.0, np.nan, np.nan])
    for j in range(m):
        np.testing.assert_array_equal(np.asarray(est.chain_values[j]), expected_chain)
        order = perms[j]
        np.testing.assert_array_equal(np.asarray(est.marginals[j])[order], [1.0, 4.0, 1.0, 0.0, 0.0])
        np.testing.assert_array_equal(np.asarray(est.measured[j])[order], [True, True, True, False, False])
    assert int(est.num_evaluations) == m * 4


def test_truncation_matches_numpy_reference_loop():
    game = G.random_table_game(6, seed=5)
    table = np.asarray(game.shared["table"], np.float64) + 3.0  # positive full value, so eta matters
    shared = {"table": jnp.asarray(table, jnp.float32)}
    for eta in (0.5, 0.9, 1.0):
        est = permutation_shapley(game.value_fn, 6, jax.random.PRNGKey(7), num_permutations=12, truncation=eta,
                                  shared=shared, chunk_size=3)
        marg, meas = reference_chain_numpy(table, np.asarray(est.permutations), eta)
        np.testing.assert_array_equal(np.asarray(est.measured), meas)
        np.testing.assert_allclose(np.asarray(est.marginals), marg, atol=1e-5)
        assert int(est.num_evaluations) == meas.sum() + 12
    assert not meas.all()  # eta = 1 truncates somewhere, so the comparison is not vacuous


def _truncated_estimate(truncated, aggregate):
    f = jnp.asarray([0.0, 1.0, 3.0, 6.0, 8.0, 9.0, 10.0])  # |S| = 0..6; chain stops after removal 3
    return permutation_shapley(size_game, 6, jax.random.PRNGKey(11), num_permutations=9, truncation=0.5,
                               shared=f, truncated=truncated, aggregate=aggregate, chunk_size=4)


@pytest.mark.parametrize("aggregate", ["mean", "mean_minus_std"])
def test_zero_vs_exclude_against_numpy(aggregate):
    for truncated in ("zero", "exclude"):
        est = _truncated_estimate(truncated, aggregate)
        marg = np.asarray(est.marginals, np.float64)
        meas = np.asarray(est.measured)
        expected = np.zeros(6)
        for i in range(6):
            x = marg[:, i] if truncated == "zero" else marg[meas[:, i], i]
            if x.size == 0:
                continue
            expected[i] = x.mean() - (np.std(x) if aggregate == "mean_minus_std" else 0.0)
        np.testing.assert_allclose(np.asarray(est.values), expected, atol=1e-6, err_msg=truncated)
    # The two rules must differ on a truncated game.
    a = np.asarray(_truncated_estimate("zero", aggregate).values)
    b = np.asarray(_truncated_estimate("exclude", aggregate).values)
    assert np.abs(a - b).max() > 1e-3


def test_exclude_gives_zero_to_never_measured_player():
    f = jnp.asarray([0.0, 0.0, 0.0, 10.0])  # first removal already drops below eta * 10
    est = permutation_shapley(size_game, 3, jax.random.PRNGKey(0), num_permutations=2, truncation=0.5, shared=f,
                              truncated="exclude", aggregate="mean_minus_std")
    first = set(np.asarray(est.permutations)[:, 0].tolist())
    for i in range(3):
        expected = 10.0 if i in first else 0.0  # measured players always get 10, std 0
        assert float(est.values[i]) == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------------------
# Chunking, sampling, jit, routing, compilation


@pytest.mark.parametrize("truncation", [None, 0.8])
def test_chunk_size_does_not_change_the_result(truncation):
    game = G.voting_game([4, 3, 2, 1, 1, 5, 2], 10)
    n = game.num_players
    results = [permutation_shapley(game.value_fn, n, jax.random.PRNGKey(3), num_permutations=6,
                                   truncation=truncation, shared=game.shared, chunk_size=c) for c in (1, 3, n + 1)]
    for other in results[1:]:
        assert_same_estimate(results[0], other)
    if truncation is not None:
        assert int(results[0].num_evaluations) < 6 * (n + 1)
        assert int(results[2].num_computed) == 6 * (n + 1)  # one chunk covers every position


@pytest.mark.parametrize("truncation,aggregate", [(None, "mean"), (0.8, "mean"), (0.6, "mean_minus_std")])
def test_sequential_scoring_equals_batched_and_computes_only_what_is_needed(truncation, aggregate):
    game = G.random_table_game(7, seed=5)
    kwargs = dict(num_permutations=5, truncation=truncation, aggregate=aggregate, shared=game.shared)
    batched = permutation_shapley(game.value_fn, 7, jax.random.PRNGKey(2), chunk_size=3, **kwargs)
    sequential = permutation_shapley(game.value_fn, 7, jax.random.PRNGKey(2), scoring="sequential", chunk_size=0,
                                     **kwargs)  # chunk_size is not used by sequential scoring
    assert_same_estimate(batched, sequential)
    assert int(sequential.num_computed) == int(sequential.num_evaluations)
    if truncation is not None:
        assert int(batched.num_computed) > int(batched.num_evaluations)  # chunk padding past truncation


def test_sequential_scoring_matches_the_reference_loop_and_traces_once():
    table = np.random.default_rng(3).uniform(0.2, 1.0, 2**6)
    chex.clear_trace_counter()
    traced = chex.assert_max_traces(lambda shared, mask, sample=None: G.table_value(shared, mask, sample), n=1)
    est = permutation_shapley(traced, 6, jax.random.PRNGKey(7), num_permutations=8, truncation=0.7,
                              shared={"table": jnp.asarray(table, jnp.float32)}, scoring="sequential")
    marg, meas = reference_chain_numpy(table.astype(np.float32), np.asarray(est.permutations), 0.7)
    np.testing.assert_array_equal(np.asarray(est.measured), meas)
    np.testing.assert_allclose(np.asarray(est.marginals), marg, atol=1e-6)


def test_score_chains_routes_samples_and_stops_at_num_positions():
    def scaled_size(shared, mask, sample):
        return sample * jnp.sum(mask)

    ranks = jnp.asarray([[0, 1, 2, 3], [3, 2, 1, 0]], jnp.int32)
    values = np.asarray(score_chains(scaled_size, None, jnp.asarray([1.0, 10.0]), ranks, 0.5, truncate=False,
                                     num_positions=3))
    np.testing.assert_array_equal(values[:, :3], [[4.0, 3.0, 2.0], [40.0, 30.0, 20.0]])
    assert np.isnan(values[:, 3:]).all()


def test_antithetic_pairs_and_stratified_positions():
    est = permutation_shapley(G.additive_value, 5, jax.random.PRNGKey(1), num_permutations=6, truncation=None,
                              sampling="antithetic", shared={"a": jnp.arange(5.0)})
    perms = np.asarray(est.permutations)
    for j in range(0, 6, 2):
        np.testing.assert_array_equal(perms[j + 1], perms[j][::-1])
    assert len({tuple(p) for p in perms[::2]}) == 3
    est = permutation_shapley(G.additive_value, 5, jax.random.PRNGKey(1), num_permutations=10, truncation=None,
                              sampling="stratified", shared={"a": jnp.arange(5.0)})
    perms = np.asarray(est.permutations)
    for block in (perms[:5], perms[5:]):
        for position in range(5):
            assert sorted(block[:, position].tolist()) == list(range(5))
    np.testing.assert_allclose(np.asarray(est.values), np.arange(5.0), atol=1e-6)  # additive: exact per chain


def test_jittable_with_traced_truncation():
    game = G.glove_game(3, 3)
    fn = jax.jit(permutation_shapley, static_argnames=("value_fn", "num_players", "num_permutations",
                                                         "aggregate", "chunk_size"))
    kwargs = dict(num_permutations=4, aggregate="mean_minus_std", chunk_size=2)
    jitted = fn(game.value_fn, 6, jax.random.PRNGKey(0), truncation=jnp.asarray(0.6), shared=game.shared,
                **kwargs)
    eager = permutation_shapley(game.value_fn, 6, jax.random.PRNGKey(0), truncation=0.6, shared=game.shared,
                                **kwargs)
    assert_same_estimate(jitted, eager)


def test_samples_are_routed_to_their_chain():
    def scaled_additive(shared, mask, sample):
        return sample["scale"] * jnp.dot(mask, shared)

    a = jnp.asarray([1.0, 2.0, 3.0, 4.0])
    scales = jnp.asarray([1.0, 10.0, 100.0])
    est = permutation_shapley(scaled_additive, 4, jax.random.PRNGKey(0), num_permutations=3, truncation=None,
                              shared=a, samples={"scale": scales}, chunk_size=2)
    np.testing.assert_allclose(np.asarray(est.chain_values[:, 0]), 10.0 * np.asarray(scales))
    np.testing.assert_allclose(np.asarray(est.marginals), np.asarray(scales)[:, None] * np.asarray(a)[None, :])


SIZE_VALUES = jnp.asarray([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])


def test_estimator_traces_value_fn_once():
    chex.clear_trace_counter()
    f = SIZE_VALUES
    traced_game = chex.assert_max_traces(size_game, n=1)
    computed = set()
    for eta, key in ((0.9, 0), (0.3, 1), (0.6, 2)):
        est = permutation_shapley(traced_game, 8, jax.random.PRNGKey(key), num_permutations=3, truncation=eta,
                                  shared=f, chunk_size=2)
        computed.add(int(est.num_computed))
    assert len(computed) == 3  # different numbers of chunks, one trace of the value function


def test_score_chunk_compiles_once():
    chex.clear_trace_counter()
    f = SIZE_VALUES
    traced_game2 = chex.assert_max_traces(size_game, n=1)
    scorer = jax.jit(score_chunk, static_argnums=(0, 5))
    ranks = jnp.tile(jnp.arange(8, dtype=jnp.int32), (3, 1))
    for start in (0, 2, 4, 6, 8):
        vals = scorer(traced_game2, f, None, ranks, start, 2)
        np.testing.assert_allclose(np.asarray(vals), np.tile(8.0 - np.array([start, start + 1]).clip(max=8), (3, 1)))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_permutations=0), "num_permutations must be >= 1"),
        (dict(truncation=0.0), "truncation must be in \\(0, 1\\]"),
        (dict(truncation=1.5), "truncation must be in \\(0, 1\\]"),
        (dict(truncated="drop"), "unknown truncated='drop'"),
        (dict(aggregate="median"), "unknown aggregate='median'"),
        (dict(sampling="sobol"), "unknown sampling='sobol'"),
        (dict(chunk_size=0), "chunk_size must be >= 1"),
        (dict(scoring="parallel"), "unknown scoring='parallel'"),
        (dict(sampling="antithetic", num_permutations=3), "must be even"),
        (dict(num_permutations=2, samples=jnp.zeros((3, 2))), "leading axis num_permutations=2"),
    ],
)
def test_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        permutation_shapley(G.additive_value, 3, jax.random.PRNGKey(0), shared={"a": jnp.ones(3)}, **kwargs)


def test_truncation_is_relative_to_the_magnitude_for_negative_values():
    """With v(full) < 0 (e.g. negative cross-entropy) a chain stops once v < v(full) - (1 - eta)|v(full)|."""
    weights = jnp.array([0.1, 0.2, 0.3, 2.0, 0.05])

    def game(shared, mask, sample):
        return -1.0 - jnp.sum(weights * (1 - mask))

    estimate = permutation_shapley(game, 5, jax.random.PRNGKey(0), num_permutations=6, truncation=0.5)
    values = np.asarray(estimate.chain_values)
    for chain, perm in zip(values, np.asarray(estimate.permutations)):
        last = np.max(np.flatnonzero(~np.isnan(chain)))
        assert np.all(chain[1:last] >= -1.5)  # no earlier position crossed the threshold
        assert last == 5 or chain[last] < -1.5  # it stopped right after crossing (or ran out of players)
        assert last == 5 or weights[perm[last - 1]] == 2.0 or chain[last] < -1.5


def staged_table_game(n, prefix_players, declared, seed=0):
    """v(S) = a[S & P] + b[S]: a prefix reading only the players P, declared as reading `declared`."""
    rng = np.random.default_rng(seed)
    a, b = (jnp.asarray(rng.uniform(0.5, 1.0, 2**n), jnp.float32) for _ in range(2))
    bits = 1 << np.arange(n)
    keep = jnp.asarray(np.asarray(prefix_players, bool))

    def index(mask):
        return jnp.sum(jnp.where(mask > 0.5, bits, 0))

    def prefix(shared, mask, sample):
        return {"a": a[index(jnp.where(keep, mask, 0.0))]}

    def finish(shared, mask, sample, features):
        return features["a"] + b[index(mask)]

    return StagedGame(prefix, finish, np.asarray(declared, bool))


def test_staged_game_reuses_its_prefix_exactly():
    prefix_players = [True, False, True, False, False, True]
    staged = staged_table_game(6, prefix_players, prefix_players)
    kwargs = dict(num_permutations=6, truncation=0.9, scoring="sequential")
    plain = permutation_shapley(lambda s, m, x: staged(s, m, x), 6, jax.random.PRNGKey(1), **kwargs)
    assert_same_estimate(permutation_shapley(staged, 6, jax.random.PRNGKey(1), **kwargs), plain)
    # The prefix really is reused: declaring too few prefix players leaves stale prefixes in the chains.
    wrong = staged_table_game(6, prefix_players, [False] * 6)
    kwargs["truncation"] = None
    stale = permutation_shapley(wrong, 6, jax.random.PRNGKey(1), **kwargs)
    assert not np.allclose(np.asarray(stale.chain_values), np.asarray(
        permutation_shapley(lambda s, m, x: wrong(s, m, x), 6, jax.random.PRNGKey(1), **kwargs).chain_values))


@pytest.mark.parametrize("scoring", ["batched", "sequential"])
def test_keep_last_never_empties_a_group_and_gives_the_kept_player_a_zero_marginal(scoring):
    from shapley_nas_jax.shapley import permutation_shapley

    groups = np.array([0, 0, 0, 1, 1, -1])  # two groups ("edges") and one free player
    weights = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])

    def value(shared, mask, sample):  # additive, plus a penalty whenever a group is empty
        empty = (mask[:3].sum() == 0).astype(jnp.float32) + (mask[3:5].sum() == 0).astype(jnp.float32)
        return jnp.dot(mask, weights) - 100.0 * empty

    estimate = permutation_shapley(value, 6, jax.random.PRNGKey(0), num_permutations=8, truncation=None,
                                   keep_last=groups, scoring=scoring)
    chains = np.asarray(estimate.chain_values)
    assert np.all(chains > -50)  # no coalition of any chain emptied a group
    marginals, perms = np.asarray(estimate.marginals), np.asarray(estimate.permutations)
    for chain, order in enumerate(perms):
        for group in (0, 1):
            last = [p for p in order if groups[p] == group][-1]  # removed last in this chain: kept
            assert marginals[chain, last] == 0.0
            for p in order:
                if groups[p] == group and p != last:
                    assert marginals[chain, p] == weights[p]
        assert marginals[chain, 5] == weights[5]
    plain = permutation_shapley(value, 6, jax.random.PRNGKey(0), num_permutations=8, truncation=None)
    assert np.asarray(plain.chain_values).min() < -50  # without the guard the groups do get emptied
    with pytest.raises(ValueError, match="keep_last"):
        permutation_shapley(value, 6, jax.random.PRNGKey(0), num_permutations=2, keep_last=groups[:5])


@pytest.mark.parametrize("truncated", ["zero", "exclude"])
def test_standard_errors_are_the_sample_std_of_the_counted_marginals_over_their_root_count(truncated):
    from shapley_nas_jax.shapley import Estimate, standard_errors

    rng = np.random.default_rng(1)
    marginals = rng.normal(size=(6, 4)).astype(np.float32)
    measured = rng.random((6, 4)) < 0.7
    measured[:, 3] = [True, False, False, False, False, False]  # one measured chain: no error under exclude
    marginals = np.where(measured, marginals, 0.0)
    estimate = Estimate(values=None, marginals=jnp.asarray(marginals), measured=jnp.asarray(measured),
                        chain_values=None, permutations=None, num_evaluations=0, num_computed=0)
    se = np.asarray(standard_errors(estimate, truncated))
    for player in range(4):
        samples = marginals[:, player] if truncated == "zero" else marginals[measured[:, player], player]
        if len(samples) < 2:
            assert np.isnan(se[player])
        else:
            assert se[player] == pytest.approx(samples.std(ddof=1) / np.sqrt(len(samples)), rel=1e-5)

"""Shapley estimators at a fixed budget of value evaluations, for benchmarks and estimator research.

Every estimator is called as ``estimate(name, game, budget, key, control=None)`` and returns an
:class:`Estimate` whose ``evaluations`` never exceed ``budget``. The empty and the full coalition are counted
once each, however often an estimator reads them. Estimators are jittable and vmappable over ``key`` with
``name``, ``game`` and ``budget`` fixed::

    jax.jit(jax.vmap(lambda k: estimate("kernelshap_paired", game, 1024, k)))(keys)

The estimators:

* ``permutation_uniform`` / ``_antithetic`` / ``_stratified``: the mean marginal over whole removal chains,
  the search's sampling schemes without truncation (:func:`~shapley_nas_jax.shapley.permutation_shapley`).
* ``stratified_neyman``: strata by player and coalition size; a pilot of half the samples, then the other
  half allocated in proportion to each stratum's standard deviation (Neyman allocation).
* ``kernelshap_paired``: KernelSHAP's weighted least squares from coalitions drawn from the Shapley kernel,
  each paired with its complement.
* ``permutation_regression``: permutation sampling with a quadratic model of the game as control variate.
  The model is fitted on one half of the chains and corrects the other half, and the other way round, so the
  estimate stays unbiased. A quadratic game's Shapley values are known in closed form.
* ``permutation_taylor_cv``: permutation sampling with the second-order Taylor expansion of a
  differentiable game at the full mask as control variate (``control = (value, gradient, hessian)`` of the
  control metric, e.g. a supernet's cross-entropy in its op mask). A first-order expansion would not help:
  a linear game's marginals are the same along every chain, so they cancel.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax.errors import InvalidInputError, UnknownNameError
from shapley_nas_jax.shapley.permutation import permutation_shapley, sample_permutations


@flax.struct.dataclass
class Estimate:
    values: jnp.ndarray       # [n]
    evaluations: jnp.ndarray  # int: value evaluations used, the empty and the full coalition counted once


@dataclasses.dataclass(frozen=True)
class Estimator:
    name: str
    run: Callable  # (game, budget, key, control) -> Estimate
    min_budget: Callable[[int], int]  # players -> least budget
    needs_control: bool = False


def _values(game, masks: jnp.ndarray) -> jnp.ndarray:
    """Values ``[...]`` of masks ``[..., n]`` (one vmapped call)."""
    flat = masks.reshape(-1, masks.shape[-1])
    values = jax.vmap(lambda mask: game.value_fn(game.shared, mask, None))(flat)
    return values.reshape(masks.shape[:-1]).astype(jnp.float32)


# ----------------------------------------------------------------------------------------------------------
# Permutation sampling and its control variates


def _num_chains(n: int, budget: int) -> int:
    """Whole removal chains that fit: each needs the n - 1 coalitions between the full and the empty one."""
    return (budget - 2) // max(n - 1, 1)


def _chain_evaluations(n: int, m: int) -> int:
    return 2 + m * max(n - 1, 1) if n > 1 else 2


def _permutation(sampling: str):
    def run(game, budget, key, control):
        n = game.num_players
        m = _num_chains(n, budget)
        if sampling == "antithetic":
            m -= m % 2
        est = permutation_shapley(game.value_fn, n, key, num_permutations=m, truncation=None, sampling=sampling,
                                  shared=game.shared, chunk_size=n + 1)
        return Estimate(est.values.astype(jnp.float32), jnp.asarray(_chain_evaluations(n, m)))

    return run


def _chains(game, budget, key):
    """Uniform removal chains: masks ``[M, n+1, n]`` (position k = after removing the first k players) and
    marginals ``[M, n]`` per player, for the two halves of the chains used by the cross-fitted controls."""
    n = game.num_players
    m = _num_chains(n, budget)
    m -= m % 2
    perms = sample_permutations(key, n, m, "uniform")
    ranks = jnp.zeros_like(perms).at[jnp.arange(m)[:, None], perms].set(jnp.arange(n, dtype=perms.dtype))
    masks = (ranks[:, None, :] >= jnp.arange(n + 1)[None, :, None]).astype(jnp.float32)
    values = _values(game, masks)
    return masks, values, perms, jnp.asarray(_chain_evaluations(n, m))


def _marginals(values: jnp.ndarray, perms: jnp.ndarray) -> jnp.ndarray:
    """Per-player marginals ``[M, n]`` from chain values ``[M, n+1]`` along removal orders ``[M, n]``."""
    by_position = values[:, :-1] - values[:, 1:]
    m = perms.shape[0]
    return jnp.zeros_like(by_position).at[jnp.arange(m)[:, None], perms].set(by_position)


def _quadratic_features(masks: jnp.ndarray) -> jnp.ndarray:
    """``[..., 1 + n + n(n-1)/2]``: a constant, every player, every pair of players."""
    n = masks.shape[-1]
    first, second = np.triu_indices(n, 1)
    ones = jnp.ones(masks.shape[:-1] + (1,), masks.dtype)
    return jnp.concatenate([ones, masks, masks[..., first] * masks[..., second]], axis=-1)


def quadratic_shapley(linear: jnp.ndarray, pairs: jnp.ndarray) -> jnp.ndarray:
    """Shapley values ``[n]`` of ``v(S) = c + sum_i linear_i [i in S] + sum_{i<j} pairs_ij [i, j in S]``: each
    pair's worth is split equally between its two players. ``pairs`` is ``[n, n]`` (upper triangle read)."""
    upper = jnp.triu(pairs, 1)
    return linear + 0.5 * (upper.sum(axis=1) + upper.sum(axis=0))


def _fit_quadratic(masks, values, ridge: float):
    """Ridge least squares of values ``[H, K]`` on quadratic features of masks ``[H, K, n]``, one fit per
    leading index (one batched solve: two independent solves in one program can deadlock XLA:CPU's thread
    pool). The constant is not shrunk. Returns (linear ``[H, n]``, pairs ``[H, n, n]`` upper triangle,
    weights ``[H, p]``)."""
    n = masks.shape[-1]
    x = _quadratic_features(masks)
    p = x.shape[-1]
    penalty = ridge * x.shape[1] * jnp.ones(p).at[0].set(0.0)
    gram = jnp.einsum("hkp,hkq->hpq", x, x) + jnp.diag(penalty)
    w = jnp.linalg.solve(gram, jnp.einsum("hkp,hk->hp", x, values)[..., None])[..., 0]
    first, second = np.triu_indices(n, 1)
    pairs = jnp.zeros((w.shape[0], n, n), w.dtype).at[:, first, second].set(w[:, 1 + n:])
    return w[:, 1:1 + n], pairs, w


def _cross_fitted(marginals, control_marginals, control_shapley_a, control_shapley_b, scale_by_fit: bool):
    """Control-variate estimate ``[n]`` with the chains split in halves a and b: each half's marginals are
    corrected by the control fitted on the other half (``control_marginals`` holds, for each half, the
    marginals of the control fitted on the other half; ``control_shapley_*`` that control's Shapley values).
    ``scale_by_fit``: scale each player's control by its regression coefficient estimated on the other half
    (needed when the control predicts another metric than the game's), else by 1."""
    half = marginals.shape[0] // 2
    parts = []
    for mine, other, shapley in ((slice(0, half), slice(half, None), control_shapley_b),
                                 (slice(half, None), slice(0, half), control_shapley_a)):
        if scale_by_fit:
            x, y = control_marginals[other], marginals[other]
            xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
            scale = (xc * yc).sum(axis=0) / jnp.maximum((xc * xc).sum(axis=0), 1e-12)
        else:
            scale = 1.0
        parts.append((marginals[mine] - scale * control_marginals[mine]).mean(axis=0) + scale * shapley)
    return 0.5 * (parts[0] + parts[1])


REGRESSION_RIDGE = 1e-2  # chosen on the synthetic games (scripts/compare_estimators.py), not on supernet games


def _permutation_regression(game, budget, key, control):
    masks, values, perms, evaluations = _chains(game, budget, key)
    m, n = perms.shape
    half = m // 2
    marginals = _marginals(values, perms)
    linear, pairs, weights = _fit_quadratic(masks.reshape(2, half * (n + 1), n), values.reshape(2, -1),
                                            REGRESSION_RIDGE)
    # Marginals of the model fitted on the other half, for each half's chains.
    control_values = jnp.concatenate([_quadratic_features(masks[:half]) @ weights[1],
                                      _quadratic_features(masks[half:]) @ weights[0]])
    control_marginals = _marginals(control_values, perms)
    shapley_a, shapley_b = quadratic_shapley(linear[0], pairs[0]), quadratic_shapley(linear[1], pairs[1])
    return Estimate(_cross_fitted(marginals, control_marginals, shapley_a, shapley_b, scale_by_fit=False),
                    evaluations)


def taylor_values(control, masks: jnp.ndarray) -> jnp.ndarray:
    """Second-order Taylor expansion at the full mask, ``v(1) + g.(z-1) + (z-1).H.(z-1)/2``, at masks ``[..., n]``."""
    value, grad, hessian = control
    d = masks - 1.0
    return value + d @ grad + 0.5 * jnp.einsum("...i,ij,...j->...", d, hessian, d)


def taylor_shapley(control) -> jnp.ndarray:
    """Shapley values ``[n]`` of the Taylor game of :func:`taylor_values`: ``g - H 1 / 2``."""
    _, grad, hessian = control
    return grad - 0.5 * hessian.sum(axis=1)


def _permutation_taylor_cv(game, budget, key, control):
    control = tuple(jnp.asarray(part, jnp.float32) for part in control)
    masks, values, perms, evaluations = _chains(game, budget, key)
    marginals = _marginals(values, perms)
    control_marginals = _marginals(taylor_values(control, masks), perms)
    shapley = taylor_shapley(control)
    return Estimate(_cross_fitted(marginals, control_marginals, shapley, shapley, scale_by_fit=True), evaluations)


# ----------------------------------------------------------------------------------------------------------
# Stratified sampling by coalition size with Neyman allocation


def _random_subsets(key, player: jnp.ndarray, size: jnp.ndarray, n: int) -> jnp.ndarray:
    """Masks ``[K, n]``: for each row, a uniform subset of ``size`` players drawn from all but ``player``."""
    scores = jax.random.uniform(key, (player.shape[0], n))
    scores = scores.at[jnp.arange(player.shape[0]), player].set(2.0)  # never among the smallest
    rank = jnp.argsort(jnp.argsort(scores, axis=1), axis=1)
    return (rank < size[:, None]).astype(jnp.float32)


def _neyman_sizes(n: int, budget: int) -> tuple[int, int]:
    """(pilot samples, second-stage samples) for n players; sizes 0 and n-1 are computed exactly."""
    samples = (budget - 2 - 2 * n) // 2  # each sample = v(S + i) and v(S)
    pilot = samples // 2
    return pilot, samples - pilot


def _stratified_neyman(game, budget, key, control):
    n = game.num_players
    strata = n * (n - 2)  # (player, size) for sizes 1 .. n-2
    pilot, second = _neyman_sizes(n, budget)
    player_of = jnp.arange(strata) // (n - 2)
    size_of = jnp.arange(strata) % (n - 2) + 1

    def marginals(key, stratum):
        with_player = _random_subsets(key, player_of[stratum], size_of[stratum], n)
        with_player = with_player.at[jnp.arange(stratum.shape[0]), player_of[stratum]].set(1.0)
        without = with_player.at[jnp.arange(stratum.shape[0]), player_of[stratum]].set(0.0)
        return _values(game, with_player) - _values(game, without)

    key_pilot, key_second = jax.random.split(key)
    pilot_strata = jnp.arange(pilot) % strata  # round robin: every stratum gets pilot // strata or one more
    pilot_marginals = marginals(key_pilot, pilot_strata)
    count = jnp.zeros(strata).at[pilot_strata].add(1.0)
    total = jnp.zeros(strata).at[pilot_strata].add(pilot_marginals)
    square = jnp.zeros(strata).at[pilot_strata].add(pilot_marginals ** 2)
    mean = total / jnp.maximum(count, 1.0)
    var = jnp.where(count > 1, (square - count * mean ** 2) / jnp.maximum(count - 1.0, 1.0), 0.0)
    # A stratum with a single pilot sample borrows the spread of all pilot marginals of its size.
    size_count = jnp.zeros(n - 2).at[size_of - 1].add(count)
    size_mean = jnp.zeros(n - 2).at[size_of - 1].add(total) / jnp.maximum(size_count, 1.0)
    size_var = jnp.zeros(n - 2).at[size_of - 1].add(square) / jnp.maximum(size_count, 1.0) - size_mean ** 2
    std = jnp.sqrt(jnp.maximum(jnp.where(count > 1, var, size_var[size_of - 1]), 0.0))
    share = jnp.where(std.sum() > 0, std / jnp.maximum(std.sum(), 1e-30), 1.0 / strata) * second
    extra = jnp.floor(share)
    leftover = second - extra.sum()
    extra = extra + (jnp.argsort(jnp.argsort(-(share - extra))) < leftover)  # largest remainders
    second_strata = jnp.repeat(jnp.arange(strata), extra.astype(jnp.int32), total_repeat_length=second)
    second_marginals = marginals(key_second, second_strata)
    count = count.at[second_strata].add(1.0)
    total = total.at[second_strata].add(second_marginals)
    stratum_mean = (total / jnp.maximum(count, 1.0)).reshape(n, n - 2)

    everyone = jnp.ones(n)
    empty = jnp.zeros(n)
    alone = jnp.eye(n)
    v_empty, v_full = _values(game, empty), _values(game, everyone)
    first = _values(game, alone) - v_empty              # size 0: v({i}) - v({})
    last = v_full - _values(game, 1.0 - alone)          # size n-1: v(N) - v(N - i)
    values = (first + last + stratum_mean.sum(axis=1)) / n
    return Estimate(values, jnp.asarray(2 + 2 * n + 2 * (pilot + second)))


# ----------------------------------------------------------------------------------------------------------
# KernelSHAP with paired sampling


def _kernelshap_paired(game, budget, key, control):
    n = game.num_players
    pairs = (budget - 2) // 2
    sizes = jnp.arange(1, n)
    kernel = (n - 1) / (sizes * (n - sizes))
    key_size, key_subset = jax.random.split(key)
    size = jax.random.choice(key_size, sizes, (pairs,), p=kernel / kernel.sum())
    scores = jax.random.uniform(key_subset, (pairs, n))
    rank = jnp.argsort(jnp.argsort(scores, axis=1), axis=1)
    z = (rank < size[:, None]).astype(jnp.float32)
    z = jnp.concatenate([z, 1.0 - z])  # each coalition with its complement
    v_empty, v_full = _values(game, jnp.zeros(n)), _values(game, jnp.ones(n))
    y = _values(game, z) - v_empty
    a = z.T @ z / z.shape[0]
    b = z.T @ y / z.shape[0]
    a = a + 1e-6 * jnp.eye(n)  # the sampled matrix is singular until every pair of players has been split
    a_inv_b, a_inv_1 = jnp.linalg.solve(a, jnp.stack([b, jnp.ones(n)], axis=1)).T  # one solve (see _fit_quadratic)
    # Least squares under the efficiency constraint sum(phi) = v(N) - v({}).
    values = a_inv_b - a_inv_1 * (a_inv_b.sum() - (v_full - v_empty)) / a_inv_1.sum()
    return Estimate(values, jnp.asarray(2 + 2 * pairs))


# ----------------------------------------------------------------------------------------------------------
# Registry


def _chains_minimum(even: bool):
    return lambda n: _chain_evaluations(n, 2 if even else 1)


ESTIMATORS: dict[str, Estimator] = {
    e.name: e
    for e in (
        Estimator("permutation_uniform", _permutation("uniform"), _chains_minimum(False)),
        Estimator("permutation_antithetic", _permutation("antithetic"), _chains_minimum(True)),
        Estimator("permutation_stratified", _permutation("stratified"), _chains_minimum(False)),
        Estimator("stratified_neyman", _stratified_neyman, lambda n: 2 + 2 * n + 4 * n * (n - 2)),
        Estimator("kernelshap_paired", _kernelshap_paired, lambda n: 2 + 2 * n),
        Estimator("permutation_regression", _permutation_regression, _chains_minimum(True)),
        Estimator("permutation_taylor_cv", _permutation_taylor_cv, lambda n: _chain_evaluations(n, 4),
                  needs_control=True),
    )
}


def estimate(name: str, game, budget: int, key, *, control: Any = None) -> Estimate:
    """Shapley values of ``game`` (a :class:`~shapley_nas_jax.shapley.games.Game`) by the estimator ``name``
    with at most ``budget`` value evaluations. ``control``: ``(value, gradient [n], hessian [n, n])`` of a
    control metric at the full mask, for estimators with ``needs_control``."""
    if name not in ESTIMATORS:
        raise UnknownNameError(f"unknown estimator {name!r}; choose one of {', '.join(ESTIMATORS)}")
    estimator = ESTIMATORS[name]
    n = game.num_players
    if n < 3:
        raise InvalidInputError(f"the budgeted estimators need at least 3 players, got {n}")
    least = estimator.min_budget(n)
    if budget < least:
        raise InvalidInputError(f"estimator {name} needs a budget of at least {least} evaluations for {n} "
                                f"players, got {budget}")
    if estimator.needs_control and control is None:
        raise InvalidInputError(f"estimator {name} needs control=(value, gradient, hessian) of a control metric "
                                f"at the full mask")
    return estimator.run(game, int(budget), key, control)


__all__ = ["ESTIMATORS", "Estimate", "Estimator", "estimate", "quadratic_shapley", "taylor_shapley",
           "taylor_values"]

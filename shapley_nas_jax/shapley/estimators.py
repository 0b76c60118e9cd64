"""Shapley estimators in one registry: the search's truncated removal chains and estimators at a fixed budget.

Every estimator is registered by name (:func:`register_estimator`, also ``shapley_nas_jax.register_estimator``)
and called as ``estimate(name, game, budget, key, control=None, **options)``; it returns an
:class:`~shapley_nas_jax.shapley.Estimate` whose ``num_evaluations`` never exceed ``budget`` (the empty and the
full coalition counted once however often an estimator reads them, on a game without per-chain value batches).
Estimators are jittable and vmappable over ``key`` with ``name``, ``game`` and ``budget`` fixed::

    jax.jit(jax.vmap(lambda k: estimate("kernelshap_paired", game, 1024, k)))(keys)

A search runs the one its config names (``shapley.estimator``); ``scripts/compare_estimators.py`` and the docs
use the same names. Registered here:

* ``permutation``: removal chains, the search's estimator (the default), with the options ``sampling``,
  ``truncation`` (eta; None: none), ``truncated``, ``aggregate`` and ``keep_last``
  (:func:`~shapley_nas_jax.shapley.permutation_shapley`). It runs as many chains as the budget holds whole
  (``(budget - 2) // (n - 1)``). A search gives it its ``shapley.*`` options and ``2 + M(n - 1)`` for
  ``M = shapley.samples`` chains, each scored on a value batch of its own; called directly it truncates at
  eta 0.5, as ``permutation_shapley`` does.
* ``permutation_uniform`` / ``_antithetic`` / ``_stratified``: ``permutation`` without truncation, plain mean,
  with the named sampling, every chain on the same game (a search's first value batch).
* ``stratified_neyman``: strata by player, coalition size and whether the player is in, so every evaluated
  coalition updates a stratum of every player; the smallest and largest sizes enumerated; a pilot of half
  the samples, then the other half allocated over sizes in proportion to their standard deviation (Neyman
  allocation).
* ``kernelshap_paired``: KernelSHAP's weighted least squares on the same enumerated sizes and coalitions
  drawn from the Shapley kernel, each paired with its complement.
* ``permutation_regression``: permutation sampling with a quadratic model of the game as control variate.
  The model is fitted on one half of the chains and corrects the other half, and the other way round, so the
  estimate stays unbiased. A quadratic game's Shapley values are known in closed form.
* ``permutation_taylor_cv``: permutation sampling with the second-order Taylor expansion of a
  differentiable game at the full mask as control variate (``control = (value, gradient, hessian)`` of the
  control metric, e.g. a supernet's cross-entropy in its op mask). A first-order expansion would not help:
  a linear game's marginals are the same along every chain, so they cancel.

Both ``stratified_neyman`` and ``kernelshap_paired`` are exact when the budget holds all 2^n coalitions.
On the real supernet games of ``exact_games`` (BENCHMARKS.md) the first is 1.9-13x below
``permutation_uniform``'s MSE at equal budgets.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax.errors import InvalidInputError
from shapley_nas_jax.registry import Registry
from shapley_nas_jax.shapley.permutation import permutation_ranks, permutation_shapley, sample_permutations
from shapley_nas_jax.shapley.result import Estimate


@dataclasses.dataclass(frozen=True, eq=False)
class ScoredGame:
    """A game as an estimator reads it: ``value_fn(shared, mask [n], sample) -> scalar`` and how to score it.

    ``samples`` (a pytree whose leaves have a leading axis, one value batch per entry; None: ``sample`` is None)
    are the value batches of a search's update: the estimator ``permutation`` scores chain j on entry j, the
    others every coalition on entry 0 (:meth:`values`). The scoring fields are the search's (its plan and
    mesh); estimators that do not score chains read only ``chunk_size``.
    """

    value_fn: Callable
    num_players: int
    shared: Any = None
    samples: Any = None
    chunk_size: int | None = None  # coalitions per vmapped call; None: all of a step at once
    scoring: str = "batched"  # chains: "batched" (chunk_size positions per chain per call) | "sequential"
    staged: Any = None  # the game as a StagedGame, scored by sequential chains instead of value_fn
    coalition_sharding: Any = None  # chains: a NamedSharding splitting each chunk's coalitions over devices
    groups: Any = None  # int [n] group per player (-1: none), for chains that keep each group's last player

    @property
    def sample(self):
        """The value batch coalitions are scored on outside chains: entry 0 of ``samples`` (or None)."""
        return None if self.samples is None else jax.tree.map(lambda x: x[0], self.samples)

    def on_one_sample(self) -> "ScoredGame":
        """The game every coalition of which is scored on :attr:`sample` (``samples`` None, no staged form)."""
        if self.samples is None:
            return self
        return dataclasses.replace(self, value_fn=_OnSample(self.value_fn), shared=(self.shared, self.sample),
                                   samples=None, staged=None)

    def values(self, masks: jnp.ndarray) -> jnp.ndarray:
        """float32 values ``[...]`` of masks ``[..., n]`` on :attr:`sample`, ``chunk_size`` coalitions per call."""
        flat = masks.reshape(-1, masks.shape[-1])
        sample = self.sample
        score = lambda mask: self.value_fn(self.shared, mask, sample)  # noqa: E731
        if self.chunk_size is None:
            values = jax.vmap(score)(flat)
        else:
            values = jax.lax.map(score, flat, batch_size=self.chunk_size)
        return values.reshape(masks.shape[:-1]).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class _OnSample:
    """``value_fn`` as a game of ``(shared, sample)`` pairs (equal for the same ``value_fn``: one compile)."""

    value_fn: Callable

    def __call__(self, shared_and_sample, mask, sample):
        del sample
        shared, own = shared_and_sample
        return self.value_fn(shared, mask, own)


def whole_chains_cost(n: int, m: int) -> int:
    """Evaluations of ``m`` whole removal chains of ``n`` players on one game: each needs the n - 1 coalitions
    between the full and the empty one, which are counted once."""
    return 2 + m * max(n - 1, 1) if n > 1 else 2


def _budget_from_config(shapley, num_players: int) -> tuple[int, dict]:
    """A budgeted estimator in a search: ``shapley.budget`` evaluations (0: what ``shapley.samples`` whole chains
    cost) and no options."""
    return int(shapley.budget) or whole_chains_cost(num_players, int(shapley.samples)), {}


def _one_value_batch(shapley) -> int:
    del shapley
    return 1


@dataclasses.dataclass(frozen=True)
class Estimator:
    """A registered estimator: ``fn(game: ScoredGame, budget, key, **options) -> Estimate`` and what it needs.

    ``value_batches(shapley config) -> int``: the value batches a search loads for one update (they reach ``fn``
    as ``game.samples``). ``from_config(shapley config, num_players) -> (budget, options)``: how a search calls
    ``fn``. ``min_budget(num_players)``, ``min_players``: the least it runs with. ``needs_control``: ``fn``
    takes ``control=(value, gradient, hessian)`` of a control metric at the full mask (no search gives one).
    """

    name: str
    fn: Callable[..., Estimate]
    min_budget: Callable[[int], int]
    min_players: int = 1
    needs_control: bool = False
    value_batches: Callable[[Any], int] = _one_value_batch
    from_config: Callable[[Any, int], tuple[int, dict]] = _budget_from_config

    def options(self) -> tuple[str, ...] | None:
        """The keyword options ``fn`` takes besides ``(game, budget, key)`` and ``control`` (None: any)."""
        params = list(inspect.signature(self.fn).parameters.values())[3:]
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return tuple(p.name for p in params if p.name != "control"
                     and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))


_ESTIMATORS: Registry[Estimator] = Registry("estimator")


def register_estimator(name: str, fn: Callable[..., Estimate], *, min_budget: Callable[[int], int] | None = None,
                       min_players: int = 1, needs_control: bool = False, value_batches: int | Callable = 1,
                       from_config: Callable[[Any, int], tuple[int, dict]] | None = None,
                       overwrite: bool = False) -> None:
    """Make ``estimate(name, ...)`` and ``shapley.estimator=name`` run ``fn(game, budget, key, **options)``.

    ``fn`` gets a :class:`ScoredGame` (``game.values(masks [..., n])`` scores coalitions), the budget of value
    evaluations and a PRNG key, and returns an :class:`~shapley_nas_jax.shapley.Estimate` that uses at most
    ``budget`` evaluations. ``min_budget(n)`` (default 2: the empty and the full coalition): the least budget
    it runs with for n players. ``value_batches``: value batches a search loads per update, an int or
    ``f(config.shapley) -> int`` (default 1; entry 0 is ``game.sample``). ``from_config(config.shapley,
    num_players) -> (budget, options)``: how a search calls it (default: ``shapley.budget``, or 2 + M(n - 1)
    for M = ``shapley.samples`` when 0, and no options). A taken name raises unless ``overwrite=True``.
    """
    if not callable(fn):
        raise TypeError(f"estimator {name!r} must be callable, got {type(fn).__name__}")
    batches = value_batches if callable(value_batches) else (lambda shapley, count=int(value_batches): count)
    _ESTIMATORS.register(name, Estimator(name, fn, min_budget or (lambda n: 2), min_players, needs_control,
                                         batches, from_config or _budget_from_config), overwrite=overwrite)


def get_estimator(name: str) -> Estimator:
    """The estimator registered as ``name`` (an UnknownNameError listing the known names otherwise)."""
    return _ESTIMATORS.get(name)


def available_estimators() -> tuple[str, ...]:
    """Registered estimator names, sorted."""
    return _ESTIMATORS.names()


def estimate(name: str, game, budget: int, key, *, control: Any = None, chunk_size: int | None = None,
             **options) -> Estimate:
    """Shapley values of ``game`` by the estimator ``name`` with at most ``budget`` value evaluations.

    ``game``: a :class:`ScoredGame`, or anything with ``value_fn``, ``shared`` and ``num_players`` (a
    :class:`~shapley_nas_jax.shapley.games.Game`). ``control``: ``(value, gradient [n], hessian [n, n])`` of a
    control metric at the full mask, for estimators with ``needs_control``. ``chunk_size``: coalitions per
    vmapped call (None: all of a step at once, the fastest for cheap games; a supernet needs a bound on its
    activation memory). ``options``: the estimator's own keyword options (``permutation``: ``sampling``,
    ``truncation``, ``truncated``, ``aggregate``, ``keep_last``).
    """
    estimator = get_estimator(name)
    n = game.num_players
    if n < estimator.min_players:
        raise InvalidInputError(f"estimator {name} needs at least {estimator.min_players} players, got {n}")
    least = estimator.min_budget(n)
    if budget < least:
        raise InvalidInputError(f"estimator {name} needs a budget of at least {least} evaluations for {n} "
                                f"players, got {budget}")
    if estimator.needs_control and control is None:
        raise InvalidInputError(f"estimator {name} needs control=(value, gradient, hessian) of a control metric "
                                f"at the full mask")
    if chunk_size is not None and chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be >= 1 coalitions per call (or None), got {chunk_size}")
    accepted = estimator.options()
    unknown = sorted(set(options) - set(accepted)) if accepted is not None else []
    if unknown:
        raise InvalidInputError(f"estimator {name} takes no option {', '.join(map(repr, unknown))}; its options: "
                                f"{', '.join(accepted) or 'none'}")
    if isinstance(game, ScoredGame):
        scored = game if chunk_size is None else dataclasses.replace(game, chunk_size=chunk_size)
    else:
        scored = ScoredGame(game.value_fn, n, shared=game.shared, chunk_size=chunk_size)
    if estimator.needs_control:
        options["control"] = control
    return estimator.fn(scored, int(budget), key, **options)


# ----------------------------------------------------------------------------------------------------------
# Removal chains (the search's estimator) and their control variates


def _num_chains(n: int, budget: int) -> int:
    """Whole removal chains that fit: each needs the n - 1 coalitions between the full and the empty one."""
    return (budget - 2) // max(n - 1, 1)


def permutation_chains(game: ScoredGame, budget: int, key, *, sampling: str = "uniform",
                       truncation: float | None = 0.5, truncated: str = "zero", aggregate: str = "mean",
                       keep_last: bool = False) -> Estimate:
    """The estimator ``permutation``: as many removal chains as ``budget`` holds whole (an even number for
    antithetic sampling), by :func:`~shapley_nas_jax.shapley.permutation_shapley` with these options, scored
    as ``game`` says (``scoring``, ``chunk_size`` or n + 1 positions per call, ``coalition_sharding``, its
    ``staged`` form under sequential scoring). With ``game.samples`` chain j is scored on entry j, and
    ``num_evaluations`` counts every chain's positions; without, the chains share one game and the full and
    the empty coalition count once. ``keep_last``: never remove the last player of a ``game.groups`` group."""
    n = game.num_players
    if keep_last and game.groups is None:
        raise InvalidInputError("keep_last=True guards the last player of each group: give the game its groups "
                                "(ScoredGame.groups)")
    m = _num_chains(n, budget)
    if sampling == "antithetic":
        m -= m % 2
    value_fn = game.staged if game.scoring == "sequential" and game.staged is not None else game.value_fn
    est = permutation_shapley(
        value_fn, n, key, num_permutations=m, truncation=truncation, truncated=truncated, aggregate=aggregate,
        sampling=sampling, chunk_size=game.chunk_size or n + 1, scoring=game.scoring,
        keep_last=game.groups if keep_last else None, shared=game.shared, samples=game.samples,
        coalition_sharding=game.coalition_sharding)
    if game.samples is None:
        stops = est.measured.sum(axis=1)  # removals each chain evaluated
        est = est.replace(num_evaluations=1 + stops.sum() - jnp.maximum(jnp.sum(stops == n) - 1, 0))
    return est


def _chains_from_config(shapley, num_players: int) -> tuple[int, dict]:
    """``permutation`` in a search: ``shapley.samples`` chains (``shapley.budget`` does not apply) with the
    search's chain options."""
    return whole_chains_cost(num_players, int(shapley.samples)), dict(
        sampling=shapley.sampling, truncation=shapley.truncation, truncated=shapley.truncated,
        aggregate=shapley.aggregate, keep_last=bool(shapley.keep_last_op))


def _chain_per_value_batch(shapley) -> int:
    return int(shapley.samples)


def _whole_chains(sampling: str) -> Callable[..., Estimate]:
    """``permutation`` without truncation, plain mean, ``sampling`` fixed: every chain on the same game."""

    def run(game: ScoredGame, budget: int, key) -> Estimate:
        return permutation_chains(game.on_one_sample(), budget, key, sampling=sampling, truncation=None,
                                  aggregate="mean")

    run.__name__ = f"permutation_{sampling}"
    return run


def _chains(game, budget, key):
    """Uniform removal chains: masks ``[M, n+1, n]`` (position k = after removing the first k players) and
    marginals ``[M, n]`` per player, for the two halves of the chains used by the cross-fitted controls."""
    n = game.num_players
    m = _num_chains(n, budget)
    m -= m % 2
    perms = sample_permutations(key, n, m, "uniform")
    ranks = permutation_ranks(perms)
    masks = (ranks[:, None, :] >= jnp.arange(n + 1)[None, :, None]).astype(jnp.float32)
    values = game.values(masks)
    return masks, values, perms, jnp.asarray(whole_chains_cost(n, m))


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


def _permutation_regression(game, budget, key):
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
    return Estimate(_cross_fitted(marginals, control_marginals, shapley_a, shapley_b, scale_by_fit=True),
                    num_evaluations=evaluations)


def taylor_values(control, masks: jnp.ndarray) -> jnp.ndarray:
    """Second-order Taylor expansion at the full mask, ``v(1) + g.(z-1) + (z-1).H.(z-1)/2``, at masks ``[..., n]``."""
    value, grad, hessian = control
    d = masks - 1.0
    return value + d @ grad + 0.5 * jnp.einsum("...i,ij,...j->...", d, hessian, d)


def taylor_shapley(control) -> jnp.ndarray:
    """Shapley values ``[n]`` of the Taylor game of :func:`taylor_values`: ``g - H 1 / 2``."""
    _, grad, hessian = control
    return grad - 0.5 * hessian.sum(axis=1)


def _permutation_taylor_cv(game, budget, key, *, control):
    control = tuple(jnp.asarray(part, jnp.float32) for part in control)
    masks, values, perms, evaluations = _chains(game, budget, key)
    marginals = _marginals(values, perms)
    control_marginals = _marginals(taylor_values(control, masks), perms)
    shapley = taylor_shapley(control)
    return Estimate(_cross_fitted(marginals, control_marginals, shapley, shapley, scale_by_fit=True),
                    num_evaluations=evaluations)


# ----------------------------------------------------------------------------------------------------------
# Stratified sampling by coalition size with Neyman allocation


def _uniform_subsets(key, sizes: jnp.ndarray, n: int) -> jnp.ndarray:
    """Masks ``[K, n]``: row r is a uniform subset of ``sizes[r]`` players."""
    rank = jnp.argsort(jnp.argsort(jax.random.uniform(key, (sizes.shape[0], n)), axis=1), axis=1)
    return (rank < sizes[:, None]).astype(jnp.float32)


def _all_subsets(n: int, size: int) -> np.ndarray:
    masks = np.zeros((math.comb(n, size), n), np.float32)
    for row, members in enumerate(itertools.combinations(range(n), size)):
        masks[row, list(members)] = 1.0
    return masks


def _border_plan(n: int, budget: int) -> tuple[list[int], list[int], int]:
    """(coalition sizes enumerated in full, sizes sampled, samples left). Sizes 0 and n are enumerated, then
    pairs (k, n-k) from the outside in while each pair costs at most half of the budget left (the smallest
    and largest coalitions are few, and they carry the most Shapley weight per coalition)."""
    if budget >= 2 ** n:  # every coalition fits: the estimate is exact
        return list(range(n + 1)), [], 0
    exact, spent, k = [0, n], 2, 1
    while k <= n - k:
        cost = math.comb(n, k) * (1 if k == n - k else 2)
        if cost > (budget - spent) // 2:
            break
        exact += [k] if k == n - k else [k, n - k]
        spent += cost
        k += 1
    sampled = [s for s in range(n + 1) if s not in exact]
    return sorted(exact), sampled, (budget - spent if sampled else 0)


def _stratified_neyman(game, budget, key):
    """phi_i = mean over sizes s of E[v(S) | |S| = s + 1, i in S] - E[v(S) | |S| = s, i not in S]: every
    evaluated coalition of size s updates the strata (i, s, in) of its members and (i, s, out) of the others.
    Sampled sizes get a pilot of half the samples (round robin), then the rest in proportion to the square
    root of each size's summed stratum variance, scaled by how rarely a size-s coalition holds (or lacks)
    a given player (Neyman allocation).

    Where sizes 1 and n-1 are enumerated, the strata are also kept for the game less an additive part,
    ``v(S) - sum_{i in S} beta_i`` with ``beta_i`` the mean of i's first and last marginals (an additive
    game's Shapley values are its worths, added back). The pilot decides which of the two to use: the one
    whose strata promise the smaller variance. The additive part removes a level that every coalition
    shares and that would swamp small marginals, and it hurts games far from additive (airport)."""
    n = game.num_players
    exact_sizes, sampled, samples = _border_plan(n, budget)
    stats = jnp.zeros((3, 2, 2, n + 1, n))  # [sum/square/count, raw/less additive, out/in, size, player]
    enumerated_masks = np.concatenate([_all_subsets(n, size) for size in exact_sizes])
    enumerated_values = game.values(jnp.asarray(enumerated_masks))
    beta = jnp.zeros(n)
    if 1 in exact_sizes and n - 1 in exact_sizes:
        size = enumerated_masks.sum(axis=1)
        value_of = lambda rows: enumerated_values[np.flatnonzero(rows)]  # noqa: E731
        alone = value_of(size == 1)[np.argsort(enumerated_masks[size == 1].argmax(axis=1))]
        all_but = value_of(size == n - 1)[np.argsort((1 - enumerated_masks[size == n - 1]).argmax(axis=1))]
        beta = 0.5 * ((alone - value_of(size == 0)[0]) + (value_of(size == n)[0] - all_but))

    def add(stats, masks, values=None):
        values = game.values(masks) if values is None else values
        both = jnp.stack([values, values - masks @ beta])[:, None, :, None]  # [2, 1, K, 1]
        size = masks.sum(axis=1).astype(jnp.int32)
        state = jnp.stack([1.0 - masks, masks])[None]  # [1, 2 (out/in), K, n]
        return stats.at[:, :, :, size].add(jnp.stack([state * both, state * both ** 2,
                                                      jnp.broadcast_to(state, (2,) + state.shape[1:])]))

    stats = add(stats, jnp.asarray(enumerated_masks), enumerated_values)
    view = 0  # raw values
    if sampled:
        sampled_sizes = jnp.asarray(sampled, jnp.int32)
        pilot = samples // 2
        key_pilot, key_second = jax.random.split(key)
        stats = add(stats, _uniform_subsets(key_pilot, jnp.resize(sampled_sizes, pilot), n))
        sums, squares, counts = stats
        mean = sums / jnp.maximum(counts, 1.0)
        var = jnp.where(counts > 1, (squares - counts * mean ** 2) / jnp.maximum(counts - 1.0, 1.0), 0.0)
        size = sampled_sizes.astype(jnp.float32)
        # Variance of the phi estimates per coalition of size s drawn: stratum variance / share of draws
        # that land in the stratum (s/n hold a given player, (n-s)/n lack it). [views, sampled sizes]
        cost = (var[:, 1, sampled_sizes].sum(-1) * n / size + var[:, 0, sampled_sizes].sum(-1) * n / (n - size))
        weight = jnp.sqrt(jnp.maximum(cost, 0.0))
        view = jnp.argmin(weight.sum(axis=1))  # Neyman's variance is (sum of the weights)^2 / draws
        weight = weight[view]
        second = samples - pilot
        share = jnp.where(weight.sum() > 0, weight / jnp.maximum(weight.sum(), 1e-30),
                          1.0 / len(sampled)) * second
        draws = jnp.floor(share)
        draws = draws + (jnp.argsort(jnp.argsort(-(share - draws))) < second - draws.sum())  # largest remainders
        sizes = jnp.repeat(sampled_sizes, draws.astype(jnp.int32), total_repeat_length=second)
        stats = add(stats, _uniform_subsets(key_second, sizes, n))
    sums, _, counts = stats[:, view]
    # A stratum no draw reached takes the mean value of its coalition size.
    size_mean = sums.sum(axis=(0, 2)) / jnp.maximum(counts.sum(axis=(0, 2)), 1.0)
    mean = jnp.where(counts > 0, sums / jnp.maximum(counts, 1.0), size_mean[None, :, None])
    values = jnp.where(view == 1, beta, 0.0) + (mean[1, 1:].sum(axis=0) - mean[0, :-1].sum(axis=0)) / n
    return Estimate(values, num_evaluations=jnp.asarray(len(enumerated_masks) + samples))


# ----------------------------------------------------------------------------------------------------------
# KernelSHAP with paired sampling


def _kernelshap_paired(game, budget, key):
    """KernelSHAP: phi minimises sum_S w(S) (v(S) - v({}) - z_S . phi)^2 subject to sum(phi) = v(N) - v({}),
    with the Shapley kernel w(S) = (n-1) / (C(n,|S|) |S| (n-|S|)). The sizes of :func:`_border_plan` enter
    with every coalition and its exact weight; the others by draws of a size (in proportion to its kernel
    mass) and a uniform coalition of that size, each paired with its complement and weighted by the sampled
    sizes' total mass over the number of draws."""
    n = game.num_players
    exact_sizes, sampled, samples = _border_plan(n, budget)
    inner = [s for s in exact_sizes if 0 < s < n]
    masks = [jnp.asarray(np.concatenate([_all_subsets(n, s) for s in inner]) if inner else np.zeros((0, n)))]
    weights = [jnp.asarray(np.concatenate([np.full(math.comb(n, s), (n - 1) / (math.comb(n, s) * s * (n - s)))
                                           for s in inner]) if inner else np.zeros(0), jnp.float32)]
    pairs = samples // 2
    if sampled and pairs:
        sizes = jnp.asarray(sampled)
        mass = (n - 1) / (sizes * (n - sizes))
        key_size, key_subset = jax.random.split(key)
        size = jax.random.choice(key_size, sizes, (pairs,), p=mass / mass.sum())
        z = _uniform_subsets(key_subset, size, n)
        masks.append(jnp.concatenate([z, 1.0 - z]))  # each coalition with its complement
        weights.append(jnp.full(2 * pairs, mass.sum() / (2 * pairs), jnp.float32))
    z, w = jnp.concatenate(masks), jnp.concatenate(weights)
    v_empty, v_full = game.values(jnp.zeros(n)), game.values(jnp.ones(n))
    y = game.values(z) - v_empty
    a = (z * w[:, None]).T @ z / w.sum()
    b = (z * w[:, None]).T @ y / w.sum()
    a = a + 1e-6 * jnp.eye(n)  # a sampled matrix is singular until every pair of players has been split
    a_inv_b, a_inv_1 = jnp.linalg.solve(a, jnp.stack([b, jnp.ones(n)], axis=1)).T  # one solve (see _fit_quadratic)
    # Least squares under the efficiency constraint sum(phi) = v(N) - v({}).
    values = a_inv_b - a_inv_1 * (a_inv_b.sum() - (v_full - v_empty)) / a_inv_1.sum()
    return Estimate(values, num_evaluations=jnp.asarray(2 + z.shape[0]))


# ----------------------------------------------------------------------------------------------------------
# Registry


def _chains_minimum(even: bool):
    return lambda n: whole_chains_cost(n, 2 if even else 1)


register_estimator("permutation", permutation_chains, min_budget=_chains_minimum(False),
                   value_batches=_chain_per_value_batch, from_config=_chains_from_config)
for _sampling in ("uniform", "antithetic", "stratified"):
    register_estimator(f"permutation_{_sampling}", _whole_chains(_sampling), min_players=3,
                       min_budget=_chains_minimum(_sampling == "antithetic"))
register_estimator("stratified_neyman", _stratified_neyman, min_players=3, min_budget=lambda n: 2 + 4 * (n - 1))
register_estimator("kernelshap_paired", _kernelshap_paired, min_players=3, min_budget=lambda n: 2 + 2 * n)
register_estimator("permutation_regression", _permutation_regression, min_players=3,
                   min_budget=_chains_minimum(True))
register_estimator("permutation_taylor_cv", _permutation_taylor_cv, min_players=3,
                   min_budget=lambda n: whole_chains_cost(n, 4), needs_control=True)

__all__ = ["Estimate", "Estimator", "ScoredGame", "available_estimators", "estimate", "get_estimator",
           "permutation_chains", "quadratic_shapley", "register_estimator", "taylor_shapley", "taylor_values",
           "whole_chains_cost"]

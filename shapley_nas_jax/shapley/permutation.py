"""Truncated Monte-Carlo permutation estimator of Shapley values (removal order, as in Shapley-NAS).

Each of the M chains starts from the full coalition and removes players one at a time in its permutation's
order. Position ``k`` of a chain is the coalition left after removing the first ``k`` players, so position 0
is the full coalition and position n the empty one. Two ways to score the chains (``scoring``):

* ``"batched"``: all chains together, ``chunk_size`` positions per chain per vmapped call, inside one
  ``lax.while_loop`` that stops once every chain is finished (positions past a chain's truncation inside the
  last chunk are computed and discarded). Wide, for accelerators.
* ``"sequential"``: one coalition at a time, each chain walked until it truncates, so exactly the needed
  evaluations are computed. Fastest on CPU, where one supernet pass on a full value batch already keeps
  every core busy and vmapping coalitions only grows the working set (BENCHMARKS.md).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax.shapley.result import Estimate

ValueFn = Callable[[Any, jnp.ndarray, Any], jnp.ndarray]

TRUNCATED_RULES = ("zero", "exclude")
AGGREGATES = ("mean", "mean_minus_std")
SAMPLERS = ("uniform", "antithetic", "stratified")
SCORINGS = ("batched", "sequential")


@dataclasses.dataclass(frozen=True, eq=False)
class StagedGame:
    """A game computed in two stages, ``v(S) = finish(shared, S, sample, prefix(shared, S, sample))``, whose
    first stage reads only the players in ``prefix_players``.

    Sequential scoring keeps the last prefix output and recomputes it only when a chain removes one of those
    players, so coalitions that differ only in other players share it (a supernet's stem and the cells before
    the first reduction are unchanged by removing a reduction-cell op). Called directly, it is an ordinary
    game. Hashed by identity (one object = one compiled scorer).
    """

    prefix: Callable[[Any, jnp.ndarray, Any], Any]       # (shared, mask, sample) -> features pytree
    finish: Callable[[Any, jnp.ndarray, Any, Any], Any]  # (shared, mask, sample, features) -> scalar
    prefix_players: np.ndarray                           # [n] bool: the players the prefix reads

    def __call__(self, shared, mask, sample):
        return self.finish(shared, mask, sample, self.prefix(shared, mask, sample))


# ----------------------------------------------------------------------------------------------------------
# Sampling


def sample_permutations(key, num_players: int, num_permutations: int, sampling: str = "uniform") -> jnp.ndarray:
    """Removal orders int32 ``[num_permutations, num_players]``; every row is marginally uniform.

    ``uniform``: independent permutations. ``antithetic``: pairs (pi, reversed pi) in rows (2j, 2j+1).
    ``stratified``: blocks of n rows are the n cyclic rotations of one uniform permutation (shuffled), so
    within a full block every player sits at every position exactly once.
    """
    n, m = num_players, num_permutations
    if sampling == "uniform":
        keys = jax.random.split(key, m)
        return jax.vmap(lambda k: jax.random.permutation(k, n))(keys).astype(jnp.int32)
    if sampling == "antithetic":
        base = sample_permutations(key, n, m // 2, "uniform")
        pairs = jnp.stack([base, base[:, ::-1]], axis=1)  # [m/2, 2, n]
        return pairs.reshape(m, n)
    if sampling == "stratified":
        num_blocks = -(-m // n)
        keys = jax.random.split(key, num_blocks)

        def block(k):
            k_base, k_shift = jax.random.split(k)
            base = jax.random.permutation(k_base, n)
            shifts = jax.random.permutation(k_shift, n)  # random order of rotations (matters for a partial block)
            cols = (jnp.arange(n)[None, :] + shifts[:, None]) % n
            return base[cols]

        return jax.vmap(block)(keys).reshape(num_blocks * n, n)[:m].astype(jnp.int32)
    raise ValueError(f"unknown sampling {sampling!r}; use one of {SAMPLERS}")


def permutation_ranks(permutations: jnp.ndarray) -> jnp.ndarray:
    """Inverse permutations ``[M, n]``: ``rank[j, i]`` = position of player i in chain j's removal order."""
    m, n = permutations.shape
    rows = jnp.arange(m)[:, None]
    return jnp.zeros_like(permutations).at[rows, permutations].set(jnp.arange(n, dtype=permutations.dtype))


def keep_last_of_groups(ranks: jnp.ndarray, groups) -> jnp.ndarray:
    """Ranks ``[M, n]`` for building masks, where each group's last player in a chain's removal order is never
    removed (rank n: present at every position). ``groups`` ``[n]``: a group id per player, -1 for none.

    A chain still evaluates the guarded player's position; its mask is unchanged there, so the player's
    marginal is exactly 0 (the original ImageNet search's guard against emptying an edge).
    """
    groups = np.asarray(groups)
    n = ranks.shape[1]
    members = groups[None, :] == np.arange(groups.max() + 1)[:, None]  # [G, n]
    last = jnp.max(jnp.where(members[None], ranks[:, None, :], -1), axis=-1)  # [M, G] rank of its last player
    is_last = jnp.any(members[None] & (ranks[:, None, :] == last[..., None]), axis=1)  # [M, n]
    return jnp.where(is_last, n, ranks)


# ----------------------------------------------------------------------------------------------------------
# Chunk scoring


def score_chunk(value_fn: ValueFn, shared, samples, ranks: jnp.ndarray, start, chunk_size: int,
                coalition_sharding=None) -> jnp.ndarray:
    """Values ``[M, chunk_size]`` of positions ``start .. start+chunk_size-1`` of every chain.

    ``ranks`` is ``[M, n]``; position p keeps the players with rank >= p (positions past n are empty).
    Outer vmap over chains (each with its own ``samples`` slice), inner vmap over positions.

    ``coalition_sharding`` (a ``jax.sharding.NamedSharding`` whose spec splits dimension 0): the ``M *
    chunk_size`` coalitions are flattened, padded to a multiple of the shard count, constrained to that
    sharding together with their chains' samples, and scored by one vmap, so each device scores its own
    slice of coalitions whatever M is. Values equal the unsharded ones up to float reassociation.
    """
    positions = jnp.asarray(start, jnp.int32) + jnp.arange(chunk_size, dtype=jnp.int32)
    masks = (ranks[:, None, :] >= positions[None, :, None]).astype(jnp.float32)  # [M, C, n]
    if coalition_sharding is not None:
        return _score_sharded(value_fn, shared, samples, masks, coalition_sharding)

    def one_chain(chain_masks, sample):
        return jax.vmap(lambda mask: value_fn(shared, mask, sample))(chain_masks)

    return jax.vmap(one_chain)(masks, samples)


def _num_shards(sharding) -> int:
    spec = tuple(sharding.spec)
    entry = spec[0] if spec else None
    if entry is None:
        return 1
    names = entry if isinstance(entry, tuple) else (entry,)
    return int(np.prod([sharding.mesh.shape[name] for name in names]))


def _score_sharded(value_fn: ValueFn, shared, samples, masks: jnp.ndarray, sharding) -> jnp.ndarray:
    """Score masks ``[M, C, n]`` as one flat, padded, sharded coalition axis; returns ``[M, C]``."""
    m, c, n = masks.shape
    total = m * c
    padded = -(-total // _num_shards(sharding)) * _num_shards(sharding)
    flat = jnp.concatenate([masks.reshape(total, n), jnp.ones((padded - total, n), masks.dtype)], axis=0)
    flat = jax.lax.with_sharding_constraint(flat, sharding)
    chain = jnp.minimum(jnp.arange(padded) // c, m - 1)  # padding rows reuse the last chain's sample
    if samples is None:
        values = jax.vmap(lambda mask: value_fn(shared, mask, None))(flat)
    else:
        flat_samples = jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x[chain], sharding), samples)
        values = jax.vmap(lambda mask, sample: value_fn(shared, mask, sample))(flat, flat_samples)
    values = jax.lax.with_sharding_constraint(values, sharding)
    return values[:total].reshape(m, c)


def _truncates(value, full, eta):
    """Whether a chain stops at a position of value ``value`` (position >= 1), given its full coalition's.

    ``v_k < v_0 - (1 - eta) |v_0|``: equals ``v_k < eta * v_0`` for non-negative values (the paper's rule) and
    stays meaningful for negative ones (e.g. negative cross-entropy: stop once the loss grew by 1 - eta).
    """
    return value < full - (1 - eta) * jnp.abs(full)


def _stop_positions(chain_values: jnp.ndarray, eta, truncate: bool) -> jnp.ndarray:
    """Last position ``[M]`` int32 each chain evaluates: first k >= 1 with v_k < eta * v_0 (for v_0 >= 0), else n.

    Positions not yet evaluated must hold NaN (a NaN comparison is False, so they never trigger).
    """
    n = chain_values.shape[1] - 1
    if not truncate:
        return jnp.full(chain_values.shape[:1], n, jnp.int32)
    below = _truncates(chain_values[:, 1:], chain_values[:, :1], eta)  # [M, n], column k-1 <-> position k
    return jnp.where(below.any(axis=1), jnp.argmax(below, axis=1) + 1, n).astype(jnp.int32)


def _chain_values_loop(value_fn, shared, samples, ranks, eta, *, truncate: bool, chunk_size: int,
                       coalition_sharding=None):
    """Scores positions chunk by chunk until every chain is truncated or empty.

    Returns (values ``[M, n+1]`` with NaN where not computed, number of chunks computed).
    """
    m, n = ranks.shape
    num_chunks = -(-(n + 1) // chunk_size)
    dtype = jnp.asarray(0.0).dtype
    buffer = jnp.full((m, num_chunks * chunk_size), jnp.nan, dtype)

    def finished(buf, chunks_done):
        evaluated_to = chunks_done * chunk_size - 1  # last computed position
        stops = _stop_positions(buf[:, : n + 1], eta, truncate)
        return jnp.all(stops <= evaluated_to)

    def cond(carry):
        chunks_done, buf = carry
        return (chunks_done < num_chunks) & ~finished(buf, chunks_done)

    def body(carry):
        chunks_done, buf = carry
        start = chunks_done * chunk_size
        vals = score_chunk(value_fn, shared, samples, ranks, start, chunk_size,
                           coalition_sharding=coalition_sharding).astype(dtype)
        buf = jax.lax.dynamic_update_slice(buf, vals, (jnp.zeros((), jnp.int32), start))
        return chunks_done + 1, buf

    chunks_done, buffer = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), buffer))
    return buffer[:, : n + 1], chunks_done


def score_chains(value_fn: ValueFn, shared, samples, ranks: jnp.ndarray, eta, *, truncate: bool,
                 num_positions: int | None = None, first_position: int = 0) -> jnp.ndarray:
    """Chain values ``[M, n+1]`` scored one coalition at a time (NaN where not evaluated).

    Chain j evaluates positions 0, 1, ... in order and stops after the first position k >= 1 that truncates
    (the rule of ``_stop_positions``), after position n, or after ``num_positions`` positions. Benchmarks
    start later with ``first_position`` (with ``truncate=False``: truncation is relative to position 0). Chains run one
    after another (``lax.map``); ``samples`` slice j is chain j's value batch. The value function is traced
    once. A :class:`StagedGame` reuses its prefix output while the chain removes players the prefix does
    not read.
    """
    m, n = ranks.shape
    last = n if num_positions is None else min(n, first_position + num_positions - 1)
    dtype = jnp.asarray(0.0).dtype
    staged = isinstance(value_fn, StagedGame)

    def walk(chain):
        rank = ranks[chain]
        sample = jax.tree.map(lambda x: x[chain], samples)

        def unfinished(carry):
            position, _, stopped, _ = carry
            return (position <= last) & ~stopped

        def step(carry):
            position, values, _, features = carry
            mask = (rank >= position).astype(jnp.float32)
            if staged:
                removed_prefix_player = jnp.any(value_fn.prefix_players & (rank == position - 1))
                features = jax.lax.cond((position == first_position) | removed_prefix_player,
                                        lambda: value_fn.prefix(shared, mask, sample), lambda: features)
                value = value_fn.finish(shared, mask, sample, features)
            else:
                value = value_fn(shared, mask, sample)
            value = value.astype(dtype)
            values = values.at[position].set(value)
            full = values[0]
            stopped = truncate & (position >= 1) & _truncates(value, full, eta)
            return position + 1, values, stopped, features

        features = None
        if staged:  # placeholder until position 0 computes the first prefix
            shapes = jax.eval_shape(value_fn.prefix, shared, jnp.ones((n,), jnp.float32), sample)
            features = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        start = (jnp.asarray(first_position, jnp.int32), jnp.full((n + 1,), jnp.nan, dtype), jnp.zeros((), bool),
                 features)
        return jax.lax.while_loop(unfinished, step, start)[1]

    return jax.lax.map(walk, jnp.arange(m, dtype=jnp.int32))


def _moments(marginals, measured, truncated: str):
    """Per player: how many samples count, their mean and population variance (``truncated``: "zero" counts
    every chain, "exclude" only the chains that measured the player)."""
    weight = jnp.ones_like(marginals) if truncated == "zero" else measured.astype(marginals.dtype)
    count = weight.sum(axis=0)
    safe = jnp.maximum(count, 1.0)
    mean = jnp.where(count > 0, (weight * marginals).sum(axis=0) / safe, 0.0)
    var = jnp.where(count > 0, (weight * (marginals - mean) ** 2).sum(axis=0) / safe, 0.0)
    return count, mean, var


def _aggregate(marginals, measured, truncated: str, aggregate: str):
    """Per-player estimate ``[n]`` from marginals ``[M, n]``."""
    _, mean, var = _moments(marginals, measured, truncated)
    return mean if aggregate == "mean" else mean - jnp.sqrt(var)


def _standard_errors(marginals, measured, truncated: str) -> jnp.ndarray:
    count, _, var = _moments(marginals, measured, truncated)
    return jnp.where(count > 1, jnp.sqrt(var / jnp.maximum(count - 1, 1.0)), jnp.nan)


def standard_errors(estimate: Estimate, truncated: str = "zero") -> jnp.ndarray:
    """Each player's standard error ``[n]`` of the Monte-Carlo mean of its marginals (sample std, ddof 1, over
    sqrt of the samples that count under ``truncated``); NaN for a player with fewer than 2 such samples. A
    chain estimate holds these for its own ``truncated`` rule (``standard_errors``); this gives them under
    either rule."""
    return _standard_errors(estimate.marginals, estimate.measured, truncated)


@functools.partial(
    jax.jit,
    static_argnames=("value_fn", "num_players", "num_permutations", "truncate", "truncated", "aggregate",
                     "sampling", "chunk_size", "coalition_sharding", "scoring", "keep_last"),
)
def _estimate(value_fn, key, eta, shared, samples, *, num_players, num_permutations, truncate, truncated,
              aggregate, sampling, chunk_size, coalition_sharding=None, scoring="batched",
              keep_last=None) -> Estimate:
    n, m = num_players, num_permutations
    perms = sample_permutations(key, n, m, sampling)
    ranks = permutation_ranks(perms)
    mask_ranks = ranks if keep_last is None else keep_last_of_groups(ranks, keep_last)
    if scoring == "sequential":
        values = score_chains(value_fn, shared, samples, mask_ranks, eta, truncate=truncate)
    else:
        values, chunks_done = _chain_values_loop(value_fn, shared, samples, mask_ranks, eta, truncate=truncate,
                                                 chunk_size=chunk_size, coalition_sharding=coalition_sharding)
    stops = _stop_positions(values, eta, truncate)  # [M]
    num_evaluations = jnp.sum(stops + 1)
    # sequential scoring computes exactly the needed evaluations; batched chunks run past truncation
    num_computed = num_evaluations if scoring == "sequential" else chunks_done * chunk_size * m
    positions = jnp.arange(n + 1)
    chain_values = jnp.where(positions[None, :] <= stops[:, None], values, jnp.nan)
    # Removal k (1-based) is measured iff k <= stop; marginal = v(before) - v(after).
    measured_by_pos = positions[None, 1:] <= stops[:, None]  # [M, n]
    marg_by_pos = jnp.where(measured_by_pos, values[:, :-1] - values[:, 1:], 0.0)
    marginals = jnp.take_along_axis(marg_by_pos, ranks, axis=1)
    measured = jnp.take_along_axis(measured_by_pos, ranks, axis=1)
    return Estimate(
        values=_aggregate(marginals, measured, truncated, aggregate),
        num_evaluations=num_evaluations,
        standard_errors=_standard_errors(marginals, measured, truncated),
        num_computed=num_computed,
        marginals=marginals,
        measured=measured,
        chain_values=chain_values,
        permutations=perms,
    )


def _is_concrete_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def permutation_shapley(value_fn: ValueFn, num_players: int, key, *, num_permutations: int = 10,
                        truncation: float | None = 0.5, truncated: str = "zero", aggregate: str = "mean",
                        sampling: str = "uniform", chunk_size: int = 8, shared=None,
                        samples=None, coalition_sharding=None, scoring: str = "batched",
                        keep_last: np.ndarray | None = None) -> Estimate:
    """Truncated Monte-Carlo permutation estimate of the Shapley values of ``value_fn`` (n players).

    ``truncation``: eta in (0, 1] (a chain stops after the removal that takes its value below eta * v(full))
    or None for no truncation. ``truncated``: "zero" (truncated players count as 0) or "exclude" (left out
    of that player's statistics). ``aggregate``: "mean" or "mean_minus_std" (population std).
    ``sampling``: "uniform", "antithetic" (even M) or "stratified". ``samples``: pytree with leading axis M,
    chain j sees slice j. Jittable with every argument except key, truncation, shared, samples static.
    ``coalition_sharding``: optional ``NamedSharding`` splitting dimension 0 over a mesh; each scored chunk's
    ``M * chunk_size`` coalitions are spread over its devices (any M: the flat axis is padded). None (the
    default) scores exactly as without a mesh.
    ``scoring``: "batched" (``chunk_size`` positions of all chains per vmapped call) or "sequential" (one
    coalition at a time, no evaluations past truncation; ``chunk_size`` ignored; not with
    ``coalition_sharding``). Both give the same estimate; see the module docstring.
    ``keep_last``: optional group id per player ``[n]`` (-1: no group); a chain never removes the last
    remaining player of a group (its removal leaves the coalition as it is: marginal 0).

    Returns an :class:`~shapley_nas_jax.shapley.Estimate` with every field: ``standard_errors`` under the
    ``truncated`` rule, ``num_evaluations`` the positions the chains needed (each chain's full coalition
    included: chains with their own ``samples`` score different games), ``num_computed`` those computed.
    """
    if num_players < 1:
        raise ValueError(f"num_players must be >= 1, got {num_players}")
    if num_permutations < 1:
        raise ValueError(f"num_permutations must be >= 1, got {num_permutations}")
    if scoring not in SCORINGS:
        raise ValueError(f"unknown scoring={scoring!r}; use one of {SCORINGS}")
    if scoring == "sequential" and coalition_sharding is not None:
        raise ValueError("scoring='sequential' scores one coalition at a time and cannot split coalitions over "
                         "devices; use scoring='batched' with coalition_sharding")
    if scoring == "batched" and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 (positions per chain per call), got {chunk_size}")
    if truncated not in TRUNCATED_RULES:
        raise ValueError(f"unknown truncated={truncated!r}; use one of {TRUNCATED_RULES}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate={aggregate!r}; use one of {AGGREGATES}")
    if sampling not in SAMPLERS:
        raise ValueError(f"unknown sampling={sampling!r}; use one of {SAMPLERS}")
    if sampling == "antithetic" and num_permutations % 2:
        raise ValueError(f"sampling='antithetic' pairs each permutation with its reverse, so num_permutations "
                         f"must be even, got {num_permutations}")
    if truncation is not None and _is_concrete_number(truncation) and not 0.0 < truncation <= 1.0:
        raise ValueError(f"truncation must be in (0, 1] or None (no truncation), got {truncation}")
    for leaf in jax.tree_util.tree_leaves(samples):
        if jnp.ndim(leaf) < 1 or jnp.shape(leaf)[0] != num_permutations:
            raise ValueError(f"every samples leaf needs leading axis num_permutations={num_permutations}, "
                             f"got shape {jnp.shape(leaf)}")
    truncate = truncation is not None
    eta = jnp.asarray(truncation if truncate else 0.0, jnp.asarray(0.0).dtype)
    return _estimate(value_fn, key, eta, shared, samples, num_players=num_players,
                     num_permutations=num_permutations, truncate=truncate, truncated=truncated,
                     aggregate=aggregate, sampling=sampling, chunk_size=chunk_size,
                     coalition_sharding=coalition_sharding, scoring=scoring,
                     keep_last=None if keep_last is None else _check_groups(keep_last, num_players))


def _check_groups(groups, num_players: int) -> tuple[int, ...]:
    """``keep_last`` as a static (hashable) tuple of group ids."""
    groups = np.asarray(groups)
    if groups.shape != (num_players,) or not np.issubdtype(groups.dtype, np.integer) or groups.min(initial=0) < -1:
        raise ValueError(f"keep_last must hold one integer group id (>= 0, or -1 for none) per player, "
                         f"{num_players} in all; got shape {groups.shape} and dtype {groups.dtype}")
    return tuple(int(g) for g in groups)

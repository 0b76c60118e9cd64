"""Exact Shapley values by enumerating all 2^n coalitions.

Coalition number ``s`` (0 <= s < 2^n) contains player ``i`` iff bit ``i`` of ``s`` is set, so coalition 0
is the empty set and coalition 2^n - 1 the grand coalition.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

ValueFn = Callable[[Any, jnp.ndarray, Any], jnp.ndarray]

MAX_EXACT_PLAYERS = 20


def coalition_masks(num_players: int, start, size: int) -> jnp.ndarray:
    """Masks of coalitions ``start .. start+size-1`` as float32 ``[size, num_players]`` (bit i = player i)."""
    index = jnp.asarray(start, jnp.int32) + jnp.arange(size, dtype=jnp.int32)
    bits = jnp.arange(num_players, dtype=jnp.int32)
    return ((index[:, None] >> bits[None, :]) & 1).astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("value_fn", "num_players", "chunk_size"))
def score_coalition_chunk(value_fn: ValueFn, shared, sample, start, *, num_players: int, chunk_size: int):
    """Values ``[chunk_size]`` of coalitions ``start .. start+chunk_size-1`` (one jitted, vmapped call)."""
    masks = coalition_masks(num_players, start, chunk_size)
    return jax.vmap(lambda m: value_fn(shared, m, sample))(masks)


def _check_num_players(num_players: int) -> None:
    if num_players < 1:
        raise ValueError(f"num_players must be >= 1, got {num_players}")
    if num_players > MAX_EXACT_PLAYERS:
        raise ValueError(
            f"exact enumeration needs 2^n evaluations; use permutation_shapley for n > {MAX_EXACT_PLAYERS} "
            f"(got n = {num_players})"
        )


def coalition_values(value_fn: ValueFn, num_players: int, *, shared=None, sample=None,
                     chunk_size: int = 4096, progress: bool = False) -> np.ndarray:
    """Values of all 2^n coalitions as float64 numpy ``[2^n, ...]`` (index = coalition bit pattern; a value
    function returning an array ``[k]`` gives ``[2^n, k]``). ``progress``: a bar with rate and ETA."""
    import tqdm

    _check_num_players(num_players)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    total = 1 << num_players
    chunk = min(chunk_size, total)
    parts = []
    bar = tqdm.tqdm(total=total, unit="coalition", desc=f"enumerate 2^{num_players}", disable=not progress,
                    smoothing=0.05)
    # Every chunk has the same shape (the last one is padded past 2^n and cut), so the scorer compiles once.
    with bar:
        for start in range(0, total, chunk):
            vals = score_coalition_chunk(value_fn, shared, sample, start, num_players=num_players,
                                          chunk_size=chunk)
            parts.append(np.asarray(vals, dtype=np.float64))
            bar.update(min(chunk, total - start))
    return np.concatenate(parts)[:total]


def shapley_weights(num_players: int) -> np.ndarray:
    """Float64 ``[n]``: weight |S|!(n-|S|-1)!/n! of a marginal v(S+i)-v(S) for |S| = 0..n-1."""
    n = num_players
    sizes = np.arange(n)
    log_w = np.array([math.lgamma(s + 1) + math.lgamma(n - s) - math.lgamma(n + 1) for s in sizes])
    return np.exp(log_w)


def shapley_from_coalition_values(values: np.ndarray) -> np.ndarray:
    """Exact Shapley values float64 ``[n]`` from all coalition values ``[2^n]`` (bit-pattern order)."""
    values = np.asarray(values, dtype=np.float64)
    total = values.shape[0]
    n = total.bit_length() - 1
    if total != 1 << n:
        raise ValueError(f"expected 2^n coalition values, got {total}")
    index = np.arange(total, dtype=np.int64)
    size = np.zeros(total, dtype=np.int64)
    for i in range(n):
        size += (index >> i) & 1
    weights = shapley_weights(n)
    phi = np.empty(n, dtype=np.float64)
    for i in range(n):
        without = index[((index >> i) & 1) == 0]  # coalitions S not containing i
        phi[i] = np.sum(weights[size[without]] * (values[without | (1 << i)] - values[without]))
    return phi


def exact_shapley(value_fn: ValueFn, num_players: int, *, shared=None, sample=None,
                  chunk_size: int = 4096) -> jnp.ndarray:
    """Exact Shapley values ``[num_players]`` of the game ``value_fn`` (2^n vmapped evaluations, n <= 20)."""
    values = coalition_values(value_fn, num_players, shared=shared, sample=sample, chunk_size=chunk_size)
    return jnp.asarray(shapley_from_coalition_values(values), dtype=jnp.asarray(0.0).dtype)

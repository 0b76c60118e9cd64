"""Reference cooperative games with Shapley values known in closed form.

Each game has a module-level ``*_value(shared, mask, sample)`` function (the game's parameters travel in
``shared``, so one compiled scorer serves every instance of the same shape), a ``*_shapley(...)`` function that
returns the true values as float64 numpy ``[n]`` computed without enumerating coalitions, and a ``*_game(...)``
constructor bundling both into a :class:`Game`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np


class Game(NamedTuple):
    """A game: call ``value_fn(shared, mask, sample)``; ``shapley_values`` float64 ``[n]`` or None if unknown."""

    name: str
    num_players: int
    value_fn: Callable[[Any, jnp.ndarray, Any], jnp.ndarray]
    shared: Any
    shapley_values: np.ndarray | None


# ---------------------------------------------------------------------------------------------------------
# Glove game: v(S) = min(#left holders in S, #right holders in S)


def glove_value(shared, mask, sample=None):
    """shared = {"left": [n] float (1 = left-glove holder, 0 = right)}."""
    left = jnp.dot(mask, shared["left"])
    right = jnp.sum(mask) - left
    return jnp.minimum(left, right)


def glove_shapley(num_left: int, num_right: int) -> np.ndarray:
    """Float64 ``[L + R]`` (left holders first). A left holder adds 1 iff fewer lefts than rights precede it.

    Sums over the number k of predecessors (uniform on 0..n-1) and the hypergeometric count of lefts among them.
    """
    n = num_left + num_right

    def value_of_one(same: int, other: int) -> float:
        total = 0.0
        for k in range(n):
            for a in range(0, min(same - 1, k) + 1):  # a = holders of my kind among the k predecessors
                b = k - a
                if b > other or a >= b:
                    continue
                total += math.comb(same - 1, a) * math.comb(other, b) / math.comb(n - 1, k)
        return total / n

    phi_left = value_of_one(num_left, num_right) if num_left else 0.0
    phi_right = value_of_one(num_right, num_left) if num_right else 0.0
    return np.array([phi_left] * num_left + [phi_right] * num_right, dtype=np.float64)


def glove_game(num_left: int, num_right: int) -> Game:
    left = jnp.asarray([1.0] * num_left + [0.0] * num_right, jnp.float32)
    return Game(f"glove(L={num_left},R={num_right})", num_left + num_right, glove_value, {"left": left},
                glove_shapley(num_left, num_right))


# ---------------------------------------------------------------------------------------------------------
# Weighted voting game: v(S) = 1 if sum of weights in S >= quota


def voting_value(shared, mask, sample=None):
    """shared = {"weights": [n] float, "quota": scalar}."""
    return (jnp.dot(mask, shared["weights"]) >= shared["quota"]).astype(jnp.float32)


def voting_shapley(weights: Sequence[int], quota: int) -> np.ndarray:
    """Shapley-Shubik index float64 ``[n]`` for integer weights, by counting (size, weight) subsets of the others."""
    w = [int(x) for x in weights]
    if any(x < 0 for x in w) or any(float(x) != float(y) for x, y in zip(w, weights)):
        raise ValueError("voting_shapley needs non-negative integer weights")
    n = len(w)
    total_w = sum(w)
    phi = np.zeros(n, dtype=np.float64)
    for i in range(n):
        # count[k][s] = number of subsets of the other players with k members and weight s
        count = [[0] * (total_w + 1) for _ in range(n)]
        count[0][0] = 1
        for j in range(n):
            if j == i:
                continue
            for k in range(n - 2, -1, -1):
                row, nxt = count[k], count[k + 1]
                for s in range(total_w - w[j], -1, -1):
                    if row[s]:
                        nxt[s + w[j]] += row[s]
        lo, hi = max(quota - w[i], 0), min(quota - 1, total_w)  # S loses, S + i wins
        acc = 0.0
        for k in range(n):
            pivotal = sum(count[k][lo: hi + 1]) if hi >= lo else 0
            acc += pivotal * math.factorial(k) * math.factorial(n - 1 - k) / math.factorial(n)
        phi[i] = acc
    return phi


def voting_game(weights: Sequence[int], quota: int) -> Game:
    shared = {"weights": jnp.asarray(weights, jnp.float32), "quota": jnp.asarray(quota, jnp.float32)}
    return Game(f"voting(n={len(weights)},q={quota})", len(weights), voting_value, shared,
                voting_shapley(weights, quota))


# ---------------------------------------------------------------------------------------------------------
# Airport game: v(S) = -max cost in S (v(empty) = 0)


def airport_value(shared, mask, sample=None):
    """shared = {"costs": [n] non-negative float}."""
    return -jnp.max(mask * shared["costs"])


def airport_shapley(costs: Sequence[float]) -> np.ndarray:
    """Littlechild-Owen: each cost increment c_(k) - c_(k-1) is split equally by the n-k+1 players needing it."""
    c = np.asarray(costs, dtype=np.float64)
    if np.any(c < 0):
        raise ValueError("airport costs must be non-negative")
    n = c.shape[0]
    order = np.argsort(c, kind="stable")
    sorted_c = c[order]
    increments = np.diff(np.concatenate([[0.0], sorted_c]))
    shares = increments / (n - np.arange(n))  # increment k is shared by the players at sorted positions >= k
    phi = np.empty(n, dtype=np.float64)
    phi[order] = -np.cumsum(shares)
    return phi


def airport_game(costs: Sequence[float]) -> Game:
    return Game(f"airport(n={len(costs)})", len(costs), airport_value, {"costs": jnp.asarray(costs, jnp.float32)},
                airport_shapley(costs))


# ---------------------------------------------------------------------------------------------------------
# Additive game: v(S) = sum of a_i over S


def additive_value(shared, mask, sample=None):
    """shared = {"a": [n]}."""
    return jnp.dot(mask, shared["a"])


def additive_shapley(a: Sequence[float]) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def additive_game(a: Sequence[float]) -> Game:
    return Game(f"additive(n={len(a)})", len(a), additive_value, {"a": jnp.asarray(a, jnp.float32)},
                additive_shapley(a))


# ---------------------------------------------------------------------------------------------------------
# Unanimity game: v(S) = scale if the carrier T is a subset of S


def unanimity_value(shared, mask, sample=None):
    """shared = {"carrier": [n] float 0/1, "scale": scalar}."""
    covered = jnp.all((mask > 0.5) | (shared["carrier"] < 0.5))
    return shared["scale"] * covered.astype(jnp.float32)


def unanimity_shapley(num_players: int, carrier: Sequence[int], scale: float = 1.0) -> np.ndarray:
    phi = np.zeros(num_players, dtype=np.float64)
    carrier = list(carrier)
    phi[carrier] = scale / len(carrier)
    return phi


def unanimity_game(num_players: int, carrier: Sequence[int], scale: float = 1.0) -> Game:
    if not carrier:
        raise ValueError("a unanimity game needs a non-empty carrier")
    c = np.zeros(num_players, np.float32)
    c[list(carrier)] = 1.0
    shared = {"carrier": jnp.asarray(c), "scale": jnp.asarray(scale, jnp.float32)}
    return Game(f"unanimity(n={num_players},|T|={len(carrier)})", num_players, unanimity_value, shared,
                unanimity_shapley(num_players, carrier, scale))


# ---------------------------------------------------------------------------------------------------------
# Table game: any game given by its 2^n coalition values (no closed form; for axioms and benchmarks)


def table_value(shared, mask, sample=None):
    """shared = {"table": [2^n] values, bit i of the index = player i}."""
    n = mask.shape[0]
    index = jnp.sum((mask > 0.5).astype(jnp.int32) * (1 << jnp.arange(n, dtype=jnp.int32)))
    return shared["table"][index]


def table_game(table, name: str = "table") -> Game:
    table = np.asarray(table, dtype=np.float32)
    n = table.shape[0].bit_length() - 1
    if table.shape != (1 << n,):
        raise ValueError(f"a table game needs 2^n values, got shape {table.shape}")
    return Game(name, n, table_value, {"table": jnp.asarray(table)}, None)


def random_table_game(num_players: int, seed: int = 0) -> Game:
    """Random superadditive-ish game: v(S) = sum of player worths + N(0, 1) interaction noise, v(empty) = 0."""
    rng = np.random.default_rng(seed)
    worth = rng.uniform(0.0, 1.0, num_players)
    index = np.arange(1 << num_players)
    bits = (index[:, None] >> np.arange(num_players)[None, :]) & 1
    table = bits @ worth + rng.normal(0.0, 1.0, index.shape[0])
    table[0] = 0.0
    return table_game(table, f"random(n={num_players},seed={seed})")

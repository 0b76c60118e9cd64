"""Research-facing API: Shapley values of any game, and a search you drive step by step from Python.

Two entry points, both pure-functional underneath:

* :func:`shapley_values` scores a cooperative game given as a plain ``mask -> scalar`` function (exact
  enumeration for small games, truncated / variance-reduced Monte-Carlo permutation sampling otherwise),
  with the same chunked, vmapped evaluation the architecture search uses. :func:`mask_game` adapts such a
  function to the full game interface ``value_fn(shared, mask, sample)`` of :mod:`shapley_nas_jax.shapley`
  when you want the whole :class:`~shapley_nas_jax.shapley.Estimate` (marginals, chain values, counts).
* :class:`Search` exposes one search as pure steps (``init_state``, ``weight_step``, ``shapley_step``,
  ``genotype``) plus the data each step of the schedule uses (``train_batch(step)``,
  ``value_batches(update)``), so a notebook can run, inspect or alter a search one step at a time;
  :meth:`Search.run` drives that schedule like ``run_search`` does, without any I/O, and ends in the same
  state. It is defined in :mod:`shapley_nas_jax.search.schedule`.

See ``docs/shapley_games.md`` and ``docs/extending.md``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import numpy as np

from shapley_nas_jax.errors import UnknownNameError
from shapley_nas_jax.search.schedule import Search
from shapley_nas_jax.shapley import exact_shapley, permutation_shapley

SHAPLEY_METHODS = ("exact", "permutation")

MaskFn = Callable[[jax.Array], jax.Array]
"""A game as ``fn(mask) -> scalar``: ``mask`` float32 ``[num_players]`` (1 = player present)."""


# ---------------------------------------------------------------------------------------------------------
# Shapley values of any game


@dataclasses.dataclass(frozen=True)
class MaskGame:
    """``fn(mask) -> scalar`` as a game ``value_fn(shared, mask, sample) -> scalar`` (shared and sample unused).

    Equal (and equally hashed) for the same ``fn``, so repeated calls with one function reuse one compiled
    scorer: define ``fn`` once (not a fresh lambda per call) to avoid recompiling.
    """

    fn: MaskFn

    def __call__(self, shared: Any, mask: jax.Array, sample: Any = None) -> jax.Array:
        del shared, sample
        return self.fn(mask)


def mask_game(fn: MaskFn) -> MaskGame:
    """Adapt ``fn(mask [n] float32) -> scalar`` to the game interface ``value_fn(shared, mask, sample)``.

    Use it to call :func:`~shapley_nas_jax.shapley.permutation_shapley` or
    :func:`~shapley_nas_jax.shapley.exact_shapley` directly on a simple function.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable (mask -> scalar), got {type(fn).__name__}")
    return fn if isinstance(fn, MaskGame) else MaskGame(fn)


def _as_key(key):
    if key is None:
        raise ValueError("method='permutation' samples permutations: pass key=<jax PRNG key or int seed>")
    if isinstance(key, (int, np.integer)):
        return jax.random.PRNGKey(int(key))
    return key


def shapley_values(fn: MaskFn, num_players: int, key: jax.Array | int | None = None, method: str = "exact",
                   **options: Any) -> jax.Array:
    """Shapley values ``[num_players]`` of the game ``fn(mask) -> scalar``.

    ``fn`` receives a float32 coalition mask ``[num_players]`` (1 = present) and returns a scalar; it must be
    a pure jnp function (it is jitted and vmapped over coalitions). Values are in ``fn``'s units and sum to
    ``fn(ones) - fn(zeros)`` (exactly for ``"exact"``, in expectation for untruncated ``"permutation"``).

    ``method="exact"``: enumerate all ``2^n`` coalitions (``n <= 20``), ``chunk_size`` (default 4096)
    coalitions per vmapped call. ``options``: ``chunk_size``.

    ``method="permutation"``: Monte-Carlo over removal orders (needs ``key``: a PRNG key or an int seed).
    ``options`` go to :func:`~shapley_nas_jax.shapley.permutation_shapley`: ``num_permutations`` (default 10),
    ``truncation`` (default **None** here, i.e. unbiased; ``eta`` in (0, 1] stops a chain once its value falls
    below ``eta * fn(ones)``, which assumes positive values), ``truncated`` (``"zero"`` | ``"exclude"``),
    ``aggregate`` (default ``"mean"``; ``"mean_minus_std"``), ``sampling`` (``"uniform"`` | ``"antithetic"`` |
    ``"stratified"``), ``scoring`` (``"batched"``: ``chunk_size`` chain positions per vmapped call, or
    ``"sequential"``: one coalition at a time; neither changes the result), and
    any further keyword that function accepts. For the full estimate (per-chain marginals, evaluation
    counts) call ``permutation_shapley(mask_game(fn), n, key, ...)`` instead.
    """
    if int(num_players) < 1:
        raise ValueError(f"num_players must be >= 1, got {num_players}")
    game = mask_game(fn)
    if method == "exact":
        unknown = set(options) - {"chunk_size"}
        if unknown:
            raise TypeError(f"method='exact' takes only chunk_size, got {', '.join(sorted(unknown))}")
        return exact_shapley(game, int(num_players), **options)
    if method == "permutation":
        options.setdefault("truncation", None)
        options.setdefault("aggregate", "mean")
        return permutation_shapley(game, int(num_players), _as_key(key), **options).values
    raise UnknownNameError(f"unknown method {method!r}; use one of {', '.join(SHAPLEY_METHODS)}")


__all__ = ["MaskFn", "MaskGame", "SHAPLEY_METHODS", "Search", "mask_game", "shapley_values"]

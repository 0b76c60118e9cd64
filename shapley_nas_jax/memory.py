"""Choosing the Shapley scoring chunk size from a memory budget.

`permutation_shapley(..., chunk_size=c)` scores ``M * c`` coalitions per batched call (M chains, c positions
each), so its activation memory grows linearly in ``M * c``. :func:`choose_chunk_size` estimates the memory
of one coalition's value evaluation and returns the largest ``c`` whose ``M * c`` coalitions fit the budget.

Per-coalition estimate (``method``):

* ``"compiled"``: compile the vmapped value function for 1 and 2 coalitions and take the difference of
  XLA's ``memory_analysis()`` (temporaries + outputs): the marginal bytes of one more coalition, as the
  compiler will actually allocate them. Accurate, but costs two compilations (cheap on GPU, slow on CPU:
  the full DARTS supernet takes minutes to compile there).
* ``"analytic"``: trace one coalition's value function to a jaxpr (no compilation) and take the sum of the
  bytes of all intermediate outputs (nested jaxprs included) times ``live_fraction`` (XLA fuses and reuses buffers, so only part of them is ever live at once). Conservative
  with the default ``live_fraction=0.5``.
* ``"auto"``: ``"compiled"`` on GPU/TPU, ``"analytic"`` on CPU (or when ``memory_analysis`` is missing).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np


from shapley_nas_jax.errors import UnknownNameError
from shapley_nas_jax.value import make_value_fn

GIB = 1024**3
CPU_DEFAULT_BUDGET = 4 * GIB
GPU_BUDGET_FRACTION = 0.6


def default_budget_bytes(device: jax.Device | None = None) -> int:
    """Default scoring budget: ``GPU_BUDGET_FRACTION`` of the accelerator's memory limit (from
    ``memory_stats()['bytes_limit']``), or on CPU ``min(4 GiB, half of physical memory)``."""
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        limit = stats.get("bytes_limit")
        if limit:
            return int(limit * GPU_BUDGET_FRACTION)
        return 8 * GIB
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 2 * CPU_DEFAULT_BUDGET
    return int(min(CPU_DEFAULT_BUDGET, physical // 2))


def _abstract_inputs(model, value_batch_shape, num_classes_dtype=jnp.int32):
    b = value_batch_shape[0]
    x = jax.ShapeDtypeStruct(tuple(value_batch_shape), jnp.float32)
    shape = tuple(model.space.alpha_shape)
    alpha = jax.ShapeDtypeStruct(shape, jnp.float32)
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1,) + tuple(value_batch_shape[1:])),
                                                  jnp.zeros(shape), jnp.ones(shape)))
    batch = {"image": x, "label": jax.ShapeDtypeStruct((b,), num_classes_dtype)}
    return variables, alpha, batch


def _nbytes(aval) -> int:
    return int(np.prod(aval.shape, dtype=np.int64)) * np.dtype(aval.dtype).itemsize


def _jaxpr_intermediate_bytes(jaxpr) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        total += sum(_nbytes(v.aval) for v in eqn.outvars if hasattr(v.aval, "shape"))
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", sub)  # ClosedJaxpr -> Jaxpr
                if hasattr(inner, "eqns"):
                    total += _jaxpr_intermediate_bytes(inner)
    return total


def activation_bytes(compiled) -> int | None:
    """Temporaries + outputs that XLA allocates for one call of a compiled function (weights and inputs not
    included), from its ``memory_analysis()``; None where the backend has no analysis."""
    try:
        analysis = compiled.memory_analysis()
        return int(analysis.temp_size_in_bytes + analysis.output_size_in_bytes)
    except Exception:  # noqa: BLE001 -- no analysis on this backend (None, or not implemented)
        return None


def coalition_bytes(model, value_batch_shape, *, metric: str = "accuracy", bn_mode: str = "running",
                    method: str = "auto", live_fraction: float = 0.5) -> int:
    """Estimated activation bytes of ONE coalition's value evaluation (see the module doc for ``method``)."""
    if method == "auto":
        method = "analytic" if jax.default_backend() == "cpu" else "compiled"
    value = make_value_fn(model, metric=metric, bn_mode=bn_mode)
    variables, alpha, batch = _abstract_inputs(model, value_batch_shape)
    params, stats = variables["params"], variables.get("batch_stats")

    if method == "compiled":
        sizes = []
        for n in (1, 2):
            masks = jax.ShapeDtypeStruct((n,) + alpha.shape, jnp.float32)
            fn = jax.jit(lambda p, s, a, m, b: jax.vmap(lambda mm: value(p, s, a, mm, b))(m))
            size = activation_bytes(fn.lower(params, stats, alpha, masks, batch).compile())
            if size is None:
                return coalition_bytes(model, value_batch_shape, metric=metric, bn_mode=bn_mode,
                                       method="analytic", live_fraction=live_fraction)
            sizes.append(size)
        return int(max(sizes[1] - sizes[0], sizes[0] // 2, 1))
    if method == "analytic":
        mask = jax.ShapeDtypeStruct(alpha.shape, jnp.float32)
        closed = jax.make_jaxpr(value)(params, stats, alpha, mask, batch)
        return max(int(_jaxpr_intermediate_bytes(closed.jaxpr) * live_fraction), 1)
    raise UnknownNameError(f"unknown method {method!r}; use 'auto', 'compiled' or 'analytic'")


def choose_chunk_size(model, value_batch_shape, num_permutations: int, *, budget_bytes: int | None = None,
                      num_players: int | None = None, metric: str = "accuracy", bn_mode: str = "running",
                      method: str = "auto", max_chunk: int | None = None) -> int:
    """Largest ``chunk_size`` for ``permutation_shapley`` whose ``num_permutations * chunk_size`` coalitions
    fit in ``budget_bytes`` (default :func:`default_budget_bytes`), at least 1.

    ``value_batch_shape``: one permutation's value batch images ``(B, H, W, C)``. The cap is
    ``num_players + 1`` (a chain never has more positions) or ``max_chunk``. Model parameters and the value
    batches (counted once, they are shared) are subtracted from the budget first.
    """
    if num_permutations < 1:
        raise ValueError(f"num_permutations must be >= 1, got {num_permutations}")
    budget = default_budget_bytes() if budget_bytes is None else int(budget_bytes)
    variables, _, _ = _abstract_inputs(model, value_batch_shape)
    fixed = sum(_nbytes(v) for v in jax.tree_util.tree_leaves(variables))
    fixed += num_permutations * int(np.prod(value_batch_shape)) * 4
    per = coalition_bytes(model, value_batch_shape, metric=metric, bn_mode=bn_mode, method=method)
    chunk = max((budget - fixed) // (per * num_permutations), 1)
    if num_players is None:
        num_players = int(np.asarray(model.space.player_mask()).sum())
    cap = num_players + 1 if max_chunk is None else min(max_chunk, num_players + 1)
    return int(max(1, min(chunk, cap)))

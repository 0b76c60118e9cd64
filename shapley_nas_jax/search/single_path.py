"""Single-path cells for random search with weight sharing (RSPS, Li & Talwalkar 2019; NAS-Bench-201's
baseline): the supernet is trained on one uniformly drawn cell per weight step, then uniformly drawn cells
are scored with the shared weights on the value split and the best one is kept.

A single-path cell is a one-hot mask ``[cell_types, edges, ops]`` with one op per edge. The supernet runs it
through its ordinary inputs: ``mask`` = the one-hot and ``alpha`` = :func:`single_path_alpha`, whose softmax
puts weight exactly 1 on the chosen op, so the edge computes that op alone (no 1/ops scaling) and ops
outside the cell are skipped where the supernet skips absent ops.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# exp(-1e9 - 0) is exactly 0 in float32, so softmax(single_path_alpha(p)) == p on every edge
_ABSENT_LOGIT = -1e9


def sample_single_paths(key: jax.Array, candidates: np.ndarray, num: int | None = None) -> jax.Array:
    """Uniformly drawn single-path cells: float32 one-hot ``[cell_types, edges, ops]`` (``[num, ...]`` with
    ``num``), one op per edge, drawn uniformly among the edge's ``candidates`` (bool, same shape)."""
    candidates = np.asarray(candidates, bool)
    if not candidates.any(-1).all():
        raise ValueError("every edge needs at least one candidate op to draw a single-path cell")
    logits = jnp.where(jnp.asarray(candidates), 0.0, -jnp.inf)
    shape = candidates.shape[:-1] if num is None else (num, *candidates.shape[:-1])
    choice = jax.random.categorical(key, logits, axis=-1, shape=shape)
    return jax.nn.one_hot(choice, candidates.shape[-1], dtype=jnp.float32)


def single_path_alpha(paths: jax.Array) -> jax.Array:
    """Architecture parameters whose softmax is the one-hot ``paths`` exactly (any leading axes)."""
    return jnp.where(paths > 0, 0.0, _ABSENT_LOGIT).astype(jnp.float32)

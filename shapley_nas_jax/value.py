"""Value functions: the score of a masked supernet on one batch, for Shapley estimation.

``value(params, batch_stats, alpha, mask, batch, rng=None, beta=None) -> scalar`` with ``alpha``, ``mask``
``[cell_types, edges, ops]`` and ``batch = {"image": [B, H, W, C] float32, "label": [B] int32}``.

* ``metric="accuracy"``: top-1 fraction correct in [0, 1]. The reference code used percent (0-100); the
  truncation rule (stop once v < eta * v_full) is relative, so the scale does not matter there, but
  Shapley values come out 100x smaller (z-scoring in the reference alpha rule removes that too).
* ``metric="neg_cross_entropy"``: minus the mean softmax cross-entropy (higher is better, like accuracy).

BatchNorm mode (explicit, never inherited):

* ``bn_mode="running"``: the stored running statistics (PyTorch ``model.eval()``).
* ``bn_mode="batch"``: each call normalises with the statistics of its own batch through its own masked
  sub-network (PyTorch ``model.train()``); the running-average update is computed and thrown away.

Either way the function returns only the scalar: batch statistics are never written. It is pure, so
``jax.vmap(value, in_axes=(None, None, None, 0, None))`` scores many masks in one call.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax.numpy as jnp
import optax

METRICS = ("accuracy", "neg_cross_entropy")
BN_MODES = ("running", "batch")


def _uses_noise(model: nn.Module) -> bool:
    space = getattr(model, "space", None)
    return space is not None and "noise" in getattr(space, "op_names", ())


def score_logits(logits, labels, metric: str = "accuracy"):
    """``logits [B, classes]``, ``labels [B]`` -> scalar: top-1 accuracy in [0, 1] or minus mean CE."""
    if metric == "accuracy":
        return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
    if metric == "neg_cross_entropy":
        return -jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")


def make_value_fn(model: nn.Module, metric: str = "accuracy", bn_mode: str = "running") -> Callable:
    """Build ``value(params, batch_stats, alpha, mask, batch, rng=None, beta=None) -> scalar``.

    ``rng`` feeds the ``"noise"`` stream (required when the model's space has a ``noise`` op, e.g. S4);
    ``beta [cell_types, edges]`` is passed on only when given (PC-DARTS edge normalisation).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    if bn_mode not in BN_MODES:
        raise ValueError(f"unknown bn_mode {bn_mode!r}; known: {', '.join(BN_MODES)}")
    needs_rng = _uses_noise(model)

    def value(params, batch_stats, alpha, mask, batch, rng=None, beta=None):
        if needs_rng and rng is None:
            raise ValueError("this supernet has a 'noise' op: pass rng=<PRNG key> to the value function")
        variables = {"params": params}
        if batch_stats is not None:
            variables["batch_stats"] = batch_stats
        extra = {} if beta is None else {"beta": beta}
        rngs = None if rng is None else {"noise": rng}
        if bn_mode == "running":
            logits = model.apply(variables, batch["image"], alpha, mask, train=False, rngs=rngs, **extra)
        else:
            logits, _discarded_stats = model.apply(
                variables, batch["image"], alpha, mask, train=True, rngs=rngs, mutable=["batch_stats"], **extra
            )
        return score_logits(logits, batch["label"], metric)

    return value

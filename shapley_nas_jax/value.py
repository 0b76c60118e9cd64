"""Value functions: the score of a masked supernet on one batch, for Shapley estimation.

``value(params, batch_stats, alpha, mask, batch, rng=None, beta=None) -> scalar`` with ``alpha``, ``mask``
``[cell_types, edges, ops]`` and ``batch = {"image": [B, H, W, C] float32, "label": [B] int32}``.

The score of the logits is a *value metric*, looked up by name in a registry (or given as a callable):

* ``metric="accuracy"``: top-1 fraction correct in [0, 1]. The reference code used percent (0-100); the
  truncation rule (stop once v < eta * v_full) is relative, so the scale does not matter there, but
  Shapley values come out 100x smaller (z-scoring in the reference alpha rule removes that too).
* ``metric="neg_cross_entropy"``: minus the mean softmax cross-entropy (higher is better, like accuracy).
* any name registered with :func:`register_value_metric`, or a callable. A metric is called as
  ``fn(logits [B, classes], labels [B] int32, **extra, **params) -> scalar`` where ``extra`` holds those of
  ``mask`` (the coalition, float32 ``[cell_types, edges, ops]``, 1 = op present; all ones for the full
  supernet) and ``alpha`` (``[cell_types, edges, ops]``) that its signature names (or all, with ``**kwargs``),
  and ``params`` its own parameters as given to :func:`make_value_fn` (a search's ``shapley.metric_kwargs``).
  It must be a pure jnp function (it is jitted and vmapped over coalitions); higher must mean better.

BatchNorm mode (explicit, never inherited):

* ``bn_mode="running"``: the stored running statistics (PyTorch ``model.eval()``).
* ``bn_mode="batch"``: each call normalises with the statistics of its own batch through its own masked
  sub-network (PyTorch ``model.train()``); the running-average update is computed and thrown away.

A search chooses one of them per Shapley update (``shapley.bn_mode``, :func:`bn_mode_at_epoch`): always
``running`` or ``batch``, or the original code's schedules ``reference_cifar`` / ``reference_imagenet``, which
never set the mode while estimating and so inherit the one the previous epoch left.

Either way the function returns only the scalar: batch statistics are never written. It is pure, so
``jax.vmap(value, in_axes=(None, None, None, 0, None))`` scores many masks in one call.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Callable, Union

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from shapley_nas_jax.errors import InvalidInputError, UnknownNameError
from shapley_nas_jax.registry import Registry

METRICS = ("accuracy", "neg_cross_entropy")  # the built-in metrics; see available_value_metrics() for all
BN_MODES = ("running", "batch")
# shapley.bn_mode: a fixed mode, or an original script's schedule of them (see bn_mode_at_epoch)
BN_SCHEDULES = (*BN_MODES, "reference_cifar", "reference_imagenet")
REFERENCE_IMAGENET_EVAL_FROM = 47  # train_search_imagenet.py runs infer() (eval mode) only after epochs >= 47


def bn_modes_of(schedule: str) -> tuple[str, ...]:
    """The BN modes a ``shapley.bn_mode`` schedule uses: one fixed mode, or both for the reference schedules."""
    if schedule not in BN_SCHEDULES:
        raise UnknownNameError(f"unknown shapley.bn_mode {schedule!r}; known: {', '.join(BN_SCHEDULES)}")
    return (schedule,) if schedule in BN_MODES else BN_MODES


def bn_mode_at_epoch(schedule: str, epoch: int, epochs: int) -> str:
    """The BN mode of a Shapley estimate made at the start of ``epoch`` (0-based; ``epochs`` = the search's
    length, so ``epoch == epochs`` is the end of the search).

    The original code never sets the mode inside its estimate, so it inherits the one its last call left:
    ``train()`` (batch statistics) after every epoch, then ``infer()`` (running statistics) after some:

    * ``reference_cifar`` (train_search.py): ``infer()`` after even epochs and the last one, so estimates at
      odd epochs (25, 27, ..., 49 of 50) use running statistics and those at even epochs batch statistics;
    * ``reference_imagenet`` (train_search_imagenet.py): ``infer()`` only after epochs >= 47.

    Before the first epoch nothing has run: a fresh PyTorch module is in train mode (batch).
    """
    if schedule in BN_MODES:
        return schedule
    previous = epoch - 1
    if previous < 0:
        return "batch"
    if schedule == "reference_cifar":
        evaluated = previous % 2 == 0 or previous == epochs - 1
    elif schedule == "reference_imagenet":
        evaluated = previous >= REFERENCE_IMAGENET_EVAL_FROM
    else:
        raise UnknownNameError(f"unknown shapley.bn_mode {schedule!r}; known: {', '.join(BN_SCHEDULES)}")
    return "running" if evaluated else "batch"
METRIC_EXTRAS = ("mask", "alpha")  # keyword arguments a metric may ask for

ValueMetric = Callable[..., jax.Array]


def _uses_noise(model: nn.Module) -> bool:
    space = getattr(model, "space", None)
    return space is not None and "noise" in getattr(space, "op_names", ())


# ---------------------------------------------------------------------------------------------------------
# Metric registry


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Top-1 fraction correct in [0, 1]: ``logits [B, classes]``, ``labels [B]`` -> scalar float32."""
    return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


def neg_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Minus the mean softmax cross-entropy (nats): ``logits [B, classes]``, ``labels [B]`` -> scalar."""
    return -jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


@dataclasses.dataclass(frozen=True, eq=False)
class _Metric:
    """A metric with the extras (``mask``, ``alpha``) its signature asks for and its bound parameters; call
    with all the extras."""

    name: str
    fn: ValueMetric
    extras: tuple[str, ...]
    params: dict = dataclasses.field(default_factory=dict)  # the metric's own parameters, bound

    def __call__(self, logits, labels, mask=None, alpha=None):
        given = {"mask": mask, "alpha": alpha}
        return self.fn(logits, labels, **{k: given[k] for k in self.extras}, **self.params)

    def with_params(self, params: dict) -> "_Metric":
        """This metric with ``params`` bound; an InvalidInputError (one line naming the metric's parameters) for
        one its signature does not take, or for a parameter without default left out."""
        own = _own_parameters(self.fn)
        unknown = [] if own is None else sorted(set(params) - set(own))
        if unknown:
            reserved = set(unknown) & {"logits", "labels", *METRIC_EXTRAS}
            raise InvalidInputError(
                f"value metric {self.name!r} takes no parameter {', '.join(map(repr, unknown))}; its parameters: "
                f"{', '.join(own) or 'none'}" + (" (logits, labels, mask and alpha come from the supernet)"
                                                  if reserved else ""))
        missing = [k for k, has_default in (own or {}).items() if not has_default and k not in params]
        if missing:
            raise InvalidInputError(f"value metric {self.name!r} needs its parameter(s) {', '.join(missing)} "
                                    f"(no default)")
        return dataclasses.replace(self, params=dict(params)) if params else self


def _own_parameters(fn: ValueMetric) -> dict[str, bool] | None:
    """``{name: has a default}`` of the keyword parameters a metric takes besides ``(logits, labels)`` and the
    extras; None where it takes any (``**kwargs``)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins / C callables: logits and labels only
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    keywords = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p.default is not inspect.Parameter.empty for p in params[2:]
            if p.kind in keywords and p.name not in METRIC_EXTRAS}


def _wanted_extras(fn: ValueMetric) -> tuple[str, ...]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins / C callables: logits and labels only
        return ()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return METRIC_EXTRAS
    return tuple(k for k in METRIC_EXTRAS if k in params)


_METRICS: Registry[_Metric] = Registry("metric")


def register_value_metric(name: str, fn: ValueMetric, *, overwrite: bool = False) -> None:
    """Register ``fn(logits [B, classes], labels [B], *, mask=..., alpha=..., **params) -> scalar`` as metric
    ``name``.

    ``fn`` receives ``mask`` / ``alpha`` (float32 ``[cell_types, edges, ops]``) only if its signature names
    them (or has ``**kwargs``). Its other keyword parameters are the metric's own: ``make_value_fn(model,
    metric=name, metric_kwargs={...})`` binds them, and a search takes them from ``shapley.metric_kwargs``.
    After registration ``make_value_fn(model, metric=name)`` and the config option ``shapley.metric=name``
    use it. Re-registering a name raises unless ``overwrite=True`` (search programs compiled with the old
    function are not reused: their cache follows the registries).
    """
    if not callable(fn):
        raise TypeError(f"value metric {name!r} must be callable, got {type(fn).__name__}")
    _METRICS.register(name, _Metric(name, fn, _wanted_extras(fn)), overwrite=overwrite)


def available_value_metrics() -> tuple[str, ...]:
    """Registered metric names, sorted."""
    return _METRICS.names()


def get_value_metric(metric: str | ValueMetric, **params) -> Callable[..., jax.Array]:
    """The metric registered as ``metric`` (or the callable itself) with its parameters ``params`` bound, as
    ``score(logits, labels, mask=None, alpha=None) -> scalar``; an error (a ValueError) listing the known names
    for an unknown name, or the metric's parameters for a parameter it does not take."""
    if callable(metric) and not isinstance(metric, str):
        found = metric if isinstance(metric, _Metric) else _Metric(getattr(metric, "__name__", "custom"), metric,
                                                                    _wanted_extras(metric))
    else:
        found = _METRICS.get(metric)
    return found.with_params(params)


register_value_metric("accuracy", accuracy)
register_value_metric("neg_cross_entropy", neg_cross_entropy)


def score_logits(logits, labels, metric: Union[str, ValueMetric] = "accuracy", *, mask=None, alpha=None):
    """``logits [B, classes]``, ``labels [B]`` -> scalar of ``metric`` (a registered name or a callable;
    ``mask`` / ``alpha`` ``[cell_types, edges, ops]`` are passed on to metrics that ask for them)."""
    return get_value_metric(metric)(logits, labels, mask=mask, alpha=alpha)


def make_value_fn(model: nn.Module, metric: Union[str, ValueMetric] = "accuracy",
                  bn_mode: str = "running", metric_kwargs: Mapping | None = None) -> Callable:
    """Build ``value(params, batch_stats, alpha, mask, batch, rng=None, beta=None) -> scalar``.

    ``metric``: a registered name (``accuracy``, ``neg_cross_entropy``, or one added with
    :func:`register_value_metric`) or a callable ``fn(logits, labels[, mask=, alpha=], **params)``;
    ``metric_kwargs``: its ``params`` (a search's ``shapley.metric_kwargs``).
    ``rng`` feeds the ``"noise"`` stream (required when the model's space has a ``noise`` op, e.g. S4);
    ``beta [cell_types, edges]`` is passed on only when given (PC-DARTS edge normalisation).

    For a supernet with a prefix (DARTS topology: stem and the cells before the first reduction) the
    function also has ``value.prefix(params, batch_stats, alpha, mask, batch, rng=None, beta=None)`` (the
    prefix's output), ``value.from_prefix(params, batch_stats, alpha, mask, batch, features, rng=None,
    beta=None)`` (the value from it) and ``value.prefix_cell_types`` (the cell types whose mask the prefix
    reads), so sequential scoring can reuse a prefix across coalitions that agree on those cell types.
    """
    score = get_value_metric(metric, **dict(metric_kwargs or {}))
    if bn_mode not in BN_MODES:
        raise UnknownNameError(f"unknown bn_mode {bn_mode!r}; known: {', '.join(BN_MODES)}")
    needs_rng = _uses_noise(model)

    def apply(params, batch_stats, alpha, mask, image, rng, beta, **call):
        if needs_rng and rng is None:
            raise ValueError("this supernet has a 'noise' op: pass rng=<PRNG key> to the value function")
        variables = {"params": params}
        if batch_stats is not None:
            variables["batch_stats"] = batch_stats
        extra = {} if beta is None else {"beta": beta}
        rngs = None if rng is None else {"noise": rng}
        if bn_mode == "running":
            return model.apply(variables, image, alpha, mask, train=False, rngs=rngs, **extra, **call)
        out, _discarded_stats = model.apply(variables, image, alpha, mask, train=True, rngs=rngs,
                                            mutable=["batch_stats"], **extra, **call)
        return out

    def score_of(logits, labels, alpha, mask):
        if score.extras:
            full_mask = jnp.ones(jnp.shape(alpha), jnp.float32) if mask is None else mask
            return score(logits, labels, mask=full_mask, alpha=alpha)
        return score(logits, labels)

    def value(params, batch_stats, alpha, mask, batch, rng=None, beta=None):
        logits = apply(params, batch_stats, alpha, mask, batch["image"], rng, beta)
        return score_of(logits, batch["label"], alpha, mask)

    if hasattr(model, "prefix_cell_types"):
        # Two stages for supernets that split at the first reduction cell (see DartsSupernet): the prefix's
        # output, and the value from a given prefix output. value == from_prefix(..., prefix(...)).
        def prefix(params, batch_stats, alpha, mask, batch, rng=None, beta=None):
            return apply(params, batch_stats, alpha, mask, batch["image"], rng, beta, return_prefix=True)

        def from_prefix(params, batch_stats, alpha, mask, batch, features, rng=None, beta=None):
            logits = apply(params, batch_stats, alpha, mask, None, rng, beta, prefix=features)
            return score_of(logits, batch["label"], alpha, mask)

        value.prefix, value.from_prefix = prefix, from_prefix
        value.prefix_cell_types = model.prefix_cell_types()
    return value

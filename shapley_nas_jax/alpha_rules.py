"""Alpha update rules as optax transformations: Shapley values phi -> an update added to alpha.

phi and alpha are ``[cell_types, edges, ops]`` (phi is 0 at non-player entries). Usage::

    rule = get_alpha_rule("paper")
    state = rule.init(alpha)
    updates, state = rule.update(phi, state, alpha)
    alpha = optax.apply_updates(alpha, updates)

A rule is registered as a factory (:func:`register_alpha_rule`). A search builds it with the arguments of
:data:`SEARCH_ARGUMENTS` that the factory names (``alpha_rule.momentum``, ``.step_size``, ``.init_scale``, the
key of its initial state, the player mask) and with ``alpha_rule.kwargs``, the factory's own parameters.
"""

from __future__ import annotations

import inspect
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from shapley_nas_jax.errors import InvalidInputError
from shapley_nas_jax.registry import Registry


def normalize_by_global_norm() -> optax.GradientTransformation:
    """Stateless: updates / ||updates||_2 over the whole pytree; all-zero updates stay zero.

    (``optax.normalize_by_update_norm`` adds an epsilon to the norm, so it is not the paper's phi/||phi||.)
    """

    def normalize(updates, params):
        del params
        norm = optax.tree.norm(updates)
        safe = jnp.where(norm > 0, norm, 1.0)
        return jax.tree_util.tree_map(lambda u: jnp.where(norm > 0, u / safe, jnp.zeros_like(u)), updates)

    return optax.stateless(normalize)


def mask_players(player_mask) -> optax.GradientTransformation:
    """Stateless: zero the update at non-player entries (``player_mask`` bool, alpha's shape; None = no-op)."""
    if player_mask is None:
        return optax.identity()
    return optax.stateless(lambda updates, params: jnp.where(jnp.asarray(player_mask, bool), updates,
                                                             jnp.zeros_like(updates)))


def paper_rule(momentum: float = 0.8, step_size: float = 0.1, player_mask=None) -> optax.GradientTransformation:
    """Eqs. 6-7: s_t = mu s_{t-1} + (1-mu) phi/||phi||, s_0 = 0; update = eps s_t/||s_t||.

    ``player_mask`` (optional) zeroes phi at non-player entries.
    """
    return optax.chain(
        mask_players(player_mask),
        normalize_by_global_norm(),
        optax.ema(momentum, debias=False),
        normalize_by_global_norm(),
        optax.scale(step_size),
    )


def zscore_per_cell_type(player_mask=None) -> optax.GradientTransformation:
    """Stateless: z-score ``[cell_types, ...]`` per cell type over its player entries (std with ddof=1).

    Non-player entries become 0; a cell type with zero spread (or < 2 players) gets 0 everywhere.
    """

    def zscore(phi, params):
        del params
        mask = jnp.ones(phi.shape, bool) if player_mask is None else jnp.asarray(player_mask, bool)
        axes = tuple(range(1, phi.ndim))
        w = mask.astype(phi.dtype)
        count = w.sum(axis=axes, keepdims=True)
        mean = (w * phi).sum(axis=axes, keepdims=True) / jnp.maximum(count, 1.0)
        var = (w * (phi - mean) ** 2).sum(axis=axes, keepdims=True) / jnp.maximum(count - 1.0, 1.0)
        std = jnp.sqrt(var)
        ok = (std > 0) & (count > 1)
        z = jnp.where(ok, (phi - mean) / jnp.where(ok, std, 1.0), 0.0)
        return jnp.where(mask, z, 0.0)

    return optax.stateless(zscore)


class RandomInitMomentumState(NamedTuple):
    momentum: jnp.ndarray  # s_{t-1}, alpha's shape


def momentum_with_random_init(momentum: float, init_scale: float, key, player_mask=None
                              ) -> optax.GradientTransformation:
    """s_t = mu s_{t-1} + (1-mu) u_t with s_0 = init_scale * jax.random.normal(key, alpha.shape, alpha.dtype).

    s_0 is zeroed at non-player entries; ``key`` None gives s_0 = 0.
    """

    def init_fn(params):
        if key is None or init_scale == 0:
            s0 = jnp.zeros_like(params)
        else:
            s0 = init_scale * jax.random.normal(key, jnp.shape(params), jnp.asarray(params).dtype)
        if player_mask is not None:
            s0 = jnp.where(jnp.asarray(player_mask, bool), s0, 0.0)
        return RandomInitMomentumState(momentum=s0)

    def update_fn(updates, state, params=None):
        del params
        s = momentum * state.momentum + (1.0 - momentum) * updates
        return s, RandomInitMomentumState(momentum=s)

    return optax.GradientTransformation(init_fn, update_fn)


def reference_rule(momentum: float = 0.8, step_size: float = 0.1, init_scale: float = 1e-3, key=None,
                   player_mask=None) -> optax.GradientTransformation:
    """Original code: phi z-scored per cell type (ddof=1), s_t = mu s_{t-1} + (1-mu) phi_hat with
    s_0 = init_scale * N(0, 1) drawn from ``key`` (s_0 = 0 without a key), update = eps * s_t.

    ``player_mask`` bool ``[cell_types, edges, ops]`` (None = every entry is a player); non-players get 0.
    """
    return optax.chain(
        zscore_per_cell_type(player_mask),
        momentum_with_random_init(momentum, init_scale, key, player_mask),
        optax.scale(step_size),
        mask_players(player_mask),
    )


# ---------------------------------------------------------------------------------------------------------
# Registry

AlphaRuleFactory = Callable[..., optax.GradientTransformation]
_RULES: Registry[AlphaRuleFactory] = Registry("alpha rule")

# What a search offers every rule: alpha_rule.momentum / .step_size / .init_scale, the PRNG key of the rule's
# initial state (None where only ``update`` is used) and the player mask (bool [cell_types, edges, ops]).
SEARCH_ARGUMENTS = ("momentum", "step_size", "init_scale", "key", "player_mask")


def register_alpha_rule(name: str, factory: AlphaRuleFactory, *, overwrite: bool = False) -> None:
    """Make ``get_alpha_rule(name, **kwargs)`` call ``factory`` (see :func:`get_alpha_rule` for what it gets);
    a taken name raises unless ``overwrite=True``."""
    _RULES.register(name, factory, overwrite=overwrite)


def available_alpha_rules() -> tuple[str, ...]:
    return _RULES.names()


def alpha_rule_factory(name: str) -> AlphaRuleFactory:
    """The factory registered as ``name`` (an UnknownNameError listing the known names otherwise)."""
    return _RULES.get(name)


def _named_parameters(factory: AlphaRuleFactory) -> dict[str, bool] | None:
    """``{name: has a default}`` of the keyword parameters ``factory`` names; None where it takes any
    (``**kwargs``, or no signature)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name: p.default is not p.empty for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def get_alpha_rule(name: str, **kwargs) -> optax.GradientTransformation:
    """Build the registered rule ``name``: ``factory(**kwargs)``, where of the :data:`SEARCH_ARGUMENTS` only those
    the factory names are passed on (all of them to a factory with ``**kwargs``), so a rule declares what it
    uses. Every other keyword (a search's ``alpha_rule.kwargs``) must be a parameter of the factory."""
    factory = _RULES.get(name)
    named = _named_parameters(factory)
    if named is not None:
        kwargs = {k: v for k, v in kwargs.items() if k in named or k not in SEARCH_ARGUMENTS}
    return factory(**kwargs)


def check_alpha_rule_kwargs(name: str, kwargs) -> None:
    """Raise an InvalidInputError (one line naming the rule's parameters) unless every key of ``kwargs`` (a
    search's ``alpha_rule.kwargs``) is a parameter of rule ``name``'s factory besides the search's arguments,
    and every such parameter without a default is among them."""
    factory = _RULES.get(name)
    given = sorted(kwargs)
    offered = [k for k in given if k in SEARCH_ARGUMENTS]
    if offered:
        raise InvalidInputError(f"alpha rule {name!r} gets {', '.join(offered)} from the search (alpha_rule.momentum, "
                                f".step_size, .init_scale, the key, the player mask), not from its kwargs")
    named = _named_parameters(factory)
    own = None if named is None else {k: v for k, v in named.items() if k not in SEARCH_ARGUMENTS}
    unknown = [] if own is None else [k for k in given if k not in own]
    if unknown:
        raise InvalidInputError(f"alpha rule {name!r} takes no parameter {', '.join(map(repr, unknown))}; its "
                                f"parameters: {', '.join(own) or 'none besides the search arguments'}")
    missing = [k for k, has_default in (own or {}).items() if not has_default and k not in kwargs]
    if missing:
        raise InvalidInputError(f"alpha rule {name!r} needs its parameter(s) {', '.join(missing)} (no default)")


def frozen_rule() -> optax.GradientTransformation:
    """Never moves alpha: every Shapley update still estimates (and logs its diagnostics) on a supernet
    trained with alpha at its initial value, the DARTS+Shapley* protocol with an estimate at every update,
    for comparing the estimates a search's own loop between alpha and weights gives against those without it."""
    return optax.set_to_zero()


register_alpha_rule("paper", paper_rule)
register_alpha_rule("reference", reference_rule)
register_alpha_rule("frozen", frozen_rule)

__all__ = [
    "SEARCH_ARGUMENTS",
    "RandomInitMomentumState",
    "alpha_rule_factory",
    "available_alpha_rules",
    "check_alpha_rule_kwargs",
    "frozen_rule",
    "get_alpha_rule",
    "mask_players",
    "momentum_with_random_init",
    "normalize_by_global_norm",
    "paper_rule",
    "reference_rule",
    "register_alpha_rule",
    "zscore_per_cell_type",
]

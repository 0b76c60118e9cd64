"""Alpha update rules as optax transformations: Shapley values phi -> an update added to alpha.

phi and alpha are ``[cell_types, edges, ops]`` (phi is 0 at non-player entries). Usage::

    rule = get_alpha_rule("paper")
    state = rule.init(alpha)
    updates, state = rule.update(phi, state, alpha)
    alpha = optax.apply_updates(alpha, updates)
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

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


def paper_rule(momentum: float = 0.8, step_size: float = 0.1, init_scale: float | None = None, key=None,
               player_mask=None) -> optax.GradientTransformation:
    """Eqs. 6-7: s_t = mu s_{t-1} + (1-mu) phi/||phi||, s_0 = 0; update = eps s_t/||s_t||.

    ``init_scale`` and ``key`` are accepted and unused (the paper's s_0 is 0), so that every registered rule
    takes the same keyword arguments. ``player_mask`` (optional) zeroes phi at non-player entries.
    """
    del init_scale, key
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


def register_alpha_rule(name: str, factory: AlphaRuleFactory, *, overwrite: bool = False) -> None:
    """Make ``get_alpha_rule(name, **kwargs)`` call ``factory(**kwargs)``; a taken name raises unless
    ``overwrite=True``."""
    _RULES.register(name, factory, overwrite=overwrite)


def available_alpha_rules() -> tuple[str, ...]:
    return _RULES.names()


def get_alpha_rule(name: str, **kwargs) -> optax.GradientTransformation:
    """Build the registered rule ``name`` with ``kwargs``."""
    return _RULES.get(name)(**kwargs)


def frozen_rule(momentum: float = 0.8, step_size: float = 0.1, init_scale: float | None = None, key=None,
                player_mask=None) -> optax.GradientTransformation:
    """Never moves alpha: every Shapley update still estimates (and logs its diagnostics) on a supernet
    trained with alpha at its initial value, the DARTS+Shapley* protocol with an estimate at every update,
    for comparing the estimates a search's own loop between alpha and weights gives against those without it.
    The keyword arguments are accepted and unused."""
    del momentum, step_size, init_scale, key, player_mask
    return optax.set_to_zero()


register_alpha_rule("paper", paper_rule)
register_alpha_rule("reference", reference_rule)
register_alpha_rule("frozen", frozen_rule)

__all__ = [
    "RandomInitMomentumState",
    "available_alpha_rules",
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

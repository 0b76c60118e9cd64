"""A new alpha rule composed from optax transformations, registered by name and selected in a config.

"shapley_adam": z-score the Shapley values per cell type (the library's `zscore_per_cell_type` building
block), feed them to Adam's moment estimates (`optax.scale_by_adam`, b1 = alpha_rule.momentum) and scale
by alpha_rule.step_size. Rules are optax GradientTransformations: ``update(phi, state, alpha)`` returns the
change of alpha. The search offers every rule factory ``momentum``, ``step_size``, ``init_scale``, ``key``
and ``player_mask`` and passes those its signature names; the factory's own parameters (here Adam's ``b2``
and ``eps``) come from ``alpha_rule.kwargs``, so a config (or ``--config.alpha_rule.kwargs.eps=0.5`` on the
command line for a config that sets it) chooses them.

    python examples/custom_alpha_rule.py [--epochs 3] [--eps 0.1] [--fast-compile]

Prints a check of the rule on fixed Shapley values, then the found cell (``genotype: ...``); `main` returns
them with alpha before the search and after each update, and the last Shapley values.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from shapley_nas_jax import Search, get_alpha_rule, register_alpha_rule, register_space, uniform_darts_space
from shapley_nas_jax.alpha_rules import zscore_per_cell_type
from shapley_nas_jax.config import small_cpu_config


def shapley_adam(momentum: float, step_size: float, b2: float = 0.999, eps: float = 1e-8
                 ) -> optax.GradientTransformation:
    """phi [cell_types, edges, ops] -> step_size * Adam direction (b1 = momentum, b2, eps) of the per-cell-type
    z-scored phi. Adam's first step is z / (|z| + eps): a large ``eps`` makes it proportional to z."""
    return optax.chain(
        zscore_per_cell_type(),
        optax.scale_by_adam(b1=momentum, b2=b2, eps=eps),
        optax.scale(step_size),
    )


register_alpha_rule("shapley_adam", shapley_adam, overwrite=True)


# A small two-op space on the DARTS cell (built-in ops, cheap to compile on a CPU); any registered space works.
register_space("pw2", lambda: uniform_darts_space("pw2", ("skip_connect", "nor_conv_1x1")), overwrite=True)


def get_config():
    c = small_cpu_config("pw2")
    c.alpha_rule.name = "shapley_adam"  # the registered rule, by name
    c.alpha_rule.step_size = 0.2
    c.alpha_rule.kwargs.b2 = 0.99  # the rule's own parameters: shapley_adam(..., b2=0.99, eps=0.1)
    c.alpha_rule.kwargs.eps = 0.1
    return c


def first_step(phi, step_size: float, eps: float) -> np.ndarray:
    """What the rule's first update must be: step_size * z / (|z| + eps), z = phi z-scored per cell type."""
    z, _ = zscore_per_cell_type().update(jnp.asarray(phi), optax.EmptyState())
    return step_size * np.asarray(z) / (np.abs(np.asarray(z)) + eps)


def check_rule(config) -> bool:
    """The rule as a search builds it from ``config`` moves alpha by :func:`first_step` on its first update."""
    r = config.alpha_rule
    phi = jax.random.normal(jax.random.PRNGKey(0), (2, 14, 2))
    rule = get_alpha_rule(r.name, momentum=r.momentum, step_size=r.step_size, init_scale=r.init_scale, key=None,
                          player_mask=None, **r.kwargs.to_dict())
    updates, _ = rule.update(phi, rule.init(jnp.zeros_like(phi)), jnp.zeros_like(phi))
    return bool(np.allclose(updates, first_step(phi, r.step_size, r.kwargs.eps), atol=1e-5))


def main(argv=None):
    # Imported here, not at the top, so that this file also loads as a module or config file from elsewhere.
    from _search_args import parse_search_args, search_parser, with_search_args  # examples/_search_args.py

    parser = search_parser(__doc__)
    parser.add_argument("--eps", type=float, default=0.1, help="Adam's eps (alpha_rule.kwargs.eps)")
    args = parse_search_args(parser, argv)
    config = with_search_args(get_config(), args)
    config.alpha_rule.kwargs.eps = args.eps
    rule_check = check_rule(config)
    print(f"first update equals step_size * z / (|z| + eps) of the z-scored phi: {rule_check}")
    search = Search.from_config(config)  # validation accepts 'shapley_adam' and its kwargs because it is registered
    state = search.init_state()
    alphas = [np.array(state.arch.alpha)]  # before the search, then after each update
    state = search.run(state, callback=lambda event, s: alphas.append(np.array(s.arch.alpha)) if event == "alpha_update"
                       else None)
    steps = [float(np.abs(b - a).max()) for a, b in zip(alphas[1:], alphas[2:])]
    print(f"alpha rule: {config.alpha_rule.name} {config.alpha_rule.kwargs.to_dict()}, "
          f"alpha updates: {int(state.alpha_updates)}")
    print(f"largest alpha change between updates: {max(steps, default=float('nan')):.3f}")
    print(f"genotype: {search.genotype(state)}")
    return {"rule_check": rule_check, "alpha_rule": config.alpha_rule.name,
            "step_size": config.alpha_rule.step_size, "kwargs": config.alpha_rule.kwargs.to_dict(),
            "alpha_updates": int(state.alpha_updates), "alphas": [a.tolist() for a in alphas],
            "shapley": np.asarray(state.arch.shapley).tolist(), "genotype": search.genotype(state).to_json()}


if __name__ == "__main__":
    main()

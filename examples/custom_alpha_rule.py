"""A new alpha rule composed from optax transformations, registered by name and selected in a config.

"shapley_adam": z-score the Shapley values per cell type (the library's `zscore_per_cell_type` building
block), feed them to Adam's moment estimates (`optax.scale_by_adam`, b1 = alpha_rule.momentum) and scale
by alpha_rule.step_size. Rules are optax GradientTransformations: ``update(phi, state, alpha)`` returns the
change of alpha. The search builds the rule with ``get_alpha_rule(name, momentum=..., step_size=...)``, so
the factory takes those two keywords (and ignores any others it may be given).

    python examples/custom_alpha_rule.py [--epochs 3] [--fast-compile]

Prints a check of the rule on fixed Shapley values, then the found cell (``genotype: ...``); `main` returns
them with alpha before the search and after each update, and the last Shapley values.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from shapley_nas_jax import Search, register_alpha_rule, register_space, uniform_darts_space
from shapley_nas_jax.alpha_rules import zscore_per_cell_type
from shapley_nas_jax.config import small_cpu_config


def shapley_adam(momentum: float = 0.8, step_size: float = 0.1, **unused) -> optax.GradientTransformation:
    """phi [cell_types, edges, ops] -> step_size * Adam direction of the per-cell-type z-scored phi."""
    return optax.chain(
        zscore_per_cell_type(),
        optax.scale_by_adam(b1=momentum, b2=0.99),
        optax.scale(step_size),
    )


register_alpha_rule("shapley_adam", shapley_adam)


# A small two-op space on the DARTS cell (built-in ops, cheap to compile on a CPU); any registered space works.
register_space("pw2", lambda: uniform_darts_space("pw2", ("skip_connect", "nor_conv_1x1")), overwrite=True)


def get_config():
    c = small_cpu_config("pw2")
    c.alpha_rule.name = "shapley_adam"  # the registered rule, by name
    c.alpha_rule.step_size = 0.2
    return c


def check_rule(step_size: float) -> bool:
    """Adam's first step is sign(g) (up to eps): the first update is step_size * sign(z-scored phi)."""
    phi = jax.random.normal(jax.random.PRNGKey(0), (2, 14, 2))
    rule = shapley_adam(momentum=0.8, step_size=step_size)
    updates, _ = rule.update(phi, rule.init(jnp.zeros_like(phi)), jnp.zeros_like(phi))
    z, _ = zscore_per_cell_type().update(phi, optax.EmptyState())
    return bool(np.allclose(updates, step_size * np.sign(z), atol=1e-5))


def main(argv=None):
    # Imported here, not at the top, so that this file also loads as a module or config file from elsewhere.
    from _search_args import parse_search_args, search_parser, with_search_args  # examples/_search_args.py

    args = parse_search_args(search_parser(__doc__), argv)
    config = with_search_args(get_config(), args)
    print(f"first update equals step_size * sign(z-scored phi): {check_rule(config.alpha_rule.step_size)}")
    search = Search.from_config(config)  # validation accepts 'shapley_adam' because it is registered
    state = search.init_state()
    alphas = [np.array(state.alpha)]  # before the search, then after each update
    state = search.run(state, callback=lambda event, s: alphas.append(np.array(s.alpha)) if event == "alpha_update"
                       else None)
    steps = [float(np.abs(b - a).max()) for a, b in zip(alphas[1:], alphas[2:])]
    print(f"alpha rule: {config.alpha_rule.name}, alpha updates: {int(state.alpha_updates)}")
    print(f"largest alpha change between updates: {max(steps, default=float('nan')):.3f}")
    print(f"genotype: {search.genotype(state)}")
    return {"rule_check": check_rule(config.alpha_rule.step_size), "alpha_rule": config.alpha_rule.name,
            "step_size": config.alpha_rule.step_size, "alpha_updates": int(state.alpha_updates),
            "alphas": [a.tolist() for a in alphas], "shapley": np.asarray(state.shapley).tolist(),
            "genotype": search.genotype(state).to_json()}


if __name__ == "__main__":
    main()

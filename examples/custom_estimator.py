"""A new Shapley estimator, registered by name, checked on a voting game and run by a short Shapley-NAS search.

"marginal_sampling": for every player i, K coalitions S of the other players, each drawn by first drawing its
size uniformly from 0..n-1 and then S uniformly among the coalitions of that size; the estimate of i is the
mean of v(S + i) - v(S). It is unbiased: a Shapley value is the mean over sizes of the mean marginal
contribution at that size. Two evaluations per sample, so K = budget // 2n.

An estimator is a function ``fn(game, budget, key, **options) -> Estimate``: ``game.values(masks [..., n])``
scores coalitions (in a search: on the update's value batch, through the supernet), and the ``Estimate``
says how many evaluations it used. Registered, it is ``shapley.estimator="marginal_sampling"`` in any config
(``shapley.budget``: its evaluations per update), ``estimate("marginal_sampling", game, budget, key)`` on any
game and ``--estimators marginal_sampling`` for ``scripts/compare_estimators.py`` once imported.

    python examples/custom_estimator.py [--epochs 3] [--budget 448] [--fast-compile]

Prints the estimate's error on a weighted voting game against its exact values, then the search's value
batches per update, its Shapley updates and the found cell (``genotype: ...``); `main` returns them with the
estimates and the search's last Shapley values.
"""

import jax
import jax.numpy as jnp
import numpy as np

from shapley_nas_jax import Estimate, Search, register_estimator, register_space, shapley_values, uniform_darts_space
from shapley_nas_jax.config import small_cpu_config
from shapley_nas_jax.shapley.estimators import estimate
from shapley_nas_jax.shapley.games import voting_game

WEIGHTS, QUOTA = (9, 7, 5, 4, 3, 2, 1, 1), 17  # the voting game of examples/voting_game.py


def marginal_sampling(game, budget: int, key) -> Estimate:
    """K = budget // 2n marginals per player, at coalition sizes drawn uniformly (see the module docstring)."""
    n = game.num_players
    k = budget // (2 * n)
    key_size, key_order = jax.random.split(key)
    sizes = jax.random.randint(key_size, (n, k), 0, n)  # |S| for each (player, sample)
    others_first = jax.random.uniform(key_order, (n, k, n)).at[jnp.arange(n), :, jnp.arange(n)].set(2.0)
    rank = jnp.argsort(jnp.argsort(others_first, axis=-1), axis=-1)  # player i ranks last in its own rows
    without = (rank < sizes[..., None]).astype(jnp.float32)  # [n, k, n]: S, a uniform subset of the others
    with_i = without.at[jnp.arange(n), :, jnp.arange(n)].set(1.0)
    marginals = game.values(with_i) - game.values(without)  # [n, k]
    return Estimate(values=marginals.mean(axis=1), num_evaluations=jnp.asarray(2 * n * k),
                    standard_errors=marginals.std(axis=1, ddof=1) / jnp.sqrt(k))


# Two samples per player at least (a standard error needs two); one value batch per update (the default).
register_estimator("marginal_sampling", marginal_sampling, min_budget=lambda n: 4 * n, overwrite=True)

# A small two-op space on the DARTS cell (built-in ops, cheap to compile on a CPU); any registered space works.
register_space("pw2", lambda: uniform_darts_space("pw2", ("skip_connect", "nor_conv_1x1")), overwrite=True)


def get_config(budget: int = 448):
    c = small_cpu_config("pw2")
    c.shapley.estimator = "marginal_sampling"  # the registered estimator, by name
    c.shapley.budget = budget  # evaluations per update: 4 samples for each of the 56 ops
    return c


def main(argv=None):
    # Imported here, not at the top, so that this file also loads as a module or config file from elsewhere.
    from _search_args import parse_search_args, search_parser, with_search_args  # examples/_search_args.py

    parser = search_parser(__doc__)
    parser.add_argument("--budget", type=int, default=448, help="value evaluations per Shapley update")
    args = parse_search_args(parser, argv)

    game = voting_game(list(WEIGHTS), QUOTA)
    exact = np.asarray(shapley_values(lambda mask: game.value_fn(game.shared, mask, None), len(WEIGHTS)))
    voting = estimate("marginal_sampling", game, 4000, jax.random.PRNGKey(0))
    error = float(np.abs(np.asarray(voting.values) - exact).max())
    print(f"voting game, {int(voting.num_evaluations)} evaluations: max |marginal_sampling - exact| = {error:.4f}")

    config = with_search_args(get_config(args.budget), args)
    search = Search.from_config(config)  # validation accepts 'marginal_sampling' because it is registered
    batches = int(np.asarray(search.value_batches(0)["label"]).shape[0])
    print(f"value batches per update: {batches}")
    state = search.run()
    print(f"alpha updates: {int(state.alpha_updates)}")
    print(f"genotype: {search.genotype(state)}")
    return {"exact": exact.tolist(), "estimate": np.asarray(voting.values).tolist(),
            "standard_errors": np.asarray(voting.standard_errors).tolist(),
            "evaluations": int(voting.num_evaluations), "value_batches": batches,
            "alpha_updates": int(state.alpha_updates), "shapley": np.asarray(state.arch.shapley).tolist(),
            "genotype": search.genotype(state).to_json(), "op_strengths": search.op_strengths(state).tolist()}


if __name__ == "__main__":
    main()

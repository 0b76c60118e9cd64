"""A new search method, registered by name and selected in a config: alpha follows the latest Shapley estimate.

"shapley_latest" reuses Shapley-NAS's schedule and estimate (``ShapleyNAS``: an update at the start of each
epoch after the warm-up, on ``shapley.samples`` value batches) and replaces what an update does to alpha: alpha
becomes ``scale * phi`` (no momentum, no normalisation), so the cell is derived from the last estimate alone.
A method is a ``SearchMethod`` subclass that overrides what differs (how alpha starts, when and how it moves,
which cell a weight step trains, how the cell is chosen at the end); ``register_method`` makes
``search.method`` name it, for ``run_search``, ``Search`` and ``shapley-nas search`` alike.

    python examples/custom_method.py [--epochs 3] [--scale 10] [--fast-compile]

Prints whether alpha equals ``scale * phi`` after the search, then the found cell (``genotype: ...``); `main`
returns them with the last Shapley values.
"""

import numpy as np

from shapley_nas_jax import Search, register_method, register_space, uniform_darts_space
from shapley_nas_jax.config import small_cpu_config
from shapley_nas_jax.search.methods import ShapleyNAS


class ShapleyLatest(ShapleyNAS):
    """Shapley-NAS whose update sets alpha to ``scale`` times the new estimate."""

    def __init__(self, scale: float):
        self.scale = scale

    def arch_step(self, program, state, value_batches, *, hyper, bn_mode):
        state, metrics = super().arch_step(program, state, value_batches, hyper=hyper, bn_mode=bn_mode)
        return state.with_arch(alpha=self.scale * state.arch.shapley), metrics


# A small two-op space on the DARTS cell (built-in ops, cheap to compile on a CPU); any registered space works.
register_space("pw2", lambda: uniform_darts_space("pw2", ("skip_connect", "nor_conv_1x1")), overwrite=True)


def get_config():
    c = small_cpu_config("pw2")
    c.search.method = "shapley_latest"  # the registered method, by name
    return c


def main(argv=None):
    # Imported here, not at the top, so that this file also loads as a module or config file from elsewhere.
    from _search_args import parse_search_args, search_parser, with_search_args  # examples/_search_args.py

    parser = search_parser(__doc__)
    parser.add_argument("--scale", type=float, default=10.0, help="alpha = scale * phi after each update")
    args = parse_search_args(parser, argv)
    register_method("shapley_latest", ShapleyLatest(args.scale), overwrite=True)
    config = with_search_args(get_config(), args)
    search = Search.from_config(config)
    state = search.run()
    phi, alpha = np.asarray(state.arch.shapley), np.asarray(state.arch.alpha)
    follows = bool(np.allclose(alpha, args.scale * phi, atol=1e-6))
    print(f"method: {config.search.method}, alpha updates: {int(state.alpha_updates)}")
    print(f"alpha equals {args.scale:g} x the last Shapley estimate: {follows}")
    print(f"genotype: {search.genotype(state)}")
    return {"follows": follows, "scale": args.scale, "alpha_updates": int(state.alpha_updates),
            "alpha": alpha.tolist(), "shapley": phi.tolist(), "genotype": search.genotype(state).to_json()}


if __name__ == "__main__":
    main()

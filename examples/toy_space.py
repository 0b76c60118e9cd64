"""A new op and a two-op search space registered from outside the library, searched briefly on digits.

The op ``pw_conv_1x1`` (ReLU -> 1x1 conv -> BatchNorm) is registered with `register_op`; the space
``toy2`` puts {skip_connect, pw_conv_1x1} on every edge of the DARTS cell topology (`uniform_darts_space`)
and is registered with `register_space`. Both happen when this file is imported, so it is also a config
file for the command line:

    shapley-nas search --config examples/toy_space.py --workdir runs/toy2
    python examples/toy_space.py [--epochs 3] [--warmup 1] [--fast-compile]

Prints the space, the found cell (``genotype: Genotype(...)``) and which ops it uses; `main` also returns
them, with the op strengths the cell was derived from.
"""

from shapley_nas_jax import Search, get_space, register_op, register_space, uniform_darts_space
from shapley_nas_jax.ops import ReLUConvBN
from shapley_nas_jax.config import small_cpu_config

TOY_OPS = ("skip_connect", "pw_conv_1x1")


def pw_conv_1x1(C, stride, affine, name=None, **options):
    """Op builder: ``C`` output channels, ``stride`` 1 or 2 (reduction edges), ``name`` the Flax module name;
    ``options`` (e.g. ``pool_bn``) are extra supernet keywords this op ignores."""
    return ReLUConvBN(C, kernel_size=1, stride=stride, padding=0, affine=affine, name=name)


# Registration at import time: any config that imports this module can name the op and the space.
register_op("pw_conv_1x1", pw_conv_1x1, overwrite=True)
register_space("toy2", lambda: uniform_darts_space("toy2", TOY_OPS), overwrite=True)


def get_config():
    """A short search of the toy space on 8x8 digits (a few seconds per epoch on a CPU)."""
    c = small_cpu_config("toy2")
    c.train.epochs = 4
    c.train.eval_batches = 1
    return c


def main(argv=None):
    # Imported here, not at the top, so that this file also loads as a module or config file from elsewhere.
    from _search_args import parse_search_args, search_parser, with_search_args  # examples/_search_args.py

    args = parse_search_args(search_parser(__doc__, epochs=4), argv)
    config = with_search_args(get_config(), args)
    space = get_space("toy2")
    print(f"space {space.name}: topology {space.topology}, alpha shape {space.alpha_shape}, ops {space.op_names}")

    search = Search.from_config(config)  # validates the config: 'toy2' is a known space now
    state = search.run()
    genotype = search.genotype(state)
    used = sorted({op for cell in ("normal", "reduce") for op, _ in genotype.cell(cell)})
    print(f"alpha updates: {int(state.alpha_updates)}")
    print(f"genotype: {genotype}")
    print(f"ops used: {used}")
    return {"alpha_shape": list(space.alpha_shape), "alpha_updates": int(state.alpha_updates),
            "genotype": genotype.to_json(), "ops_used": used, "op_strengths": search.op_strengths(state).tolist()}


if __name__ == "__main__":
    main()

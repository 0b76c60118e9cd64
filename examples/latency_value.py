"""A latency-penalised value function with parameters, registered by name and used by a short Shapley-NAS search.

Each op gets a latency (a made-up table: skip_connect 0.1 ms, nor_conv_1x1 1.0 ms per edge). A coalition's
latency is the sum over its present ops; its value is the accuracy, divided by ``1 + overshoot / budget``
when the latency exceeds the budget. The value metric receives the coalition ``mask`` (``[cell_types, edges,
ops]``) besides ``(logits, labels)``, so it can price the ops it keeps; its own parameters, the latency of
each op and the budget, come from ``shapley.metric_kwargs``. Registering it makes
``shapley.metric="latency_accuracy"`` valid in any config (and on the command line,
``--config.shapley.metric=latency_accuracy`` for a config file that imports this module; this file's own
config also takes ``--config.shapley.metric_kwargs.budget_ms=...``).

    python examples/latency_value.py [--epochs 3] [--budget 0.3] [--fast-compile]

Prints the budget, the found cell (``genotype: ...``), its latency and the mean Shapley value per op; `main`
returns them with the Shapley values and the op strengths the cell was derived from.
"""

import jax.numpy as jnp
import numpy as np

from shapley_nas_jax import Search, get_space, register_space, register_value_metric, uniform_darts_space
from shapley_nas_jax.config import small_cpu_config

SPACE = "pw2"  # {skip_connect, nor_conv_1x1} on every edge of the DARTS cell
# A small two-op space on the DARTS cell (built-in ops, cheap to compile on a CPU); any registered space works.
register_space("pw2", lambda: uniform_darts_space("pw2", ("skip_connect", "nor_conv_1x1")), overwrite=True)
OP_LATENCY_MS = {"skip_connect": 0.1, "nor_conv_1x1": 1.0}  # the made-up table the config starts from


def latency_accuracy(logits, labels, *, mask, op_latency_ms, budget_ms):
    """Accuracy in [0, 1] scaled down by the coalition's latency overshoot. ``mask`` [2, 14, 2];
    ``op_latency_ms`` [2]: the latency of each op of an edge, in the space's op order."""
    accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
    latency = jnp.sum(mask * jnp.asarray(op_latency_ms, jnp.float32))
    return accuracy / (1.0 + jnp.maximum(latency - budget_ms, 0.0) / budget_ms)


register_value_metric("latency_accuracy", latency_accuracy, overwrite=True)


def op_latencies(config) -> dict:
    """{op: ms} of the config's metric parameters."""
    return dict(zip(get_space(config.space).op_names, config.shapley.metric_kwargs.op_latency_ms))


def full_latency(config) -> float:
    """Latency (ms) of the whole supernet: every op of every edge of both cell types."""
    space = get_space(config.space)
    edges = int(np.prod(space.alpha_shape[:2]))
    return edges * float(sum(config.shapley.metric_kwargs.op_latency_ms))


def cell_latency(genotype, latency: dict) -> float:
    """Latency (ms) of the 16 chosen ops of a DARTS genotype (both cells)."""
    return sum(latency[op] for cell in ("normal", "reduce") for op, _ in genotype.cell(cell))


def get_config(budget: float = 0.3):
    """A short search scored by latency_accuracy with a budget of ``budget`` x the full supernet's latency."""
    c = small_cpu_config(SPACE)
    c.shapley.metric = "latency_accuracy"
    c.shapley.metric_kwargs.op_latency_ms = [OP_LATENCY_MS[op] for op in get_space(SPACE).op_names]
    c.shapley.metric_kwargs.budget_ms = budget * full_latency(c)
    c.alpha_rule.name = "paper"
    c.shapley.aggregate = "mean"
    return c


def main(argv=None):
    # Imported here, not at the top, so that this file also loads as a module or config file from elsewhere.
    from _search_args import parse_search_args, search_parser, with_search_args  # examples/_search_args.py

    parser = search_parser(__doc__)
    parser.add_argument("--budget", type=float, default=0.3, help="budget as a fraction of the full supernet's latency")
    args = parse_search_args(parser, argv)
    config = with_search_args(get_config(args.budget), args)
    budget, latency = config.shapley.metric_kwargs.budget_ms, op_latencies(config)
    print(f"latency of the full supernet: {full_latency(config):.1f} ms, budget: {budget:.1f} ms")
    search = Search.from_config(config)
    state = search.run()
    genotype = search.genotype(state)
    phi = np.asarray(state.arch.shapley)
    names = search.space.op_name_array()
    print(f"alpha updates: {int(state.alpha_updates)}")
    print(f"genotype: {genotype}")
    print(f"latency of the found cells: {cell_latency(genotype, latency):.1f} ms (16 ops; all nor_conv_1x1: 16.0 ms)")
    for op in latency:
        print(f"mean Shapley value of {op}: {phi[names == op].mean():+.5f}")
    return {"full_latency_ms": full_latency(config), "budget_ms": budget, "op_latency_ms": latency,
            "alpha_updates": int(state.alpha_updates),
            "genotype": genotype.to_json(), "cell_latency_ms": cell_latency(genotype, latency), "shapley": phi.tolist(),
            "mean_shapley": {op: float(phi[names == op].mean()) for op in latency},
            "op_strengths": search.op_strengths(state).tolist()}


if __name__ == "__main__":
    main()

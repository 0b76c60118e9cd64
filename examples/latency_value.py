"""A latency-penalised value function, registered by name and used by a short Shapley-NAS search.

Each op gets a latency (a made-up table: skip_connect 0.1 ms, nor_conv_1x1 1.0 ms per edge). A coalition's
latency is the sum over its present ops; its value is the accuracy, divided by ``1 + overshoot / budget``
when the latency exceeds the budget. The value metric receives the coalition ``mask`` and ``alpha``
(both ``[cell_types, edges, ops]``) besides ``(logits, labels)``, so it can price the ops it keeps.
Registering it makes ``shapley.metric="latency_accuracy"`` valid in any config (and on the command line,
``--config.shapley.metric=latency_accuracy`` for a config file that imports this module).

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
OP_LATENCY_MS = {"skip_connect": 0.1, "nor_conv_1x1": 1.0}
LATENCY = np.vectorize(OP_LATENCY_MS.get, otypes=[np.float32])(get_space(SPACE).op_name_array())  # [2, 14, 2]
BUDGET_MS = [0.3 * float(LATENCY.sum())]  # set in main(); a list so the metric reads the current value


def latency_accuracy(logits, labels, *, mask):
    """Accuracy in [0, 1] scaled down by the coalition's latency overshoot. ``mask`` [2, 14, 2]."""
    accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
    latency = jnp.sum(mask * LATENCY)
    budget = BUDGET_MS[0]
    return accuracy / (1.0 + jnp.maximum(latency - budget, 0.0) / budget)


register_value_metric("latency_accuracy", latency_accuracy, overwrite=True)


def cell_latency(genotype) -> float:
    """Latency (ms) of the 16 chosen ops of a DARTS genotype (both cells)."""
    return sum(OP_LATENCY_MS[op] for cell in ("normal", "reduce") for op, _ in genotype.cell(cell))


def get_config():
    c = small_cpu_config(SPACE)
    c.shapley.metric = "latency_accuracy"
    c.alpha_rule.name = "paper"
    c.shapley.aggregate = "mean"
    return c


def main(argv=None):
    # Imported here, not at the top, so that this file also loads as a module or config file from elsewhere.
    from _search_args import parse_search_args, search_parser, with_search_args  # examples/_search_args.py

    parser = search_parser(__doc__)
    parser.add_argument("--budget", type=float, default=0.3, help="budget as a fraction of the full supernet's latency")
    args = parse_search_args(parser, argv)
    BUDGET_MS[0] = args.budget * float(LATENCY.sum())  # read when the value function is traced
    config = with_search_args(get_config(), args)
    print(f"latency of the full supernet: {LATENCY.sum():.1f} ms, budget: {BUDGET_MS[0]:.1f} ms")
    search = Search.from_config(config)
    state = search.run()
    genotype = search.genotype(state)
    phi = np.asarray(state.shapley)
    names = search.space.op_name_array()
    print(f"alpha updates: {int(state.alpha_updates)}")
    print(f"genotype: {genotype}")
    print(f"latency of the found cells: {cell_latency(genotype):.1f} ms (16 ops; all nor_conv_1x1: 16.0 ms)")
    for op in OP_LATENCY_MS:
        print(f"mean Shapley value of {op}: {phi[names == op].mean():+.5f}")
    return {"full_latency_ms": float(LATENCY.sum()), "budget_ms": BUDGET_MS[0],
            "alpha_updates": int(state.alpha_updates),
            "genotype": genotype.to_json(), "cell_latency_ms": cell_latency(genotype), "shapley": phi.tolist(),
            "mean_shapley": {op: float(phi[names == op].mean()) for op in OP_LATENCY_MS},
            "op_strengths": search.op_strengths(state).tolist()}


if __name__ == "__main__":
    main()

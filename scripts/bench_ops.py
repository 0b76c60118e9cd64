"""Micro-benchmark of the primitives and the DARTS ops under each formulation (PC-DARTS shapes).

    .venv/bin/python scripts/bench_ops.py [--batch 256] [--repeats 20] [--formulations lax,shifted] [--fast-compile]
        [--json FILE]

Median of ``--repeats`` jitted calls (after a compile call), in ms, for batch x 32 x 32 x 4 inputs (one
PC-DARTS partial-channel slice of the first cells), plus whole ops (with BN) and a whole MixedOp with K=4.
Then the horizontal-fusion experiment (BENCHMARKS.md, lever 8): the first stages (ReLU + depthwise conv) of
an edge's four conv ops computed separately, as the supernet does, against one shared padded input.
Compiles go through JAX's persistent compilation cache (compile times are not reported, so it changes no number).
``--fast-compile`` (``jax_disable_most_optimizations``) compiles quicker but times unoptimised programs: for
checking that the script runs (tests), not for its figures. ``--json FILE`` writes the settings, the machine
(CPU, ISA: ``shapley_nas_jax.hardware.machine_info``), ``rows`` (block, ms per formulation) and ``fusion``
(shape, ms separate and shared), rewritten after every row.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, ".")
from shapley_nas_jax.compilation_cache import add_compile_options, apply_compile_options  # noqa: E402
from shapley_nas_jax.hardware import write_benchmark_json  # noqa: E402
from shapley_nas_jax.models import MixedOp  # noqa: E402
from shapley_nas_jax.ops import make_op, primitives as P  # noqa: E402
from shapley_nas_jax.spaces import get_space  # noqa: E402


def median_ms(fn, x, repeats):
    jitted = jax.jit(lambda x: fn(x))  # fresh function per formulation: jit caches traces per function object
    jax.block_until_ready(jitted(x))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(jitted(x))
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def edge_first_stages(x, kernels, dilations, shared: bool):
    """The ReLU + depthwise stage of sep_conv_3x3/5x5 and dil_conv_3x3/5x5 on one edge: four primitive calls
    (``shared=False``, the supernet's path) or taps read from one padded ReLU output (horizontal fusion)."""
    if not shared:
        return [P.depthwise_conv(jax.nn.relu(x), k, 1, d) for k, d in zip(kernels, dilations)]
    pad = max(d * (k.shape[0] - 1) // 2 for k, d in zip(kernels, dilations))
    padded = jnp.pad(P.materialize(jax.nn.relu(x)), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h, w = x.shape[1:3]
    outputs = []
    for k, d in zip(kernels, dilations):
        offset = pad - d * (k.shape[0] - 1) // 2
        taps = [
            padded[:, offset + i * d : offset + i * d + h, offset + j * d : offset + j * d + w] * k[i, j]
            for i in range(k.shape[0])
            for j in range(k.shape[1])
        ]
        outputs.append(sum(taps[1:], taps[0]))
    return outputs


def horizontal_fusion(key, batch, repeats, record):
    """Times the experiment, printing each shape's row and passing it to ``record``."""
    print("\nhorizontal fusion, shifted: first stages of an edge's 4 conv ops (ms, median)")
    print(f"{'shape (PC-DARTS slice)':<28}{'separate':>12}{'shared':>12}")
    dilations = (1, 1, 2, 2)
    for hw, c in ((32, 4), (16, 8), (8, 16)):
        x = jax.random.normal(key, (batch, hw, hw, c))
        kernels = [jax.random.normal(jax.random.fold_in(key, i), (k, k, c)) for i, k in enumerate((3, 5, 3, 5))]
        for separate, shared in zip(*(edge_first_stages(x, kernels, dilations, s) for s in (False, True))):
            np.testing.assert_allclose(separate, shared, rtol=1e-4, atol=1e-4)
        cells = [median_ms(lambda x, s=s: edge_first_stages(x, kernels, dilations, s), x, repeats) for s in (False, True)]
        print(f"{f'{hw}x{hw}x{c}':<28}" + "".join(f"{t:>12.2f}" for t in cells), flush=True)
        record({"shape": f"{hw}x{hw}x{c}", "separate_ms": cells[0], "shared_ms": cells[1]})


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--formulations", default="lax,shifted")
    add_compile_options(ap)
    ap.add_argument("--json", default="", help="write the figures and the machine to this file")
    args = ap.parse_args(argv)
    apply_compile_options(args, cache=True)
    b, forms = args.batch, args.formulations.split(",")
    key = jax.random.key(0)
    x4 = jax.random.normal(key, (b, 32, 32, 4))
    x16 = jax.random.normal(key, (b, 32, 32, 16))
    k3, k5, pk = jax.random.normal(key, (3, 3, 4)), jax.random.normal(key, (5, 5, 4)), jax.random.normal(key, (4, 4))
    prims = {
        "depthwise 3x3": lambda x: P.depthwise_conv(x, k3),
        "depthwise 5x5 dil 2": lambda x: P.depthwise_conv(x, k5, 1, 2),
        "depthwise 3x3 stride 2": lambda x: P.depthwise_conv(x, k3, 2),
        "pointwise 4->4": lambda x: P.pointwise_conv(x, pk),
        "max pool 3x3 s1": lambda x: P.max_pool_3x3(x, 1),
        "avg pool 3x3 s1": lambda x: P.avg_pool_3x3(x, 1),
    }
    space = get_space("darts_reference")
    weights = jax.nn.softmax(jnp.zeros((7,)))
    print(f"{'block':<28}" + "".join(f"{f:>12}" for f in forms) + "   (ms, median)")
    rows = [(name, fn, x4) for name, fn in prims.items()]
    for name in ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3"):
        op = make_op(name, 4, 1)
        variables = op.init(key, x4[:2])
        rows.append((f"{name} op", lambda x, op=op, v=variables: op.apply(v, x), x4))
    mixed = MixedOp(space.edge_ops[0][0], 1, 4)
    mv = mixed.init(key, x16[:2], weights)
    rows.append(("MixedOp (7 ops, K=4, C=16)", lambda x: mixed.apply(mv, x, weights), x16))
    out = {"settings": {k: v for k, v in vars(args).items() if k != "json"}, "rows": [], "fusion": []}

    def record(table, row):
        out[table].append(row)
        if args.json:
            write_benchmark_json(args.json, out)

    for name, fn, x in rows:
        cells = []
        for f in forms:
            with P.formulation(f):  # traced (and timed) inside the block
                cells.append(median_ms(fn, x, args.repeats))
        print(f"{name:<28}" + "".join(f"{c:>12.2f}" for c in cells), flush=True)
        record("rows", {"block": name, "ms": dict(zip(forms, cells))})
    with P.formulation("shifted"):
        horizontal_fusion(key, b, args.repeats, lambda row: record("fusion", row))
    return out


if __name__ == "__main__":
    main()
